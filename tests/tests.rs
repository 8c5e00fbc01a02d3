//! Integration tests: one binary; each module is one theme and runs the real `selfheal`
//! binary on temporary roots.

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
