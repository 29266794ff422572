//! How the database stores write Plaza's values into columns, shared by SQLite and PostgreSQL
//! so both read back exactly what the other would: `u64` bit-for-bit in signed 64-bit integers,
//! lists and objects as JSON text, unit enums by their serde names.

use crate::capability::Capability;

/// A `u64` as stored (bit-for-bit).
pub(crate) fn to_db(v: u64) -> i64 {
    v as i64
}

/// A stored `u64`.
pub(crate) fn from_db(v: i64) -> u64 {
    v as u64
}

/// A value as JSON text.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, String> {
    serde_json::to_string(value).map_err(|e| e.to_string())
}

/// A value from its JSON text; the error names `what` was bad.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| format!("bad {what} `{text}`: {e}"))
}

/// The serde name of a unit enum variant (`fail-open`, `half-open`, ...), as stored.
pub(crate) fn variant_name<T: serde::Serialize>(value: &T) -> Result<String, String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => Ok(name),
        Ok(other) => Err(format!("expected a name, got {other}")),
        Err(e) => Err(e.to_string()),
    }
}

/// A unit enum variant from its stored serde name.
pub(crate) fn from_variant_name<T: serde::de::DeserializeOwned>(name: String, what: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(name.clone())).map_err(|e| format!("bad {what} `{name}`: {e}"))
}

/// A stored capability name.
pub(crate) fn capability(name: &str) -> Result<Capability, String> {
    name.parse().map_err(|e| format!("{e}"))
}

/// The smallest byte string greater than every string starting with `prefix`; `None` when there
/// is none (empty prefix, or only `0xff` bytes).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A SQL `LIMIT` for `n` rows.
pub(crate) fn sql_limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
