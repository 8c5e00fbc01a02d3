//! Relative state paths as the journal stores them, and the rule that refuses every other form.
//!
//! A journal path is relative to the state root, UTF-8, `/`-separated, with no empty, `.` or
//! `..` component, no NUL and no backslash. A record naming anything else is refused when it
//! is decoded, so a tampered journal cannot lead a rollback out of the root.

use std::fmt;

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The empty string.
    Empty,
    /// Starts with `/`.
    Absolute,
    /// Has a `..` component.
    ParentComponent,
    /// Has an empty or `.` component (`a//b`, `./a`, `a/`).
    EmptyOrDotComponent,
    /// Has a NUL, a backslash or a control character.
    BadCharacter,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::Empty => "empty path",
            PathError::Absolute => "absolute path",
            PathError::ParentComponent => "path with a `..` component",
            PathError::EmptyOrDotComponent => "path with an empty or `.` component",
            PathError::BadCharacter => "path with a NUL, backslash or control character",
        })
    }
}

impl std::error::Error for PathError {}

/// Checks that `path` is a journal-safe relative path (see the module docs).
///
/// # Errors
/// Returns the first rule the path breaks.
pub fn validate_rel_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.starts_with('/') {
        return Err(PathError::Absolute);
    }
    if path.chars().any(|c| c == '\\' || c.is_control()) {
        return Err(PathError::BadCharacter);
    }
    for component in path.split('/') {
        match component {
            ".." => return Err(PathError::ParentComponent),
            "" | "." => return Err(PathError::EmptyOrDotComponent),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, Result<(), PathError>)] = &[
            ("logs/positions_futures.json", Ok(())),
            ("a", Ok(())),
            (".bot_heartbeat", Ok(())),
            ("logs/.bot_heartbeat", Ok(())),
            ("", Err(PathError::Empty)),
            ("/etc/passwd", Err(PathError::Absolute)),
            ("../x", Err(PathError::ParentComponent)),
            ("logs/../../x", Err(PathError::ParentComponent)),
            ("logs//x", Err(PathError::EmptyOrDotComponent)),
            ("./x", Err(PathError::EmptyOrDotComponent)),
            ("logs/", Err(PathError::EmptyOrDotComponent)),
            ("a\0b", Err(PathError::BadCharacter)),
            ("a\\..\\b", Err(PathError::BadCharacter)),
            ("a\nb", Err(PathError::BadCharacter)),
        ];
        for (input, expected) in cases {
            assert_eq!(validate_rel_path(input), *expected, "input: {input:?}");
        }
    }
}
