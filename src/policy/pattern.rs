//! Path patterns of rules: parsing, matching one path, and comparing two patterns.
//!
//! Owns the pattern language: `/healthz` (exact), `/x/**` (`/x` and everything under it),
//! `*` as a whole segment (`/files/*/thumb.png`, one non-empty segment). Trusts the path it
//! is given to be the proxy's canonical path: decoded, no dot segments, no doubled slashes,
//! no query or fragment. Patterns that could never match such a path (`//`, `.`, `?`) are
//! rejected when parsed, so a typo cannot silently turn a rule off.

use std::borrow::Cow;
use std::fmt;

/// Why a path pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// Canonical paths always start with `/`.
    #[error("must start with `/`")]
    NoLeadingSlash,
    /// `**` stands for "everything below" and so can only end a pattern.
    #[error("`**` is allowed only as the last segment")]
    MisplacedGlobstar,
    /// Wildcards inside a segment (`*.png`) are not part of the language.
    #[error("`*` must be a whole segment")]
    PartialWildcard,
    /// Canonical paths have no empty segment except a trailing slash.
    #[error("empty segment (`//`) never occurs in a canonical path")]
    EmptySegment,
    /// Canonical paths have no `.` or `..` segment.
    #[error("dot segment never occurs in a canonical path")]
    DotSegment,
    /// The query and fragment are not part of the path rules see.
    #[error("`?` or `#` never occurs in a canonical path (rules see the path only)")]
    QueryOrFragment,
    /// Control characters are refused by the proxy before policy runs.
    #[error("control character")]
    ControlCharacter,
}

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Exactly this text (empty only for a trailing slash).
    Literal(Box<str>),
    /// Any one non-empty segment.
    Star,
}

/// A parsed path pattern: fixed segments, optionally followed by `/**`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    source: Box<str>,
    segments: Vec<Segment>,
    prefix: bool,
}

impl Segment {
    /// Whether this segment matches the path segment `actual`.
    pub(crate) fn matches(&self, actual: &str) -> bool {
        match self {
            Segment::Literal(text) => **text == *actual,
            Segment::Star => !actual.is_empty(),
        }
    }

    /// Whether every segment `other` matches is also matched by `self`.
    fn covers(&self, other: &Segment) -> bool {
        match (self, other) {
            (Segment::Star, Segment::Star) => true,
            (Segment::Star, Segment::Literal(text)) => !text.is_empty(),
            (Segment::Literal(a), Segment::Literal(b)) => a == b,
            (Segment::Literal(_), Segment::Star) => false,
        }
    }

    /// Whether some segment is matched by both.
    fn overlaps(&self, other: &Segment) -> bool {
        match (self, other) {
            (Segment::Literal(a), Segment::Literal(b)) => a == b,
            (Segment::Star, Segment::Literal(text)) | (Segment::Literal(text), Segment::Star) => {
                !text.is_empty()
            }
            (Segment::Star, Segment::Star) => true,
        }
    }
}

