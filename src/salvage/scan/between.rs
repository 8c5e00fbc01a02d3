//! The scan between documents: the driving loop of the state machine, padding between
//! documents, a document's start and the versions it opens, and a document's end.

use super::out::{Version, VersionReason};
use super::{Scanner, Step};
use crate::salvage::evidence::{any_block_rewinds, BLOCK};
use crate::salvage::lex::{at, is_ws, skip_ws, Span};
use std::collections::HashSet;

impl<'a> Scanner<'a> {
    pub(super) fn run(&mut self) {
        if self.buf.starts_with(b"\xEF\xBB\xBF") {
            self.out.bom = true;
            self.body = 3;
        }
        self.pos = self.body;
        let rewinds = match self.skeleton.block_rewinds() {
            Some(known) => known,
            None => any_block_rewinds(self.buf),
        };
        self.splice_guard = rewinds && !self.whole_input_valid();
        self.out.interleaved = self.splice_guard;
        let mut step = Step::Between;
        loop {
            step = match step {
                Step::Between => self.between(),
                Step::Object { after_comma } => self.object(after_comma),
                Step::Lost {
                    damage,
                    from,
                    array,
                } => self.lost(damage, from, array),
                Step::Done => break,
            };
        }
        self.out.truncated = self.out.versions.last().is_some_and(|v| !v.complete);
    }

    // ---- between documents -------------------------------------------------------

    pub(super) fn between(&mut self) -> Step {
        let p = skip_ws(self.buf, self.pos);
        match at(self.buf, p) {
            None => Step::Done,
            Some(b'{') => {
                self.begin_document(p);
                self.origin = p / BLOCK;
                self.pos = p + 1;
                Step::Object { after_comma: false }
            }
            Some(0) => self.padding(p),
            Some(b'n') if self.is_lone_null(p) => {
                self.pos = self.buf.len();
                Step::Done
            }
            Some(_) => Step::Lost {
                damage: p,
                from: p,
                array: None,
            },
        }
    }

    /// `null` as the whole file means "no state yet", like an empty file.
    pub(super) fn is_lone_null(&self, p: usize) -> bool {
        let rest = self.buf.get(p..).unwrap_or_default();
        self.out.versions.is_empty()
            && rest.starts_with(b"null")
            && rest.get(4..).unwrap_or_default().iter().all(|&b| is_ws(b))
    }

    pub(super) fn padding(&mut self, p: usize) -> Step {
        let rest = self.buf.get(p..).unwrap_or_default();
        let len = rest.iter().position(|&b| b != 0 && !is_ws(b));
        let end = len.map_or(self.buf.len(), |n| p + n);
        self.push_damage(Span::new(p, end));
        self.pos = end;
        Step::Between
    }

    pub(super) fn begin_document(&mut self, brace: usize) {
        let has_content = self
            .out
            .versions
            .last()
            .is_some_and(|v| v.complete || !v.keys.is_empty());
        match self.out.versions.last_mut() {
            Some(v) if !has_content => v.start = brace,
            _ => {
                let reason = if self.out.versions.is_empty() {
                    VersionReason::First
                } else {
                    VersionReason::SecondDocument
                };
                self.new_version(brace, reason);
            }
        }
    }

    pub(super) fn new_version(&mut self, start: usize, reason: VersionReason) {
        self.out.versions.push(Version {
            start,
            complete: false,
            reason,
            keys: HashSet::new(),
        });
    }

    pub(super) fn version_index(&mut self) -> usize {
        if self.out.versions.is_empty() {
            self.new_version(self.pos, VersionReason::First);
        }
        self.out.versions.len() - 1
    }

    /// Records `name` in the current version; a repeated key starts a new version.
    pub(super) fn note_key(&mut self, key_start: usize, name: &str) {
        let v = self.version_index();
        let repeated = self
            .out
            .versions
            .get(v)
            .is_some_and(|v| v.keys.contains(name));
        if repeated {
            self.new_version(key_start, VersionReason::RepeatedKey);
        }
        let v = self.version_index();
        if let Some(version) = self.out.versions.get_mut(v) {
            version.keys.insert(name.to_owned());
        }
    }

    pub(super) fn complete_document(&mut self, close: usize) -> Step {
        if let Some(v) = self.out.versions.last_mut() {
            v.complete = true;
        }
        self.pos = close + 1;
        Step::Between
    }
}
