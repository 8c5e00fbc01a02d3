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
//!
//! `history` holds the samples and heals the predictions read (from the journal and from a
//! running `watch`), `trend` the sustained-rate rule above, and `warnings` the four
//! predictions themselves.

#[cfg(test)]
mod tests;
mod trend;
mod warnings;

use crate::journal::history::{FLAP_WINDOW_S, WINDOW_S};
pub use warnings::{run, Inputs};

/// A rate needs a sample at least this old (seconds): shorter spans are events, not trends.
pub const MIN_SPAN_S: i64 = 6 * 3600;
/// A rate needs at least this many samples within [`WINDOW_S`] (the current measurement
/// not counted).
pub const MIN_SAMPLES: usize = 5;
/// Heals escalate only on a root whose oldest run began at least this long ago (seconds).
pub const MIN_HISTORY_S: i64 = 24 * 3600;
/// How many heals of one path within [`FLAP_WINDOW_S`] are flapping.
pub const FLAP_COUNT: usize = 3;
/// A heartbeat older than this percentage of its stale threshold is aging.
pub const AGING_PERCENT: i64 = 80;
/// A growing backup store past this percentage of `retention.warn_size` is warned about.
pub const CLOSE_PERCENT: u64 = 90;
