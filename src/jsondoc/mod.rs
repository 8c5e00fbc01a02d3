//! Classifies the bytes of a managed JSON file in one streaming pass (no value tree), pulling
//! out only the fields the detectors need, and adds missing required keys by inserting text
//! so every other byte of the file stays as it was. Damaged bytes are classified here and
//! handed to `salvage`; usable-but-wrong documents (numbers out of range, nesting deeper
//! than 128, duplicate keys, a record array that is not an array) are findings, never
//! rewritten. The scanner lives in `scan`: a strict RFC 8259 validator that also accepts
//! Python's `NaN`, `Infinity` and `-Infinity` (the state files' dialect, see
//! `crate::pyjson`), faster than a serde tree because it skips what it does not need. Only
//! syntactically valid bytes are ever [`Shape::Unusable`]; broken bytes are
//! [`Shape::Corrupt`] even when something unusable comes before the break.

mod scan;

use std::collections::VecDeque;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// What the bytes of a managed file are.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// 0 bytes, whitespace only, `{}` or `null`.
    Empty(EmptyKind),
    /// A usable JSON object.
    Object(Document),
    /// Valid JSON that cannot be used as this file.
    Unusable(String),
    /// Not valid JSON: a salvage case.
    Corrupt(String),
}

/// Which kind of empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyKind {
    /// 0 bytes.
    ZeroBytes,
    /// Only whitespace.
    Whitespace,
    /// `{}`.
    EmptyObject,
    /// `null`.
    Null,
}

impl fmt::Display for EmptyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EmptyKind::ZeroBytes => "0 bytes",
            EmptyKind::Whitespace => "whitespace only",
            EmptyKind::EmptyObject => "an empty object",
            EmptyKind::Null => "null",
        })
    }
}

/// A scalar pulled out of a document, or the kind of a non-scalar.
#[derive(Debug, Clone)]
pub enum Val {
    /// The key is absent.
    Missing,
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number (as f64; Python's `NaN`, `Infinity` and `-Infinity` are the non-finite
    /// ones).
    Num(f64),
    /// A string (shared: a state file repeats the same few symbols and strategies record
    /// after record, and the scanner hands out one copy of each).
    Str(Arc<str>),
    /// An array (not extracted).
    Array,
    /// An object, with the extracted sub-fields (see [`Extract`]).
    Object(Box<[Val]>),
}

/// Values are equal when they are the same value: a `NaN` equals a `NaN` (a file holding
/// `NaN` reads the same each time), `0.0` and `-0.0` are equal as numbers.
impl PartialEq for Val {
    fn eq(&self, other: &Val) -> bool {
        match (self, other) {
            (Val::Num(a), Val::Num(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Val::Missing, Val::Missing) | (Val::Null, Val::Null) | (Val::Array, Val::Array) => {
                true
            }
            (Val::Bool(a), Val::Bool(b)) => a == b,
            (Val::Str(a), Val::Str(b)) => a == b,
            (Val::Object(a), Val::Object(b)) => a == b,
            _ => false,
        }
    }
}

impl Val {
    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if it is one.
    pub fn as_num(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            _ => None,
        }
    }

    /// The JSON type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Missing => "missing",
            Val::Null => "null",
            Val::Bool(_) => "boolean",
            Val::Num(_) => "number",
            Val::Str(_) => "string",
            Val::Array => "array",
            Val::Object(_) => "object",
        }
    }
}

/// Which fields to pull out of each record of the record arrays (and, for an object-valued
/// field, which of its sub-fields).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extract {
    /// Field names.
    pub fields: Vec<String>,
    /// For field `i`, the sub-fields pulled out when it is an object.
    pub sub_fields: Vec<Vec<String>>,
    /// How many leading fields the records of arrays not in [`Spec::full_records`] get
    /// (the rest read as [`Val::Missing`]): closed positions only need the fields every
    /// record must have, and most of a state file is closed positions.
    pub common: usize,
}

