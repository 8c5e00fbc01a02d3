//! Records of two writers whose 4 KiB blocks alternate in one file, placed by each
//! writer's own record-array headers. Only read when the text rewinds at a 4 KiB boundary
//! and the input is not valid JSON (`scan` then keeps nothing across a boundary).
//! Pure: bytes in, spans out; one pass over the line breaks; never panics.
//!
//! # The model
//!
//! What this module places, it places only under these conditions, each read from the
//! bytes where it can be; a record is otherwise left to the scanner (unplaced):
//!
//! 1. **Alternating blocks.** Block `k` (bytes `4096k..4096(k+1)`) is the same byte range
//!    of version `k mod 2`, up to that version's end; past it, the other version's bytes.
//!    Checked: at least three strong rewinds (64 bytes or more) at boundaries two blocks
//!    apart (`k`, `k+2`, `k+4`: with blocks of 8 KiB or more, consecutive switches rewind
//!    in opposite directions, so never twice in a row), and no strong rewinds at two
//!    consecutive boundaries (blocks smaller than 4 KiB would rewind at every boundary).
//! 2. **Pretty-printed by one writer.** Every value on its own line, indented by depth
//!    times a unit (Python's `json.dump(indent=N)`); the unit is read from the first key
//!    line after the input's `{`. A raw line break is never inside a JSON string, so a line
//!    of `2 * unit` spaces and `{` starts an element of an array at depth 2, a line of
//!    `unit` spaces and `"KEY": [` a member of the top-level object, a line `}` the end of
//!    a document. Every candidate record is checked against it: its members at
//!    `3 * unit`, its `}` alone on a line at `2 * unit`.
//! 3. **The shape.** Each version holds each record array once; no other top-level member
//!    holds an array of objects (so an element at depth 2 is a record of the record array
//!    whose header precedes it last); the record arrays come in the same order in both
//!    versions (read from a version whose headers are all visible, or from the document's
//!    first member).
//!
//! # The rule
//!
//! A record is kept when it lies wholly inside one block and the headers of the version
//! that owns that block prove its array: the last record-array header of that version
//! before the record. A header is *visible* when its whole line lies in a block the
//! version owns; the others are hidden in the other version's blocks, somewhere between
//! the visible ones in the order of the arrays. The record's array is proven when every
//! placement of the hidden headers that fits the order and the version's hidden byte
//! ranges gives the same last header. So a header seen earlier in the same block proves
//! the records after it; a version whose every header is visible has all its records
//! placed; a version whose last header is visible has all the records after it placed.
//! Nothing here measures or bounds how far apart the two versions' headers lie: the
//! versions may differ by any records inserted, removed or moved before or after them
//! (moving the header of the other version by any amount), and a record is never placed
//! by the other version's headers.
//!
//! Where each version ends decides which version owns the bytes of a block past the
//! shorter one's end. Two document ends visible: the first is the shorter version's, in a
//! block of its own (past it, every byte is the longer version's). Fewer: a record is
//! placed only when the headers of both versions give it the same array.
//!
//! # Limits
//!
//! Writers whose blocks come in runs (`AAB…`) rather than alternating break (1) without
//! a sign in the bytes: a record near the headers may then be placed by the other
//! writer's headers. Compact (one-line) JSON, files without three strong rewinds two
//! blocks apart (versions that differ little, or only near the end), and blocks of
//! 8 KiB get no placement here; their records stay unplaced. A version's own text that
//! repeats 64 bytes across a boundary (two identical records) counts as a rewind.
//!
//! # Where
//!
//! `place` holds the two entry points (placing records, and regrouping the scanner's
//! output by them); `layout` reads the pretty-printed lines, the rewinds and the order of
//! the arrays; `owners` says which version owns a byte; `judge` applies the rule to one
//! candidate record.

use crate::salvage::lex::Span;

mod judge;
mod layout;
mod owners;
mod place;
#[cfg(test)]
mod tests;

pub(crate) use owners::Owners;
pub(crate) use place::apply;

/// One record placed by its version's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlacedRecord {
    /// 0 for the version of the even blocks, 1 for the odd ones.
    pub version: usize,
    pub array: usize,
    pub span: Span,
}

/// What the blocks proved.
#[derive(Debug, Clone, Default)]
pub(crate) struct Placement {
    pub records: Vec<PlacedRecord>,
    /// The key span of a visible header of each record array, if any.
    pub keys: Vec<Option<Span>>,
    /// Who owns each byte of the input.
    pub owners: Owners,
}

/// A line of the pretty-printed text that matters here.
#[derive(Debug, Clone, Copy)]
enum Line {
    Header { array: usize, key: Span },
    End(usize),
    Record(Span),
}

/// The visible headers of one version, as (array, key span), in input order.
#[derive(Debug, Clone, Default)]
struct Visible {
    headers: Vec<(usize, Span)>,
    valid: bool,
}
