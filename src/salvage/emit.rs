//! Output: builds the salvaged document from the scan, taking every kept key, value and
//! record from the input bytes. It never parses a value into a tree and never prints a
//! number: the only bytes it writes itself are the skeleton (`{`, `}`, `[`, `]`, `,`, the
//! key/value separator and whitespace) and the defaults of restored keys. The document is
//! emitted into a [`Sink`]: an [`Output`] keeps it as pieces of the input (nothing copied,
//! memory in proportion to the skeleton it writes), a `Vec<u8>` as one buffer.
//!
//! Invariants: the output is one JSON object with unique keys, in first-appearance order,
//! restored keys last; a record array holds, per version in order, the records of that
//! version, where a record identical to one already emitted from an *earlier* version is
//! emitted only as many times as the version holding it most often.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use super::lex::{is_ws, Span};
use super::output::Output;
use super::scan::{Entry, EntryValue, ScanOut};

/// Where the emitted document goes: every byte either comes from the input (`copy`) or
/// is written by the salvage (`write`).
pub(crate) trait Sink: Sized {
    /// The input, unchanged.
    fn whole(buf: &[u8]) -> Self;
    /// An empty document.
    fn empty(buf: &[u8]) -> Self;
    /// Appends the input's bytes `span`.
    fn copy(&mut self, buf: &[u8], span: Span);
    /// Appends bytes of the salvage's own.
    fn write(&mut self, buf: &[u8], bytes: &[u8]);
    /// Length of the document so far.
    fn size(&self) -> usize;
}

impl Sink for Output {
    fn whole(buf: &[u8]) -> Self {
        Output::whole(buf.len())
    }

    fn empty(_: &[u8]) -> Self {
        Output::default()
    }

    fn copy(&mut self, _: &[u8], span: Span) {
        Output::copy(self, span);
    }

    fn write(&mut self, buf: &[u8], bytes: &[u8]) {
        Output::write(self, buf, bytes);
    }

    fn size(&self) -> usize {
        self.len()
    }
}

impl Sink for Vec<u8> {
    fn whole(buf: &[u8]) -> Self {
        buf.to_vec()
    }

    fn empty(_: &[u8]) -> Self {
        // Grown by what is kept, not sized by the input: a 1 GiB file of NULs salvages to
        // `{}` and must not cost a second GiB.
        Vec::new()
    }

    fn copy(&mut self, buf: &[u8], span: Span) {
        self.extend_from_slice(span.of(buf));
    }

