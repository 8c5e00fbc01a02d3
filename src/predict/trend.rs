//! A sustained rate: from the window's oldest sample (at least [`MIN_SPAN_S`] old, with
//! [`MIN_SAMPLES`] samples) to now, and over each half split at the sample nearest the
//! middle; and the plain-English units the warnings print.

use super::{MIN_SAMPLES, MIN_SPAN_S, WINDOW_S};
use crate::journal::history::Sample;

/// A sustained rate: from the oldest sample of the window to now, and over each half.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Trend {
    /// The sample it starts from.
    pub(super) from: Sample,
    /// Bytes per second over the whole span (negative: shrinking).
    pub(super) rate: f64,
    /// The rates of the older and the newer half.
    pub(super) halves: [f64; 2],
}

impl Trend {
    /// The rate of the span or half nearest zero on the side of `sign` (+1 growing,
    /// -1 shrinking): what every part of the span agrees on. None when a part disagrees.
    pub(super) fn weakest(&self, sign: f64) -> Option<f64> {
        let parts = [self.rate, self.halves[0], self.halves[1]];
        let magnitudes = parts.map(|r| r * sign);
        let min = magnitudes.into_iter().fold(f64::INFINITY, f64::min);
        (min > 0.0).then_some(min)
    }
}

/// The trend of `samples` up to `now`: at least [`MIN_SAMPLES`] of them within
/// [`WINDOW_S`], the oldest at least [`MIN_SPAN_S`] old; the sample nearest the middle of
/// the span (strictly inside it) splits it into halves.
pub(super) fn trend(samples: &[Sample], now: Sample) -> Option<Trend> {
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
pub(super) fn slope(from: Sample, to: Sample) -> f64 {
    let span = (to.at - from.at) as f64;
    (to.value as f64 - from.value as f64) / span
}

/// Seconds until `remaining` bytes are used up at `rate` bytes per second (`rate` > 0).
pub(super) fn eta_s(remaining: u64, rate: f64) -> f64 {
    remaining as f64 / rate
}

pub(super) fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / f64::from(1u32 << 20))
}

pub(super) fn hours(secs: f64) -> String {
    format!("{:.1} h", secs / 3600.0)
}
