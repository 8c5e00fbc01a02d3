//! The checks: read-only inspection of the state that yields a plan (operations for what is
//! safe to repair), failed heals (repairs refused at plan time) and findings. Nothing here
//! writes; `engine` applies the plan. Each submodule owns one family of heals.

pub mod corrupt;
pub mod feasible;
pub mod heartbeats;
pub mod layout;
pub mod locks;
pub mod permissions;
pub mod processes;

use crate::config::{File, Layout};
use crate::error::Result;
use crate::findings::{Failed, Finding};
use crate::fsx::{Entry, Kind, Root};
use crate::journal::Journal;
use crate::jsondoc::Shape;
use crate::mode::ModeChoice;
use crate::paths::RelPath;
use crate::plan::{HealKind, Observed, Op};
use std::sync::Arc;

/// When the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before the bot starts (`heal`, `check`): every safe repair is allowed.
    Startup,
    /// Beside a running bot (`watch`): no signals, no heartbeat resets, no lock removal.
    Watch,
}

/// What every check may look at.
pub struct Ctx<'a> {
    /// The root.
    pub root: &'a Root,
    /// The layout.
    pub layout: &'a Layout,
    /// Runnable commands for messages.
    pub hints: &'a crate::hint::Hints,
    /// The transaction this run records, once it has begun (`None` for `check`).
    pub txn: Option<u64>,
    /// The mode.
    pub mode: ModeChoice,
    /// Now, seconds since the epoch.
    pub now: i64,
    /// The journal as loaded.
    pub journal: &'a Journal,
    /// Startup or watch.
    pub phase: Phase,
    /// `heal --accept-loss`: apply a lossy salvage even in real mode.
    pub accept_loss: bool,
    /// What the command knows of the bot's locks (held by this run, found held).
    pub locks: &'a locks::Known,
}

/// A managed file as the checks saw it.
#[derive(Debug, Clone)]
pub struct FileView {
    /// Its configuration.
    pub spec: File,
    /// What was read.
    pub observed: Observed,
    /// Its classification, when it could be read (shared: `watch` keeps it for the next
    /// cycle while the file stays unchanged).
    pub shape: Option<Arc<Shape>>,
    /// The index of the operation planned for it, if any.
    pub op: Option<usize>,
    /// The classification of the bytes that operation writes, when planning made it
    /// already (a salvage: its records were scanned with the damaged input), with those
    /// bytes.
    pub written: Option<(crate::content::Content, Shape)>,
}

/// The plan and everything else the checks found.
#[derive(Debug, Default)]
pub struct Planned {
    /// Operations, in the order they are applied.
    pub ops: Vec<Op>,
    /// Repairs refused at plan time.
    pub failed: Vec<Failed>,
    /// Findings.
    pub findings: Vec<Finding>,
    /// Managed files as read.
    pub files: Vec<FileView>,
    /// Repairs that only recovery will do (reported by `check`).
    pub pending_notes: Vec<String>,
    /// Bot instances running in the root, as the process check saw them.
    pub bots: Bots,
    /// Heartbeats found stale and left stale by this run (for the health score).
    pub stale_heartbeats: usize,
    /// Every readable heartbeat with its age (for the predictions).
    pub heartbeat_ages: Vec<heartbeats::HeartbeatAge>,
    /// Salvages of corrupted files this plan applies.
    pub salvages: Vec<corrupt::Note>,
}

/// Whether a bot instance runs in the root, which decides what the runtime heals may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Bots {
    /// None: stale locks may be removed and heartbeats reset (at startup).
    #[default]
    None,
    /// Some, and every one is planned to be terminated: heartbeats may be reset, but locks
    /// are only reported (a dying bot may still have a lock file open).
    Terminating,
    /// Some that keep running: locks and heartbeats are only reported.
    Running,
}

impl Planned {
    /// Adds an operation and returns its index.
    pub fn push(&mut self, op: Op) -> usize {
        self.ops.push(op);
        self.ops.len() - 1
    }

