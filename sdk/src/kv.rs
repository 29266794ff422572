//! A key-value store private to this plugin in this community (WIT `kv`). Needs `storage:kv`.
//!
//! Writes are visible to later reads in the same invocation at once, and are kept only when the
//! handler returns `Ok`. Besides the raw byte API ([`get`], [`set`], [`delete`], [`list_keys`])
//! there are typed conveniences:
//!
//! - [`get_string`] / [`set_string`]: UTF-8 text;
//! - [`get_json`] / [`set_json`]: any `serde` type, stored as JSON;
//! - [`get_i64`] / [`increment`]: counters, stored as decimal text (e.g. `b"42"`);
//! - [`keys`]: every key under a prefix, paging through [`list_keys`].
//!
//! A stored value that does not decode as the requested type is reported as
//! [`HostError::Invalid`] naming the key.
//!
//! ```no_run
//! use plaza_sdk::prelude::*;
//!
//! # fn demo() -> Result<(), HandlerError> {
//! kv::set_string("greeting", "Welcome, {name}!")?;
//! let n = kv::increment("joins", 1)?; // 1 on the first call
//! let greeting = kv::get_string("greeting")?.unwrap_or_default();
//! # let _ = (n, greeting); Ok(()) }
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::HostError;

/// Keys one [`keys`] call asks the host for per page.
const PAGE: u32 = 200;

/// The bytes under `key`, if any.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, HostError> {
    crate::sys::kv::get(key)
}

/// Stores `value` under `key`, replacing what was there.
pub fn set(key: &str, value: &[u8]) -> Result<(), HostError> {
    crate::sys::kv::set(key, value)
}

/// Removes `key`. Removing a missing key is not an error.
pub fn delete(key: &str) -> Result<(), HostError> {
    crate::sys::kv::delete(key)
}

/// Keys starting with `prefix`, in byte order, after `start_after` if given, at most `limit`.
pub fn list_keys(prefix: &str, start_after: Option<&str>, limit: u32) -> Result<Vec<String>, HostError> {
    crate::sys::kv::list_keys(prefix, start_after, limit)
}

/// Every key starting with `prefix`, in byte order (as many [`list_keys`] calls as needed).
pub fn keys(prefix: &str) -> Result<Vec<String>, HostError> {
    let mut all: Vec<String> = Vec::new();
    loop {
        let page = list_keys(prefix, all.last().map(String::as_str), PAGE)?;
        let done = page.is_empty();
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

/// The UTF-8 text under `key`, if any.
pub fn get_string(key: &str) -> Result<Option<String>, HostError> {
    get(key)?
        .map(|bytes| {
            String::from_utf8(bytes).map_err(|_| HostError::Invalid(format!("kv value under {key:?} is not UTF-8")))
        })
        .transpose()
}

/// Stores the text `value` under `key`.
pub fn set_string(key: &str, value: &str) -> Result<(), HostError> {
    set(key, value.as_bytes())
}

/// The JSON value under `key`, decoded as `T`, if any.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, HostError> {
    get(key)?
        .map(|bytes| {
            serde_json::from_slice(&bytes)
                .map_err(|e| HostError::Invalid(format!("kv value under {key:?} is not the expected JSON: {e}")))
        })
        .transpose()
}

/// Stores `value` under `key` as JSON.
pub fn set_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<(), HostError> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| HostError::Invalid(format!("cannot encode the value for {key:?} as JSON: {e}")))?;
    set(key, &bytes)
}

/// The counter under `key` (stored as decimal text), if any.
pub fn get_i64(key: &str) -> Result<Option<i64>, HostError> {
    get_string(key)?
        .map(|text| {
            text.trim()
                .parse::<i64>()
                .map_err(|_| HostError::Invalid(format!("kv value under {key:?} is not an integer: {text:?}")))
        })
        .transpose()
}

/// Adds `by` to the counter under `key` (a missing key counts as 0), stores it and returns the
/// new value. Saturates instead of overflowing.
pub fn increment(key: &str, by: i64) -> Result<i64, HostError> {
    let next = get_i64(key)?.unwrap_or(0).saturating_add(by);
    set_string(key, &next.to_string())?;
    Ok(next)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::testing;

    #[test]
    fn strings_json_and_counters_round_trip() {
        assert_eq!(get_string("g").unwrap(), None);
        set_string("g", "hi {name}").unwrap();
        assert_eq!(get_string("g").unwrap().as_deref(), Some("hi {name}"));

        set_json("list", &vec![1u32, 2, 3]).unwrap();
        assert_eq!(get_json::<Vec<u32>>("list").unwrap(), Some(vec![1, 2, 3]));
        assert!(matches!(get_json::<String>("list"), Err(HostError::Invalid(m)) if m.contains("list")));

        assert_eq!(increment("n", 1).unwrap(), 1);
        assert_eq!(increment("n", 5).unwrap(), 6);
        assert_eq!(increment("n", -10).unwrap(), -4);
        assert_eq!(testing::kv_get_string("n").as_deref(), Some("-4"));
        set_string("n", &i64::MAX.to_string()).unwrap();
        assert_eq!(increment("n", 1).unwrap(), i64::MAX);

        set("bin", &[0xff, 0xfe]).unwrap();
        assert!(matches!(get_string("bin"), Err(HostError::Invalid(_))));
        assert!(matches!(get_i64("g"), Err(HostError::Invalid(_))));

        delete("g").unwrap();
        delete("g").unwrap();
        assert_eq!(get("g").unwrap(), None);
    }

    #[test]
    fn keys_pages_through_everything_under_a_prefix() {
        for i in 0..450 {
            set_string(&format!("p/{i:04}"), "x").unwrap();
        }
        set_string("q/0", "x").unwrap();
        let all = keys("p/").unwrap();
        assert_eq!(all.len(), 450);
        assert_eq!(all.first().map(String::as_str), Some("p/0000"));
        assert_eq!(all.last().map(String::as_str), Some("p/0449"));
        assert_eq!(list_keys("p/", Some("p/0447"), 10).unwrap(), ["p/0448", "p/0449"]);
    }

    #[test]
    fn denied_storage_is_a_denied_error() {
        testing::deny("storage:kv");
        assert_eq!(get("x"), Err(HostError::Denied("storage:kv".into())));
        assert_eq!(increment("x", 1), Err(HostError::Denied("storage:kv".into())));
    }
}
