//! The bot's own file locks, as `watch` honours them. Before a cycle changes a state file
//! (any operation on a path that is a regular file or will be one, outside selfheal's own
//! `logs/backups/`), it takes the bot's flock on `<file><locks.suffix>` (`<file>.lock` by
//! default) without waiting, creating the lock file when absent as the bot's own protocol
//! does. A lock the bot holds means the operation is dropped from this cycle and reported
//! as skipped; a lock taken is kept until the transaction has committed, so the bot blocks
//! instead of writing under the repair. Directory creation needs no lock.
//!
//! Invariant: no file operation survives [`take`] without either its bot lock held by
//! selfheal or its directory being absent (created by this plan, so nobody can hold a lock
//! in it). Recovery of an interrupted transaction is gated the same way ([`take_paths`]).
//!
//! Planning reads the state files without the bot's locks, so it can catch a file the bot
//! is rewriting in place (truncated, or half written). [`verify`] therefore re-reads, under
//! the bot's lock, every managed file that planning found something to say or do about: a
//! file that changed since it was read, or whose lock the bot holds, yields nothing this
//! cycle (no finding, no alert, no operation) and is reported as skipped; the next cycle
//! reads it again.

use crate::checks::Planned;
use crate::config::Layout;
use crate::error::Result;
use crate::findings::{code, Level};
use crate::fsx::{Entry, HeldLock, Root, TryLock};
use crate::journal::BACKUPS_DIR;
use crate::paths::RelPath;
use crate::plan::{observe_node, Op};
use journal_format::Node;
use serde::Serialize;

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

/// The bot locks a cycle holds; released when dropped.
#[derive(Debug, Default)]
pub struct Held {
    _locks: Vec<HeldLock>,
}

/// What one path's bot lock allows.
enum Gate {
    /// The lock is held by selfheal now.
    Taken(HeldLock),
    /// The file's directory does not exist yet: no lock is needed.
    NotNeeded,
    /// The path must not be touched this cycle.
    Busy(String),
}

/// The bot's lock file for `path`: `<path><suffix>`.
///
/// # Errors
/// A path that cannot be a journal path (never, for a valid `path` and suffix).
pub fn lock_path(path: &RelPath, suffix: &str) -> Result<RelPath> {
    RelPath::new(format!("{path}{suffix}"))
}

/// Whether changing what `op` changes needs the bot's lock.
pub fn needs_lock(op: &Op) -> bool {
    let Some(path) = &op.path else {
        return false;
    };
    let own = RelPath::new(BACKUPS_DIR).is_ok_and(|b| path.starts_with(&b));
    let file_before = matches!(op.before.node(), Some(Node::File { .. }));
    let file_after = matches!(op.after(), Node::File { .. });
    !own && (file_before || file_after)
}

fn gate(root: &Root, layout: &Layout, path: &RelPath) -> Result<Gate> {
    let lock = lock_path(path, &layout.config.locks.suffix)?;
    match root.try_lock_or_create(&lock)? {
        TryLock::Taken(h) => Ok(Gate::Taken(h)),
        TryLock::Held => Ok(Gate::Busy(format!("{path} is locked by the bot ({lock})"))),
        TryLock::NotLockable => {
            let dir_absent = match path.parent() {
                Some(dir) => matches!(root.entry(&dir)?, Entry::Absent),
                None => false,
            };
            if dir_absent {
                Ok(Gate::NotNeeded)
            } else {
                Ok(Gate::Busy(format!(
                    "{lock} is not a lock file selfheal can take (a symlink, or not a regular file)"
                )))
            }
        }
    }
}

/// Takes the bot lock of every operation of `planned` that needs one, and drops from the
/// plan each operation whose lock cannot be taken; returns the locks and the skips.
///
/// # Errors
/// I/O errors while opening or creating a lock file.
pub fn take(root: &Root, layout: &Layout, planned: &mut Planned) -> Result<(Held, Vec<Skip>)> {
    let mut held = Vec::new();
    let mut skips = Vec::new();
    let mut keep = Vec::with_capacity(planned.ops.len());
    for op in &planned.ops {
        let gate = match (&op.path, needs_lock(op)) {
            (Some(path), true) => gate(root, layout, path)?,
            _ => Gate::NotNeeded,
        };
        keep.push(!matches!(gate, Gate::Busy(_)));
        match gate {
            Gate::Taken(h) => held.push(h),
            Gate::NotNeeded => {}
            Gate::Busy(reason) => skips.push(Skip {
                heal: op.heal.to_string(),
                path: op
                    .path
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                reason,
                locked: true,
            }),
        }
    }
    retain_ops(planned, &keep);
    Ok((Held { _locks: held }, skips))
}

