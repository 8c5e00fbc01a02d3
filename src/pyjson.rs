//! Python's JSON dialect: the state files are written by Python's `json`, which writes and
//! reads three values RFC 8259 lacks: `NaN`, `Infinity` and `-Infinity`. This module owns
//! recognising them, for every reader of state bytes that is built on `serde_json` (which
//! refuses them). Pure: bytes in, values out; it never panics and never recurses.
//!
//! What is accepted is exactly what Python's `json.loads` accepts: the three tokens,
//! case-sensitive, each standing where a value stands (after `[`, `,`, `:`, whitespace or
//! at the start) outside strings. `nan`, `-NaN`, `+Infinity`, `infinity` and `Inf` are not
//! values. A token standing as an object key (`{NaN: 1}`) is not valid either way; the
//! readers here find that out because they validate what they rewrite.
//!
//! Every function keeps the file's bytes as they are: the conversions below produce
//! private copies for `serde_json` to read, never text written back to a state file.
//! [`standardize`] keeps every offset (each token becomes a number of the same length), so
//! a byte range found in its output is the same range in the input.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::ops::Range;

/// One of Python's non-finite number tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonFinite {
    /// `NaN`.
    NaN,
    /// `Infinity`.
    Infinity,
    /// `-Infinity`.
    NegInfinity,
}

impl NonFinite {
    /// The token as Python writes it.
    pub fn text(self) -> &'static str {
        match self {
            NonFinite::NaN => "NaN",
            NonFinite::Infinity => "Infinity",
            NonFinite::NegInfinity => "-Infinity",
        }
    }

    /// The number it stands for.
    pub fn value(self) -> f64 {
        match self {
            NonFinite::NaN => f64::NAN,
            NonFinite::Infinity => f64::INFINITY,
            NonFinite::NegInfinity => f64::NEG_INFINITY,
        }
    }

    /// A standard JSON number of the same length (`0` or `-0` padded with spaces).
    fn same_length_number(self) -> &'static [u8] {
        match self {
            NonFinite::NaN => b"0  ",
            NonFinite::Infinity => b"0       ",
            NonFinite::NegInfinity => b"-0       ",
        }
    }

    /// The token at the start of `bytes`, if one is there.
    pub fn at_start(bytes: &[u8]) -> Option<NonFinite> {
        [NonFinite::NaN, NonFinite::Infinity, NonFinite::NegInfinity]
            .into_iter()
            .find(|t| bytes.starts_with(t.text().as_bytes()))
    }
}

/// A number as the state files spell it: Python's `NaN`, `Infinity` and `-Infinity` for
/// the non-finite ones (Rust would print `NaN`, `inf`, `-inf`).
pub fn number_text(n: f64) -> String {
    match n {
        _ if n.is_nan() => NonFinite::NaN.text().to_string(),
        f64::INFINITY => NonFinite::Infinity.text().to_string(),
        f64::NEG_INFINITY => NonFinite::NegInfinity.text().to_string(),
        _ => n.to_string(),
    }
}

/// Whether a value may start right after `prev` (the byte before it, `None` at the start).
fn stands_after(prev: Option<u8>) -> bool {
    matches!(
        prev,
        None | Some(b'[' | b',' | b':' | b' ' | b'\t' | b'\n' | b'\r')
    )
}

/// Whether `bytes` contain a token's text anywhere (a fast test before any scan).
fn mentions_tokens(bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, b"NaN").is_some()
        || memchr::memmem::find(bytes, b"Infinity").is_some()
}

/// The tokens standing as values outside strings, with their offsets, in order. Strings
/// are skipped as the JSON grammar delimits them (a `"` outside a string opens one, the
/// next unescaped `"` closes it), whether or not the rest of the bytes is valid.
pub fn tokens(bytes: &[u8]) -> Vec<(usize, NonFinite)> {
    let mut out = Vec::new();
    if !mentions_tokens(bytes) {
        return out;
    }
    let mut i = 0;
    while let Some(off) = bytes
        .get(i..)
        .and_then(|rest| memchr::memchr3(b'"', b'N', b'I', rest))
    {
        let p = i + off;
        i = p + 1;
        match bytes.get(p) {
            Some(b'"') => match string_end(bytes, p) {
                Some(end) => i = end,
                None => break,
            },
            _ => {
                if let Some((start, t)) = token_at(bytes, p) {
                    out.push((start, t));
                    i = start + t.text().len();
                }
            }
        }
    }
    out
}

