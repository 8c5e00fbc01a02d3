//! What a `watch` cycle takes over from the last one instead of reading it again, each
//! keyed by the metadata of what it was read from: the loaded journal (and the history the
//! predictions draw from it) while nothing in `logs/backups/journal/` changed, the size of
//! selfheal's part of `logs/backups/` while the journal did not change either (selfheal
//! writes there only within a journaled transaction, a prune or a recovery), and the recent
//! lines of the alert log while the log did not change. A cycle that has no finding to
//! alert does not look at the alert log at all.
//!
//! The journal is only ever written by a selfheal holding selfheal's lock, which a cycle
//! holds from before its journal is looked at until it ends; a journal taken over is
//! dropped after any cycle that may have changed it (a recovery, a transaction).

use super::carry::RACY;
use crate::alerts::{Batch, Recent};
use crate::config::Layout;
use crate::error::Result;
use crate::findings::Finding;
use crate::fsx::{Entry, Root, Stat};
use crate::journal::history::History;
use crate::journal::Journal;
use crate::mode::Mode;
use crate::paths::RelPath;
use crate::paths::JOURNAL_DIR;
use journal_format::Mac;
use std::time::{SystemTime, UNIX_EPOCH};

/// The metadata of a directory and of every entry in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirState {
    dir: Option<Stat>,
    entries: Vec<(String, Option<Stat>)>,
}

impl DirState {
    /// The state of `dir` now (an absent directory has no entries).
    ///
    /// # Errors
    /// I/O errors listing the directory or statting an entry.
    pub fn of(root: &Root, dir: &RelPath) -> Result<DirState> {
        let stat = match root.entry(dir)? {
            Entry::Present(st) => Some(st),
            _ => None,
        };
        let mut entries = Vec::new();
        for e in root.list(Some(dir))? {
            let st = match dir.join(&e.name) {
                Ok(rel) if e.utf8 => match root.entry(&rel)? {
                    Entry::Present(st) => Some(st),
                    _ => None,
                },
                _ => None,
            };
            entries.push((e.name, st));
        }
        Ok(DirState { dir: stat, entries })
    }

    /// Whether the directory and every entry had a ctime more than [`RACY`] before
    /// `taken`, when this state was taken (see `carry`): a write after that cannot leave
    /// their metadata as it was.
    fn settled(&self, taken: SystemTime) -> bool {
        let taken = taken
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let racy = i64::try_from(RACY.as_secs()).unwrap_or(i64::MAX);
        // Whole seconds: a ctime in the same second as `taken - RACY` counts as recent.
        let old = |st: &Stat| st.ctime_sec.saturating_add(racy) < taken;
        self.dir.as_ref().is_none_or(old)
            && self.entries.iter().all(|(_, s)| s.as_ref().is_none_or(old))
    }
}

/// The journal of a cycle, with the state of its directory when it was loaded.
pub struct Loaded {
    /// The journal directory when the cycle began.
    pub key: DirState,
    /// When `key` was taken.
    taken: SystemTime,
    /// The journal.
    pub journal: Journal,
    /// The predictions' history drawn from it, once computed.
    pub history: Option<History>,
}

/// What `watch` takes over between cycles.
#[derive(Default)]
pub struct Reuse {
    journal: Option<Loaded>,
    backups: Option<(DirState, u64)>,
    alerts: Option<(Stat, Recent)>,
}

impl Reuse {
    /// The journal for cycle `n`: the last cycle's when its directory did not change
    /// (unless `fresh`), else loaded.
    ///
    /// # Errors
    /// I/O errors reading the journal.
    pub fn journal(
        &mut self,
        root: &Root,
        mac: &Mac,
        positions: &[String],
        (n, fresh): (u64, bool),
    ) -> Result<Loaded> {
        let taken = SystemTime::now();
        let key = DirState::of(root, &RelPath::new(JOURNAL_DIR)?)?;
        match self.journal.take() {
            Some(l) if !fresh && l.key == key => {
                tracing::debug!("cycle {n}: the journal is unchanged: not read");
                Ok(Loaded { taken, ..l })
            }
            _ => Ok(Loaded {
                journal: Journal::load_for_run(root, mac.clone(), positions)?,
                key,
                taken,
                history: None,
            }),
        }
    }

    /// Keeps the journal of a cycle that did not change it, for the next one.
    pub fn keep_journal(&mut self, loaded: Loaded) {
        if loaded.key.settled(loaded.taken) {
            self.journal = Some(loaded);
        }
    }

    /// The size of selfheal's part of `logs/backups/`: the last one measured while the
    /// journal stays as `key` says, unless `fresh`.
    pub fn backups_size(&mut self, root: &Root, key: &DirState, fresh: bool) -> Option<u64> {
        if let Some((k, size)) = &self.backups {
            if !fresh && k == key {
                return Some(*size);
            }
        }
        let size = crate::journal::backups_size(root).ok();
        self.backups = size.map(|s| (key.clone(), s));
        size
    }

    /// Which of `findings` to append to the alert log: the log is read only when there is
    /// something to alert and it changed since it was last read (or `fresh`).
    pub fn alerts(
        &mut self,
        root: &Root,
        layout: &Layout,
        (findings, mode): (&[Finding], Mode),
        (n, fresh): (u64, bool),
    ) -> Batch {
        if findings.is_empty() {
            return Batch::prepare_from(&Recent::default(), layout, findings, mode);
        }
        let stat = match root.entry(&layout.alerts_file) {
            Ok(Entry::Present(st)) => Some(st),
            _ => None,
        };
        let known = match (&self.alerts, stat) {
            (Some((k, recent)), Some(st)) if !fresh && *k == st => Some(recent),
            _ => None,
        };
        if let Some(recent) = known {
            tracing::debug!("cycle {n}: the alert log is unchanged: not read");
            return Batch::prepare_from(recent, layout, findings, mode);
        }
        let recent = Recent::read(root, layout);
        let batch = Batch::prepare_from(&recent, layout, findings, mode);
        self.alerts = stat.map(|st| (st, recent));
        batch
    }
}
