//! The crash matrix: a heal of ten operations (new directories, a new file, replaced files,
//! a removed stale lock) and the rollback of it (removed files and directories, restored
//! and recreated files) are
//! each killed at every mutation, fsync and journal append — every fault point, enumerated
//! from a trace, not sampled. After the crash, recovery alone must leave the state wholly
//! before or wholly after (bytes, modes, file mtimes), `journal verify` must pass, no temp
//! file may remain, and the next run must reach the post-state. Recovery itself is then
//! crashed at each of its own points and must still land wholly before. The heal and the
//! rollback of files carrying extended attributes and a POSIX ACL are crashed the same way,
//! their attributes compared as part of each state.

#![cfg(feature = "fault-injection")]

use crate::support::arena::temps_left;
use crate::support::states::{damaged, heal_with};
use crate::support::{
    code, copy_tree, diff, snapshot, stderr, tag_with_xattrs, with_xattrs, without_mtimes, Fixture,
    Node, Snapshot,
};

fn copy_of(template: &Fixture) -> Fixture {
    let f = Fixture::new();
    copy_tree(&template.root(), &f.root());
    f
}

/// Which side a recovered state is on; panics on a mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Before,
    After,
}

fn side(now: &Snapshot, pre: &Snapshot, post: &Snapshot, post_exact: bool) -> Result<Side, String> {
    if now == pre {
        return Ok(Side::Before);
    }
    let after = if post_exact {
        now == post
    } else {
        without_mtimes(now) == without_mtimes(post) && untouched_kept(now, pre, post)
    };
    if after {
        return Ok(Side::After);
    }
    Err(format!(
        "neither before nor after.\nvs before:\n{}\nvs after:\n{}",
        diff(pre, now),
        diff(post, now)
    ))
}

/// Files the heal did not touch keep their exact mtime on the after side too.
fn untouched_kept(now: &Snapshot, pre: &Snapshot, post: &Snapshot) -> bool {
    pre.iter().all(|(k, v)| match (v, post.get(k)) {
        (Node::File { .. }, Some(p))
            if without_mtimes(&[(k.clone(), v.clone())].into())
                == without_mtimes(&[(k.clone(), p.clone())].into()) =>
        {
            now.get(k) == Some(v)
        }
        _ => true,
    })
}

struct Tally {
    points: usize,
    before: usize,
    after: usize,
}

/// A state as the matrix compares it: the snapshot, with extended attributes when asked.
fn state(f: &Fixture, xattrs: bool) -> Snapshot {
    if xattrs {
        with_xattrs(&f.root(), f.snapshot())
    } else {
        f.snapshot()
    }
}

fn run_matrix(
    template: &Fixture,
    args: &[&str],
    pre: &Snapshot,
    post: &Snapshot,
    post_exact: bool,
    finish: &dyn Fn(&Fixture),
) -> Tally {
    run_matrix_of(template, args, (pre, post), post_exact, finish, false)
}

fn run_matrix_of(
    template: &Fixture,
    args: &[&str],
    (pre, post): (&Snapshot, &Snapshot),
    post_exact: bool,
    finish: &dyn Fn(&Fixture),
    xattrs: bool,
) -> Tally {
    let points = copy_of(template).fault_points(args);
    assert!(points.len() > 20, "too few fault points traced: {points:?}");
    let mut t = Tally {
        points: points.len(),
        before: 0,
        after: 0,
    };
    for (i, point) in points.iter().enumerate() {
        let k = i + 1;
        let f = copy_of(template);
        let out = f.crash_at(args, k);
        assert_eq!(
            code(&out),
            -6,
            "point {k} ({point}) did not crash: {}",
            stderr(&out)
        );
        let rec = f.run(&["recover"]);
        assert_eq!(code(&rec), 0, "recover after {point}: {}", stderr(&rec));
        match side(&state(&f, xattrs), pre, post, post_exact) {
            Ok(Side::Before) => t.before += 1,
            Ok(Side::After) => t.after += 1,
            Err(e) => panic!("crash at {point}: {e}"),
        }
        let temps = temps_left(&f.root());
        assert!(
            temps.is_empty(),
            "crash at {point}: temp files left: {temps:?}"
        );
        let v = f.run(&["journal", "verify"]);
        assert_eq!(
            code(&v),
            0,
            "crash at {point}: journal verify: {}",
            stderr(&v)
        );
        finish(&f);
        assert!(
            without_mtimes(&state(&f, xattrs)) == without_mtimes(post),
            "crash at {point}: the next run did not reach the post-state:\n{}",
            diff(post, &state(&f, xattrs))
        );
    }
    t
}

