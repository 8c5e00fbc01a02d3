//! Readable diffs of JSON documents, for `journal show`: top-level keys added, removed or
//! changed, and for every top-level array present on both sides its records added,
//! removed or changed, matched by *identity* (the configured position identity fields, for
//! the positions arrays) or by *value* (any other array, as a multiset). Records are kept
//! verbatim (their exact text in the document), never re-serialised, so what an operator
//! reads is what the file held. The documents are in the state files' dialect (Python's
//! `NaN`, `Infinity` and `-Infinity` are values, `crate::pyjson`); in serialised output,
//! which is strict JSON, such a token inside a record or value is written as the string of
//! its text (`"NaN"`). Pure: bytes in, values out; never panics on any input.

use crate::pyjson::{self, Verbatim};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};

/// How the records of an array are matched between the two sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keying {
    /// By these fields of each record (a record lacking one is matched by value).
    Identity(Vec<String>),
    /// By the whole value.
    Value,
}

/// One record, verbatim.
#[derive(Debug, Clone, Serialize)]
pub struct RecordRef {
    /// The identity (`symbol / strategy / direction`), when matched by identity.
    pub identity: Option<String>,
    /// The record's exact text.
    pub record: Verbatim,
}

/// One record whose identity stayed while its content changed.
#[derive(Debug, Clone, Serialize)]
pub struct RecordChange {
    /// The identity.
    pub identity: String,
    /// The record before, verbatim.
    pub before: Verbatim,
    /// The record after, verbatim.
    pub after: Verbatim,
    /// Its top-level fields that were added, removed or changed.
    pub fields: Vec<String>,
}

/// The records of one array, before and after.
#[derive(Debug, Clone, Serialize)]
pub struct ArrayDiff {
    /// The top-level key holding the array.
    pub key: String,
    /// `identity` or `value`.
    pub matched_by: &'static str,
    /// Records only after.
    pub added: Vec<RecordRef>,
    /// Records only before.
    pub removed: Vec<RecordRef>,
    /// Records matched by identity whose content changed.
    pub changed: Vec<RecordChange>,
    /// Records the same on both sides.
    pub unchanged: usize,
}

/// A top-level key present on one side only.
#[derive(Debug, Clone, Serialize)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// Its value, verbatim.
    pub value: Verbatim,
}

/// A top-level key whose (non-array) value changed.
#[derive(Debug, Clone, Serialize)]
pub struct KeyChange {
    /// The key.
    pub key: String,
    /// Before, verbatim.
    pub before: Verbatim,
    /// After, verbatim.
    pub after: Verbatim,
}

/// The difference between two JSON documents.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DocDiff {
    /// Why a side is not a JSON object (it is then compared as an empty object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before_note: Option<String>,
    /// The same for the after side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_note: Option<String>,
    /// Keys only after.
    pub keys_added: Vec<KeyValue>,
    /// Keys only before.
    pub keys_removed: Vec<KeyValue>,
    /// Keys on both sides whose value changed (arrays are in `arrays`).
    pub keys_changed: Vec<KeyChange>,
    /// Arrays on both sides that changed.
    pub arrays: Vec<ArrayDiff>,
}

impl DocDiff {
    /// Whether nothing differs.
    pub fn is_empty(&self) -> bool {
        self.keys_added.is_empty()
            && self.keys_removed.is_empty()
            && self.keys_changed.is_empty()
            && self.arrays.is_empty()
    }
}

/// A document's top-level members, each key (the last occurrence of a repeated one) with
/// the text of its value.
type Object<'a> = BTreeMap<String, &'a str>;

/// Parses a side: `None` (absent) and anything that is not a JSON object read as an empty
/// object, with a note saying why.
fn object(bytes: Option<&[u8]>) -> (Object<'_>, Option<String>) {
    let Some(bytes) = bytes else {
        return (Object::new(), Some("absent".into()));
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return (Object::new(), Some("empty".into()));
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return (
            Object::new(),
            Some("not a JSON object (not valid UTF-8)".into()),
        );
    };
    match pyjson::members(text) {
        Ok(members) => (
            members
                .into_iter()
                .map(|(k, r)| (k, text.get(r).unwrap_or_default()))
                .collect(),
            None,
        ),
        Err(e) => (Object::new(), Some(format!("not a JSON object ({e})"))),
    }
}

