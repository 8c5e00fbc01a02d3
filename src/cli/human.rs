//! The human rendering of the commands that act (`heal`, `check`, `rollback`, `recover`,
//! `prune`, `watch`, `ack`) and of `salvage` and `config`, in the reference bot's wording.
//! A run that changes nothing words each operation as what would be done; every count
//! agrees with its noun; no Rust type name reaches the output.

use super::exit::CheckVerdict;
use super::output::{name, Out};
use selfheal::commands::watch::{CycleReport, Stop, WatchSummary};
use selfheal::commands::{AckReport, RecoverReport, RollbackReport, SalvageOutput};
use selfheal::text::count;
use selfheal::Hints;
use selfheal::Layout;
use selfheal::PruneReport;
use selfheal::Report;
use std::io::Write;

/// `N issue(s)`.
fn issues(n: usize) -> String {
    count(n, "issue", "issues")
}

/// Whether `salvage` ends its document with a newline of its own: only on a terminal, and
/// only when the document lacks one (a pipe or a file gets exactly what `heal` writes).
fn needs_newline(last: Option<u8>, terminal: bool) -> bool {
    terminal && last != Some(b'\n')
}

/// A writer that remembers the last byte written through it.
struct LastByte<'a> {
    inner: &'a mut dyn Write,
    last: Option<u8>,
}

