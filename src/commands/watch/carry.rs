//! The managed files a `watch` cycle does not read again. After a cycle whose check was
//! complete (it changed nothing, skipped nothing, failed nothing), each managed file that
//! was a regular file is remembered with the metadata of the read (device, inode, size,
//! mtime, ctime, mode, owner, links), the state of its bot lock (free, held, no lock file),
//! its classification and what planning found about it (findings, refused repairs). The
//! next cycle stats the file and probes its lock: when both are the same, the file is not
//! read; its view and findings are carried over. Anything else (another stat, the lock
//! taken or released, the file gone or replaced) reads it as before. The findings that
//! depend only on the contents of the managed files (`detect::content`) are carried over
//! while no managed file was read again.
//!
//! Never carried over: a file an operation was planned for, a file that is not a regular
//! file, and a file whose ctime was within [`RACY`] of the moment it was read (a write in
//! the same timestamp tick after the read would leave its metadata unchanged). A cycle
//! that reads everything again (`watch.full_check_every`) starts with nothing carried.

use crate::botlock::lock_path;
use crate::checks::{layout, Ctx, FileView, Planned};
use crate::config::File;
use crate::error::Result;
use crate::findings::{Failed, Finding};
use crate::fsx::{Entry, Kind, Stat, TryLock};
use crate::paths::RelPath;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A file changed less than this before it was read is read again next cycle: some
/// filesystems keep timestamps in whole seconds, and the coarse kernel clock that stamps
/// them lags the real one by a tick.
pub const RACY: Duration = Duration::from_secs(2);

/// The state of a managed file's bot lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockState {
    /// The lock file exists and nobody holds it.
    Free,
    /// A process holds it (flock or a POSIX record lock).
    Held,
    /// No lock file can be taken there (none, or not a regular file).
    Absent,
}

impl LockState {
    /// In words, for the debug log.
    fn words(self) -> &'static str {
        match self {
            LockState::Free => "free",
            LockState::Held => "held",
            LockState::Absent => "absent",
        }
    }

    /// Probes the bot lock of `path` without waiting (a flock taken is released at once).
    ///
    /// # Errors
    /// I/O errors opening the lock file.
    pub fn probe(ctx: &Ctx<'_>, path: &RelPath) -> Result<LockState> {
        let lock = lock_path(path, &ctx.layout.config.locks.suffix)?;
        Ok(match ctx.root.try_lock_file(&lock)? {
            TryLock::Taken(_) => LockState::Free,
            TryLock::Held => LockState::Held,
            TryLock::NotLockable => LockState::Absent,
        })
    }
}

/// A managed file as the last complete check left it.
#[derive(Debug, Clone)]
struct Carried {
    /// The metadata of the read.
    stat: Stat,
    /// Its lock then.
    lock: LockState,
    /// Its view, without the bytes.
    view: FileView,
    /// What planning found about it.
    findings: Vec<Finding>,
    /// The repairs planning refused for it.
    failed: Vec<Failed>,
    /// The cycle that read it.
    read_in: u64,
}

/// What one cycle decided and read.
#[derive(Debug, Default)]
struct Cycle {
    /// Its number.
    n: u64,
    /// Whether it reads every file.
    full: bool,
    /// Files read this cycle that may be carried over to the next.
    read: Vec<Carried>,
    /// Paths read this cycle that may not be carried over.
    not_kept: Vec<RelPath>,
    /// The content findings computed this cycle.
    content: Option<Vec<Finding>>,
}

/// What `watch` carries over between cycles.
#[derive(Debug, Default)]
pub struct Carry {
    /// The files, after the last complete cycle.
    files: Vec<Carried>,
    /// The content findings of those files.
    content: Option<Vec<Finding>>,
    /// Cycles in a row since the last full check.
    quick_in_a_row: u64,
    /// Why the next cycle must read everything (`None`: it need not).
    full_because: Option<&'static str>,
    /// The cycle under way.
    cycle: Cycle,
}

impl Carry {
    /// A carry-over with nothing in it: the first cycle reads everything.
    pub fn new() -> Carry {
        Carry {
            full_because: Some("the first cycle"),
            ..Carry::default()
        }
    }

