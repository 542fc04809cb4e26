//! Interned names: user and group names, and path segments, turned into small numbers once
//! at compile time, so that a decision compares numbers instead of chasing strings.
//!
//! Owns the hash used by the engine's lookup tables. It is not keyed: every table is built
//! from the config, and a request can only look keys up, never insert, so chosen inputs
//! cannot lengthen a probe sequence beyond what the config itself produced.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Multiplier of the hash: odd, with well-spread bits (from the golden ratio).
const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

/// A small, fast, non-keyed hasher for tables built from the config.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FastHasher(u64);

/// A `HashMap` using [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// Literal path segments of every pattern in the policy, each with a number.
///
/// Shared by all apps: common segments (`api`, `static`) stay in cache across requests
/// to different apps, while each app's trie holds only numbers.
#[derive(Debug, Default)]
pub(crate) struct SegmentTable {
    numbers: FastMap<Box<str>, u32>,
}

/// Users, groups and path segments named anywhere in the policy, each with a number.
#[derive(Debug, Default)]
pub(crate) struct NameTable {
    users: FastMap<Box<str>, usize>,
    groups: FastMap<Box<str>, usize>,
    pub(crate) segments: SegmentTable,
}

impl FastHasher {
    /// Mixes one 64-bit word into the state.
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(26) ^ word).wrapping_mul(MULTIPLIER);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let mut last = [0; 8];
        let rest = chunks.remainder();
        last[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(last) ^ ((rest.len() as u64) << 56));
    }

    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        // Fold the high bits down: hashbrown takes its control bits from the top.
        self.0 ^ (self.0 >> 29)
    }
}

impl NameTable {
    /// The number of user `name`, assigning the next one when new.
    pub(crate) fn intern_user(&mut self, name: &str) -> usize {
        intern(&mut self.users, name)
    }

    /// The number of group `name`, assigning the next one when new.
    pub(crate) fn intern_group(&mut self, name: &str) -> usize {
        intern(&mut self.groups, name)
    }

    /// The number of user `name`, if the policy names it anywhere.
    pub(crate) fn user(&self, name: &str) -> Option<usize> {
        self.users.get(name).copied()
    }

    /// The number of group `name`, if the policy names it anywhere.
    pub(crate) fn group(&self, name: &str) -> Option<usize> {
        self.groups.get(name).copied()
    }
}

impl SegmentTable {
    /// The number of `text`, assigning the next one when new; `None` past 2^32 - 1.
    pub(crate) fn intern(&mut self, text: &str) -> Option<u32> {
        if let Some(&number) = self.numbers.get(text) {
            return Some(number);
        }
        let number = u32::try_from(self.numbers.len())
            .ok()
            .filter(|&n| n != u32::MAX)?;
        self.numbers.insert(text.into(), number);
        Some(number)
    }

    /// The number of `text`, if some pattern has it as a segment.
    pub(crate) fn get(&self, text: &str) -> Option<u32> {
        self.numbers.get(text).copied()
    }
}

/// The number of `name` in `table`, assigning the next one when new.
fn intern(table: &mut FastMap<Box<str>, usize>, name: &str) -> usize {
    if let Some(&id) = table.get(name) {
        return id;
    }
    let id = table.len();
    table.insert(name.into(), id);
    id
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn names_get_stable_distinct_numbers_per_kind() {
        let mut table = NameTable::default();
        let alice = table.intern_user("alice");
        assert_eq!(table.intern_user("bob"), alice + 1);
        assert_eq!(table.intern_user("alice"), alice);
        assert_eq!(table.intern_group("alice"), 0);
        assert_eq!(table.user("alice"), Some(alice));
        assert_eq!(table.group("bob"), None);
    }

    #[test]
    fn hash_distinguishes_lengths_and_trailing_bytes() {
        let build = BuildHasherDefault::<FastHasher>::default();
        let hashes: Vec<u64> = ["", "\0", "a", "a\0", "abcdefgh", "abcdefgh\0", "abcdefgi"]
            .iter()
            .map(|text| build.hash_one(text))
            .collect();
        for (index, hash) in hashes.iter().enumerate() {
            assert!(!hashes[index + 1..].contains(hash), "collision at {index}");
        }
    }
}
