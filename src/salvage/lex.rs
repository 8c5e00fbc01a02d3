//! Byte-level helpers shared by the scanners: whitespace, strings, value extents and
//! the validity test of one JSON text.
//!
//! Nothing here allocates in proportion to nesting depth: extents are found by counting
//! one bracket kind with `memchr`, strings are skipped with `memchr2`. An extent is only a
//! claim about where a value ends; [`is_valid_json`] on exactly those bytes is the
//! authority on whether the value is intact.

use memchr::{memchr2, memchr3};

/// A half-open byte range `[start, end)` of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    pub(crate) fn len(self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// The bytes of `buf` in this span (empty if the span lies outside `buf`).
    pub(crate) fn of(self, buf: &[u8]) -> &[u8] {
        buf.get(self.start..self.end).unwrap_or_default()
    }
}

/// Where a value scanned from its first byte ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extent {
    /// The value closes; the index is one past its last byte.
    Complete(usize),
    /// The value does not close before the scan limit (end of input or an anchor).
    Cut,
}

/// JSON insignificant whitespace (RFC 8259: space, tab, line feed, carriage return).
pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Bytes that are never JSON text outside a string: controls other than whitespace
/// (NUL padding among them), DEL, and bytes of multi-byte UTF-8 sequences.
pub(crate) fn is_garbage(b: u8) -> bool {
    (b < 0x20 && !is_ws(b)) || b >= 0x7F
}

/// True if the value ending at `end` is followed by `,`, `closer`, the end of the input or
/// garbage, or (after a closed container or string) by `{`, where a second document
/// starts. Any other JSON text there (a letter, a quote, a digit) means the value's last
/// byte may belong to a different text spliced in, so the value is not trusted; a number
/// or literal followed by `{` may have been cut short by the second document.
pub(crate) fn ends_cleanly(buf: &[u8], end: usize, closer: u8) -> bool {
    let closed = matches!(
        end.checked_sub(1).and_then(|i| at(buf, i)),
        Some(b'}' | b']' | b'"')
    );
    match at(buf, skip_ws(buf, end)) {
        None => true,
        Some(b'{') => closed,
        Some(b) => b == b',' || b == closer || is_garbage(b),
    }
}

/// The byte at `pos`, if any.
pub(crate) fn at(buf: &[u8], pos: usize) -> Option<u8> {
    buf.get(pos).copied()
}

/// The first index at or after `pos` that is not whitespace (may be `buf.len()`).
pub(crate) fn skip_ws(buf: &[u8], mut pos: usize) -> usize {
    while at(buf, pos).is_some_and(is_ws) {
        pos += 1;
    }
    pos
}

/// One past the closing quote of the string opening at `open`, if it closes before `limit`.
pub(crate) fn string_end(buf: &[u8], open: usize, limit: usize) -> Option<usize> {
    let mut i = open + 1;
    loop {
        let rest = buf.get(i..limit)?;
        let hit = i + memchr2(b'"', b'\\', rest)?;
        if at(buf, hit) == Some(b'"') {
            return Some(hit + 1);
        }
        i = hit + 2;
    }
}

/// Where the value starting at `start` ends, scanning no further than `limit`.
pub(crate) fn value_extent(buf: &[u8], start: usize, limit: usize) -> Extent {
    let limit = limit.min(buf.len());
    match at(buf, start) {
        Some(b'{') => container_extent(buf, start, b'{', b'}', limit),
        Some(b'[') => container_extent(buf, start, b'[', b']', limit),
        Some(b'"') => string_end(buf, start, limit).map_or(Extent::Cut, Extent::Complete),
        Some(_) => scalar_extent(buf, start, limit),
        None => Extent::Cut,
    }
}

/// Numbers and literals run until a delimiter; at the end of the bytes they may be cut short.
fn scalar_extent(buf: &[u8], start: usize, limit: usize) -> Extent {
    let mut i = start;
    while at(buf, i).is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.')) {
        i += 1;
    }
    if i >= limit {
        Extent::Cut
    } else {
        Extent::Complete(i)
    }
}

