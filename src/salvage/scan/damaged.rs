//! A damaged region: where the scan resumes (the next anchor whose context it can prove),
//! which records in between are reported unplaced or repeated, and the damage recorded.

use super::out::{Damage, Entry, EntryValue, VersionReason};
use super::{Scanner, Step};
use crate::salvage::anchor::{Anchor, AnchorKind};
use crate::salvage::evidence::{
    classify, first_key, first_key_of, record_keys, repeats_across_block, Sampled, BLOCK,
};
use crate::salvage::lex::{is_ws, Span};
use crate::salvage::lost::unplaced_records;
use crate::salvage::resume::{resume, Tail, TailEnd};

impl<'a> Scanner<'a> {
    // ---- damaged regions -----------------------------------------------------------

    pub(super) fn lost(&mut self, damage: usize, from: usize, array: Option<usize>) -> Step {
        let len = self.buf.len();
        self.out.lost_regions += 1;
        // a document start with nothing intact after it is lost along with the damage
        let damage = match self.out.versions.last() {
            Some(v) if !v.complete && v.keys.is_empty() => damage.min(v.start),
            _ => damage,
        };
        let trailing = self.after_complete_document();
        let anchor = match (self.anchors.next(from), self.resumed) {
            (Some(a), Some(r)) if a.quote <= r => self.anchors.next(r + 1),
            (a, _) => a,
        };
        let until = anchor.map_or(len, |a| a.start()).max(from).min(len);
        let found = unplaced_records(self.buf, from, until);
        if let Some(a) = array {
            if let Some(step) = self.try_resume(damage, a, &found, anchor, until, trailing) {
                return step;
            }
        }
        self.file_unplaced(damage, found);
        if repeats_across_block(self.buf, damage, until) {
            self.new_version(damage, VersionReason::RepeatedText);
        }
        let span = Span::new(damage.min(until), until);
        self.push_damage_with(span, trailing);
        let Some(anchor) = anchor else {
            self.pos = len;
            return Step::Done;
        };
        match anchor.kind {
            AnchorKind::Doc { brace } => {
                self.resumed = Some(anchor.quote);
                self.begin_document(brace);
                self.origin = brace / BLOCK;
                self.pos = brace + 1;
                Step::Object { after_comma: false }
            }
            AnchorKind::Mid { .. } => {
                self.resumed = Some(anchor.quote);
                self.origin = anchor.quote / BLOCK;
                self.pos = anchor.quote;
                Step::Object { after_comma: true }
            }
        }
    }

    /// Places the records after damage back into `array` when `resume.rs` proves their
    /// position and nothing suggests another version or a hidden record-array header.
    pub(super) fn try_resume(
        &mut self,
        damage: usize,
        array: usize,
        found: &[Span],
        anchor: Option<Anchor>,
        until: usize,
        trailing: bool,
    ) -> Option<Step> {
        if self.splice_guard || repeats_across_block(self.buf, damage, until) {
            return None;
        }
        let tail = resume(self.buf, found, anchor)?;
        self.index_kept();
        if found
            .iter()
            .any(|s| self.index.contains(&Sampled(s.of(self.buf))))
        {
            return None;
        }
        let anchor_key = match (tail.end, anchor) {
            (TailEnd::Anchor, Some(a)) => Some(a.key),
            _ => None,
        };
        if !self.accounts_for_all_arrays(array, anchor_key, &tail) {
            return None;
        }
        if let TailEnd::Closed(brace) = tail.end {
            let chain = found.get(tail.first..).unwrap_or_default();
            if !self.ends_document(brace) || !self.like_kept_records(chain, &tail) {
                return None;
            }
        }
        let chain = found.get(tail.first..).unwrap_or_default();
        let chain_start = chain.first().map_or(until, |s| s.start);
        self.out
            .unplaced
            .extend(found.get(..tail.first).unwrap_or_default());
        self.push_damage_with(Span::new(damage.min(chain_start), chain_start), trailing);
        for &span in chain {
            self.push_record(span);
        }
        for m in tail.members {
            self.note_key(m.key.start, &m.name);
            self.out.entries.push(Entry {
                name: m.name,
                key: m.key,
                value_start: m.value.start,
                value: EntryValue::Raw(m.value),
            });
        }
        Some(match (tail.end, anchor) {
            (TailEnd::Closed(brace), _) => self.complete_document(brace),
            (TailEnd::Anchor, Some(a)) => {
                self.resumed = Some(a.quote);
                self.pos = a.quote;
                Step::Object { after_comma: true }
            }
            (TailEnd::Anchor, None) => Step::Done,
        })
    }

