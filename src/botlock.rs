//! The bot's own file locks, as every command that rewrites a state file honours them:
//! `flock(LOCK_EX)` on `<file><locks.suffix>` (`<file>.lock`), the lock the bot's helper
//! takes around each read and write of `<file>`. A command takes the lock of each file it
//! is about to change and keeps it until its transaction has committed (or it gave up), so
//! no write of the bot can land between selfheal's re-check of the file and its rename.
//!
//! Which files: an operation on a regular file (before or after it) outside selfheal's own
//! `logs/backups/`, other than a lock file itself (a lock file is not guarded by a lock).
//! An existing lock file is always taken. A missing one is created empty (0644), exactly
//! as the bot's helper creates it before its first lock, only for a managed state file
//! that an operation rewrites in place; this is not journaled, and the file stays (the
//! bot's helper never removes its lock files either). Nothing is created for a file
//! selfheal creates (it is renamed into place only while the path is still free), removes
//! or only chmods, nor for a file that is not managed (a heartbeat, the alert log: the bot
//! does not lock those): there, a missing lock file means nobody can be holding it. So a
//! rollback or a recovery never finds a lock file of selfheal's in a directory it must
//! remove.
//!
//! A lock still held at the deadline is [`Busy`], named with its holders (`holders`). How
//! long to wait is the caller's policy: `heal`, `check`, `rollback`, `recover` wait up to
//! `locks.bot_timeout` (the bot's own timeout: past it the bot's readers give up and use
//! an empty default), `watch` does not wait.

use crate::config::Layout;
use crate::error::{Error, Result};
use crate::fsx::{Entry, HeldLock, Root, TryLock};
use crate::holders::{self, Holder};
use crate::paths::RelPath;
use crate::paths::BACKUPS_DIR;
use crate::plan::{Effect, Op};
use journal_format::Node;
use std::time::{Duration, Instant};

/// How often a held lock is tried again while waiting (the bot's helper retries every
/// 50 ms).
const RETRY: Duration = Duration::from_millis(20);

/// The bot's lock file for `path`: `<path><suffix>`.
///
/// # Errors
/// A path that cannot be a journal path (never, for a valid `path` and suffix).
pub fn lock_path(path: &RelPath, suffix: &str) -> Result<RelPath> {
    RelPath::new(format!("{path}{suffix}"))
}

/// The file whose bot lock changing what `op` changes needs, if any.
pub fn guarded<'o>(layout: &Layout, op: &'o Op) -> Option<&'o RelPath> {
    let path = op.path.as_ref()?;
    let own = RelPath::new(BACKUPS_DIR).is_ok_and(|b| path.starts_with(&b));
    let lock_file = path.as_str().ends_with(&layout.config.locks.suffix);
    let file_before = matches!(op.before.node(), Some(Node::File { .. }));
    let file_after = matches!(op.after(), Node::File { .. });
    (!own && !lock_file && (file_before || file_after)).then_some(path)
}

/// Why a file's lock could not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Another process still held it at the deadline.
    Held(Vec<Holder>),
    /// The lock path is not a lock file selfheal can take (a symlink, a directory, ...).
    NotLockable,
}

/// A file whose bot lock could not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy {
    /// The state file.
    pub file: RelPath,
    /// Its lock file.
    pub lock: RelPath,
    /// Why.
    pub why: Why,
}

impl Busy {
    /// `logs/x.json is locked by 1234 (python3 run.py)`.
    pub fn describe(&self) -> String {
        match &self.why {
            Why::Held(h) => format!("{} is locked by {}", self.file, holders::describe_all(h)),
            Why::NotLockable => format!(
                "{} is not a lock file selfheal can take (a symlink, not a regular file, or a name too long for the filesystem)",
                self.lock
            ),
        }
    }

    /// The holders, when held.
    pub fn holders(&self) -> &[Holder] {
        match &self.why {
            Why::Held(h) => h,
            Why::NotLockable => &[],
        }
    }
}

/// The bot locks a command holds; each is released when this is dropped.
#[derive(Debug, Default)]
pub struct BotLocks {
    held: Vec<HeldLock>,
}

impl BotLocks {
    /// Whether the lock file `lock` is held by this command.
    pub fn holds(&self, lock: &RelPath) -> bool {
        self.held.iter().any(|h| h.path() == lock)
    }

