//! What the predictions (`predict`) read from the journal: per-series samples from commit summaries and the run record
//! (thinned to one per [`SAMPLE_GAP_S`], windowed to [`WINDOW_S`]), what a running `watch`
//! measured, and the heals of the last [`FLAP_WINDOW_S`] (at most [`MAX_HEALS`]).

use super::Journal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Samples older than this are ignored, and a forecast looks this far ahead (seconds).
pub const WINDOW_S: i64 = 24 * 3600;
/// How far back healing the same path counts as flapping (seconds).
pub const FLAP_WINDOW_S: i64 = 3600;
/// Samples of the history closer than this to the previous one kept are dropped (seconds).
pub const SAMPLE_GAP_S: i64 = 600;
/// At most this many heals within [`FLAP_WINDOW_S`] are kept (the oldest go first).
pub const MAX_HEALS: usize = 10_000;
/// The member of a commit summary holding free bytes where the backups live.
pub const DISK_FREE_KEY: &str = "disk_free";
/// The member of a commit summary holding the size of `logs/backups/`.
pub const BACKUPS_BYTES_KEY: &str = "backups_bytes";

/// One measurement at a time (epoch seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// When.
    pub at: i64,
    /// Bytes.
    pub value: u64,
}

/// A path healed by a committed transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healed {
    /// The transaction.
    pub txn: u64,
    /// When it committed (epoch seconds).
    pub at: i64,
    /// The path.
    pub path: String,
}

/// What the predictions know of the past.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Free bytes where the backups live.
    pub disk_free: Vec<Sample>,
    /// Size of `logs/backups/`.
    pub backups_bytes: Vec<Sample>,
    /// Paths healed.
    pub heals: Vec<Healed>,
    /// When the oldest run the journal knows of began (epoch seconds), carried across
    /// prunes; none on a root without runs.
    pub since: Option<i64>,
}

/// What the current run measured (`None`: could not be measured).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measured {
    /// Free bytes where the backups live.
    pub disk_free: Option<u64>,
    /// Size of `logs/backups/`.
    pub backups_bytes: Option<u64>,
}

impl History {
    /// The samples and heals of the committed `heal` and `watch` transactions of `journal`
    /// (its facts, thinned as [`History::add_run`] says), and the samples of the runs that
    /// wrote no transaction (the run record).
    pub fn from_journal(journal: &Journal) -> History {
        let mut h = journal.facts.history.clone();
        h.merge(&journal.runs.history);
        h
    }

    /// Takes in a committed `heal` or `watch` transaction that committed at `at`: its samples,
    /// each kept only when at least [`SAMPLE_GAP_S`] after the previous one kept (a day of
    /// samples stays a few hundred whatever the rate of runs), and the paths it healed;
    /// samples older than [`WINDOW_S`] and heals older than [`FLAP_WINDOW_S`] before `at`,
    /// which no prediction from now on can use, are dropped.
    pub fn add_run(&mut self, txn: u64, at: i64, summary: &Value, healed: Vec<String>) {
        self.add_samples(at, summary);
        self.heals
            .extend(healed.into_iter().map(|path| Healed { txn, at, path }));
        self.forget_before(at);
    }

    fn forget_before(&mut self, at: i64) {
        let old = at.saturating_sub(WINDOW_S);
        self.disk_free.retain(|s| s.at >= old);
        self.backups_bytes.retain(|s| s.at >= old);
        let flap = at.saturating_sub(FLAP_WINDOW_S);
        self.heals.retain(|h| h.at >= flap);
        if self.heals.len() > MAX_HEALS {
            let cut = self.heals.len() - MAX_HEALS;
            self.heals.drain(..cut);
        }
    }

    fn add_samples(&mut self, at: i64, summary: &Value) {
        let get = |k: &str| summary.get(k).and_then(Value::as_u64);
        for (series, value) in [
            (&mut self.disk_free, get(DISK_FREE_KEY)),
            (&mut self.backups_bytes, get(BACKUPS_BYTES_KEY)),
        ] {
            let due = series
                .last()
                .is_none_or(|s| at.saturating_sub(s.at) >= SAMPLE_GAP_S);
            if let (Some(value), true) = (value, due) {
                series.push(Sample { at, value });
            }
        }
    }

    /// Keeps `m` as samples taken at `at`, unless the newest kept one is less than `gap`
    /// seconds older; drops samples older than [`WINDOW_S`]. Bounds what a long-running
    /// caller keeps in memory.
    pub fn remember(&mut self, at: i64, m: Measured, gap: i64) {
        for (series, value) in [
            (&mut self.disk_free, m.disk_free),
            (&mut self.backups_bytes, m.backups_bytes),
        ] {
            series.retain(|s| s.at >= at.saturating_sub(WINDOW_S));
            let due = series.last().is_none_or(|s| at.saturating_sub(s.at) >= gap);
            if let (Some(value), true) = (value, due) {
                series.push(Sample { at, value });
            }
        }
    }

    /// Adds everything `other` knows.
    pub fn merge(&mut self, other: &History) {
        self.disk_free.extend_from_slice(&other.disk_free);
        self.backups_bytes.extend_from_slice(&other.backups_bytes);
        self.heals.extend_from_slice(&other.heals);
        self.since = match (self.since, other.since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}