/// One record of a record array.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The extracted fields, in [`Extract::fields`] order (`Val::Missing` when absent;
    /// shorter than the field list for an array not in [`Spec::full_records`]); empty when
    /// the element is not an object.
    pub values: Vec<Val>,
    /// Whether the element is an object.
    pub is_object: bool,
    /// Hash of the record's exact bytes (only for arrays asked with `hash_records`).
    pub raw_hash: Option<u64>,
}

/// A usable document: its top-level keys and what was pulled out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    /// Top-level keys, in order.
    pub keys: Vec<String>,
    /// Top-level scalar values by key (arrays and objects appear as their kind).
    pub top: Vec<(String, Val)>,
    /// Record arrays that were present: key and records.
    pub arrays: Vec<(String, Vec<Record>)>,
}

impl Document {
    /// The top-level value of `key`.
    pub fn top(&self, key: &str) -> &Val {
        self.top
            .iter()
            .find(|(k, _)| k == key)
            .map_or(&Val::Missing, |(_, v)| v)
    }

    /// The records of array `key`, if present.
    pub fn records(&self, key: &str) -> Option<&[Record]> {
        self.arrays
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, r)| r.as_slice())
    }
}

/// What to look for while inspecting.
#[derive(Debug, Clone, Default)]
pub struct Spec<'a> {
    /// Keys whose values must be arrays of records.
    pub record_arrays: &'a [String],
    /// Fields pulled out of each record.
    pub extract: Option<&'a Extract>,
    /// Record arrays whose records also get a hash of their exact bytes.
    pub hash_records: &'a [String],
    /// Record arrays whose records get every field of the extract (the others get
    /// [`Extract::common`] fields).
    pub full_records: &'a [String],
}

/// A record (or an optional one) and the byte range of its text.
pub type Spanned<T = Record> = (Range<usize>, T);

/// The records a scan completed before it stopped at broken bytes (see
/// [`inspect_keeping`]): per record array, in order, each record's byte range and what was
/// pulled out of it.
#[derive(Debug, Clone, Default)]
pub struct Scanned {
    /// Record array key and its records.
    pub arrays: Vec<(String, Vec<Spanned>)>,
}

/// Records of other bytes (`source`) already scanned with the same [`Spec`], taken by
/// [`inspect_assembled`] instead of scanned again: per record array, one entry for each
/// element of that array in the bytes inspected, in order, giving the range of `source`
/// the element's text must equal and its record (`None`: scan it). An element whose text
/// differs is scanned, so a wrong entry costs time, never correctness.
#[derive(Debug, Clone)]
pub struct Known<'a> {
    /// The bytes the records were scanned in.
    pub source: &'a [u8],
    /// Record array key and its elements.
    pub arrays: Vec<(String, VecDeque<Spanned<Option<Record>>>)>,
}

/// One top-level member of a document assembled from texts of other bytes (the
/// `source`), in order: the document is `{` part `,` part ... `}`, whitespace aside, but
/// never has to be in one buffer (see [`inspect_assembled`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part<'a> {
    /// A member whose key (quotes included) and value are the source's texts at these
    /// ranges.
    Copied {
        /// The key's range.
        key: Range<usize>,
        /// The value's range.
        value: Range<usize>,
    },
    /// An array whose key is the source's text at `key` and whose elements are the
    /// source's texts at `elements`, in order.
    Records {
        /// The key's range.
        key: Range<usize>,
        /// The elements' ranges.
        elements: &'a [Range<usize>],
    },
    /// A member of its own: the key `name` written as `serde_json` writes a string, and the
    /// value's JSON text.
    Written {
        /// The key.
        name: &'a str,
        /// The value, JSON text.
        value: &'a str,
    },
}

/// Classifies `bytes` in one pass and pulls out what `spec` asks for.
pub fn inspect(bytes: &[u8], spec: &Spec<'_>) -> Shape {
    classify(bytes, spec, |b, s| (scan::document(b, s), None)).0
}

