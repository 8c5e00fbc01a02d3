//! JSON salvage: keeps every record that survives intact in damaged bytes, verbatim, and
//! nothing else. Pure: takes bytes, never a path; never panics; linear time; memory about
//! the size of the input; no recursion.
//!
//! # What it keeps
//!
//! The input is read as a top-level object whose [`Schema::record_arrays`] are arrays of
//! records. A record (an array element) is kept only when its closing byte is in the input,
//! its exact bytes are valid JSON on their own (UTF-8, RFC 8259 grammar plus the `NaN`,
//! `Infinity` and `-Infinity` of Python's dialect, which the state files' writer uses and
//! which are kept byte for byte like any number: `crate::pyjson`), it is followed
//! by `,`, `]`, garbage or the end of the input (never by other JSON text, which would mean
//! its closing byte came from a second text spliced in), and the scan
//! followed the skeleton without damage from the array's header `"KEY": [` to the record,
//! so that its array is known. It is copied from the input byte for byte: `100.10` stays
//! `100.10`, key order and unknown fields stay. Intact top-level values are copied the same
//! way; missing required keys are restored from their defaults and appended. A valid
//! document of the shape is returned unchanged ([`Outcome::Intact`]); the output of a
//! salvage is always such a document, so salvaging it again changes nothing.
//!
//! # What it refuses to guess
//!
//! After damage (garbage, a cut, a splice) the scanner does not know which array the next
//! bytes belong to: a garbage block may have eaten `], "closed_positions": [`. Context
//! comes back at an *anchor*, a record-array header preceded by `{` or `,`. The records
//! between the damage and the anchor are put back into the array the damage hit only when
//! the bytes prove it (`resume.rs`): they form an unbroken chain `{..}, {..}]`, what
//! follows is the rest of the top-level object ending at the next record-array header
//! (or at the document's `}` followed by nothing but padding, with the records starting
//! with the same key as the records kept before and the members after them not being
//! record keys), every other record array of the shape was already seen (so none can be
//! hidden in the damage), and nothing hints at a second version. Otherwise they are
//! *unplaced*: counted as lost and listed by byte range, never put into an array. A
//! record cut by the end of the input is lost, never completed.
//!
//! # Versions
//!
//! Two writers leave more than one version of the document in one file. A new version is
//! recognised at (1) a second top-level `{` after a complete document, or a document header
//! `{"KEY": [` after damage; (2) a top-level key repeated within one object; (3) a damaged
//! region holding a record identical to one already kept, or (4) a damaged region where
//! the text after a 4 KiB boundary repeats, in full, the text between some earlier point
//! (at most 8 KiB back, at least 16 bytes) and the boundary: two writers interleaving
//! blocks rewind the text at a boundary whenever their versions differ in length before
//! it. Each such region counts as one more version (a fragment). When the text rewinds at
//! any 4 KiB boundary of an input that is not valid JSON, the blocks are taken to be
//! interleaved: a record straddling a boundary may be two writers' texts spliced into
//! something that parses (`"timtime_exit"`), and the bytes after a boundary may be the
//! other writer's, so the scanner keeps nothing outside the block where it learned its
//! context (a document start or a header). The records lying wholly inside one block are
//! then placed by `blocks` when the headers of the writer owning that block prove
//! their array: blocks alternate between the two writers (checked: strong rewinds two
//! blocks apart), the text is pretty-printed (a line's indentation gives its depth), and
//! a record is placed only when every position the writer's hidden headers could take
//! gives it the same array. A record is never placed by the other writer's headers, and
//! no bound on how far the writers' headers lie apart is assumed: two writers' versions
//! may differ by any records inserted, removed or moved on either side of a header. The
//! output then merges the versions: per array, the records of
//! each version in order, a record identical across versions once (as often as the
//! version holding it most often), and the outcome is [`Outcome::Ambiguous`].
//!
//! Limits, honestly: interleaved blocks whose versions never differ in length before a
//! boundary leave no rewind and read as one damaged version (`Lossy`, not `Ambiguous`);
//! there, as with a splice at any other block size, a splice inside a string or number of
//! a record can yield a record that parses though no writer wrote it. A splice inside one
//! record is undetectable without a checksum, like a flipped digit. Interleaved files keep
//! only records inside one block, and beyond those after a header in the same block only
//! when the model of `blocks` holds: compact JSON, blocks of 8 KiB, writers whose
//! blocks come in runs rather than alternating, versions that never rewind 64 bytes at
//! boundaries two blocks apart, a writer none of whose headers is visible, and a shorter
//! version whose end hides in the other's block (then both writers' headers must agree)
//! keep fewer; writers whose blocks come in runs can defeat the placement near the
//! headers. A record that itself contains a key named like
//! a record array followed by `[` is taken for a document header when the input is
//! damaged (when the whole input is valid JSON it is just content). A document whose first
//! key is not a record array and that starts right after damage loses the keys before its
//! first record array. Garbage long enough to hide the end of one document and the
//! start of another whose arrays come in a different order, or a top-level array that is
//! not in the shape, can defeat the proof above. Numbers out of range, lone surrogates and nesting deeper than
//! `serde_json::Value` accepts are valid JSON and are kept; judging them is for the checks.
//!
//! # Cost
//!
//! One forward pass with `memchr` over the skeleton and strings, plus one validation pass
//! (`serde_json` into `IgnoredAny`, after `crate::pyjson` stood a same-length number in for
//! each non-finite token) over each kept value's bytes. Damaged regions are
//! scanned once more. Bracket depth is a counter, never a recursion or a stack per level,
//! except in damaged regions where a stack of open brackets is kept (bounded by the input).
//! The rewind check reads the whole input once more (`memmem` in the 8 KiB before each
//! 4 KiB boundary), and so does the search for anchors.
//!
//! A caller that scanned the input strictly first hands over what that scan completed
//! ([`Skeleton`]: the values it validated, in runs of consecutive array elements), and
//! [`rebuild`] scans only from where that scan stopped: a handed-over value is neither
//! scanned for its end nor validated, and a run is kept whole without reading its bytes,
//! up to an element holding an anchor-like key (which the scan takes for damage) or the
//! run's last element (whose end is checked). Every decision (versions, rewinds, anchors,
//! placement) is the one the full scan makes; the fuzz checks compare the two on every
//! input. The document is emitted as pieces of the input ([`Output`]): nothing is copied,
//! the memory it takes is the skeleton bytes it writes itself and one entry per piece, and
//! a reader writes or hashes it piece by piece.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod anchor;
mod api;
mod blocks;
mod emit;
mod evidence;
mod lex;
mod lost;
mod output;
mod report;
mod resume;
mod scan;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

pub use api::{
    block_rewinds, rebuild, record_spans, salvage, salvage_validated, KeptRecord, Rebuilt,
    Salvaged, Schema, Skeleton,
};
pub use emit::Member;
pub use output::Output;
pub use report::{
    ArrayReport, ByteRange, Damage, DamagedRange, FormRepairs, Outcome, SalvageReport,
    VersionEvidence, VersionReport,
};
