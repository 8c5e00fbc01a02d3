//! Output: builds the salvaged document from the scan, copying every kept key, value and
//! record from the input bytes. It never parses a value into a tree and never prints a
//! number: the only bytes it writes itself are the skeleton (`{`, `}`, `[`, `]`, `,`, the
//! key/value separator and whitespace) and the defaults of restored keys.
//!
//! Invariants: the output is one JSON object with unique keys, in first-appearance order,
//! restored keys last; a record array holds, per version in order, the records of that
//! version, where a record identical to one already emitted from an *earlier* version is
//! emitted only as many times as the version holding it most often.

use std::collections::{HashMap, HashSet};

use super::lex::{is_ws, Span};
use super::scan::{Entry, EntryValue, ScanOut};

/// The layout copied from the input's first top-level key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Style {
    /// `None`: single-line output.
    newline: Option<&'static [u8]>,
    indent: Vec<u8>,
    colon: Vec<u8>,
    comma: &'static [u8],
}

impl Style {
    fn python_indent_2() -> Self {
        Style {
            newline: Some(b"\n"),
            indent: b"  ".to_vec(),
            colon: b": ".to_vec(),
            comma: b",",
        }
    }

    fn from_entry(buf: &[u8], entry: &Entry) -> Self {
        let head = buf.get(..entry.key.start).unwrap_or_default();
        let ws_len = head.iter().rev().take_while(|&&b| is_ws(b)).count();
        let ws = head.get(head.len() - ws_len..).unwrap_or_default();
        let colon = Span::new(entry.key.end, entry.value_start).of(buf).to_vec();
        let spaced = colon.contains(&b' ');
        match ws.iter().rposition(|&b| b == b'\n') {
            Some(nl) => Style {
                newline: Some(if ws.contains(&b'\r') { b"\r\n" } else { b"\n" }),
                indent: ws.get(nl + 1..).unwrap_or_default().to_vec(),
                colon,
                comma: b",",
            },
            None => Style {
                newline: None,
                indent: Vec::new(),
                colon,
                comma: if spaced { b", " } else { b"," },
            },
        }
    }

    /// Starts item `n` at `depth` (1 = top-level key, 2 = record).
    fn item(&self, out: &mut Vec<u8>, n: usize, depth: usize) {
        if n > 0 {
            out.extend_from_slice(if self.newline.is_some() {
                b","
            } else {
                self.comma
            });
        }
        self.line(out, depth);
    }

    fn line(&self, out: &mut Vec<u8>, depth: usize) {
        if let Some(nl) = self.newline {
            out.extend_from_slice(nl);
            for _ in 0..depth {
                out.extend_from_slice(&self.indent);
            }
        }
    }
}

/// One top-level key of the output.
#[derive(Debug)]
enum Slot {
    Raw {
        key: Span,
        value: Span,
    },
    Records {
        key: Span,
        array: usize,
        records: Vec<Span>,
    },
    Restored {
        name: String,
        value: String,
    },
}

/// What was emitted.
#[derive(Debug, Default)]
pub(crate) struct Emitted {
    pub document: Vec<u8>,
    /// (record array index, span in the input) of every emitted record, in output order.
    pub records: Vec<(usize, Span)>,
    pub merged: u64,
    pub keys_kept: Vec<String>,
    pub keys_restored: Vec<String>,
}

/// Builds the output document. `required` holds (key, default) pairs already sanitised.
/// When the scan found the input intact and no key needs restoring, the document is the
/// input itself (`intact` is true on return).
pub(crate) fn emit(
    buf: &[u8],
    scan: &ScanOut,
    record_keys: &[String],
    required: &[(String, String)],
    scan_intact: bool,
) -> (Emitted, bool) {
    let mut emitted = Emitted::default();
    let mut slots = collect_slots(buf, scan, &mut emitted);
    restore_required(&mut slots, &mut emitted, record_keys, required);
    emitted.records = kept_records(&slots);
    let intact = scan_intact && emitted.keys_restored.is_empty();
    if intact {
        emitted.document = buf.to_vec();
    } else {
        let style = scan
            .entries
            .first()
            .map_or_else(Style::python_indent_2, |e| Style::from_entry(buf, e));
        emitted.document = render(buf, &slots, &style);
    }
    (emitted, intact)
}

