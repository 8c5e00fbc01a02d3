//! What the tolerant scan hands to the rest of the salvage: the versions it recognised,
//! the top-level entries (record arrays with the spans of their kept records, other values
//! raw), the damage, and the records it found in damage but could not place.

use crate::salvage::lex::Span;
use std::collections::HashSet;

/// Why a new version of the document was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VersionReason {
    First,
    SecondDocument,
    RepeatedKey,
    RepeatedRecords,
    RepeatedText,
}

/// One version of the document found in the bytes.
#[derive(Debug, Clone)]
pub(crate) struct Version {
    pub start: usize,
    pub complete: bool,
    pub reason: VersionReason,
    pub keys: HashSet<String>,
}

/// The records of one record array in one version, in input order.
#[derive(Debug, Clone)]
pub(crate) struct RecordList {
    pub array: usize,
    pub records: Vec<Span>,
    pub lost: u64,
}

/// A top-level value kept from the input.
#[derive(Debug, Clone)]
pub(crate) enum EntryValue {
    Raw(Span),
    Records(RecordList),
}

/// One intact top-level key and what was kept of its value.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub name: String,
    pub key: Span,
    pub value_start: usize,
    pub value: EntryValue,
}

/// How a damaged byte range looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DamageKind {
    Invalid,
    Truncated,
    Padding,
}

/// Bytes that were not kept, and whether they follow a complete document.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Damage {
    pub span: Span,
    pub kind: DamageKind,
    pub trailing: bool,
}

/// Everything the scan learned about the input.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScanOut {
    pub bom: bool,
    pub versions: Vec<Version>,
    pub entries: Vec<Entry>,
    pub damage: Vec<Damage>,
    pub unplaced: Vec<Span>,
    /// Records in damaged regions identical to a record kept before (kept once).
    pub repeated: Vec<Span>,
    pub trailing_commas: u64,
    pub keys_lost: Vec<String>,
    pub truncated: bool,
    pub interleaved: bool,
    /// How many times the scan lost its context (zero for an intact input).
    pub lost_regions: u64,
}