/// Takes the bot locks of `paths` (regular files outside `logs/backups/`), all or nothing:
/// `Err(skip)` names the first that cannot be taken.
///
/// # Errors
/// I/O errors while opening or creating a lock file.
pub fn take_paths(
    root: &Root,
    layout: &Layout,
    paths: &[RelPath],
) -> Result<std::result::Result<Held, String>> {
    let mut held = Vec::new();
    for path in paths {
        match gate(root, layout, path)? {
            Gate::Taken(h) => held.push(h),
            Gate::NotNeeded => {}
            Gate::Busy(reason) => return Ok(Err(reason)),
        }
    }
    Ok(Ok(Held { _locks: held }))
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
        let Some(read @ Node::File { .. }) = f.observed.node() else {
            continue;
        };
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
        if !concerned {
            continue;
        }
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
                .map(|o| skip(o.heal)),
        );
        if skips.len() == before {
            skips.push(skip("check"));
        }
        let keep: Vec<bool> = planned.ops.iter().map(|o| !on_path(o)).collect();
        retain_ops(planned, &keep);
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

/// Keeps the operations whose `keep` entry is true, renumbering the operation indices the
/// plan holds elsewhere (managed files, salvage notes); a dropped operation leaves its
/// file as observed, and its salvage note (and the warning announcing it) go with it.
pub fn retain_ops(planned: &mut Planned, keep: &[bool]) {
    let mut renumber = Vec::with_capacity(keep.len());
    let mut next = 0usize;
    for k in keep {
        renumber.push(k.then_some(next));
        next += usize::from(*k);
    }
    let ops = std::mem::take(&mut planned.ops);
    planned.ops = ops
        .into_iter()
        .zip(keep)
        .filter_map(|(op, k)| k.then_some(op))
        .collect();
    let new_index = |i: usize| renumber.get(i).copied().flatten();
    for f in &mut planned.files {
        f.op = f.op.and_then(new_index);
    }
    let mut dropped = Vec::new();
    planned.salvages.retain_mut(|n| match new_index(n.op) {
        Some(i) => {
            n.op = i;
            true
        }
        None => {
            dropped.push(n.path.clone());
            false
        }
    });
    // The warning that a lossy salvage is applied goes with the salvage it announces.
    planned.findings.retain(|f| {
        let announces = f.code == code::DATA_INTEGRITY
            && f.level == Level::High
            && f.details.get("salvage").is_some();
        !(announces && f.path.as_ref().is_some_and(|p| dropped.contains(p)))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, Observed};

    fn op(path: &str, before: Option<Node>, action: Action) -> Op {
        Op {
            heal: "test",
            path: Some(RelPath::new(path).unwrap_or_else(|e| panic!("{e}"))),
            reason: String::new(),
            message: String::new(),
            action,
            before: before.map_or_else(
                || Observed::untouchable("test", None),
                |n| Observed::with_node(n, None),
            ),
        }
    }

    fn file() -> Node {
        Node::File {
            sha256: crate::store::sha256(b"x"),
            size: 1,
            mode: journal_format::Mode(0o644),
        }
    }

    fn write() -> Action {
        Action::WriteFile {
            bytes: crate::content::Content::new(b"{}".to_vec()),
            mode: 0o644,
            owner: None,
            mtime: None,
        }
    }

    #[test]
    fn which_operations_need_the_bot_lock() {
        let cases = [
            (op("logs/p.json", Some(file()), write()), true),
            (op("logs/p.json", Some(Node::Absent), write()), true),
            (
                op("logs/p.json", Some(file()), Action::SetMode { mode: 0o600 }),
                true,
            ),
            (
                op(
                    "logs",
                    Some(Node::Absent),
                    Action::CreateDir { mode: 0o755 },
                ),
                false,
            ),
            (
                op(
                    "logs/backups/objects",
                    Some(Node::Absent),
                    Action::CreateDir { mode: 0o700 },
                ),
                false,
            ),
            (
                op(
                    "logs/backups/journal/x",
                    Some(file()),
                    Action::SetMode { mode: 0o600 },
                ),
                false,
            ),
        ];
        for (op, want) in cases {
            assert_eq!(needs_lock(&op), want, "{:?} {:?}", op.path, op.action);
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
        retain_ops(&mut p, &[true, false, true]);
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
