//! Runs a plan as one journaled transaction, in the write-ahead order of SPEC.md ("Write
//! order"): begin (the whole plan) -> for each operation: backup object durable -> target
//! re-checked against the plan -> intent durable -> change applied atomically -> done ->
//! commit. An I/O error stops the transaction, undoes what it applied (the same undo
//! recovery uses) and closes it with `abort`; if even that fails, the next run's recovery
//! finishes the job. Also owns [`restore_node`], the one way any undo puts a path back.
//!
//! A file replaced or removed keeps its extended attributes (POSIX ACLs included): they are
//! read under the same checks as its bytes, recorded in the intent, and given to the new
//! file (or, for an undo, the recorded ones put back). An intent names the bot's lock file
//! (`bot_lock`) when the caller holds the bot's flock for that path for the whole
//! transaction ([`Txn::under_bot_locks`]).
//!
//! The files: `run` (begin, apply, commit: the write-ahead order of one transaction),
//! `undo` (the undo decisions, all made before anything changes, and their execution),
//! `restore` (putting one path back into a recorded state).

mod restore;
mod run;
mod undo;

#[cfg(all(feature = "fuzzing", feature = "fault-injection"))]
#[doc(hidden)]
pub mod fuzzing;

pub use run::{begin, Txn, TxnMeta};
pub use undo::{undo_intents, Undo};
