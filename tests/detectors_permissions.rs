//! Group- or world-writable state is tightened as journaled operations that rollback undoes,
//! each with the reason it was loose; selfheal's own subdirectories of `logs/backups/` are
//! held to owner-only, while `logs/backups/` itself (the bot's directory too) is only
//! reported, never changed.

use crate::support::procs::{chmod, get, mode, put, selfheal, tempdir};

#[test]
fn insecure_modes_are_tightened_and_rollback_restores_them() {
    let root = tempdir();
    let r = root.path();
    let first = selfheal(r, &["heal", "--init"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let cases = [
        ("logs/positions_futures.json", 0o666, 0o644),
        ("logs/portfolio_futures.json", 0o620, 0o600),
        ("state", 0o777, 0o755),
        ("state/heartbeats", 0o775, 0o755),
        ("logs/backups/journal", 0o750, 0o700),
    ];
    for (rel, insecure, _) in cases {
        chmod(&r.join(rel), insecure);
    }
    chmod(&r.join("logs/backups"), 0o775);
    let run = selfheal(r, &["heal"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.healed("Tightened permissions: logs/positions_futures.json 0666 -> 0644"));
    for (rel, _, secure) in cases {
        assert_eq!(mode(&r.join(rel)), secure, "{rel}");
    }
    let reasons: Vec<(String, String)> = run.json["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            let s = |k: &str| a[k].as_str().unwrap_or_default().to_string();
            (s("path"), s("reason"))
        })
        .collect();
    for (path, reason) in [
        (
            "logs/positions_futures.json",
            "mode 0666 lets the group and others write",
        ),
        ("logs/portfolio_futures.json", "mode 0620 lets the group write"),
        (
            "logs/backups/journal",
            "mode 0750 lets the group read and enter (selfheal's own backups and journal are owner-only)",
        ),
    ] {
        assert!(
            reasons.iter().any(|(p, r)| p == path && r == reason),
            "{path}: {reasons:?}"
        );
    }
    // The shared directory is reported, not changed.
    assert_eq!(mode(&r.join("logs/backups")), 0o775);
    assert!(!reasons.iter().any(|(p, _)| p == "logs/backups"));
    let f = run.findings("INSECURE_PERMISSIONS");
    assert_eq!(f.len(), 1, "{}", run.json["findings"]);
    assert_eq!(f[0]["path"], "logs/backups");
    assert!(f[0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("lets the group write") && m.contains("chmod go-w /")));
    let journal_files = std::fs::read_dir(r.join("logs/backups/journal")).expect("journal");
    for f in journal_files {
        assert_eq!(mode(&f.expect("entry").path()) & 0o077, 0);
    }
    let rb = selfheal(r, &["rollback", &run.txn()]);
    assert_eq!(rb.code, 0, "{}", rb.stderr);
    for (rel, insecure, _) in cases {
        assert_eq!(mode(&r.join(rel)), insecure, "{rel} restored");
    }
}

#[test]
fn a_rewritten_insecure_file_is_tightened_in_the_same_operation() {
    let root = tempdir();
    let r = root.path();
    let f = put(r, "logs/positions_futures.json", b"{}");
    chmod(&f, 0o666);
    let run = selfheal(r, &["heal"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.healed(
        "Repaired empty positions file: logs/positions_futures.json (was an empty object) (permissions 0666 -> 0644)"
    ), "{:?}", run.list("healed"));
    assert_eq!(mode(&f), 0o644);
    let rb = selfheal(r, &["rollback", &run.txn()]);
    assert_eq!(rb.code, 0, "{}", rb.stderr);
    assert_eq!(
        get(r, "logs/positions_futures.json").as_deref(),
        Some(&b"{}"[..])
    );
    assert_eq!(mode(&f), 0o666);
}
