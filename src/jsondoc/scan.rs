//! A strict JSON scanner (RFC 8259, plus the `NaN`, `Infinity` and `-Infinity` of Python's
//! dialect, see `crate::pyjson`) for the managed files: validates every byte (grammar,
//! escapes, UTF-8, no control characters in strings), refuses what cannot be used (nesting
//! deeper than [`MAX_DEPTH`], a number that overflows f64, a duplicate key in any object,
//! compared as written), and pulls out only the top-level values and the record fields the
//! caller asks for. It never builds a value tree and never allocates per skipped value, so
//! it runs close to the speed of merely skipping the bytes. Recursion is bounded by
//! [`MAX_DEPTH`].
//!
//! A state file repeats one record schema many thousand times, and the scanner is built
//! for that: a key that repeats, byte for byte, the previous object's key at the same
//! index is taken in one comparison (the earlier scan validated those bytes); extracted
//! strings come from a small cache of shared copies (`Arc<str>`), so the same symbol or
//! strategy is allocated once; extracted numbers with at most 19 digits and no exponent
//! are converted exactly without the general parser (Clinger's fast path); digits are
//! skipped eight at a time.

use super::{fnv, Document, Extract, Known, Part, Record, Scanned, Spec, Val};
use crate::pyjson::NonFinite;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// Deepest nesting accepted (serde_json's limit).
pub const MAX_DEPTH: usize = 128;

/// What the top level is.
pub(super) enum Top {
    /// An object (its record arrays were arrays).
    Object(Document),
    /// Something else, named (`an array`, `a number`, ...).
    NotObject(&'static str),
    /// A record array key whose value is not an array.
    BadArray(String),
}

/// Why the scan stopped.
#[derive(Debug)]
pub(super) struct ScanError {
    line: usize,
    column: usize,
    what: String,
    /// Valid JSON that cannot be used (depth, range, duplicate key), as opposed to broken.
    pub unusable: bool,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.what, self.line, self.column
        )
    }
}

struct Fail {
    at: usize,
    what: String,
    unusable: bool,
}

type R<T> = Result<T, Fail>;

fn broken<T>(at: usize, what: impl Into<String>) -> R<T> {
    Err(Fail {
        at,
        what: what.into(),
        unusable: false,
    })
}

fn unusable<T>(at: usize, what: impl Into<String>) -> R<T> {
    Err(Fail {
        at,
        what: what.into(),
        unusable: true,
    })
}

/// Byte classes for the string fast path: 0 = plain ASCII, 1 = needs a look.
static SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i < 0x20 || i == b'"' as usize || i == b'\\' as usize || i >= 0x80;
        i += 1;
    }
    t
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Slots of the extracted-string cache (direct-mapped by key hash).
const CACHE_SLOTS: usize = 256;

/// Exact powers of ten as f64 (10^22 is the largest exactly representable one).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Eight bytes at `i`, little-endian, when there are eight.
#[inline]
fn word(b: &[u8], i: usize) -> Option<u64> {
    let chunk: [u8; 8] = b.get(i..i + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

/// The high bit of each byte of `w` that is not an ASCII digit.
#[inline]
fn non_digits(w: u64) -> u64 {
    let t = w ^ (ONES * u64::from(b'0'));
    // Per byte: 0..=9 stays below 0x80 after adding 0x76, anything else reaches it or
    // already had its high bit; no byte carries into the next.
    ((t & !HIGHS).wrapping_add(ONES * 0x76) | t) & HIGHS
}

/// Whether two byte strings are equal, a word at a time (keys are short; this avoids a
/// call to `memcmp`).
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while let (Some(x), Some(y)) = (word(a, i), word(b, i)) {
        if x != y {
            return false;
        }
        i += 8;
    }
    // At most seven bytes left: a loop, not a call.
    a.iter().skip(i).zip(b.iter().skip(i)).all(|(x, y)| x == y)
}

/// The exact value of a plain decimal (`-?digits(.digits)?`, at most 19 digits, the
/// integer of its digits below 2^53 and at most 22 of them after the point), or `None`
/// for anything else (then the general parser decides). Exact because the integer and the
/// power of ten are both exact in f64 and IEEE division rounds correctly.
#[inline]
fn fast_f64(text: &[u8]) -> Option<f64> {
    let (neg, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let mut m: u64 = 0;
    let mut count = 0usize;
    let mut frac: Option<usize> = None;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                // m holds at most 18 digits here: `m * 10 + 9` stays below 10^19
                count += 1;
                if count > 19 {
                    return None;
                }
                m = m * 10 + u64::from(c - b'0');
                if let Some(f) = frac.as_mut() {
                    *f += 1;
                }
            }
            b'.' => frac = Some(0),
            _ => return None,
        }
    }
    if m >= 1 << 53 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)] // m < 2^53: exact
    let v = m as f64 / POW10.get(frac.unwrap_or(0)).copied()?;
    Some(if neg { -v } else { v })
}

/// A fast hash of a key's raw bytes, a word at a time (keys are short).
#[inline]
fn key_hash(raw: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = raw.len() as u64;
    let mut chunks = raw.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let mut w = [0u8; 8];
    let rest = chunks.remainder();
    if let Some(dst) = w.get_mut(..rest.len()) {
        dst.copy_from_slice(rest);
    }
    (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K)
}

