//! # group-buy
//!
//! Group buys: `/groupbuy ITEM PRICE MIN` opens pool #N, members `/join N`, and the join that
//! reaches the minimum places one order with the merchant's HTTP API (`POST {merchant_url}/orders`,
//! authenticated with the install's `merchant_key` secret, which the host fills in and the plugin
//! never sees) and posts the confirmation. See the README for commands, configuration and KV keys.
//!
//! **Exactly one order.** The order carries `Idempotency-Key: groupbuy-{uid}`, where the pool's
//! `uid` hashes the community and the id of the event that opened it. A transient failure
//! (host `unavailable` or `rate-limited`, a 5xx, 408 or 429) makes the handler fail *retryably*:
//! the host discards the invocation's KV writes and messages and delivers the same event again,
//! which sends the same key, so a merchant that had already created the order answers with it
//! instead of creating another. Once the handler succeeds, the pool's "ordered" state, the
//! confirmation and the delivery cursor are committed together.

pub mod model;

use plaza_sdk::http::{self, Request, Response};
use plaza_sdk::prelude::*;

use model::{format_price, parse_open, parse_pool_id, pool_uid, Pool, PoolState};

/// KV key of the last pool number handed out (a counter).
pub const KEY_LAST_ID: &str = "pools/last-id";
/// KV key of the numbers of the open pools (JSON list).
pub const KEY_OPEN: &str = "pools/open";
/// KV key of the configured merchant base URL.
pub const KEY_MERCHANT_URL: &str = "config/merchant_url";
/// KV key of the configured confirmation channel.
pub const KEY_CHANNEL: &str = "config/channel";
/// The merchant URL when none is configured.
pub const DEFAULT_MERCHANT_URL: &str = "https://api.merchant.example";
/// The `Authorization` header value sent with orders: the host replaces the placeholder with the
/// install's `merchant_key` secret (only for the merchant's host).
pub const AUTHORIZATION: &str = "Bearer {{secret:merchant_key}}";

/// KV key of pool `id` (JSON [`Pool`]).
pub fn pool_key(id: u64) -> String {
    format!("pool/{id}")
}

const OPEN_USAGE: &str = "Usage: /groupbuy ITEM PRICE MIN, e.g. /groupbuy \"green tea\" 4.20 5 \
     (MIN members must /join before the order is placed)";
const JOIN_USAGE: &str = "Usage: /join [POOL], e.g. /join 3";

/// The plugin.
pub struct GroupBuy;

impl Plugin for GroupBuy {
    fn info() -> PluginInfo {
        PluginInfo::new(
            "group-buy",
            env!("CARGO_PKG_VERSION"),
            "Group buys: members pool up for an item and, once enough have joined, one order goes \
             to the merchant.",
        )
        .with_command(
            "groupbuy",
            "Open a group buy, or show the open ones",
            "/groupbuy ITEM PRICE MIN | /groupbuy status [POOL]",
        )
        .with_command("join", "Join a group buy", "/join [POOL]")
    }

    fn on_installed(_meta: &EventMeta, installed: PluginInstalled) -> HandlerResult {
        store_config(&installed.config)
    }

    fn on_config_changed(_meta: &EventMeta, changed: ConfigChanged) -> HandlerResult {
        store_config(&changed.config)
    }

    fn on_command(meta: &EventMeta, cmd: CommandInvoked) -> HandlerResult {
        let outcome = match cmd.name.as_str() {
            "groupbuy" if cmd.arg(0) == Some("status") && cmd.args.len() <= 2 => status(&cmd),
            "groupbuy" if cmd.args.is_empty() => Ok(Some(OPEN_USAGE.to_string())),
            "groupbuy" => open(meta, &cmd),
            "join" => join(meta, &cmd),
            _ => return Ok(()),
        };
        let reply = match outcome {
            Ok(Some(reply)) => reply,
            Ok(None) => return Ok(()),
            Err(Failure::Host(HostError::Denied(cap))) => {
                plaza_sdk::warn!("/{}: {cap} not granted", cmd.name);
                format!("Group buys are not available: this community has not granted me `{cap}`.")
            }
            Err(Failure::Host(e)) => return Err(e.into()),
            Err(Failure::Retry(e)) => return Err(e),
        };
        cmd.respond(&reply).allow_denied("answering a group-buy command")?;
        Ok(())
    }
}

plaza_sdk::export_plugin!(GroupBuy);

/// Why a command could not be handled: a host call failed, or the order must be retried.
enum Failure {
    Host(HostError),
    Retry(HandlerError),
}

impl From<HostError> for Failure {
    fn from(e: HostError) -> Self {
        Failure::Host(e)
    }
}

