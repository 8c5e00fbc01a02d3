//! Predictive warnings: trouble that is not here yet but will be soon at the recent rate.
//! `check`, `heal` and every `watch` cycle run them. Each is a HIGH finding whose
//! `evidence` never changes with the numbers, so the alert log carries it once per dedupe
//! window however often it is seen.
//!
//! | code | warns when |
//! |---|---|
//! | `HEARTBEAT_AGING` | a heartbeat is older than 80% of `heartbeats.stale_after` and not yet stale |
//! | `DISK_FORECAST` | free space of the filesystem holding `logs/backups/`, falling at the recent rate, runs out within 24 h |
//! | `HEALING_ESCALATION` | the same path was healed by 3 or more committed `heal`/`watch` transactions within the last hour: the cause is upstream |
//! | `BACKUPS_GROWTH` | `logs/backups/`, growing at the recent rate, crosses `retention.warn_size` within 24 h, or is growing and already past 90% of it (`BACKUPS_SIZE` takes over once it is over) |
//!
//! The *recent rate* is the change between the oldest sample of the last 24 h that is at
//! least 10 minutes old and the current measurement; without such a sample there is no
//! forecast. Samples are the `disk_free` and `backups_bytes` members of the commit summaries
//! of `heal` and `watch` transactions (journal-format/SPEC.md, `commit`) and of the run
//! record (heals that wrote no transaction), each series thinned to one sample per 10
//! minutes, plus those a running `watch` keeps in memory. Everything here is pure: no disk,
//! no clock.

use crate::checks::heartbeats::HeartbeatAge;
use crate::findings::{code, Finding, Level};
use crate::journal::{Journal, BACKUPS_DIR};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Samples older than this are ignored, and a forecast looks this far ahead (seconds).
pub const WINDOW_S: i64 = 24 * 3600;
/// A rate needs a sample at least this old (seconds): shorter spans are noise.
pub const MIN_SPAN_S: i64 = 600;
/// How far back healing the same path counts as flapping (seconds).
pub const FLAP_WINDOW_S: i64 = 3600;
/// How many heals of one path within [`FLAP_WINDOW_S`] are flapping.
pub const FLAP_COUNT: usize = 3;
/// A heartbeat older than this percentage of its stale threshold is aging.
pub const AGING_PERCENT: i64 = 80;
/// A growing backup store past this percentage of `retention.warn_size` is warned about.
pub const CLOSE_PERCENT: u64 = 90;
/// Samples of the history closer than this to the previous one kept are dropped (seconds).
pub const SAMPLE_GAP_S: i64 = MIN_SPAN_S;
/// At most this many heals within [`FLAP_WINDOW_S`] are kept (the oldest go first).
pub const MAX_HEALS: usize = 10_000;
/// The member of a commit summary holding free bytes where the backups live.
pub const DISK_FREE_KEY: &str = "disk_free";
/// The member of a commit summary holding the size of `logs/backups/`.
pub const BACKUPS_BYTES_KEY: &str = "backups_bytes";

/// One measurement at a time (epoch seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// When.
    pub at: i64,
    /// Bytes.
    pub value: u64,
}

/// A path healed by a committed transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healed {
    /// The transaction.
    pub txn: u64,
    /// When it committed (epoch seconds).
    pub at: i64,
    /// The path.
    pub path: String,
}

/// What the predictions know of the past.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Free bytes where the backups live.
    pub disk_free: Vec<Sample>,
    /// Size of `logs/backups/`.
    pub backups_bytes: Vec<Sample>,
    /// Paths healed.
    pub heals: Vec<Healed>,
}

/// What the current run measured (`None`: could not be measured).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measured {
    /// Free bytes where the backups live.
    pub disk_free: Option<u64>,
    /// Size of `logs/backups/`.
    pub backups_bytes: Option<u64>,
}

impl Measured {
    /// The members a commit summary records (absent ones left out).
    pub fn summary_members(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        if let Some(v) = self.disk_free {
            m.insert(DISK_FREE_KEY.into(), v.into());
        }
        if let Some(v) = self.backups_bytes {
            m.insert(BACKUPS_BYTES_KEY.into(), v.into());
        }
        m
    }
}