/// Whether any byte of `w` is a quote, a backslash, below 0x20 or at least 0x80.
#[inline]
fn has_special(w: u64) -> bool {
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let quote = zero(w ^ (ONES * u64::from(b'"')));
    let backslash = zero(w ^ (ONES * u64::from(b'\\')));
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    (quote | backslash | control | (w & HIGHS)) != 0
}

/// A key as scanned: the string, where it starts, its index in the object, and whether
/// the object's keys up to it equal the previous object's at the same depth.
#[derive(Clone, Copy)]
struct Key {
    s: Str,
    at: usize,
    index: usize,
    same: bool,
}

/// A string as scanned: its content range and whether it had escapes.
#[derive(Clone, Copy)]
struct Str {
    start: usize,
    end: usize,
    escaped: bool,
}

/// The record arrays a scan completed before a break, and the records of the array it
/// broke in.
type Cut = (Vec<(String, Vec<Record>)>, Option<Vec<Record>>);

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    /// One key set per nesting level, reused across objects.
    keys: Vec<KeySet>,
    /// For the record schema last seen: the extracted field each key index is, if any.
    slots: Vec<Option<usize>>,
    /// Shared copies of extracted strings without escapes, by hash of their bytes.
    cache: Vec<Option<Arc<str>>>,
    /// Whether to keep what was scanned when the scan breaks ([`Scanned`]).
    keep: bool,
    /// While keeping: per record array scanned, its key and its records' byte ranges.
    spans: Vec<(String, Vec<Range<usize>>)>,
    /// While keeping, after a break: the record arrays completed before it, and the records
    /// of the array it broke in.
    cut: Cut,
    /// Records of other bytes already scanned, taken instead of scanned again.
    known: Option<Known<'a>>,
}

/// The keys of the object being scanned at one depth, and those of the last object at that
/// depth that had no duplicate. State files repeat one schema record after record, so an
/// object whose keys equal the previous one's, in order, is known duplicate-free after one
/// comparison per key; any other object is checked by sorting hashes of its keys.
#[derive(Default)]
struct KeySet {
    keys: Vec<Str>,
    prev: Vec<Str>,
    same: bool,
}

impl KeySet {
    fn start(&mut self) {
        self.keys.clear();
        self.same = true;
    }

    /// Adds a key; returns whether every key so far equals the previous object's.
    fn push(&mut self, b: &[u8], key: Str) -> bool {
        if self.same {
            let i = self.keys.len();
            self.same = self.prev.get(i).is_some_and(|p| {
                same_bytes(
                    b.get(p.start..p.end).unwrap_or_default(),
                    b.get(key.start..key.end).unwrap_or_default(),
                )
            });
        }
        self.keys.push(key);
        self.same
    }

    /// The previous object's key at the index of the next key, while the keys so far are
    /// the same.
    #[inline]
    fn expected(&self) -> Option<Str> {
        if !self.same {
            return None;
        }
        self.prev.get(self.keys.len()).copied()
    }

    /// At the end of the object: the start of a key that occurs twice, if any.
    fn finish(&mut self, b: &[u8]) -> Option<usize> {
        if self.same && self.keys.len() == self.prev.len() {
            return None;
        }
        let mut hashed: Vec<(u64, usize, usize)> = self
            .keys
            .iter()
            .map(|k| {
                (
                    key_hash(b.get(k.start..k.end).unwrap_or_default()),
                    k.start,
                    k.end,
                )
            })
            .collect();
        hashed.sort_unstable_by_key(|k| k.0);
        let dup = hashed.windows(2).find_map(|w| match w {
            [(h1, s1, e1), (h2, s2, e2)] if h1 == h2 && b.get(*s1..*e1) == b.get(*s2..*e2) => {
                Some(*s2)
            }
            _ => None,
        });
        if dup.is_none() {
            std::mem::swap(&mut self.keys, &mut self.prev);
        }
        dup
    }
}

/// Scans a whole document.
pub(super) fn document(bytes: &[u8], spec: &Spec<'_>) -> Result<Top, ScanError> {
    document_with(bytes, spec, false, None).0
}

