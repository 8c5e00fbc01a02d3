//! The integration tests: one binary, one module per theme. Each drives the real
//! `selfheal` binary (or, where a test must inject faults, its fault-injection build) on
//! temporary state roots and compares files byte for byte.

#![allow(clippy::disallowed_methods)]

// The shared support: one fixture, one way to run the binary, one snapshot walker.
mod support;
// The library's layers: no module imports one above it (ARCHITECTURE.md).
mod layers;

// The operator alert log: dedupe window, escaping, mode, torn lines.
mod alerts_log;
// The health score: every check listed, documented weights, the start decision.
mod check_health;
// --version, shell completions and the manual page cover every command.
mod cli_generate;
// Output conventions: data on stdout, config round trip, -q/-v, check's exit codes,
// wording, stdout write errors, --lock-timeout placement.
mod cli_output;
// The configuration: overrides honoured end to end, bad configurations refused.
mod config_override;
// Crash at every mutation, fsync and journal append of a heal and of a rollback.
mod crash_matrix;
// Each critical code blocks real mode, alerts, and leaves the data untouched.
mod detectors_criticals;
// Healthy states, small and large, give no finding.
mod detectors_false_positives;
// Stale heartbeats in both formats.
mod detectors_heartbeats;
// Stale lock files.
mod detectors_locks;
// Group/world-writable state.
mod detectors_permissions;
// Bot instances and orphan processes, with real child processes.
mod detectors_processes;
// The integration examples: examples/run.py and examples/tradingbot.service.
mod examples_integration;
// Replays fuzz/seeds/** through the checks the fuzz targets run.
mod fuzz_replay;
// Hints printed in messages run as printed, from any directory.
mod gate_hints;
// Deployment slots: any configured suffix, SLOT_DIVERGENCE and its acknowledgement.
mod gate_slots;
// Cold start, idempotence, check writes nothing, exit codes, the JSON report.
mod heal_cli;
// Concurrent heals on one root.
mod heal_concurrency;
// Symlinks and tampered journal paths never lead outside the root.
mod heal_containment;
// Bounded memory for NUL tails, oversized records and objects, NUL state files; torn/ retention.
mod journal_bounds;
// A restart loop does not grow the journal or slow the start; retention bounds its length.
mod journal_growth;
// Transaction file names parsed strictly; strays are findings; ids never overflow.
mod journal_ids;
// Run as root, created files take the root's owner; a foreign owner is named with the fix.
mod journal_owner;
// Retention: kept transactions roll back bit-exact, policy, auto-retention, size warning, crashes.
mod journal_prune;
// The way out of JOURNAL_INTEGRITY: quarantine, then heal, verify and roll back.
mod journal_quarantine;
// Readers under the shared lock never see a prune half done.
mod journal_readers;
// journal show: checksums, sizes, and JSON diffs by record identity.
mod journal_show;
// Commit summaries read fail-closed.
mod journal_summary;
// journal verify names the first bad record: flipped byte, deleted, reordered, lost file.
mod journal_verify;
// The library API: heal/check and the read-only startup validators.
mod library_api;
// Predictive warnings: each one triggered by a fixture, and silent on another.
mod predict_warnings;
// The bot's NaN/Infinity/-Infinity: its real positions file stays intact; damage around them.
mod realbot_dialect;
// The start gate on the reference bot's own state: STATE_MISMATCH follows the margins.
mod realbot_gate;
// The reference bot's own state root: ISO heartbeat, held locks, trades file, its backups.
mod realbot_layout;
// The mode as the reference bot resolves it: --mode, TRADING_MODE, the root's .env.
mod realbot_mode;
// A blue/green switch to an empty slot beside the bot's own open positions.
mod realbot_slots;
// Conflicts, torn journal tails, unknown journal versions, journal audit.
mod recover_interrupted;
// Availability: unavailable operations, xattrs and ACLs, the size cap, watch outliving
// transient errors, small filesystems.
mod reliability_availability;
// The layout as a whole: one role per path, exit 16 naming both entries; implied parents.
mod reliability_config;
// I/O errors (ENOSPC, EIO, EACCES, EROFS) at every fault point of a heal and a rollback.
mod reliability_faults;
// Hostile conditions: watch killed beside a flock bot, rollback over swapped kinds of paths,
// --prometheus at links, devices and the root's own files.
mod reliability_hostile;
// Hygiene: hard-linked alert log, key file placement and modes, acks after rollbacks, --json
// failures, POSIX record locks.
mod reliability_hygiene;
// The bad-input catalogue: one test per input, nothing lost, nothing written outside.
mod reliability_inputs;
// Load: concurrent heals and rollbacks on one root, alone and beside watch; a bot-like writer
// under its flock beside checks and beside watch.
mod reliability_load;
// Power loss: unsynced writes dropped at every fault point of a heal, a rollback, a recovery.
mod reliability_powercut;
// Journal key rotation: verification on each side of it, refusals, crashes mid-rotation.
mod reliability_rekey;
// Owner-only backups, no control characters to logs or terminals, journal paths stay inside.
mod reliability_security;
// Rollback: bit-exact, rolling back the rollback, refusals.
mod rollback_exact;
// The corrupted-JSON heal: real-mode refusal, --accept-loss, ack, the salvage command.
mod salvage_heal;
// Property tests of the JSON salvage under generated corruptions.
mod salvage_props;
// stats against a scripted history, across a prune; the Prometheus textfile parses.
mod stats_history;
// Delta backup objects: a rollback backs up a large file as a delta; verify decodes it.
mod store_delta;
// watch beside a writing bot: heals under the bot's locks, reports, never signals, stops on SIGTERM.
mod watch_beside_bot;
// watch alone: writes nothing when idle, retention, sd_notify, signals, busy lock, duplicates.
mod watch_cli;
// watch and interrupted transactions: recovery under the bot's lock; an I/O error fails one cycle.
mod watch_recovery;
// watch does not read again what did not change: files, journal, alert log; full checks,
// heartbeats, locks, acks.
mod watch_skip;
