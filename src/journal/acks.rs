//! Criticals an operator acknowledges with `selfheal ack <id>`. A lossy or ambiguous salvage
//! applied in paper mode stays a DATA_INTEGRITY critical for real mode until an `ack`
//! record names its transaction (a salvage applied on the operator's `heal --accept-loss`
//! needs none, and neither does one whose transaction a standing rollback undid: the
//! salvaged file is gone again; rolling the rollback back brings the need back). A critical whose code is in [`ACKABLE`] (SLOT_DIVERGENCE) is found again on
//! every run; the heal that recorded it (its commit summary's `critical[]`: code, path,
//! evidence) is the one acknowledged, and the `ack` transaction's commit summary names what
//! it acknowledges (`findings[]`, the same triples). A later run drops a finding only when
//! an `ack` names exactly that code, path and evidence: if anything it says changed, the
//! critical is back. Read-only: the `ack` command itself is in `heal`.

use super::{Journal, TxnFile};
use crate::findings::{code, Code, Finding};
use journal_format::{Body, RunSummary, SalvageEntry, TxnState, RUN_COMMANDS};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The codes of recorded criticals `selfheal ack <id>` clears (besides a lossy salvage).
pub const ACKABLE: &[Code] = &[code::SLOT_DIVERGENCE];

/// A critical as a commit summary records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// Its code (one this version does not know is kept as [`Code::Other`]: it matches
    /// no finding and is never acknowledgeable).
    pub code: Code,
    /// Its path, if any.
    pub path: Option<String>,
    /// What was seen (stable between runs while nothing changes).
    pub evidence: String,
}

impl Recorded {
    /// The record of `f`.
    pub fn of(f: &Finding) -> Recorded {
        Recorded {
            code: f.code.clone(),
            path: f.path.clone(),
            evidence: f.evidence.clone(),
        }
    }

    fn parse(v: &Value) -> Option<Recorded> {
        Some(Recorded {
            code: Code::parse(v.get("code")?.as_str()?),
            path: match v.get("path")? {
                Value::Null => None,
                p => Some(p.as_str()?.to_string()),
            },
            evidence: v.get("evidence")?.as_str()?.to_string(),
        })
    }
}

/// The commit summary of `t`, if committed.
fn summary(t: &TxnFile) -> Option<&Value> {
    if t.state() != TxnState::Committed {
        return None;
    }
    t.entries.iter().find_map(|e| match &e.record.body {
        Body::Commit(c) => Some(&c.summary),
        _ => None,
    })
}

/// The criticals with an [`ACKABLE`] code that `t`'s commit summary records.
pub fn recorded(t: &TxnFile) -> Vec<Recorded> {
    let list = summary(t)
        .and_then(|s| s.get("critical"))
        .and_then(Value::as_array);
    list.into_iter()
        .flatten()
        .filter_map(Recorded::parse)
        .filter(|r| ACKABLE.contains(&r.code))
        .collect()
}

/// The `ack` transaction that acknowledged `finding` (same code, path and evidence), if any
/// (kept by the journal's facts).
pub fn acknowledged_by(journal: &Journal, finding: &Recorded) -> Option<u64> {
    journal
        .facts
        .acked
        .iter()
        .find(|(r, _)| r == finding)
        .map(|(_, txn)| *txn)
}

