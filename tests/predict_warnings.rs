//! Predictive warnings: for each one a fixture that triggers it and one that does not, and
//! silence on trial data (a fresh root: one large write on the disk, three test heals in an
//! hour). History is faked by rewriting the journal (commit summaries and record times,
//! re-chained so `journal verify` still passes), never by waiting; `check` reads without
//! writing, so what it measures is what the test measured.

use crate::support::states::{
    ago, heal, heal_one_more, retime, rewrite_all, root_with, root_with_history, verify_ok,
    FOUR_FILES as CONFIG,
};
use crate::support::Fixture;
use journal_format as jf;
use serde_json::Value;

/// The findings of `check --json` with `code`.
fn check_findings(f: &Fixture, code: &str) -> Vec<Value> {
    let (rc, v) = f.json(&["check"]);
    assert!(rc == 0 || rc == 1, "check: {v}");
    findings(&v, code)
}

fn findings(report: &Value, code: &str) -> Vec<Value> {
    report["findings"]
        .as_array()
        .map(|a| a.iter().filter(|x| x["code"] == code).cloned().collect())
        .unwrap_or_default()
}

/// One heal per sample, oldest first; then each transaction's commit summary gets `key` =
/// the sample's value and the transaction moves to the sample's time (`(seconds ago,
/// value)`). Returns the transactions.
fn fake_samples(f: &Fixture, key: &str, samples: &[(i64, u64)]) -> Vec<u64> {
    let txns: Vec<u64> = samples.iter().map(|_| heal_one_more(f)).collect();
    rewrite_all(f, |t, r| {
        let sample = txns.iter().position(|x| *x == t).map(|i| samples[i]);
        if let Some((secs, value)) = sample {
            r.ts = ago(secs);
            if let jf::Body::Commit(c) = &mut r.body {
                c.summary[key] = Value::from(value);
            }
        }
    });
    verify_ok(f);
    txns
}

/// Hours ago of a series of samples spanning 8 h.
const HOURS: [i64; 5] = [8, 6, 4, 2, 1];

/// `HOURS` samples of `value(hours_ago)`.
fn series(value: impl Fn(i64) -> u64) -> Vec<(i64, u64)> {
    HOURS.iter().map(|h| (h * 3600, value(*h))).collect()
}

fn free_bytes(f: &Fixture) -> u64 {
    let vfs = rustix::fs::statvfs(f.root()).expect("statvfs");
    vfs.f_bavail * vfs.f_frsize
}

/// The size of `logs/backups/` as `du --apparent-size` would sum its files.
fn backups_bytes(f: &Fixture) -> u64 {
    crate::support::exact_tree(&f.path("logs/backups"))
        .values()
        .map(|node| match node {
            crate::support::Node::File { bytes, .. } => bytes.len() as u64,
            _ => 0,
        })
        .sum()
}

fn heartbeat(f: &Fixture, age_s: i64) {
    let ts = chrono::Utc::now().timestamp() - age_s;
    f.write(
        "state/heartbeats/engine.json",
        format!("{{\"component\": \"engine\", \"last_heartbeat_ts\": {ts}, \"metadata\": {{}}}}\n"),
    );
}

#[test]
fn heartbeat_past_80_percent_of_its_threshold_is_aging() {
    let f = Fixture::with_root();
    heartbeat(&f, 500);
    let aging = check_findings(&f, "HEARTBEAT_AGING");
    assert_eq!(aging.len(), 1, "500 s of 600 s: {aging:?}");
    assert_eq!(aging[0]["level"], "HIGH");
    assert_eq!(aging[0]["path"], "state/heartbeats/engine.json");
    let (rc, v) = f.json(&["heal"]);
    assert_eq!(rc, 0, "{v}");
    assert_eq!(findings(&v, "HEARTBEAT_AGING").len(), 1, "{v}");
    let alerts = String::from_utf8(f.read("logs/operator_alerts.jsonl")).expect("utf8");
    assert!(
        alerts.contains("\"category\":\"HEARTBEAT_AGING\""),
        "{alerts}"
    );

    let g = Fixture::with_root();
    heartbeat(&g, 300);
    assert!(
        check_findings(&g, "HEARTBEAT_AGING").is_empty(),
        "300 s of 600 s"
    );
    heartbeat(&g, 700);
    assert!(
        check_findings(&g, "HEARTBEAT_AGING").is_empty(),
        "a stale heartbeat is STALE_HEARTBEAT, not a prediction"
    );
    assert_eq!(check_findings(&g, "STALE_HEARTBEAT").len(), 1);
}

#[test]
fn free_space_falling_toward_zero_within_a_day_is_forecast() {
    let f = root_with(CONFIG);
    // Falling steadily for 8 h: an hour ago there was twice as much free space as now, 8 h
    // ago nine times as much; at that rate it is gone within the hour.
    let free = free_bytes(&f);
    fake_samples(
        &f,
        "disk_free",
        &series(|h| free.saturating_mul(1 + h as u64)),
    );
    let w = check_findings(&f, "DISK_FORECAST");
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0]["level"], "HIGH");
    assert_eq!(w[0]["evidence"], "runs out within 24 h");
    let (_, v) = f.json(&["heal"]);
    assert_eq!(
        findings(&v, "DISK_FORECAST").len(),
        1,
        "heal warns too: {v}"
    );
}

