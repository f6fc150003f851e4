//! The slug that names a managed machine.

use serde::{Deserialize, Serialize};

/// Why a text is not a server id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerIdError {
    #[error("server id must not be empty")]
    Empty,
    #[error("server id must be at most 63 characters, got {0}")]
    TooLong(usize),
    #[error(
        "server id must start with a lowercase letter or digit and hold only lowercase letters, digits and '-'"
    )]
    BadCharacters,
}

/// A server's id: `^[a-z0-9][a-z0-9-]{0,62}$`. The only way to make one is
/// [`ServerId::parse`], so every value in the program is valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServerId(String);

impl ServerId {
    /// The longest id accepted.
    pub const MAX_LEN: usize = 63;

    /// Checks `s` against the slug rule.
    pub fn parse(s: impl Into<String>) -> Result<Self, ServerIdError> {
        let s = s.into();
        let bytes = s.as_bytes();
        let Some(&first) = bytes.first() else {
            return Err(ServerIdError::Empty);
        };
        if s.len() > Self::MAX_LEN {
            return Err(ServerIdError::TooLong(s.chars().count()));
        }
        let slug_byte = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        if !slug_byte(first) || !bytes.iter().all(|&b| slug_byte(b) || b == b'-') {
            return Err(ServerIdError::BadCharacters);
        }
        Ok(ServerId(s))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_newtype!(ServerId, ServerIdError);
text_schema!(
    ServerId,
    "A server's id: a slug.",
    length = 1..=ServerId::MAX_LEN,
    pattern = "^[a-z0-9][a-z0-9-]{0,62}$",
    example = "web-01",
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_slugs() {
        for ok in ["a", "0", "web-01", "nas", "a-b-c", &"x".repeat(63)] {
            assert_eq!(ServerId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_everything_else_with_a_reason() {
        let cases = [
            ("", ServerIdError::Empty),
            (&"x".repeat(64), ServerIdError::TooLong(64)),
            ("-web", ServerIdError::BadCharacters),
            ("Web", ServerIdError::BadCharacters),
            ("web_01", ServerIdError::BadCharacters),
            ("web 01", ServerIdError::BadCharacters),
            ("web/01", ServerIdError::BadCharacters),
            ("wéb", ServerIdError::BadCharacters),
            ("web\n", ServerIdError::BadCharacters),
        ];
        for (input, expected) in cases {
            assert_eq!(ServerId::parse(input), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<ServerId>("\"nas-1\"").is_ok());
        assert!(serde_json::from_str::<ServerId>("\"NAS\"").is_err());
    }

    proptest! {
        #[test]
        fn parse_agrees_with_the_design_regex(s in "[a-zA-Z0-9 _./-]{0,70}|\\PC{0,70}") {
            let design = regex::Regex::new("^[a-z0-9][a-z0-9-]{0,62}$").unwrap();
            prop_assert_eq!(ServerId::parse(s.clone()).is_ok(), design.is_match(&s));
        }

        #[test]
        fn generated_slugs_are_accepted(s in "[a-z0-9][a-z0-9-]{0,62}") {
            prop_assert!(ServerId::parse(s).is_ok());
        }
    }
}
