//! An ordered map and set kept as one sorted `Vec`, for the small keyed collections the page and
//! the wire carry (a flag per feature, a sequence number per topic, parity's pending bars).
//!
//! Why not `BTreeMap`: in the browser's WebAssembly every key/value type of a `BTreeMap` brings
//! its own copy of the tree's code (insert, remove with rebalancing, drop, iterators), about 70 KB
//! for the dozen the page used. These collections hold tens of entries, not thousands, so a
//! binary search over a `Vec` is as quick and its code a fraction of the size. The API is the
//! subset of `BTreeMap`'s the code uses, with the same names and meaning; the JSON is the same map.

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::fmt;
use std::marker::PhantomData;

/// The most entries a [`Map`] is read with. Every map on the wire is small (a flag per feature, a
/// seq per topic, a count per reason), and an insert out of order moves the entries after it, so a
/// hostile body of many keys in reverse order would cost quadratic time: refused instead, with a
/// clear error, far below what any honest page sends.
pub const MAX_ENTRIES: usize = 1024;
const TOO_MANY: &str = "a map of more than 1024 entries";

/// Keys in order, each once; see the module's note.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Map<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Map<K, V> {
    pub const fn new() -> Self {
        Map {
            entries: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// In key order.
    pub fn iter(&self) -> Iter<'_, K, V> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(&mut self) -> IterMut<'_, K, V> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    pub fn first_key_value(&self) -> Option<(&K, &V)> {
        self.entries.first().map(|(k, v)| (k, v))
    }

    /// The entry with the smallest key, taken out.
    pub fn pop_first(&mut self) -> Option<(K, V)> {
        (!self.entries.is_empty()).then(|| self.entries.remove(0))
    }

    /// Keeps the entries `keep` says yes to, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }
}

impl<K: Ord, V> Map<K, V> {
    fn find<Q>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(key).ok().map(|i| &mut self.entries[i].1)
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(key).is_ok()
    }

    /// The value `key` had, if it had one (the key itself is kept, as `BTreeMap` does).
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(key).ok().map(|i| self.entries.remove(i).1)
    }

    pub fn entry(&mut self, key: K) -> Entry<'_, K, V> {
        let at = self.find(&key);
        Entry { map: self, at, key }
    }
}

pub type Iter<'a, K, V> =
    std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;
pub type IterMut<'a, K, V> =
    std::iter::Map<std::slice::IterMut<'a, (K, V)>, fn(&'a mut (K, V)) -> (&'a K, &'a mut V)>;

impl<'a, K, V> IntoIterator for &'a Map<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, K, V> IntoIterator for &'a mut Map<K, V> {
    type Item = (&'a K, &'a mut V);
    type IntoIter = IterMut<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

/// One key's place in a [`Map`], there or not yet.
pub struct Entry<'a, K, V> {
    map: &'a mut Map<K, V>,
    at: Result<usize, usize>,
    key: K,
}

impl<'a, K, V> Entry<'a, K, V> {
    pub fn or_insert_with(self, value: impl FnOnce() -> V) -> &'a mut V {
        let i = match self.at {
            Ok(i) => i,
            Err(i) => {
                self.map.entries.insert(i, (self.key, value()));
                i
            }
        };
        &mut self.map.entries[i].1
    }

    /// Changes the value if the key is there.
    pub fn and_modify(self, change: impl FnOnce(&mut V)) -> Self {
        if let Ok(i) = self.at {
            change(&mut self.map.entries[i].1);
        }
        self
    }

    pub fn or_insert(self, value: V) -> &'a mut V {
        self.or_insert_with(|| value)
    }

    pub fn or_default(self) -> &'a mut V
    where
        V: Default,
    {
        self.or_insert_with(V::default)
    }
}

impl<K, V> Default for Map<K, V> {
    fn default() -> Self {
        Map::new()
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for Map<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// As `BTreeMap`: a key given twice keeps its last value.
impl<K: Ord, V> FromIterator<(K, V)> for Map<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = Map::new();
        map.extend(iter);
        map
    }
}

impl<K: Ord, V> Extend<(K, V)> for Map<K, V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K: Ord, V, const N: usize> From<[(K, V); N]> for Map<K, V> {
    fn from(entries: [(K, V); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl<K, V> IntoIterator for Map<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<K: Serialize, V: Serialize> Serialize for Map<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in &self.entries {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>> Deserialize<'de> for Map<K, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Read<K, V>(PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>> Visitor<'de> for Read<K, V> {
            type Value = Map<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut map = Map::new();
                while let Some((k, v)) = access.next_entry()? {
                    map.insert(k, v);
                    if map.len() > MAX_ENTRIES {
                        return Err(serde::de::Error::custom(TOO_MANY));
                    }
                }
                Ok(map)
            }
        }
        deserializer.deserialize_map(Read(PhantomData))
    }
}

/// Values in order, each once: a [`Map`] without values.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Set<T> {
    map: Map<T, ()>,
}