#[test]
fn free_space_steady_or_falling_slowly_is_not_forecast() {
    let f = root_with(CONFIG);
    let free = free_bytes(&f);
    // 0.1% more free space 8 h ago: thousands of hours left at that rate.
    let txns = fake_samples(&f, "disk_free", &series(|h| free + free / 8000 * h as u64));
    assert!(check_findings(&f, "DISK_FORECAST").is_empty());
    // Free space that grew is no forecast either.
    rewrite_summaries(&f, &txns, "disk_free", |_| 0);
    assert!(check_findings(&f, "DISK_FORECAST").is_empty());
}

/// Sets `key` in the commit summaries of `txns` to `value(index)`.
fn rewrite_summaries(f: &Fixture, txns: &[u64], key: &str, value: impl Fn(usize) -> u64) {
    rewrite_all(f, |t, r| {
        let i = txns.iter().position(|x| *x == t);
        if let (Some(i), jf::Body::Commit(c)) = (i, &mut r.body) {
            c.summary[key] = Value::from(value(i));
        }
    });
    verify_ok(f);
}

/// A fresh root's trial: its first heals within the last hour, while a large build on the
/// same disk took most of the free space between two of them.
#[test]
fn trial_data_raises_no_prediction() {
    let f = root_with(CONFIG);
    let free = free_bytes(&f);
    // Three heals of state/a.json in 40 minutes (the first creates it).
    let first = heal(&f);
    let second = empty_and_heal(&f)["transaction"].as_u64().expect("txn");
    let v = empty_and_heal(&f);
    let third = v["transaction"].as_u64().expect("txn");
    assert!(findings(&v, "HEALING_ESCALATION").is_empty(), "{v}");
    // 40 and 20 minutes ago there was ten times as much free space: the build ate it.
    rewrite_all(&f, |t, r| {
        let (when, value) = match t {
            t if t == first => (ago(2400), free.saturating_mul(10)),
            t if t == second => (ago(1200), free.saturating_mul(10)),
            t if t == third => (ago(300), free),
            _ => return,
        };
        r.ts = when;
        if let jf::Body::Commit(c) = &mut r.body {
            c.summary["disk_free"] = Value::from(value);
            c.summary["backups_bytes"] = Value::from(0u64);
        }
    });
    verify_ok(&f);
    let (rc, v) = f.json(&["check"]);
    assert!(rc == 0 || rc == 1, "{v}");
    let predicted: Vec<&Value> = v["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|x| {
                    ["DISK_FORECAST", "HEALING_ESCALATION", "BACKUPS_GROWTH"]
                        .iter()
                        .any(|c| x["code"] == *c)
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(predicted.is_empty(), "{predicted:?}");
    let alerts = std::fs::read_to_string(f.path("logs/operator_alerts.jsonl")).unwrap_or_default();
    assert!(!alerts.contains("HEALING_ESCALATION"), "{alerts}");
}

/// One large write 7 h ago, nothing since: the older half of the span falls, the newer
/// does not. The same root with the fall spread over both halves is forecast.
#[test]
fn a_one_off_drop_of_free_space_is_not_a_trend() {
    let f = root_with(CONFIG);
    let free = free_bytes(&f);
    let txns = fake_samples(
        &f,
        "disk_free",
        &series(|h| {
            if h >= 8 {
                free.saturating_mul(10)
            } else {
                free
            }
        }),
    );
    assert!(check_findings(&f, "DISK_FORECAST").is_empty());
    rewrite_summaries(&f, &txns, "disk_free", |i| {
        free.saturating_mul(10 - 2 * i as u64)
    });
    assert_eq!(check_findings(&f, "DISK_FORECAST").len(), 1);
}

fn empty_and_heal(f: &Fixture) -> Value {
    f.write("state/a.json", "");
    let (rc, v) = f.json(&["heal"]);
    assert_eq!(rc, 0, "{v}");
    v
}

/// Heals state/a.json three times (creating it, then twice after emptying it); the third
/// report is returned and must escalate.
fn three_heals_of_a(f: &Fixture) -> Value {
    let v = heal_json(f);
    assert!(findings(&v, "HEALING_ESCALATION").is_empty(), "{v}");
    let v = empty_and_heal(f);
    assert!(findings(&v, "HEALING_ESCALATION").is_empty(), "{v}");
    empty_and_heal(f)
}

fn heal_json(f: &Fixture) -> Value {
    let (rc, v) = f.json(&["heal"]);
    assert_eq!(rc, 0, "{v}");
    v
}

#[test]
fn the_same_file_healed_three_times_within_the_hour_escalates() {
    let f = root_with_history(CONFIG);
    let v = three_heals_of_a(&f);
    let e = findings(&v, "HEALING_ESCALATION");
    let mentions_a = |x: &Value| x["path"] == "state/a.json";
    assert!(e.len() == 1 && mentions_a(&e[0]), "{v}");
    assert!(
        e[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("state/a.json was healed 3 times")),
        "{e:?}"
    );
    let alerts = String::from_utf8(f.read("logs/operator_alerts.jsonl")).expect("utf8");
    let escalated: Vec<&str> = alerts
        .lines()
        .filter(|l| l.contains("\"category\":\"HEALING_ESCALATION\""))
        .collect();
    assert_eq!(escalated.len(), 1, "{alerts}");
    assert!(escalated[0].contains("\"action_required\":true"));
    assert_eq!(check_findings(&f, "HEALING_ESCALATION").len(), 1);
}

#[test]
fn the_same_heals_on_a_root_younger_than_a_day_do_not_escalate() {
    let f = root_with(CONFIG);
    let first = heal(&f);
    retime(&f, &[first], &ago(23 * 3600));
    verify_ok(&f);
    for name in ["a", "b", "c", "d"] {
        std::fs::remove_file(f.path(&format!("state/{name}.json"))).expect("remove");
    }
    let v = three_heals_of_a(&f);
    assert!(findings(&v, "HEALING_ESCALATION").is_empty(), "{v}");
    assert!(check_findings(&f, "HEALING_ESCALATION").is_empty());
}

#[test]
fn the_history_age_survives_a_prune_of_the_oldest_runs() {
    let f = root_with_history(CONFIG);
    heal(&f); // the files again: the two-day-old run is no longer the newest
    let out = f.json(&["prune", "--keep", "1", "--older-than", "0s"]);
    assert_eq!(out.0, 0, "{}", out.1);
    let (_, stats) = f.json(&["stats"]);
    let first = stats["first_run"].as_str().expect("first_run carried");
    let began = chrono::DateTime::parse_from_rfc3339(first).expect("rfc 3339");
    let age = chrono::Utc::now().timestamp() - began.timestamp();
    assert!(age >= 47 * 3600, "{stats}");
    let v = empty_and_heal(&f);
    assert!(findings(&v, "HEALING_ESCALATION").is_empty(), "{v}");
    let v = empty_and_heal(&f);
    assert_eq!(findings(&v, "HEALING_ESCALATION").len(), 1, "{v}");
}

#[test]
fn heals_spread_over_more_than_an_hour_do_not_escalate() {
    let f = root_with_history(CONFIG);
    let first = heal(&f);
    let second = empty_and_heal(&f)["transaction"].as_u64().expect("txn");
    retime(&f, &[first, second], &ago(2 * 3600));
    verify_ok(&f);
    let v = empty_and_heal(&f);
    assert!(findings(&v, "HEALING_ESCALATION").is_empty(), "{v}");
    assert!(check_findings(&f, "HEALING_ESCALATION").is_empty());
}

/// A root whose backups grew linearly from `then` bytes 8 h ago to their size now (five
/// samples), with `warn_size` set to `factor` times that size.
fn backups_fixture(then: u64, factor: u64) -> Fixture {
    let f = root_with(CONFIG);
    let txns = fake_samples(&f, "backups_bytes", &series(|_| 0));
    let now = backups_bytes(&f);
    rewrite_summaries(&f, &txns, "backups_bytes", |i| {
        let h = HOURS[i] as u64;
        then + now.saturating_sub(then) * (8 - h) / 8
    });
    let config = CONFIG.replace(
        r#""warn_size": "1GiB""#,
        &format!(r#""warn_size": "{}""#, now * factor),
    );
    f.write("config/selfheal.json", config);
    f
}

#[test]
fn backups_growing_past_warn_size_within_a_day_are_forecast() {
    // From nothing to N bytes in 8 h, with warn_size 2N: reached in about 8 h.
    let f = backups_fixture(0, 2);
    let w = check_findings(&f, "BACKUPS_GROWTH");
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0]["level"], "HIGH");
    assert!(check_findings(&f, "BACKUPS_SIZE").is_empty());
}

#[test]
fn backups_growing_slowly_or_not_at_all_are_not_forecast() {
    // From nothing to N bytes in 8 h, with warn_size 100N: about 33 days left.
    let f = backups_fixture(0, 100);
    assert!(check_findings(&f, "BACKUPS_GROWTH").is_empty());
    // Not growing, even close to the limit.
    let g = root_with(CONFIG);
    fake_samples(&g, "backups_bytes", &series(|_| u64::MAX / 2));
    let config = CONFIG.replace(
        r#""warn_size": "1GiB""#,
        &format!(r#""warn_size": "{}""#, backups_bytes(&g) + 1),
    );
    g.write("config/selfheal.json", config);
    assert!(check_findings(&g, "BACKUPS_GROWTH").is_empty());
}