/// The token whose letters start at `p` (on its `N` or `I`), if it stands as a value.
fn token_at(bytes: &[u8], p: usize) -> Option<(usize, NonFinite)> {
    let before = |at: usize| at.checked_sub(1).and_then(|b| bytes.get(b).copied());
    let start = match before(p) {
        Some(b'-') if bytes.get(p) == Some(&b'I') => p - 1,
        _ => p,
    };
    let t = NonFinite::at_start(bytes.get(start..)?)?;
    stands_after(before(start)).then_some((start, t))
}

/// One past the closing quote of the string opening at `open`.
fn string_end(bytes: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    loop {
        let hit = i + memchr::memchr2(b'"', b'\\', bytes.get(i..)?)?;
        if bytes.get(hit) == Some(&b'"') {
            return Some(hit + 1);
        }
        i = hit + 2;
    }
}

/// `bytes` with every token replaced by `with(token)`.
fn replaced<'a>(bytes: &'a [u8], with: impl Fn(NonFinite) -> &'static [u8]) -> Cow<'a, [u8]> {
    let found = tokens(bytes);
    if found.is_empty() {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() + found.len() * 2);
    let mut from = 0;
    for (at, t) in found {
        out.extend_from_slice(bytes.get(from..at).unwrap_or_default());
        out.extend_from_slice(with(t));
        from = at + t.text().len();
    }
    out.extend_from_slice(bytes.get(from..).unwrap_or_default());
    Cow::Owned(out)
}

/// `bytes` with each token replaced by a standard number of the same length (`0` or `-0`
/// and spaces): valid in the dialect exactly when the result is valid JSON, and every
/// offset is kept. For validation and for finding byte ranges, never for reading values.
pub fn standardize(bytes: &[u8]) -> Cow<'_, [u8]> {
    replaced(bytes, NonFinite::same_length_number)
}

/// `bytes` with each token replaced by `null`: for reading values where a non-finite number
/// must not read as a number (a timestamp, a PID).
pub fn nulled(bytes: &[u8]) -> Cow<'_, [u8]> {
    replaced(bytes, |_| b"null")
}

/// Text that [`is_valid`] accepts, as strict JSON: each token becomes a string of its text
/// (`NaN` -> `"NaN"`), every other byte is kept. For output that must be strict JSON.
pub fn strict(text: &str) -> Cow<'_, str> {
    match replaced(text.as_bytes(), |t| match t {
        NonFinite::NaN => b"\"NaN\"",
        NonFinite::Infinity => b"\"Infinity\"",
        NonFinite::NegInfinity => b"\"-Infinity\"",
    }) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        // Only ASCII replaced ASCII: the text is still UTF-8.
        Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

/// Why bytes are not one value of the dialect: the position (1-based line and column) and
/// what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Line of the first bad byte.
    pub line: usize,
    /// Column (in bytes) of the first bad byte.
    pub column: usize,
    /// What is wrong, in words.
    pub what: String,
}

/// `Ok` if `bytes` are UTF-8 and exactly one value of the dialect (RFC 8259 plus the three
/// tokens, surrounding whitespace allowed). Numbers out of range, lone surrogate escapes and
/// any depth of nesting are syntactically valid and pass.
///
/// # Errors
/// Where and why the bytes are not such a value.
pub fn check(bytes: &[u8]) -> Result<(), SyntaxError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let (line, column) = position(bytes, e.valid_up_to());
        SyntaxError {
            line,
            column,
            what: "invalid UTF-8".into(),
        }
    })?;
    let standard = standardize(text.as_bytes());
    // Only ASCII replaced ASCII, so the copy is UTF-8 too; serde_json's ignoring
    // deserializer skips nesting with a heap stack, never recursion.
    let copy = std::str::from_utf8(&standard).unwrap_or(text);
    serde_json::from_str::<IgnoredAny>(copy)
        .map(|_| ())
        .map_err(|e| SyntaxError {
            line: e.line(),
            column: e.column(),
            what: message(&e),
        })
}

