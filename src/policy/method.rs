//! Sets of HTTP methods as rules list them.
//!
//! Owns method comparison: ASCII case is ignored (RFC 9110 9.1 makes methods
//! case-sensitive, but an upstream that treats `delete` as `DELETE` must not slip past a
//! `deny` for `DELETE`, so the engine matches the wider reading). The nine methods of the
//! HTTP registry are bits, so a check needs no memory beyond the set itself.

/// The registered methods that get a bit, in bit order (RFC 9110 9.3, RFC 5789).
const KNOWN: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// Characters allowed in an HTTP token besides letters and digits (RFC 9110 5.6.2).
const TOKEN_SYMBOLS: &[u8] = b"!#$%&'*+-.^_`|~";

/// A non-empty set of methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MethodSet {
    known: u16,
    /// Other methods, upper case.
    extension: Box<[Box<str>]>,
}

impl MethodSet {
    /// Builds the set from a rule's list.
    ///
    /// # Errors
    /// The entries that are not HTTP tokens.
    pub(crate) fn parse(list: &[String]) -> Result<MethodSet, Vec<String>> {
        let invalid: Vec<String> = list.iter().filter(|m| !is_token(m)).cloned().collect();
        if !invalid.is_empty() {
            return Err(invalid);
        }
        let mut set = MethodSet {
            known: 0,
            extension: Box::default(),
        };
        let mut extension = Vec::new();
        for method in list {
            match known_bit(method) {
                Some(bit) => set.known |= bit,
                None => extension.push(method.to_ascii_uppercase().into_boxed_str()),
            }
        }
        extension.sort_unstable();
        extension.dedup();
        set.extension = extension.into_boxed_slice();
        Ok(set)
    }

    /// Whether `method` is in the set, ignoring ASCII case.
    pub(crate) fn contains(&self, method: &str) -> bool {
        match known_bit(method) {
            Some(bit) => self.known & bit != 0,
            None => self
                .extension
                .iter()
                .any(|listed| listed.eq_ignore_ascii_case(method)),
        }
    }

    /// Whether every method of `other` is in `self`.
    pub(crate) fn is_superset(&self, other: &MethodSet) -> bool {
        other.known & !self.known == 0
            && other
                .extension
                .iter()
                .all(|method| self.extension.contains(method))
    }
}

/// The bit of a registered method, ignoring ASCII case.
fn known_bit(method: &str) -> Option<u16> {
    let position = KNOWN
        .iter()
        .position(|known| known.eq_ignore_ascii_case(method))?;
    Some(1 << position)
}

/// Whether `text` is an HTTP token (RFC 9110 5.6.2), as every method is.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || TOKEN_SYMBOLS.contains(&byte))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(methods: &[&str]) -> MethodSet {
        let list: Vec<String> = methods.iter().map(|method| method.to_string()).collect();
        MethodSet::parse(&list).unwrap()
    }

    #[test]
    fn methods_match_ignoring_ascii_case() {
        let methods = set(&["get", "PROPFIND"]);
        for method in ["GET", "get", "Get", "PROPFIND", "propfind"] {
            assert!(methods.contains(method), "{method}");
        }
        for method in ["POST", "HEAD", "GETX", "", "PROP"] {
            assert!(!methods.contains(method), "{method}");
        }
    }

    #[test]
    fn superset_compares_both_kinds_of_method() {
        assert!(set(&["GET", "POST", "MKCOL"]).is_superset(&set(&["post", "mkcol"])));
        assert!(!set(&["GET"]).is_superset(&set(&["GET", "HEAD"])));
        assert!(!set(&["GET"]).is_superset(&set(&["GET", "MKCOL"])));
    }

    #[test]
    fn non_tokens_are_rejected() {
        let list = vec!["GET".to_owned(), "GE T".to_owned(), String::new()];
        assert_eq!(
            MethodSet::parse(&list),
            Err(vec!["GE T".to_owned(), String::new()])
        );
    }
}
