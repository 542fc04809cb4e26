//! Segment trie over one app's path patterns, finding the first rule that matches a path.
//!
//! Owns the per-request matching cost. Each node stands for a sequence of pattern segments
//! and holds the rules whose pattern ends there exactly and those whose pattern ends there
//! with `/**`. A lookup walks the path's segments, following the literal child and the `*`
//! child, and offers candidate rules to a caller-supplied check (method, network,
//! exclusions) in ascending rule order, keeping the lowest index that passes.
//!
//! Cost of one lookup: O(d * b + c), where d is the path depth (capped by the deepest
//! pattern, since the walk stops where the trie ends), b the number of trie branches alive
//! at once (literal and `*` children both matching, usually 1 or 2), and c the number of
//! candidate rules offered to the check before the winner. A candidate list at a node is
//! cut off at the best rule found so far, and so is any subtree whose lowest rule is not
//! better. Nothing here allocates, and the cost does not depend on how many rules have
//! patterns that do not match the path.
//!
//! Memory layout is part of the cost, since a gateway with many apps finds little of any
//! one app in cache. Literal segments are numbered policy-wide (see [`SegmentTable`]), and
//! each node is one record of 32-bit words in a single array: header, sorted edges, then
//! its rule lists. A step down the trie thus reads one short record and compares numbers,
//! never text.

use std::collections::HashMap;

use super::names::SegmentTable;
use super::pattern::{Pattern, Segment};

/// Children of a node up to this count are scanned; wider nodes are binary searched.
const LINEAR_SCAN_LIMIT: usize = 8;

/// Marks a node without a `*` child.
const NO_CHILD: u32 = u32::MAX;

/// Word positions in a node record: `*` child, lowest rule below, and the three counts.
const STAR: usize = 0;
const LOWEST: usize = 1;
const EDGE_COUNT: usize = 2;
const EXACT_COUNT: usize = 3;
const PREFIX_COUNT: usize = 4;
/// Words before the edges; then come `EDGE_COUNT` pairs (segment number, child record),
/// `EXACT_COUNT` rules whose pattern ends here exactly and `PREFIX_COUNT` rules whose
/// pattern ends here with `/**`, each list ascending.
const HEADER: usize = 5;

/// The trie outgrew the 32-bit numbering of its compact layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TrieTooLarge;

/// Collects patterns; [`TrieBuilder::build`] turns it into the compact [`PathTrie`].
#[derive(Debug)]
pub(crate) struct TrieBuilder {
    nodes: Vec<BuildNode>,
}

/// A node while building: children by segment, and the rules whose pattern ends here.
#[derive(Debug, Default)]
struct BuildNode {
    literal: HashMap<Box<str>, usize>,
    star: Option<usize>,
    exact: Vec<usize>,
    prefix: Vec<usize>,
}

/// The trie as node records in one array; the root's record starts at word 0.
#[derive(Debug)]
pub(crate) struct PathTrie {
    words: Box<[u32]>,
}

/// One node record, checked to be complete.
#[derive(Clone, Copy)]
struct NodeView<'t> {
    record: &'t [u32],
    edge_count: usize,
    exact_count: usize,
}

/// The state of one lookup.
struct Lookup<'t, F> {
    trie: &'t PathTrie,
    segments: &'t SegmentTable,
    accept: F,
    best: Option<u32>,
}

impl TrieBuilder {
    /// An empty trie.
    pub(crate) fn new() -> Self {
        TrieBuilder {
            nodes: vec![BuildNode::default()],
        }
    }

    /// Adds `pattern` for `rule`; rules must be inserted in ascending order.
    pub(crate) fn insert(&mut self, pattern: &Pattern, rule: usize) {
        let mut node = 0;
        for segment in pattern.segments() {
            node = self.child(node, segment);
        }
        let rules = if pattern.is_prefix() {
            &mut self.nodes[node].prefix
        } else {
            &mut self.nodes[node].exact
        };
        if rules.last() != Some(&rule) {
            rules.push(rule);
        }
    }

    /// The child of `node` for `segment`, created when missing.
    fn child(&mut self, node: usize, segment: &Segment) -> usize {
        let existing = match segment {
            Segment::Literal(text) => self.nodes[node].literal.get(text).copied(),
            Segment::Star => self.nodes[node].star,
        };
        if let Some(child) = existing {
            return child;
        }

        let child = self.nodes.len();
        self.nodes.push(BuildNode::default());
        match segment {
            Segment::Literal(text) => {
                self.nodes[node].literal.insert(text.clone(), child);
            }
            Segment::Star => self.nodes[node].star = Some(child),
        }
        child
    }

