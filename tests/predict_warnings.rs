//! Predictive warnings: for each one a fixture that triggers it and one that does not.
//! History is faked by rewriting the journal (commit summaries and record times, re-chained
//! so `journal verify` still passes), never by waiting; `check` reads without writing, so
//! what it measures is what the test measured.

use crate::audit_prune::{heal, retime, rewrite_all, root_with, verify_ok, CONFIG};
use crate::util::Fixture;
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

/// An RFC 3339 time `secs` seconds ago.
fn ago(secs: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::seconds(secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Sets `key` in the commit summary of `txn` and moves the whole transaction `secs` ago.
fn fake_sample(f: &Fixture, txn: u64, key: &str, value: u64, secs: i64) {
    rewrite_all(f, |t, r| {
        if let (true, jf::Body::Commit(c)) = (t == txn, &mut r.body) {
            c.summary[key] = Value::from(value);
        }
    });
    retime(f, &[txn], &ago(secs));
    verify_ok(f);
}

fn free_bytes(f: &Fixture) -> u64 {
    let vfs = rustix::fs::statvfs(f.path("logs/backups")).expect("statvfs");
    vfs.f_bavail * vfs.f_frsize
}

/// The size of `logs/backups/` as `du --apparent-size` would sum its files.
fn backups_bytes(f: &Fixture) -> u64 {
    fn walk(p: &std::path::Path) -> u64 {
        std::fs::read_dir(p)
            .expect("list")
            .flatten()
            .map(|e| {
                let m = e.metadata().expect("stat");
                if m.is_dir() {
                    walk(&e.path())
                } else {
                    m.len()
                }
            })
            .sum()
    }
    walk(&f.path("logs/backups"))
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
    let t = heal(&f);
    // An hour ago there was three times as much free space: at that rate it is gone in 30 min.
    fake_sample(&f, t, "disk_free", free_bytes(&f).saturating_mul(3), 3600);
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
    let t = heal(&f);
    // 20 h ago there was 0.1% more free space: thousands of hours left at that rate.
    let free = free_bytes(&f);
    fake_sample(&f, t, "disk_free", free + free / 1000, 20 * 3600);
    assert!(check_findings(&f, "DISK_FORECAST").is_empty());
    // Free space that grew is no forecast either.
    fake_sample(&f, t, "disk_free", 0, 3600);
    assert!(check_findings(&f, "DISK_FORECAST").is_empty());
    // A sample younger than the minimum span gives no rate, however steep.
    fake_sample(&f, t, "disk_free", free.saturating_mul(100), 60);
    assert!(check_findings(&f, "DISK_FORECAST").is_empty());
}

fn empty_and_heal(f: &Fixture) -> Value {
    f.write("state/a.json", "");
    let (rc, v) = f.json(&["heal"]);
    assert_eq!(rc, 0, "{v}");
    v
}

#[test]
fn the_same_file_healed_three_times_within_the_hour_escalates() {
    let f = root_with(CONFIG);
    heal(&f); // creates state/a.json: its first heal
    let v = empty_and_heal(&f);
    assert!(findings(&v, "HEALING_ESCALATION").is_empty(), "{v}");
    let v = empty_and_heal(&f);
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
fn heals_spread_over_more_than_an_hour_do_not_escalate() {
    let f = root_with(CONFIG);
    let first = heal(&f); // creates state/a.json: its first heal
    let second = empty_and_heal(&f)["transaction"].as_u64().expect("txn");
    retime(&f, &[first, second], &ago(2 * 3600));
    verify_ok(&f);
    let v = empty_and_heal(&f);
    assert!(findings(&v, "HEALING_ESCALATION").is_empty(), "{v}");
    assert!(check_findings(&f, "HEALING_ESCALATION").is_empty());
}

/// A root whose backups are sampled at `then` bytes an hour ago, with `warn_size` set to
/// `factor` times their size now.
fn backups_fixture(then: u64, factor: u64) -> Fixture {
    let f = root_with(CONFIG);
    let t = heal(&f);
    fake_sample(&f, t, "backups_bytes", then, 3600);
    let now = backups_bytes(&f);
    let config = CONFIG.replace(
        r#""warn_size": "1GiB""#,
        &format!(r#""warn_size": "{}""#, now * factor),
    );
    f.write("config/selfheal.json", config);
    f
}

#[test]
fn backups_growing_past_warn_size_within_a_day_are_forecast() {
    // From nothing to N bytes in an hour, with warn_size 2N: reached in about an hour.
    let f = backups_fixture(0, 2);
    let w = check_findings(&f, "BACKUPS_GROWTH");
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0]["level"], "HIGH");
    assert!(check_findings(&f, "BACKUPS_SIZE").is_empty());
}

#[test]
fn backups_growing_slowly_or_not_at_all_are_not_forecast() {
    // From nothing to N bytes in an hour, with warn_size 100N: about 4 days left.
    let f = backups_fixture(0, 100);
    assert!(check_findings(&f, "BACKUPS_GROWTH").is_empty());
    // Not growing, even close to the limit.
    let g = root_with(CONFIG);
    let t = heal(&g);
    fake_sample(&g, t, "backups_bytes", u64::MAX / 2, 3600);
    let config = CONFIG.replace(
        r#""warn_size": "1GiB""#,
        &format!(r#""warn_size": "{}""#, backups_bytes(&g) + 1),
    );
    g.write("config/selfheal.json", config);
    assert!(check_findings(&g, "BACKUPS_GROWTH").is_empty());
}