    /// Starts cycle `n`: whether it reads every file (then nothing is carried over into
    /// it), with `every` the configured `watch.full_check_every`.
    pub fn begin(&mut self, n: u64, every: u64) -> bool {
        let why = self
            .full_because
            .or_else(|| (self.quick_in_a_row + 1 >= every).then_some("watch.full_check_every"));
        if let Some(why) = why {
            tracing::debug!("cycle {n}: full check ({why}): every managed file is read");
            // Dropped before anything is read again: one copy of each file at a time.
            self.files.clear();
            self.content = None;
        }
        self.cycle = Cycle {
            n,
            full: why.is_some(),
            ..Cycle::default()
        };
        self.cycle.full
    }

    /// Plans every managed file into `p` (see [`crate::checks::plan_with`]): an unchanged
    /// one is carried over, any other is read.
    ///
    /// # Errors
    /// I/O errors while probing, statting or reading.
    pub fn plan_files(&mut self, ctx: &Ctx<'_>, p: &mut Planned) -> Result<()> {
        for spec in &ctx.layout.files {
            let lock = LockState::probe(ctx, &spec.path)?;
            let at = self
                .files
                .iter()
                .position(|c| c.view.spec.path == spec.path);
            let old = at.map(|i| self.files.swap_remove(i));
            match old {
                Some(c) if c.lock == lock && unchanged(ctx, &c)? => self.carry(p, c),
                old => self.read(ctx, p, spec, (lock, old.as_ref()))?,
            }
        }
        Ok(())
    }

    /// Adds a carried-over file to the plan, as planning it again would.
    fn carry(&mut self, p: &mut Planned, c: Carried) {
        tracing::debug!(
            "cycle {}: {} unchanged since cycle {} (inode, size, mtime, ctime, lock): not read",
            self.cycle.n,
            c.view.spec.path,
            c.read_in
        );
        p.findings.extend(c.findings.iter().cloned());
        p.failed.extend(c.failed.iter().cloned());
        p.files.push(c.view.clone());
        self.cycle.read.push(c);
    }

    /// Reads and plans `spec`, keeping what may be carried over from it.
    fn read(
        &mut self,
        ctx: &Ctx<'_>,
        p: &mut Planned,
        spec: &File,
        (lock, old): (LockState, Option<&Carried>),
    ) -> Result<()> {
        let path = &spec.path;
        let n = self.cycle.n;
        log_read(n, path, self.cycle.full, (lock, old));
        let marks = (p.findings.len(), p.failed.len(), p.ops.len());
        let started = SystemTime::now();
        layout::plan_managed(ctx, p, spec)?;
        let Some(view) = p.files.last() else {
            return Ok(());
        };
        let kept = keepable(view, p.ops.len() > marks.2, started).map(|stat| Carried {
            stat,
            lock,
            view: FileView {
                observed: view.observed.carried(),
                ..view.clone()
            },
            findings: p.findings.get(marks.0..).unwrap_or_default().to_vec(),
            failed: p.failed.get(marks.1..).unwrap_or_default().to_vec(),
            read_in: n,
        });
        match kept {
            Ok(c) => self.cycle.read.push(c),
            Err(why) => {
                tracing::debug!("cycle {n}: {path} is not carried over: {why}");
                self.cycle.not_kept.push(path.clone());
            }
        }
        Ok(())
    }

    /// The content findings of this cycle's files: those of the last cycle when no file
    /// was read again, else `compute()`.
    pub fn content(&mut self, compute: impl FnOnce() -> Vec<Finding>) -> Vec<Finding> {
        let all_carried = !self.cycle.full && self.cycle.not_kept.is_empty();
        let all_carried = all_carried && self.cycle.read.iter().all(|c| c.read_in < self.cycle.n);
        let found = match (&self.content, all_carried) {
            (Some(f), true) => f.clone(),
            _ => compute(),
        };
        self.cycle.content = Some(found.clone());
        found
    }

    /// Ends the cycle: after a complete check (`clean`) what it read and carried over is
    /// kept for the next; otherwise nothing is, and the next cycle reads everything.
    pub fn end(&mut self, clean: bool) {
        let cycle = std::mem::take(&mut self.cycle);
        if !clean {
            *self = Carry {
                full_because: Some("the last cycle changed, skipped or failed something"),
                ..Carry::default()
            };
            return;
        }
        self.quick_in_a_row = if cycle.full {
            0
        } else {
            self.quick_in_a_row + 1
        };
        self.files = cycle.read;
        self.content = cycle.content;
        self.full_because = None;
    }
}

