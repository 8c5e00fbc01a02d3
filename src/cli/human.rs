//! Output: one JSON document on stdout with `--json`, else the human lines on stderr in the
//! reference bot's wording. Text that may come from file content is escaped so no control
//! character reaches the terminal.

use selfheal::audit::{ContentDiff, TxnDetail, TxnSummary, Verification};
use selfheal::config::Layout;
use selfheal::error::Error;
use selfheal::heal::{RecoverReport, RollbackReport};
use selfheal::journal::Problem;
use selfheal::jsondiff::{self, ArrayDiff, DocDiff, RecordChange, RecordRef};
use selfheal::prune::PruneReport;
use selfheal::report::Report;
use selfheal::stats::Stats;
use selfheal::watch::{CycleReport, Stop, WatchSummary};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Records listed per array in human output (`--json` has them all).
const SHOWN_RECORDS: usize = 20;

/// A JSON value on one short line: compact, cut at 160 characters. A value holding
/// Python's `NaN`/`Infinity`/`-Infinity` keeps them as written.
fn brief(raw: &str) -> String {
    let compact = match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(v) => v.to_string(),
        Err(_) if selfheal::pyjson::is_valid(raw.as_bytes()) => selfheal::pyjson::compact(raw),
        Err(_) => raw.split_whitespace().collect::<Vec<_>>().join(" "),
    };
    match compact.char_indices().nth(160) {
        Some((i, _)) => format!("{}...", compact.get(..i).unwrap_or_default()),
        None => compact,
    }
}