/// Diffs two documents. `keying` says how the records of the array under each key are
/// matched (keys not listed: by value).
pub fn diff(
    before: Option<&[u8]>,
    after: Option<&[u8]>,
    keying: &BTreeMap<String, Keying>,
) -> DocDiff {
    let (b, before_note) = object(before);
    let (a, after_note) = object(after);
    let mut d = DocDiff {
        before_note,
        after_note,
        ..DocDiff::default()
    };
    for (key, bv) in &b {
        match a.get(key) {
            None => d.keys_removed.push(KeyValue {
                key: key.clone(),
                value: Verbatim::new(bv),
            }),
            Some(av) => compare_key(&mut d, key, bv, av, keying),
        }
    }
    for (key, av) in a.iter().filter(|(k, _)| !b.contains_key(*k)) {
        d.keys_added.push(KeyValue {
            key: key.clone(),
            value: Verbatim::new(av),
        });
    }
    d
}

/// The text of each element of an array (`None` when `text` is not an array).
fn element_texts(text: &str) -> Option<Vec<&str>> {
    let ranges = pyjson::elements(text).ok()?;
    Some(ranges.into_iter().filter_map(|r| text.get(r)).collect())
}

fn compare_key(d: &mut DocDiff, key: &str, bv: &str, av: &str, keying: &BTreeMap<String, Keying>) {
    if let (Some(before), Some(after)) = (element_texts(bv), element_texts(av)) {
        let k = keying.get(key).unwrap_or(&Keying::Value);
        let ad = diff_arrays(key, &before, &after, k);
        if !(ad.added.is_empty() && ad.removed.is_empty() && ad.changed.is_empty()) {
            d.arrays.push(ad);
        }
        return;
    }
    if Views::of(bv).map(|v| v.canonical()) != Views::of(av).map(|v| v.canonical()) {
        d.keys_changed.push(KeyChange {
            key: key.to_string(),
            before: Verbatim::new(bv),
            after: Verbatim::new(av),
        });
    }
}

/// A value of the dialect read two ways, because `serde_json` has no non-finite number:
/// `nulls` reads each `NaN`/`Infinity`/`-Infinity` as `null`, `names` as the string of its
/// text (`None`: the text holds no such token and both read as `nulls`). Two values are the
/// same exactly when both readings are: the one confuses a token with `null` only, the
/// other with a string only.
struct Views {
    nulls: Value,
    names: Option<Value>,
}

impl Views {
    fn of(text: &str) -> Option<Views> {
        if pyjson::tokens(text.as_bytes()).is_empty() {
            let nulls = serde_json::from_str(text).ok()?;
            return Some(Views { nulls, names: None });
        }
        let nulls = serde_json::from_slice(&pyjson::nulled(text.as_bytes())).ok()?;
        let names = serde_json::from_str(&pyjson::strict(text)).ok()?;
        Some(Views {
            nulls,
            names: Some(names),
        })
    }

    fn names(&self) -> &Value {
        self.names.as_ref().unwrap_or(&self.nulls)
    }

    /// Equal values give equal text, different values different text.
    fn canonical(&self) -> String {
        match &self.names {
            None => canonical(&self.nulls),
            Some(names) => format!("{}|{}", canonical(&self.nulls), canonical(names)),
        }
    }
}

/// One record with what it is matched by.
struct Keyed<'a> {
    raw: &'a str,
    value: Option<Views>,
    identity: Option<String>,
    key: String,
}

fn keyed<'a>(raw: &'a str, keying: &Keying) -> Keyed<'a> {
    let value = Views::of(raw);
    let identity = match (keying, value.as_ref().map(Views::names)) {
        (Keying::Identity(fields), Some(Value::Object(o))) => identity_of(o, fields),
        _ => None,
    };
    let key = match (&identity, &value) {
        (Some(id), _) => format!("i:{id}"),
        (None, Some(v)) => format!("v:{}", v.canonical()),
        (None, None) => format!("r:{raw}"),
    };
    Keyed {
        raw,
        value,
        identity,
        key,
    }
}

/// `symbol / strategy / direction`, when the record has every identity field (a direction
/// compares in any case).
fn identity_of(o: &serde_json::Map<String, Value>, fields: &[String]) -> Option<String> {
    let mut parts = Vec::with_capacity(fields.len());
    for f in fields {
        let part = match o.get(f)? {
            Value::String(s) if f == "direction" => s.to_uppercase(),
            Value::String(s) => s.clone(),
            other => canonical(other),
        };
        parts.push(part);
    }
    Some(parts.join(" / "))
}

