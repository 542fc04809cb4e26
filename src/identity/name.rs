//! Canonical user and group names.
//!
//! A name is canonical when it is NFKC-normalised (Unicode UAX #15), trimmed and lower
//! case, so `Alice`, ` alice ` and fullwidth `Ａｌｉｃｅ` are one account and one throttle
//! counter (CASES K20). Names that could confuse a path, a header or a reader are refused:
//! control and invisible formatting characters, whitespace inside, `/`, `\` and `:` (the
//! Basic-auth separator). Errors never echo the input: people type passwords into username
//! fields.

use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Longest canonical name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Why a name was refused. Carries no part of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Nothing left after trimming.
    #[error("is empty")]
    Empty,
    /// More than [`MAX_NAME_CHARS`] characters.
    #[error("is longer than {MAX_NAME_CHARS} characters")]
    TooLong,
    /// A control or invisible formatting character (bidi override, zero-width space).
    #[error("contains a control or invisible character")]
    ControlCharacter,
    /// Whitespace between other characters.
    #[error("contains whitespace")]
    Whitespace,
    /// `/`, `\` or `:`.
    #[error("contains a reserved character (/, \\ or :)")]
    ReservedCharacter,
}

/// A canonical username.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

/// A canonical group name; same rules as [`Username`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GroupName(String);

impl Username {
    /// Canonicalises `input`.
    ///
    /// # Errors
    /// A [`NameError`] saying which rule the name breaks.
    pub fn parse(input: &str) -> Result<Username, NameError> {
        canonical_name(input).map(Username)
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl GroupName {
    /// Canonicalises `input`.
    ///
    /// # Errors
    /// A [`NameError`] saying which rule the name breaks.
    pub fn parse(input: &str) -> Result<GroupName, NameError> {
        canonical_name(input).map(GroupName)
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// NFKC, trim, lower case, then NFKC again: lower-casing can leave a sequence that is not
/// in normal form (`İ` becomes `i` plus a combining dot), and the result must be stable.
fn canonical_name(input: &str) -> Result<String, NameError> {
    let normalised: String = input.nfkc().collect();
    let lowered = normalised.trim().to_lowercase();
    let canonical: String = lowered.nfkc().collect();
    check_name(&canonical)?;
    Ok(canonical)
}

fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    if name
        .chars()
        .any(|c| c.is_control() || is_invisible_format(c))
    {
        return Err(NameError::ControlCharacter);
    }
    if name.chars().any(char::is_whitespace) {
        return Err(NameError::Whitespace);
    }
    if name.contains(['/', '\\', ':']) {
        return Err(NameError::ReservedCharacter);
    }
    Ok(())
}

/// Format characters (Unicode category Cf) that render as nothing or reorder text:
/// soft hyphen, zero-width and joiner characters, bidi marks, embeddings, overrides and
/// isolates, word joiner and invisible operators, the byte-order mark.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

macro_rules! name_traits {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                $name::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

name_traits!(Username);
name_traits!(GroupName);

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(input: &str) -> String {
        Username::parse(input).unwrap().as_str().to_owned()
    }

    #[test]
    fn case_width_compatibility_forms_and_padding_fold_to_one_name() {
        assert_eq!(canonical("Alice"), "alice");
        assert_eq!(canonical("  ALICE\t"), "alice");
        assert_eq!(canonical("Ａｌｉｃｅ"), "alice");
        assert_eq!(canonical("\u{3000}bob\u{3000}"), "bob");
        assert_eq!(canonical("ﬁona"), "fiona");
        assert_eq!(canonical("Ⅸ.admin"), "ix.admin");
    }

    #[test]
    fn canonical_names_are_stable() {
        for input in ["İstanbul", "ǅemal", "Straße", "ÅNGSTRÖM", "e\u{301}lise"] {
            let once = canonical(input);
            assert_eq!(canonical(&once), once, "{input}");
        }
    }

    #[test]
    fn names_with_hidden_or_reserved_characters_are_refused() {
        let cases = [
            ("", NameError::Empty),
            ("   ", NameError::Empty),
            ("al ice", NameError::Whitespace),
            ("al\u{a0}ice", NameError::Whitespace),
            ("al\nice", NameError::ControlCharacter),
            ("al\u{0}ice", NameError::ControlCharacter),
            ("ali\u{200B}ce", NameError::ControlCharacter),
            ("\u{202E}ecila", NameError::ControlCharacter),
            ("team/alice", NameError::ReservedCharacter),
            ("corp\\alice", NameError::ReservedCharacter),
            ("alice:pw", NameError::ReservedCharacter),
            ("ＡＢ／ＣＤ", NameError::ReservedCharacter),
        ];
        for (input, expected) in cases {
            assert_eq!(Username::parse(input), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn length_limit_counts_characters_after_canonicalisation() {
        assert!(Username::parse(&"é".repeat(MAX_NAME_CHARS)).is_ok());
        assert_eq!(
            Username::parse(&"a".repeat(MAX_NAME_CHARS + 1)),
            Err(NameError::TooLong)
        );
        assert!(Username::parse(&format!("  {}  ", "a".repeat(MAX_NAME_CHARS))).is_ok());
    }

    #[test]
    fn errors_never_echo_the_input() {
        let error = Username::parse("hunter2 secret").unwrap_err();
        assert!(!error.to_string().contains("hunter2"));
    }

    #[test]
    fn group_names_follow_the_same_rules() {
        assert_eq!(
            GroupName::parse(" IT-Admins ").unwrap().as_str(),
            "it-admins"
        );
        assert!(GroupName::parse("a b").is_err());
    }
}
