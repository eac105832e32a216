//! The compact attribute map of one object: every public attribute's type
//! and native value in two allocations (a sorted index and one byte buffer).
//!
//! A token holds two or more objects per rotating key, each with ~40
//! attributes; a `BTreeMap<_, Vec<u8>>` spent ~40 heap blocks and ~3 KB on
//! each, and cloning one (every version object starts as a copy of the
//! current object) cost as many allocations. Objects are read far more
//! often than changed, so lookups are a binary search and a change that
//! alters a value's length moves the bytes after it.

use std::hash::{Hash, Hasher};

use cryptoki_sys::CK_ATTRIBUTE_TYPE;

/// Where one attribute's value sits in the byte buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Slot {
    kind: CK_ATTRIBUTE_TYPE,
    start: u32,
    len: u32,
}

/// Attribute type → native value, ordered by type.
#[derive(Clone, Default)]
pub struct AttrMap {
    index: Vec<Slot>,
    bytes: Vec<u8>,
}

impl AttrMap {
    /// An empty map.
    pub fn new() -> AttrMap {
        AttrMap::default()
    }

    /// An empty map with room for `count` attributes holding `bytes` bytes.
    pub fn with_capacity(count: usize, bytes: usize) -> AttrMap {
        AttrMap {
            index: Vec::with_capacity(count),
            bytes: Vec::with_capacity(bytes),
        }
    }

    fn find(&self, kind: CK_ATTRIBUTE_TYPE) -> Result<usize, usize> {
        self.index.binary_search_by_key(&kind, |s| s.kind)
    }

    fn value_of(&self, s: &Slot) -> &[u8] {
        // Slots only ever describe ranges inside `bytes` (insert and remove
        // keep them so); `get` keeps even a broken invariant panic-free.
        let start = s.start as usize;
        self.bytes
            .get(start..start + s.len as usize)
            .unwrap_or_default()
    }

    /// The value of `kind`, if present.
    pub fn get(&self, kind: &CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
        let i = self.find(*kind).ok()?;
        Some(self.value_of(&self.index[i]))
    }