/// The recorded criticals the committed `ack` transaction `t` acknowledges (its commit
/// summary's `findings[]`), when it acknowledges an [`ACKABLE`] code.
pub fn findings_acked_in(t: &TxnFile) -> Vec<Recorded> {
    let acks_ackable = t
        .entries
        .iter()
        .any(|e| matches!(&e.record.body, Body::Ack(a) if ACKABLE.contains(&Code::parse(&a.code))));
    if !acks_ackable {
        return Vec::new();
    }
    summary(t)
        .and_then(|s| s.get("findings"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Recorded::parse)
        .collect()
}

/// A transaction whose salvage loss awaits acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The transaction.
    pub txn: u64,
    /// The files salvaged with a loss.
    pub paths: Vec<String>,
    /// Records lost in all of them.
    pub records_lost: u64,
    /// Whether more may be lost than counted (a file was cut or damaged inside).
    #[serde(default)]
    pub records_lost_is_lower_bound: bool,
    /// Whether any was ambiguous (more than one version).
    pub ambiguous: bool,
    /// Why the run's commit summary cannot be read, when it cannot: then what it lost is
    /// unknown, and it is acknowledged like a loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// What `t`'s commit summary says of its salvages, when `t` is a committed run: `Ok` with
/// the entries that need an acknowledgement, `Err` with why the summary cannot be read
/// (then nothing is known of what the run lost, and the reader assumes a loss).
fn entries(t: &TxnFile) -> Result<Vec<SalvageEntry>, String> {
    if t.state() != TxnState::Committed || !t.command().is_some_and(|c| RUN_COMMANDS.contains(&c)) {
        return Ok(Vec::new());
    }
    let Some(s) = summary(t) else {
        return Ok(Vec::new());
    };
    let run = RunSummary::read(s)?;
    Ok(run
        .salvage
        .into_iter()
        .filter(SalvageEntry::needs_ack)
        .collect())
}

/// Whether `t` recorded a salvage loss that needs an acknowledgement (acknowledged or not),
/// or a run summary that cannot be read (assumed to).
pub fn needs_ack(t: &TxnFile) -> bool {
    entries(t).map_or(true, |e| !e.is_empty())
}

/// Whether an `ack` record names `txn`'s salvage loss.
pub fn acknowledged(journal: &Journal, txn: u64) -> bool {
    journal.txns.iter().any(|t| {
        t.state() == TxnState::Committed
            && t.entries.iter().any(|e| {
                matches!(&e.record.body, Body::Ack(a) if a.txn == txn && Code::parse(&a.code) == code::DATA_INTEGRITY)
            })
    })
}

/// Every transaction whose salvage loss stands (not rolled back) and is not acknowledged
/// yet (kept by the journal's facts, `journal::facts`, as transactions are read).
pub fn pending(journal: &Journal) -> Vec<Pending> {
    let facts = &journal.facts;
    facts
        .pending
        .iter()
        .filter(|p| facts.rolled_back_by(p.txn).is_none())
        .cloned()
        .collect()
}

/// The pending acknowledgement `t` records, if it records one: a lossy salvage, or a run
/// summary that cannot be read (what that run lost is unknown, so it is taken as lost).
pub fn pending_of(t: &TxnFile) -> Option<Pending> {
    let list = match entries(t) {
        Ok(list) => list,
        Err(why) => {
            return Some(Pending {
                txn: t.txn,
                paths: Vec::new(),
                records_lost: 0,
                records_lost_is_lower_bound: true,
                ambiguous: false,
                unreadable: Some(why),
            })
        }
    };
    if list.is_empty() {
        return None;
    }
    Some(Pending {
        txn: t.txn,
        paths: list.iter().map(|e| e.path.clone()).collect(),
        records_lost: list.iter().map(|e| e.records_lost).sum(),
        records_lost_is_lower_bound: list.iter().any(|e| e.records_lost_is_lower_bound),
        ambiguous: list.iter().any(|e| e.ambiguous),
        unreadable: None,
    })
}

/// The transactions `t` acknowledges, when it is committed.
pub fn acks_in(t: &TxnFile) -> Vec<u64> {
    if t.state() != TxnState::Committed {
        return Vec::new();
    }
    t.entries
        .iter()
        .filter_map(|e| match &e.record.body {
            Body::Ack(a) => Some(a.txn),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A recorded critical whose code this version does not know is kept with that code:
    /// it is neither acknowledgeable nor equal to the record of any known finding.
    #[test]
    fn an_unknown_recorded_code_is_kept_and_never_acknowledgeable() {
        let v = json!({"code": "FUTURE_CODE", "path": "logs/p.json", "evidence": "e"});
        let r = Recorded::parse(&v);
        let want = Recorded {
            code: Code::Other("FUTURE_CODE".into()),
            path: Some("logs/p.json".into()),
            evidence: "e".into(),
        };
        assert_eq!(r.as_ref(), Some(&want));
        assert!(!ACKABLE.contains(&want.code));
        let known = Finding::new(
            code::SLOT_DIVERGENCE,
            crate::findings::Level::Critical,
            Some("logs/p.json"),
            "m",
            "e",
        );
        assert_ne!(Recorded::of(&known), want);
        let ackable = json!({"code": "SLOT_DIVERGENCE", "path": "logs/p.json", "evidence": "e"});
        assert_eq!(Recorded::parse(&ackable), Some(Recorded::of(&known)));
        // Serialized as before, and read back the same.
        let text = serde_json::to_value(&want).unwrap_or_default();
        assert_eq!(text, v);
        let back: Option<Recorded> = serde_json::from_value(text).ok();
        assert_eq!(back, Some(want));
    }
}
