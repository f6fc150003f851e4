//! What free text may contain wherever people read it.

/// Whether `c` may appear in text shown to people: no control characters, and none
/// of Unicode's bidirectional overrides and isolates (U+202A..U+202E,
/// U+2066..U+2069), which can make a name or a line read as something else (a
/// server named "nas\u{202E}txt.exe" shows as "nasexe.txt").
pub fn is_displayable(c: char) -> bool {
    !c.is_control() && !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether every character of `s` is [`is_displayable`].
pub fn displayable(s: &str) -> bool {
    s.chars().all(is_displayable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_overrides_are_not_displayable() {
        for bad in [
            "a\u{7}b",
            "tab\there",
            "nas\u{202E}txt",
            "\u{202A}",
            "\u{202D}x",
            "x\u{2066}",
            "\u{2069}",
        ] {
            assert!(!displayable(bad), "{bad:?}");
        }
        for good in [
            "NAS",
            "Büro-PC 2",
            "日本語",
            "emoji 🖥",
            "right-to-left עברית",
        ] {
            assert!(displayable(good), "{good:?}");
        }
    }
}
