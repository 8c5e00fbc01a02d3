//! Classifies the bytes of a managed JSON file in one streaming pass (no value tree), and
//! adds missing required keys by inserting text, so every other byte of the file stays as
//! it was. Damaged bytes are classified here and handed to `salvage`; usable-but-wrong
//! documents (numbers out of range, nesting over serde_json's limit of 128, duplicate
//! top-level keys, a record array that is not an array) are findings, never rewritten.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

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
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// The key is absent.
    Missing,
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number (as f64).
    Num(f64),
    /// A string.
    Str(String),
    /// An array (not extracted).
    Array,
    /// An object, with the extracted sub-fields (see [`Extract`]).
    Object(Vec<Val>),
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
}

/// One record of a record array.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The extracted fields, in [`Extract::fields`] order (`Val::Missing` when absent); empty
    /// when the element is not an object.
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
}

/// Classifies `bytes` in one pass and pulls out what `spec` asks for.
pub fn inspect(bytes: &[u8], spec: &Spec<'_>) -> Shape {
    let trimmed = trim_ws(bytes);
    if bytes.is_empty() {
        return Shape::Empty(EmptyKind::ZeroBytes);
    }
    if trimmed.is_empty() {
        return Shape::Empty(EmptyKind::Whitespace);
    }
    if trimmed == b"null" {
        return Shape::Empty(EmptyKind::Null);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result = TopSeed { spec }
        .deserialize(&mut de)
        .and_then(|r| de.end().map(|()| r));
    match result {
        Ok(Top::Object(doc)) if doc.keys.is_empty() => Shape::Empty(EmptyKind::EmptyObject),
        Ok(Top::Object(doc)) => Shape::Object(doc),
        Ok(Top::Unusable(why)) => Shape::Unusable(why),
        Err(e) => classify_error(&e),
    }
}

fn classify_error(e: &serde_json::Error) -> Shape {
    let msg = e.to_string();
    let unusable = [
        "recursion limit exceeded",
        "number out of range",
        "duplicate key",
    ];
    if unusable.iter().any(|u| msg.contains(u)) {
        Shape::Unusable(msg)
    } else {
        Shape::Corrupt(msg)
    }
}

/// Bytes without leading and trailing JSON whitespace.
pub fn trim_ws(bytes: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let start = bytes.iter().position(|b| !ws(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !ws(b)).map_or(start, |e| e + 1);
    bytes.get(start..end).unwrap_or_default()
}

enum Top {
    Object(Document),
    Unusable(String),
}

/// Keys of one object, checked for duplicates by a hash of each key; equal hashes are
/// compared by text.
#[derive(Default)]
struct KeySet<'de> {
    seen: Vec<(u64, Cow<'de, str>)>,
}

impl<'de> KeySet<'de> {
    #[allow(clippy::ptr_arg)] // the Cow is cloned, keeping a borrowed key borrowed
    fn insert<E: de::Error>(&mut self, key: &Cow<'de, str>) -> Result<(), E> {
        let h = fnv(key.as_bytes());
        if self.seen.iter().any(|(sh, sk)| *sh == h && sk == key) {
            return Err(E::custom(format!("duplicate key {key:?}")));
        }
        self.seen.push((h, key.clone()));
        Ok(())
    }
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

struct TopSeed<'a, 'b> {
    spec: &'a Spec<'b>,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_, '_> {
    type Value = Top;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Top, D::Error> {
        d.deserialize_any(self)
    }
}

fn not_object<E: de::Error>(what: &str) -> Result<Top, E> {
    Ok(Top::Unusable(format!(
        "the document is {what}, not an object"
    )))
}

impl<'de> Visitor<'de> for TopSeed<'_, '_> {
    type Value = Top;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
        let mut doc = Document::default();
        let mut keys = KeySet::default();
        let mut problem = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            keys.insert::<A::Error>(&key)?;
            if self.spec.record_arrays.iter().any(|a| a == key.as_ref()) {
                let hash = self.spec.hash_records.iter().any(|a| a == key.as_ref());
                let seed = ArraySeed {
                    extract: self.spec.extract,
                    hash,
                };
                match map.next_value_seed(seed)? {
                    Some(records) => doc.arrays.push((key.to_string(), records)),
                    None => {
                        problem.get_or_insert_with(|| format!("{key:?} is not an array"));
                    }
                }
                doc.top.push((key.to_string(), Val::Array));
            } else {
                let v = map.next_value_seed(ValSeed { sub: &[] })?;
                doc.top.push((key.to_string(), v));
            }
            doc.keys.push(key.into_owned());
        }
        Ok(match problem {
            Some(p) => Top::Unusable(p),
            None => Top::Object(doc),
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Top, A::Error> {
        while seq.next_element_seed(ValSeed { sub: &[] })?.is_some() {}
        not_object("an array")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Top, E> {
        not_object("a boolean")
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Top, E> {
        not_object("a number")
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Top, E> {
        not_object("a number")
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Top, E> {
        not_object("a number")
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Top, E> {
        not_object("a string")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Top, E> {
        not_object("null")
    }
}

/// A record array: `Some(records)` if it is an array, `None` (validated and skipped) if not.
struct ArraySeed<'a> {
    extract: Option<&'a Extract>,
    hash: bool,
}

impl<'de> DeserializeSeed<'de> for ArraySeed<'_> {
    type Value = Option<Vec<Record>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ArraySeed<'_> {
    type Value = Option<Vec<Record>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        if self.hash {
            while let Some(raw) = seq.next_element::<&'de serde_json::value::RawValue>()? {
                let mut de = serde_json::Deserializer::from_str(raw.get());
                let mut rec = RecordSeed {
                    extract: self.extract,
                }
                .deserialize(&mut de)
                .map_err(de::Error::custom)?;
                rec.raw_hash = Some(fnv(raw.get().as_bytes()));
                out.push(rec);
            }
        } else {
            while let Some(rec) = seq.next_element_seed(RecordSeed {
                extract: self.extract,
            })? {
                out.push(rec);
            }
        }
        Ok(Some(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        ValSeed { sub: &[] }.visit_map(map).map(|_| None)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// One element of a record array.
struct RecordSeed<'a> {
    extract: Option<&'a Extract>,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = Record;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Record, D::Error> {
        d.deserialize_any(self)
    }
}

fn non_record() -> Record {
    Record {
        values: Vec::new(),
        is_object: false,
        raw_hash: None,
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let fields = self
            .extract
            .map(|e| e.fields.as_slice())
            .unwrap_or_default();
        let mut values = vec![Val::Missing; fields.len()];
        let mut keys = KeySet::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            keys.insert::<A::Error>(&key)?;
            match fields.iter().position(|f| f == key.as_ref()) {
                Some(i) => {
                    let sub = self
                        .extract
                        .and_then(|e| e.sub_fields.get(i))
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    let v = map.next_value_seed(ValSeed { sub })?;
                    if let Some(slot) = values.get_mut(i) {
                        *slot = v;
                    }
                }
                None => {
                    map.next_value_seed(ValSeed { sub: &[] })?;
                }
            }
        }
        Ok(Record {
            values,
            is_object: true,
            raw_hash: None,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Record, A::Error> {
        ValSeed { sub: &[] }.visit_seq(seq).map(|_| non_record())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Record, E> {
        Ok(non_record())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Record, E> {
        Ok(non_record())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Record, E> {
        Ok(non_record())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Record, E> {
        Ok(non_record())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Record, E> {
        Ok(non_record())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Record, E> {
        Ok(non_record())
    }
}

/// Any value, fully validated (finite numbers, no duplicate keys, serde_json's depth limit),
/// returned as a [`Val`]; for an object, the `sub` fields are pulled out.
struct ValSeed<'a> {
    sub: &'a [String],
}

impl<'de> DeserializeSeed<'de> for ValSeed<'_> {
    type Value = Val;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Val, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValSeed<'_> {
    type Value = Val;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val, A::Error> {
        while seq.next_element_seed(ValSeed { sub: &[] })?.is_some() {}
        Ok(Val::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val, A::Error> {
        let mut values = vec![Val::Missing; self.sub.len()];
        let mut keys = KeySet::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            keys.insert::<A::Error>(&key)?;
            let v = map.next_value_seed(ValSeed { sub: &[] })?;
            if let Some(i) = self.sub.iter().position(|f| f == key.as_ref()) {
                if let Some(slot) = values.get_mut(i) {
                    *slot = v;
                }
            }
        }
        Ok(Val::Object(values))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Val, E> {
        Ok(Val::Bool(v))
    }

    #[allow(clippy::cast_precision_loss)]
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Val, E> {
        Ok(Val::Num(v as f64))
    }

    #[allow(clippy::cast_precision_loss)]
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Val, E> {
        Ok(Val::Num(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Val, E> {
        Ok(Val::Num(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Val, E> {
        Ok(Val::Str(v.to_string()))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Val, E> {
        Ok(Val::Str(v.to_string()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Val, E> {
        Ok(Val::Null)
    }
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