    fn write(&mut self, _: &[u8], bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn size(&self) -> usize {
        self.len()
    }
}

/// One top-level member of a salvage's output, in output order: what the document is
/// made of, for a reader that wants its structure without parsing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    /// A key and its value, both copied from the input (byte ranges of the input).
    Copied {
        /// The key's text, quotes included.
        key: Range<usize>,
        /// The value's text.
        value: Range<usize>,
    },
    /// A record array whose key is copied from the input; it holds the next `count`
    /// records of the output's record list.
    Records {
        /// The key's text, quotes included.
        key: Range<usize>,
        /// Index into the shape's record arrays.
        array: usize,
        /// How many records it holds.
        count: usize,
    },
    /// A required key that was missing, written with its default.
    Restored {
        /// The key.
        name: String,
        /// The default, JSON text.
        value: String,
    },
}

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
    fn item<S: Sink>(&self, buf: &[u8], out: &mut S, n: usize, depth: usize) {
        out.write(buf, &self.before_item(n, depth));
    }

    /// What [`Self::item`] writes.
    fn before_item(&self, n: usize, depth: usize) -> Vec<u8> {
        let mut text = Vec::new();
        if n > 0 {
            text.extend_from_slice(if self.newline.is_some() {
                b","
            } else {
                self.comma
            });
        }
        if let Some(nl) = self.newline {
            text.extend_from_slice(nl);
            for _ in 0..depth {
                text.extend_from_slice(&self.indent);
            }
        }
        text
    }

    fn line<S: Sink>(&self, buf: &[u8], out: &mut S, depth: usize) {
        if let Some(nl) = self.newline {
            out.write(buf, nl);
            for _ in 0..depth {
                out.write(buf, &self.indent);
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
pub(crate) struct Emitted<S> {
    pub document: S,
    /// (record array index, span in the input) of every emitted record, in output order.
    pub records: Vec<(usize, Span)>,
    pub merged: u64,
    pub keys_kept: Vec<String>,
    pub keys_restored: Vec<String>,
    /// The document's top-level members, in order.
    pub members: Vec<Member>,
}

/// Builds the output document. `required` holds (key, default) pairs already sanitised.
/// When the scan found the input intact and no key needs restoring, the document is the
/// input itself (`intact` is true on return).
pub(crate) fn emit<S: Sink>(
    buf: &[u8],
    scan: &ScanOut,
    record_keys: &[String],
    required: &[(String, String)],
    scan_intact: bool,
) -> (Emitted<S>, bool) {
    let mut emitted = Emitted {
        document: S::empty(&[]),
        records: Vec::new(),
        merged: 0,
        keys_kept: Vec::new(),
        keys_restored: Vec::new(),
        members: Vec::new(),
    };
    let mut slots = collect_slots(buf, scan, &mut emitted);
    restore_required(&mut slots, &mut emitted, record_keys, required);
    emitted.records = kept_records(&slots);
    emitted.members = members(&slots);
    let intact = scan_intact && emitted.keys_restored.is_empty();
    if intact {
        emitted.document = S::whole(buf);
    } else {
        let style = scan
            .entries
            .first()
            .map_or_else(Style::python_indent_2, |e| Style::from_entry(buf, e));
        emitted.document = render(buf, &slots, &style);
    }
    (emitted, intact)
}

fn members(slots: &[(String, Slot)]) -> Vec<Member> {
    slots
        .iter()
        .map(|(_, slot)| match slot {
            Slot::Raw { key, value } => Member::Copied {
                key: key.start..key.end,
                value: value.start..value.end,
            },
            Slot::Records {
                key,
                array,
                records,
            } => Member::Records {
                key: key.start..key.end,
                array: *array,
                count: records.len(),
            },
            Slot::Restored { name, value } => Member::Restored {
                name: name.clone(),
                value: value.clone(),
            },
        })
        .collect()
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

fn collect_slots<S>(buf: &[u8], scan: &ScanOut, emitted: &mut Emitted<S>) -> Vec<(String, Slot)> {
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
fn dedup_across_versions<S>(
    buf: &[u8],
    scan: &ScanOut,
    order: &mut [(String, Slot)],
    emitted: &mut Emitted<S>,
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

fn restore_required<S>(
    slots: &mut Vec<(String, Slot)>,
    emitted: &mut Emitted<S>,
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

fn render<S: Sink>(buf: &[u8], slots: &[(String, Slot)], style: &Style) -> S {
    let mut out = S::empty(buf);
    out.write(buf, b"{");
    for (n, (_, slot)) in slots.iter().enumerate() {
        style.item(buf, &mut out, n, 1);
        match slot {
            Slot::Raw { key, value } => {
                out.copy(buf, *key);
                out.write(buf, &style.colon);
                out.copy(buf, *value);
            }
            Slot::Records { key, records, .. } => {
                out.copy(buf, *key);
                out.write(buf, &style.colon);
                render_records(buf, &mut out, records, style);
            }
            Slot::Restored { name, value } => {
                let key = serde_json::to_string(name).unwrap_or_default();
                out.write(buf, key.as_bytes());
                out.write(buf, &style.colon);
                out.write(buf, value.as_bytes());
            }
        }
    }
    if !slots.is_empty() {
        style.line(buf, &mut out, 0);
    }
    out.write(buf, b"}");
    out
}

fn render_records<S: Sink>(buf: &[u8], out: &mut S, records: &[Span], style: &Style) {
    out.write(buf, b"[");
    let (first, next) = (style.before_item(0, 2), style.before_item(1, 2));
    for (n, span) in records.iter().enumerate() {
        out.write(buf, if n == 0 { &first } else { &next });
        out.copy(buf, *span);
    }
    if !records.is_empty() {
        style.line(buf, out, 1);
    }
    out.write(buf, b"]");
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
        let (e, intact) = emit::<Vec<u8>>(b"", &ScanOut::default(), &[], &[], false);
        assert_eq!(e.document, b"{}");
        let (o, _) = emit::<Output>(b"", &ScanOut::default(), &[], &[], false);
        assert_eq!(o.document.to_vec(b""), b"{}");
        assert!(!intact);
    }
}
