//! Predictive warnings: trouble that is not here yet but will be soon at the recent rate.
//! `check`, `heal` and every `watch` cycle run them. Each is a HIGH finding whose
//! `evidence` never changes with the numbers, so the alert log carries it once per dedupe
//! window however often it is seen.
//!
//! | code | warns when |
//! |---|---|
//! | `HEARTBEAT_AGING` | a heartbeat is older than 80% of `heartbeats.stale_after` and not yet stale |
//! | `DISK_FORECAST` | free space of the filesystem holding `logs/backups/`, falling at a sustained rate, runs out within 24 h |
//! | `HEALING_ESCALATION` | the same path was healed by 3 or more committed `heal`/`watch` transactions within the last hour, on a root with at least a day of history: the cause is upstream |
//! | `BACKUPS_GROWTH` | `logs/backups/`, growing at a sustained rate, crosses `retention.warn_size` within 24 h, or is growing and already past 90% of it (`BACKUPS_SIZE` takes over once it is over) |
//!
//! **Enough history first.** A forecast needs a trend, not an event: one large build on the
//! disk, or a first afternoon of trial heals, must not raise an alert.
//! - A *sustained rate* needs at least [`MIN_SAMPLES`] samples from the last 24 h, the
//!   oldest of them at least [`MIN_SPAN_S`] (6 h) old. The rate is the change from that
//!   oldest sample to the current measurement; the sample nearest the middle of that span
//!   splits it in two halves, and each half's own rate must forecast the same trouble within
//!   24 h as well. A one-off drop lands in one half only, so the other half keeps quiet.
//! - `HEALING_ESCALATION` counts only once the root's history reaches back
//!   [`MIN_HISTORY_S`] (a day): the oldest run the journal knows of (carried across prunes)
//!   began at least that long ago. Repeated heals on a fresh root are setup and trials; a
//!   crash loop there is stopped by the service manager's start limit.
//!
//! Samples are the `disk_free` and `backups_bytes` members of the commit summaries of `heal`
//! and `watch` transactions (journal-format/SPEC.md, `commit`) and of the run record (heals
//! that wrote no transaction), each series thinned to one sample per [`SAMPLE_GAP_S`]
//! (10 minutes), plus those a running `watch` keeps in memory. Everything here is pure: no
//! disk, no clock.

use crate::checks::heartbeats::HeartbeatAge;
use crate::findings::{code, Finding, Level};
use crate::journal::{Journal, BACKUPS_DIR};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Samples older than this are ignored, and a forecast looks this far ahead (seconds).
pub const WINDOW_S: i64 = 24 * 3600;
/// A rate needs a sample at least this old (seconds): shorter spans are events, not trends.
pub const MIN_SPAN_S: i64 = 6 * 3600;
/// A rate needs at least this many samples within [`WINDOW_S`] (the current measurement
/// not counted).
pub const MIN_SAMPLES: usize = 5;
/// Heals escalate only on a root whose oldest run began at least this long ago (seconds).
pub const MIN_HISTORY_S: i64 = 24 * 3600;
/// How far back healing the same path counts as flapping (seconds).
pub const FLAP_WINDOW_S: i64 = 3600;
/// How many heals of one path within [`FLAP_WINDOW_S`] are flapping.
pub const FLAP_COUNT: usize = 3;
/// A heartbeat older than this percentage of its stale threshold is aging.
pub const AGING_PERCENT: i64 = 80;
/// A growing backup store past this percentage of `retention.warn_size` is warned about.
pub const CLOSE_PERCENT: u64 = 90;
/// Samples of the history closer than this to the previous one kept are dropped (seconds).
pub const SAMPLE_GAP_S: i64 = 600;
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
    /// When the oldest run the journal knows of began (epoch seconds), carried across
    /// prunes; none on a root without runs.
    pub since: Option<i64>,
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
        self.since = match (self.since, other.since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
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
    /// The runnable `prune` command for this root, for the messages.
    pub prune_command: &'a str,
}

