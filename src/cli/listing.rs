//! The data commands' human output, on standard output: `journal list`, `journal show`,
//! `journal verify` and `stats` (one listing line per item, so `| wc -l` and `| grep`
//! work). What is wrong with the journal goes to standard error as a critical, so it is
//! seen even when the listing goes to a file.

use super::output::{name, Out};
use selfheal::commands::journal::Listing;
use selfheal::jsondiff::{self, ArrayDiff, DocDiff, RecordChange, RecordRef};
use selfheal::text::count;
use selfheal::Problem;
use selfheal::Stats;
use selfheal::{ContentDiff, TxnDetail, Verification};
use std::collections::BTreeMap;
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

/// `  1 op ` / `  8 ops`: a column of operation counts.
fn ops_column(n: usize) -> String {
    match n {
        1 => format!("{n:>3} op "),
        _ => format!("{n:>3} ops"),
    }
}

impl Out {
    /// `journal list`.
    pub fn journal_list(&self, listing: &Listing) {
        let txns = &listing.transactions;
        let pruned_through = listing.pruned_through;
        let stopped = listing
            .stopped
            .as_ref()
            .map(|s| (&s.problem, s.unlisted, s.advice.clone()));
        let problem = stopped.as_ref().map(|(p, _, _)| *p);
        self.doc(&serde_json::json!({
            "transactions": txns,
            "pruned_through": pruned_through,
            "problem": problem.map(Problem::describe),
            "complete": stopped.is_none(),
            "not_listed": stopped.as_ref().map(|(_, n, _)| n),
        }));
        if let Some(p) = pruned_through {
            self.data(&format!(
                "(transactions up to {p} were pruned, or moved aside by a quarantine)"
            ));
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
            self.data(&format!(
                "{:>6}  {}  {:<8} {:<5} {}  {}{of}{rb}",
                t.id,
                t.time,
                t.command,
                t.mode.as_deref().unwrap_or("-"),
                ops_column(t.operations),
                t.outcome
            ));
        }
        if let Some((p, unlisted, advice)) = &stopped {
            self.alert(&format!(
                "🚨 [CRITICAL] JOURNAL_INTEGRITY: {}",
                p.describe()
            ));
            self.alert(&format!(
                "   the list stops at the damaged record ({}): {} after it {} not listed; {advice}",
                p.location(),
                count(*unlisted, "transaction file", "transaction files"),
                if *unlisted == 1 { "is" } else { "are" }
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
        self.data(&format!(
            "transaction {} ({}, {}), {}{of}{by}",
            s.id, s.command, s.time, s.outcome
        ));
        for o in &d.operations {
            let state = if o.applied { "applied" } else { "not applied" };
            self.data(&format!(
                "  op {} {} {} [{state}] ({}): {}",
                o.op,
                o.kind,
                o.path.as_deref().unwrap_or("-"),
                o.heal,
                o.reason
            ));
            for (side, v) in [("before", &o.before), ("after ", &o.after)] {
                if let Some(v) = v {
                    self.data(&format!("      {side}: {}", node_text(v)));
                }
            }
            match &o.diff {
                Some(ContentDiff::Diff(diff)) => self.doc_diff(diff),
                Some(ContentDiff::Salvage(v)) => self.salvage_view(v),
                Some(ContentDiff::Unavailable { why }) => {
                    self.data(&format!("      diff unavailable: {why}"))
                }
                None => {}
            }
        }
    }

    fn salvage_view(&self, v: &selfheal::SalvageView) {
        self.data(&format!("      salvage: {}", v.report.summary()));
        for (array, label) in &v.kept {
            self.data(&format!("      kept   {array}: {label}"));
        }
        for (d, text) in &v.lost {
            self.data(&format!(
                "      lost   bytes {}..{} ({}): {text}",
                d.start,
                d.end,
                name(&d.kind)
            ));
        }
    }

    fn doc_diff(&self, d: &DocDiff) {
        for (side, note) in [("before", &d.before_note), ("after", &d.after_note)] {
            if let Some(n) = note {
                self.data(&format!("      diff: {side} is {n}"));
            }
        }
        if d.is_empty() {
            self.data("      diff: no change in content (formatting only)");
        }
        for k in &d.keys_added {
            self.data(&format!("      + {}: {}", k.key, brief(k.value.get())));
        }
        for k in &d.keys_removed {
            self.data(&format!("      - {}: {}", k.key, brief(k.value.get())));
        }
        for k in &d.keys_changed {
            self.data(&format!(
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
        self.data(&format!(
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
            self.data(&format!("        {line}"));
        }
        if all.len() > SHOWN_RECORDS {
            self.data(&format!(
                "        ... and {} more (--json shows all)",
                all.len() - SHOWN_RECORDS
            ));
        }
    }

    /// `journal verify`: a verified journal on stdout, a failure as a critical on stderr.
    pub fn journal_verify(&self, v: &Verification) {
        self.doc(v);
        if let Some(t) = &v.torn_tail {
            self.say(&format!("   ⚠️  torn tail (tolerated): {t}"));
        }
        if let Some(t) = v.pruned_through {
            self.data(&format!(
                "transactions up to {t} were pruned, or moved aside by a quarantine"
            ));
        }
        if !v.leftovers.is_empty() {
            self.say(&format!(
                "   ⚠️  {} of pruned transactions still present (an interrupted prune; the next prune removes them)",
                count(v.leftovers.len(), "file", "files")
            ));
        }
        if let Some(u) = &v.unverified {
            let (first, last) = (
                u.transactions.first().copied().unwrap_or_default(),
                u.transactions.last().copied().unwrap_or_default(),
            );
            let key = u
                .key_id
                .as_ref()
                .map_or_else(String::new, |k| format!(" (key id {k})"));
            self.say(&format!(
                "   ⚠️  not verified: transactions {first}-{last} ({}) are tagged with an earlier journal key{key}; add --old-key-file with that key to verify them too",
                count(u.records, "record", "records")
            ));
        }
        match &v.problem {
            Some(p) => self.alert(&format!("🚨 [CRITICAL] JOURNAL_INTEGRITY: {p}")),
            None => self.data(&format!(
                "journal verified: {}, {}, {}",
                count(v.transactions, "transaction", "transactions"),
                count(v.records, "record", "records"),
                count(v.objects, "backup object", "backup objects")
            )),
        }
    }

    /// `journal rekey`.
    pub fn journal_rekey(&self, r: &selfheal::commands::RekeyReport) {
        self.doc(r);
        let config = r
            .config
            .clone()
            .unwrap_or_else(|| "config/selfheal.json under the root".to_string());
        self.say(&format!(
            "✅ journal rekeyed as transaction {}: records from it on are tagged with key id {} (was {})",
            r.transaction, r.key_id, r.previous
        ));
        self.say(&format!(
            "   now set \"journal_key_file\": {:?} in {config}; until then selfheal refuses to write to this journal",
            r.new_key_file
        ));
    }

    /// `stats`.
    pub fn stats(&self, s: &Stats, prometheus: Option<&Path>) {
        self.doc(s);
        let t = &s.totals;
        let ratio = s
            .success_ratio
            .map_or_else(|| "-".to_string(), |r| format!("{:.1}%", r * 100.0));
        self.data(&format!(
            "runs {} ({} succeeded, {} aborted), success ratio {ratio}",
            t.runs, t.successes, t.aborted_runs
        ));
        self.data(&format!("heals: {}", counts(&t.heals)));
        self.data(&format!("failures: {}", t.failures));
        self.data(&format!("criticals: {}", counts(&t.criticals)));
        self.data(&format!("rollbacks: {}", t.rollbacks));
        match &t.last_run {
            Some(r) => self.data(&format!(
                "last run: transaction {} ({}) at {}, {}{}",
                r.txn,
                r.command,
                r.time,
                r.outcome,
                r.duration_ms
                    .map(|d| format!(" in {d} ms"))
                    .unwrap_or_default()
            )),
            None => self.data("last run: none"),
        }
        self.data(&format!(
            "salvage losses: {}, {}",
            count(t.salvage_records_lost, "record", "records"),
            count(t.salvage_bytes_lost, "byte", "bytes")
        ));
        if let Some(p) = s.pruned_through {
            self.data(&format!(
                "(includes the totals of transactions up to {p}, pruned)"
            ));
        }
        if let Some(path) = prometheus {
            self.say(&format!("metrics written to {}", path.display()));
        }
        if let Some(p) = &s.journal_problem {
            self.alert(&format!("🚨 [CRITICAL] JOURNAL_INTEGRITY: {p}"));
        }
    }
}
