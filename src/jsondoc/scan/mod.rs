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
//!
//! The scanner is one cursor ([`Scanner`]) over the bytes; its methods are grouped by what
//! they scan: `entry` (the functions the rest of `jsondoc` calls), `top` (the top-level
//! object), `keys` (objects and their duplicate-key check), `records` (record arrays and
//! the fields pulled out of records), `values` (skipping and decoding values, numbers and
//! literals), `strings` (strings, escapes, the shared-string cache) and `words` (the
//! eight-bytes-at-a-time helpers).

mod entry;
mod keys;
mod records;
mod strings;
#[cfg(test)]
mod tests;
mod top;
mod values;
mod words;

pub(super) use entry::{assembled, document, document_with, record_runs};

use super::{Document, Known, Record};
use keys::KeySet;
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
    /// Whether to keep what was scanned when the scan breaks
    /// ([`Scanned`](crate::jsondoc::Scanned)).
    keep: bool,
    /// While keeping: per record array scanned, its key and its records' byte ranges.
    spans: Vec<(String, Vec<Range<usize>>)>,
    /// While keeping, after a break: the record arrays completed before it, and the records
    /// of the array it broke in.
    cut: Cut,
    /// Records of other bytes already scanned, taken instead of scanned again.
    known: Option<Known<'a>>,
}
