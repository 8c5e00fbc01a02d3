//! `stats` matches a scripted history of heals, failed heals, an aborted run, rollbacks,
//! criticals and salvage losses exactly, keeps matching after the history is pruned, and
//! writes a Prometheus textfile that parses (HELP and TYPE for every family, valid samples)
//! atomically, leaving no temp file.

#[cfg_attr(not(feature = "fault-injection"), allow(unused_imports))]
use crate::support::states::{
    copy_of, heal, prune, rewrite_all, rollback, root_with, verify_ok, FOUR_FILES as CONFIG,
};
use crate::support::{code, stderr, Fixture};
use journal_format as jf;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// What the script expects, accumulated from each command's own report.
#[derive(Default)]
struct Expected {
    runs: u64,
    successes: u64,
    aborted: u64,
    heals: BTreeMap<String, u64>,
    failures: u64,
    rollbacks: u64,
}

impl Expected {
    fn heal(&mut self, f: &Fixture) -> u64 {
        let (rc, v) = f.json(&["heal"]);
        assert_eq!(rc, 0, "{v}");
        self.runs += 1;
        self.successes += 1;
        for a in v["actions"].as_array().expect("actions") {
            if a["result"] == "applied" {
                let kind = a["heal"].as_str().expect("heal").to_string();
                *self.heals.entry(kind).or_default() += 1;
            }
        }
        self.failures += v["failed"].as_array().map_or(0, Vec::len) as u64;
        v["transaction"].as_u64().expect("transaction")
    }
}

/// Adds criticals and salvage losses to the commit summary of `txn`, as the detectors and
/// the salvage heal record them, and re-chains the journal.
fn record_findings(f: &Fixture, txn: u64) {
    rewrite_all(f, |t, r| {
        if let (true, jf::Body::Commit(c)) = (t == txn, &mut r.body) {
            c.summary["critical"] = json!([
                {"code": "POSITION_CONFLICT", "path": "logs/positions_futures.json", "evidence": "x"},
                {"code": "STATE_MISMATCH", "path": "logs/portfolio_futures.json", "evidence": "y"},
                {"code": "POSITION_CONFLICT", "path": "logs/positions_futures.json", "evidence": "z"}
            ]);
            c.summary["salvage"] = json!([
                {"path": "state/a.json", "records_lost": 2, "bytes_lost": 40},
                {"path": "state/b.json", "records_lost": 1, "bytes_lost": 3}
            ]);
        }
    });
}

fn stats(f: &Fixture) -> Value {
    let (rc, v) = f.json(&["stats"]);
    assert_eq!(rc, 0, "{v}");
    v
}

/// Checks every number `stats` reports against the script.
fn assert_matches(v: &Value, e: &Expected, last: u64) {
    let heals: BTreeMap<String, u64> = serde_json::from_value(v["heals"].clone()).expect("heals");
    assert_eq!(heals, e.heals, "{v}");
    let got = [
        &v["runs"],
        &v["successes"],
        &v["aborted_runs"],
        &v["failures"],
        &v["rollbacks"],
    ];
    let want = [e.runs, e.successes, e.aborted, e.failures, e.rollbacks].map(Value::from);
    assert_eq!(got, want.iter().collect::<Vec<_>>().as_slice(), "{v}");
    assert_eq!(
        v["criticals"],
        json!({"POSITION_CONFLICT": 2, "STATE_MISMATCH": 1}),
        "{v}"
    );
    assert_eq!(v["salvage_records_lost"], 3);
    assert_eq!(v["salvage_bytes_lost"], 43);
    let ratio = e.successes as f64 / e.runs as f64;
    assert!(
        (v["success_ratio"].as_f64().expect("ratio") - ratio).abs() < 1e-9,
        "{v}"
    );
    assert_eq!(v["last_run"]["txn"], last, "{v}");
    assert_eq!(v["last_run"]["outcome"], "committed");
    assert!(v["last_run"]["duration_ms"].as_u64().is_some(), "{v}");
    assert!(
        v["last_run_timestamp"].as_f64().is_some_and(|t| t > 1e9),
        "{v}"
    );
}