/// `size 1 -> 3, direction "long" -> "LONG"` for a record whose identity stayed.
fn field_changes(c: &RecordChange) -> String {
    let before = jsondiff::fields(c.before.get()).unwrap_or_default();
    let after = jsondiff::fields(c.after.get()).unwrap_or_default();
    let value = |v: &BTreeMap<String, &str>, k: &str| {
        v.get(k)
            .map_or_else(|| "(absent)".to_string(), |x| brief(x))
    };
    c.fields
        .iter()
        .map(|k| format!("{k} {} -> {}", value(&before, k), value(&after, k)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A journal node (`{type, sha256, size, mode}`) in words.
fn node_text(v: &serde_json::Value) -> String {
    let field = |k: &str| {
        v.get(k)
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
    };
    match (field("type").as_deref(), field("mode")) {
        (Some("file"), mode) => format!(
            "file, {} bytes, sha256 {}, mode {}",
            field("size").unwrap_or_default(),
            field("sha256").unwrap_or_default(),
            mode.unwrap_or_default()
        ),
        (Some("dir"), mode) => format!("directory, mode {}", mode.unwrap_or_default()),
        (Some("absent"), _) => "absent".into(),
        _ => v.to_string(),
    }
}

/// `kind 3, other 1`, or `none`.
fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where and how to print.
pub struct Out {
    /// `--json`.
    pub json: bool,
    /// `-q`.
    pub quiet: bool,
}

/// Replaces control characters with visible escapes.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

impl Out {
    fn say(&self, line: &str) {
        if !self.quiet && !self.json {
            let _ = writeln!(std::io::stderr().lock(), "{}", clean(line));
        }
    }

    fn doc<T: Serialize>(&self, value: &T) {
        if self.json {
            let mut out = std::io::stdout().lock();
            let _ = serde_json::to_writer(&mut out, value);
            let _ = writeln!(out);
        }
    }

    /// An error, printed once with its causes.
    pub fn error(&self, e: &Error) {
        let mut text = e.to_string();
        let mut cur = std::error::Error::source(e);
        while let Some(c) = cur {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cur = c.source();
        }
        if self.json {
            self.doc(&serde_json::json!({"error": text}));
        }
        let _ = writeln!(std::io::stderr().lock(), "selfheal: {}", clean(&text));
    }

    /// The first line of a heal.
    pub fn heal_start(&self) {
        self.say("🔧 [SELF-HEAL] Starting self-healing process...");
    }

    /// A heal's report.
    pub fn heal(&self, r: &Report) {
        self.doc(r);
        if let Some(rec) = &r.recovery {
            self.say(&format!("   ↩️  Recovery: {}", rec.detail));
        }
        for line in &r.healed {
            self.say(&format!("   ✅ {line}"));
        }
        for line in &r.failed {
            self.say(&format!("   ❌ Failed: {line}"));
        }
        for w in &r.warnings {
            self.say(&format!("   ⚠️  {w}"));
        }
        if !r.healed.is_empty() {
            self.say(&format!("✅ [SELF-HEAL] Healed {} issues", r.healed.len()));
        }
        self.criticals(r);
        if r.alerts_suppressed > 0 {
            self.say(&format!(
                "   ℹ️  {} alert(s) already in the alert log within the dedupe window: counted, not written again",
                r.alerts_suppressed
            ));
        }
        self.decision(r);
    }

    fn criticals(&self, r: &Report) {
        if !r.critical.is_empty() {
            self.say(&format!(
                "🚨 [SELF-HEAL] Found {} dangerous issues (NOT auto-healed)",
                r.critical.len()
            ));
        }
        for c in &r.critical {
            self.say(&format!("🚨 [CRITICAL] {c}"));
        }
    }

    fn decision(&self, r: &Report) {
        let verdict = if r.start_allowed {
            "trading engine may start"
        } else {
            "trading engine must NOT start"
        };
        let txn = r
            .transaction
            .map(|t| format!(" (transaction {t})"))
            .unwrap_or_default();
        self.say(&format!(
            "[SELF-HEAL] health {}/100 ({}), mode {}: {verdict}{txn}",
            r.health.score,
            serde_json::to_value(r.health.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            r.mode
        ));
    }

    /// A check's report.
    pub fn check(&self, r: &Report) {
        self.doc(r);
        self.say("🔍 [SELF-HEAL] Checking (nothing will be changed)...");
        for line in &r.healed {
            self.say(&format!("   🔧 Would heal: {line}"));
        }
        for line in &r.failed {
            self.say(&format!("   ❌ Cannot heal: {line}"));
        }
        for w in &r.warnings {
            self.say(&format!("   ⚠️  {w}"));
        }
        if r.healed.is_empty() && r.failed.is_empty() && r.critical.is_empty() {
            self.say("✅ [SELF-HEAL] Nothing to heal");
        }
        self.criticals(r);
        self.decision(r);
    }

    /// A rollback's report.
    pub fn rollback(&self, r: &RollbackReport) {
        self.doc(r);
        let verb = if r.dry_run {
            "Would roll back"
        } else {
            "Rolled back"
        };
        for a in &r.actions {
            self.say(&format!("   ↩️  {}", a.message));
        }
        for i in &r.irreversible {
            self.say(&format!("   ⚠️  {i}"));
        }
        for d in &r.kept_dirs {
            self.say(&format!("   ⚠️  kept directory {d}: no longer empty"));
        }
        match r.transaction {
            Some(t) => self.say(&format!(
                "✅ [SELF-HEAL] {verb} transaction {} as transaction {t}",
                r.target
            )),
            None if r.actions.is_empty() => self.say(&format!(
                "[SELF-HEAL] transaction {} left nothing to roll back",
                r.target
            )),
            None => self.say(&format!(
                "[SELF-HEAL] {verb} transaction {} ({} operation(s))",
                r.target,
                r.actions.len()
            )),
        }
    }

    /// A recovery's report.
    pub fn recover(&self, r: &RecoverReport) {
        self.doc(r);
        match &r.recovery {
            Some(rec) if r.conflict => {
                self.say(&format!("🚨 [CRITICAL] JOURNAL_INTEGRITY: {}", rec.detail))
            }
            Some(rec) => self.say(&format!("✅ [SELF-HEAL] {}", rec.detail)),
            None => self.say("✅ [SELF-HEAL] Nothing to recover"),
        }
    }

    /// `journal list`.
    pub fn journal_list(
        &self,
        txns: &[TxnSummary],
        pruned_through: Option<u64>,
        problem: Option<&Problem>,
    ) {
        self.doc(&serde_json::json!({
            "transactions": txns,
            "pruned_through": pruned_through,
            "problem": problem.map(Problem::describe),
        }));
        if let Some(p) = pruned_through {
            self.say(&format!("(transactions up to {p} were pruned)"));
        }
        let pruned = |id: u64| pruned_through.is_some_and(|p| id <= p);
        for t in txns {
            let rb = t
                .rolled_back_by
                .map(|b| format!(" rolled back by {b}"))
                .unwrap_or_default();
            let of = t
                .rollback_of
                .map(|b| match pruned(b) {
                    true => format!(" (rollback of {b}, pruned)"),
                    false => format!(" (rollback of {b})"),
                })
                .unwrap_or_default();
            self.say(&format!(
                "{:>6}  {}  {:<8} {:<5} {:>3} op(s)  {}{of}{rb}",
                t.id,
                t.time,
                t.command,
                t.mode.as_deref().unwrap_or("-"),
                t.operations,
                t.outcome
            ));
        }
        if let Some(p) = problem {
            self.say(&format!(
                "🚨 [CRITICAL] JOURNAL_INTEGRITY: {}",
                p.describe()
            ));
        }
    }

    /// `journal show`.
    pub fn journal_show(&self, d: &TxnDetail) {
        self.doc(d);
        let s = &d.summary;
        let of = s
            .rollback_of
            .map(|t| format!(", rollback of {t}"))
            .unwrap_or_default();
        let by = s
            .rolled_back_by
            .map(|t| format!(", rolled back by {t}"))
            .unwrap_or_default();
        self.say(&format!(
            "transaction {} ({}, {}), {}{of}{by}",
            s.id, s.command, s.time, s.outcome
        ));
        for o in &d.operations {
            let state = if o.applied { "applied" } else { "not applied" };
            self.say(&format!(
                "  op {} {} {} [{state}] ({}): {}",
                o.op,
                o.kind,
                o.path.as_deref().unwrap_or("-"),
                o.heal,
                o.reason
            ));
            for (side, v) in [("before", &o.before), ("after ", &o.after)] {
                if let Some(v) = v {
                    self.say(&format!("      {side}: {}", node_text(v)));
                }
            }
            match &o.diff {
                Some(ContentDiff::Diff(diff)) => self.doc_diff(diff),
                Some(ContentDiff::Salvage(v)) => self.salvage_view(v),
                Some(ContentDiff::Unavailable { why }) => {
                    self.say(&format!("      diff unavailable: {why}"))
                }
                None => {}
            }
        }
    }

    fn salvage_view(&self, v: &selfheal::audit::SalvageView) {
        self.say(&format!("      salvage: {}", v.report.summary()));
        for (array, label) in &v.kept {
            self.say(&format!("      kept   {array}: {label}"));
        }
        for (d, text) in &v.lost {
            self.say(&format!(
                "      lost   bytes {}..{} ({:?}): {text}",
                d.start, d.end, d.kind
            ));
        }
    }

    fn doc_diff(&self, d: &DocDiff) {
        for (side, note) in [("before", &d.before_note), ("after", &d.after_note)] {
            if let Some(n) = note {
                self.say(&format!("      diff: {side} is {n}"));
            }
        }
        if d.is_empty() {
            self.say("      diff: no change in content (formatting only)");
        }
        for k in &d.keys_added {
            self.say(&format!("      + {}: {}", k.key, brief(k.value.get())));
        }
        for k in &d.keys_removed {
            self.say(&format!("      - {}: {}", k.key, brief(k.value.get())));
        }
        for k in &d.keys_changed {
            self.say(&format!(
                "      ~ {}: {} -> {}",
                k.key,
                brief(k.before.get()),
                brief(k.after.get())
            ));
        }
        for a in &d.arrays {
            self.array_diff(a);
        }
    }

    fn array_diff(&self, a: &ArrayDiff) {
        self.say(&format!(
            "      {} (by {}): {} added, {} removed, {} changed, {} unchanged",
            a.key,
            a.matched_by,
            a.added.len(),
            a.removed.len(),
            a.changed.len(),
            a.unchanged
        ));
        let label = |r: &RecordRef| {
            r.identity
                .as_ref()
                .map(|i| format!("{i}: "))
                .unwrap_or_default()
        };
        let lines = a
            .added
            .iter()
            .map(|r| format!("+ {}{}", label(r), brief(r.record.get())))
            .chain(
                a.removed
                    .iter()
                    .map(|r| format!("- {}{}", label(r), brief(r.record.get()))),
            )
            .chain(
                a.changed
                    .iter()
                    .map(|c| format!("~ {}: {}", c.identity, field_changes(c))),
            );
        let all: Vec<String> = lines.collect();
        for line in all.iter().take(SHOWN_RECORDS) {
            self.say(&format!("        {line}"));
        }
        if all.len() > SHOWN_RECORDS {
            self.say(&format!(
                "        ... and {} more (--json shows all)",
                all.len() - SHOWN_RECORDS
            ));
        }
    }

    /// `journal verify`.
    pub fn journal_verify(&self, v: &Verification) {
        self.doc(v);
        if let Some(t) = &v.torn_tail {
            self.say(&format!("   ⚠️  torn tail (tolerated): {t}"));
        }
        if let Some(t) = v.pruned_through {
            self.say(&format!("   transactions up to {t} were pruned"));
        }
        if !v.leftovers.is_empty() {
            self.say(&format!(
                "   ⚠️  {} file(s) of pruned transactions still present (an interrupted prune; the next prune removes them)",
                v.leftovers.len()
            ));
        }
        match &v.problem {
            Some(p) => self.say(&format!("🚨 [CRITICAL] JOURNAL_INTEGRITY: {p}")),
            None => self.say(&format!(
                "✅ journal verified: {} transaction(s), {} record(s), {} backup object(s)",
                v.transactions, v.records, v.objects
            )),
        }
    }

    /// `prune`.
    pub fn prune(&self, r: &PruneReport) {
        self.doc(r);
        if let Some(t) = r.pinned {
            self.say(&format!(
                "   ⚠️  transaction {t} and newer are kept: it applied a lossy salvage that is not acknowledged (selfheal ack {t})"
            ));
        }
        let removed = format!(
            "{} journal file(s), {} backup object(s), {} bytes freed; {} transaction(s) remain",
            r.files_removed, r.objects_removed, r.bytes_freed, r.remaining
        );
        match (&r.pruned, r.transaction) {
            (Some(p), Some(t)) => self.say(&format!(
                "✅ [SELF-HEAL] Pruned transactions {}-{} ({}) as transaction {t}: {removed}",
                p.from_txn, p.through_txn, p.transactions
            )),
            _ if r.files_removed + r.objects_removed > 0 => {
                self.say(&format!("✅ [SELF-HEAL] Removed {removed}"))
            }
            _ => self.say(&format!(
                "✅ [SELF-HEAL] Nothing to prune; {} transaction(s) remain",
                r.remaining
            )),
        }
    }

    /// One `watch` cycle: a JSON line on stdout with `--json`, else its status line.
    pub fn watch_cycle(&self, c: &CycleReport) {
        self.doc(c);
        self.say(&c.status_line());
    }

    /// The end of `watch`.
    pub fn watch_end(&self, s: &WatchSummary) {
        let why = match s.stop {
            Stop::Signal => "on a signal",
            Stop::Cycles => "as asked",
            Stop::Caller => "",
        };
        self.say(&format!(
            "[watch] stopped {why} after {} cycle(s)",
            s.cycles
        ));
    }

    /// `stats`.
    pub fn stats(&self, s: &Stats, prometheus: Option<&Path>) {
        self.doc(s);
        let t = &s.totals;
        let ratio = s
            .success_ratio
            .map_or_else(|| "-".to_string(), |r| format!("{:.1}%", r * 100.0));
        self.say(&format!(
            "runs {} ({} succeeded, {} aborted), success ratio {ratio}",
            t.runs, t.successes, t.aborted_runs
        ));
        self.say(&format!("heals: {}", counts(&t.heals)));
        self.say(&format!("failures: {}", t.failures));
        self.say(&format!("criticals: {}", counts(&t.criticals)));
        self.say(&format!("rollbacks: {}", t.rollbacks));
        match &t.last_run {
            Some(r) => self.say(&format!(
                "last run: transaction {} ({}) at {}, {}{}",
                r.txn,
                r.command,
                r.time,
                r.outcome,
                r.duration_ms
                    .map(|d| format!(" in {d} ms"))
                    .unwrap_or_default()
            )),
            None => self.say("last run: none"),
        }
        self.say(&format!(
            "salvage losses: {} record(s), {} byte(s)",
            t.salvage_records_lost, t.salvage_bytes_lost
        ));
        if let Some(p) = s.pruned_through {
            self.say(&format!(
                "(includes the totals of transactions up to {p}, pruned)"
            ));
        }
        if let Some(path) = prometheus {
            self.say(&format!("metrics written to {}", path.display()));
        }
        if let Some(p) = &s.journal_problem {
            self.say(&format!("🚨 [CRITICAL] JOURNAL_INTEGRITY: {p}"));
        }
    }

    /// `ack`.
    pub fn ack(&self, r: &selfheal::heal::AckReport) {
        self.doc(r);
        self.say(&format!(
            "✅ [SELF-HEAL] Acknowledged the critical of transaction {} (as transaction {})",
            r.acknowledged, r.transaction
        ));
    }

    /// `salvage`: the document on stdout (the report with `--json`), the account on stderr.
    pub fn salvage(&self, s: &selfheal::heal::SalvageOutput) {
        let r = &s.salvaged.report;
        if self.json {
            self.doc(&serde_json::json!({"source": s.source, "report": r}));
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = s.write_document(&mut out);
        let _ = out.flush();
        if !self.quiet {
            let _ = writeln!(
                std::io::stderr().lock(),
                "{}: {}",
                clean(&s.source),
                r.summary()
            );
            for d in &r.damaged {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "   damaged bytes {}..{} ({:?})",
                    d.start,
                    d.end,
                    d.kind
                );
            }
        }
    }

    /// `config`.
    pub fn config(&self, layout: &Layout) {
        if self.json {
            self.doc(&layout.config);
            return;
        }
        let source = layout.source.as_ref().map_or_else(
            || "embedded default".to_string(),
            |p| p.display().to_string(),
        );
        let text = serde_json::to_string_pretty(&layout.config).unwrap_or_default();
        let _ = writeln!(
            std::io::stdout().lock(),
            "// effective configuration ({source})\n{text}"
        );
    }
}
