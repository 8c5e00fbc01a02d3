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
mod path;
mod reader;
mod record;
mod txn;

pub use frame::{encode, unframe, unframe_unverified, FrameError, Line, Mac, KEY_ID_LABEL};
pub use hex::Digest;
pub use path::{validate_rel_path, PathError};
pub use reader::{
    check_keys, committed_rekey, declared_mac, decode_file, decode_file_unverified,
    decode_file_with_ring, prune_anchor, Chain, ChainError, DecodeError, Entry, ErrorKind,
    FileDecode, KeyError, Tail,
};
pub use record::{
    Abort, Ack, Begin, Body, Checkpoint, Commit, Done, Header, HexBytes, Intent, MacKind, Meta,
    Mode, Node, OpKind, OpOutcome, PlanEntry, ProcessRef, Record, Rekey, RollbackOf, UndoOutcome,
    Xattrs, MAGIC, VERSION,
};
pub use txn::{decide, view, Decision, GrammarError, TxnState, TxnView};

/// File name of a transaction's journal file (SPEC.md, "Files").
pub fn file_name(txn: u64) -> String {
    format!("txn-{txn:010}.jsonl")
}

/// The transaction id a journal file name stands for, if it is one.
pub fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("txn-")?.strip_suffix(".jsonl")?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&t| t > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(file_name(42), "txn-0000000042.jsonl");
        assert_eq!(parse_file_name("txn-0000000042.jsonl"), Some(42));
        for bad in [
            "txn-42.jsonl",
            "txn-0000000000.jsonl",
            "x-0000000042.jsonl",
            "txn-000000004a.jsonl",
        ] {
            assert_eq!(parse_file_name(bad), None, "input: {bad}");
        }
    }
}
