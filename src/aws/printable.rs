//! What a line may print of a name (a table, a stream, a target, a session's table): no control
//! character and no invisible formatting one, which would break the line or disguise it.

/// A character that would break, or forge, the lines that print a name: a control character,
/// or an invisible formatting one (zero-width, bidirectional overrides, a byte order mark).
pub fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_invisible_marks_are_unprintable_and_names_are_not() {
        for c in [
            '\n', '\r', '\u{0}', '\u{1b}', '\u{200B}', '\u{202E}', '\u{2066}', '\u{FEFF}',
        ] {
            assert!(unprintable(c), "{c:?}");
        }
        assert!(!"orders-copy_2.v1 é 表".chars().any(unprintable));
    }
}