impl<T> Set<T> {
    pub const fn new() -> Self {
        Set { map: Map::new() }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.map.keys()
    }
}

impl<T: Ord> Set<T> {
    /// Whether `value` was new.
    pub fn insert(&mut self, value: T) -> bool {
        self.map.insert(value, ()).is_none()
    }

    pub fn contains<Q>(&self, value: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.map.contains_key(value)
    }

    /// Whether `value` was there.
    pub fn remove<Q>(&mut self, value: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.map.remove(value).is_some()
    }
}

impl<T> Default for Set<T> {
    fn default() -> Self {
        Set::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for Set<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl<T: Ord> FromIterator<T> for Set<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Set {
            map: iter.into_iter().map(|v| (v, ())).collect(),
        }
    }
}

impl<T: Ord, const N: usize> From<[T; N]> for Set<T> {
    fn from(values: [T; N]) -> Self {
        values.into_iter().collect()
    }
}

impl<T> IntoIterator for Set<T> {
    type Item = T;
    type IntoIter = std::iter::Map<std::vec::IntoIter<(T, ())>, fn((T, ())) -> T>;

    fn into_iter(self) -> Self::IntoIter {
        self.map.into_iter().map(|(v, ())| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// A fixed-seed walk of inserts, removals, entries and pops, done to a `Map` and a `BTreeMap`
    /// side by side: after every step they hold the same entries in the same order.
    #[test]
    fn behaves_as_a_btreemap_does() {
        let mut ours = Map::<u16, u32>::new();
        let mut theirs = BTreeMap::<u16, u32>::new();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for step in 0..20_000u32 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let key = (state % 64) as u16;
            match (state >> 8) % 7 {
                0 | 1 => assert_eq!(ours.insert(key, step), theirs.insert(key, step)),
                2 => assert_eq!(ours.remove(&key), theirs.remove(&key)),
                3 => *ours.entry(key).or_default() += 1,
                4 => assert_eq!(ours.pop_first(), theirs.pop_first()),
                5 => {
                    ours.retain(|k, _| k % 5 != 0);
                    theirs.retain(|k, _| k % 5 != 0);
                }
                _ => assert_eq!(ours.get(&key), theirs.get(&key)),
            }
            if (state >> 8) % 7 == 3 {
                *theirs.entry(key).or_default() += 1;
            }
            assert!(ours.iter().eq(theirs.iter()), "step {step}");
            assert_eq!(ours.len(), theirs.len());
            assert_eq!(ours.contains_key(&key), theirs.contains_key(&key));
        }
    }

    #[test]
    fn is_the_same_json_as_a_btreemap() {
        let pairs = [
            ("b".to_string(), 2),
            ("a".to_string(), 1),
            ("b".to_string(), 3),
        ];
        let ours: Map<String, i32> = pairs.clone().into_iter().collect();
        let theirs: BTreeMap<String, i32> = pairs.into_iter().collect();
        let json = serde_json::to_string(&ours).unwrap_or_default();
        assert_eq!(json, serde_json::to_string(&theirs).unwrap_or_default());
        assert_eq!(json, r#"{"a":1,"b":3}"#);
        let back: Map<String, i32> =
            serde_json::from_str(r#"{"b":3,"a":1,"a":4}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            back,
            Map::from([("a".to_string(), 4), ("b".to_string(), 3)])
        );
        assert!(serde_json::from_str::<Map<String, i32>>("[1]").is_err());
        // A map of more entries than any honest page sends is refused, whatever their order.
        let body = |n: usize| {
            let entries: Vec<String> = (0..n).rev().map(|i| format!("\"k{i:05}\":{i}")).collect();
            format!("{{{}}}", entries.join(","))
        };
        let most = serde_json::from_str::<Map<String, usize>>(&body(MAX_ENTRIES));
        assert_eq!(most.map(|m| m.len()).ok(), Some(MAX_ENTRIES));
        let refused = serde_json::from_str::<Map<String, usize>>(&body(MAX_ENTRIES + 1))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            refused.starts_with("a map of more than 1024 entries"),
            "{refused}"
        );

        let set: Set<i32> = [3, 1, 3, 2].into_iter().collect();
        assert!(set.iter().eq(BTreeSet::from([1, 2, 3]).iter()));
    }
}