/// Matches the records of two arrays (occurrences with the same key pair up in order);
/// each record is given as its exact text.
pub fn diff_arrays(key: &str, before: &[&str], after: &[&str], keying: &Keying) -> ArrayDiff {
    let before: Vec<Keyed<'_>> = before.iter().map(|r| keyed(r, keying)).collect();
    let mut pending: BTreeMap<&str, VecDeque<usize>> = BTreeMap::new();
    for (i, r) in before.iter().enumerate() {
        pending.entry(r.key.as_str()).or_default().push_back(i);
    }
    let mut d = ArrayDiff {
        key: key.to_string(),
        matched_by: match keying {
            Keying::Identity(_) => "identity",
            Keying::Value => "value",
        },
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
        unchanged: 0,
    };
    let mut matched = vec![false; before.len()];
    for raw in after {
        let a = keyed(raw, keying);
        let hit = pending
            .get_mut(a.key.as_str())
            .and_then(VecDeque::pop_front);
        match hit.and_then(|i| Some((i, before.get(i)?))) {
            Some((i, b)) => {
                if let Some(m) = matched.get_mut(i) {
                    *m = true;
                }
                pair(&mut d, b, &a);
            }
            None => d.added.push(reference(&a)),
        }
    }
    for (b, _) in before.iter().zip(&matched).filter(|(_, m)| !**m) {
        d.removed.push(reference(b));
    }
    d
}

fn pair(d: &mut ArrayDiff, b: &Keyed<'_>, a: &Keyed<'_>) {
    let same = match (&b.value, &a.value) {
        (Some(x), Some(y)) => x.canonical() == y.canonical(),
        _ => b.raw == a.raw,
    };
    if same {
        d.unchanged += 1;
        return;
    }
    d.changed.push(RecordChange {
        identity: a.identity.clone().unwrap_or_default(),
        before: Verbatim::new(b.raw),
        after: Verbatim::new(a.raw),
        fields: changed_fields(b.value.as_ref(), a.value.as_ref()),
    });
}

fn reference(r: &Keyed<'_>) -> RecordRef {
    RecordRef {
        identity: r.identity.clone(),
        record: Verbatim::new(r.raw),
    }
}

/// The top-level fields of two records that differ (in either reading).
fn changed_fields(before: Option<&Views>, after: Option<&Views>) -> Vec<String> {
    let (Some(b), Some(a)) = (before, after) else {
        return Vec::new();
    };
    let mut keys = differing_keys(&b.nulls, &a.nulls);
    keys.extend(differing_keys(b.names(), a.names()));
    keys.sort();
    keys.dedup();
    keys
}

fn differing_keys(before: &Value, after: &Value) -> Vec<String> {
    let (Value::Object(b), Value::Object(a)) = (before, after) else {
        return Vec::new();
    };
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| b.get(*k).map(canonical) != a.get(*k).map(canonical))
        .cloned()
        .collect()
}

/// Compact JSON text with object keys sorted: equal values give equal text.
pub fn canonical(v: &Value) -> String {
    match v {
        Value::Object(o) => {
            let mut entries: Vec<(&String, &Value)> = o.iter().collect();
            entries.sort_by(|x, y| x.0.cmp(y.0));
            let inner: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical(v)))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", inner.join(","))
        }
        other => other.to_string(),
    }
}