/// Counts only `open`/`close` outside strings: exact for valid JSON, a guess otherwise.
fn container_extent(buf: &[u8], start: usize, open: u8, close: u8, limit: usize) -> Extent {
    let mut depth = 0usize;
    let mut i = start;
    loop {
        let Some(rest) = buf.get(i..limit) else {
            return Extent::Cut;
        };
        let Some(off) = memchr3(b'"', open, close, rest) else {
            return Extent::Cut;
        };
        let hit = i + off;
        match at(buf, hit) {
            Some(b'"') => match string_end(buf, hit, limit) {
                Some(end) => i = end,
                None => return Extent::Cut,
            },
            Some(b) if b == open => {
                depth += 1;
                i = hit + 1;
            }
            _ => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Extent::Complete(hit + 1);
                }
                i = hit + 1;
            }
        }
    }
}

/// True if `bytes` are UTF-8 and exactly one JSON value of the state files' dialect
/// (RFC 8259 grammar plus Python's `NaN`, `Infinity` and `-Infinity`, surrounding
/// whitespace allowed; see `crate::pyjson`). Numbers out of range, lone surrogate escapes
/// and deep nesting are syntactically valid and pass; deciding whether they are usable is
/// not salvage's job.
pub(crate) fn is_valid_json(bytes: &[u8]) -> bool {
    crate::pyjson::is_valid(bytes)
}

/// The decoded name of the JSON string in `raw` (quotes included); the raw text between
/// the quotes if it does not decode (a lone surrogate escape), `None` if not a string.
pub(crate) fn key_name(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?;
    if !is_valid_json(raw) || !text.starts_with('"') {
        return None;
    }
    match serde_json::from_str::<String>(text) {
        Ok(name) => Some(name),
        Err(_) => Some(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extents() {
        let cases: &[(&str, Option<usize>)] = &[
            (r#"{"a":1}"#, Some(7)),
            (r#"{"a":"}"}x"#, Some(9)),
            (r#"{"a":{"b":[1,{}]}} "#, Some(18)),
            (r#"{"a":"\"}"}"#, Some(11)),
            (r#"{"a":1"#, None),
            (r#"[1,[2],3],"#, Some(9)),
            ("12.5,", Some(4)),
            ("12.5", None),
            ("NaN,", Some(3)),
            ("-Infinity]", Some(9)),
            ("Infinity", None),
            ("-Inf", None),
            (r#""abc"#, None),
            ("", None),
        ];
        for (input, want) in cases {
            let got = match value_extent(input.as_bytes(), 0, usize::MAX) {
                Extent::Complete(end) => Some(end),
                Extent::Cut => None,
            };
            assert_eq!(got, *want, "input: {input}");
        }
    }

    #[test]
    fn validity() {
        let cases: &[(&[u8], bool)] = &[
            (b"{}", true),
            (b" 1e400 ", true),
            (br#""\ud800""#, true),
            (b"{,}", false),
            (b"[1,]", false),
            (b"\"\xff\"", false),
            (b"{} {}", false),
            (b"[NaN, Infinity, -Infinity]", true),
            (b"{\"a\": NaN}", true),
            (b"{\"a\": Na}", false),
            (b"{\"a\": -Inf", false),
            (b"{\"a\": nan}", false),
            (b"{\"a\": -NaN}", false),
        ];
        for (input, want) in cases {
            assert_eq!(is_valid_json(input), *want, "input: {input:?}");
        }
    }

    #[test]
    fn clean_ends() {
        let cases: &[(&[u8], bool)] = &[
            (b"}, ", true),
            (b"} \n]", true),
            (b"}", true),
            (b"}\0\0", true),
            (b"}\xff", true),
            (b"}{", true),
            (b"1{", false),
            (b"} x", false),
            (b"}\"", false),
        ];
        for (input, want) in cases {
            assert_eq!(ends_cleanly(input, 1, b']'), *want, "input: {input:?}");
        }
    }

    #[test]
    fn keys() {
        assert_eq!(key_name(br#""a\u0062""#).as_deref(), Some("ab"));
        assert_eq!(key_name(b"12"), None);
        assert_eq!(key_name(br#""x"#), None);
    }
}