/// A run that fails while applying (an I/O error on its first write) and is aborted.
#[cfg(feature = "fault-injection")]
fn aborted_run(f: &Fixture, e: &mut Expected) {
    let probe = copy_of(f);
    let out = probe
        .cmd(&["heal"])
        .env("SELFHEAL_FAULT_TRACE", "1")
        .output()
        .expect("trace");
    let k = stderr(&out)
        .lines()
        .filter(|l| l.starts_with("fault-point "))
        .position(|l| l.contains(" Write "))
        .expect("a write point")
        + 1;
    let out = f
        .cmd(&["heal"])
        .env("SELFHEAL_FAULT", format!("{k}:eio"))
        .output()
        .expect("run");
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    e.runs += 1;
    e.aborted += 1;
}

#[cfg(not(feature = "fault-injection"))]
fn aborted_run(_: &Fixture, _: &mut Expected) {}

/// The script: init, an empty file healed, a failed heal (symlinked file), a rollback, the
/// heal again, an aborted run, a last heal; criticals and salvage losses recorded on one
/// run (which is then not a success).
fn scripted() -> (Fixture, Expected, u64) {
    let f = root_with(CONFIG);
    let mut e = Expected::default();
    e.heal(&f);
    f.write("state/a.json", "");
    let t2 = e.heal(&f);
    std::fs::remove_file(f.path("state/b.json")).expect("rm b");
    std::os::unix::fs::symlink(f.dir.path().join("elsewhere.json"), f.path("state/b.json"))
        .expect("symlink");
    e.heal(&f);
    rollback(&f, t2);
    e.rollbacks += 1;
    let t5 = e.heal(&f);
    f.write("state/c.json", "null");
    aborted_run(&f, &mut e);
    let last = e.heal(&f);
    record_findings(&f, t5);
    e.successes -= 1;
    assert!(e.failures >= 3, "the symlinked file fails in three runs");
    (f, e, last)
}

#[test]
fn stats_match_a_scripted_history_exactly_and_survive_pruning() {
    let (f, e, last) = scripted();
    verify_ok(&f);
    let before = stats(&f);
    assert_matches(&before, &e, last);
    prune(&f, &["--keep", "1", "--older-than", "0s"]);
    verify_ok(&f);
    let after = stats(&f);
    assert!(after["pruned_through"].as_u64().is_some(), "{after}");
    assert_matches(&after, &e, last);
}

/// A small parser of the Prometheus text exposition format: every sample belongs to a
/// family declared by `# HELP` then `# TYPE` before it, names and labels are well formed,
/// values are numbers. Returns `name{labels}` -> value.
fn parse_prom(text: &str) -> BTreeMap<String, f64> {
    assert!(text.ends_with('\n'), "the file ends with a newline");
    let name_ok = |n: &str| {
        n.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
        }) && !n.is_empty()
    };
    let mut help = std::collections::BTreeSet::new();
    let mut types = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, doc) = rest.split_once(' ').expect("help text");
            assert!(name_ok(name) && !doc.is_empty(), "{line}");
            assert!(help.insert(name.to_string()), "HELP twice: {line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("type");
            assert!(help.contains(name), "TYPE before HELP: {line}");
            assert!(["counter", "gauge"].contains(&kind), "{line}");
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "{line}"
            );
        } else {
            let (series, value) = line.rsplit_once(' ').expect("sample value");
            let name = series.split('{').next().unwrap_or_default();
            assert!(name_ok(name), "{line}");
            assert!(types.contains_key(name), "sample without TYPE: {line}");
            if types[name] == "counter" {
                assert!(name.ends_with("_total"), "{line}");
            }
            if let Some(labels) = series.strip_prefix(name) {
                if !labels.is_empty() {
                    let inner = labels.strip_prefix('{').and_then(|l| l.strip_suffix('}'));
                    let (k, v) = inner.and_then(|i| i.split_once('=')).expect("label");
                    assert!(
                        name_ok(k) && v.starts_with('"') && v.ends_with('"'),
                        "{line}"
                    );
                }
            }
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value: {line}"));
            assert!(
                samples.insert(series.to_string(), value).is_none(),
                "{line}"
            );
        }
    }
    samples
}

