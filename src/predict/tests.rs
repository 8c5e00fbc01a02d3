//! The predictions on tables of histories: thresholds, the split trend, the history a root
//! needs before heals escalate, and the spacing of remembered samples.

use crate::checks::heartbeats::HeartbeatAge;
use crate::findings::{code, Level};

use super::trend::trend;
use super::warnings::{backups_growth, disk_forecast, flapping, heartbeat_aging};
use crate::journal::history::{Healed, History, Measured, Sample};

use super::*;
use crate::paths::RelPath;

const NOW: i64 = 1_800_000_000;
const GIB: u64 = 1 << 30;

fn s(ago: i64, value: u64) -> Sample {
    Sample {
        at: NOW - ago,
        value,
    }
}

fn beat(age_s: i64) -> HeartbeatAge {
    HeartbeatAge {
        path: RelPath::new("state/heartbeats/a.json").unwrap_or_else(|e| panic!("{e}")),
        component: "a".into(),
        age_s,
    }
}

#[test]
fn heartbeat_aging_only_between_80_percent_and_stale() {
    let cases = [(0, 0), (480, 0), (481, 1), (599, 1), (600, 1), (601, 0)];
    for (age, want) in cases {
        let got = heartbeat_aging(&[beat(age)], 600);
        assert_eq!(got.len(), want, "age {age}");
    }
}

/// `(hours ago, value)` points of a series.
type Points = &'static [(i64, f64)];

/// Samples `(hours ago, GiB)`.
fn series(points: &[(i64, f64)]) -> Vec<Sample> {
    points
        .iter()
        .map(|(h, gib)| s(h * 3600, (gib * GIB as f64) as u64))
        .collect()
}

#[test]
fn disk_forecast_table() {
    let now = s(0, 10 * GIB);
    let steady: Points = &[(8, 18.0), (6, 16.0), (4, 14.0), (2, 12.0), (1, 11.0)];
    let cases: &[(Points, bool, &str)] = &[
        (&[], false, "no history"),
        (steady, true, "1 GiB/h for 8 h: 10 h left"),
        (&steady[..4], false, "four samples are not enough"),
        (
            &[(5, 15.0), (4, 14.0), (3, 13.0), (2, 12.0), (1, 11.0)],
            false,
            "five samples over 5 h: too short a span",
        ),
        (
            &[(8, 10.1), (6, 10.08), (4, 10.05), (2, 10.03), (1, 10.01)],
            false,
            "12 MiB/h: weeks left",
        ),
        (
            &[(8, 2.0), (6, 4.0), (4, 6.0), (2, 8.0), (1, 9.0)],
            false,
            "growing",
        ),
        (
            &[(8, 40.0), (6, 40.0), (4, 40.0), (2, 10.0), (1, 10.0)],
            false,
            "one large write in the newer half, flat before it",
        ),
        (
            &[(8, 40.0), (6, 10.0), (4, 10.0), (2, 10.0), (1, 10.0)],
            false,
            "one large write in the older half, flat after it",
        ),
        (
            &[(30, 40.0), (8, 18.0), (6, 16.0), (4, 14.0), (2, 12.0)],
            false,
            "a sample outside the window does not count",
        ),
        (
            &[(20, 30.0), (15, 25.0), (10, 20.0), (5, 15.0), (1, 11.0)],
            true,
            "the oldest in the window decides the span",
        ),
    ];
    for (points, want, why) in cases {
        let got = disk_forecast(&series(points), now);
        assert_eq!(got.is_some(), *want, "{why}: {got:?}");
        if let Some(f) = got {
            assert_eq!((f.code, f.level), (code::DISK_FORECAST, Level::High));
            assert_eq!(f.evidence, "runs out within 24 h");
        }
    }
}

#[test]
fn the_trend_splits_the_span_at_the_sample_nearest_its_middle() {
    let t = trend(
        &series(&[(8, 18.0), (7, 17.0), (5, 15.0), (2, 12.0), (1, 11.0)]),
        s(0, 10 * GIB),
    );
    let t = t.unwrap_or_else(|| panic!("no trend"));
    assert_eq!(t.from.at, NOW - 8 * 3600);
    let per_hour = |r: f64| (r * 3600.0 / GIB as f64 * 1000.0).round() / 1000.0;
    assert_eq!(per_hour(t.rate), -1.0);
    assert_eq!(t.halves.map(per_hour), [-1.0, -1.0]);
    assert!(t.weakest(-1.0).is_some() && t.weakest(1.0).is_none());
}