    /// Whether `kind` is present.
    pub fn contains_key(&self, kind: &CK_ATTRIBUTE_TYPE) -> bool {
        self.find(*kind).is_ok()
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the map holds no attribute.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Sets `kind` to `value`, replacing any earlier value.
    pub fn insert(&mut self, kind: CK_ATTRIBUTE_TYPE, value: &[u8]) {
        // Values are capped far below 4 GiB (MAX_VALUE_LEN); u32 holds them.
        let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
        match self.find(kind) {
            Ok(i) if self.index[i].len == len => {
                let start = self.index[i].start as usize;
                self.bytes[start..start + value.len()].copy_from_slice(value);
            }
            Ok(i) => {
                self.cut(i);
                self.index[i].start = self.append(value);
                self.index[i].len = len;
            }
            Err(i) => {
                let start = self.append(value);
                self.index.insert(i, Slot { kind, start, len });
            }
        }
    }

    /// Removes `kind`; true when it was present.
    pub fn remove(&mut self, kind: &CK_ATTRIBUTE_TYPE) -> bool {
        match self.find(*kind) {
            Ok(i) => {
                self.cut(i);
                self.index.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// Appends `value` to the buffer, returning where it starts.
    fn append(&mut self, value: &[u8]) -> u32 {
        let start = u32::try_from(self.bytes.len()).unwrap_or(u32::MAX);
        self.bytes.extend_from_slice(value);
        start
    }

    /// Drops slot `i`'s bytes from the buffer and moves the later ones down.
    fn cut(&mut self, i: usize) {
        let Slot { start, len, .. } = self.index[i];
        let (s, l) = (start as usize, len as usize);
        self.bytes.drain(s..s + l);
        for slot in &mut self.index {
            if slot.start > start {
                slot.start -= len;
            }
        }
        self.index[i].len = 0;
    }

    /// Every attribute type, in order.
    pub fn keys(&self) -> impl Iterator<Item = &CK_ATTRIBUTE_TYPE> + '_ {
        self.index.iter().map(|s| &s.kind)
    }

    /// Every value, in attribute-type order.
    pub fn values(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.index.iter().map(|s| self.value_of(s))
    }

    /// Every (type, value) pair, in attribute-type order.
    pub fn iter(&self) -> impl Iterator<Item = (&CK_ATTRIBUTE_TYPE, &[u8])> + '_ {
        self.index.iter().map(|s| (&s.kind, self.value_of(s)))
    }

    /// Sets every pair of `changes`, in order.
    pub fn extend<I, V>(&mut self, changes: I)
    where
        I: IntoIterator<Item = (CK_ATTRIBUTE_TYPE, V)>,
        V: AsRef<[u8]>,
    {
        for (kind, value) in changes {
            self.insert(kind, value.as_ref());
        }
    }

    /// A copy with room for `count` more attributes holding `bytes` more
    /// bytes (a clone would allocate twice more when the copy is edited).
    pub fn clone_with_room(&self, count: usize, bytes: usize) -> AttrMap {
        let mut copy = AttrMap::with_capacity(self.index.len() + count, self.bytes.len() + bytes);
        copy.index.extend_from_slice(&self.index);
        copy.bytes.extend_from_slice(&self.bytes);
        copy
    }
}

impl PartialEq for AttrMap {
    fn eq(&self, other: &AttrMap) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for AttrMap {}

impl Hash for AttrMap {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.len().hash(state);
        for (kind, value) in self.iter() {
            kind.hash(state);
            value.hash(state);
        }
    }
}

impl std::fmt::Debug for AttrMap {
    // Types and lengths only: values may be private.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.index.iter().map(|s| (s.kind, s.len)))
            .finish()
    }
}

impl<V: AsRef<[u8]>> FromIterator<(CK_ATTRIBUTE_TYPE, V)> for AttrMap {
    fn from_iter<I: IntoIterator<Item = (CK_ATTRIBUTE_TYPE, V)>>(iter: I) -> AttrMap {
        let mut m = AttrMap::new();
        m.extend(iter);
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Applies the same operations to an `AttrMap` and a `BTreeMap` and
    /// checks they agree after every step.
    #[test]
    fn agrees_with_a_btreemap_under_random_edits() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut m = AttrMap::new();
        let mut want: BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>> = BTreeMap::new();
        for step in 0..5_000 {
            let kind = (next() % 24) as CK_ATTRIBUTE_TYPE;
            if next() % 4 == 0 {
                assert_eq!(m.remove(&kind), want.remove(&kind).is_some(), "step {step}");
            } else {
                let len = (next() % 12) as usize;
                let v: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                m.insert(kind, &v);
                want.insert(kind, v);
            }
            assert_eq!(m.len(), want.len());
            let got: Vec<_> = m.iter().map(|(k, v)| (*k, v.to_vec())).collect();
            let exp: Vec<_> = want.iter().map(|(k, v)| (*k, v.clone())).collect();
            assert_eq!(got, exp, "step {step}");
            let live: usize = want.values().map(Vec::len).sum();
            assert_eq!(m.bytes.len(), live, "no dead bytes left behind");
        }
    }

    #[test]
    fn equality_and_hash_ignore_insertion_order() {
        use std::hash::BuildHasher;
        let a: AttrMap = [(1, vec![1u8]), (2, vec![2, 2])].into_iter().collect();
        let b: AttrMap = [(2, vec![2u8, 2]), (1, vec![1])].into_iter().collect();
        assert_eq!(a, b);
        let h = std::collections::hash_map::RandomState::new();
        assert_eq!(h.hash_one(&a), h.hash_one(&b));
        let c: AttrMap = [(1, vec![1u8]), (2, vec![2])].into_iter().collect();
        assert_ne!(a, c);
        assert_eq!(a.get(&2), Some(&[2u8, 2][..]));
        assert_eq!(a.get(&3), None);
        assert!(!a.is_empty() && AttrMap::new().is_empty());
    }
}