fn kept_records(slots: &[(String, Slot)]) -> Vec<(usize, Span)> {
    let mut out = Vec::new();
    for (_, slot) in slots {
        if let Slot::Records { array, records, .. } = slot {
            out.extend(records.iter().map(|&s| (*array, s)));
        }
    }
    out
}

fn collect_slots(buf: &[u8], scan: &ScanOut, emitted: &mut Emitted) -> Vec<(String, Slot)> {
    let mut order: Vec<(String, Slot)> = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for entry in &scan.entries {
        if let Some(&i) = seen.get(entry.name.as_str()) {
            if let (Some((_, Slot::Records { records, .. })), EntryValue::Records(list)) =
                (order.get_mut(i), &entry.value)
            {
                records.extend_from_slice(&list.records);
            }
            continue;
        }
        seen.insert(&entry.name, order.len());
        emitted.keys_kept.push(entry.name.clone());
        order.push((entry.name.clone(), first_slot(entry)));
    }
    if scan.versions.len() > 1 || scan.interleaved {
        dedup_across_versions(buf, scan, &mut order, emitted);
    }
    order
}

fn first_slot(entry: &Entry) -> Slot {
    match &entry.value {
        EntryValue::Raw(value) => Slot::Raw {
            key: entry.key,
            value: *value,
        },
        EntryValue::Records(list) => Slot::Records {
            key: entry.key,
            array: list.array,
            records: list.records.clone(),
        },
    }
}

/// Rebuilds every record slot so that a record repeated across versions appears once.
fn dedup_across_versions(
    buf: &[u8],
    scan: &ScanOut,
    order: &mut [(String, Slot)],
    emitted: &mut Emitted,
) {
    for (name, slot) in order.iter_mut() {
        let Slot::Records { records, .. } = slot else {
            continue;
        };
        let lists = scan.entries.iter().filter_map(|e| match &e.value {
            EntryValue::Records(list) if &e.name == name => Some(list.records.as_slice()),
            _ => None,
        });
        let (kept, merged) = union_of_versions(buf, lists);
        emitted.merged += merged;
        *records = kept;
    }
}

/// Multiset union: each distinct record text as often as the version holding it most.
fn union_of_versions<'b, 'l>(
    buf: &'b [u8],
    lists: impl Iterator<Item = &'l [Span]>,
) -> (Vec<Span>, u64) {
    let mut emitted_count: HashMap<&'b [u8], usize> = HashMap::new();
    let mut kept = Vec::new();
    let mut merged = 0u64;
    for list in lists {
        let mut here: HashMap<&'b [u8], usize> = HashMap::new();
        for &span in list {
            let text = span.of(buf);
            let n = here.entry(text).or_insert(0);
            *n += 1;
            let e = emitted_count.entry(text).or_insert(0);
            if *n > *e {
                *e = *n;
                kept.push(span);
            } else {
                merged += 1;
            }
        }
    }
    (kept, merged)
}

fn restore_required(
    slots: &mut Vec<(String, Slot)>,
    emitted: &mut Emitted,
    record_keys: &[String],
    required: &[(String, String)],
) {
    let present: HashSet<String> = slots.iter().map(|(n, _)| n.clone()).collect();
    for (name, default) in required {
        if present.contains(name) || emitted.keys_restored.contains(name) {
            continue;
        }
        let value = if record_keys.contains(name) {
            sanitize_array_default(default)
        } else {
            sanitize_default(default)
        };
        emitted.keys_restored.push(name.clone());
        slots.push((
            name.clone(),
            Slot::Restored {
                name: name.clone(),
                value,
            },
        ));
    }
}

/// A default that is not valid JSON becomes `null`.
pub(crate) fn sanitize_default(raw: &str) -> String {
    let trimmed = raw.trim_matches(|c: char| c.is_ascii_whitespace());
    if super::lex::is_valid_json(trimmed.as_bytes()) {
        trimmed.to_owned()
    } else {
        "null".to_owned()
    }
}