impl History {
    /// The samples and heals of the committed `heal` and `watch` transactions of `journal`
    /// (its facts, thinned as [`History::add_run`] says), and the samples of the runs that
    /// wrote no transaction (the run record).
    pub fn from_journal(journal: &Journal) -> History {
        let mut h = journal.facts.history.clone();
        h.merge(&journal.runs.history);
        h
    }

    /// Takes in a committed `heal` or `watch` transaction that committed at `at`: its samples,
    /// each kept only when at least [`SAMPLE_GAP_S`] after the previous one kept (a day of
    /// samples stays a few hundred whatever the rate of runs), and the paths it healed;
    /// samples older than [`WINDOW_S`] and heals older than [`FLAP_WINDOW_S`] before `at`,
    /// which no prediction from now on can use, are dropped.
    pub fn add_run(&mut self, txn: u64, at: i64, summary: &Value, healed: Vec<String>) {
        self.add_samples(at, summary);
        self.heals
            .extend(healed.into_iter().map(|path| Healed { txn, at, path }));
        self.forget_before(at);
    }

    fn forget_before(&mut self, at: i64) {
        let old = at.saturating_sub(WINDOW_S);
        self.disk_free.retain(|s| s.at >= old);
        self.backups_bytes.retain(|s| s.at >= old);
        let flap = at.saturating_sub(FLAP_WINDOW_S);
        self.heals.retain(|h| h.at >= flap);
        if self.heals.len() > MAX_HEALS {
            let cut = self.heals.len() - MAX_HEALS;
            self.heals.drain(..cut);
        }
    }

    fn add_samples(&mut self, at: i64, summary: &Value) {
        let get = |k: &str| summary.get(k).and_then(Value::as_u64);
        for (series, value) in [
            (&mut self.disk_free, get(DISK_FREE_KEY)),
            (&mut self.backups_bytes, get(BACKUPS_BYTES_KEY)),
        ] {
            let due = series
                .last()
                .is_none_or(|s| at.saturating_sub(s.at) >= SAMPLE_GAP_S);
            if let (Some(value), true) = (value, due) {
                series.push(Sample { at, value });
            }
        }
    }

    /// Keeps `m` as samples taken at `at`, unless the newest kept one is less than `gap`
    /// seconds older; drops samples older than [`WINDOW_S`]. Bounds what a long-running
    /// caller keeps in memory.
    pub fn remember(&mut self, at: i64, m: Measured, gap: i64) {
        for (series, value) in [
            (&mut self.disk_free, m.disk_free),
            (&mut self.backups_bytes, m.backups_bytes),
        ] {
            series.retain(|s| s.at >= at.saturating_sub(WINDOW_S));
            let due = series.last().is_none_or(|s| at.saturating_sub(s.at) >= gap);
            if let (Some(value), true) = (value, due) {
                series.push(Sample { at, value });
            }
        }
    }

    /// Adds everything `other` knows.
    pub fn merge(&mut self, other: &History) {
        self.disk_free.extend_from_slice(&other.disk_free);
        self.backups_bytes.extend_from_slice(&other.backups_bytes);
        self.heals.extend_from_slice(&other.heals);
    }
}

/// Everything the predictions look at.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// Now, epoch seconds.
    pub now: i64,
    /// The past.
    pub history: &'a History,
    /// The current measurements.
    pub measured: Measured,
    /// The heartbeats as read now.
    pub heartbeats: &'a [HeartbeatAge],
    /// `heartbeats.stale_after`, seconds.
    pub stale_after_s: i64,
    /// `retention.warn_size`, bytes.
    pub warn_size: u64,
}

/// Every predictive warning for `i`.
pub fn run(i: &Inputs<'_>) -> Vec<Finding> {
    let mut out = heartbeat_aging(i.heartbeats, i.stale_after_s);
    let now = |v: Option<u64>| v.map(|value| Sample { at: i.now, value });
    out.extend(now(i.measured.disk_free).and_then(|n| disk_forecast(&i.history.disk_free, n)));
    out.extend(
        now(i.measured.backups_bytes)
            .and_then(|n| backups_growth(&i.history.backups_bytes, n, i.warn_size)),
    );
    out.extend(flapping(&i.history.heals, i.now));
    out
}

