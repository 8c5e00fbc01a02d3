//! I/O errors (ENOSPC, EIO, EACCES, EROFS) injected at the fault points of a heal and of a
//! rollback: each run ends with exit 8 and a message naming the file and the operation,
//! and once the next run's recovery has finished the state is wholly before or wholly
//! after, the journal verifies, no temp file is left and the next run is clean. The one
//! place an error does not fail the run is after a heal's commit: appending its alerts
//! and automatic retention are best effort, so an error there is a warning naming the
//! file and the operation, exit 0, and the heal stands.

#![cfg(feature = "fault-injection")]

use crate::support::arena::{
    damaged_arena, heal_template, lost_bytes, rollback_unless_at, side, summary, temps_left, trace,
    Arena, Point, Side,
};
use crate::support::{code, diff, stderr, without_mtimes, Snapshot};

#[test]
fn an_error_at_a_journal_fsync_leaves_a_journal_that_verifies() {
    let _summary = summary::Part::start();
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

/// The errors injected, with the text the OS gives for each.
const ERRNOS: [(&str, &str); 4] = [
    ("enospc", "No space left on device (os error 28)"),
    ("eio", "Input/output error (os error 5)"),
    ("eacces", "Permission denied (os error 13)"),
    ("erofs", "Read-only file system (os error 30)"),
];

/// The errors to inject at point `n`: all four with `SELFHEAL_LONG_TESTS=1`, else one,
/// rotating through the four from point to point.
fn errnos_at(n: usize) -> Vec<(&'static str, &'static str)> {
    if crate::support::arena::long() {
        ERRNOS.to_vec()
    } else {
        vec![ERRNOS[(n - 1) % ERRNOS.len()]]
    }
}

/// One command's matrix: run `args` on copies of `template` with an error at each point.
struct Matrix<'a> {
    template: &'a Arena,
    args: &'a [&'a str],
    /// The state before the command, and after it.
    pre: Snapshot,
    post: Snapshot,
    /// Whether `post` is compared with mtimes (a rollback restores them exactly).
    post_exact: bool,
    /// The next run, which must reach `post`.
    finish: &'a dyn Fn(&Arena),
}

/// The point whose error leaves the transaction committed: the fsync of the last record
/// appended to the transaction file (its `commit`).
fn commit_fsync(points: &[Point]) -> usize {
    let last = points
        .iter()
        .rposition(|p| p.kind == "Append" && p.path.contains("journal/txn-"))
        .expect("a commit append");
    let next = &points[last + 1];
    assert_eq!(
        next.kind, "Fsync",
        "the commit append is followed by its fsync"
    );
    next.n
}

fn run_matrix(m: &Matrix<'_>) -> usize {
    let points = trace(&Arena::copy_of(m.template), m.args);
    assert!(points.len() > 50, "too few fault points: {points:?}");
    let committed = commit_fsync(&points);
    let mut cases = 0;
    for p in &points {
        for errno in errnos_at(p.n) {
            one_case(m, p, errno, committed);
            cases += 1;
        }
    }
    summary::add(|t| {
        t.fault_points += points.len() as u64;
        t.faults_injected += cases as u64;
    });
    cases
}

fn one_case(m: &Matrix<'_>, p: &Point, (errno, text): (&str, &str), committed: usize) {
    let a = Arena::copy_of(m.template);
    let what = format!("{errno} at point {} ({} {})", p.n, p.kind, p.path);
    let out = a.output(
        a.cmd(m.args)
            .env("SELFHEAL_FAULT", format!("{}:{errno}", p.n)),
    );
    assert_eq!(code(&out), 8, "{what}: {}", stderr(&out));
    let want = format!("cannot {} `{}`: {text}", p.op_words(), p.path);
    assert!(
        stderr(&out).contains(&want),
        "{what}: stderr does not say {want:?}:\n{}",
        stderr(&out)
    );
    let rec = a.run(&["recover"]);
    assert_eq!(code(&rec), 0, "{what}: recover: {}", stderr(&rec));
    // Only an error at the commit's own fsync leaves the commit record in the file.
    let expect = if p.n == committed {
        Side::After
    } else {
        Side::Before
    };
    let got = side(&a.snapshot(), &m.pre, &m.post, m.post_exact);
    assert_eq!(got, Ok(expect), "{what}: after recovery");
    let temps = temps_left(&a.root());
    assert!(temps.is_empty(), "{what}: temp files left: {temps:?}");
    let v = a.run(&["journal", "verify"]);
    assert_eq!(code(&v), 0, "{what}: journal verify: {}", stderr(&v));
    (m.finish)(&a);
    let now = a.snapshot();
    assert!(
        without_mtimes(&now) == without_mtimes(&m.post),
        "{what}: the next run did not reach the post-state:\n{}",
        diff(&m.post, &now)
    );
    assert_eq!(lost_bytes(&m.pre, &a.root()), 0, "{what}: bytes lost");
}

