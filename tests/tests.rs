//! The integration tests: one binary, one module per theme. Each drives the real
//! `selfheal` binary (or, where a test must inject faults, its fault-injection build) on
//! temporary state roots and compares files byte for byte.

#![allow(clippy::disallowed_methods)]

// Shared fixtures, the binary, exact directory snapshots.
mod util;
// Cold start, idempotence, check writes nothing, exit codes, the JSON report.
mod engine_cli;
// Rollback: bit-exact, rolling back the rollback, refusals.
mod engine_rollback;
// Crash at every mutation, fsync and journal append of a heal and of a rollback.
mod engine_crash;
// Symlinks and tampered journal paths never lead outside the root.
mod engine_containment;
// Concurrent heals on one root.
mod engine_concurrency;
// Conflicts, torn journal tails, unknown journal versions, journal audit.
mod engine_recovery;
// The configuration: overrides honoured end to end, bad configurations refused.
mod config_override;
// Stale heartbeats in both formats.
mod runtime_heartbeats;
// Stale lock files.
mod runtime_locks;
// Group/world-writable state.
mod runtime_permissions;
// Bot instances and orphan processes, with real child processes.
mod runtime_procs;
// Shared helpers of the runtime tests.
mod runtime_support;
// Shared helpers of the detect_* modules.
mod detect_support;
// Each critical code blocks real mode, alerts, and leaves the data untouched.
mod detect_criticals;
// The operator alert log: dedupe window, escaping, mode, torn lines.
mod detect_alerts;
// The health score: every check listed, documented weights, the start decision.
mod detect_health;
// Healthy states, small and large, give no finding.
mod detect_false_positives;
// The integration examples: examples/run.py and examples/tradingbot.service.
mod detect_examples;
// The library API: heal/check and the read-only startup validators.
mod detect_library;
// journal verify names the first bad record: flipped byte, deleted, reordered, lost file.
mod audit_verify;
// Retention: kept transactions roll back bit-exact, policy, auto-retention, size warning, crashes.
mod audit_prune;
// stats against a scripted history, across a prune; the Prometheus textfile parses.
mod audit_stats;
// journal show: checksums, sizes, and JSON diffs by record identity.
mod audit_show;
// Shared helpers of the journal_* modules.
mod journal_support;
// A restart loop does not grow the journal or slow the start; retention bounds its length.
mod journal_growth;
// The way out of JOURNAL_INTEGRITY: quarantine, then heal, verify and roll back.
mod journal_quarantine;
// Transaction file names parsed strictly; strays are findings; ids never overflow.
mod journal_ids;
// Run as root, created files take the root's owner; a foreign owner is named with the fix.
mod journal_owner;
// Bounded memory for NUL tails, oversized records and objects, NUL state files; torn/ retention.
mod journal_bounds;
// Readers under the shared lock never see a prune half done.
mod journal_readers;
// Predictive warnings: each one triggered by a fixture, and silent on another.
mod predict_warnings;
// Shared helpers of the watch tests.
mod watch_support;
// watch beside a writing bot: heals under the bot's locks, reports, never signals, stops on SIGTERM.
mod watch_beside_bot;
// watch alone: writes nothing when idle, retention, sd_notify, signals, busy lock, duplicates.
mod watch_cli;
// watch and interrupted transactions: recovery under the bot's lock; an I/O error exits 8.
mod watch_recovery;
// Replays fuzz/seeds/** through the checks the fuzz targets run.
mod fuzz_replay;
// Property tests of the JSON salvage under generated corruptions.
mod salvage_props;
// The corrupted-JSON heal: real-mode refusal, --accept-loss, ack, the salvage command.
mod salvage_heal;
// Shared support of the reliability suite: arenas with a sentinel tree, counted runs, the summary.
mod reliability_support;
// I/O errors (ENOSPC, EIO, EACCES, EROFS) at every fault point of a heal and a rollback.
mod reliability_faults;
// Power loss: unsynced writes dropped at every fault point of a heal, a rollback, a recovery.
mod reliability_powercut;
// The bad-input catalogue: one test per input, nothing lost, nothing written outside.
mod reliability_inputs;
// Owner-only backups, no control characters to logs or terminals, journal paths stay inside.
mod reliability_security;
// Load: concurrent heals and rollbacks on one root, alone and beside watch; a bot-like writer
// under its flock beside checks and beside watch.
mod reliability_load;