/// Heartbeats older than [`AGING_PERCENT`] of `stale_after_s` and not yet stale.
pub fn heartbeat_aging(beats: &[HeartbeatAge], stale_after_s: i64) -> Vec<Finding> {
    beats
        .iter()
        .filter(|b| b.age_s <= stale_after_s)
        .filter(|b| b.age_s.saturating_mul(100) > stale_after_s.saturating_mul(AGING_PERCENT))
        .map(|b| {
            let rel = b.path.as_str();
            Finding::new(
                code::HEARTBEAT_AGING,
                Level::High,
                Some(rel),
                format!(
                    "heartbeat {} ({rel}) is {} s old, past {AGING_PERCENT}% of its stale threshold ({stale_after_s} s): the component may be stalling",
                    b.component, b.age_s
                ),
                "aging",
            )
            .with_details(json!({"file": rel, "age_s": b.age_s, "stale_after_s": stale_after_s}))
        })
        .collect()
}

/// The sample a trend starts from: the oldest within [`WINDOW_S`] of `now` that is at least
/// [`MIN_SPAN_S`] old.
fn base(samples: &[Sample], now: i64) -> Option<Sample> {
    samples
        .iter()
        .filter(|s| s.at >= now.saturating_sub(WINDOW_S))
        .filter(|s| s.at <= now.saturating_sub(MIN_SPAN_S))
        .min_by_key(|s| s.at)
        .copied()
}

/// Bytes per second from `from` to `to` (negative: shrinking).
fn slope(from: Sample, to: Sample) -> f64 {
    let span = (to.at - from.at) as f64;
    (to.value as f64 - from.value as f64) / span
}

/// Seconds until `remaining` bytes are used up at `rate` bytes per second (`rate` > 0).
fn eta_s(remaining: u64, rate: f64) -> f64 {
    remaining as f64 / rate
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / f64::from(1u32 << 20))
}

fn hours(secs: f64) -> String {
    format!("{:.1} h", secs / 3600.0)
}

/// Free space falling at a rate that exhausts it within [`WINDOW_S`].
pub fn disk_forecast(history: &[Sample], now: Sample) -> Option<Finding> {
    let from = base(history, now.at)?;
    let rate = -slope(from, now);
    if rate <= 0.0 {
        return None;
    }
    let eta = eta_s(now.value, rate);
    if eta > WINDOW_S as f64 {
        return None;
    }
    Some(
        Finding::new(
            code::DISK_FORECAST,
            Level::High,
            Some(BACKUPS_DIR),
            format!(
                "free disk space where {BACKUPS_DIR} lives falls by {} per hour (over the last {}): {} left, used up in about {} at this rate",
                mib(rate * 3600.0),
                hours((now.at - from.at) as f64),
                mib(now.value as f64),
                hours(eta)
            ),
            "runs out within 24 h",
        )
        .with_details(json!({
            "free_bytes": now.value,
            "bytes_per_hour": (rate * 3600.0).round(),
            "eta_s": eta.round(),
            "since": from.at,
        })),
    )
}

/// A backup store growing at a rate that crosses `warn_size` within [`WINDOW_S`], or
/// growing and already close to it.
pub fn backups_growth(history: &[Sample], now: Sample, warn_size: u64) -> Option<Finding> {
    if now.value >= warn_size {
        return None;
    }
    let from = base(history, now.at)?;
    let rate = slope(from, now);
    if rate <= 0.0 {
        return None;
    }
    let eta = eta_s(warn_size - now.value, rate);
    let close = now.value.saturating_mul(100) >= warn_size.saturating_mul(CLOSE_PERCENT);
    if eta > WINDOW_S as f64 && !close {
        return None;
    }
    Some(
        Finding::new(
            code::BACKUPS_GROWTH,
            Level::High,
            Some(BACKUPS_DIR),
            format!(
                "{BACKUPS_DIR} grows by {} per hour (over the last {}): {} now, retention.warn_size ({}) reached in about {}; run `selfheal prune` or lower retention.keep / retention.older_than",
                mib(rate * 3600.0),
                hours((now.at - from.at) as f64),
                mib(now.value as f64),
                mib(warn_size as f64),
                hours(eta)
            ),
            "grows toward retention.warn_size",
        )
        .with_details(json!({
            "bytes": now.value,
            "warn_size": warn_size,
            "bytes_per_hour": (rate * 3600.0).round(),
            "eta_s": eta.round(),
            "since": from.at,
        })),
    )
}