    /// True if no record array of the shape can be hidden in the damage: each one other
    /// than `array` was seen in this version or is the header right after the tail, which
    /// itself is new to this version; tail members are new non-array keys.
    pub(super) fn accounts_for_all_arrays(
        &self,
        array: usize,
        anchor_key: Option<usize>,
        tail: &Tail,
    ) -> bool {
        let Some(version) = self.out.versions.last() else {
            return false;
        };
        let seen = |i: usize| self.keys.get(i).is_some_and(|k| version.keys.contains(k));
        if anchor_key.is_some_and(seen) {
            return false;
        }
        let all = (0..self.keys.len()).all(|i| i == array || Some(i) == anchor_key || seen(i));
        let members_new = tail
            .members
            .iter()
            .all(|m| !version.keys.contains(&m.name) && self.record_array(&m.name).is_none());
        all && members_new
    }

    /// After the `}` that closes the document: only padding, the end, or a new document.
    pub(super) fn ends_document(&self, brace: usize) -> bool {
        let rest = self.buf.get(brace + 1..).unwrap_or_default();
        match rest.iter().find(|&&b| b != 0 && !is_ws(b)) {
            None | Some(b'{') => true,
            Some(_) => false,
        }
    }

    /// A `}` proves less than a record-array header: a chain of objects nested in a cut
    /// record, followed by that record's last members and `}`, looks the same. So the
    /// chain's records must start with the same key as the first kept record of this
    /// version, and the members after the chain must not be keys of that record.
    pub(super) fn like_kept_records(&self, chain: &[Span], tail: &Tail) -> bool {
        let Some(reference) = self.first_kept_record() else {
            return false;
        };
        let first_key = first_key(reference);
        let chain_ok = chain
            .iter()
            .all(|s| first_key.is_some() && first_key == first_key_of(s.of(self.buf)));
        let keys = record_keys(reference);
        chain_ok && tail.members.iter().all(|m| !keys.contains(&m.name))
    }

    pub(super) fn first_kept_record(&self) -> Option<&'a [u8]> {
        let version = self.out.versions.len().checked_sub(1)?;
        let start = self.out.versions.get(version)?.start;
        self.out.entries.iter().rev().find_map(|e| match &e.value {
            EntryValue::Records(l) if e.key.start >= start => {
                l.records.first().map(|s| s.of(self.buf))
            }
            _ => None,
        })
    }

    pub(super) fn after_complete_document(&self) -> bool {
        self.out.versions.last().is_some_and(|v| v.complete)
    }

    /// Unplaced records identical to a kept one are evidence of a second version.
    pub(super) fn file_unplaced(&mut self, damage: usize, found: Vec<Span>) {
        if found.is_empty() {
            return;
        }
        self.index_kept();
        let mut repeated = false;
        for span in found {
            if self.index.contains(&Sampled(span.of(self.buf))) {
                repeated = true;
                self.out.repeated.push(span);
            } else {
                self.out.unplaced.push(span);
            }
        }
        if repeated {
            self.new_version(damage, VersionReason::RepeatedRecords);
        }
    }

    pub(super) fn index_kept(&mut self) {
        let buf = self.buf;
        let (mut e, mut r) = self.indexed;
        while let Some(entry) = self.out.entries.get(e) {
            if let EntryValue::Records(list) = &entry.value {
                for span in list.records.get(r..).unwrap_or_default() {
                    self.index.insert(Sampled(span.of(buf)));
                }
                r = list.records.len();
            }
            if e + 1 == self.out.entries.len() {
                break;
            }
            e += 1;
            r = 0;
        }
        self.indexed = (e, r);
    }

    pub(super) fn push_damage(&mut self, span: Span) {
        let trailing = self.after_complete_document();
        self.push_damage_with(span, trailing);
    }

    pub(super) fn push_damage_with(&mut self, span: Span, trailing: bool) {
        if span.len() == 0 {
            return;
        }
        let kind = classify(span.of(self.buf), span.end == self.buf.len() && !trailing);
        self.out.damage.push(Damage {
            span,
            kind,
            trailing,
        });
    }
}