/// A record array's default must be an array: anything else becomes `[]`.
pub(crate) fn sanitize_array_default(raw: &str) -> String {
    let value = sanitize_default(raw);
    if value.starts_with('[') {
        value
    } else {
        "[]".to_owned()
    }
}

fn render(buf: &[u8], slots: &[(String, Slot)], style: &Style) -> Vec<u8> {
    // Sized by what is kept, not by the input: a 1 GiB file of NULs salvages to `{}` and
    // must not cost a second GiB.
    let mut out = Vec::with_capacity(rendered_len(slots, style));
    out.push(b'{');
    for (n, (_, slot)) in slots.iter().enumerate() {
        style.item(&mut out, n, 1);
        match slot {
            Slot::Raw { key, value } => {
                out.extend_from_slice(key.of(buf));
                out.extend_from_slice(&style.colon);
                out.extend_from_slice(value.of(buf));
            }
            Slot::Records { key, records, .. } => {
                out.extend_from_slice(key.of(buf));
                out.extend_from_slice(&style.colon);
                render_records(buf, &mut out, records, style);
            }
            Slot::Restored { name, value } => {
                out.extend_from_slice(serde_json::to_string(name).unwrap_or_default().as_bytes());
                out.extend_from_slice(&style.colon);
                out.extend_from_slice(value.as_bytes());
            }
        }
    }
    if !slots.is_empty() {
        style.line(&mut out, 0);
    }
    out.push(b'}');
    out
}

/// An upper bound of the length [`render`] produces.
fn rendered_len(slots: &[(String, Slot)], style: &Style) -> usize {
    let per_item =
        2 + style.comma.len() + style.newline.map_or(0, <[u8]>::len) + 2 * style.indent.len();
    let span = |s: &Span| s.end.saturating_sub(s.start);
    let mut n = 64usize;
    for (_, slot) in slots {
        n = n.saturating_add(per_item + style.colon.len());
        n = n.saturating_add(match slot {
            Slot::Raw { key, value } => span(key).saturating_add(span(value)),
            Slot::Records { key, records, .. } => records
                .iter()
                .map(|r| span(r).saturating_add(per_item))
                .fold(span(key).saturating_add(4), usize::saturating_add),
            Slot::Restored { name, value } => {
                name.len().saturating_mul(6).saturating_add(value.len())
            }
        });
    }
    n
}

fn render_records(buf: &[u8], out: &mut Vec<u8>, records: &[Span], style: &Style) {
    out.push(b'[');
    for (n, span) in records.iter().enumerate() {
        style.item(out, n, 2);
        out.extend_from_slice(span.of(buf));
    }
    if !records.is_empty() {
        style.line(out, 1);
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_keeps_max_multiplicity_in_first_seen_order() {
        let buf = b"ABAC";
        let s = |i: usize| Span::new(i, i + 1);
        let v1 = [s(0), s(1), s(0)];
        let v2 = [s(2), s(3), s(1)];
        let (kept, merged) = union_of_versions(buf, [&v1[..], &v2[..]].into_iter());
        let texts: Vec<&[u8]> = kept.iter().map(|k| k.of(buf)).collect();
        assert_eq!(texts, vec![&b"A"[..], b"B", b"A", b"C"]);
        assert_eq!(merged, 2);
    }

    #[test]
    fn defaults_are_sanitised() {
        let cases = [
            ("[]", "[]", "[]"),
            (" {} ", "{}", "[]"),
            ("nope", "null", "[]"),
            ("[1]", "[1]", "[1]"),
        ];
        for (raw, plain, array) in cases {
            assert_eq!(sanitize_default(raw), plain, "input: {raw}");
            assert_eq!(sanitize_array_default(raw), array, "input: {raw}");
        }
    }

    #[test]
    fn empty_scan_renders_an_object() {
        let (e, intact) = emit(b"", &ScanOut::default(), &[], &[], false);
        assert_eq!(e.document, b"{}");
        assert!(!intact);
    }
}
