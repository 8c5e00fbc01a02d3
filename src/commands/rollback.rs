//! `rollback <id>`: undoes a committed transaction as a new transaction. Invariant: it
//! refuses while a bot instance runs (unless forced) and while a bot lock of a file it
//! restores stays held; a dry run plans under selfheal's shared lock and writes nothing.

use crate::botlock::BotLocks;
use crate::checks;
use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::lock;
use crate::plan::OpResult;
use crate::report::Action;
use crate::rollback;
use crate::run::{locked_and_recovered, refused, Options, Session};
use crate::txn::{self, TxnMeta};
use journal_format::RollbackOf;
use serde_json::json;

/// What `rollback` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RollbackReport {
    /// The transaction undone.
    pub target: u64,
    /// The new transaction that recorded the rollback (none for a dry run or no-op).
    pub transaction: Option<u64>,
    /// Each operation.
    pub actions: Vec<Action>,
    /// Operations that cannot be undone.
    pub irreversible: Vec<String>,
    /// Paths changed since the transaction (rolled back anyway: forced).
    pub changed: Vec<String>,
    /// Directories left because they are no longer empty.
    pub kept_dirs: Vec<String>,
    /// Whether nothing was changed on purpose.
    pub dry_run: bool,
}

/// Runs `rollback <txn>`.
///
/// # Errors
/// [`Error::Refused`] and [`Error::ObjectCorrupt`] (exit 4), [`Error::NoSuchTransaction`],
/// operational errors, lock timeout.
pub fn rollback(opts: &Options, txn: u64, force: bool) -> Result<RollbackReport> {
    let s = Session::open(opts, false)?;
    refuse_while_bot_runs(&s, txn, force)?;
    let cap = s.layout.max_file_size;
    if opts.dry_run {
        let _shared = lock::acquire_shared(&s.root, opts.lock_timeout)?;
        let journal = Journal::load(&s.root, s.mac.clone())?;
        let plan = rollback::plan(&s.root, &journal, txn, force, cap, &s.hints)?;
        return Ok(rollback_report(&plan, None, None));
    }
    let (_lock, mut journal) = locked_and_recovered(&s, opts)?;
    let plan = rollback::plan(&s.root, &journal, txn, force, cap, &s.hints)?;
    if plan.ops.is_empty() {
        return Ok(rollback_report(&plan, None, None));
    }
    // A file the rolled-back transaction wrote over the cap is re-checked at its own size.
    let cap = plan
        .targets()
        .iter()
        .filter_map(|o| o.stat.map(|st| st.size))
        .fold(cap, u64::max);
    let needs = crate::botlock::needs_of(&s.layout, &plan.ops);
    let mut locks = BotLocks::default();
    let deadline = s.bot_lock_deadline();
    let busy = crate::botlock::acquire(&s.root, &s.layout, &needs, deadline, &mut locks)?;
    if !busy.is_empty() {
        return Err(refused("rollback refused", &busy));
    }
    let mut t = txn::begin(
        &s.root,
        &mut journal,
        TxnMeta {
            command: "rollback",
            mode: None,
            rollback_of: Some(RollbackOf { txn, force }),
        },
        &plan.ops,
        cap,
    )?;
    t.with_xattrs(plan.xattrs.clone());
    t.with_delta_bases(plan.bases.clone());
    t.under_bot_locks(locks.guarding(&s.layout, &plan.ops));
    let results = t.apply(&plan.ops)?;
    let summary = json!({
        "rollback_of": txn,
        "force": force,
        "changed": plan.changed,
        "irreversible": plan.irreversible,
        "restored": plan.ops.iter().map(|o| o.message.clone()).collect::<Vec<_>>(),
    });
    let id = t.commit(&mut journal, summary)?;
    // ORDER: the bot's locks are released only once the transaction has committed.
    drop(locks);
    Ok(rollback_report(&plan, Some(&results), Some(id)))
}

fn rollback_report(
    plan: &rollback::RollbackPlan,
    results: Option<&[OpResult]>,
    id: Option<u64>,
) -> RollbackReport {
    RollbackReport {
        target: plan.target,
        transaction: id,
        actions: plan
            .ops
            .iter()
            .enumerate()
            .map(|(i, op)| Action::of(op, results.and_then(|r| r.get(i))))
            .collect(),
        irreversible: plan.irreversible.clone(),
        changed: plan.changed.clone(),
        kept_dirs: plan.kept_dirs.clone(),
        dry_run: results.is_none(),
    }
}

/// `rollback` refuses while a bot instance runs in the root, unless forced.
fn refuse_while_bot_runs(s: &Session, txn: u64, force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    let bots = checks::processes::scan(&s.root, &s.layout)?;
    match bots.first() {
        None => Ok(()),
        Some(b) => Err(Error::Refused(format!(
            "a bot instance is running in this root (pid {}: {}); stop it first, or roll back anyway with `{}`",
            b.pid,
            b.command(),
            s.hints.command(&["rollback", &txn.to_string(), "--force"])
        ))),
    }
}
