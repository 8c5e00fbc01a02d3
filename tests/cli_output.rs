//! The command line's output conventions, through the real binary: data on stdout and
//! messages on stderr, a `config` that round-trips, `-q`/`-v`, `check`'s exit codes, the
//! wording (tense, plurals, no Rust type names), write errors on stdout, and
//! `--lock-timeout` only where the lock is taken.

use crate::support::{code, data_of, debug_name, stderr, stdout, Fixture};
use std::process::{Output, Stdio};

const POSITIONS: &str = "logs/positions_futures.json";

/// A position record (valid, identity `symbol / s / LONG`).
fn position(symbol: &str) -> String {
    format!(
        r#"{{"symbol": "{symbol}", "direction": "LONG", "strategy": "s", "entry_price": 100.5, "size": 1, "leverage": 2, "margin_collateral": 0}}"#
    )
}

/// A healed root whose positions file holds two open positions with the same identity
/// (POSITION_CONFLICT, a critical that is never healed).
fn conflicted() -> Fixture {
    let f = Fixture::with_root();
    assert_eq!(code(&f.run(&["heal"])), 0);
    let p = position("BTCUSDT");
    f.write(
        POSITIONS,
        format!(r#"{{"open_positions": [{p}, {p}], "closed_positions": []}}"#),
    );
    f
}

/// A positions file cut inside its last record (a lossy salvage), with the document a
/// heal writes for it returned by `salvage` first.
fn truncated(f: &Fixture) -> Vec<u8> {
    let doc = format!(
        r#"{{"open_positions": [{}], "closed_positions": [{}, {}]}}"#,
        position("A"),
        position("B"),
        position("C")
    );
    let cut = doc.len() - 40;
    f.write(POSITIONS, &doc.as_bytes()[..cut]);
    let out = f.run(&["salvage"]);
    assert_eq!(code(&out), 1, "something lost: {}", stderr(&out));
    out.stdout
}

/// A report's health: score, status, and each check's name, result and penalty (the free
/// space a check measured moves between two runs on a shared disk).
fn health(report: &serde_json::Value) -> serde_json::Value {
    let h = &report["health"];
    let checks: Vec<serde_json::Value> = h["checks"]
        .as_array()
        .expect("health checks")
        .iter()
        .map(|c| serde_json::json!([c["name"], c["ok"], c["penalty"]]))
        .collect();
    serde_json::json!({"score": h["score"], "status": h["status"], "checks": checks})
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

/// The last line of stderr (the start decision of heal/check).
fn last_line(out: &Output) -> String {
    stderr(out).lines().last().unwrap_or_default().to_string()
}

/// A pipe whose reading end is already closed: a write to it fails with EPIPE.
fn closed_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    writer
}

fn dev_full() -> std::fs::File {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full")
}

#[test]
fn every_data_command_prints_its_data_on_stdout() {
    let f = Fixture::with_root();
    assert_eq!(code(&f.run(&["heal"])), 0);
    f.mkdir("data");
    std::fs::remove_dir(f.path("data")).expect("rmdir");
    assert_eq!(code(&f.run(&["heal"])), 0);
    // `journal list | wc -l`: one line per transaction, on stdout.
    let list = data_of(&f.run(&["journal", "list"]));
    assert_eq!(lines(&list).len(), 2, "{list}");
    assert!(lines(&list)[0].trim_start().starts_with("1  "), "{list}");
    let quiet = data_of(&f.run(&["-q", "journal", "list"]));
    assert_eq!(quiet, list, "-q quiets messages, not the data asked for");
    let show = data_of(&f.run(&["journal", "show", "2"]));
    assert!(
        show.starts_with("transaction 2 (heal, ") && show.contains("  op 0 create_dir data"),
        "{show}"
    );
    let verify = data_of(&f.run(&["journal", "verify"]));
    assert!(
        verify.starts_with("journal verified: 2 transactions, "),
        "{verify}"
    );
    let stats = data_of(&f.run(&["stats"]));
    assert!(
        stats.starts_with("runs 2 (2 succeeded, 0 aborted)"),
        "{stats}"
    );
    assert!(
        stats.contains("\nsalvage losses: 0 records, 0 bytes\n"),
        "{stats}"
    );
    let config = f.run(&["config"]);
    assert_eq!(code(&config), 0);
    let doc: serde_json::Value = serde_json::from_slice(&config.stdout).expect("JSON");
    assert_eq!(doc["locks"]["suffix"], ".lock");
    assert_eq!(
        stderr(&config),
        "effective configuration, from the embedded default:\n"
    );
    // salvage: the document on stdout, the account on stderr.
    let salvaged = f.run(&["salvage"]);
    assert_eq!(code(&salvaged), 0, "{}", stderr(&salvaged));
    assert_eq!(
        salvaged.stdout,
        f.read(POSITIONS),
        "an intact file as it is"
    );
    assert!(
        stderr(&salvaged).ends_with(": salvaged 0 records, lost 0 records and 0 bytes\n"),
        "{}",
        stderr(&salvaged)
    );
}

#[test]
fn salvage_prints_exactly_what_heal_writes() {
    let f = Fixture::with_root();
    assert_eq!(code(&f.run(&["heal"])), 0);
    let document = truncated(&f);
    assert!(
        !document.ends_with(b"\n"),
        "the document has no final newline"
    );
    let out = f.run(&["heal", "--mode", "paper"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        f.read(POSITIONS),
        document,
        "salvage's stdout is the healed file"
    );
}

#[test]
fn config_printed_is_a_loadable_config() {
    let f = Fixture::with_root();
    f.write(
        "config/selfheal.json",
        r#"{"locks": {"stale_after": "10m"}, "heartbeats": {"stale_after": "15m"}}"#,
    );
    assert_eq!(code(&f.run(&["heal"])), 0);
    assert_eq!(code(&f.run(&["heal"])), 0);
    let heal_before = f.json(&["heal"]).1;
    let check_before = f.json(&["check"]).1;
    // selfheal config > config/selfheal.json
    let printed = f.run(&["config"]);
    assert_eq!(code(&printed), 0, "{}", stderr(&printed));
    let file = f.path("config/selfheal.json");
    std::fs::write(&file, &printed.stdout).expect("write config");
    let again = f.run(&["config"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(
        stdout(&again),
        stdout(&printed),
        "loaded and printed the same"
    );
    assert_eq!(
        stderr(&again),
        format!("effective configuration, from {}:\n", file.display())
    );
    let doc: serde_json::Value = serde_json::from_slice(&again.stdout).expect("JSON");
    assert_eq!(doc["locks"]["stale_after"], "10m");
    assert_eq!(doc["heartbeats"]["stale_after"], "15m");
    let (rc, check_after) = f.json(&["check"]);
    assert_eq!(rc, 0, "{check_after}");
    let (rc, heal_after) = f.json(&["heal"]);
    assert_eq!(rc, 0, "{heal_after}");
    for key in [
        "healed", "failed", "critical", "warnings", "mode", "actions",
    ] {
        assert_eq!(check_after[key], check_before[key], "check: {key}");
        assert_eq!(heal_after[key], heal_before[key], "heal: {key}");
    }
    assert_eq!(health(&check_after), health(&check_before));
    assert_eq!(health(&heal_after), health(&heal_before));
    // --config FILE names the same file: the same again.
    let named = f.run(&["--config", file.to_str().expect("utf8"), "config"]);
    assert_eq!(stdout(&named), stdout(&printed));
}

#[test]
fn quiet_keeps_a_refused_start_and_its_criticals() {
    let f = conflicted();
    let out = f.run(&["-q", "heal", "--mode", "real"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let text = stderr(&out);
    let all = lines(&text);
    let criticals: Vec<&&str> = all
        .iter()
        .filter(|l| l.starts_with("🚨 [CRITICAL] "))
        .collect();
    assert!(
        criticals
            .iter()
            .any(|l| l.starts_with("🚨 [CRITICAL] POSITION_CONFLICT: ")),
        "{text}"
    );
    let header = format!(
        "🚨 [SELF-HEAL] Found {} (NOT auto-healed)",
        match criticals.len() {
            1 => "1 dangerous issue".to_string(),
            n => format!("{n} dangerous issues"),
        }
    );
    assert_eq!(all.first().copied(), Some(header.as_str()), "{text}");
    let decision = last_line(&out);
    assert!(
        decision.starts_with("[SELF-HEAL] health ")
            && decision.contains("(critical), mode real (--mode): trading engine must NOT start"),
        "{text}"
    );
    assert_eq!(
        all.len(),
        criticals.len() + 2,
        "nothing but the criticals and the refusal: {text}"
    );
    // In paper mode the start goes ahead: -q keeps the criticals only.
    let paper = f.run(&["-q", "heal", "--mode", "paper"]);
    assert_eq!(code(&paper), 0);
    let text = stderr(&paper);
    assert!(lines(&text).iter().all(|l| l.starts_with("🚨 ")), "{text}");
    assert!(text.contains("POSITION_CONFLICT"), "{text}");
    // A clean root under -q: silence.
    let clean = Fixture::with_root();
    assert_eq!(code(&clean.run(&["heal"])), 0);
    let out = clean.run(&["-q", "heal", "--mode", "real"]);
    assert_eq!((code(&out), stderr(&out)), (0, String::new()));
}

#[test]
fn verbose_adds_the_plan_with_paths_and_reasons() {
    let f = Fixture::with_root();
    let plain = stderr(&f.run(&["check"]));
    assert!(!plain.contains("plan: "), "{plain}");
    let out = f.run(&["-v", "check"]);
    let text = stderr(&out);
    assert!(
        text.contains("\n      plan: create_dir logs [planned]: ")
            && text.contains("\n      plan: create_file logs/positions_futures.json [planned]: "),
        "{text}"
    );
    let out = f.run(&["-q", "-v", "check"]);
    assert_eq!(code(&out), 16, "-q and -v contradict: {}", stderr(&out));
}

#[test]
fn check_exit_codes_follow_the_start_decision() {
    // 1: repairs pending; the line names the heal that applies them, runnable as printed.
    let f = Fixture::with_root();
    let out = f.run(&["check"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let line = last_line(&out);
    let heal = line
        .split_once(" applied: ")
        .map(|(_, cmd)| cmd.to_string())
        .expect("a command to run");
    assert!(
        line.starts_with(
            "[SELF-HEAL] health 100/100 (healthy), mode paper (default: TRADING_MODE is not set): trading engine may start once the "
        ) && heal == format!("selfheal --root {} heal --mode paper", f.root().display()),
        "{line}"
    );
    let words: Vec<&str> = heal.split(' ').collect();
    let run = crate::support::bin()
        .args(&words[1..])
        .output()
        .expect("run the printed heal");
    assert_eq!(code(&run), 0, "{}", stderr(&run));
    // 0: clean.
    let out = f.run(&["check"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        last_line(&out),
        "[SELF-HEAL] health 100/100 (healthy), mode paper (default: TRADING_MODE is not set): trading engine may start"
    );
    // A critical: 4 in real mode; in paper mode it does not stop the start, so not 4.
    let f = conflicted();
    let real = f.run(&["check", "--mode", "real"]);
    assert_eq!(code(&real), 4, "{}", stderr(&real));
    assert!(
        last_line(&real).ends_with("mode real (--mode): trading engine must NOT start"),
        "{}",
        stderr(&real)
    );
    let paper = f.run(&["check", "--mode", "paper"]);
    assert_eq!(code(&paper), 0, "{}", stderr(&paper));
    assert!(
        last_line(&paper).ends_with("mode paper (--mode): trading engine may start")
            && stderr(&paper).contains("🚨 [CRITICAL] POSITION_CONFLICT: "),
        "{}",
        stderr(&paper)
    );
    std::fs::remove_dir(f.path("data")).expect("rmdir");
    let pending = f.run(&["check", "--mode", "paper"]);
    assert_eq!(code(&pending), 1, "{}", stderr(&pending));
    assert_eq!(code(&f.run(&["check", "--mode", "real"])), 4);
    // 8: the root does not exist; 16: the configuration is not valid.
    let missing = Fixture::new();
    assert_eq!(code(&missing.run(&["check"])), 8);
    let bad = Fixture::with_root();
    bad.write("config/selfheal.json", "{ not json");
    assert_eq!(code(&bad.run(&["check"])), 16);
}

#[test]
fn check_of_a_fresh_root_agrees_with_its_heal() {
    for mode in ["paper", "real"] {
        let f = Fixture::with_root();
        let (rc, check) = f.json(&["check", "--mode", mode]);
        assert_eq!(rc, 1, "{check}");
        let healed: Vec<&str> = check["healed"]
            .as_array()
            .expect("healed")
            .iter()
            .filter_map(|l| l.as_str())
            .collect();
        let mut unique = healed.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), healed.len(), "listed twice: {healed:?}");
        assert_eq!(
            healed
                .iter()
                .filter(|l| l.starts_with("Would create directory: logs"))
                .count(),
            2,
            "logs and logs/backups: {healed:?}"
        );
        let (rc, heal) = f.json(&["heal", "--mode", mode]);
        assert_eq!(rc, 0, "{heal}");
        assert_eq!(health(&check), health(&heal), "{mode}");
        assert_eq!(check["health"]["score"], 100, "{mode}");
        assert_eq!(check["start_allowed"], heal["start_allowed"], "{mode}");
        assert_eq!(
            check["healed"].as_array().map(Vec::len),
            heal["healed"].as_array().map(Vec::len)
        );
    }
}

#[test]
fn wording_has_the_right_tense_and_number() {
    let f = Fixture::with_root();
    let check = stderr(&f.run(&["check"]));
    let would: Vec<&str> = lines(&check)
        .into_iter()
        .filter(|l| l.starts_with("   🔧 "))
        .collect();
    assert!(
        would.iter().all(|l| l.starts_with("   🔧 Would ")),
        "{check}"
    );
    for dir in ["logs", "logs/backups"] {
        let line = format!("   🔧 Would create directory: {dir}");
        assert_eq!(
            would.iter().filter(|l| **l == line).count(),
            1,
            "{line}: {check}"
        );
    }
    assert!(
        lines(&check)
            .contains(&format!("🔧 [SELF-HEAL] Would heal {} issues", would.len()).as_str()),
        "{check}"
    );
    let dry = stderr(&f.run(&["heal", "--dry-run"]));
    let dry_would: Vec<&str> = lines(&dry)
        .into_iter()
        .filter(|l| l.starts_with("   🔧 "))
        .collect();
    assert_eq!(
        dry_would, would,
        "heal --dry-run words its plan as check does"
    );
    assert!(
        lines(&dry).contains(&format!("🔧 [SELF-HEAL] Would heal {} issues", would.len()).as_str())
            && !dry.contains("Healed"),
        "{dry}"
    );
    let heal = stderr(&f.run(&["heal"]));
    for line in [
        "   ✅ Created directory: logs",
        "   ✅ Created directory: logs/backups",
        &format!("✅ [SELF-HEAL] Healed {} issues", would.len()),
    ] {
        assert_eq!(
            lines(&heal).iter().filter(|l| **l == line).count(),
            1,
            "{line}: {heal}"
        );
    }
    // One of each: singular.
    std::fs::remove_dir(f.path("data")).expect("rmdir");
    let check = stderr(&f.run(&["check"]));
    assert!(
        lines(&check).contains(&"   🔧 Would create directory: data")
            && lines(&check).contains(&"🔧 [SELF-HEAL] Would heal 1 issue"),
        "{check}"
    );
    let heal = stderr(&f.run(&["heal"]));
    assert!(
        lines(&heal).contains(&"   ✅ Created directory: data")
            && lines(&heal).contains(&"✅ [SELF-HEAL] Healed 1 issue"),
        "{heal}"
    );
    let dry = stderr(&f.run(&["rollback", "2", "--dry-run"]));
    assert_eq!(
        lines(&dry),
        [
            "   ↩️  Would remove directory: data",
            "[SELF-HEAL] Would roll back transaction 2 (1 operation)"
        ],
        "{dry}"
    );
    let list = data_of(&f.run(&["journal", "list"]));
    assert!(lines(&list)[1].contains("   1 op   committed"), "{list}");
    assert!(!list.contains("(s)"), "{list}");
    let verify = data_of(&f.run(&["journal", "verify"]));
    assert!(
        verify.starts_with("journal verified: 2 transactions, "),
        "{verify}"
    );
    let f = conflicted();
    let out = f.run(&["heal", "--mode", "paper"]);
    let text = stderr(&out);
    let n = lines(&text)
        .iter()
        .filter(|l| l.starts_with("🚨 [CRITICAL] "))
        .count();
    let want = match n {
        1 => "🚨 [SELF-HEAL] Found 1 dangerous issue (NOT auto-healed)".to_string(),
        n => format!("🚨 [SELF-HEAL] Found {n} dangerous issues (NOT auto-healed)"),
    };
    assert!(lines(&text).contains(&want.as_str()), "{text}");
}

#[test]
fn the_debug_scan_finds_what_it_looks_for() {
    for bad in [
        "bytes 1..2 (Truncated)",
        "undo op 0 (ReplaceFile) of",
        "kind: CreateDir(x)",
        "x Some(3)",
        "None",
        "Outcome::Lossy { lossless: false }",
        "a ReplaceFile {",
    ] {
        assert!(debug_name(bad).is_some(), "input: {bad}");
    }
    for good in [
        "bytes 1..2 (truncated)",
        "🚨 [SELF-HEAL] Found 1 dangerous issue (NOT auto-healed)",
        "BTCUSDT / trend / LONG",
        "Created directory: logs",
        "(transaction 3)",
        "{ \"open_positions\": [] }",
        "Nothing to heal",
    ] {
        assert_eq!(debug_name(good), None, "input: {good}");
    }
}

#[test]
fn no_output_of_a_scripted_session_shows_a_rust_debug_name() {
    let f = Fixture::with_root();
    let mut outputs: Vec<(String, Output)> = Vec::new();
    let mut run = |args: &[&str]| {
        let out = f.run(args);
        outputs.push((args.join(" "), out));
    };
    run(&["-v", "check"]);
    run(&["--json", "check"]);
    run(&["-v", "heal"]);
    let _ = truncated(&f);
    run(&["salvage"]);
    run(&["--json", "salvage"]);
    run(&["-v", "check", "--mode", "real"]);
    run(&["-v", "heal", "--mode", "real"]);
    let (rc, salvaged) = f.json(&["heal", "--mode", "paper"]);
    assert_eq!(rc, 0, "{salvaged}");
    let salvage_txn = salvaged["transaction"].as_u64().expect("txn").to_string();
    run(&["-v", "check", "--mode", "real"]);
    run(&["--json", "heal", "--mode", "real"]);
    run(&["journal", "list"]);
    for id in ["1", "2", salvage_txn.as_str()] {
        run(&["journal", "show", id]);
        run(&["--json", "journal", "show", id]);
    }
    run(&["journal", "verify"]);
    run(&["--json", "journal", "verify"]);
    run(&["stats"]);
    run(&["--json", "stats"]);
    run(&["config"]);
    run(&["ack", &salvage_txn]);
    run(&["rollback", &salvage_txn, "--dry-run"]);
    let (rc, undone) = f.json(&["rollback", &salvage_txn]);
    assert_eq!(rc, 0, "{undone}");
    let undo_txn = undone["transaction"].as_u64().expect("txn").to_string();
    run(&["journal", "show", &undo_txn]);
    run(&["journal", "list"]);
    run(&["journal", "verify"]);
    run(&["recover"]);
    run(&["prune", "--keep", "1", "--older-than", "0s"]);
    run(&["journal", "list"]);
    run(&["watch", "--cycles", "1", "--interval", "0s"]);
    run(&["rollback", "99"]);
    let mut seen = 0;
    for (args, out) in &outputs {
        assert!(code(out) != 8, "{args}: {}", stderr(out));
        for (stream, text) in [("stdout", stdout(out)), ("stderr", stderr(out))] {
            seen += text.len();
            if let Some(hit) = debug_name(&text) {
                panic!("{args}: {stream} shows a Debug name near {hit:?}:\n{text}");
            }
        }
    }
    assert!(seen > 10_000, "the session printed only {seen} bytes");
}

#[test]
fn a_failed_write_to_stdout_is_exit_8() {
    let f = Fixture::with_root();
    assert_eq!(code(&f.run(&["heal"])), 0);
    let _ = truncated(&f);
    for args in [
        &["salvage"][..],
        &["journal", "list"],
        &["config"],
        &["--json", "check"],
    ] {
        let out = f.cmd(args).stdout(dev_full()).output().expect("run");
        assert_eq!(code(&out), 8, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out)
                .lines()
                .any(|l| l.starts_with("selfheal: cannot write to standard output: ")),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let f = Fixture::with_root();
    assert_eq!(code(&f.run(&["heal"])), 0);
    for args in [&["journal", "list"][..], &["config"], &["stats"]] {
        let out = f.cmd(args).stdout(closed_pipe()).output().expect("run");
        let quiet = match args[0] {
            "config" => "effective configuration, from the embedded default:\n",
            _ => "",
        };
        assert_eq!((code(&out), stderr(&out).as_str()), (0, quiet), "{args:?}");
    }
    // The command's own outcome stands: a refused start is still 4, a loss still 1.
    let c = conflicted();
    let out = c
        .cmd(&["--json", "heal", "--mode", "real"])
        .stdout(closed_pipe())
        .output()
        .expect("run");
    assert_eq!((code(&out), stderr(&out)), (4, String::new()));
    let _ = truncated(&f);
    let out = f
        .cmd(&["-q", "salvage"])
        .stdout(closed_pipe())
        .output()
        .expect("run");
    assert_eq!((code(&out), stderr(&out)), (1, String::new()));
}

#[test]
fn lock_timeout_is_taken_only_where_the_lock_is() {
    let f = Fixture::with_root();
    for args in [
        &["--lock-timeout", "5s", "heal"][..],
        &["heal", "--lock-timeout", "5s"],
        &["rollback", "2", "--dry-run", "--lock-timeout", "5s"],
        &["recover", "--lock-timeout", "5s"],
        &["prune", "--lock-timeout", "5s"],
        &[
            "watch",
            "--cycles",
            "1",
            "--interval",
            "0s",
            "--lock-timeout",
            "5s",
        ],
        &["--lock-timeout", "5s", "prune"],
    ] {
        let out = f.run(args);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
    }
    let out = f.run(&["--lock-timeout", "5s", "check"]);
    assert_eq!(code(&out), 16);
    assert_eq!(
        stderr(&out),
        "selfheal: --lock-timeout applies only to the commands that take selfheal's lock (heal, rollback, recover, prune, watch, ack, journal rekey, journal quarantine); `check` never takes it\n"
    );
    let out = f.run(&["--lock-timeout", "5s", "journal", "verify"]);
    assert!(
        stderr(&out).ends_with("; `journal verify` never takes it\n"),
        "{}",
        stderr(&out)
    );
    for args in [
        &["check", "--lock-timeout", "5s"][..],
        &["journal", "list", "--lock-timeout", "5s"],
        &["stats", "--lock-timeout", "5s"],
        &["config", "--lock-timeout", "5s"],
        &["--lock-timeout", "5s", "journal", "verify"],
        &["--lock-timeout", "5s", "heal", "--lock-timeout", "5s"],
    ] {
        let out = f.run(args);
        assert_eq!(code(&out), 16, "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?}");
    }
    let help = |args: &[&str]| stdout(&f.run(args));
    assert!(help(&["heal", "--help"]).contains("--lock-timeout <DUR>"));
    assert!(help(&["watch", "--help"]).contains("--lock-timeout <DUR>"));
    assert!(!help(&["check", "--help"]).contains("lock-timeout"));
    assert!(!help(&["journal", "list", "--help"]).contains("lock-timeout"));
    assert!(!help(&["--help"]).contains("lock-timeout"));
    // The wait is the one given, after the command as before it.
    let lock = std::fs::File::open(f.path("logs/backups")).expect("open dir");
    lock.lock().expect("flock");
    let out = f.run(&["heal", "--lock-timeout", "300ms"]);
    assert_eq!(code(&out), 32, "{}", stderr(&out));
    drop(lock);
}

#[test]
fn stdin_salvage_keeps_the_document_exact() {
    let f = Fixture::with_root();
    assert_eq!(code(&f.run(&["heal"])), 0);
    let damaged = format!(
        r#"{{"open_positions": [{}], "closed_positions": []"#,
        position("A")
    );
    let mut child = f
        .cmd(&["salvage", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(damaged.as_bytes()).expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON document");
    assert_eq!(doc["open_positions"][0]["symbol"], "A");
    assert!(
        stderr(&out).starts_with("-: salvaged 1 record, lost at least 0 records and "),
        "{}",
        stderr(&out)
    );
}
