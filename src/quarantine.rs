//! The way out of a damaged journal (SPEC.md section 10, "Quarantine"):
//! `selfheal journal quarantine` moves the whole journal directory aside to
//! `logs/backups/quarantine/<time>/`, keeps every backup object, and starts a new chain
//! whose first transaction (command `quarantine`) names where the old one went and the last
//! record of it that verified; its header continues from that record, so the new chain is
//! anchored to what was moved. What the startup checks still need from the verified part —
//! unacknowledged lossy salvages, the positions files known to exist, the metrics — is
//! carried in its commit summary.
//!
//! Write order, under the lock: the new chain's transaction is written, complete and
//! durable, in a fresh directory under `quarantine/`; then that directory and the journal
//! directory swap places in one atomic step (`renameat2(RENAME_EXCHANGE)`), and both parents
//! are fsynced. Before the swap the journal is untouched (a prepared directory left by a
//! crash is removed by the next quarantine); after it, the new chain stands.
//!
//! Also: finding a transaction of a journal moved aside (a rollback of it reads that
//! directory read-only, verified up to its damaged record), the backup objects those
//! journals still need, and the quarantined journals retention may remove.

use crate::error::{Error, Result};
use crate::fsx::{Kind, Root};
use crate::journal::totals::Totals;
use crate::journal::{self, Facts, Journal, Writer};
use crate::paths::RelPath;
use crate::paths::{JOURNAL_DIR, QUARANTINE_DIR};
use journal_format::{self as jf, Begin, Body, Commit, Digest, Mac, TxnState};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// What `journal quarantine` did.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantineReport {
    /// Where the damaged journal now is, relative to the root.
    pub moved_to: String,
    /// The first transaction of the new chain.
    pub transaction: u64,
    /// The newest transaction id moved.
    pub through_txn: u64,
    /// The transaction holding the last record that verified, if any did.
    pub last_good_txn: Option<u64>,
    /// The problem that made the journal untrustworthy.
    pub problem: String,
    /// Transaction files moved (every entry of the directory moved with them).
    pub files_moved: usize,
    /// Lossy salvages still awaiting `selfheal ack`, carried into the new chain.
    pub pending_acks: Vec<u64>,
}

/// Moves a damaged journal aside and starts the new chain (`journal quarantine`), with
/// selfheal's lock held by the caller; `positions`: the layout's positions files.
///
/// # Errors
/// [`Error::Refused`] when there is nothing to quarantine (the journal verifies), when the
/// journal is of an unknown version, or when an interrupted transaction would be abandoned;
/// I/O errors.
pub fn quarantine(root: &Root, mac: &Mac, positions: &[String]) -> Result<QuarantineReport> {
    let j = Journal::load_full(root, mac.clone(), positions)?;
    let problem = refuse_unless_damaged(root, &j)?;
    remove_abandoned(root, j.ids.last().copied().unwrap_or(0))?;
    let plan = Plan::of(root, &j, problem)?;
    let dir = prepare(root, mac, &plan)?;
    // ORDER: the new chain is complete and durable before it takes the journal's place.
    root.exchange_dirs(&RelPath::new(JOURNAL_DIR)?, &dir)
        .map_err(|e| root.explain_denied(e))?;
    Ok(QuarantineReport {
        moved_to: dir.to_string(),
        transaction: plan.txn,
        through_txn: plan.through_txn,
        last_good_txn: plan.last_good_txn,
        problem: plan.problem,
        files_moved: j.ids.len(),
        pending_acks: j.facts.pending.iter().map(|p| p.txn).collect(),
    })
}

/// The problem to quarantine, or why there is none.
fn refuse_unless_damaged(root: &Root, j: &Journal) -> Result<String> {
    let problem = match &j.problem {
        Some(journal::Problem::Version { .. }) => {
            let e = j.problem.as_ref().map(|p| p.to_error(root));
            return Err(Error::Refused(format!(
                "{}: it belongs to another selfheal, not damage; nothing was moved",
                e.map(|e| e.to_string()).unwrap_or_default()
            )));
        }
        Some(p) => p.describe(),
        None if !jf::fits(j.next_txn()) => "transaction ids are used up".to_string(),
        None => {
            return Err(Error::Refused(
                "the journal verifies: there is nothing to quarantine".into(),
            ))
        }
    };
    if let Some(t) = j
        .unfinished()
        .filter(|t| !crate::recovery::intents_of(t).is_empty())
    {
        return Err(Error::Refused(format!(
            "transaction {} was interrupted and recovery cannot run on a damaged journal ({problem}); moving the journal aside would abandon its undo: restore or remove the damaged entry by hand, then run recovery",
            t.txn
        )));
    }
    Ok(problem)
}