/// Like [`inspect`]; when the bytes are broken ([`Shape::Corrupt`]) also the records
/// scanned completely before the break, so that a salvage keeping them need not have them
/// scanned again ([`inspect_assembled`]).
pub fn inspect_keeping(bytes: &[u8], spec: &Spec<'_>) -> (Shape, Option<Scanned>) {
    classify(bytes, spec, |b, s| scan::document_with(b, s, true, None))
}

/// What [`inspect`] gives for the document `parts` assemble from `source`, without that
/// document ever being in one buffer: each part is scanned where it lies (a salvage keeps
/// its output as pieces of the damaged input, whose records the scan of that input already
/// went through: `known` names them, and they are taken, not
/// scanned). `None` when the document would not be a usable object with unique keys (a
/// value out of range, nesting too deep, a duplicate key, a part that is not exactly one
/// value): then only the document itself can tell what it is, and where.
pub fn inspect_assembled(
    source: &[u8],
    parts: &[Part<'_>],
    spec: &Spec<'_>,
    known: Known<'_>,
) -> Option<Shape> {
    match scan::assembled(source, parts, spec, Some(known))? {
        scan::Top::Object(doc) if doc.keys.is_empty() => Some(Shape::Empty(EmptyKind::EmptyObject)),
        scan::Top::Object(doc) => Some(Shape::Object(doc)),
        _ => None,
    }
}

/// What a strict scan of `bytes` completed in `spec`'s record arrays: per array it entered,
/// in order, the byte ranges of its elements, all of them when the bytes are a usable
/// document, those before the first broken or unusable byte otherwise. Each is exactly one
/// valid JSON value (of the state files' dialect) and two neighbours in a list have only
/// whitespace and one comma between them: the skeleton `crate::salvage::rebuild` takes.
pub fn record_runs(bytes: &[u8], spec: &Spec<'_>) -> Vec<Vec<Range<usize>>> {
    scan::record_runs(bytes, spec)
}

fn classify<'a>(
    bytes: &'a [u8],
    spec: &Spec<'_>,
    scan_with: impl FnOnce(&'a [u8], &Spec<'_>) -> (Result<scan::Top, scan::ScanError>, Option<Scanned>),
) -> (Shape, Option<Scanned>) {
    let trimmed = trim_ws(bytes);
    if bytes.is_empty() {
        return (Shape::Empty(EmptyKind::ZeroBytes), None);
    }
    if trimmed.is_empty() {
        return (Shape::Empty(EmptyKind::Whitespace), None);
    }
    if trimmed == b"null" {
        return (Shape::Empty(EmptyKind::Null), None);
    }
    let (result, scanned) = scan_with(bytes, spec);
    let shape = match result {
        Ok(scan::Top::Object(doc)) if doc.keys.is_empty() => Shape::Empty(EmptyKind::EmptyObject),
        Ok(scan::Top::Object(doc)) => Shape::Object(doc),
        Ok(scan::Top::NotObject(what)) => {
            Shape::Unusable(format!("the document is {what}, not an object"))
        }
        Ok(scan::Top::BadArray(key)) => Shape::Unusable(format!("{key:?} is not an array")),
        Err(e) if e.unusable => Shape::Unusable(e.to_string()),
        Err(e) => Shape::Corrupt(e.to_string()),
    };
    (shape, scanned)
}

