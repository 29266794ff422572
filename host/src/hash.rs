//! The hash map of the dispatch path and the in-memory stores: foldhash, seeded per process,
//! instead of std's SipHash, which cost ~16 k instructions per event (BENCHMARKS.md, "Hash maps
//! without SipHash"). The keys an outsider picks (event and message ids) only come through the
//! authenticated ingest. Changing the hasher is a change to this file.

use std::collections::BTreeMap;

pub(crate) use foldhash::{HashMap, HashMapExt};

/// A map keyed by owned strings and looked up by `&str`: this crate's hash map, and the
/// sorted maps of the metrics registry (which render in label order).
pub(crate) trait StrKeyed<V> {
    fn has(&self, key: &str) -> bool;
    fn put(&mut self, key: String, value: V);
    fn slot(&mut self, key: &str) -> Option<&mut V>;
}

// The same three calls on either map.
macro_rules! str_keyed {
    ($($map:ident),*) => {$(
        impl<V> StrKeyed<V> for $map<String, V> {
            fn has(&self, key: &str) -> bool {
                self.contains_key(key)
            }
            fn put(&mut self, key: String, value: V) {
                self.insert(key, value);
            }
            fn slot(&mut self, key: &str) -> Option<&mut V> {
                self.get_mut(key)
            }
        }
    )*};
}

str_keyed!(HashMap, BTreeMap);

/// The value under `key`, inserted as `V::default()` if absent: unlike `entry`, the key is
/// copied only when it is new (two lookups cost less than an allocation and its free; every
/// event records into several such maps).
pub(crate) fn get_or_default<'m, V: Default>(map: &'m mut impl StrKeyed<V>, key: &str) -> &'m mut V {
    if !map.has(key) {
        map.put(key.to_owned(), V::default());
    }
    map.slot(key).expect("inserted above")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_or_default_inserts_once_then_returns_the_same_slot() {
        let mut hashed: HashMap<String, u32> = HashMap::new();
        *get_or_default(&mut hashed, "a") += 1;
        *get_or_default(&mut hashed, "a") += 1;
        *get_or_default(&mut hashed, "b") += 5;
        assert_eq!((hashed["a"], hashed["b"], hashed.len()), (2, 5, 2));

        let mut sorted: BTreeMap<String, u32> = BTreeMap::new();
        *get_or_default(&mut sorted, "z") += 3;
        *get_or_default(&mut sorted, "z") += 4;
        assert_eq!(sorted.into_iter().collect::<Vec<_>>(), vec![("z".to_string(), 7)]);
    }
}
