//! Stale heartbeats in both formats: reset to now with every other byte kept, staleness
//! reported, rollback restoring the old bytes; fresh ones untouched; garbage repaired.

use crate::support::procs::{get, mtime_ns, now, put, selfheal, tempdir};
use serde_json::Value;

const JSON_HB: &str = "state/heartbeats/bot_cycle.json";
const PLAIN_HB: &str = "logs/.bot_heartbeat";

fn dt(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

fn json_heartbeat(ts: i64) -> String {
    format!(
        "{{\n  \"component\": \"bot_cycle\",\n  \"last_heartbeat_ts\": {ts},\n  \"last_heartbeat_dt\": \"{}\",\n  \"metadata\": {{\n    \"portfolio_value\": 10000.50,\n    \"open_positions\": 2,\n    \"available_margin\": 7500.0\n  }}\n}}\n",
        dt(ts)
    )
}

#[test]
fn stale_heartbeats_are_reset_keeping_everything_else() {
    let root = tempdir();
    let r = root.path();
    let old_ts = now() - 5000;
    let old_json = json_heartbeat(old_ts);
    put(r, JSON_HB, old_json.as_bytes());
    put(r, PLAIN_HB, format!("{old_ts}\n").as_bytes());
    let before = now();
    let run = selfheal(r, &["heal"]);
    let after = now();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stat("heartbeats_reset"), 2);
    assert!(run.healed(&format!(
        "Reset stale heartbeat: bot_cycle ({JSON_HB}, stale for 50"
    )));
    assert!(run.healed(&format!(
        "Reset stale heartbeat: bot_heartbeat ({PLAIN_HB}, stale for 50"
    )));
    let reported = run.findings("STALE_HEARTBEAT");
    assert_eq!(reported.len(), 2, "staleness is reported, never hidden");
    assert!(reported
        .iter()
        .all(|f| f["message"].as_str().is_some_and(|m| m.contains(" s old"))));

    let new_json = String::from_utf8(get(r, JSON_HB).expect("json heartbeat")).expect("utf8");
    let doc: Value = serde_json::from_str(&new_json).expect("valid json");
    let ts = doc["last_heartbeat_ts"].as_i64().expect("ts");
    assert!((before..=after).contains(&ts));
    let want = old_json
        .replace(&old_ts.to_string(), &ts.to_string())
        .replace(&dt(old_ts), &dt(ts));
    assert_eq!(new_json, want, "only the two timestamp values change");
    let plain = String::from_utf8(get(r, PLAIN_HB).expect("plain")).expect("utf8");
    let plain_ts: i64 = plain.trim().parse().expect("integer");
    assert!((before..=after).contains(&plain_ts) && plain.ends_with('\n'));

    let rb = selfheal(r, &["rollback", &run.txn()]);
    assert_eq!(rb.code, 0, "{}", rb.stderr);
    assert_eq!(get(r, JSON_HB), Some(old_json.into_bytes()));
    assert_eq!(get(r, PLAIN_HB), Some(format!("{old_ts}\n").into_bytes()));
}

#[test]
fn fresh_heartbeats_are_untouched() {
    let root = tempdir();
    let r = root.path();
    let ts = now() - 30;
    let json = put(r, JSON_HB, json_heartbeat(ts).as_bytes());
    let plain = put(r, PLAIN_HB, format!("{ts}").as_bytes());
    let (mj, mp) = (mtime_ns(&json), mtime_ns(&plain));
    let run = selfheal(r, &["heal"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stat("heartbeats_reset"), 0);
    assert!(run.findings("STALE_HEARTBEAT").is_empty());
    assert_eq!(get(r, JSON_HB), Some(json_heartbeat(ts).into_bytes()));
    assert_eq!(get(r, PLAIN_HB), Some(ts.to_string().into_bytes()));
    assert_eq!((mtime_ns(&json), mtime_ns(&plain)), (mj, mp));
}

#[test]
fn garbage_heartbeats_are_repaired() {
    let root = tempdir();
    let r = root.path();
    put(
        r,
        "state/heartbeats/risk.json",
        b"\x00\xff{\"component\": tor",
    );
    put(r, "state/heartbeats/empty.json", b"");
    put(r, PLAIN_HB, b"soon\n");
    let before = now();
    let run = selfheal(r, &["heal"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stat("heartbeats_reset"), 3);
    assert!(run.healed("Repaired unreadable heartbeat: risk (state/heartbeats/risk.json"));
    for (file, component) in [
        ("state/heartbeats/risk.json", "risk"),
        ("state/heartbeats/empty.json", "empty"),
    ] {
        let doc: Value =
            serde_json::from_slice(&get(r, file).expect("written")).expect("valid json");
        assert_eq!(doc["component"], component);
        assert!(doc["last_heartbeat_ts"]
            .as_i64()
            .is_some_and(|t| t >= before));
        assert!(doc["last_heartbeat_dt"]
            .as_str()
            .is_some_and(|d| d.ends_with(" UTC")));
        assert_eq!(doc["metadata"], serde_json::json!({}));
    }
    // An unreadable plain heartbeat is rewritten as the ISO text the bot itself writes.
    let plain = String::from_utf8(get(r, PLAIN_HB).expect("plain")).expect("utf8");
    let iso = chrono::NaiveDateTime::parse_from_str(plain.trim(), "%Y-%m-%dT%H:%M:%S%.6f")
        .expect("naive ISO-8601 with microseconds");
    assert!(iso.and_utc().timestamp() >= before, "{plain}");
    let again = selfheal(r, &["heal"]);
    assert_eq!(
        again.stat("heartbeats_reset"),
        0,
        "repaired heartbeats are fresh"
    );
}
