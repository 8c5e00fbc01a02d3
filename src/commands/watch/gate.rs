//! The bot's own file locks, as `watch` honours them (the rule of which file needs which
//! lock is `botlock`'s). Before a cycle changes a state file it takes the bot's flock on
//! `<file><locks.suffix>` without waiting: a lock the bot holds means the operation is
//! dropped from this cycle and reported as skipped; a lock taken is kept until the
//! transaction has committed, so the bot blocks instead of writing under the repair.
//! Directory creation needs no lock.
//!
//! Invariant: no file operation survives [`take`] without either its bot lock held by
//! selfheal or no lock being needed for it (`botlock`). Recovery of an interrupted
//! transaction is gated the same way ([`take_paths`]).
//!
//! Planning reads the state files without the bot's locks, so it can catch a file the bot
//! is rewriting in place (truncated, or half written). [`verify`] therefore re-reads, under
//! the bot's lock, every managed file that planning found something to say or do about: a
//! file that changed since it was read, or whose lock the bot holds, yields nothing this
//! cycle (no finding, no alert, no operation) and is reported as skipped; the next cycle
//! reads it again.

use crate::botlock::{self, lock_path, BotLocks, Busy, Need, Why};
use crate::checks::Planned;
use crate::config::Layout;
use crate::error::Result;
use crate::fsx::{Root, TryLock};
use crate::plan::{observe_node, Op};
use journal_format::Node;
use serde::Serialize;
use std::time::Instant;

/// An operation left out of a cycle, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    /// The heal it served.
    pub heal: String,
    /// The path.
    pub path: String,
    /// Why (e.g. `logs/positions_futures.json is locked by the bot`).
    pub reason: String,
    /// Whether the bot held the lock (as opposed to the path changing since it was planned).
    pub locked: bool,
}

/// Why a busy file is skipped this cycle.
fn reason(b: &Busy) -> String {
    match b.why {
        Why::Held(_) => format!("{} is locked by the bot ({})", b.file, b.lock),
        Why::NotLockable => b.describe(),
    }
}

/// Takes the bot lock of every operation of `planned` that needs one, without waiting, and
/// drops from the plan each operation whose lock cannot be taken; returns the locks and the
/// skips.
///
/// # Errors
/// I/O errors while opening or creating a lock file.
pub fn take(root: &Root, layout: &Layout, planned: &mut Planned) -> Result<(BotLocks, Vec<Skip>)> {
    let needs = botlock::needs_of(layout, &planned.ops);
    let mut locks = BotLocks::default();
    let busy = botlock::acquire(root, layout, &needs, Instant::now(), &mut locks)?;
    let mut skips = Vec::new();
    let mut keep = Vec::with_capacity(planned.ops.len());
    for op in &planned.ops {
        let file = botlock::guarded(layout, op);
        let blocked = busy.iter().find(|b| Some(&b.file) == file);
        keep.push(blocked.is_none());
        if let (Some(b), Some(path)) = (blocked, file) {
            skips.push(Skip {
                heal: op.heal.to_string(),
                path: path.to_string(),
                reason: reason(b),
                locked: true,
            });
        }
    }
    planned.retain_ops(&keep);
    Ok((locks, skips))
}

/// Takes the bot locks of `needs` without waiting, all or nothing: `Err(skip)` names the
/// first that cannot be taken.
///
/// # Errors
/// I/O errors while opening or creating a lock file.
pub fn take_paths(
    root: &Root,
    layout: &Layout,
    needs: &[Need],
) -> Result<std::result::Result<BotLocks, String>> {
    let mut locks = BotLocks::default();
    let busy = botlock::acquire(root, layout, needs, Instant::now(), &mut locks)?;
    Ok(match busy.first() {
        Some(b) => Err(reason(b)),
        None => Ok(locks),
    })
}