/// Whether [`check`] accepts `bytes`.
pub fn is_valid(bytes: &[u8]) -> bool {
    check(bytes).is_ok()
}

/// A `serde_json` error's words without its ` at line L column C` suffix.
fn message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    match full.rsplit_once(" at line ") {
        Some((what, _)) => what.to_string(),
        None => full,
    }
}

/// The 1-based line and column of byte `at`.
fn position(bytes: &[u8], at: usize) -> (usize, usize) {
    let before = bytes.get(..at).unwrap_or(bytes);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = at - memchr::memrchr(b'\n', before).map_or(0, |p| p + 1) + 1;
    (line, column)
}

/// The members of the JSON object `text`, each key (decoded) with the byte range of its
/// value in `text`, in order (a repeated key appears each time).
///
/// # Errors
/// `serde_json`'s error (its position holds for `text`) when `text` is not exactly one
/// object of the dialect.
pub fn members(text: &str) -> Result<Vec<(String, Range<usize>)>, serde_json::Error> {
    let standard = standardize(text.as_bytes());
    let copy = std::str::from_utf8(&standard).unwrap_or(text);
    let mut de = serde_json::Deserializer::from_str(copy);
    let raw = de.deserialize_map(MembersVisitor)?;
    de.end()?;
    Ok(raw
        .into_iter()
        .filter_map(|(k, v)| Some((k, offset_in(text, copy, v)?)))
        .collect())
}

/// The elements of the JSON array `text`, each as the byte range of its text in `text`.
///
/// # Errors
/// `serde_json`'s error when `text` is not exactly one array of the dialect.
pub fn elements(text: &str) -> Result<Vec<Range<usize>>, serde_json::Error> {
    let standard = standardize(text.as_bytes());
    let copy = std::str::from_utf8(&standard).unwrap_or(text);
    let mut de = serde_json::Deserializer::from_str(copy);
    let raw = de.deserialize_seq(ElementsVisitor)?;
    de.end()?;
    Ok(raw
        .into_iter()
        .filter_map(|v| offset_in(text, copy, v))
        .collect())
}

/// The range in `text` of `raw`, borrowed from `copy` (`text` standardized): the same
/// range, except that a token stood for by `0` or `-0` spans its own length.
fn offset_in(text: &str, copy: &str, raw: &RawValue) -> Option<Range<usize>> {
    let start = (raw.get().as_ptr() as usize).checked_sub(copy.as_ptr() as usize)?;
    let len = match NonFinite::at_start(text.as_bytes().get(start..)?) {
        Some(t) => t.text().len(),
        None => raw.get().len(),
    };
    let end = start.checked_add(len)?;
    (end <= text.len()).then_some(start..end)
}

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Vec<(String, &'de RawValue)>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(k) = map.next_key::<String>()? {
            out.push((k, map.next_value::<&'de RawValue>()?));
        }
        Ok(out)
    }
}

struct ElementsVisitor;

impl<'de> Visitor<'de> for ElementsVisitor {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<&'de RawValue>()? {
            out.push(v);
        }
        Ok(out)
    }
}

