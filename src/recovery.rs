//! Recovery, run first by every command that writes: cuts a torn journal tail (saved
//! aside), then rolls an unfinished transaction back to its exact pre-state by the decision
//! table of SPEC.md ("Recovery"), sweeps its temp files, and journals the result with
//! `abort`. It never rolls forward; a path matching neither side of its operation is a
//! conflict, and then nothing at all is changed until an operator runs
//! `recover --keep-current` — except a regular file an operation wrote under the bot's own
//! lock and the bot rewrote once the writer had ended: that is the bot's newer version,
//! kept (and saved to the store), and the abort says so.

use crate::error::{Error, Result};
use crate::fsx::{Entry, Kind, Root, TMP_PREFIX};
use crate::journal::{Journal, Torn, TxnFile};
use crate::paths::RelPath;
use crate::paths::OBJECTS_DIR;
use crate::txn::{undo_intents, Undo};
use journal_format::{Abort, Body, Intent, OpOutcome, UndoOutcome};
use std::collections::BTreeSet;

/// What recovery found and did.
#[derive(Debug, Clone, PartialEq)]
pub enum RecoveryOutcome {
    /// Nothing was unfinished.
    Clean,
    /// An unfinished transaction was rolled back to its pre-state.
    RolledBack {
        /// The transaction.
        txn: u64,
        /// What became of each operation.
        ops: Vec<OpOutcome>,
    },
    /// A path matched neither side of its operation: nothing was changed.
    Conflict {
        /// The transaction.
        txn: u64,
        /// What does not match.
        why: String,
    },
    /// An operator accepted the files as they are and closed the transaction.
    KeptCurrent {
        /// The transaction.
        txn: u64,
    },
}

/// The result of a recovery pass.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// The unfinished transaction's fate.
    pub outcome: RecoveryOutcome,
    /// A torn journal tail that was cut (and where it was saved).
    pub torn: Option<Torn>,
    /// Temp files removed.
    pub swept: usize,
}

/// Runs recovery. `keep_current` closes a conflict by accepting the files as they are.
///
/// # Errors
/// A journal problem (corruption, unknown version), or I/O errors.
pub fn recover(
    root: &Root,
    journal: &mut Journal,
    cap: u64,
    keep_current: bool,
) -> Result<Recovery> {
    if let Some(p) = &journal.problem {
        return Err(p.to_error(root));
    }
    journal.repair_torn_tail(root)?;
    let torn = journal.torn.clone();
    let Some(unfinished) = journal.unfinished().cloned() else {
        return Ok(Recovery {
            outcome: RecoveryOutcome::Clean,
            torn,
            swept: 0,
        });
    };
    let intents = intents_of(&unfinished);
    // ORDER: temps first, so a directory the transaction created is empty again.
    let swept = sweep(root, &unfinished)?;
    let outcome = match undo_intents(root, unfinished.txn, &intents, cap, Undo::WriterEnded) {
        Ok(ops) => {
            close(
                root,
                journal,
                &rolled_back_reason(&intents, &ops),
                ops.clone(),
            )?;
            RecoveryOutcome::RolledBack {
                txn: unfinished.txn,
                ops,
            }
        }
        Err(Error::RecoveryConflict { why, .. }) if keep_current => {
            let ops = intents
                .iter()
                .map(|i| OpOutcome {
                    op: i.op,
                    outcome: UndoOutcome::KeptCurrent,
                    object: None,
                })
                .collect();
            close(
                root,
                journal,
                &format!("operator kept the current files ({why})"),
                ops,
            )?;
            RecoveryOutcome::KeptCurrent {
                txn: unfinished.txn,
            }
        }
        Err(Error::RecoveryConflict { why, .. }) => {
            return Ok(Recovery {
                outcome: RecoveryOutcome::Conflict {
                    txn: unfinished.txn,
                    why,
                },
                torn,
                swept,
            })
        }
        Err(e) => return Err(e),
    };
    Ok(Recovery {
        outcome,
        torn,
        swept,
    })
}

/// The abort reason of a recovery: what was kept, and why, when the bot had rewritten files.
fn rolled_back_reason(intents: &[Intent], ops: &[OpOutcome]) -> String {
    let kept: Vec<String> = ops
        .iter()
        .filter(|o| o.outcome == UndoOutcome::KeptCurrent)
        .filter_map(|o| {
            let it = intents.iter().find(|i| i.op == o.op)?;
            let object = o
                .object
                .map_or_else(String::new, |d| format!(", saved as {d}"));
            Some(format!(
                "{} (rewritten by the bot under {} after the interrupted run{object})",
                it.path.as_deref()?,
                it.bot_lock.as_deref()?
            ))
        })
        .collect();
    if kept.is_empty() {
        return "rolled back after an interrupted run".into();
    }
    format!(
        "rolled back after an interrupted run; kept the bot's newer version of {}",
        kept.join(", ")
    )
}

fn close(root: &Root, journal: &mut Journal, reason: &str, ops: Vec<OpOutcome>) -> Result<()> {
    let mut w = journal.resume_unfinished(root)?;
    w.append(
        Body::Abort(Abort {
            reason: reason.to_string(),
            ops,
        }),
        true,
    )?;
    journal.absorb(w);
    Ok(())
}

/// The intents of a transaction, in op order.
pub fn intents_of(t: &TxnFile) -> Vec<Intent> {
    t.entries
        .iter()
        .filter_map(|e| match &e.record.body {
            Body::Intent(i) => Some(i.clone()),
            _ => None,
        })
        .collect()
}

/// Removes the temp files an interrupted transaction may have left: beside each path it
/// planned to touch, and in the backup store.
fn sweep(root: &Root, t: &TxnFile) -> Result<usize> {
    let mut dirs: BTreeSet<Option<RelPath>> = BTreeSet::new();
    for e in &t.entries {
        if let Body::Begin(b) = &e.record.body {
            for p in b.plan.iter().filter_map(|p| p.path.as_deref()) {
                dirs.insert(RelPath::new(p)?.parent());
            }
        }
    }
    let objects = RelPath::new(OBJECTS_DIR)?;
    for fan in root.list(Some(&objects))? {
        match objects.join(&fan.name) {
            Ok(dir) if fan.kind == Kind::Dir => {
                dirs.insert(Some(dir));
            }
            _ => {} // not a fan-out directory selfheal made
        }
    }
    let ours = format!("{TMP_PREFIX}{}.", t.txn);
    let mut swept = 0;
    for dir in dirs {
        // A directory swapped for a symlink (or anything else) since holds no temp file of
        // ours that could be reached: the undo that follows reports the conflict.
        if let Some(d) = &dir {
            if !matches!(root.entry(d)?, Entry::Present(st) if st.kind == Kind::Dir) {
                continue;
            }
        }
        for e in root.list(dir.as_ref())? {
            let obj_tmp = e.name.starts_with(&format!("{TMP_PREFIX}obj."));
            let kind_ok = e.kind == Kind::File || e.kind == Kind::Dir;
            if kind_ok && (e.name.starts_with(&ours) || obj_tmp) {
                root.remove_temp(dir.as_ref(), &e.name, e.kind == Kind::Dir)?;
                swept += 1;
            }
        }
    }
    Ok(swept)
}