/// Scans a whole document; with `keep`, a scan that breaks also returns the records it
/// completed before the break, and with `known`, records found there are taken, not
/// scanned.
pub(super) fn document_with<'a>(
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
pub(super) fn record_runs(bytes: &[u8], spec: &Spec<'_>) -> Vec<Vec<Range<usize>>> {
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
pub(super) fn assembled<'a>(
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
fn first_break(bytes: &[u8]) -> Option<ScanError> {
    let e = crate::pyjson::check(bytes).err()?;
    Some(ScanError {
        line: e.line,
        column: e.column,
        what: e.what,
        unusable: false,
    })
}

fn error_at(bytes: &[u8], f: Fail) -> ScanError {
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

impl<'a> Scanner<'a> {
    fn new(b: &'a [u8], keep: bool, known: Option<Known<'a>>) -> Self {
        Scanner {
            b,
            i: 0,
            keys: Vec::new(),
            slots: Vec::new(),
            cache: vec![None; CACHE_SLOTS],
            keep,
            spans: Vec::new(),
            cut: (Vec::new(), None),
            known,
        }
    }

    /// [`Self::top`] with the error placed (line and column), and an unusable document
    /// reported broken when its bytes are broken further on.
    fn checked_top(&mut self, spec: &Spec<'_>) -> Result<Top, ScanError> {
        let bytes = self.b;
        match self.top(spec).map_err(|f| error_at(bytes, f)) {
            Err(e) if e.unusable => Err(first_break(bytes).unwrap_or(e)),
            other => other,
        }
    }

    /// The key whose text (quotes included) is exactly `range`: its decoded name and its
    /// content as written.
    fn key_at(&mut self, range: &Range<usize>) -> Option<(String, Vec<u8>)> {
        self.i = range.start;
        if self.peek() != Some(b'"') {
            return None;
        }
        let key = self.string().ok()?;
        if self.i != range.end {
            return None;
        }
        let name = self.key_text(key, range.start).ok()?;
        Some((name, self.b.get(key.start..key.end)?.to_vec()))
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        let b = self.b;
        let mut i = self.i;
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
            i += 1;
        }
        self.i = i;
    }

    /// Skips plain string content (no quote, backslash, control character or non-ASCII
    /// byte), eight bytes at a time, then byte by byte.
    #[inline]
    fn skip_plain(&mut self) {
        let b = self.b;
        let mut i = self.i;
        while let Some(chunk) = b.get(i..i + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            if has_special(u64::from_le_bytes(w)) {
                break;
            }
            i += 8;
        }
        while let Some(&c) = b.get(i) {
            if SPECIAL[usize::from(c)] {
                break;
            }
            i += 1;
        }
        self.i = i;
    }

    fn eat(&mut self, c: u8, what: &str) -> R<()> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            self.unexpected(what)
        }
    }

    fn unexpected<T>(&self, expected: &str) -> R<T> {
        match self.peek() {
            None => broken(self.i, format!("EOF while parsing {expected}")),
            Some(c) => broken(
                self.i,
                format!("expected {expected}, found {:?}", char::from(c)),
            ),
        }
    }

    fn top(&mut self, spec: &Spec<'_>) -> R<Top> {
        self.ws();
        let top = match self.peek() {
            Some(b'{') => self.top_object(spec)?,
            Some(b'[') => self.skip(0).map(|()| Top::NotObject("an array"))?,
            Some(b'"') => self.skip(0).map(|()| Top::NotObject("a string"))?,
            Some(b't' | b'f') => self.skip(0).map(|()| Top::NotObject("a boolean"))?,
            Some(b'n') => self.skip(0).map(|()| Top::NotObject("null"))?,
            Some(b'-' | b'0'..=b'9' | b'N' | b'I') => {
                self.skip(0).map(|()| Top::NotObject("a number"))?
            }
            _ => return self.unexpected("a value"),
        };
        self.ws();
        if self.i < self.b.len() {
            // a complete document, then more bytes: its records were completed
            if let (true, Top::Object(doc)) = (self.keep, top) {
                self.cut.0 = doc.arrays;
            }
            return broken(self.i, "trailing characters");
        }
        Ok(top)
    }

    /// What a kept scan completed before it broke: each record array's records with their
    /// byte ranges (the array it broke in holds the records before the break).
    fn scanned(&mut self) -> Scanned {
        let (done, broken) = std::mem::take(&mut self.cut);
        let mut records = done.into_iter().map(|(_, r)| r).chain(broken);
        let arrays = std::mem::take(&mut self.spans)
            .into_iter()
            .map_while(|(key, spans)| {
                let recs = records.next()?;
                Some((key, spans.into_iter().zip(recs).collect()))
            })
            .collect();
        Scanned { arrays }
    }

    fn top_object(&mut self, spec: &Spec<'_>) -> R<Top> {
        let mut doc = Document::default();
        let result = self.top_members(spec, &mut doc);
        if result.is_err() && self.keep {
            self.cut.0 = std::mem::take(&mut doc.arrays);
        }
        Ok(match result? {
            Some(k) => Top::BadArray(k),
            None => Top::Object(doc),
        })
    }

    /// The members of the top-level object into `doc`; returns the first record array key
    /// whose value is not an array.
    fn top_members(&mut self, spec: &Spec<'_>, doc: &mut Document) -> R<Option<String>> {
        let mut bad_array = None;
        self.object(0, |s, key| {
            let key_text = s.key_text(key.s, key.at)?;
            s.top_member(spec, doc, key_text, &mut bad_array)
        })?;
        Ok(bad_array)
    }

    /// The value of top-level key `key_text` (the cursor before it) into `doc`; a record
    /// array key whose value is not an array is noted in `bad_array`.
    fn top_member(
        &mut self,
        spec: &Spec<'_>,
        doc: &mut Document,
        key_text: String,
        bad_array: &mut Option<String>,
    ) -> R<()> {
        if spec.record_arrays.contains(&key_text) {
            let hash = spec.hash_records.contains(&key_text);
            self.ws();
            if self.peek() == Some(b'[') {
                let full = spec.full_records.contains(&key_text);
                let records = self.record_array(&key_text, spec.extract, hash, full)?;
                doc.arrays.push((key_text.clone(), records));
            } else {
                self.skip(1)?;
                bad_array.get_or_insert_with(|| key_text.clone());
            }
            doc.top.push((key_text.clone(), Val::Array));
        } else {
            let v = self.value(&[], 1)?;
            doc.top.push((key_text.clone(), v));
        }
        doc.keys.push(key_text);
        Ok(())
    }

    /// Scans an object at `depth` (the cursor on `{`), checking keys for duplicates and
    /// calling `member` with each key, the cursor after its `:`.
    fn object(&mut self, depth: usize, mut member: impl FnMut(&mut Self, Key) -> R<()>) -> R<()> {
        if depth >= MAX_DEPTH {
            return unusable(self.i, "recursion limit exceeded");
        }
        self.i += 1;
        if self.keys.len() <= depth {
            self.keys.resize_with(depth + 1, KeySet::default);
        }
        if let Some(k) = self.keys.get_mut(depth) {
            k.start();
        }
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        let mut index = 0;
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return self.unexpected("a key");
            }
            let at = self.i;
            let (key, same) = match self.repeated_key(depth) {
                Some(key) => (key, true),
                None => {
                    let key = self.string()?;
                    (key, self.note_key(depth, key))
                }
            };
            self.eat(b':', "`:`")?;
            member(
                self,
                Key {
                    s: key,
                    at,
                    index,
                    same,
                },
            )?;
            index += 1;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return self.check_duplicates(depth);
                }
                _ => return self.unexpected("`,` or `}`"),
            }
        }
    }

    /// Records a key of the object at `depth`; returns whether the object's keys so far
    /// equal those of the previous object at that depth.
    fn note_key(&mut self, depth: usize, key: Str) -> bool {
        let b = self.b;
        self.keys
            .get_mut(depth)
            .is_some_and(|seen| seen.push(b, key))
    }

    /// The key at the cursor (on its `"`) when it is, byte for byte and with its closing
    /// quote, the previous object's key at this index while the keys so far were the same:
    /// those bytes were validated when first scanned, so it is taken (and noted) without
    /// another scan. `None`: scan it.
    #[inline]
    fn repeated_key(&mut self, depth: usize) -> Option<Str> {
        let b = self.b;
        let set = self.keys.get_mut(depth)?;
        let prev = set.expected()?;
        let start = self.i + 1;
        let end = start + (prev.end - prev.start);
        if b.get(end) != Some(&b'"')
            || !same_bytes(b.get(start..end)?, b.get(prev.start..prev.end)?)
        {
            return None;
        }
        let key = Str {
            start,
            end,
            escaped: prev.escaped,
        };
        set.keys.push(key);
        self.i = end + 1;
        Some(key)
    }

    /// Refuses the object at `depth` (just closed) if a key occurs twice in it.
    fn check_duplicates(&mut self, depth: usize) -> R<()> {
        let b = self.b;
        let Some(seen) = self.keys.get_mut(depth) else {
            return Ok(());
        };
        match seen.finish(b) {
            None => Ok(()),
            Some(start) => {
                let end = seen
                    .keys
                    .iter()
                    .find(|k| k.start == start)
                    .map_or(start, |k| k.end);
                let raw = b.get(start..end).unwrap_or_default();
                unusable(
                    start,
                    format!("duplicate key {:?}", String::from_utf8_lossy(raw)),
                )
            }
        }
    }

    /// Scans an array at `depth` (the cursor on `[`), calling `element` for each element with
    /// the cursor on it.
    fn array(&mut self, depth: usize, mut element: impl FnMut(&mut Self) -> R<()>) -> R<()> {
        if depth >= MAX_DEPTH {
            return unusable(self.i, "recursion limit exceeded");
        }
        self.i += 1;
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            element(self)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return self.unexpected("`,` or `]`"),
            }
        }
    }

    fn record_array(
        &mut self,
        key: &str,
        extract: Option<&Extract>,
        hash: bool,
        full: bool,
    ) -> R<Vec<Record>> {
        let mut out = Vec::new();
        let mut spans = Vec::new();
        let (known, fields) = self.array_start(key, extract, full);
        let result = self.array(1, |s| {
            let start = s.i;
            if s.keep {
                spans.push(start..start);
            }
            let rec = s.element(known, extract, fields, hash)?;
            if let Some(span) = spans.last_mut() {
                span.end = s.i;
            }
            out.push(rec);
            Ok(())
        });
        if self.keep {
            // A record whose scan broke has no entry in `out`.
            spans.truncate(out.len());
            self.spans.push((key.to_string(), spans));
            if result.is_err() {
                self.cut.1 = Some(std::mem::take(&mut out));
            }
        }
        result.map(|()| out)
    }

    /// The records of record array `key` whose elements are the texts at `elements`, in
    /// order: what [`Self::record_array`] gives for an array of exactly those elements.
    fn records_at(
        &mut self,
        key: &str,
        elements: &[Range<usize>],
        spec: &Spec<'_>,
    ) -> R<Vec<Record>> {
        let hash = spec.hash_records.iter().any(|k| k == key);
        let full = spec.full_records.iter().any(|k| k == key);
        let (known, fields) = self.array_start(key, spec.extract, full);
        let mut out = Vec::with_capacity(elements.len());
        for range in elements {
            self.i = range.start;
            out.push(self.element(known, spec.extract, fields, hash)?);
            if self.i != range.end {
                return broken(self.i, "an element is not exactly its range");
            }
        }
        Ok(out)
    }

    /// Starts the records of array `key`: its index among the known arrays, and the fields
    /// its records get.
    fn array_start<'e>(
        &mut self,
        key: &str,
        extract: Option<&'e Extract>,
        full: bool,
    ) -> (Option<usize>, &'e [String]) {
        let known = self
            .known
            .as_ref()
            .and_then(|k| k.arrays.iter().position(|(name, _)| name == key));
        self.slots.clear();
        let fields = extract.map(|e| e.fields.as_slice()).unwrap_or_default();
        let fields = match extract {
            Some(e) if !full => fields.get(..e.common).unwrap_or(fields),
            _ => fields,
        };
        (known, fields)
    }

    /// One element of a record array (the cursor on it): the known record when its text
    /// is at the cursor, else the record scanned (an element that is not an object is
    /// skipped, validated); with `hash`, the hash of its bytes.
    fn element(
        &mut self,
        known: Option<usize>,
        extract: Option<&Extract>,
        fields: &[String],
        hash: bool,
    ) -> R<Record> {
        let start = self.i;
        let taken = known.and_then(|k| self.take_known(k));
        let is_object = self.peek() == Some(b'{');
        let mut rec = if let Some(rec) = taken {
            rec
        } else if is_object && !fields.is_empty() {
            self.record(extract, fields)?
        } else {
            // nothing to pull out: validated like any value
            self.skip(2)?;
            Record {
                values: Vec::new(),
                is_object,
                raw_hash: None,
            }
        };
        if hash && rec.raw_hash.is_none() {
            rec.raw_hash = Some(fnv(self.b.get(start..self.i).unwrap_or_default()));
        }
        Ok(rec)
    }

    /// The next known record of known array `k` when its text is, byte for byte, the text
    /// at the cursor: it is taken and the cursor moved past it. Each call consumes one
    /// known record, as each element of the array corresponds to one.
    fn take_known(&mut self, k: usize) -> Option<Record> {
        let known = self.known.as_mut()?;
        let (span, rec) = known.arrays.get_mut(k)?.1.pop_front()?;
        let rec = rec?;
        let end = self.i.checked_add(span.len())?;
        // the same bytes at the same place need no comparison
        let here = std::ptr::eq(self.b, known.source) && span.start == self.i;
        if !here && self.b.get(self.i..end)? != known.source.get(span)? {
            return None;
        }
        self.i = end;
        Some(rec)
    }

    /// One record (the cursor on `{`), with `fields` (a prefix of the extract's) pulled out.
    fn record(&mut self, extract: Option<&Extract>, fields: &[String]) -> R<Record> {
        let mut values = vec![Val::Missing; fields.len()];
        self.object(2, |s, key| {
            let slot = s.field_slot(fields, key)?;
            match slot {
                Some(i) => {
                    let sub = extract
                        .and_then(|e| e.sub_fields.get(i))
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    let v = s.value(sub, 3)?;
                    if let Some(v_slot) = values.get_mut(i) {
                        *v_slot = v;
                    }
                    Ok(())
                }
                None => {
                    s.ws();
                    s.skip(3)
                }
            }
        })?;
        Ok(Record {
            values,
            is_object: true,
            raw_hash: None,
        })
    }

    /// Which extracted field a record key is, reusing the previous record's answer when
    /// the keys so far are the same.
    fn field_slot(&mut self, fields: &[String], key: Key) -> R<Option<usize>> {
        if key.same {
            if let Some(&slot) = self.slots.get(key.index) {
                return Ok(slot);
            }
        }
        let slot = if key.s.escaped {
            let text = self.key_text(key.s, key.at)?;
            fields.iter().position(|f| *f == text)
        } else {
            let raw = self.b.get(key.s.start..key.s.end).unwrap_or_default();
            fields.iter().position(|f| f.as_bytes() == raw)
        };
        if self.slots.len() <= key.index {
            self.slots.resize(key.index + 1, None);
        }
        if let Some(s) = self.slots.get_mut(key.index) {
            *s = slot;
        }
        Ok(slot)
    }

    /// A value as a [`Val`] (the cursor before it): scalars are decoded, arrays skipped,
    /// objects skipped except for the `sub` fields.
    fn value(&mut self, sub: &[String], depth: usize) -> R<Val> {
        self.ws();
        match self.peek() {
            Some(b'"') => {
                let at = self.i;
                let s = self.string()?;
                self.shared(s, at).map(Val::Str)
            }
            _ if self.at_non_finite() => self.non_finite().map(|t| Val::Num(t.value())),
            Some(b'-' | b'0'..=b'9') => {
                let (start, end, _) = self.number()?;
                let raw = self.b.get(start..end).unwrap_or_default();
                let n = fast_f64(raw).or_else(|| {
                    let text = std::str::from_utf8(raw).ok()?;
                    text.parse::<f64>().ok()
                });
                match n {
                    Some(n) if n.is_finite() => Ok(Val::Num(n)),
                    _ => unusable(start, "number out of range"),
                }
            }
            Some(b'[') => self.skip(depth).map(|()| Val::Array),
            Some(b'{') => {
                let mut values = vec![Val::Missing; sub.len()];
                self.object(depth, |s, key| {
                    let text = s.key_text(key.s, key.at)?;
                    match sub.iter().position(|f| *f == text) {
                        Some(i) => {
                            let v = s.value(&[], depth + 1)?;
                            if let Some(slot) = values.get_mut(i) {
                                *slot = v;
                            }
                            Ok(())
                        }
                        None => {
                            s.ws();
                            s.skip(depth + 1)
                        }
                    }
                })?;
                Ok(Val::Object(values.into_boxed_slice()))
            }
            Some(b't') => self.literal(b"true").map(|()| Val::Bool(true)),
            Some(b'f') => self.literal(b"false").map(|()| Val::Bool(false)),
            Some(b'n') => self.literal(b"null").map(|()| Val::Null),
            _ => self.unexpected("a value"),
        }
    }

    /// Skips one value (the cursor on it), validating it.
    fn skip(&mut self, depth: usize) -> R<()> {
        match self.peek() {
            Some(b'"') => self.string().map(|_| ()),
            Some(b'{') => self.object(depth, |s, _| {
                s.ws();
                s.skip(depth + 1)
            }),
            Some(b'[') => self.array(depth, |s| s.skip(depth + 1)),
            _ if self.at_non_finite() => self.non_finite().map(|_| ()),
            Some(b'-' | b'0'..=b'9') => {
                let (start, end, exp) = self.number()?;
                self.check_range(start, end, exp)
            }
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            _ => self.unexpected("a value"),
        }
    }

    /// Whether the cursor is on what can only be a non-finite number: `N`, `I` or `-I`.
    #[inline]
    fn at_non_finite(&self) -> bool {
        match self.peek() {
            Some(b'N' | b'I') => true,
            Some(b'-') => self.b.get(self.i + 1) == Some(&b'I'),
            _ => false,
        }
    }

    /// Scans `NaN`, `Infinity` or `-Infinity` (exactly, as Python writes them).
    fn non_finite(&mut self) -> R<NonFinite> {
        match NonFinite::at_start(self.b.get(self.i..).unwrap_or_default()) {
            Some(t) => {
                self.i += t.text().len();
                Ok(t)
            }
            None => broken(self.i, "expected `NaN`, `Infinity` or `-Infinity`"),
        }
    }

    fn literal(&mut self, word: &[u8]) -> R<()> {
        let end = self.i + word.len();
        if self.b.get(self.i..end) == Some(word) {
            self.i = end;
            Ok(())
        } else {
            broken(
                self.i,
                format!("expected `{}`", String::from_utf8_lossy(word)),
            )
        }
    }

    /// Scans a number (strict grammar); returns its byte range and whether it has an
    /// exponent.
    #[inline]
    fn number(&mut self) -> R<(usize, usize, bool)> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return broken(self.i, "invalid number"),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return broken(self.i, "invalid number");
            }
            self.digits();
        }
        let exp = matches!(self.peek(), Some(b'e' | b'E'));
        if exp {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return broken(self.i, "invalid number");
            }
            self.digits();
        }
        Ok((start, self.i, exp))
    }

    /// Skips ASCII digits, eight at a time while there are eight bytes.
    #[inline]
    fn digits(&mut self) {
        let b = self.b;
        let mut i = self.i;
        while let Some(w) = word(b, i) {
            let stop = non_digits(w);
            if stop != 0 {
                self.i = i + (stop.trailing_zeros() / 8) as usize;
                return;
            }
            i += 8;
        }
        while let Some(b'0'..=b'9') = b.get(i) {
            i += 1;
        }
        self.i = i;
    }

    /// Refuses a number that overflows f64. Only numbers with an exponent or more than 300
    /// digits can, so only those are parsed.
    fn check_range(&self, start: usize, end: usize, exp: bool) -> R<()> {
        let text = self.b.get(start..end).unwrap_or_default();
        if end - start < 300 && !exp {
            return Ok(());
        }
        match std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
        {
            Some(n) if n.is_finite() => Ok(()),
            _ => unusable(start, "number out of range"),
        }
    }

    /// Scans a string (the cursor on its `"`), validating escapes, control characters and
    /// UTF-8; the cursor ends after the closing quote.
    #[inline]
    fn string(&mut self) -> R<Str> {
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        let mut non_ascii = false;
        loop {
            self.skip_plain();
            match self.peek() {
                None => return broken(self.i, "EOF while parsing a string"),
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                Some(c) if c < 0x20 => {
                    return broken(
                        self.i,
                        "control character (\\u0000-\\u001F) found while parsing a string",
                    );
                }
                Some(_) => {
                    non_ascii = true;
                    self.i += 1;
                }
            }
        }
        let end = self.i;
        self.i += 1;
        if non_ascii && std::str::from_utf8(self.b.get(start..end).unwrap_or_default()).is_err() {
            return broken(start, "invalid unicode code point");
        }
        Ok(Str {
            start,
            end,
            escaped,
        })
    }

    fn escape(&mut self) -> R<()> {
        self.i += 1;
        match self.peek() {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.i += 1;
                Ok(())
            }
            Some(b'u') => {
                let hex = self.b.get(self.i + 1..self.i + 5).unwrap_or_default();
                if hex.len() == 4 && hex.iter().all(u8::is_ascii_hexdigit) {
                    self.i += 5;
                    Ok(())
                } else {
                    broken(self.i, "invalid escape")
                }
            }
            _ => broken(self.i, "invalid escape"),
        }
    }

    fn key_text(&self, key: Str, at: usize) -> R<String> {
        self.decode(key, at)
    }

    /// A scanned string as a shared copy: one allocation per distinct text while it stays
    /// in the cache (escaped strings are decoded and not cached).
    #[inline]
    fn shared(&mut self, s: Str, at: usize) -> R<Arc<str>> {
        if s.escaped {
            return self.decode(s, at).map(Arc::from);
        }
        let raw = self.b.get(s.start..s.end).unwrap_or_default();
        let slot = (key_hash(raw) as usize) % CACHE_SLOTS;
        if let Some(Some(hit)) = self.cache.get(slot) {
            if same_bytes(hit.as_bytes(), raw) {
                return Ok(Arc::clone(hit));
            }
        }
        let Ok(text) = std::str::from_utf8(raw) else {
            return broken(at, "invalid unicode code point");
        };
        let copy: Arc<str> = Arc::from(text);
        if let Some(entry) = self.cache.get_mut(slot) {
            *entry = Some(Arc::clone(&copy));
        }
        Ok(copy)
    }

    /// The text of a scanned string, escapes decoded (a lone surrogate becomes U+FFFD).
    fn decode(&self, s: Str, at: usize) -> R<String> {
        let raw = self.b.get(s.start..s.end).unwrap_or_default();
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t,
            Err(_) => return broken(at, "invalid unicode code point"),
        };
        if !s.escaped {
            return Ok(text.to_string());
        }
        Ok(unescape(text))
    }
}