    /// The lock files held.
    pub fn paths(&self) -> Vec<RelPath> {
        self.held.iter().map(|h| h.path().clone()).collect()
    }

    /// Each path `ops` change whose bot lock this holds, with that lock: what a
    /// transaction's intents record (`Txn::under_bot_locks`).
    pub fn guarding(&self, layout: &Layout, ops: &[Op]) -> Vec<(RelPath, RelPath)> {
        ops.iter()
            .filter_map(|op| {
                let path = op.path.clone()?;
                let lock = lock_path(&path, &layout.config.locks.suffix).ok()?;
                self.holds(&lock).then_some((path, lock))
            })
            .collect()
    }
}

/// What one try found.
enum Try {
    Taken(HeldLock),
    NotNeeded,
    Held,
    NotLockable,
}

fn try_once(root: &Root, lock: &RelPath, create: bool) -> Result<Try> {
    let found = if create {
        root.try_lock_or_create(lock)?
    } else {
        root.try_lock_file(lock)?
    };
    Ok(match found {
        TryLock::Taken(h) => Try::Taken(h),
        TryLock::Held => Try::Held,
        // Absent (or its directory is): nobody can hold it, and the file it guards is
        // either absent too or not locked by anyone. Behind a symlink selfheal does not
        // follow: the file it guards is behind it too, and nothing is written there.
        TryLock::NotLockable => match root.entry(lock) {
            Ok(Entry::Absent | Entry::Unreachable) => Try::NotNeeded,
            Ok(Entry::Present(_)) => Try::NotLockable,
            // A lock name too long for the filesystem: no bot can hold it either, but the
            // file it guards exists, so it is not lockable rather than not needed.
            Err(Error::Io { source, .. })
                if source.raw_os_error() == Some(rustix::io::Errno::NAMETOOLONG.raw_os_error()) =>
            {
                Try::NotLockable
            }
            Err(e) => return Err(e),
        },
    })
}

/// A file whose bot lock a command needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// The state file.
    pub file: RelPath,
    /// Whether its lock file is created when missing (a managed file rewritten in place).
    pub create: bool,
}

impl Need {
    /// The locks of `files`, none created.
    pub fn existing(files: &[RelPath]) -> Vec<Need> {
        files
            .iter()
            .map(|f| Need {
                file: f.clone(),
                create: false,
            })
            .collect()
    }
}

/// Adds `file` to `needs` (once; `create` if any need of it says so).
fn add(needs: &mut Vec<Need>, file: &RelPath, create: bool) {
    match needs.iter_mut().find(|n| &n.file == file) {
        Some(n) => n.create |= create,
        None => needs.push(Need {
            file: file.clone(),
            create,
        }),
    }
}

/// Takes the bot lock of each of `needs` into `locks` (one already held is skipped),
/// waiting until `deadline` for those held by another process; returns the files whose
/// lock could not be taken.
///
/// # Errors
/// I/O errors opening or creating a lock file; [`Error::Interrupted`] on SIGTERM/SIGINT
/// while waiting.
pub fn acquire(
    root: &Root,
    layout: &Layout,
    needs: &[Need],
    deadline: Instant,
    locks: &mut BotLocks,
) -> Result<Vec<Busy>> {
    let suffix = &layout.config.locks.suffix;
    let mut waiting: Vec<(RelPath, RelPath, bool)> = Vec::new();
    let mut busy = Vec::new();
    for need in needs {
        let lock = lock_path(&need.file, suffix)?;
        if locks.holds(&lock) || waiting.iter().any(|(_, l, _)| *l == lock) {
            continue;
        }
        let create = need.create && layout.is_managed(&need.file);
        waiting.push((need.file.clone(), lock, create));
    }
    let mut first = true;
    loop {
        let mut still = Vec::new();
        for (file, lock, create) in waiting {
            match try_once(root, &lock, create)? {
                Try::Taken(h) => locks.held.push(h),
                Try::NotNeeded => {}
                Try::Held => still.push((file, lock, create)),
                Try::NotLockable => busy.push(Busy {
                    file,
                    lock,
                    why: Why::NotLockable,
                }),
            }
        }
        if std::mem::take(&mut first) && !still.is_empty() && Instant::now() < deadline {
            let locks: Vec<&str> = still.iter().map(|(_, l, _)| l.as_str()).collect();
            let left = deadline.saturating_duration_since(Instant::now());
            tracing::info!(
                "waiting up to {:.1} s for the bot's lock {} (held by another process)",
                left.as_secs_f64(),
                locks.join(", ")
            );
        }
        waiting = still;
        if waiting.is_empty() || Instant::now() >= deadline {
            break;
        }
        if crate::lock::interrupted() {
            return Err(Error::Interrupted);
        }
        std::thread::sleep(RETRY.min(deadline.saturating_duration_since(Instant::now())));
    }
    for (file, lock, _) in waiting {
        let why = Why::Held(holders_of(root, &lock)?);
        busy.push(Busy { file, lock, why });
    }
    Ok(busy)
}