/// `text` without insignificant whitespace (outside strings), on one line.
pub fn compact(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'"' {
            let end = string_end(bytes, i).unwrap_or(bytes.len());
            out.extend_from_slice(bytes.get(i..end).unwrap_or_default());
            i = end;
            continue;
        }
        if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            out.push(b);
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// JSON text exactly as a state file holds it (the dialect). It serialises as a JSON value
/// that strict readers accept: verbatim when it holds no token, else with each token as a
/// string of its text ([`strict`]); text that is not a value serialises as a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verbatim(Box<str>);

impl Verbatim {
    /// Wraps `text`.
    pub fn new(text: &str) -> Verbatim {
        Verbatim(text.into())
    }

    /// The text as the file holds it.
    pub fn get(&self) -> &str {
        &self.0
    }
}

impl Serialize for Verbatim {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match RawValue::from_string(strict(&self.0).into_owned()) {
            Ok(raw) => raw.serialize(s),
            Err(_) => s.serialize_str(&self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_exactly_what_python_accepts() {
        let cases: &[(&str, bool)] = &[
            ("NaN", true),
            ("Infinity", true),
            ("-Infinity", true),
            ("[NaN, Infinity,-Infinity]", true),
            ("{\"a\":NaN,\"b\": -Infinity}", true),
            ("{\"a\":\n\tInfinity}", true),
            ("{\"NaN\":\"Infinity\"}", true),
            ("nan", false),
            ("-NaN", false),
            ("+Infinity", false),
            ("infinity", false),
            ("Inf", false),
            ("-Inf", false),
            ("Na", false),
            ("[1NaN]", false),
            ("[NaN1]", false),
            ("[NaNx]", false),
            ("[--Infinity]", false),
            ("[1-Infinity]", false),
            ("[Infinity.5]", false),
            ("[NaN\"x\"]", false),
            ("{NaN: 1}", false),
            ("{\"a\":1,NaN:2}", false),
            ("[\"a\"NaN]", false),
            ("[NaN,]", false),
        ];
        for (input, want) in cases {
            assert_eq!(is_valid(input.as_bytes()), *want, "input: {input}");
        }
    }

    #[test]
    fn tokens_inside_strings_are_text() {
        let text = r#"{"a": "NaN \" Infinity", "b": NaN, "c": "-Infinity"}"#;
        let found = tokens(text.as_bytes());
        assert_eq!(found.len(), 1);
        assert_eq!(found.first().map(|(_, t)| *t), Some(NonFinite::NaN));
        assert_eq!(standardize(text.as_bytes()).len(), text.len());
    }

    #[test]
    fn conversions() {
        let text = "[NaN, -Infinity, Infinity, \"NaN\"]";
        assert_eq!(
            String::from_utf8_lossy(&standardize(text.as_bytes())),
            "[0  , -0       , 0       , \"NaN\"]"
        );
        assert_eq!(
            String::from_utf8_lossy(&nulled(text.as_bytes())),
            "[null, null, null, \"NaN\"]"
        );
        assert_eq!(
            strict(text),
            "[\"NaN\", \"-Infinity\", \"Infinity\", \"NaN\"]"
        );
        assert!(matches!(standardize(b"[1, 2]"), Cow::Borrowed(_)));
    }

    #[test]
    fn members_and_elements_give_ranges_of_the_original() {
        let text = "{\"a\": NaN, \"b\": [1, -Infinity], \"a\": \"x\"}";
        let got: Vec<(String, &str)> = members(text)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, r)| (k, text.get(r).unwrap_or_default()))
            .collect();
        assert_eq!(
            got,
            [
                ("a".to_string(), "NaN"),
                ("b".to_string(), "[1, -Infinity]"),
                ("a".to_string(), "\"x\"")
            ]
        );
        let arr = "[ NaN ,{\"x\": Infinity}]";
        let got: Vec<&str> = elements(arr)
            .unwrap_or_default()
            .into_iter()
            .map(|r| arr.get(r).unwrap_or_default())
            .collect();
        assert_eq!(got, ["NaN", "{\"x\": Infinity}"]);
        assert!(members("{\"a\": Na}").is_err());
        assert!(members("[1]").is_err());
        assert!(elements("[1] x").is_err());
    }

    #[test]
    fn errors_name_the_place() {
        let e = check(b"{\"a\": [1,\n NaN, Inf]}").err();
        assert_eq!(e.as_ref().map(|e| (e.line, e.column)), Some((2, 7)));
        let e = check(b"{\"a\": \"\xff\"}").err();
        assert_eq!(e.map(|e| e.what), Some("invalid UTF-8".to_string()));
    }

    #[test]
    fn verbatim_serialises_as_strict_json() {
        let v = Verbatim::new("{\"p\": 100.10, \"s\": NaN}");
        let out = serde_json::to_string(&v).unwrap_or_default();
        assert_eq!(out, "{\"p\": 100.10, \"s\": \"NaN\"}");
        let plain = Verbatim::new("{\"p\": 100.10}");
        assert_eq!(
            serde_json::to_string(&plain).unwrap_or_default(),
            "{\"p\": 100.10}"
        );
        assert_eq!(compact("{ \"a b\" : [1, NaN] }"), "{\"a b\":[1,NaN]}");
    }
}
