//! Reading the journal: in full by every reader rule, or for a run from its index and
//! newest file when the index holds; the queries the commands make of what was read.

use super::{index, journal_dir, read, Journal, Keys, Problem, RunRecord, Source, TxnFile};
use super::{Facts, Result};
use crate::fsx::Root;
use crate::paths::RelPath;
use journal_format::{Checkpoint, Digest, Mac, TxnState};

impl Journal {
    /// Reads and checks every transaction file (and the run record). Damage is recorded in
    /// `problem`, not returned as an error, so read-only commands can still show what is
    /// there.
    ///
    /// # Errors
    /// I/O errors reading the journal directory or a file.
    pub fn load(root: &Root, mac: Mac) -> Result<Journal> {
        Journal::load_full(root, mac, &[])
    }

    /// Reads the journal for a run (`heal`, `check`, a `watch` cycle): from its index and
    /// newest file when the index holds (SPEC.md section 11), else in full; `positions` are
    /// the layout's positions files (what the facts track).
    ///
    /// # Errors
    /// I/O errors reading the journal directory or a file.
    pub fn load_for_run(root: &Root, mac: Mac, positions: &[String]) -> Result<Journal> {
        let now = chrono::Utc::now();
        if let Some(mut j) = index::open(root, &mac, positions, now)? {
            (j.runs, j.runs_damaged) = RunRecord::load(root, &mac)?;
            tracing::debug!(
                "journal read from its index and newest file (transaction {})",
                j.next_txn().saturating_sub(1)
            );
            return Ok(j);
        }
        let sig = root
            .dir_signature(&journal_dir())
            .map_err(|e| root.explain_denied(e))?;
        let mut j = Journal::load_full(root, mac, positions)?;
        j.settle = index::prepare(root, &j, sig, now);
        tracing::debug!(
            "journal read in full ({} transaction file(s)){}",
            j.ids.len(),
            if j.settle.is_some() {
                "; an index is due"
            } else {
                ""
            }
        );
        Ok(j)
    }

    /// Reads every transaction file, by every rule, with the facts of `positions`.
    ///
    /// # Errors
    /// I/O errors reading the journal directory or a file.
    pub fn load_full(root: &Root, mac: Mac, positions: &[String]) -> Result<Journal> {
        Journal::load_dir(root, &journal_dir(), mac, positions)
    }

    /// Reads the journal directory `dir` (the live one, or one moved aside), read-only.
    ///
    /// # Errors
    /// I/O errors reading the directory or a file.
    pub fn load_dir(root: &Root, dir: &RelPath, mac: Mac, positions: &[String]) -> Result<Journal> {
        Journal::read_dir(root, dir, Keys::own(&mac), positions)
    }

    fn read_dir(
        root: &Root,
        dir: &RelPath,
        keys: Keys<'_>,
        positions: &[String],
    ) -> Result<Journal> {
        let mac = keys.own.clone();
        let mut txns = Vec::new();
        let scanned = read::scan_dir(root, dir, keys, &mut |path, txn, d, verified| {
            txns.push(TxnFile {
                txn,
                path,
                entries: d.entries,
                tail: d.tail,
                verified,
            })
        })?;
        txns.truncate(scanned.trusted);
        let (runs, runs_damaged) = RunRecord::load(root, &mac)?;
        let anchor = scanned.assessment.anchor;
        let leftover = |t: &TxnFile| anchor.is_some_and(|c| t.txn <= c.through_txn);
        let finished = txns
            .iter()
            .filter(|t| !leftover(t) && t.state() != TxnState::Unfinished);
        let facts = Facts::of(finished, positions);
        Ok(Journal {
            torn: scanned.torn(&txns),
            head: scanned.assessment.head.unwrap_or((0, Digest::GENESIS)),
            newest: scanned.ids.last().copied(),
            journal_bytes: None,
            ids: scanned.ids,
            problem: scanned.problem,
            anchor,
            txns,
            facts,
            runs,
            runs_damaged,
            source: Source::Full,
            positions: positions.to_vec(),
            settle: None,
            mac,
        })
    }

    /// Writes the index this run's full read prepared, once the run leaves the journal as
    /// it read it (a run that appended a transaction has changed the directory: its index
    /// would be stale at once). Failing to write it costs only the next run's speed.
    pub fn settle_index(&mut self, root: &Root) {
        let Some(idx) = self.settle.take() else {
            return;
        };
        if let Err(e) = index::write(root, &self.mac, &idx) {
            tracing::warn!(
                "cannot write the journal index: {}",
                crate::error::error_chain(&e)
            );
        }
    }

    /// The size of `logs/backups/` (for the predictions and the size warning). With its
    /// index, the journal's own subtrees are not walked: they have not changed since the
    /// index recorded their size.
    ///
    /// # Errors
    /// I/O errors listing or reading metadata.
    pub fn backups_size(&self, root: &Root) -> Result<u64> {
        match self.journal_bytes {
            Some(cached) => Ok(cached.saturating_add(crate::journal::own_size(
                root,
                &crate::paths::JOURNAL_TREES,
            )?)),
            None => crate::journal::backups_size(root),
        }
    }

    /// Whether transaction `txn` is not in the chain: pruned (its file, if still present,
    /// is a leftover of an interrupted prune) or moved aside by a quarantine.
    pub fn is_leftover(&self, txn: u64) -> bool {
        self.anchor.is_some_and(|c| txn <= c.through_txn)
    }

    /// The transactions that stand: every transaction read except leftovers.
    pub fn kept(&self) -> impl Iterator<Item = &TxnFile> {
        self.txns.iter().filter(|t| !self.is_leftover(t.txn))
    }

    /// Forgets transactions up to `checkpoint.through_txn` after a prune removed their
    /// files, and takes the checkpoint as the anchor.
    pub fn forget_pruned(&mut self, checkpoint: Checkpoint) {
        self.txns.retain(|t| t.txn > checkpoint.through_txn);
        self.ids.retain(|t| *t > checkpoint.through_txn);
        self.anchor = Some(checkpoint);
        self.facts = Facts::of(
            self.txns
                .iter()
                .filter(|t| t.state() != TxnState::Unfinished),
            &self.positions,
        );
    }

    /// The seq and tag the next record chains to.
    pub fn head(&self) -> (u64, Digest) {
        self.head
    }

    /// The id the next transaction gets (it may not fit a file name: [`Journal::begin`]
    /// refuses it then).
    pub fn next_txn(&self) -> u64 {
        match (self.newest, self.anchor) {
            (Some(n), _) => n.saturating_add(1),
            (None, Some(c)) => c.through_txn.saturating_add(1),
            (None, None) => 1,
        }
    }

    /// The transaction `txn`, if present.
    pub fn find(&self, txn: u64) -> Option<&TxnFile> {
        self.txns.iter().find(|t| t.txn == txn)
    }

    /// Why transaction `txn`, whose file is in the journal directory, was not read: it is
    /// at or after the damaged record. `None` when it was read or has no file.
    pub fn unread_after_damage(&self, txn: u64) -> Option<&Problem> {
        let p = self.problem.as_ref()?;
        (self.find(txn).is_none() && self.ids.contains(&txn)).then_some(p)
    }

    /// The newest transaction, if it is unfinished.
    pub fn unfinished(&self) -> Option<&TxnFile> {
        self.txns
            .last()
            .filter(|t| t.state() == TxnState::Unfinished)
    }

    /// The tag algorithm for new records.
    pub fn mac(&self) -> &Mac {
        &self.mac
    }

    /// The positions files the facts track.
    pub fn positions(&self) -> &[String] {
        &self.positions
    }
}
