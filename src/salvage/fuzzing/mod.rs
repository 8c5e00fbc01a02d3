//! Fuzz and property checks (placeholder).