/// What the new chain starts from.
struct Plan {
    txn: u64,
    through_txn: u64,
    head: (u64, Digest),
    last_good_txn: Option<u64>,
    problem: String,
    summary: Value,
}

impl Plan {
    fn of(root: &Root, j: &Journal, problem: String) -> Result<Plan> {
        let kept: Vec<&journal::TxnFile> = j.kept().collect();
        let last = kept
            .iter()
            .rev()
            .find_map(|t| t.entries.last().map(|e| (t.txn, e)));
        let head = match (last, j.anchor) {
            (Some((_, e)), _) => (e.record.seq, e.tag),
            (None, Some(c)) => (c.seq, c.hash),
            (None, None) => (0, Digest::GENESIS),
        };
        let through_txn = newest_moved(root, j)?;
        let txn = through_txn.saturating_add(1);
        if !jf::fits(txn) {
            return Err(Error::Refused(format!(
                "the damaged journal holds transaction {through_txn}, the last id a journal file name can hold: remove that file by hand if it is not selfheal's, then run this again"
            )));
        }
        let finished = kept
            .iter()
            .copied()
            .filter(|t| t.state() != TxnState::Unfinished);
        let summary = carried(
            j,
            Totals::of(kept.iter().copied()),
            &Facts::of(finished, j.positions()),
        );
        Ok(Plan {
            txn,
            through_txn,
            head,
            last_good_txn: last.map(|(t, _)| t),
            problem,
            summary,
        })
    }
}

/// The highest id among the moved files that hold anything (an empty file reserves no id:
/// a stray empty `txn-9999999999.jsonl` must not use the ids up).
fn newest_moved(root: &Root, j: &Journal) -> Result<u64> {
    let mut newest = j.anchor.map_or(0, |c| c.through_txn);
    for id in &j.ids {
        let rel = RelPath::new(JOURNAL_DIR)?.join(&jf::file_name(*id))?;
        if matches!(root.entry(&rel)?, crate::fsx::Entry::Present(st) if st.size > 0) {
            newest = newest.max(*id);
        }
    }
    Ok(newest)
}

/// The commit summary of the quarantine: what the new chain must still know.
fn carried(j: &Journal, totals: Totals, facts: &Facts) -> Value {
    let salvage: Vec<Value> = facts
        .pending
        .iter()
        .map(|p| {
            json!({"path": p.paths.first(), "paths": p.paths, "records_lost": p.records_lost,
                   "ambiguous": p.ambiguous, "accepted": false, "from_txn": p.txn})
        })
        .collect();
    let known: Vec<&String> = facts
        .known
        .iter()
        .filter(|(_, k)| k.present)
        .map(|(p, _)| p)
        .collect();
    json!({
        "problem": j.problem.as_ref().map(journal::Problem::describe),
        "carried": totals,
        "salvage": salvage,
        crate::journal::known::KNOWN_FILES: known,
        "files_moved": j.ids.len(),
    })
}

/// Writes the new chain's first transaction in a fresh directory under `quarantine/`.
fn prepare(root: &Root, mac: &Mac, plan: &Plan) -> Result<RelPath> {
    let parent = RelPath::new(QUARANTINE_DIR)?;
    root.ensure_dir(&parent, 0o700)?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
    let dir = parent.join(&stamp)?;
    if !root.ensure_dir(&dir, 0o700)? {
        return Err(Error::Refused(format!(
            "{dir} already exists: run this again in a moment"
        )));
    }
    let path = dir.join(&jf::file_name(plan.txn))?;
    let mut w = Writer::start(root, &path, plan.txn, plan.head, mac.clone())?;
    let record = jf::Quarantine {
        moved_to: dir.to_string(),
        through_txn: plan.through_txn,
        seq: plan.head.0,
        hash: plan.head.1,
        last_good_txn: plan.last_good_txn,
        problem: plan.problem.clone(),
    };
    let begin = Begin {
        command: "quarantine".into(),
        mode: None,
        pid: std::process::id(),
        plan: Vec::new(),
    };
    w.append_many(
        vec![
            Writer::header(mac),
            Body::Begin(begin),
            Body::Quarantine(record),
            Body::Commit(Commit {
                summary: plan.summary.clone(),
            }),
        ],
        true,
    )?;
    root.sync_dir(&dir)?;
    Ok(dir)
}

