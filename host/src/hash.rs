//! The hash map of the dispatch path and the in-memory stores: foldhash, seeded per process,
//! instead of std's SipHash, which cost ~16 k instructions per event (BENCHMARKS.md, "Hash maps
//! without SipHash"). The keys an outsider picks (event and message ids) only come through the
//! authenticated ingest. Changing the hasher is a change to this file.

pub(crate) use foldhash::{HashMap, HashMapExt};

/// The value under `key`, inserted as `V::default()` if absent: unlike `entry`, the key is
/// copied only when it is new (two lookups cost less than an allocation and its free).
pub(crate) fn get_or_default<'m, V: Default>(map: &'m mut HashMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}
