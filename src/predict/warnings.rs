//! The four predictions (`HEARTBEAT_AGING`, `DISK_FORECAST`, `BACKUPS_GROWTH`,
//! `HEALING_ESCALATION`), each a HIGH finding whose evidence does not change with the
//! numbers, and [`run`], which runs them all on one set of inputs.

use super::trend::{eta_s, hours, mib, trend};
use super::{AGING_PERCENT, CLOSE_PERCENT, FLAP_COUNT, FLAP_WINDOW_S, MIN_HISTORY_S, WINDOW_S};
use crate::checks::heartbeats::HeartbeatAge;
use crate::findings::{code, Finding, Level};
use crate::journal::history::{Healed, History, Measured, Sample};
use crate::paths::BACKUPS_DIR;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

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