/// The text of each top-level member of a record, as the file holds it (`None` when it is
/// not an object).
pub fn fields(record: &str) -> Option<BTreeMap<String, &str>> {
    let members = pyjson::members(record).ok()?;
    Some(
        members
            .into_iter()
            .map(|(k, r)| (k, record.get(r).unwrap_or_default()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions() -> BTreeMap<String, Keying> {
        let id = Keying::Identity(vec!["symbol".into(), "strategy".into(), "direction".into()]);
        BTreeMap::from([("open_positions".to_string(), id)])
    }

    #[test]
    fn positions_match_by_identity_and_show_changed_fields() {
        let before = br#"{"open_positions":[
            {"symbol":"BTC","strategy":"t","direction":"long","size":1},
            {"symbol":"ETH","strategy":"t","direction":"SHORT","size":2}],
            "created_at":"x","gone":1}"#;
        let after = br#"{"open_positions":[
            {"symbol":"ETH","strategy":"t","direction":"SHORT","size":2},
            {"symbol":"BTC","strategy":"t","direction":"LONG","size":3},
            {"symbol":"SOL","strategy":"t","direction":"LONG","size":1}],
            "created_at":"y","new":[]}"#;
        let d = diff(Some(before), Some(after), &positions());
        let a = &d.arrays[0];
        assert_eq!((a.matched_by, a.unchanged), ("identity", 1));
        assert_eq!(a.changed.len(), 1);
        assert_eq!(a.changed[0].identity, "BTC / t / LONG");
        assert_eq!(a.changed[0].fields, vec!["direction", "size"]);
        assert_eq!(a.added.len(), 1);
        assert!(a.added[0].record.get().contains("SOL"));
        assert!(a.removed.is_empty());
        assert_eq!(d.keys_changed[0].key, "created_at");
        assert_eq!(d.keys_removed[0].key, "gone");
        assert_eq!(d.keys_added[0].key, "new");
    }

    #[test]
    fn other_arrays_match_by_value_as_a_multiset_and_keep_record_text() {
        let before = br#"{"snapshots":[{"a":1},{"a":1},{"b":2}]}"#;
        let after = br#"{"snapshots":[{"a":1},  {"c" : 3}]}"#;
        let d = diff(Some(before), Some(after), &BTreeMap::new());
        let a = &d.arrays[0];
        assert_eq!(a.matched_by, "value");
        assert_eq!(a.unchanged, 1);
        assert_eq!(a.removed.len(), 2);
        assert_eq!(a.added[0].record.get(), r#"{"c" : 3}"#, "verbatim");
        assert!(a.changed.is_empty());
    }

    /// `NaN` equals `NaN` and nothing else (not `null`, not `"NaN"`); the record text is
    /// kept as the file holds it and serialises as strict JSON.
    #[test]
    fn python_non_finite_numbers_compare_as_themselves() {
        let before = br#"{"open_positions":[
            {"symbol":"A","strategy":"t","direction":"LONG","x":NaN},
            {"symbol":"B","strategy":"t","direction":"LONG","x":NaN},
            {"symbol":"C","strategy":"t","direction":"LONG","x":NaN},
            {"symbol":"D","strategy":"t","direction":"LONG","x":-Infinity}],
            "t": Infinity, "u": NaN}"#;
        let after = br#"{"open_positions":[
            {"symbol":"A","strategy":"t","direction":"LONG","x":NaN},
            {"symbol":"B","strategy":"t","direction":"LONG","x":null},
            {"symbol":"C","strategy":"t","direction":"LONG","x":"NaN"},
            {"symbol":"D","strategy":"t","direction":"LONG","x":Infinity}],
            "t": Infinity, "u": null}"#;
        let d = diff(Some(before), Some(after), &positions());
        assert_eq!(d.before_note, None);
        let a = &d.arrays[0];
        assert_eq!(a.unchanged, 1);
        let changed: Vec<&str> = a.changed.iter().map(|c| c.identity.as_str()).collect();
        assert_eq!(changed, ["B / t / LONG", "C / t / LONG", "D / t / LONG"]);
        assert!(a.changed.iter().all(|c| c.fields == ["x"]));
        assert!(a.changed[2].before.get().contains("-Infinity"), "verbatim");
        let keys: Vec<&str> = d.keys_changed.iter().map(|k| k.key.as_str()).collect();
        assert_eq!(keys, ["u"]);
        let json = serde_json::to_string(&d).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(v["arrays"][0]["changed"][2]["before"]["x"], "-Infinity");
        assert_eq!(v["keys_changed"][0]["before"], "NaN");
        let by_value = diff(
            Some(b"{\"s\":[{\"a\":NaN},{\"a\":1}]}"),
            Some(b"{\"s\":[{\"a\" : NaN},{\"a\":null}]}"),
            &BTreeMap::new(),
        );
        assert_eq!(by_value.arrays[0].unchanged, 1);
        assert_eq!(by_value.arrays[0].added[0].record.get(), "{\"a\":null}");
    }

    #[test]
    fn unreadable_sides_compare_as_empty_objects_with_a_note() {
        for (before, note) in [
            (None, "absent"),
            (Some(&b" \n"[..]), "empty"),
            (Some(&b"{\"a\":"[..]), "not a JSON object"),
            (Some(&b"null"[..]), "not a JSON object"),
        ] {
            let d = diff(before, Some(b"{\"a\":[]}"), &BTreeMap::new());
            assert!(
                d.before_note
                    .as_deref()
                    .is_some_and(|n| n.starts_with(note)),
                "input: {before:?}"
            );
            assert_eq!(d.keys_added.len(), 1, "input: {before:?}");
        }
        assert!(diff(Some(b"{\"a\":1}"), Some(b"{ \"a\" : 1 }"), &BTreeMap::new()).is_empty());
    }
}