#[test]
fn crash_at_every_point_of_a_heal_recovers_wholly_before_or_after() {
    let template = Fixture::with_root();
    let config = damaged(&template);
    let pre = template.snapshot();
    let reference = copy_of(&template);
    heal_with(&reference, &config);
    let post = reference.snapshot();
    let cfg = config.to_str().expect("utf8").to_string();
    let args = ["--config", cfg.as_str(), "heal"];
    let finish = |f: &Fixture| {
        let (rc, v) = f.json(&["--config", cfg.as_str(), "heal"]);
        assert_eq!(rc, 0, "{v}");
    };
    let t = run_matrix(&template, &args, &pre, &post, false, &finish);
    assert!(t.before > 0 && t.after > 0);
    println!(
        "crash matrix (heal): {} crash points covered: {} recovered to before, {} to after",
        t.points, t.before, t.after
    );
}

#[test]
fn crash_at_every_point_of_a_rollback_recovers_wholly_before_or_after() {
    let template = Fixture::with_root();
    let config = damaged(&template);
    let pre = template.snapshot();
    let id = heal_with(&template, &config)["transaction"]
        .as_u64()
        .expect("txn")
        .to_string();
    let healed = template.snapshot();
    let cfg = config.to_str().expect("utf8").to_string();
    let args = ["--config", cfg.as_str(), "rollback", id.as_str()];
    let finish = |f: &Fixture| {
        if f.snapshot() != pre {
            let out = f.run(&["--config", cfg.as_str(), "rollback", id.as_str()]);
            assert_eq!(code(&out), 0, "{}", stderr(&out));
        }
    };
    // Before the rollback is the healed state; after it, the exact pre-heal state.
    let t = run_matrix(&template, &args, &healed, &pre, true, &finish);
    assert!(t.before > 0 && t.after > 0);
    println!(
        "crash matrix (rollback): {} crash points covered: {} recovered to before, {} to after",
        t.points, t.before, t.after
    );
}

/// The crash matrix's damaged root with its two replaced files tagged with a `user.*`
/// attribute and an ACL; `None` where the filesystem keeps neither.
fn tagged() -> Option<(Fixture, std::path::PathBuf)> {
    let template = Fixture::with_root();
    let config = damaged(&template);
    for rel in ["logs/positions_futures.json", "logs/portfolio_futures.json"] {
        if !tag_with_xattrs(&template.root(), rel) {
            eprintln!("skipped: the temp dir's filesystem keeps no user xattrs or ACLs");
            return None;
        }
    }
    Some((template, config))
}

#[test]
fn crash_at_every_point_of_a_heal_keeping_xattrs_recovers_wholly_before_or_after() {
    let Some((template, config)) = tagged() else {
        return;
    };
    let pre = state(&template, true);
    let reference = copy_of(&template);
    heal_with(&reference, &config);
    let post = state(&reference, true);
    assert!(post.keys().any(|k| k.ends_with("#system.posix_acl_access")));
    let cfg = config.to_str().expect("utf8").to_string();
    let args = ["--config", cfg.as_str(), "heal"];
    let finish = |f: &Fixture| {
        let (rc, v) = f.json(&["--config", cfg.as_str(), "heal"]);
        assert_eq!(rc, 0, "{v}");
    };
    let t = run_matrix_of(&template, &args, (&pre, &post), false, &finish, true);
    assert!(t.before > 0 && t.after > 0);
    println!(
        "crash matrix (heal keeping xattrs): {} crash points covered: {} before, {} after",
        t.points, t.before, t.after
    );
}