/// The journals moved aside, oldest first (their directories under `quarantine/`).
///
/// # Errors
/// I/O errors listing `quarantine/`.
pub fn moved_journals(root: &Root) -> Result<Vec<RelPath>> {
    let parent = RelPath::new(QUARANTINE_DIR)?;
    let mut out = Vec::new();
    for e in root.list(Some(&parent))? {
        if e.kind == Kind::Dir && e.utf8 && !e.name.starts_with(crate::fsx::TMP_PREFIX) {
            out.push(parent.join(&e.name)?);
        }
    }
    Ok(out)
}

/// Removes the directories a quarantine prepared and never swapped in (a crash before the
/// swap): empty, or holding only the file of one transaction newer than every transaction
/// of the live journal (`newest`). A journal moved aside holds only older ones.
fn remove_abandoned(root: &Root, newest: u64) -> Result<()> {
    for dir in moved_journals(root)? {
        let entries = root.list(Some(&dir))?;
        let abandoned = match entries.as_slice() {
            [] => true,
            [only] => jf::parse_file_name(&only.name).is_some_and(|t| t > newest),
            _ => false,
        };
        if abandoned {
            root.remove_tree(&dir)?;
        }
    }
    Ok(())
}

/// A journal moved aside holding transaction `txn`, read by the reader rules up to its
/// damage, when `txn` is in its verified part.
///
/// # Errors
/// [`Error::Refused`] when `txn`'s file is there but at or after the damaged record; I/O
/// errors.
pub fn find(root: &Root, mac: &Mac, txn: u64) -> Result<Option<Journal>> {
    for dir in moved_journals(root)?.into_iter().rev() {
        let rel = dir.join(&jf::file_name(txn))?;
        if matches!(root.entry(&rel)?, crate::fsx::Entry::Absent) {
            continue;
        }
        let old = Journal::load_dir(root, &dir, mac.clone(), &[])?;
        if old.kept().any(|t| t.txn == txn) {
            return Ok(Some(old));
        }
        let at = old.problem.as_ref().map_or_else(
            || "its damaged record".to_string(),
            journal::Problem::location,
        );
        return Err(Error::Refused(format!(
            "transaction {txn} is in the journal moved aside to {dir}, at or after the damaged record ({at}): its records cannot be trusted, so it cannot be rolled back"
        )));
    }
    Ok(None)
}

/// The backup objects the journals moved aside still name (every record that decodes,
/// damaged or not): kept by retention while those journals are kept.
///
/// # Errors
/// I/O errors reading them.
pub fn needed_objects(root: &Root, mac: &Mac) -> Result<BTreeSet<Digest>> {
    let mut out = BTreeSet::new();
    for dir in moved_journals(root)? {
        for e in root.list(Some(&dir))? {
            let Some(txn) = jf::parse_file_name(&e.name).filter(|_| e.kind == Kind::File) else {
                continue;
            };
            let path = dir.join(&e.name)?;
            for entry in journal::entries_up_to_damage(root, &path, txn, mac)? {
                if let Body::Intent(i) = &entry.record.body {
                    out.extend(i.object);
                    for node in [&i.before, &i.after] {
                        if let jf::Node::File { sha256, .. } = node {
                            out.insert(*sha256);
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// When a journal was moved aside, from its directory name (`YYYYMMDDTHHMMSS.mmmZ`).
pub fn moved_at(dir: &RelPath) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::NaiveDateTime::parse_from_str(dir.file_name(), "%Y%m%dT%H%M%S%.3fZ")
        .ok()
        .map(|t| t.and_utc())
}