/// The holders of the flock on the lock file `lock` (none found when it is gone).
///
/// # Errors
/// I/O errors while looking at the lock file.
pub fn holders_of(root: &Root, lock: &RelPath) -> Result<Vec<Holder>> {
    Ok(match root.entry(lock)? {
        Entry::Present(st) => holders::of(st.dev, st.ino),
        _ => Vec::new(),
    })
}

/// The files the operations of `ops` change that need a bot lock, each once; a lock file
/// may be created for a file an operation rewrites in place.
pub fn needs_of(layout: &Layout, ops: &[Op]) -> Vec<Need> {
    let mut out = Vec::new();
    for op in ops {
        if let Some(file) = guarded(layout, op) {
            let rewrites = matches!(op.action, Effect::WriteFile { .. })
                && matches!(op.before.node(), Some(Node::File { .. }));
            add(&mut out, file, rewrites);
        }
    }
    out
}

/// The files an unfinished transaction touched that recovery may rewrite and that need a
/// bot lock (regular files on either side of an intent, outside selfheal's own
/// `logs/backups/`, lock files excepted), each once; a lock file may be created for a file
/// the transaction rewrote in place.
///
/// # Errors
/// A journal path that is not a valid relative path.
pub fn intent_needs(layout: &Layout, t: &crate::journal::TxnFile) -> Result<Vec<Need>> {
    let own = RelPath::new(BACKUPS_DIR)?;
    let suffix = &layout.config.locks.suffix;
    let mut out = Vec::new();
    for it in crate::recovery::intents_of(t) {
        let file = |n: &Node| matches!(n, Node::File { .. });
        let Some(path) = &it.path else { continue };
        let rel = RelPath::new(path.as_str())?;
        let lock_file = rel.as_str().ends_with(suffix.as_str());
        if (file(&it.before) || file(&it.after)) && !rel.starts_with(&own) && !lock_file {
            add(&mut out, &rel, file(&it.before) && file(&it.after));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Layout};

    fn op(path: &str, before: Option<Node>, action: Effect) -> Op {
        Op::for_test(crate::plan::HealKind::MissingFile, path, before, action)
    }

    fn file() -> Node {
        Node::File {
            sha256: crate::store::sha256(b"x"),
            size: 1,
            mode: journal_format::Perms(0o644),
        }
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
    fn which_operations_need_the_bot_lock() {
        let layout = Layout::from_config(Config::default(), None).unwrap_or_else(|e| panic!("{e}"));
        let dir = |p: &str| op(p, Some(Node::Absent), Effect::CreateDir { mode: 0o755 });
        let cases = [
            (op("logs/p.json", Some(file()), write()), true),
            (op("logs/p.json", Some(Node::Absent), write()), true),
            (
                op("logs/p.json", Some(file()), Effect::SetMode { mode: 0o600 }),
                true,
            ),
            (dir("logs"), false),
            (dir("logs/backups/objects"), false),
            (
                op(
                    "logs/backups/journal/x",
                    Some(file()),
                    Effect::SetMode { mode: 0o600 },
                ),
                false,
            ),
            (
                op("logs/p.json.lock", Some(file()), Effect::RemoveLock),
                false,
            ),
            (op("logs/p.json.lock", Some(Node::Absent), write()), false),
        ];
        for (op, want) in cases {
            assert_eq!(
                guarded(&layout, &op).is_some(),
                want,
                "{:?} {:?}",
                op.path,
                op.action
            );
        }
    }
}
