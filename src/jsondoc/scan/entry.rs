//! The scanner's entry points for the rest of `jsondoc`: a whole document, a document with
//! what a broken scan completed kept, the record runs of any bytes, and a document
//! assembled from pieces. Every error leaves here placed (line and column).

use super::{Fail, ScanError, Scanner, Top};
use crate::jsondoc::{Document, Known, Part, Scanned, Spec, Val};
use std::ops::Range;

/// Scans a whole document.
pub(in crate::jsondoc) fn document(bytes: &[u8], spec: &Spec<'_>) -> Result<Top, ScanError> {
    document_with(bytes, spec, false, None).0
}

/// Scans a whole document; with `keep`, a scan that breaks also returns the records it
/// completed before the break, and with `known`, records found there are taken, not
/// scanned.
pub(in crate::jsondoc) fn document_with<'a>(
    bytes: &'a [u8],
    spec: &Spec<'_>,
    keep: bool,
    known: Option<Known<'a>>,
) -> (Result<Top, ScanError>, Option<Scanned>) {
    let mut s = Scanner::new(bytes, keep, known);
    let result = s.checked_top(spec);
    let scanned = match &result {
        Err(e) if keep && !e.unusable => Some(s.scanned()),
        _ => None,
    };
    (result, scanned)
}

/// Per record array of `spec` that a scan of `bytes` entered, in order, the byte ranges of
/// the elements it completed there: all of them when the bytes are a document, those
/// before the first thing the scan could not take otherwise. Each is exactly one valid
/// value, and two neighbours in a list have only whitespace and one comma between them.
pub(in crate::jsondoc) fn record_runs(bytes: &[u8], spec: &Spec<'_>) -> Vec<Vec<Range<usize>>> {
    let mut s = Scanner::new(bytes, true, None);
    let _ = s.top(spec);
    std::mem::take(&mut s.spans)
        .into_iter()
        .map(|(_, spans)| spans)
        .collect()
}

/// Scans the document `parts` assemble from `source` (see `super::inspect_assembled`):
/// `None` unless it is an object with unique keys whose every part is exactly one usable
/// value and whose record arrays are arrays.
pub(in crate::jsondoc) fn assembled<'a>(
    source: &'a [u8],
    parts: &[Part<'_>],
    spec: &Spec<'_>,
    known: Option<Known<'a>>,
) -> Option<Top> {
    let mut s = Scanner::new(source, false, known);
    let mut doc = Document::default();
    let mut bad_array = None;
    let mut raw_keys: Vec<Vec<u8>> = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            Part::Copied { key, value } => {
                let (name, raw) = s.key_at(key)?;
                raw_keys.push(raw);
                s.i = value.start;
                s.top_member(spec, &mut doc, name, &mut bad_array).ok()?;
                (s.i == value.end).then_some(())?;
            }
            Part::Records { key, elements } => {
                let (name, raw) = s.key_at(key)?;
                raw_keys.push(raw);
                if !spec.record_arrays.contains(&name) {
                    return None;
                }
                let records = s.records_at(&name, elements, spec).ok()?;
                doc.arrays.push((name.clone(), records));
                doc.top.push((name.clone(), Val::Array));
                doc.keys.push(name);
            }
            Part::Written { name, value } => {
                let key = serde_json::to_string(name).ok()?;
                let text = format!("{key}:{value}");
                let mut w = Scanner::new(text.as_bytes(), false, None);
                let (name, raw) = w.key_at(&(0..key.len()))?;
                raw_keys.push(raw);
                w.i = key.len() + 1;
                w.top_member(spec, &mut doc, name, &mut bad_array).ok()?;
                (w.i == text.len()).then_some(())?;
            }
        }
    }
    raw_keys.sort_unstable();
    let unique = raw_keys.windows(2).all(|w| w.first() != w.get(1));
    (unique && bad_array.is_none()).then_some(Top::Object(doc))
}

/// Where the bytes break, if they do: the scan stops at the first thing it cannot use
/// (nesting too deep, a duplicate key, a number out of range) without reading on, and a
/// document with such a thing is still broken when its bytes are (cut short, say): only a
/// syntactically valid document is ever called unusable rather than corrupt.
pub(super) fn first_break(bytes: &[u8]) -> Option<ScanError> {
    let e = crate::pyjson::check(bytes).err()?;
    Some(ScanError {
        line: e.line,
        column: e.column,
        what: e.what,
        unusable: false,
    })
}

pub(super) fn error_at(bytes: &[u8], f: Fail) -> ScanError {
    let before = bytes.get(..f.at.min(bytes.len())).unwrap_or_default();
    // The break of a large damaged file is often near its end: count a chunk at a time
    // (the compiler vectorizes the inner sum) and find the last newline with memchr.
    let line = before
        .chunks(1 << 12)
        .map(|c| c.iter().fold(0u32, |n, &b| n + u32::from(b == b'\n')) as usize)
        .sum::<usize>()
        + 1;
    let column = f.at - memchr::memrchr(b'\n', before).map_or(0, |p| p + 1) + 1;
    ScanError {
        line,
        column,
        what: f.what,
        unusable: f.unusable,
    }
}