/// Re-reads under the bot's lock each managed file whose reading yielded a finding, a
/// refused repair or an operation, and drops all of these for a file that changed since it
/// was read (the bot was rewriting it) or whose lock the bot holds; returns the skips. The
/// lock is released again: an operation kept is gated by [`take`] and re-checked by the
/// engine under that lock. A file without a lock file (a bot that does not lock it) is only
/// read a second time.
///
/// # Errors
/// I/O errors while reading a file or opening its lock file.
pub fn verify(root: &Root, layout: &Layout, planned: &mut Planned) -> Result<Vec<Skip>> {
    let mut unsure: Vec<(String, String, bool)> = Vec::new();
    for f in &planned.files {
        let path = &f.spec.path;
        let name = path.as_str();
        let concerned = f.op.is_some()
            || planned.ops.iter().any(|o| o.path.as_ref() == Some(path))
            || planned
                .findings
                .iter()
                .any(|x| x.path.as_deref() == Some(name))
            || planned
                .failed
                .iter()
                .any(|x| x.path.as_deref() == Some(name));
        // ORDER: only a concerned file is hashed (a 100 MB file costs a SHA-256 pass).
        if !concerned {
            continue;
        }
        let Some(read @ Node::File { .. }) = f.observed.node() else {
            continue;
        };
        let lock = lock_path(path, &layout.config.locks.suffix)?;
        let _held = match root.try_lock_file(&lock)? {
            TryLock::Taken(h) => Some(h),
            TryLock::Held => {
                let why = format!("{path} is locked by the bot ({lock})");
                unsure.push((name.to_string(), why, true));
                continue;
            }
            TryLock::NotLockable => None,
        };
        if observe_node(root, path, layout.max_file_size)?.as_ref() != Some(read) {
            let why = format!(
                "{path} changed while it was read (the bot was writing it); read again next cycle"
            );
            unsure.push((name.to_string(), why, false));
        }
    }
    let mut skips = Vec::new();
    for (path, reason, locked) in &unsure {
        let skip = |heal: &str| Skip {
            heal: heal.to_string(),
            path: path.clone(),
            reason: reason.clone(),
            locked: *locked,
        };
        let on_path = |o: &Op| o.path.as_ref().is_some_and(|p| p.as_str() == path);
        let before = skips.len();
        skips.extend(
            planned
                .ops
                .iter()
                .filter(|o| on_path(o))
                .map(|o| skip(o.heal.as_str())),
        );
        if skips.len() == before {
            skips.push(skip("check"));
        }
        let keep: Vec<bool> = planned.ops.iter().map(|o| !on_path(o)).collect();
        planned.retain_ops(&keep);
        planned.findings.retain(|x| x.path.as_ref() != Some(path));
        planned.failed.retain(|x| x.path.as_ref() != Some(path));
        for f in planned
            .files
            .iter_mut()
            .filter(|f| f.spec.path.as_str() == path)
        {
            // What was read is not a version of the file: the detectors must not use it.
            f.shape = None;
        }
    }
    Ok(skips)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Effect;

    fn op(path: &str, before: Option<Node>, action: Effect) -> Op {
        Op::for_test(crate::plan::HealKind::MissingFile, path, before, action)
    }

    fn write() -> Effect {
        Effect::WriteFile {
            bytes: crate::content::Content::new(b"{}".to_vec()),
            mode: 0o644,
            owner: None,
            mtime: None,
        }
    }

    #[test]
    fn dropping_operations_renumbers_the_files() {
        let mut p = Planned::default();
        for path in ["a", "b", "c"] {
            p.push(op(path, Some(Node::Absent), write()));
        }
        let spec = crate::config::Layout::from_config(crate::config::Config::default(), None)
            .unwrap_or_else(|e| panic!("{e}"))
            .files[0]
            .clone();
        for i in [Some(0), Some(1), Some(2), None] {
            p.files.push(crate::checks::FileView {
                spec: spec.clone(),
                observed: op("a", Some(Node::Absent), write()).before,
                shape: None,
                op: i,
                written: None,
            });
        }
        p.retain_ops(&[true, false, true]);
        let paths: Vec<String> = p
            .ops
            .iter()
            .filter_map(|o| o.path.clone())
            .map(|p| p.to_string())
            .collect();
        assert_eq!(paths, ["a", "c"]);
        let ops: Vec<Option<usize>> = p.files.iter().map(|f| f.op).collect();
        assert_eq!(ops, [Some(0), None, Some(1), None]);
    }
}