impl Pattern {
    /// Parses a pattern; with `fold_case` its literals are lowercased like request paths.
    ///
    /// # Errors
    /// Any [`PatternError`]: the pattern could never match a canonical path.
    pub(crate) fn parse(source: &str, fold_case: bool) -> Result<Pattern, PatternError> {
        let rest = source
            .strip_prefix('/')
            .ok_or(PatternError::NoLeadingSlash)?;
        if source.chars().any(char::is_control) {
            return Err(PatternError::ControlCharacter);
        }
        if source.contains(['?', '#']) {
            return Err(PatternError::QueryOrFragment);
        }

        let mut parts: Vec<&str> = rest.split('/').collect();
        let prefix = parts.last() == Some(&"**");
        if prefix {
            parts.pop();
        }

        let last = parts.len().saturating_sub(1);
        let segments = parts
            .iter()
            .enumerate()
            .map(|(index, part)| parse_segment(part, index == last && !prefix, fold_case))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pattern {
            source: source.into(),
            segments,
            prefix,
        })
    }

    /// The pattern `/**`, used for rules without `paths`.
    pub(crate) fn everything() -> Pattern {
        Pattern {
            source: "/**".into(),
            segments: Vec::new(),
            prefix: true,
        }
    }

    /// The pattern as written in the config.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// The fixed segments, without the trailing `**`.
    pub(crate) fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Whether the pattern ends in `/**`.
    pub(crate) fn is_prefix(&self) -> bool {
        self.prefix
    }

    /// For an exact pattern such as `/admin`, the paths strictly below it: `/admin/` and
    /// `/admin/*/**`. Empty for prefix patterns and for patterns ending in a slash.
    pub(crate) fn below(&self) -> Vec<Pattern> {
        let ends_in_name = matches!(self.segments.last(), Some(Segment::Star))
            || matches!(self.segments.last(), Some(Segment::Literal(text)) if !text.is_empty());
        if self.prefix || !ends_in_name {
            return Vec::new();
        }
        let with = |segment: Segment, prefix: bool, suffix: &str| {
            let mut segments = self.segments.clone();
            segments.push(segment);
            let source = format!("{}{suffix}", self.source).into();
            Pattern {
                source,
                segments,
                prefix,
            }
        };
        vec![
            with(Segment::Literal("".into()), false, "/"),
            with(Segment::Star, true, "/*/**"),
        ]
    }

    /// Whether the canonical `path` matches (already case-folded for such apps).
    pub(crate) fn matches(&self, path: &str) -> bool {
        let Some(mut actual) = path_segments(path) else {
            return false;
        };
        for expected in &self.segments {
            match actual.next() {
                Some(segment) if expected.matches(segment) => {}
                _ => return false,
            }
        }
        self.prefix || actual.next().is_none()
    }

    /// Whether every path that `other` matches is also matched by `self`.
    pub(crate) fn covers(&self, other: &Pattern) -> bool {
        let length_fits = if self.prefix {
            other.segments.len() >= self.segments.len()
        } else {
            !other.prefix && other.segments.len() == self.segments.len()
        };
        length_fits
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|(a, b)| a.covers(b))
    }

    /// Whether some path is matched by both patterns.
    pub(crate) fn intersects(&self, other: &Pattern) -> bool {
        let (mine, theirs) = (self.segments.len(), other.segments.len());
        let length_fits = match (self.prefix, other.prefix) {
            (false, false) => mine == theirs,
            (true, false) => theirs >= mine,
            (false, true) => mine >= theirs,
            (true, true) => true,
        };
        length_fits
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|(a, b)| a.overlaps(b))
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Splits a canonical path into segments: `/` is `[""]`, `/a/` is `["a", ""]`.
///
/// Returns `None` for a path that does not start with `/`.
pub(crate) fn path_segments(path: &str) -> Option<std::str::Split<'_, char>> {
    path.strip_prefix('/').map(|rest| rest.split('/'))
}

/// Lowercases a path for a case-insensitive app, borrowing when nothing changes.
///
/// Non-ASCII text is always lowercased in full, so titlecase letters are folded too.
pub(crate) fn fold_case(path: &str) -> Cow<'_, str> {
    if path
        .bytes()
        .any(|byte| byte.is_ascii_uppercase() || !byte.is_ascii())
    {
        Cow::Owned(path.to_lowercase())
    } else {
        Cow::Borrowed(path)
    }
}

