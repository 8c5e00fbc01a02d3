//! Reading a finished run: its exit code, its streams, its `--json` document, and the
//! Rust Debug renderings that must never reach a user.

use std::process::Output;

/// Exit code, or -signal.
pub fn code(out: &Output) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    out.status
        .code()
        .unwrap_or_else(|| -out.status.signal().unwrap_or(0))
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The human data of a data command (`journal`, `stats`, `config`): it is on stdout and
/// nothing at all is on stderr.
pub fn data_of(out: &Output) -> String {
    assert_eq!(stderr(out), "", "a data command printed on stderr");
    stdout(out)
}

/// The exit code of a `--json` run and its stdout parsed; fails the test if stdout is not
/// JSON.
pub fn json_of(out: &Output) -> (i32, serde_json::Value) {
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            stderr(out)
        )
    });
    (code(out), v)
}

/// The first Rust Debug rendering in `text`: `CamelCase(`/`CamelCase {`, `Some(`, `Ok(`,
/// `Err(`, `None`, `Type::Variant`, `Variant { field: …`, or a bare variant in parentheses
/// such as `(Truncated)`.
pub fn debug_name(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_alphabetic() || (i > 0 && bytes[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
            i += 1;
        }
        let word = &text[start..i];
        let next = text[i..].trim_start_matches(' ');
        let first = word.chars().next().unwrap_or('a');
        let camel = first.is_ascii_uppercase()
            && word.chars().skip(1).any(|c| c.is_ascii_lowercase())
            && word.chars().skip(1).any(|c| c.is_ascii_uppercase());
        let variant = first.is_ascii_uppercase()
            && word.len() > 1
            && word.chars().skip(1).any(|c| c.is_ascii_lowercase());
        let struct_like = next.strip_prefix("{ ").is_some_and(|rest| {
            let field: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            !field.is_empty() && rest[field.len()..].starts_with(':')
        });
        let path =
            next.starts_with("::") && next[2..].starts_with(|c: char| c.is_ascii_uppercase());
        let hit = (camel && (next.starts_with('(') || next.starts_with('{')))
            || (first.is_ascii_uppercase() && (struct_like || path))
            || (["Some", "Ok", "Err"].contains(&word) && text[i..].starts_with('('))
            || word == "None"
            || (variant && start > 0 && bytes[start - 1] == b'(' && text[i..].starts_with(')'));
        if hit {
            let end = (i + 20).min(text.len());
            return Some(text[start.saturating_sub(20)..end].to_string());
        }
    }
    None
}
