//! I/O errors (ENOSPC, EIO, EACCES, EROFS) injected at the fault points of a heal and of a
//! rollback: each run ends with exit 8 and a message naming the file and the operation,
//! and once the next run's recovery has finished the state is wholly before or wholly
//! after, the journal verifies, no temp file is left and the next run is clean.

#![cfg(feature = "fault-injection")]

use crate::engine_rollback::damaged;
use crate::reliability_support::{side, summary, trace, Arena, Side};
use crate::util::{code, stderr};

/// A damaged root (the crash matrix's: ten operations) and its config path.
fn damaged_arena() -> (Arena, String) {
    let mut a = Arena::new();
    let config = damaged(&a.fx);
    a.seal();
    (a, config.to_str().expect("utf8").to_string())
}

#[test]
fn an_error_at_a_journal_fsync_leaves_a_journal_that_verifies() {
    let (template, cfg) = damaged_arena();
    let heal = ["--config", cfg.as_str(), "heal"];
    let pre = template.snapshot();
    let points = trace(&Arena::copy_of(&template), &heal);
    // The fsync of the first intent: the second fsync of the transaction file.
    let point = points
        .iter()
        .filter(|p| p.kind == "Fsync" && p.path.contains("journal/txn-"))
        .nth(1)
        .expect("an intent fsync");
    let a = Arena::copy_of(&template);
    let out = a.output(
        a.cmd(&heal)
            .env("SELFHEAL_FAULT", format!("{}:eio", point.n)),
    );
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    let verify = a.run(&["journal", "verify"]);
    assert_eq!(
        code(&verify),
        0,
        "after an error at {point:?}: {}",
        stderr(&verify)
    );
    let rec = a.run(&["recover"]);
    assert_eq!(code(&rec), 0, "{}", stderr(&rec));
    assert_eq!(side(&a.snapshot(), &pre, &pre, true), Ok(Side::Before));
    assert_eq!(code(&a.run(&["journal", "verify"])), 0);
    summary::add(|t| t.faults_injected += 1);
}