/// Parses one segment; an empty one is allowed only as a trailing slash.
fn parse_segment(part: &str, may_be_empty: bool, fold_case: bool) -> Result<Segment, PatternError> {
    match part {
        "**" => Err(PatternError::MisplacedGlobstar),
        "*" => Ok(Segment::Star),
        "" if may_be_empty => Ok(Segment::Literal("".into())),
        "" => Err(PatternError::EmptySegment),
        "." | ".." => Err(PatternError::DotSegment),
        _ if part.contains('*') => Err(PatternError::PartialWildcard),
        _ if fold_case => Ok(Segment::Literal(part.to_lowercase().into())),
        _ => Ok(Segment::Literal(part.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(source: &str) -> Pattern {
        Pattern::parse(source, false).unwrap()
    }

    #[test]
    fn exact_pattern_matches_only_that_path() {
        let healthz = pattern("/healthz");
        assert!(healthz.matches("/healthz"));
        for path in [
            "/healthz/",
            "/healthz/x",
            "/healthzz",
            "/",
            "/HEALTHZ",
            "healthz",
        ] {
            assert!(!healthz.matches(path), "{path}");
        }
    }

    #[test]
    fn globstar_matches_the_prefix_itself_and_everything_under_it() {
        let public = pattern("/public/**");
        for path in ["/public", "/public/", "/public/a", "/public/a/b/c.css"] {
            assert!(public.matches(path), "{path}");
        }
        for path in ["/publicity", "/", "/admin/public/a", "/Public/a"] {
            assert!(!public.matches(path), "{path}");
        }
    }

    #[test]
    fn root_globstar_matches_every_canonical_path() {
        let all = pattern("/**");
        for path in ["/", "/a", "/a/b/"] {
            assert!(all.matches(path), "{path}");
        }
        assert!(!all.matches("*"));
    }

    #[test]
    fn star_matches_exactly_one_non_empty_segment() {
        let thumb = pattern("/files/*/thumb.png");
        assert!(thumb.matches("/files/a/thumb.png"));
        for path in [
            "/files/thumb.png",
            "/files/a/b/thumb.png",
            "/files//thumb.png",
        ] {
            assert!(!thumb.matches(path), "{path}");
        }
        let last = pattern("/files/*");
        assert!(last.matches("/files/a"));
        assert!(!last.matches("/files/"));
        assert!(!last.matches("/files"));
    }

    #[test]
    fn trailing_slash_pattern_matches_only_the_directory_form() {
        let dir = pattern("/docs/");
        assert!(dir.matches("/docs/"));
        assert!(!dir.matches("/docs"));
        assert!(pattern("/").matches("/"));
        assert!(!pattern("/").matches("/a"));
    }

    #[test]
    fn patterns_that_never_match_a_canonical_path_are_rejected() {
        let cases = [
            ("healthz", PatternError::NoLeadingSlash),
            ("/a/**/b", PatternError::MisplacedGlobstar),
            ("/a/**/", PatternError::MisplacedGlobstar),
            ("/*.png", PatternError::PartialWildcard),
            ("/a//b", PatternError::EmptySegment),
            ("//", PatternError::EmptySegment),
            ("/a//**", PatternError::EmptySegment),
            ("/a/../b", PatternError::DotSegment),
            ("/./a", PatternError::DotSegment),
            ("/a?x=1", PatternError::QueryOrFragment),
            ("/a#b", PatternError::QueryOrFragment),
            ("/a\u{0}b", PatternError::ControlCharacter),
        ];
        for (source, error) in cases {
            assert_eq!(Pattern::parse(source, false), Err(error), "{source}");
        }
    }

    #[test]
    fn fold_case_lowercases_literals_and_paths() {
        let admin = Pattern::parse("/Admin/**", true).unwrap();
        assert!(admin.matches(&fold_case("/ADMIN/users")));
        assert!(matches!(fold_case("/admin"), Cow::Borrowed(_)));
        assert_eq!(fold_case("/\u{1C5}x"), "/\u{1C6}x");
    }

    #[test]
    fn covers_relation() {
        let yes = [
            ("/**", "/a/b"),
            ("/**", "/"),
            ("/a/**", "/a"),
            ("/a/**", "/a/"),
            ("/a/**", "/a/*/c/**"),
            ("/a/*", "/a/b"),
            ("/*/b", "/*/b"),
            ("/a/b", "/a/b"),
        ];
        for (wide, narrow) in yes {
            assert!(
                pattern(wide).covers(&pattern(narrow)),
                "{wide} covers {narrow}"
            );
        }
        let no = [
            ("/a/b", "/a/*"),
            ("/a/*", "/a/"),
            ("/a/*", "/a/**"),
            ("/a/b/**", "/a/**"),
            ("/a", "/a/**"),
            ("/a/**", "/b"),
        ];
        for (wide, narrow) in no {
            assert!(
                !pattern(wide).covers(&pattern(narrow)),
                "{wide} !covers {narrow}"
            );
        }
    }

    #[test]
    fn intersects_relation() {
        let yes = [
            ("/a/**", "/*/b"),
            ("/a/*", "/*/c"),
            ("/**", "/"),
            ("/a/**", "/a"),
        ];
        for (a, b) in yes {
            assert!(pattern(a).intersects(&pattern(b)), "{a} meets {b}");
            assert!(pattern(b).intersects(&pattern(a)), "{b} meets {a}");
        }
        let no = [
            ("/a/**", "/b/**"),
            ("/a/*", "/a/"),
            ("/a", "/a/b"),
            ("/a/b/**", "/a"),
        ];
        for (a, b) in no {
            assert!(!pattern(a).intersects(&pattern(b)), "{a} misses {b}");
            assert!(!pattern(b).intersects(&pattern(a)), "{b} misses {a}");
        }
    }
}
