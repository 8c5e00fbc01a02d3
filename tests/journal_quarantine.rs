//! The way out of JOURNAL_INTEGRITY: `journal show` and `journal list` say where the
//! journal stops and how to get out; `journal quarantine` moves the damaged journal aside,
//! keeps every backup object, and starts a new chain anchored to the last verified record;
//! the next heal runs; a transaction from before the damage can still be rolled back, and
//! one after it is refused with the reason. Crashed at every fault point, a quarantine
//! leaves the journal wholly before (damaged, untouched) or wholly after.

use crate::support::journal::{flip, history, journal_files, JOURNAL};
use crate::support::{code, stderr, Fixture};

/// Seven transactions (1: init, 2-7: each repairs the emptied portfolio), the third
/// damaged in its second line.
fn damaged_history() -> Fixture {
    let f = history(6);
    flip(&f, 3, 2);
    f
}

#[cfg(feature = "fault-injection")]
fn quarantine_dirs(f: &Fixture) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(f.path("logs/backups/quarantine"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
fn a_damaged_journal_is_quarantined_and_the_next_heal_runs() {
    let f = damaged_history();
    let pre_heal = f.read("logs/portfolio_futures.json");
    // Blocked, and told how to get out.
    let (rc, v) = f.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 4, "{v}");
    let critical = v["critical"].to_string();
    assert!(critical.contains("JOURNAL_INTEGRITY"), "{v}");
    assert!(critical.contains("journal quarantine"), "{v}");
    let list = f.run(&["journal", "list"]);
    assert_eq!(code(&list), 4, "a list that stops early: {}", stderr(&list));
    assert!(
        stderr(&list).contains("5 transaction files after it are not listed"),
        "{}",
        stderr(&list)
    );
    let show = f.run(&["journal", "show", "6"]);
    assert_eq!(code(&show), 4, "{}", stderr(&show));
    for part in [
        "transaction 6 is at or after the damaged record at logs/backups/journal/txn-0000000003.jsonl:line 2",
        "journal quarantine",
    ] {
        assert!(stderr(&show).contains(part), "{part}: {}", stderr(&show));
    }
    let objects = crate::support::exact_tree(&f.path("logs/backups/objects"));
    // The way out.
    let (rc, q) = f.json(&["journal", "quarantine"]);
    assert_eq!(rc, 0, "{q}");
    assert_eq!(q["transaction"], 8, "{q}");
    assert_eq!(q["through_txn"], 7, "{q}");
    assert_eq!(q["last_good_txn"], 2, "{q}");
    let moved = f.path(q["moved_to"].as_str().expect("moved_to"));
    assert_eq!(
        std::fs::read_dir(&moved).expect("moved").count(),
        7,
        "every file moved"
    );
    assert_eq!(journal_files(&f), vec![journal_format::file_name(8)]);
    assert_eq!(
        crate::support::exact_tree(&f.path("logs/backups/objects")),
        objects,
        "every backup object kept"
    );
    let (rc, v) = f.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 0, "the next heal runs: {v}");
    assert_eq!(code(&f.run(&["journal", "verify"])), 0);
    // Transaction 2 (before the damage) rolls back from the moved journal, bit-exact.
    let (rc, r) = f.json(&["rollback", "2"]);
    assert_eq!(rc, 0, "{r}");
    assert_eq!(f.read("logs/portfolio_futures.json"), b"".to_vec());
    let (rc, r) = f.json(&["rollback", &r["transaction"].to_string()]);
    assert_eq!(rc, 0, "{r}");
    assert_eq!(f.read("logs/portfolio_futures.json"), pre_heal);
    // Transaction 5 (after it) is refused, saying why.
    let out = f.run(&["rollback", "5"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("at or after the damaged record"),
        "{}",
        stderr(&out)
    );
    let show = f.json(&["journal", "show", "2"]).1;
    assert_eq!(show["moved_to"], q["moved_to"], "{show}");
    assert_eq!(code(&f.run(&["journal", "verify"])), 0);
}

#[test]
fn a_quarantine_carries_what_the_journal_knew() {
    let f = damaged_history();
    assert_eq!(code(&f.run(&["journal", "quarantine"])), 0);
    // The positions file existed (the verified part says so): its loss still blocks.
    std::fs::remove_file(f.path("logs/positions_futures.json")).expect("rm");
    let (rc, v) = f.json(&["heal", "--mode", "real"]);
    assert_eq!(rc, 4, "{v}");
    assert!(v["critical"].to_string().contains("DATA_INTEGRITY"), "{v}");
    // And the metrics of the verified part are carried.
    let (rc, s) = f.json(&["stats"]);
    assert_eq!(rc, 0, "{s}");
    assert!(s["runs"].as_u64().unwrap_or(0) >= 3, "{s}");
}

#[test]
fn a_journal_that_verifies_is_not_quarantined() {
    let f = history(2);
    let before = crate::support::exact_tree(&f.path("logs/backups"));
    let out = f.run(&["journal", "quarantine"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing to quarantine"),
        "{}",
        stderr(&out)
    );
    assert_eq!(crate::support::exact_tree(&f.path("logs/backups")), before);
}

#[test]
fn recover_and_prune_on_a_damaged_journal_say_how_to_get_out() {
    let f = damaged_history();
    for args in [&["recover"][..], &["prune"][..]] {
        let out = f.run(args);
        assert_ne!(code(&out), 0, "{args:?}");
        assert!(
            stderr(&out).contains("journal quarantine"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[cfg(feature = "fault-injection")]
#[test]
fn a_quarantine_crashed_at_every_point_is_wholly_before_or_after() {
    let template = damaged_history();
    let points = template_points(&template);
    assert!(points.len() > 5, "{points:?}");
    let (mut before, mut after) = (0, 0);
    for (i, point) in points.iter().enumerate() {
        let f = Fixture::new();
        crate::support::copy_tree(&template.root(), &f.root());
        let out = f.crash_at(&["journal", "quarantine"], i + 1);
        assert_eq!(code(&out), -6, "{point}: {}", stderr(&out));
        if journal_files(&f).len() == 7 {
            before += 1;
            let v = f.run(&["journal", "verify"]);
            assert_eq!(code(&v), 4, "{point}: still damaged, untouched");
            let again = f.run(&["journal", "quarantine"]);
            assert_eq!(code(&again), 0, "{point}: {}", stderr(&again));
        } else {
            after += 1;
            assert_eq!(
                journal_files(&f),
                vec![journal_format::file_name(8)],
                "{point}"
            );
        }
        assert_eq!(code(&f.run(&["journal", "verify"])), 0, "{point}");
        let dirs = quarantine_dirs(&f);
        assert_eq!(
            dirs.len(),
            1,
            "{point}: one moved journal, no leftover: {dirs:?}"
        );
        assert_eq!(
            std::fs::read_dir(&dirs[0]).expect("moved").count(),
            7,
            "{point}"
        );
        assert_eq!(code(&f.run(&["heal", "--mode", "real"])), 0, "{point}");
    }
    assert!(before > 0 && after > 0, "{before} {after}");
    println!(
        "crash matrix (quarantine): {} points: {before} before, {after} after",
        points.len()
    );
}

#[cfg(feature = "fault-injection")]
fn template_points(template: &Fixture) -> Vec<String> {
    let f = Fixture::new();
    crate::support::copy_tree(&template.root(), &f.root());
    f.fault_points(&["journal", "quarantine"])
}

/// Where the damaged journal went is under `logs/backups/`, and nothing of it stays in
/// the journal directory.
#[test]
fn the_moved_journal_is_under_backups() {
    let f = damaged_history();
    let (rc, q) = f.json(&["journal", "quarantine"]);
    assert_eq!(rc, 0, "{q}");
    let moved = q["moved_to"].as_str().expect("moved_to");
    assert!(moved.starts_with("logs/backups/quarantine/"), "{moved}");
    assert!(!journal_files(&f)
        .iter()
        .any(|n| n == "txn-0000000003.jsonl"));
    assert!(f.path(JOURNAL).is_dir());
}