    /// Lays the trie out as records, numbering its segments in `segments`.
    ///
    /// # Errors
    /// [`TrieTooLarge`] past 2^32 - 2 words, rules or segments.
    pub(crate) fn build(self, segments: &mut SegmentTable) -> Result<PathTrie, TrieTooLarge> {
        let mut offsets = Vec::with_capacity(self.nodes.len());
        let mut total = 0;
        for node in &self.nodes {
            offsets.push(small(total)?);
            total += HEADER + 2 * node.literal.len() + node.exact.len() + node.prefix.len();
        }
        small(total)?;

        let mut words = Vec::with_capacity(total);
        for node in &self.nodes {
            let star = node.star.and_then(|star| offsets.get(star).copied());
            let counts = [node.literal.len(), node.exact.len(), node.prefix.len()];
            words.extend([star.unwrap_or(NO_CHILD), u32::MAX]);
            for count in counts {
                words.push(small(count)?);
            }
            let mut edges = Vec::with_capacity(node.literal.len());
            for (text, &child) in &node.literal {
                let segment = segments.intern(text).ok_or(TrieTooLarge)?;
                edges.push([segment, offsets.get(child).copied().ok_or(TrieTooLarge)?]);
            }
            edges.sort_unstable();
            words.extend(edges.into_iter().flatten());
            for &rule in node.exact.iter().chain(&node.prefix) {
                words.push(small(rule)?);
            }
        }

        let mut trie = PathTrie {
            words: words.into_boxed_slice(),
        };
        trie.compute_lowest(0);
        Ok(trie)
    }
}

impl PathTrie {
    /// The lowest rule whose pattern matches `path` and that `accept` approves.
    ///
    /// `accept` sees candidates whose pattern matched, in ascending order per node; it may
    /// be asked about the same rule more than once when several of its patterns match.
    pub(crate) fn first_match<F>(
        &self,
        segments: &SegmentTable,
        path: &str,
        accept: F,
    ) -> Option<usize>
    where
        F: FnMut(usize) -> bool,
    {
        let rest = path.strip_prefix('/')?;
        let mut lookup = Lookup {
            trie: self,
            segments,
            accept,
            best: None,
        };
        lookup.visit(0, Some(rest));
        lookup.best.map(wide)
    }

    /// The record starting at word `offset`, or `None` if it does not fit the array.
    fn node(&self, offset: u32) -> Option<NodeView<'_>> {
        let start = wide(offset);
        let header = self.words.get(start..start + HEADER)?;
        let [edge_count, exact_count, prefix_count] =
            [EDGE_COUNT, EXACT_COUNT, PREFIX_COUNT].map(|field| wide(header[field]));
        let len = HEADER + 2 * edge_count + exact_count + prefix_count;
        let record = self.words.get(start..start + len)?;
        Some(NodeView {
            record,
            edge_count,
            exact_count,
        })
    }

    /// Fills in the lowest rule of the subtree at `offset`, returning it.
    ///
    /// Recursion depth is the depth of the deepest pattern, which comes from the config.
    fn compute_lowest(&mut self, offset: u32) -> u32 {
        let Some(node) = self.node(offset) else {
            return u32::MAX;
        };
        let own = [node.exact().first(), node.prefix().first()];
        let mut lowest = own.into_iter().flatten().copied().min().unwrap_or(u32::MAX);
        let mut children: Vec<u32> = node.edges().chunks_exact(2).map(|pair| pair[1]).collect();
        children.extend(node.star());

        for child in children {
            lowest = lowest.min(self.compute_lowest(child));
        }
        if let Some(word) = self.words.get_mut(wide(offset) + LOWEST) {
            *word = lowest;
        }
        lowest
    }
}

impl<'t> NodeView<'t> {
    fn star(self) -> Option<u32> {
        Some(self.record[STAR]).filter(|&star| star != NO_CHILD)
    }

    fn lowest(self) -> u32 {
        self.record[LOWEST]
    }

    /// The edges as (segment number, child record) pairs, sorted by segment.
    fn edges(self) -> &'t [u32] {
        &self.record[HEADER..HEADER + 2 * self.edge_count]
    }

    fn exact(self) -> &'t [u32] {
        let start = HEADER + 2 * self.edge_count;
        &self.record[start..start + self.exact_count]
    }

    fn prefix(self) -> &'t [u32] {
        &self.record[HEADER + 2 * self.edge_count + self.exact_count..]
    }

    /// The literal child for the segment numbered `segment`.
    fn literal_child(self, segment: u32) -> Option<u32> {
        let edges = self.edges();
        if self.edge_count <= LINEAR_SCAN_LIMIT {
            let mut pairs = edges.chunks_exact(2);
            return pairs.find(|pair| pair[0] == segment).map(|pair| pair[1]);
        }
        let (mut low, mut high) = (0, self.edge_count);
        while low < high {
            let middle = low + (high - low) / 2;
            match edges[2 * middle].cmp(&segment) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Some(edges[2 * middle + 1]),
            }
        }
        None
    }
}