/// Decodes JSON escapes in already-validated string content.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hi = hex4(&mut chars);
                let c = if (0xD800..0xDC00).contains(&hi) {
                    let mut look = chars.clone();
                    if look.next() == Some('\\') && look.next() == Some('u') {
                        let lo = hex4(&mut look);
                        if (0xDC00..0xE000).contains(&lo) {
                            chars = look;
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                        } else {
                            None
                        }
                    } else {
                        None
                    }
                } else {
                    char::from_u32(hi)
                };
                out.push(c.unwrap_or('\u{FFFD}'));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn hex4(chars: &mut std::str::Chars<'_>) -> u32 {
    (0..4).fold(0, |acc, _| {
        acc * 16 + chars.next().and_then(|c| c.to_digit(16)).unwrap_or(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> bool {
        document(text.as_bytes(), &Spec::default()).is_ok()
    }

    /// The scanner accepts and refuses exactly what serde_json does, on a table of edge cases.
    #[test]
    fn agrees_with_serde_json() {
        let cases = [
            "{}",
            "{\"a\":1}",
            "{\"a\":-0.5e+10}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":.5}",
            "{\"a\":-}",
            "{\"a\":\"\\u00e9\\n\"}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\u12\"}",
            "{\"a\":\"tab\there\"}",
            "{\"a\":[1,2,]}",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{\"a\":tru}",
            "{\"a\":true}",
            "{\"a\":null} x",
            "{\"a\":1}\n",
            " {\"a\":[{},[]]} ",
            "{\"a\":\"é\"}",
            "[1,2]",
            "\"s\"",
            "3",
            "{\"a\":1e5}",
        ];
        for c in cases {
            let serde = serde_json::from_str::<serde_json::Value>(c).is_ok();
            assert_eq!(ok(c), serde, "input: {c:?}");
        }
        assert!(document(b"{\"a\":\"\xff\"}", &Spec::default()).is_err());
    }

    /// Python's `NaN`, `Infinity` and `-Infinity` are numbers; nothing else spelled like
    /// them is, and a cut token is broken.
    #[test]
    fn python_non_finite_numbers() {
        let ex = Extract {
            fields: vec!["p".into()],
            sub_fields: vec![Vec::new()],
            common: 1,
        };
        let arrays = vec!["r".to_string()];
        let spec = Spec {
            record_arrays: &arrays,
            extract: Some(&ex),
            ..Spec::default()
        };
        for (token, want) in [
            ("NaN", f64::NAN),
            ("Infinity", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
        ] {
            let text = format!("{{\"t\":{token},\"r\":[{{\"p\": {token}}}, [{token}]]}}");
            let Ok(Top::Object(doc)) = document(text.as_bytes(), &spec) else {
                panic!("{text} is valid");
            };
            let got = doc.top("t").as_num().unwrap_or(0.0);
            assert_eq!(got.to_bits(), want.to_bits(), "{text}");
            let rec = doc.records("r").and_then(|r| r.first()).cloned();
            let p = rec.and_then(|r| r.values.first().and_then(Val::as_num));
            assert_eq!(p.map(f64::to_bits), Some(want.to_bits()), "{text}");
            assert!(ok(&format!("{{\"a\": [{token}, 1]}}")), "{token} skipped");
            assert!(matches!(
                document(token.as_bytes(), &spec),
                Ok(Top::NotObject("a number"))
            ));
        }
        for bad in [
            "{\"a\":nan}",
            "{\"a\":-NaN}",
            "{\"a\":+Infinity}",
            "{\"a\":infinity}",
            "{\"a\":Inf}",
            "{\"a\":NaNa}",
            "{\"a\":Infinity1}",
            "{\"a\":--Infinity}",
            "{\"a\":[1,Nan]}",
            "{NaN:1}",
        ] {
            let e = document(bad.as_bytes(), &Spec::default()).err();
            assert!(e.is_some_and(|e| !e.unusable), "input: {bad}");
        }
        for cut in [
            "{\"a\":Na",
            "{\"a\":-Inf",
            "{\"a\":Infinit",
            "{\"a\":N",
            "{\"a\":-",
        ] {
            let e = document(cut.as_bytes(), &Spec::default()).err();
            assert!(e.is_some_and(|e| !e.unusable), "input: {cut}");
        }
    }

    #[test]
    fn unusable_documents() {
        for c in [
            "{\"a\":1e400}",
            "{\"a\":{\"b\":1,\"b\":2}}",
            "{\"a\":[-1e999]}",
        ] {
            let e = document(c.as_bytes(), &Spec::default()).err();
            assert!(e.is_some_and(|e| e.unusable), "input: {c}");
        }
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        assert!(document(deep.as_bytes(), &Spec::default())
            .err()
            .is_some_and(|e| e.unusable));
        let fine = format!("{{\"a\":{}1{}}}", "[".repeat(100), "]".repeat(100));
        assert!(document(fine.as_bytes(), &Spec::default()).is_ok());
    }

    /// A document that is cut short (or otherwise broken) after something unusable is
    /// broken, never unusable: unusable means syntactically valid.
    #[test]
    fn broken_after_unusable_is_broken() {
        for c in [
            format!("{{\"a\":{}1", "[".repeat(200)),
            format!("{{\"a\":{}1{},", "[".repeat(200), "]".repeat(200)),
            "{\"a\":{\"b\":1,\"b\":2},\"c\":".to_string(),
            "{\"a\":1e400,\"c\":[1,".to_string(),
            "{\"a\":1,\"a\":2} x".to_string(),
        ] {
            let e = document(c.as_bytes(), &Spec::default()).err();
            assert!(e.is_some_and(|e| !e.unusable), "input: {c:.60}");
        }
    }

    #[test]
    fn word_classes() {
        for b in 0u8..=255 {
            let mut w = [b'a'; 8];
            w[3] = b;
            let special = b < 0x20 || b == b'"' || b == b'\\' || b >= 0x80;
            assert_eq!(has_special(u64::from_le_bytes(w)), special, "byte {b}");
        }
    }

    #[test]
    fn digit_words() {
        for b in 0u8..=255 {
            let mut w = [b'7'; 8];
            w[5] = b;
            let stop = non_digits(u64::from_le_bytes(w));
            let want = if b.is_ascii_digit() { 0 } else { 0x80 << 40 };
            assert_eq!(stop, want, "byte {b}");
        }
        let mut s = Scanner {
            b: b"1234567890123.5",
            i: 0,
            keys: Vec::new(),
            slots: Vec::new(),
            cache: Vec::new(),
            keep: false,
            spans: Vec::new(),
            cut: (Vec::new(), None),
            known: None,
        };
        s.digits();
        assert_eq!(s.i, 13);
    }

    /// The fast path gives exactly what the general parser gives, or steps aside.
    #[test]
    fn fast_numbers_are_exact() {
        let cases = [
            "0",
            "-0",
            "1",
            "0.1",
            "0.3",
            "-123.456",
            "1764600000.999",
            "9007199254740991",
            "9007199254740993",
            "0.0000000000000000000001",
            "0.00000000000000000000001",
            "12345678901234567890",
            "99999999999999999999",
            "-8888888888888888888888888",
            "1.7976931348623157",
            "1e5",
            "60000.123456",
        ];
        for c in cases {
            let want: f64 = c.parse().unwrap_or(f64::NAN);
            match fast_f64(c.as_bytes()) {
                Some(got) => assert_eq!(got.to_bits(), want.to_bits(), "{c}"),
                None => assert!(
                    c.contains('e') || c.len() >= 16,
                    "{c} should take the fast path"
                ),
            }
        }
        let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..20_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let text = format!("{}.{:0w$}", rng % 100_000, rng % 1_000_000, w = 6);
            let want: f64 = text.parse().unwrap_or(f64::NAN);
            assert_eq!(
                fast_f64(text.as_bytes()).map(f64::to_bits),
                Some(want.to_bits())
            );
        }
    }

    /// A record repeating the previous one's keys is still checked for duplicates, and a
    /// schema change after repeats is scanned normally.
    #[test]
    fn repeated_schema_still_validated() {
        let arrays = vec!["r".to_string()];
        let spec = Spec {
            record_arrays: &arrays,
            ..Spec::default()
        };
        let ok = b"{\"r\":[{\"a\":1,\"b\":2},{\"a\":1,\"b\":2},{\"a\":1,\"c\":2,\"d\":3}]}";
        assert!(document(ok, &spec).is_ok());
        let dup = b"{\"r\":[{\"a\":1,\"b\":2},{\"a\":1,\"a\":2}]}";
        assert!(document(dup, &spec).err().is_some_and(|e| e.unusable));
        let dup2 = b"{\"r\":[{\"a\":1,\"b\":2},{\"a\":1,\"b\":2,\"b\":3}]}";
        assert!(document(dup2, &spec).err().is_some_and(|e| e.unusable));
        let cut = b"{\"r\":[{\"ab\":1},{\"ab";
        assert!(document(cut, &spec).is_err());
        let bad = b"{\"r\":[{\"ab\":1},{\"ab\\\":1}]}";
        assert!(document(bad, &spec).is_err());
    }

    #[test]
    fn unescapes() {
        assert_eq!(
            unescape("a\\nb\\u00e9\\ud83d\\ude00\\ud800x"),
            "a\nbé😀\u{FFFD}x"
        );
    }
}