/// Where `promtool` is installed, it must accept the file without a lint message too.
fn promtool_agrees(prom: &std::path::Path) {
    let Ok(file) = std::fs::File::open(prom) else {
        return;
    };
    let run = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(file)
        .output();
    if let Ok(out) = run {
        let said = format!("{}{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
        assert!(
            out.status.success() && said.trim().is_empty(),
            "promtool: {said}"
        );
    }
}

#[test]
fn prometheus_textfile_parses_matches_json_and_is_written_atomically() {
    let (f, e, _) = scripted();
    let dir = tempfile::tempdir().expect("tempdir");
    let prom = dir.path().join("selfheal.prom");
    std::fs::write(&prom, "stale\n").expect("old file");
    let p = prom.to_str().expect("utf8");
    let (rc, v) = f.json(&["stats", "--prometheus", p]);
    assert_eq!(rc, 0, "{v}");
    let text = std::fs::read_to_string(&prom).expect("prom file");
    let m = parse_prom(&text);
    assert_eq!(m["selfheal_runs_total"], e.runs as f64);
    assert_eq!(m["selfheal_rollbacks_total"], 1.0);
    assert_eq!(m["selfheal_failures_total"], e.failures as f64);
    assert_eq!(m["selfheal_aborted_runs_total"], e.aborted as f64);
    assert_eq!(
        m["selfheal_criticals_total{code=\"POSITION_CONFLICT\"}"],
        2.0
    );
    assert_eq!(m["selfheal_criticals_total{code=\"STATE_MISMATCH\"}"], 1.0);
    for (kind, n) in &e.heals {
        assert_eq!(
            m[&format!("selfheal_heals_total{{kind=\"{kind}\"}}")],
            *n as f64
        );
    }
    assert_eq!(m["selfheal_salvage_records_lost_total"], 3.0);
    assert_eq!(
        m["selfheal_success_ratio"],
        v["success_ratio"].as_f64().expect("ratio")
    );
    assert_eq!(
        m["selfheal_last_run_timestamp_seconds"],
        v["last_run_timestamp"].as_f64().expect("ts")
    );
    let ms = v["last_run"]["duration_ms"].as_f64().expect("ms");
    assert!((m["selfheal_last_run_duration_seconds"] - ms / 1000.0).abs() < 1e-9);
    assert_eq!(m["selfheal_journal_ok"], 1.0);
    promtool_agrees(&prom);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .map(|x| x.file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("selfheal.prom")],
        "no temp left"
    );
}

#[test]
fn stats_of_an_empty_journal_and_a_damaged_one() {
    let f = root_with(CONFIG);
    std::fs::create_dir_all(f.path("logs/backups/journal")).expect("mkdir");
    let v = stats(&f);
    assert_eq!(v["runs"], 0);
    assert!(
        v["success_ratio"].is_null() && v["last_run"].is_null(),
        "{v}"
    );
    heal(&f);
    heal(&f);
    let journal = f.path("logs/backups/journal/txn-0000000001.jsonl");
    let mut bytes = std::fs::read(&journal).expect("read");
    bytes[40] ^= 0x01;
    std::fs::write(&journal, bytes).expect("write");
    let dir = tempfile::tempdir().expect("tempdir");
    let prom = dir.path().join("x.prom");
    let out = f.run(&["stats", "--prometheus", prom.to_str().expect("utf8")]);
    assert_eq!(code(&out), 8, "a damaged journal: {}", stderr(&out));
    let m = parse_prom(&std::fs::read_to_string(&prom).expect("prom"));
    assert_eq!(m["selfheal_journal_ok"], 0.0);
}
