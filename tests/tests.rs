// Integration tests: one binary, one module per theme.

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
