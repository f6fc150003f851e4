//! The name people read for a machine.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a text is not a server name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerNameError {
    #[error("name must not be empty")]
    Empty,
    #[error("name must be at most {max} characters, got {0}", max = ServerName::MAX_CHARS)]
    TooLong(usize),
    #[error("name must not contain control characters or text-direction overrides")]
    ControlCharacter,
}

/// A display name: trimmed, 1 to [`ServerName::MAX_CHARS`] characters, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServerName(String);

impl ServerName {
    /// The longest name accepted, in characters.
    pub const MAX_CHARS: usize = 100;

    /// Trims `s` and checks it.
    pub fn parse(s: &str) -> Result<Self, ServerNameError> {
        let name = s.trim();
        if name.is_empty() {
            return Err(ServerNameError::Empty);
        }
        let len = name.chars().count();
        if len > Self::MAX_CHARS {
            return Err(ServerNameError::TooLong(len));
        }
        if !crate::text::displayable(name) {
            return Err(ServerNameError::ControlCharacter);
        }
        Ok(ServerName(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ServerName {
    type Error = ServerNameError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        ServerName::parse(&s)
    }
}

impl From<ServerName> for String {
    fn from(name: ServerName) -> Self {
        name.0
    }
}

text_schema!(
    ServerName,
    "A server's display name: trimmed, no control characters or text-direction \
     overrides.",
    length = 1..=ServerName::MAX_CHARS,
    example = "Web server",
);

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(ServerName::parse("  NAS  ").unwrap().as_str(), "NAS");
        assert_eq!(
            ServerName::parse("Büro-PC 2").unwrap().as_str(),
            "Büro-PC 2"
        );
        assert_eq!(ServerName::parse("   "), Err(ServerNameError::Empty));
        assert!(ServerName::parse(&"é".repeat(ServerName::MAX_CHARS)).is_ok());
        assert_eq!(
            ServerName::parse(&"x".repeat(101)),
            Err(ServerNameError::TooLong(101))
        );
        assert_eq!(
            ServerName::parse("a\u{7}b"),
            Err(ServerNameError::ControlCharacter)
        );
        // Reads as "nasexe.txt" in a browser.
        assert_eq!(
            ServerName::parse("nas\u{202E}txt.exe"),
            Err(ServerNameError::ControlCharacter)
        );
    }
}