fn store_config(config: &[ConfigEntry]) -> HandlerResult {
    for (key, kv_key) in [("merchant_url", KEY_MERCHANT_URL), ("channel", KEY_CHANNEL)] {
        match config::value(config, key).map(str::trim).filter(|v| !v.is_empty()) {
            Some(value) => kv::set_string(kv_key, value)?,
            None => kv::delete(kv_key)?,
        }
    }
    Ok(())
}

fn merchant_url() -> Result<String, HostError> {
    let url = kv::get_string(KEY_MERCHANT_URL)?.unwrap_or_else(|| DEFAULT_MERCHANT_URL.to_string());
    Ok(url.trim_end_matches('/').to_string())
}

fn load(id: u64) -> Result<Option<Pool>, HostError> {
    kv::get_json(&pool_key(id))
}

fn open_ids() -> Result<Vec<u64>, HostError> {
    Ok(kv::get_json(KEY_OPEN)?.unwrap_or_default())
}

fn save(pool: &Pool) -> Result<(), HostError> {
    kv::set_json(&pool_key(pool.id), pool)?;
    let mut open = open_ids()?;
    let listed = open.contains(&pool.id);
    if pool.is_open() && !listed {
        open.push(pool.id);
    } else if !pool.is_open() && listed {
        open.retain(|&id| id != pool.id);
    } else {
        return Ok(());
    }
    kv::set_json(KEY_OPEN, &open)
}

/// `/groupbuy ITEM PRICE MIN`.
fn open(meta: &EventMeta, cmd: &CommandInvoked) -> Result<Option<String>, Failure> {
    let spec = match parse_open(&cmd.args) {
        Ok(spec) => spec,
        Err(problem) => return Ok(Some(format!("{problem}\n{OPEN_USAGE}"))),
    };
    let id = kv::increment(KEY_LAST_ID, 1)? as u64;
    let pool = Pool {
        id,
        uid: pool_uid(&meta.community_id, &meta.event_id),
        item: spec.item,
        unit_price_cents: spec.unit_price_cents,
        min: spec.min,
        creator: cmd.member.clone(),
        channel: cmd.channel.clone(),
        participants: Vec::new(),
        state: PoolState::Open,
    };
    save(&pool)?;
    plaza_sdk::info!("pool {id} opened by {} (key {})", pool.creator, pool.idempotency_key());
    Ok(Some(format!(
        "🛒 Group buy #{id}: {} at {} each. The order is placed once {} member{} have joined: /join {id}",
        pool.item,
        format_price(pool.unit_price_cents),
        pool.min,
        if pool.min == 1 { "" } else { "s" },
    )))
}

/// `/groupbuy status [POOL]`.
fn status(cmd: &CommandInvoked) -> Result<Option<String>, Failure> {
    if let Some(arg) = cmd.arg(1) {
        let Some(id) = parse_pool_id(arg) else {
            return Ok(Some(format!("\"{arg}\" is not a pool number.")));
        };
        return Ok(Some(match load(id)? {
            Some(pool) => pool.summary(),
            None => format!("There is no group buy #{id}."),
        }));
    }
    let mut lines = Vec::new();
    for id in open_ids()? {
        if let Some(pool) = load(id)? {
            lines.push(pool.summary());
        }
    }
    Ok(Some(if lines.is_empty() {
        "No group buy is open. Start one with /groupbuy ITEM PRICE MIN.".to_string()
    } else {
        format!("Open group buys:\n{}", lines.join("\n"))
    }))
}

