//! Text input rules shared by every aggregate: trimmed, bounded in
//! characters, and free of control characters (PostgreSQL refuses NUL, and
//! the others have no business in names, reasons or codes).

use crate::error::AppError;

/// Whether `c` is a control character other than tab, line feed and
/// carriage return (which multi-line text such as a reason may hold).
fn forbidden(c: char, multi_line: bool) -> bool {
    c.is_control() && !(multi_line && matches!(c, '\t' | '\n' | '\r'))
}

/// The first control character in `value`, if any: what a client must not send.
pub fn control_character(value: &str, multi_line: bool) -> Option<char> {
    value.chars().find(|c| forbidden(*c, multi_line))
}

/// One line of text for `field`: trimmed, 1 to `max` characters, no control characters.
pub fn single_line(field: &str, value: &str, max: usize) -> Result<String, AppError> {
    checked(field, value, max, false)
}

/// Free text for `field` (a reason): trimmed, 1 to `max` characters; tabs
/// and line breaks allowed, other control characters refused.
pub fn multi_line(field: &str, value: &str, max: usize) -> Result<String, AppError> {
    checked(field, value, max, true)
}

fn checked(field: &str, value: &str, max: usize, multi_line: bool) -> Result<String, AppError> {
    if let Some(c) = control_character(value, multi_line) {
        return Err(AppError::validation(
            field,
            format!("`{field}` contains the control character U+{:04X}", u32::from(c)),
        ));
    }
    let trimmed = value.trim();
    let length = trimmed.chars().count();
    if length == 0 || length > max {
        return Err(AppError::validation(field, format!("`{field}` has 1 to {max} characters")));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_with_the_field_named() {
        let err = single_line("input.name", "a\u{0}b", 10).expect_err("NUL refused");
        assert!(matches!(&err, AppError::Validation { field: Some(f), .. } if f == "input.name"), "{err:?}");
        assert!(err.to_string().contains("U+0000"));
        assert!(single_line("x", "a\nb", 10).is_err());
        assert!(single_line("x", "a\u{1b}b", 10).is_err());
        assert_eq!(multi_line("x", " line one\nline two\t ", 40).expect("ok"), "line one\nline two");
        assert!(multi_line("x", "bell\u{7}", 40).is_err());
        assert!(multi_line("x", "del\u{7f}", 40).is_err());
    }

    #[test]
    fn length_counts_characters_after_trimming() {
        assert!(single_line("x", "   ", 10).is_err());
        assert_eq!(single_line("x", " ééé ", 3).expect("3 chars"), "ééé");
        assert!(single_line("x", "éééé", 3).is_err());
    }
}