impl Write for LastByte<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(b) = n.checked_sub(1).and_then(|i| buf.get(i)) {
            self.last = Some(*b);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Out {
    /// The first line of a heal.
    pub fn heal_start(&self, dry_run: bool) {
        match dry_run {
            true => self.say("🔧 [SELF-HEAL] Starting self-healing process (dry run: nothing will be changed)..."),
            false => self.say("🔧 [SELF-HEAL] Starting self-healing process..."),
        }
    }

    /// A heal's report (with `--dry-run`: what it would do).
    pub fn heal(&self, r: &Report) {
        self.doc(r);
        if let Some(rec) = &r.recovery {
            self.say(&format!("   ↩️  Recovery: {}", rec.detail));
        }
        let (mark, failed) = match r.dry_run {
            true => ("🔧", "Cannot heal"),
            false => ("✅", "Failed"),
        };
        for line in &r.healed {
            self.say(&format!("   {mark} {line}"));
        }
        self.plan_detail(r);
        for line in &r.failed {
            self.say(&format!("   ❌ {failed}: {line}"));
        }
        for w in &r.warnings {
            self.say(&format!("   ⚠️  {w}"));
        }
        if !r.healed.is_empty() {
            let done = if r.dry_run { "Would heal" } else { "Healed" };
            self.say(&format!(
                "{mark} [SELF-HEAL] {done} {}",
                issues(r.healed.len())
            ));
        }
        self.criticals(r);
        if r.alerts_suppressed > 0 {
            self.say(&format!(
                "   ℹ️  {} already in the alert log within the dedupe window: counted, not written again",
                count(r.alerts_suppressed, "alert", "alerts")
            ));
        }
        let verdict = match r.start_allowed {
            true => "trading engine may start".to_string(),
            false => "trading engine must NOT start".to_string(),
        };
        let txn = r
            .transaction
            .map(|t| format!(" (transaction {t})"))
            .unwrap_or_default();
        self.decision(r, &format!("{verdict}{txn}"));
    }

    /// Each operation of the plan with its path, result and reason (`-v`).
    fn plan_detail(&self, r: &Report) {
        for a in &r.actions {
            let skipped = a
                .skipped_because
                .as_ref()
                .map(|why| format!(" ({why})"))
                .unwrap_or_default();
            self.detail(&format!(
                "      plan: {} {} [{}{skipped}]: {}",
                a.kind.name(),
                a.path.as_deref().unwrap_or("-"),
                a.result,
                a.reason
            ));
        }
    }

    fn criticals(&self, r: &Report) {
        if !r.critical.is_empty() {
            self.alert(&format!(
                "🚨 [SELF-HEAL] Found {} (NOT auto-healed)",
                count(r.critical.len(), "dangerous issue", "dangerous issues")
            ));
        }
        for c in &r.critical {
            self.alert(&format!("🚨 [CRITICAL] {c}"));
        }
    }

    /// The last line: health, mode and the start decision (kept by `-q` when the engine
    /// must not start).
    fn decision(&self, r: &Report, verdict: &str) {
        let line = format!(
            "[SELF-HEAL] health {}/100 ({}), mode {} ({}): {verdict}",
            r.health.score,
            name(&r.health.status),
            r.mode,
            r.mode_source
        );
        match r.start_allowed {
            true => self.say(&line),
            false => self.alert(&line),
        }
    }

    /// A check's report; `heal` is the runnable command that would apply the plan.
    pub fn check(&self, r: &Report, verdict: &CheckVerdict, heal: &str) {
        self.doc(r);
        self.say("🔍 [SELF-HEAL] Checking (nothing will be changed)...");
        for line in &r.healed {
            self.say(&format!("   🔧 {line}"));
        }
        self.plan_detail(r);
        for line in &r.failed {
            self.say(&format!("   ❌ Cannot heal: {line}"));
        }
        for w in &r.warnings {
            self.say(&format!("   ⚠️  {w}"));
        }
        if r.healed.is_empty() && r.failed.is_empty() && r.critical.is_empty() {
            self.say("✅ [SELF-HEAL] Nothing to heal");
        }
        if !r.healed.is_empty() {
            self.say(&format!(
                "🔧 [SELF-HEAL] Would heal {}",
                issues(r.healed.len())
            ));
        }
        self.criticals(r);
        let verdict = match verdict {
            CheckVerdict::MustNotStart => "trading engine must NOT start".to_string(),
            CheckVerdict::Clean => "trading engine may start".to_string(),
            CheckVerdict::Pending if !r.healed.is_empty() => format!(
                "trading engine may start once {} applied: {heal}",
                match r.healed.len() {
                    1 => "the pending repair is".to_string(),
                    n => format!("the {n} pending repairs are"),
                }
            ),
            CheckVerdict::Pending => format!(
                "trading engine may start; {} cannot be applied",
                count(r.failed.len(), "repair", "repairs")
            ),
        };
        self.decision(r, &verdict);
    }

    /// A rollback's report.
    pub fn rollback(&self, r: &RollbackReport) {
        self.doc(r);
        let verb = match r.dry_run {
            true => "Would roll back",
            false => "Rolled back",
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
                "[SELF-HEAL] {verb} transaction {} ({})",
                r.target,
                count(r.actions.len(), "operation", "operations")
            )),
        }
    }

    /// A recovery's report.
    pub fn recover(&self, r: &RecoverReport) {
        self.doc(r);
        match &r.recovery {
            Some(rec) if r.conflict => {
                self.alert(&format!("🚨 [CRITICAL] JOURNAL_INTEGRITY: {}", rec.detail))
            }
            Some(rec) => self.say(&format!("✅ [SELF-HEAL] {}", rec.detail)),
            None => self.say("✅ [SELF-HEAL] Nothing to recover"),
        }
    }

    /// `journal quarantine`.
    pub fn quarantine(&self, r: &selfheal::QuarantineReport, hints: &Hints) {
        self.doc(r);
        self.say(&format!(
            "✅ [SELF-HEAL] Moved the damaged journal ({}, up to transaction {}) to {}; every backup object is kept",
            count(r.files_moved, "transaction file", "transaction files"),
            r.through_txn,
            r.moved_to
        ));
        self.say(&format!("   it was: {}", r.problem));
        let from = r
            .last_good_txn
            .map_or_else(|| "its start".to_string(), |t| format!("transaction {t}"));
        self.say(&format!(
            "   new journal from transaction {}, anchored to the last verified record (of {from})",
            r.transaction
        ));
        if !r.pending_acks.is_empty() {
            let ids: Vec<String> = r.pending_acks.iter().map(u64::to_string).collect();
            self.say(&format!(
                "   ⚠️  unacknowledged lossy salvages carried over (transactions {}): {}",
                ids.join(", "),
                hints.command(&["ack", &r.transaction.to_string()])
            ));
        }
    }

    /// `prune`; `hints` name the root in the command it suggests.
    pub fn prune(&self, r: &PruneReport, hints: &Hints) {
        self.doc(r);
        if let Some(t) = r.pinned {
            self.say(&format!(
                "   ⚠️  transaction {t} and newer are kept: it applied a lossy salvage that is not acknowledged (`{}`)",
                hints.command(&["ack", &t.to_string()])
            ));
        }
        let remain = match r.remaining {
            1 => "1 transaction remains".to_string(),
            n => format!("{n} transactions remain"),
        };
        let removed = format!(
            "{}, {}, {} freed; {remain}",
            count(r.files_removed, "journal file", "journal files"),
            count(r.objects_removed, "backup object", "backup objects"),
            count(r.bytes_freed, "byte", "bytes"),
        );
        match (&r.pruned, r.transaction) {
            (Some(p), Some(t)) => self.say(&format!(
                "✅ [SELF-HEAL] Pruned transactions {}-{} ({}) as transaction {t}: {removed}",
                p.from_txn, p.through_txn, p.transactions
            )),
            _ if r.files_removed + r.objects_removed > 0 => {
                self.say(&format!("✅ [SELF-HEAL] Removed {removed}"))
            }
            _ => self.say(&format!("✅ [SELF-HEAL] Nothing to prune; {remain}")),
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
            Stop::Signal => "on a signal ",
            Stop::Cycles => "as asked ",
            Stop::Caller => "",
        };
        self.say(&format!(
            "[watch] stopped {why}after {}",
            count(s.cycles, "cycle", "cycles")
        ));
    }

    /// `ack`.
    pub fn ack(&self, r: &AckReport) {
        self.doc(r);
        self.say(&format!(
            "✅ [SELF-HEAL] Acknowledged {} of transaction {} (as transaction {})",
            r.codes.join(", "),
            r.acknowledged,
            r.transaction
        ));
    }

    /// `salvage`: the document on stdout, byte for byte what `heal` would write (the report
    /// with `--json`); what was kept and lost on stderr. `terminal`: stdout is a terminal,
    /// where a document without a final newline gets one so the prompt starts on its own
    /// line (a pipe or a file gets the exact bytes).
    pub fn salvage(&self, s: &SalvageOutput, terminal: bool) {
        let r = &s.salvaged.report;
        if self.json {
            self.doc(&serde_json::json!({"source": s.source, "report": r}));
            return;
        }
        self.stdout_with(&mut |w| {
            let mut last = LastByte {
                inner: w,
                last: None,
            };
            s.write_document(&mut last)?;
            match needs_newline(last.last, terminal) {
                true => last.write_all(b"\n"),
                false => Ok(()),
            }
        });
        self.say(&format!("{}: {}", s.source, r.summary()));
        for d in &r.damaged {
            self.say(&format!(
                "   damaged bytes {}..{} ({})",
                d.start,
                d.end,
                name(&d.kind)
            ));
        }
    }

    /// `config`: the effective configuration as a loadable JSON file on stdout; where it
    /// came from on stderr.
    pub fn config(&self, layout: &Layout) {
        if self.json {
            self.doc(&layout.config);
            return;
        }
        let source = layout.source.as_ref().map_or_else(
            || "the embedded default".to_string(),
            |p| p.display().to_string(),
        );
        self.say(&format!("effective configuration, from {source}:"));
        self.pretty(&layout.config);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_terminal_gets_a_final_newline() {
        let cases: &[(&[u8], bool, bool)] = &[
            (b"{}", true, true),
            (b"{}\n", true, false),
            (b"{}", false, false),
            (b"{}\n", false, false),
        ];
        for (doc, terminal, want) in cases {
            assert_eq!(
                needs_newline(doc.last().copied(), *terminal),
                *want,
                "input: {doc:?} terminal {terminal}"
            );
        }
    }
}