    /// Keeps the operations whose `keep` entry is true, renumbering the operation indices
    /// the plan holds elsewhere (managed files, salvage notes); a dropped operation leaves
    /// its file as observed, and its salvage note (and the warning announcing it) go with
    /// it.
    pub fn retain_ops(&mut self, keep: &[bool]) {
        use crate::findings::{code, Level};
        let mut renumber = Vec::with_capacity(keep.len());
        let mut next = 0usize;
        for k in keep {
            renumber.push(k.then_some(next));
            next += usize::from(*k);
        }
        let ops = std::mem::take(&mut self.ops);
        self.ops = ops
            .into_iter()
            .zip(keep)
            .filter_map(|(op, k)| k.then_some(op))
            .collect();
        let new_index = |i: usize| renumber.get(i).copied().flatten();
        for f in &mut self.files {
            f.op = f.op.and_then(new_index);
        }
        let mut dropped = Vec::new();
        self.salvages.retain_mut(|n| match new_index(n.op) {
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
        self.findings.retain(|f| {
            let announces = f.code == code::DATA_INTEGRITY
                && f.level == Level::High
                && f.details.get("salvage").is_some();
            !(announces && f.path.as_ref().is_some_and(|p| dropped.contains(p)))
        });
    }

    /// Records a refused repair.
    pub fn fail(&mut self, heal: HealKind, path: Option<&str>, reason: impl Into<String>) {
        self.failed.push(Failed {
            heal,
            path: path.map(str::to_string),
            reason: reason.into(),
        });
    }
}

/// Runs every check and returns the plan, with the managed files planned by `files`
/// ([`layout::plan_files`], or what `watch` carries over from its last cycle for the files
/// that did not change);
/// `files` must add one view per managed file, in layout order, with what planning them
/// found.
///
/// # Errors
/// I/O errors while reading the state.
pub fn plan_with(
    ctx: &Ctx<'_>,
    files: &mut dyn FnMut(&Ctx<'_>, &mut Planned) -> Result<()>,
) -> Result<Planned> {
    let mut p = Planned::default();
    // ORDER: terminations first: the engine applies them (each process confirmed gone)
    // before any other operation, so no bot can write while its files are replaced.
    processes::plan(ctx, &mut p)?;
    layout::plan_dirs(ctx, &mut p)?;
    files(ctx, &mut p)?;
    locks::plan(ctx, &mut p)?;
    heartbeats::plan(ctx, &mut p)?;
    // Last: it chains onto the operations planned above for the same paths.
    permissions::plan(ctx, &mut p)?;
    p.findings
        .extend(crate::alerts::inspect(ctx.root, ctx.layout));
    // After every check: what cannot be done at all becomes a failed heal of its own.
    feasible::refuse_infeasible(ctx, &mut p)?;
    Ok(p)
}

/// Whether `dir` is a directory that can be listed without crossing an untrusted symlink
/// (a missing or unreachable one is reported by `layout`).
pub(crate) fn listable_dir(root: &Root, dir: &RelPath) -> Result<bool> {
    Ok(matches!(root.entry(dir)?, Entry::Present(st) if st.kind == Kind::Dir))
}

/// The entries of directory `dir` whose names end with `suffix` (selfheal's temp files
/// left out), as journal-safe paths with their kinds. An entry whose name cannot be a
/// journal path (not UTF-8, a control character) is never touched: it is reported once
/// as UNCHECKED_PATH (`what` says what such a file would be) and left out.
pub(crate) fn scan(
    root: &Root,
    dir: &RelPath,
    suffix: &str,
    what: &str,
    p: &mut Planned,
) -> Result<Vec<(RelPath, Kind)>> {
    let mut out = Vec::new();
    for e in root.list(Some(dir))? {
        if !e.name.ends_with(suffix) || e.name.starts_with(crate::fsx::TMP_PREFIX) {
            continue;
        }
        let why = match dir.join(&e.name) {
            Ok(rel) if e.utf8 => {
                out.push((rel, e.kind));
                continue;
            }
            Ok(_) => "its name is not valid UTF-8".to_string(),
            Err(err) => format!("its name cannot be recorded ({err})"),
        };
        let shown = format!("{dir}/{}", crate::text::clean(&e.name));
        unchecked(p, &shown, &format!("{what} {shown}: {why}"));
    }
    Ok(out)
}

/// Reports `path` as UNCHECKED_PATH (once per path): selfheal leaves it alone.
pub(crate) fn unchecked(p: &mut Planned, path: &str, why: &str) {
    use crate::findings::{code, Level};
    let seen = p
        .findings
        .iter()
        .any(|f| f.code == code::UNCHECKED_PATH && f.path.as_deref() == Some(path));
    if !seen {
        p.findings.push(Finding::new(
            code::UNCHECKED_PATH,
            Level::High,
            Some(path),
            format!("{why}; not checked and left alone (rename or remove it)"),
            why.to_string(),
        ));
    }
}
