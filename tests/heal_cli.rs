//! The cold-start heals end to end through the binary, and the promises around them:
//! the root must exist, `check` writes nothing at all, a second heal changes nothing.

use crate::support::{code, snapshot, stderr, without_mtimes, Fixture, DEFAULT_DIRS};

#[test]
fn missing_root_is_refused_and_init_creates_it() {
    let f = Fixture::new();
    let out = f.run(&["heal"]);
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    assert!(
        !f.root().exists(),
        "a missing root must not be created without --init"
    );
    let (rc, v) = f.json(&["heal", "--init"]);
    assert_eq!(rc, 0);
    assert_eq!(v["success"], true);
    assert_eq!(v["start_allowed"], true);
    assert_eq!(v["mode"], "paper");
    assert_eq!(v["stats"]["directories_created"], 8);
    assert_eq!(v["stats"]["files_created"], 3);
    for d in DEFAULT_DIRS.iter().chain(&["logs/backups"]) {
        assert!(f.path(d).is_dir(), "{d}");
    }
    assert_eq!(
        f.read("logs/positions_futures.json"),
        b"{\n  \"open_positions\": [],\n  \"closed_positions\": []\n}\n".to_vec()
    );
    let portfolio: serde_json::Value =
        serde_json::from_slice(&f.read("logs/portfolio_futures.json")).expect("json");
    assert_eq!(portfolio["open_positions_count"], 0);
    assert_eq!(portfolio["snapshots"], serde_json::json!([]));
    let keys: Vec<&String> = portfolio.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        [
            "total_margin_allocated",
            "available_margin",
            "used_margin",
            "unrealized_pnl",
            "realized_pnl",
            "total_funding_fees",
            "total_trading_fees",
            "open_positions_count",
            "total_notional_exposure",
            "effective_leverage",
            "snapshots"
        ],
        "the bot's own key order"
    );
    assert_eq!(
        f.read("logs/trades_futures.json"),
        b"{\n  \"trades\": [],\n  \"total_trades_count\": 0\n}\n".to_vec(),
        "the bot's own key order"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = |rel: &str| {
        std::fs::metadata(f.path(rel))
            .expect("stat")
            .permissions()
            .mode()
            & 0o777
    };
    // `logs/backups/` is shared with the bot (created as the bot creates it); selfheal's
    // own subdirectories are owner-only.
    assert_eq!(mode("logs/backups"), 0o755);
    assert_eq!(mode("logs/backups/journal"), 0o700);
    assert_eq!(mode("logs/backups/objects"), 0o700);
}

#[test]
fn a_root_that_is_a_file_is_refused() {
    let f = Fixture::new();
    std::fs::write(f.root(), b"x").expect("write");
    let out = f.run(&["heal", "--init"]);
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    assert_eq!(std::fs::read(f.root()).expect("read"), b"x");
}

#[test]
fn second_heal_applies_nothing_and_changes_no_managed_file() {
    let f = Fixture::with_root();
    f.write("logs/positions_futures.json", "");
    f.write("logs/portfolio_futures.json", "{\"used_margin\": 1.50}");
    let (rc, first) = f.json(&["heal"]);
    assert_eq!(rc, 0);
    assert!(first["actions"].as_array().is_some_and(|a| !a.is_empty()));
    let after_first = f.snapshot();
    let (rc, second) = f.json(&["heal"]);
    assert_eq!(rc, 0);
    assert_eq!(second["actions"], serde_json::json!([]), "{second}");
    assert_eq!(second["healed"], serde_json::json!([]));
    let after_second = f.snapshot();
    assert_eq!(
        after_first,
        after_second,
        "{}",
        crate::support::diff(&after_first, &after_second)
    );
    assert!(second["transaction"].as_u64() > first["transaction"].as_u64());
}

#[test]
fn check_writes_nothing_at_all() {
    let f = Fixture::with_root();
    f.write("logs/positions_futures.json", "   \n");
    let before = snapshot(f.dir.path());
    let (rc, v) = f.json(&["check"]);
    assert_eq!(rc, 1, "repairs pending: {v}");
    assert_eq!(v["transaction"], serde_json::Value::Null);
    assert!(v["actions"]
        .as_array()
        .is_some_and(|a| a.iter().all(|x| x["result"] == "planned")));
    let after = snapshot(f.dir.path());
    assert_eq!(
        before,
        after,
        "check changed the tree:\n{}",
        crate::support::diff(&before, &after)
    );
    assert!(
        !f.path("logs/backups").exists(),
        "check must not even create the lock directory"
    );
    f.run(&["heal"]);
    let (rc, v) = f.json(&["check"]);
    assert_eq!(rc, 0, "clean after heal: {v}");
}