#[test]
fn backups_growth_table() {
    let warn = 100 << 20;
    let mib = |m: f64| (m * f64::from(1u32 << 20)) as u64;
    let cases: &[(f64, Points, bool, &str)] = &[
        (
            10.0,
            &[(8, 2.0), (6, 4.0), (4, 6.0), (2, 8.0), (1, 9.0)],
            false,
            "1 MiB/h: 90 h left",
        ),
        (
            40.0,
            &[(8, 0.0), (6, 0.0), (4, 0.0), (2, 0.0), (1, 20.0)],
            false,
            "5 MiB/h over 8 h, but all of it in the last two hours",
        ),
        (
            50.0,
            &[(8, 10.0), (6, 20.0), (4, 30.0), (2, 40.0), (1, 45.0)],
            true,
            "5 MiB/h: 10 h left",
        ),
        (
            95.0,
            &[(20, 94.0), (15, 94.25), (10, 94.5), (5, 94.75), (1, 94.95)],
            true,
            "0.05 MiB/h, 100 h left, but growing and past 90%",
        ),
        (
            95.0,
            &[(8, 95.0), (6, 95.0), (4, 95.0), (2, 95.0), (1, 95.0)],
            false,
            "close, not growing",
        ),
        (
            120.0,
            &[(8, 10.0), (6, 20.0), (4, 30.0), (2, 40.0), (1, 50.0)],
            false,
            "already over: BACKUPS_SIZE",
        ),
        (10.0, &[], false, "no history"),
    ];
    for (now, history, want, why) in cases {
        let history: Vec<Sample> = history.iter().map(|(h, m)| s(h * 3600, mib(*m))).collect();
        assert_eq!(
            backups_growth(&history, s(0, mib(*now)), warn, "selfheal prune").is_some(),
            *want,
            "{why}"
        );
    }
}

fn history_since(ago: Option<i64>, heals: Vec<Healed>) -> History {
    History {
        heals,
        since: ago.map(|a| NOW - a),
        ..History::default()
    }
}

fn escalations(h: &History) -> usize {
    run(&Inputs {
        now: NOW,
        history: h,
        measured: Measured::default(),
        heartbeats: &[],
        stale_after_s: 600,
        warn_size: GIB,
        prune_command: "selfheal prune",
    })
    .iter()
    .filter(|f| f.code == code::HEALING_ESCALATION)
    .count()
}

#[test]
fn heals_escalate_only_on_a_root_with_a_day_of_history() {
    let heals: Vec<Healed> = (1..=3)
        .map(|txn| Healed {
            txn,
            at: NOW - 600 * txn as i64,
            path: "logs/positions_futures.json".into(),
        })
        .collect();
    let cases = [
        (None, 0, "no run recorded"),
        (
            Some(1800),
            0,
            "three trial heals on a root half an hour old",
        ),
        (Some(MIN_HISTORY_S - 1), 0, "just under a day"),
        (Some(MIN_HISTORY_S), 1, "a day of history"),
        (Some(30 * 24 * 3600), 1, "a month of history"),
    ];
    for (since, want, why) in cases {
        assert_eq!(
            escalations(&history_since(since, heals.clone())),
            want,
            "{why}"
        );
    }
    let mut merged = history_since(None, heals);
    merged.merge(&history_since(Some(2 * MIN_HISTORY_S), Vec::new()));
    assert_eq!(merged.since, Some(NOW - 2 * MIN_HISTORY_S));
    assert_eq!(
        escalations(&merged),
        1,
        "the journal's age reaches a watch's memory"
    );
}

#[test]
fn flapping_needs_three_transactions_within_the_hour() {
    let h = |txn, ago, path: &str| Healed {
        txn,
        at: NOW - ago,
        path: path.into(),
    };
    let heals = vec![
        h(1, 7200, "a"),
        h(2, 1800, "a"),
        h(3, 600, "a"),
        h(4, 10, "b"),
        h(4, 10, "b"),
        h(5, 5, "b"),
    ];
    assert!(flapping(&heals, NOW).is_empty(), "two each within the hour");
    let mut more = heals.clone();
    more.push(h(6, 0, "a"));
    let got = flapping(&more, NOW);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path.as_deref(), Some("a"));
    assert_eq!(got[0].evidence, "healed repeatedly");
    assert!(
        got[0].message.contains("healed 3 times"),
        "{}",
        got[0].message
    );
}

#[test]
fn remembered_samples_are_spaced_and_windowed() {
    let mut h = History::default();
    let m = Measured {
        disk_free: Some(1),
        backups_bytes: None,
    };
    for at in [0, 10, 59, 60, 130, WINDOW_S + 100] {
        h.remember(NOW + at, m, 60);
    }
    let ats: Vec<i64> = h.disk_free.iter().map(|s| s.at - NOW).collect();
    assert_eq!(ats, [130, WINDOW_S + 100]);
    assert!(h.backups_bytes.is_empty());
}
