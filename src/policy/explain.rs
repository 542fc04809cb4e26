//! Explanations: which rules were tried for a request, why each did or did not match, and
//! what was decided.
//!
//! Owns the text an operator reads from `portcullis explain` and from a failed policy test.
//! The trace is computed by walking the rules in order, independently of the path trie, and
//! the decision is the engine's own, so the two can be compared (and are, in the tests).

use std::fmt;

use super::decision::{Decision, RuleRef};

/// The decision for a request together with the trace that led to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The app's name, or `None` when the app id was unknown.
    pub app: Option<String>,
    /// The path as rules saw it (lowercased for case-insensitive apps).
    pub path: String,
    /// The method as given.
    pub method: String,
    /// Each rule tried, in order, up to and including the one that matched.
    pub steps: Vec<RuleStep>,
    /// Whether no rule matched, so the global default decided.
    pub used_default: bool,
    /// The decision, exactly as [`Policy::decide`](super::Policy::decide) returns it.
    pub decision: Decision,
}

/// One rule tried while explaining.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleStep {
    /// The rule.
    pub rule: RuleRef,
    /// Whether it matched, and if not, the first condition that failed.
    pub outcome: StepOutcome,
}

/// Why a rule did or did not match.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepOutcome {
    /// Every condition held: this rule decides.
    Matched,
    /// No pattern in `paths` matches.
    PathNotMatched,
    /// A pattern in `exclude_paths` matches.
    Excluded {
        /// The exclude pattern as written.
        pattern: String,
    },
    /// The method is not in `methods`.
    MethodNotListed,
    /// The client address is in none of `networks`.
    NetworkNotListed,
}

impl fmt::Display for StepOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepOutcome::Matched => f.write_str("matches"),
            StepOutcome::PathNotMatched => f.write_str("path does not match"),
            StepOutcome::Excluded { pattern } => write!(f, "path excluded by {pattern}"),
            StepOutcome::MethodNotListed => f.write_str("method not listed"),
            StepOutcome::NetworkNotListed => f.write_str("client address not in networks"),
        }
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let app = self.app.as_deref().unwrap_or("(unknown app)");
        writeln!(f, "app {app}: {} {}", self.method, self.path)?;
        for step in &self.steps {
            match step.rule.index() {
                Some(index) => write!(f, "  rules[{index}] ")?,
                None => f.write_str("  default ")?,
            }
            writeln!(f, "{}: {}", step.rule.description(), step.outcome)?;
        }
        if self.used_default {
            writeln!(f, "  no rule matched: the global default applies")?;
        }
        write!(f, "decision: {}", self.decision)
    }
}
