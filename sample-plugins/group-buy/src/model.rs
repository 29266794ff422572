//! Pools, prices and the order's idempotency key: pure logic, no host calls.

use serde::{Deserialize, Serialize};

/// Most members a pool may require.
pub const MAX_MIN: u32 = 1_000;
/// Longest item name, in characters.
pub const MAX_ITEM: usize = 100;

/// Where a pool stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum PoolState {
    /// Taking members.
    Open,
    /// The merchant accepted the order (its order id, when it sent one).
    Ordered {
        /// The merchant's order id.
        order_id: Option<String>,
    },
    /// The order could not be placed and will not be retried.
    Failed {
        /// Why, for `/groupbuy status`.
        reason: String,
    },
}

/// A group buy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// The pool's number in this community (from a KV counter), what members type.
    pub id: u64,
    /// A stable, globally unique name: a hash of the community and the id of the event that
    /// opened the pool. The order's `Idempotency-Key` is `groupbuy-{uid}`.
    pub uid: String,
    /// What is bought.
    pub item: String,
    /// Price of one unit in cents.
    pub unit_price_cents: u64,
    /// Members needed before the order is placed.
    pub min: u32,
    /// Who opened it.
    pub creator: String,
    /// Where it was opened.
    pub channel: String,
    /// Members who joined, in order.
    pub participants: Vec<String>,
    /// Where the pool stands.
    pub state: PoolState,
}

impl Pool {
    /// The `Idempotency-Key` header of this pool's order: the same on every attempt of the
    /// event that places it, and on any later event, so the merchant creates one order.
    pub fn idempotency_key(&self) -> String {
        format!("groupbuy-{}", self.uid)
    }

    /// True while the pool takes members.
    pub fn is_open(&self) -> bool {
        self.state == PoolState::Open
    }

    /// The JSON body of `POST /orders`.
    pub fn order_body(&self) -> serde_json::Value {
        serde_json::json!({
            "item": self.item,
            "unit_price": format_price(self.unit_price_cents),
            "quantity": self.participants.len(),
            "participants": self.participants,
            "reference": self.idempotency_key(),
        })
    }

    /// A one-line summary for `/groupbuy status`.
    pub fn summary(&self) -> String {
        let head = format!(
            "#{} {} at {} each: {}/{} joined",
            self.id,
            self.item,
            format_price(self.unit_price_cents),
            self.participants.len(),
            self.min
        );
        match &self.state {
            PoolState::Open => format!("{head}, open (/join {})", self.id),
            PoolState::Ordered { order_id: Some(id) } => format!("{head}, ordered (order {id})"),
            PoolState::Ordered { order_id: None } => format!("{head}, ordered"),
            PoolState::Failed { reason } => format!("{head}, failed: {reason}"),
        }
    }
}

/// The pool's `uid`: 32 hex digits of the 128-bit FNV-1a hash of the community and event ids.
/// Event ids are stable across redeliveries, so a retried `/groupbuy` or `/join` names the same
/// pool; hashing keeps the key short and free of characters a header would refuse.
pub fn pool_uid(community: &str, event_id: &str) -> String {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut hash = OFFSET;
    for byte in community.bytes().chain([0u8]).chain(event_id.bytes()) {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(PRIME);
    }
    format!("{hash:032x}")
}

/// Parses a price such as `12`, `12.5`, `12.50` or `$12.50` into cents.
pub fn parse_price(text: &str) -> Option<u64> {
    let text = text.trim().trim_start_matches('$');
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || whole.len() > 9 {
        return None;
    }
    if frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) || (text.contains('.') && frac.is_empty()) {
        return None;
    }
    let cents = match frac.len() {
        0 => 0,
        1 => frac.parse::<u64>().ok()? * 10,
        _ => frac.parse::<u64>().ok()?,
    };
    let total = whole.parse::<u64>().ok()? * 100 + cents;
    (total > 0).then_some(total)
}

/// Cents as `12.50`.
pub fn format_price(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// A pool number as typed: `3` or `#3`.
pub fn parse_pool_id(text: &str) -> Option<u64> {
    text.trim().trim_start_matches('#').parse().ok().filter(|&n| n > 0)
}

/// What `/groupbuy ITEM PRICE MIN` asks for: the item may be several words (the last two
/// arguments are the price and the minimum).
#[derive(Debug, PartialEq, Eq)]
pub struct OpenSpec {
    /// The item.
    pub item: String,
    /// Unit price in cents.
    pub unit_price_cents: u64,
    /// Members needed.
    pub min: u32,
}

/// Parses the arguments of `/groupbuy ITEM PRICE MIN`; `Err` is the problem, for the reply.
pub fn parse_open(args: &[String]) -> Result<OpenSpec, String> {
    if args.len() < 3 {
        return Err("A group buy needs an item, a unit price and a minimum number of members.".into());
    }
    let (item_words, rest) = args.split_at(args.len() - 2);
    let item = item_words.join(" ").trim().to_string();
    if item.is_empty() || item.chars().count() > MAX_ITEM {
        return Err(format!("The item name must be 1 to {MAX_ITEM} characters."));
    }
    let unit_price_cents =
        parse_price(&rest[0]).ok_or_else(|| format!("\"{}\" is not a price (e.g. 12.50).", rest[0]))?;
    let min = rest[1]
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|m| (1..=MAX_MIN).contains(m))
        .ok_or_else(|| {
            format!(
                "The minimum must be a whole number from 1 to {MAX_MIN}, not \"{}\".",
                rest[1]
            )
        })?;
    Ok(OpenSpec {
        item,
        unit_price_cents,
        min,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn prices_parse_to_cents() {
        assert_eq!(parse_price("12"), Some(1200));
        assert_eq!(parse_price("12.5"), Some(1250));
        assert_eq!(parse_price("$0.99"), Some(99));
        for bad in ["", "0", "1.", ".5", "1.234", "-3", "1e3", "abc", "12,50"] {
            assert_eq!(parse_price(bad), None, "{bad}");
        }
        assert_eq!(format_price(1250), "12.50");
        assert_eq!(format_price(7), "0.07");
    }

    #[test]
    fn open_takes_a_multi_word_item_then_price_and_min() {
        assert_eq!(
            parse_open(&args(&["green", "tea", "4.20", "3"])),
            Ok(OpenSpec {
                item: "green tea".into(),
                unit_price_cents: 420,
                min: 3
            })
        );
        assert!(parse_open(&args(&["tea", "4.20"])).is_err());
        assert!(parse_open(&args(&["tea", "x", "3"])).unwrap_err().contains("price"));
        assert!(parse_open(&args(&["tea", "1", "0"])).unwrap_err().contains("minimum"));
        assert!(parse_open(&args(&["tea", "1", "1001"])).is_err());
    }

    #[test]
    fn uids_are_stable_and_distinct() {
        assert_eq!(pool_uid("c", "e1"), pool_uid("c", "e1"));
        assert_ne!(pool_uid("c", "e1"), pool_uid("c", "e2"));
        assert_ne!(pool_uid("c1", "e"), pool_uid("c", "1e"));
        assert_eq!(pool_uid("c", "e1").len(), 32);
        assert_eq!(parse_pool_id("#4"), Some(4));
        assert_eq!(parse_pool_id("0"), None);
    }
}
