//! The run record (`logs/backups/meta/runs.jsonl`, SPEC.md section 11): a `heal` that
//! applies nothing and decides the same as the newest run in the journal writes no
//! transaction; it adds itself here instead, so `selfheal stats` still counts it and the
//! predictions still get its samples. The record holds additive totals (runs, successes,
//! failures and criticals by code, as `stats` defines them) and the newest such run, plus
//! the samples thinned like the journal's; it never grows with the number of runs.

use super::history::{History, Measured, SAMPLE_GAP_S};
use super::meta::{self, Framed};
use super::totals::{LastRun, Totals};
use crate::error::Result;
use crate::fsx::Root;
use crate::paths::RelPath;
use journal_format::Mac;
use serde::{Deserialize, Serialize};

/// Where the run record lives.
pub const RUNS_FILE: &str = "logs/backups/meta/runs.jsonl";

/// The runs that wrote no transaction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunRecord {
    /// Their totals (`heals` stays empty: they applied nothing).
    pub totals: Totals,
    /// Their samples, thinned to one per [`SAMPLE_GAP_S`] within a day.
    pub history: History,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    v: u32,
    kind: String,
    data: RunRecord,
}

impl RunRecord {
    /// Reads the record: `Ok((record, None))`, or an empty record and why the file is
    /// damaged.
    ///
    /// # Errors
    /// I/O errors other than absence.
    pub fn load(root: &Root, mac: &Mac) -> Result<(RunRecord, Option<String>)> {
        let rel = RelPath::new(RUNS_FILE)?;
        let body = match meta::read(root, &rel, mac)? {
            Framed::Absent => return Ok((RunRecord::default(), None)),
            Framed::Damaged(why) => return Ok((RunRecord::default(), Some(why))),
            Framed::Body(b) => b,
        };
        match serde_json::from_slice::<Envelope>(&body) {
            Ok(e) if e.v == 1 && e.kind == "runs" => Ok((e.data, None)),
            Ok(_) => Ok((
                RunRecord::default(),
                Some("not a run record of version 1".into()),
            )),
            Err(e) => Ok((RunRecord::default(), Some(format!("does not read: {e}")))),
        }
    }

    /// Counts one more run that repeated transaction `last.txn`'s decision (`critical`:
    /// the codes of its criticals; `failed`: its failed heals), measured `m` at `at`.
    pub fn add(&mut self, last: LastRun, critical: &[String], failed: u64, at: i64, m: Measured) {
        let t = &mut self.totals;
        t.runs += 1;
        if critical.is_empty() {
            t.successes += 1;
        }
        t.failures += failed;
        for code in critical {
            *t.criticals.entry(code.clone()).or_default() += 1;
        }
        t.last_run = Some(last);
        self.history.remember(at, m, SAMPLE_GAP_S);
    }

    /// Replaces the record on disk, durably.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn save(&self, root: &Root, mac: &Mac) -> Result<()> {
        let env = Envelope {
            v: 1,
            kind: "runs".into(),
            data: self.clone(),
        };
        let body = serde_json::to_vec(&env).unwrap_or_default();
        meta::write(root, &RelPath::new(RUNS_FILE)?, mac, &body)
    }
}