#[test]
fn io_errors_at_every_point_of_a_heal() {
    let _summary = summary::Part::start();
    let (template, cfg) = damaged_arena();
    let heal = ["--config", cfg.as_str(), "heal"];
    let reference = Arena::copy_of(&template);
    let (rc, v) = reference.json(&heal);
    assert_eq!(rc, 0, "{v}");
    let finish = |a: &Arena| {
        let (rc, v) = a.json(&heal);
        assert_eq!(rc, 0, "the next heal: {v}");
        assert!(v["critical"].as_array().is_some_and(Vec::is_empty), "{v}");
    };
    let m = Matrix {
        template: &template,
        args: &heal,
        pre: template.snapshot(),
        post: reference.snapshot(),
        post_exact: false,
        finish: &finish,
    };
    let cases = run_matrix(&m);
    println!("I/O errors injected into a heal: {cases}");
}

#[test]
fn io_errors_at_every_point_of_a_rollback() {
    let _summary = summary::Part::start();
    let (template, cfg) = damaged_arena();
    let (pre_heal, id) = heal_template(&template, &cfg);
    let rollback = ["--config", cfg.as_str(), "rollback", id.as_str()];
    let finish = |a: &Arena| rollback_unless_at(a, &rollback, &pre_heal);
    let m = Matrix {
        template: &template,
        args: &rollback,
        pre: template.snapshot(),
        post: pre_heal.clone(),
        post_exact: true,
        finish: &finish,
    };
    let cases = run_matrix(&m);
    println!("I/O errors injected into a rollback: {cases}");
}

/// A heal whose run goes on after its commit: it appends an alert (a critical it
/// leaves alone) and automatic retention prunes the transaction before it.
fn heal_with_alerts_and_retention() -> (Arena, String) {
    let mut a = Arena::new();
    let cfg = a.config(
        r#"{"retention": {"keep": 1, "older_than": "0s"}, "alerts": {"dedupe_window": "0s"}}"#,
    );
    a.seal();
    a.fx.write(
        "logs/positions_futures.json",
        r#"{"open_positions": [{"symbol": "BTCUSDT", "direction": "LONG", "strategy": "s", "entry_price": -1, "size": 1, "leverage": 1}], "closed_positions": []}"#,
    );
    let cfg = cfg.to_str().expect("utf8").to_string();
    let (rc, v) = a.json(&["--config", cfg.as_str(), "heal"]);
    assert_eq!(rc, 0, "{v}");
    a.fx.write("logs/orders_futures.json.lock", "");
    a.fx.age("logs/orders_futures.json.lock", 3_600);
    (a, cfg)
}

#[test]
fn io_errors_after_the_commit_of_a_heal_are_warnings() {
    let _summary = summary::Part::start();
    let (template, cfg) = heal_with_alerts_and_retention();
    let heal = ["--config", cfg.as_str(), "--json", "heal"];
    let plain = ["--config", cfg.as_str(), "heal"];
    let points = trace(&Arena::copy_of(&template), &heal);
    let own = &points
        .iter()
        .find(|p| p.kind == "Create" && p.path.contains("journal/txn-"))
        .expect("the heal's transaction file")
        .path;
    let commit = points
        .iter()
        .rposition(|p| p.kind == "Append" && &p.path == own)
        .expect("its commit");
    let after: Vec<&Point> = points[commit + 2..].iter().collect();
    let kinds: Vec<&str> = after.iter().map(|p| p.path.as_str()).collect();
    assert!(
        kinds.iter().any(|p| p.contains("operator_alerts"))
            && kinds.iter().any(|p| p.contains("journal/txn-")),
        "alerts and a prune follow the commit: {kinds:?}"
    );
    let reference = Arena::copy_of(&template);
    assert_eq!(reference.json(&plain).0, 0);
    let post = reference.snapshot();
    let pre = template.snapshot();
    let points_after = after.len();
    let mut cases = 0;
    for p in after {
        for (errno, text) in errnos_at(p.n) {
            let what = format!("{errno} at point {} ({} {})", p.n, p.kind, p.path);
            let a = Arena::copy_of(&template);
            let out = a.output(
                a.cmd(&heal)
                    .env("SELFHEAL_FAULT", format!("{}:{errno}", p.n)),
            );
            // The heal stands: its commit is durable; what follows is best effort.
            assert_eq!(code(&out), 0, "{what}: {}", stderr(&out));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
            let want = format!("cannot {} `{}`: {text}", p.op_words(), p.path);
            assert!(
                v["warnings"].to_string().contains(&want),
                "{what}: a warning says {want:?}: {v}"
            );
            let rec = a.run(&["--config", cfg.as_str(), "recover"]);
            assert_eq!(code(&rec), 0, "{what}: {}", stderr(&rec));
            let now = a.snapshot();
            assert!(
                without_mtimes(&now) == without_mtimes(&post),
                "{what}:\n{}",
                diff(&post, &now)
            );
            assert!(temps_left(&a.root()).is_empty(), "{what}: temps left");
            assert_eq!(code(&a.run(&["journal", "verify"])), 0, "{what}");
            assert_eq!(a.json(&plain).0, 0, "{what}: the next heal");
            assert_eq!(lost_bytes(&pre, &a.root()), 0, "{what}");
            cases += 1;
        }
    }
    println!("I/O errors injected after a heal's commit (alerts, retention): {cases}");
    summary::add(|t| {
        t.faults_injected += cases as u64;
        t.fault_points += points_after as u64;
    });
}