/// `/join [POOL]`: adds the member and, at the minimum, places the order.
fn join(meta: &EventMeta, cmd: &CommandInvoked) -> Result<Option<String>, Failure> {
    let mut pool = match cmd.arg(0) {
        Some(arg) => {
            let Some(id) = parse_pool_id(arg) else {
                return Ok(Some(format!("\"{arg}\" is not a pool number. {JOIN_USAGE}")));
            };
            match load(id)? {
                Some(pool) => pool,
                None => return Ok(Some(format!("There is no group buy #{id}."))),
            }
        }
        None => {
            let open = open_ids()?;
            match open.as_slice() {
                [] => return Ok(Some("No group buy is open.".to_string())),
                [id] => match load(*id)? {
                    Some(pool) => pool,
                    None => return Ok(Some("No group buy is open.".to_string())),
                },
                several => {
                    let list: Vec<String> = several.iter().map(|id| format!("#{id}")).collect();
                    return Ok(Some(format!(
                        "Several group buys are open ({}); say which: {JOIN_USAGE}",
                        list.join(", ")
                    )));
                }
            }
        }
    };
    let id = pool.id;
    if !pool.is_open() {
        return Ok(Some(format!("Group buy #{id} is closed. {}", pool.summary())));
    }
    if pool.participants.contains(&cmd.member) {
        return Ok(Some(format!(
            "You are already in group buy #{id} ({}/{}).",
            pool.participants.len(),
            pool.min
        )));
    }
    pool.participants.push(cmd.member.clone());
    let count = pool.participants.len();
    if count < pool.min as usize {
        save(&pool)?;
        return Ok(Some(format!(
            "You joined group buy #{id} ({count}/{}); {} more needed.",
            pool.min,
            pool.min as usize - count
        )));
    }

    // The minimum is reached: place the order (on a retry of this event, again, with the same key).
    if meta.attempt > 1 {
        plaza_sdk::info!("pool {id}: placing the order again (attempt {})", meta.attempt);
    }
    plaza_sdk::info!(
        "pool {id}: placing the order (Idempotency-Key {})",
        pool.idempotency_key()
    );
    let text = match place_order(&pool)? {
        Placed::Ordered(order_id) => {
            let total = pool.unit_price_cents * count as u64;
            let text = format!(
                "✅ Group buy #{id} is complete: ordered {count} × {} at {} (total {}). Merchant order: {}.",
                pool.item,
                format_price(pool.unit_price_cents),
                format_price(total),
                order_id.as_deref().unwrap_or("(no number given)")
            );
            plaza_sdk::info!("pool {id}: ordered, merchant order {order_id:?}");
            pool.state = PoolState::Ordered { order_id };
            text
        }
        Placed::Refused(reason) => {
            plaza_sdk::warn!("pool {id}: order not placed: {reason}");
            let text =
                format!("❌ Group buy #{id} reached {count} members, but the order could not be placed: {reason}.");
            pool.state = PoolState::Failed { reason };
            text
        }
    };
    save(&pool)?;
    let channel = kv::get_string(KEY_CHANNEL)?.unwrap_or_else(|| pool.channel.clone());
    messaging::send(&channel, &text).allow_denied("posting the order confirmation")?;
    Ok(None)
}

/// The merchant's final answer to an order.
enum Placed {
    /// Accepted, with the merchant's order id if it sent one.
    Ordered(Option<String>),
    /// Refused for good (a 4xx, or the host would not send the request); the reason.
    Refused(String),
}

/// `POST {merchant_url}/orders`. Transient failures are a retryable [`Failure::Retry`].
fn place_order(pool: &Pool) -> Result<Placed, Failure> {
    let url = format!("{}/orders", merchant_url()?);
    let body = pool.order_body().to_string();
    let request = Request::post(url, body)
        .header("Authorization", AUTHORIZATION)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .header("Idempotency-Key", pool.idempotency_key());
    let retry = |code: &str, why: String| {
        Failure::Retry(HandlerError::new(code, format!("pool {}: {why}", pool.id)).retryable())
    };
    match http::fetch(&request) {
        Ok(response) if response.is_success() => Ok(Placed::Ordered(order_id(&response))),
        Ok(response) if response.status >= 500 || matches!(response.status, 408 | 425 | 429) => Err(retry(
            "merchant-unavailable",
            format!("the merchant answered {}; retrying", response.status),
        )),
        Ok(response) => Ok(Placed::Refused(format!(
            "the merchant answered {}{}",
            response.status,
            error_detail(&response)
        ))),
        Err(e @ (HostError::Unavailable(_) | HostError::RateLimited(_))) => {
            Err(retry("merchant-unreachable", format!("{e}; retrying")))
        }
        Err(HostError::Denied(what)) => Ok(Placed::Refused(format!(
            "the request was not allowed ({what}); an admin can check my http:fetch grant and the merchant_key secret"
        ))),
        Err(HostError::Invalid(what)) => Ok(Placed::Refused(format!(
            "the request was invalid ({what}); an admin can check the merchant_url setting and the merchant_key secret"
        ))),
        Err(HostError::QuotaExceeded(what)) => Ok(Placed::Refused(format!("a limit was exceeded ({what})"))),
        Err(HostError::NotFound) => Ok(Placed::Refused("the merchant could not be found".to_string())),
    }
}

/// `order_id` (or `id`) from a JSON answer.
fn order_id(response: &Response) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(&response.body).ok()?;
    let id = value.get("order_id").or_else(|| value.get("id"))?;
    match id {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.chars().take(100).collect()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `: <the merchant's error text>` from a refusal, short.
fn error_detail(response: &Response) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(&response.body) {
        Ok(v) => match v.get("error").or_else(|| v.get("message")) {
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => String::new(),
        },
        Err(_) => response.text(),
    };
    let text: String = text.trim().chars().filter(|c| !c.is_control()).take(200).collect();
    if text.is_empty() {
        String::new()
    } else {
        format!(" ({text})")
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