#[test]
fn crash_at_every_point_of_a_rollback_restoring_xattrs_recovers_wholly_before_or_after() {
    let Some((template, config)) = tagged() else {
        return;
    };
    let pre = state(&template, true);
    let id = heal_with(&template, &config)["transaction"]
        .as_u64()
        .expect("txn")
        .to_string();
    let healed = state(&template, true);
    let cfg = config.to_str().expect("utf8").to_string();
    let args = ["--config", cfg.as_str(), "rollback", id.as_str()];
    let finish = |f: &Fixture| {
        if state(f, true) != pre {
            let out = f.run(&["--config", cfg.as_str(), "rollback", id.as_str()]);
            assert_eq!(code(&out), 0, "{}", stderr(&out));
        }
    };
    let t = run_matrix_of(&template, &args, (&healed, &pre), true, &finish, true);
    assert!(t.before > 0 && t.after > 0);
    println!(
        "crash matrix (rollback restoring xattrs): {} crash points covered: {} before, {} after",
        t.points, t.before, t.after
    );
}

#[test]
fn crash_during_recovery_still_recovers_wholly_before() {
    let template = Fixture::with_root();
    let config = damaged(&template);
    let pre = template.snapshot();
    let cfg = config.to_str().expect("utf8").to_string();
    let heal = ["--config", cfg.as_str(), "heal"];
    // The last point before the commit record: every operation applied, none committed.
    let points = copy_of(&template).fault_points(&heal);
    let commit = points
        .iter()
        .rposition(|p| p.contains("Append"))
        .expect("commit append");
    let crashed = copy_of(&template);
    assert_eq!(code(&crashed.crash_at(&heal, commit)), -6);
    let rec_points = copy_of(&crashed).fault_points(&["recover"]);
    assert!(rec_points.len() > 10, "{rec_points:?}");
    for (j, point) in rec_points.iter().enumerate() {
        let f = copy_of(&crashed);
        assert_eq!(code(&f.crash_at(&["recover"], j + 1)), -6, "{point}");
        let out = f.run(&["recover"]);
        assert_eq!(
            code(&out),
            0,
            "second recovery after {point}: {}",
            stderr(&out)
        );
        let now = f.snapshot();
        assert!(
            now == pre,
            "recovery crashed at {point} then rerun:\n{}",
            diff(&pre, &now)
        );
        assert!(temps_left(&f.root()).is_empty());
        assert_eq!(code(&f.run(&["journal", "verify"])), 0, "{point}");
    }
    println!(
        "crash matrix (recovery): {} crash points covered",
        rec_points.len()
    );
    let _ = snapshot(&template.root());
}

/// A rollback of a large salvaged file (its current content backed up as a delta against
/// the object it restores), then the rollback of that rollback (restoring from the delta),
/// each crashed at every point: both land wholly before or after, bit-exact.
#[test]
fn crash_at_every_point_of_a_rollback_writing_and_reading_a_delta_recovers_wholly() {
    let template = Fixture::with_root();
    let heal = crate::support::states::salvaged(&template).2.to_string();
    let healed = template.snapshot();
    let reference = copy_of(&template);
    let out = reference.run(&["rollback", heal.as_str()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let rolled_back = reference.snapshot();
    let args = ["rollback", heal.as_str()];
    let finish = |f: &Fixture| {
        if f.snapshot() != rolled_back {
            let out = f.run(&args);
            assert_eq!(code(&out), 0, "{}", stderr(&out));
        }
    };
    let t = run_matrix(&template, &args, &healed, &rolled_back, true, &finish);
    assert!(t.before > 0 && t.after > 0);
    // The rollback of the rollback reads the salvaged bytes back from the delta.
    let list = reference.json(&["journal", "list"]).1;
    let rb = list["transactions"]
        .as_array()
        .and_then(|t| t.last())
        .and_then(|t| t["id"].as_u64())
        .expect("the rollback")
        .to_string();
    let args = ["rollback", rb.as_str()];
    let finish = |f: &Fixture| {
        if without_mtimes(&f.snapshot()) != without_mtimes(&healed) {
            let out = f.run(&args);
            assert_eq!(code(&out), 0, "{}", stderr(&out));
        }
    };
    let u = run_matrix(&reference, &args, &rolled_back, &healed, false, &finish);
    assert!(u.before > 0 && u.after > 0);
    println!(
        "crash matrix (delta rollbacks): {} + {} crash points covered",
        t.points, u.points
    );
}