/// Paths healed by [`FLAP_COUNT`] or more transactions within [`FLAP_WINDOW_S`] of `now`.
pub fn flapping(heals: &[Healed], now: i64) -> Vec<Finding> {
    let mut by_path: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
    for h in heals
        .iter()
        .filter(|h| h.at >= now.saturating_sub(FLAP_WINDOW_S))
    {
        by_path.entry(h.path.as_str()).or_default().insert(h.txn);
    }
    by_path
        .into_iter()
        .filter(|(_, txns)| txns.len() >= FLAP_COUNT)
        .map(|(path, txns)| {
            Finding::new(
                code::HEALING_ESCALATION,
                Level::High,
                Some(path),
                format!(
                    "{path} was healed {} times within the last hour (transactions {}): something keeps damaging it; find the cause upstream",
                    txns.len(),
                    txns.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
                ),
                "healed repeatedly",
            )
            .with_details(json!({"file": path, "heals": txns.len(), "transactions": txns, "window_s": FLAP_WINDOW_S}))
        })
        .collect()
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn disk_forecast_table() {
        let now = s(0, 10 * GIB);
        let cases: &[(&[Sample], bool, &str)] = &[
            (&[], false, "no history"),
            (
                &[s(300, 20 * GIB)],
                false,
                "only a sample younger than the minimum span",
            ),
            (&[s(3600, 11 * GIB)], true, "1 GiB/h: 10 h left"),
            (
                &[s(3600, 10 * GIB + GIB / 100)],
                false,
                "10 MiB/h: weeks left",
            ),
            (&[s(3600, 9 * GIB)], false, "growing"),
            (
                &[s(30 * 3600, 40 * GIB)],
                false,
                "sample outside the window",
            ),
            (
                &[s(20 * 3600, 12 * GIB), s(3600, 100 * GIB)],
                false,
                "oldest in the window decides",
            ),
        ];
        for (history, want, why) in cases {
            let got = disk_forecast(history, now);
            assert_eq!(got.is_some(), *want, "{why}: {got:?}");
            if let Some(f) = got {
                assert_eq!(
                    (f.code.as_str(), f.level),
                    (code::DISK_FORECAST, Level::High)
                );
                assert_eq!(f.evidence, "runs out within 24 h");
            }
        }
    }

    #[test]
    fn backups_growth_table() {
        let warn = 100 << 20;
        let cases: &[(Sample, &[Sample], bool, &str)] = &[
            (
                s(0, 10 << 20),
                &[s(3600, 9 << 20)],
                false,
                "1 MiB/h: 90 h left",
            ),
            (
                s(0, 10 << 20),
                &[s(3600, 5 << 20)],
                true,
                "5 MiB/h: 18 h left",
            ),
            (
                s(0, 95 << 20),
                &[s(20 * 3600, 94 << 20)],
                true,
                "close and growing",
            ),
            (
                s(0, 95 << 20),
                &[s(3600, 95 << 20)],
                false,
                "close, not growing",
            ),
            (
                s(0, 120 << 20),
                &[s(3600, 10 << 20)],
                false,
                "already over: BACKUPS_SIZE",
            ),
            (s(0, 10 << 20), &[], false, "no history"),
        ];
        for (now, history, want, why) in cases {
            assert_eq!(
                backups_growth(history, *now, warn).is_some(),
                *want,
                "{why}"
            );
        }
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
}
