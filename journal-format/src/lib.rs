//! The on-disk journal of selfheal: record types, line framing, tags, the hash chain, the
//! reader rules and the recovery decision table. No filesystem code lives here: every
//! function takes and returns bytes or values, so the format can be tested with vectors and
//! fuzzed. `SPEC.md` beside this crate is the single source of truth for the format; the
//! items here implement its sections.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
#![warn(missing_docs)]

mod frame;
#[doc(hidden)]
pub mod fuzzing;
mod hex;
mod journal;
mod object;
mod path;
mod reader;
mod record;
mod summary;
mod txn;

pub use frame::{encode, unframe, unframe_unverified, FrameError, Line, Mac, KEY_ID_LABEL};
pub use hex::Digest;
pub use journal::{assess, Assessment, Fault, FaultAt, FileSummary, MAX_TXN};
pub use object::{
    check_delta, delta_window_log, delta_worth, parse_object, DeltaHeader, ObjectError, ObjectKind,
    DELTA_HEADER_LEN, DELTA_KIND_PREFIX, DELTA_MAGIC, DELTA_MIN, DELTA_PAYLOAD_LEN, MAX_BASE_RATIO,
};
pub use path::{validate_rel_path, PathError};
pub use reader::{
    check_keys, committed_rekey, declared_mac, decode_file, decode_file_unverified,
    decode_file_with_ring, file_anchor, key_for, prune_anchor, Chain, ChainError, DecodeError,
    Decoder, Entry, ErrorKind, FileDecode, KeyError, Tail, MAX_RECORDS_BYTES,
};
pub use record::{
    Abort, Ack, Begin, Body, Checkpoint, Commit, Done, Header, HexBytes, Intent, MacKind, Meta,
    Node, OpKind, OpOutcome, Perms, PlanEntry, ProcessRef, Quarantine, Record, Rekey, RollbackOf,
    UndoOutcome, Xattrs, MAGIC, VERSION,
};
pub use summary::{Critical, RunSummary, SalvageEntry, RUN_COMMANDS};
pub use txn::{decide, view, Decision, GrammarError, TxnState, TxnView};

/// File name of a transaction's journal file (SPEC.md, "Files"): `txn-`, the id in exactly
/// 10 digits, `.jsonl`. An id over [`MAX_TXN`] has no file name: writers refuse it
/// ([`fits`]) before anything is written.
pub fn file_name(txn: u64) -> String {
    format!("txn-{txn:010}.jsonl")
}

/// Whether transaction `txn` has a file name (1 to [`MAX_TXN`]).
pub fn fits(txn: u64) -> bool {
    (1..=MAX_TXN).contains(&txn)
}

/// The transaction id a journal file name stands for, if it is one: exactly `txn-`, 10
/// ASCII digits and `.jsonl`, naming an id from 1 (every other name is not a journal file).
pub fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("txn-")?.strip_suffix(".jsonl")?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&t| fits(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(file_name(42), "txn-0000000042.jsonl");
        assert_eq!(parse_file_name("txn-0000000042.jsonl"), Some(42));
        assert_eq!(parse_file_name("txn-9999999999.jsonl"), Some(MAX_TXN));
        assert!(fits(MAX_TXN) && !fits(MAX_TXN + 1) && !fits(0));
        for bad in [
            "txn-42.jsonl",
            "txn-0000000000.jsonl",
            "x-0000000042.jsonl",
            "txn-000000004a.jsonl",
            "txn-10000000000.jsonl",
            "txn-0000000042.jsonl.bak",
            "txn-+000000042.jsonl",
        ] {
            assert_eq!(parse_file_name(bad), None, "input: {bad}");
        }
    }
}