impl<F> Lookup<'_, F>
where
    F: FnMut(usize) -> bool,
{
    /// Visits the record at `offset` with `rest` the unmatched part of the path (`None`
    /// once consumed).
    fn visit(&mut self, offset: u32, rest: Option<&str>) {
        let Some(node) = self.trie.node(offset) else {
            return;
        };
        if self.best.is_some_and(|best| node.lowest() >= best) {
            return;
        }
        self.offer(node.prefix());
        let Some(rest) = rest else {
            self.offer(node.exact());
            return;
        };

        let (segment, tail) = match rest.split_once('/') {
            Some((segment, tail)) => (segment, Some(tail)),
            None => (rest, None),
        };
        let literal = (node.edge_count > 0)
            .then(|| self.segments.get(segment))
            .flatten()
            .and_then(|number| node.literal_child(number));
        if let Some(child) = literal {
            self.visit(child, tail);
        }
        if let Some(star) = node.star()
            && !segment.is_empty()
        {
            self.visit(star, tail);
        }
    }

    /// Offers `rules` (ascending) to the check, stopping at the first better winner.
    fn offer(&mut self, rules: &[u32]) {
        for &rule in rules {
            if self.best.is_some_and(|best| rule >= best) {
                return;
            }
            if (self.accept)(wide(rule)) {
                self.best = Some(rule);
                return;
            }
        }
    }
}

/// An index in the compact width, refusing what does not fit (including [`NO_CHILD`]).
fn small(value: usize) -> Result<u32, TrieTooLarge> {
    u32::try_from(value)
        .ok()
        .filter(|&value| value != NO_CHILD)
        .ok_or(TrieTooLarge)
}

/// A compact index as a `usize`; lossless, as Portcullis targets are 32 or 64 bit.
fn wide(value: u32) -> usize {
    value as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trie with its segment numbers.
    struct Fixture {
        trie: PathTrie,
        segments: SegmentTable,
    }

    impl Fixture {
        fn new(patterns: &[&str]) -> Self {
            let mut builder = TrieBuilder::new();
            for (rule, source) in patterns.iter().enumerate() {
                builder.insert(&Pattern::parse(source, false).unwrap(), rule);
            }
            let mut segments = SegmentTable::default();
            let trie = builder.build(&mut segments).unwrap();
            Fixture { trie, segments }
        }

        fn first(&self, path: &str, accept: impl FnMut(usize) -> bool) -> Option<usize> {
            self.trie.first_match(&self.segments, path, accept)
        }
    }

    #[test]
    fn lowest_matching_rule_wins() {
        let trie = Fixture::new(&["/public/**", "/admin/**", "/**"]);
        assert_eq!(trie.first("/public/a", |_| true), Some(0));
        assert_eq!(trie.first("/admin/users", |_| true), Some(1));
        assert_eq!(trie.first("/other", |_| true), Some(2));
        assert_eq!(trie.first("/", |_| true), Some(2));
    }

    #[test]
    fn rejected_candidates_fall_through_in_order() {
        let trie = Fixture::new(&["/a/*", "/a/b", "/a/**"]);
        assert_eq!(trie.first("/a/b", |rule| rule != 0), Some(1));
        assert_eq!(trie.first("/a/b", |rule| rule == 2), Some(2));
        assert_eq!(trie.first("/a/b", |_| false), None);
    }

    #[test]
    fn star_and_literal_branches_are_both_explored() {
        let trie = Fixture::new(&["/files/private/x", "/files/*/thumb.png"]);
        assert_eq!(trie.first("/files/private/thumb.png", |_| true), Some(1));
        assert_eq!(trie.first("/files/private/x", |_| true), Some(0));
        assert_eq!(trie.first("/files//thumb.png", |_| true), None);
    }

    #[test]
    fn wide_nodes_are_searched_like_narrow_ones() {
        let sources: Vec<String> = (0..40).map(|n| format!("/svc{n}/**")).collect();
        let patterns: Vec<&str> = sources.iter().map(String::as_str).collect();
        let trie = Fixture::new(&patterns);
        for n in 0..40 {
            assert_eq!(trie.first(&format!("/svc{n}/x"), |_| true), Some(n));
        }
        assert_eq!(trie.first("/svc40/x", |_| true), None);
        assert_eq!(trie.first("/svc", |_| true), None);
    }

    #[test]
    fn segments_known_only_from_other_tries_do_not_match() {
        let mut segments = SegmentTable::default();
        let mut other = TrieBuilder::new();
        other.insert(&Pattern::parse("/admin/**", false).unwrap(), 0);
        other.build(&mut segments).unwrap();
        let mut builder = TrieBuilder::new();
        builder.insert(&Pattern::parse("/public/**", false).unwrap(), 0);
        let trie = builder.build(&mut segments).unwrap();
        assert_eq!(trie.first_match(&segments, "/admin/x", |_| true), None);
        assert_eq!(trie.first_match(&segments, "/public/x", |_| true), Some(0));
    }

    #[test]
    fn non_canonical_path_matches_nothing() {
        let trie = Fixture::new(&["/**"]);
        assert_eq!(trie.first("*", |_| true), None);
        assert_eq!(trie.first("", |_| true), None);
    }
}