#[test]
fn empty_files_of_every_kind_are_replaced_by_the_default() {
    for (content, what) in [
        ("", "0 bytes"),
        (" \n\t", "whitespace only"),
        ("{}", "an empty object"),
        ("null", "null"),
    ] {
        let f = Fixture::with_root();
        f.write("logs/positions_futures.json", content);
        let (rc, v) = f.json(&["heal"]);
        assert_eq!(rc, 0);
        let a = v["actions"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["heal"] == "empty_file").cloned());
        let a = a.unwrap_or_else(|| panic!("no empty_file action for {what}: {v}"));
        assert!(
            a["message"].as_str().is_some_and(|m| m.contains(what)),
            "{a}"
        );
        assert_eq!(
            f.read("logs/positions_futures.json"),
            b"{\n  \"open_positions\": [],\n  \"closed_positions\": []\n}\n".to_vec()
        );
    }
}

#[test]
fn missing_keys_are_added_and_every_other_byte_kept() {
    let f = Fixture::with_root();
    let original = "{\n  \"closed_positions\": [{\"symbol\": \"BTC-USDT\", \"entry_price\": 100.10, \"x\": -3.519194}],\n  \"created_at\": \"2025-12-01T10:00:00\"\n}\n";
    f.write("logs/positions_futures.json", original);
    let (rc, _) = f.json(&["heal"]);
    assert_eq!(rc, 0);
    let healed = String::from_utf8(f.read("logs/positions_futures.json")).expect("utf8");
    assert_eq!(
        healed,
        "{\n  \"closed_positions\": [{\"symbol\": \"BTC-USDT\", \"entry_price\": 100.10, \"x\": -3.519194}],\n  \"created_at\": \"2025-12-01T10:00:00\",\n  \"open_positions\": []\n}\n"
    );
}

#[test]
fn replaced_files_keep_their_mode() {
    let f = Fixture::with_root();
    f.write("logs/positions_futures.json", "");
    f.chmod("logs/positions_futures.json", 0o640);
    f.run(&["heal"]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(f.path("logs/positions_futures.json"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o640);
}

#[test]
fn usage_errors_exit_16() {
    let f = Fixture::with_root();
    assert_eq!(code(&f.run(&["heal", "--mode", "maybe"])), 16);
    assert_eq!(code(&f.run(&["frobnicate"])), 16);
    assert_eq!(code(&f.run(&["rollback", "notanumber"])), 16);
    f.run(&["heal"]);
    assert_eq!(code(&f.run(&["rollback", "999"])), 16);
}

#[test]
fn dry_run_heal_changes_nothing() {
    let f = Fixture::with_root();
    f.write("logs/positions_futures.json", "");
    let before = f.snapshot();
    let (rc, v) = f.json(&["heal", "--dry-run"]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(v["transaction"], serde_json::Value::Null);
    assert_eq!(before, f.snapshot());
    assert!(!f.path("logs/backups").exists());
}

#[test]
fn json_report_has_the_reference_shape() {
    let f = Fixture::with_root();
    let (_, v) = f.json(&["heal"]);
    for key in [
        "success",
        "healed",
        "failed",
        "critical",
        "stats",
        "transaction",
        "mode",
        "health",
        "start_allowed",
        "actions",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    for key in [
        "files_created",
        "files_repaired",
        "directories_created",
        "heartbeats_reset",
        "locks_cleared",
        "orphans_killed",
    ] {
        assert!(v["stats"].get(key).is_some(), "missing stats.{key}");
    }
    for key in ["score", "status", "checks"] {
        assert!(v["health"].get(key).is_some(), "missing health.{key}");
    }
    let _ = without_mtimes(&f.snapshot());
}

#[test]
fn human_output_uses_the_reference_wording() {
    let f = Fixture::with_root();
    let out = f.run(&["heal"]);
    let text = stderr(&out);
    assert!(
        text.contains("🔧 [SELF-HEAL] Starting self-healing process..."),
        "{text}"
    );
    assert!(text.contains("   ✅ Created directory: logs"), "{text}");
    assert!(
        text.contains("   ✅ Initialized positions file: logs/positions_futures.json"),
        "{text}"
    );
    assert!(text.contains("✅ [SELF-HEAL] Healed "), "{text}");
}