/// Bytes without leading and trailing JSON whitespace.
pub fn trim_ws(bytes: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let start = bytes.iter().position(|b| !ws(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !ws(b)).map_or(start, |e| e + 1);
    bytes.get(start..end).unwrap_or_default()
}

/// FNV-1a: a small, fast, deterministic hash for keys and record identity.
pub fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Inserts `"key": value` members (value given as JSON text) at the end of a valid,
/// non-empty top-level object, copying the indentation of its first member. Every
/// existing byte is kept. Returns `None` if the bytes are not such an object.
pub fn insert_keys(bytes: &[u8], members: &[(String, String)]) -> Option<Vec<u8>> {
    let close = bytes.iter().rposition(|b| !b.is_ascii_whitespace())?;
    if bytes.get(close) != Some(&b'}') {
        return None;
    }
    let before_close = bytes.get(..close)?;
    let last_value_end = before_close
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())?
        + 1;
    let open = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    if bytes.get(open) != Some(&b'{') || last_value_end == open + 1 {
        return None;
    }
    let first_key = bytes.get(open + 1..)?.iter().position(|&b| b == b'"')? + open + 1;
    let indent = bytes.get(open + 1..first_key)?;
    let pretty = indent.contains(&b'\n');
    let mut out = Vec::with_capacity(bytes.len() + 64);
    out.extend_from_slice(bytes.get(..last_value_end)?);
    for (key, value) in members {
        out.push(b',');
        out.extend_from_slice(indent);
        let key_text = serde_json::to_string(key).ok()?;
        out.extend_from_slice(key_text.as_bytes());
        out.extend_from_slice(if pretty { b": " } else { b":" });
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(bytes.get(last_value_end..)?);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrays() -> Vec<String> {
        vec!["open_positions".into(), "closed_positions".into()]
    }

    #[test]
    fn classification_table() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("  \n", "empty"),
            ("{}", "empty"),
            (" { } ", "empty"),
            ("null", "empty"),
            ("{\"open_positions\":[]}", "object"),
            ("{\"open_positions\":5}", "unusable"),
            ("[1,2]", "unusable"),
            ("{\"a\":1e400}", "unusable"),
            ("{\"a\":1,\"a\":2}", "unusable"),
            ("{\"open_positions\":[{\"s\":1,\"s\":2}]}", "unusable"),
            ("{\"open_positions\":[{\"s\":{\"x\":1e999}}]}", "unusable"),
            ("{\"a\":1", "corrupt"),
            ("{\"a\":1,}", "corrupt"),
            ("\u{feff}{\"a\":1}", "corrupt"),
            ("{\"a\":1}{\"a\":1}", "corrupt"),
            ("{\"a\":NaN,\"b\":[Infinity,-Infinity]}", "object"),
            ("{\"a\":NaN", "corrupt"),
            ("{\"a\":-Inf", "corrupt"),
            ("{\"a\":nan}", "corrupt"),
            ("NaN", "unusable"),
            ("{\"a\":1e400,\"b\":", "corrupt"),
        ];
        for (input, want) in cases {
            let arrays = arrays();
            let spec = Spec {
                record_arrays: &arrays,
                ..Spec::default()
            };
            let got = match inspect(input.as_bytes(), &spec) {
                Shape::Empty(_) => "empty",
                Shape::Object(_) => "object",
                Shape::Unusable(_) => "unusable",
                Shape::Corrupt(_) => "corrupt",
            };
            assert_eq!(got, *want, "input: {input:?}");
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        let arrays = arrays();
        let spec = Spec {
            record_arrays: &arrays,
            ..Spec::default()
        };
        assert!(matches!(
            inspect(deep.as_bytes(), &spec),
            Shape::Unusable(_)
        ));
        // Cut inside nesting deeper than the limit: broken bytes, not valid JSON.
        let cut = format!("{{\"open_positions\":[{{\"a\":{}", "[".repeat(200));
        assert!(matches!(inspect(cut.as_bytes(), &spec), Shape::Corrupt(_)));
    }

    #[test]
    fn insert_keeps_every_byte() {
        let members = vec![("open_positions".to_string(), "[]".to_string())];
        let compact = b"{\"closed_positions\":[{\"p\":100.10}]}";
        let out = insert_keys(compact, &members).unwrap_or_default();
        assert_eq!(
            out,
            b"{\"closed_positions\":[{\"p\":100.10}],\"open_positions\":[]}".to_vec()
        );
        let pretty = b"{\n  \"closed_positions\": []\n}\n";
        let out = insert_keys(pretty, &members).unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&out),
            "{\n  \"closed_positions\": [],\n  \"open_positions\": []\n}\n"
        );
        assert_eq!(insert_keys(b"{}", &members), None);
        assert_eq!(insert_keys(b"[1]", &members), None);
    }
}
