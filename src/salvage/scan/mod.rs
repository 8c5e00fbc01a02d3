//! The tolerant scanner: one forward pass that reads the document skeleton (top-level
//! objects, their keys, record arrays and the extents of their elements) and hands every
//! element to the JSON validator on exactly its bytes.
//!
//! It keeps a record only when the record's context is *known*: the scan has followed the
//! skeleton without damage from the record array's header to the record. Any damage
//! (a byte that breaks the skeleton, an element that is cut or invalid) switches to the
//! damaged-region scanner in `lost.rs` until the next anchor (`anchor.rs`); records found
//! there are reported as unplaced, never placed. New versions of the document start at a
//! second document start, at a top-level key repeated within one version, and at a damaged
//! region that repeats records already kept. When two writers' blocks interleave, the
//! context holds only inside the block where it was learned, and `blocks` places the
//! records of whole blocks afterwards. Work is linear: every skeleton byte is read
//! once by this pass and at most once more by `lost.rs`, element bytes once more by the
//! validator; nothing recurses. Elements the caller's [`Skeleton`] vouches for are not
//! read at all (see `proven_run` and `element_extent`): the result is the same.
//!
//! The pass is one state machine (`Step`) driven by `Scanner::run`; its states are in
//! their own files: `between` (between documents), `object` (inside a top-level object),
//! `array` (inside a record array) and `damaged` (a damaged region, up to the next anchor).
//! `out` holds what the pass hands to the rest of the salvage.

use crate::salvage::anchor::Anchors;
use crate::salvage::api::Skeleton;
use crate::salvage::evidence::Sampled;
use std::collections::HashSet;

mod array;
mod between;
mod damaged;
mod object;
mod out;
#[cfg(test)]
mod tests;

pub(crate) use out::{DamageKind, Entry, EntryValue, RecordList, ScanOut, VersionReason};

enum Step {
    Between,
    Object {
        after_comma: bool,
    },
    Lost {
        damage: usize,
        from: usize,
        array: Option<usize>,
    },
    Done,
}

/// A damaged point: where the damage starts and where the search for context resumes.
struct Broken {
    damage: usize,
    from: usize,
    /// The record array the damage hit, if it hit one.
    array: Option<usize>,
}

/// Scans `buf` for documents whose record arrays are `record_keys`.
pub(crate) fn scan(buf: &[u8], record_keys: &[String], skeleton: &Skeleton) -> ScanOut {
    let mut s = Scanner {
        buf,
        skeleton,
        next_value: 0,
        keys: record_keys,
        anchors: Anchors::new(buf, record_keys),
        whole_valid: None,
        splice_guard: false,
        origin: 0,
        body: 0,
        pos: 0,
        out: ScanOut::default(),
        index: HashSet::new(),
        indexed: (0, 0),
        resumed: None,
    };
    s.run();
    if s.out.interleaved {
        super::blocks::apply(buf, s.body, record_keys, &mut s.out);
    }
    s.out
}

struct Scanner<'a> {
    buf: &'a [u8],
    /// What the caller proved about `buf` (values and runs of array elements).
    skeleton: &'a Skeleton,
    /// The index of the skeleton's value after the one last used.
    next_value: usize,
    keys: &'a [String],
    anchors: Anchors<'a>,
    whole_valid: Option<bool>,
    /// Text rewinds at a 4 KiB boundary and the input is not valid JSON: two writers'
    /// blocks are interleaved, so a value straddling a boundary may be two texts spliced.
    splice_guard: bool,
    /// The block where the scan last learned its context (a document start or an
    /// anchor); with `splice_guard`, a token in another block is another writer's text.
    origin: usize,
    body: usize,
    pos: usize,
    out: ScanOut,
    /// Kept records seen so far, built only once a damaged region holds records.
    index: HashSet<Sampled<'a>>,
    indexed: (usize, usize),
    /// The quote of the last anchor the scan resumed at: damage before the scan got past
    /// it (a document whose `{` and first key lie in different writers' blocks) must not
    /// resume there again, so every resumption moves forward.
    resumed: Option<usize>,
}
