//! The journal index (`logs/backups/meta/index.jsonl`, SPEC.md section 11): what a full
//! read of the journal found — its head (the newest transaction, the seq, tag and size of
//! its file), its anchor, the facts the startup checks need — with the signature of the
//! journal directory it was read from. A run whose index still holds reads the index and
//! the newest file only, so its cost does not grow with the journal:
//!
//! - the index's tag verifies, with the journal's algorithm, for the same positions files;
//! - the journal directory has the signature recorded (no entry created, removed or
//!   renamed since), and that signature was at least [`SETTLE_NS`] older than the listing
//!   (a change within the resolution of the filesystem's timestamps cannot hide);
//! - the newest file is unchanged: same size, its last record the recorded tag;
//! - the full read was less than [`FULL_VERIFY_S`] ago.
//!
//! Otherwise the run reads everything (and, if it leaves the journal as it read it, writes
//! a new index). Damage to an older file in place, which no signature shows, is therefore
//! found by the next full read: within an hour, at the next run after any transaction, and
//! by every `journal verify`.

use super::facts::Facts;
use super::meta::{self, Framed};
use super::{journal_dir, Journal, Source, TxnFile};
use crate::error::Result;
use crate::fsx::{DirSig, Root};
use crate::paths::RelPath;
use journal_format::{self as jf, Checkpoint, Digest, Mac, MacKind, TxnState};
use serde::{Deserialize, Serialize};

/// Where the index lives.
pub const INDEX_FILE: &str = "logs/backups/meta/index.jsonl";
/// How much older than the listing the directory's change time must be (nanoseconds).
pub const SETTLE_NS: i128 = 2_000_000_000;
/// How long a full read holds (seconds).
pub const FULL_VERIFY_S: i64 = 3600;

/// The index's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Index {
    v: u32,
    kind: String,
    dir: DirSig,
    listed_at_ns: i128,
    verified_at: i64,
    positions: Vec<String>,
    mac: MacKind,
    head_txn: u64,
    head_seq: u64,
    head_tag: Digest,
    head_size: u64,
    anchor: Option<Checkpoint>,
    facts: Facts,
    /// The size of the subtrees that change only with the journal (`prune::JOURNAL_TREES`).
    journal_bytes: u64,
}

fn now_ns(now: chrono::DateTime<chrono::Utc>) -> i128 {
    i128::from(now.timestamp()) * 1_000_000_000 + i128::from(now.timestamp_subsec_nanos())
}

/// The index a full read of `j` allows, when it allows one: no problem, no torn tail, no
/// leftovers, the newest transaction finished, and the directory settled.
pub(super) fn prepare(
    root: &Root,
    j: &Journal,
    sig: Option<DirSig>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Index> {
    let sig = sig?;
    let listed_at_ns = now_ns(now);
    let head = j.txns.last()?;
    let clean = j.problem.is_none()
        && j.torn.is_none()
        && j.runs_damaged.is_none()
        && head.state() != TxnState::Unfinished
        && !j.txns.iter().any(|t| j.is_leftover(t.txn))
        && listed_at_ns - sig.ctime_ns >= SETTLE_NS;
    if !clean {
        return None;
    }
    let journal_bytes = crate::paths::JOURNAL_TREES
        .iter()
        .map(|t| {
            let rel = RelPath::new(*t).ok()?;
            crate::fsx::tree_size(root, &rel, &[]).ok()
        })
        .sum::<Option<u64>>()?;
    let (head_seq, head_tag) = j.head;
    Some(Index {
        v: 1,
        kind: "index".into(),
        dir: sig,
        listed_at_ns,
        verified_at: now.timestamp(),
        positions: j.positions.clone(),
        mac: j.mac.kind(),
        head_txn: head.txn,
        head_seq,
        head_tag,
        head_size: last_offset(head),
        anchor: j.anchor,
        facts: j.facts.clone(),
        journal_bytes,
    })
}

/// Where the last record of a finished, clean file starts.
fn last_offset(t: &TxnFile) -> u64 {
    t.entries.last().map_or(0, |e| e.offset)
}

/// Writes the index, durably.
pub(super) fn write(root: &Root, mac: &Mac, idx: &Index) -> Result<()> {
    let body = serde_json::to_vec(idx).unwrap_or_default();
    meta::write(root, &RelPath::new(INDEX_FILE)?, mac, &body)
}

/// The journal as the index and the newest file give it, when the index holds.
pub(super) fn open(
    root: &Root,
    mac: &Mac,
    positions: &[String],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Journal>> {
    let Framed::Body(body) = meta::read(root, &RelPath::new(INDEX_FILE)?, mac)? else {
        return Ok(None);
    };
    let Ok(idx) = serde_json::from_slice::<Index>(&body) else {
        return Ok(None);
    };
    let age = now.timestamp() - idx.verified_at;
    let fresh = idx.v == 1
        && idx.kind == "index"
        && idx.mac == mac.kind()
        && idx.positions == positions
        && (0..FULL_VERIFY_S).contains(&age)
        && idx.listed_at_ns - idx.dir.ctime_ns >= SETTLE_NS
        && root.dir_signature(&journal_dir())? == Some(idx.dir);
    if !fresh {
        return Ok(None);
    }
    let Some(head) = head_file(root, mac, &idx)? else {
        return Ok(None);
    };
    Ok(Some(Journal {
        txns: vec![head],
        problem: None,
        torn: None,
        anchor: idx.anchor,
        ids: Vec::new(),
        facts: idx.facts,
        runs: super::RunRecord::default(),
        runs_damaged: None,
        source: Source::Index,
        head: (idx.head_seq, idx.head_tag),
        newest: Some(idx.head_txn),
        journal_bytes: Some(idx.journal_bytes),
        positions: positions.to_vec(),
        settle: None,
        mac: mac.clone(),
    }))
}

/// The newest file, when it is exactly as the index recorded it.
fn head_file(root: &Root, mac: &Mac, idx: &Index) -> Result<Option<TxnFile>> {
    let path = journal_dir().join(&jf::file_name(idx.head_txn))?;
    let mut found = None;
    super::read::scan_one(root, &path, idx.head_txn, mac, &mut |d| found = Some(d))?;
    let Some(d) = found else { return Ok(None) };
    let t = TxnFile {
        txn: idx.head_txn,
        path,
        entries: d.entries,
        tail: d.tail,
        verified: true,
    };
    let same = t.tail == jf::Tail::Clean
        && t.state() != TxnState::Unfinished
        && t.entries.last().map(|e| (e.record.seq, e.tag)) == Some((idx.head_seq, idx.head_tag))
        && last_offset(&t) == idx.head_size;
    Ok(same.then_some(t))
}
