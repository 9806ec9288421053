//! A set of names built once and read many times: what a cell or a statement binds, reads,
//! calls and changes.
//!
//! A sorted slice behind an `Arc` instead of a `BTreeSet<String>`: a statement has a handful
//! of names, and a B-tree's smallest node has room for eleven (280 bytes before any name),
//! while the slice takes what its names take. The analysis keeps these sets for every
//! statement of every cell, and a cell's names are held by its parse, its statement units and
//! its facts at once, which share one copy instead of cloning it. On make_big.py's notebook
//! the sets were the largest part of the heap, and every page of heap a conversion touches
//! is a page fault (see BENCHMARKS.md).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};

/// Sorted, without duplicates; the empty set holds no allocation.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NameSet(Option<Arc<[String]>>);

impl NameSet {
    /// The names, in order.
    pub fn as_slice(&self) -> &[String] {
        self.0.as_deref().unwrap_or_default()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.as_slice().iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.as_slice()
            .binary_search_by(|held| held.as_str().cmp(name))
            .is_ok()
    }

    /// From names already sorted and without duplicates (a `BTreeSet`'s order).
    fn from_sorted(names: Vec<String>) -> NameSet {
        debug_assert!(names.windows(2).all(|pair| pair[0] < pair[1]));
        if names.is_empty() {
            NameSet(None)
        } else {
            NameSet(Some(names.into()))
        }
    }
}

impl FromIterator<String> for NameSet {
    fn from_iter<I: IntoIterator<Item = String>>(names: I) -> NameSet {
        let mut names: Vec<String> = names.into_iter().collect();
        // Most sets come from a `BTreeSet` and are sorted already.
        if !names.is_sorted() {
            names.sort_unstable();
        }
        names.dedup();
        NameSet::from_sorted(names)
    }
}

impl<'a> FromIterator<&'a str> for NameSet {
    fn from_iter<I: IntoIterator<Item = &'a str>>(names: I) -> NameSet {
        names.into_iter().map(str::to_string).collect()
    }
}

impl From<BTreeSet<String>> for NameSet {
    fn from(names: BTreeSet<String>) -> NameSet {
        NameSet::from_sorted(names.into_iter().collect())
    }
}

impl<'s> IntoIterator for &'s NameSet {
    type Item = &'s String;
    type IntoIter = std::slice::Iter<'s, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// As a set: `{"a", "b"}`.
impl fmt::Debug for NameSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// As a list of the names in order, the way a `BTreeSet` serializes.
impl Serialize for NameSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> NameSet {
        names.iter().copied().collect()
    }

    #[test]
    fn sorts_and_drops_duplicates() {
        let names = set(&["b", "a", "c", "a"]);
        assert_eq!(names.as_slice(), ["a", "b", "c"]);
        assert!(names.contains("b") && !names.contains("d"));
        assert_eq!(format!("{names:?}"), r#"{"a", "b", "c"}"#);
        assert_eq!(serde_json::to_string(&names).unwrap(), r#"["a","b","c"]"#);
    }

    #[test]
    fn the_empty_set_holds_nothing() {
        let empty = set(&[]);
        assert!(empty.is_empty() && empty.0.is_none());
        assert_eq!(empty, NameSet::default());
        assert_eq!(NameSet::from(BTreeSet::new()), empty);
    }

    #[test]
    fn equals_the_btree_set_it_came_from() {
        let tree: BTreeSet<String> = ["x", "b", "m"].iter().map(|n| n.to_string()).collect();
        let names = NameSet::from(tree.clone());
        assert!(names.iter().eq(tree.iter()));
        assert_eq!(names, tree.into_iter().collect::<NameSet>());
    }
}