/// Every predictive warning for `i`.
pub fn run(i: &Inputs<'_>) -> Vec<Finding> {
    let mut out = heartbeat_aging(i.heartbeats, i.stale_after_s);
    let now = |v: Option<u64>| v.map(|value| Sample { at: i.now, value });
    out.extend(now(i.measured.disk_free).and_then(|n| disk_forecast(&i.history.disk_free, n)));
    out.extend(
        now(i.measured.backups_bytes).and_then(|n| {
            backups_growth(&i.history.backups_bytes, n, i.warn_size, i.prune_command)
        }),
    );
    let old_enough = i
        .history
        .since
        .is_some_and(|since| i.now.saturating_sub(since) >= MIN_HISTORY_S);
    if old_enough {
        out.extend(flapping(&i.history.heals, i.now));
    }
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

/// A sustained rate: from the oldest sample of the window to now, and over each half.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Trend {
    /// The sample it starts from.
    from: Sample,
    /// Bytes per second over the whole span (negative: shrinking).
    rate: f64,
    /// The rates of the older and the newer half.
    halves: [f64; 2],
}

impl Trend {
    /// The rate of the span or half nearest zero on the side of `sign` (+1 growing,
    /// -1 shrinking): what every part of the span agrees on. None when a part disagrees.
    fn weakest(&self, sign: f64) -> Option<f64> {
        let parts = [self.rate, self.halves[0], self.halves[1]];
        let magnitudes = parts.map(|r| r * sign);
        let min = magnitudes.into_iter().fold(f64::INFINITY, f64::min);
        (min > 0.0).then_some(min)
    }
}

/// The trend of `samples` up to `now`: at least [`MIN_SAMPLES`] of them within
/// [`WINDOW_S`], the oldest at least [`MIN_SPAN_S`] old; the sample nearest the middle of
/// the span (strictly inside it) splits it into halves.
fn trend(samples: &[Sample], now: Sample) -> Option<Trend> {
    let recent: Vec<Sample> = samples
        .iter()
        .filter(|s| s.at >= now.at.saturating_sub(WINDOW_S) && s.at < now.at)
        .copied()
        .collect();
    if recent.len() < MIN_SAMPLES {
        return None;
    }
    let from = recent.iter().min_by_key(|s| s.at).copied()?;
    if now.at.saturating_sub(from.at) < MIN_SPAN_S {
        return None;
    }
    let middle = from.at + (now.at - from.at) / 2;
    let mid = recent
        .iter()
        .filter(|s| s.at > from.at)
        .min_by_key(|s| s.at.abs_diff(middle))
        .copied()?;
    Some(Trend {
        from,
        rate: slope(from, now),
        halves: [slope(from, mid), slope(mid, now)],
    })
}

/// Bytes per second from `from` to `to` (negative: shrinking); `to` is later.
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

/// Free space falling at a sustained rate that exhausts it within [`WINDOW_S`].
pub fn disk_forecast(history: &[Sample], now: Sample) -> Option<Finding> {
    let t = trend(history, now)?;
    if eta_s(now.value, t.weakest(-1.0)?) > WINDOW_S as f64 {
        return None;
    }
    let (rate, from) = (-t.rate, t.from);
    let eta = eta_s(now.value, rate);
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

/// A backup store growing at a sustained rate that crosses `warn_size` within
/// [`WINDOW_S`], or growing and already close to it; `prune` is the runnable prune command
/// it names.
pub fn backups_growth(
    history: &[Sample],
    now: Sample,
    warn_size: u64,
    prune: &str,
) -> Option<Finding> {
    if now.value >= warn_size {
        return None;
    }
    let t = trend(history, now)?;
    let close = now.value.saturating_mul(100) >= warn_size.saturating_mul(CLOSE_PERCENT);
    if eta_s(warn_size - now.value, t.weakest(1.0)?) > WINDOW_S as f64 && !close {
        return None;
    }
    let (rate, from) = (t.rate, t.from);
    let eta = eta_s(warn_size - now.value, rate);
    Some(
        Finding::new(
            code::BACKUPS_GROWTH,
            Level::High,
            Some(BACKUPS_DIR),
            format!(
                "{BACKUPS_DIR} grows by {} per hour (over the last {}): {} now, retention.warn_size ({}) reached in about {}; run `{prune}` or lower retention.keep / retention.older_than",
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
}