/// Says in the debug log why cycle `n` reads `path` (`old`: what the last cycle kept).
fn log_read(n: u64, path: &RelPath, full: bool, (lock, old): (LockState, Option<&Carried>)) {
    match old {
        _ if full => tracing::debug!("cycle {n}: read {path} (full check)"),
        None => tracing::debug!("cycle {n}: read {path} (not carried over)"),
        Some(c) if c.lock != lock => tracing::debug!(
            "cycle {n}: read {path} (its lock is {} now, it was {} in cycle {})",
            lock.words(),
            c.lock.words(),
            c.read_in
        ),
        Some(c) => tracing::debug!("cycle {n}: read {path} (changed since cycle {})", c.read_in),
    }
}

/// Whether the file `c` remembers still has the metadata it had when it was read.
fn unchanged(ctx: &Ctx<'_>, c: &Carried) -> Result<bool> {
    Ok(matches!(ctx.root.entry(&c.view.spec.path)?, Entry::Present(st) if st == c.stat))
}

/// The metadata under which `view` may be carried over, or why it may not: a regular
/// file, classified, with no operation planned, whose ctime lies more than [`RACY`] before
/// `started` (when its read began).
fn keepable(
    view: &FileView,
    has_op: bool,
    started: SystemTime,
) -> std::result::Result<Stat, &'static str> {
    let stat = match view.observed.stat {
        Some(st) if st.kind == Kind::File && view.shape.is_some() => st,
        _ => return Err("it is not a regular file that could be read"),
    };
    if has_op || view.op.is_some() {
        return Err("an operation is planned for it");
    }
    let ctime = i128::from(stat.ctime_sec) * 1_000_000_000 + i128::from(stat.ctime_nsec);
    let started = started
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX));
    let racy = i128::try_from(RACY.as_nanos()).unwrap_or(i128::MAX);
    if ctime >= started.saturating_sub(racy) {
        return Err("it changed less than 2 s before it was read");
    }
    Ok(stat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Observed;
    use std::sync::Arc;

    fn stat(ctime_sec: i64) -> Stat {
        Stat {
            kind: Kind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 2,
            mtime_sec: 0,
            mtime_nsec: 0,
            ctime_sec,
            ctime_nsec: 0,
            nlink: 1,
            ino: 7,
            dev: 1,
        }
    }

    fn view(st: Stat, shape: bool) -> FileView {
        let layout = crate::config::Layout::from_config(crate::config::Config::default(), None)
            .unwrap_or_else(|e| panic!("{e}"));
        FileView {
            spec: layout.files[0].clone(),
            observed: Observed::from_file(Arc::new(b"{}".to_vec()), st),
            shape: shape.then(|| Arc::new(crate::jsondoc::Shape::Unusable("x".into()))),
            op: None,
            written: None,
        }
    }

    #[test]
    fn only_a_settled_regular_file_without_an_operation_is_kept() {
        let now = SystemTime::now();
        let secs = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
        let old = stat(secs - 10);
        assert_eq!(keepable(&view(old, true), false, now), Ok(old));
        assert!(
            keepable(&view(stat(secs), true), false, now).is_err(),
            "just changed"
        );
        assert!(
            keepable(&view(stat(secs - 1), true), false, now).is_err(),
            "within 2 s"
        );
        assert!(
            keepable(&view(stat(secs + 60), true), false, now).is_err(),
            "future"
        );
        assert!(
            keepable(&view(old, true), true, now).is_err(),
            "an operation"
        );
        assert!(
            keepable(&view(old, false), false, now).is_err(),
            "not classified"
        );
        let dir = Stat {
            kind: Kind::Dir,
            ..old
        };
        assert!(
            keepable(&view(dir, true), false, now).is_err(),
            "a directory"
        );
    }

    #[test]
    fn full_checks_come_every_n_cycles_and_after_an_unclean_one() {
        let mut c = Carry::new();
        let fulls: Vec<u64> = (1..=7)
            .filter(|&n| {
                let full = c.begin(n, 3);
                c.end(true);
                full
            })
            .collect();
        assert_eq!(fulls, [1, 4, 7]);
        assert!(!c.begin(8, 3));
        c.end(false);
        assert!(c.begin(9, 3), "after a cycle that was not clean");
        c.end(true);
        let mut every = Carry::new();
        assert!((1..=4).all(|n| {
            let full = every.begin(n, 1);
            every.end(true);
            full
        }));
    }
}
