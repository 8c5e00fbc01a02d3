//! The tolerant scanner: one forward pass that reads the document skeleton (top-level
//! objects, their keys, record arrays and the extents of their elements) and hands every
//! element to the JSON validator on exactly its bytes.
//!
//! It keeps a record only when the record's context is *known*: the scan has followed the
//! skeleton without damage from the record array's header to the record. Any damage
//! (a byte that breaks the skeleton, an element that is cut or invalid) switches to the
//! damaged-region scanner in `lost.rs` until the next anchor (`anchor.rs`); records found
//! there are reported as unplaced, never placed. New versions of the document start at a
//! second document start, at a top-level key repeated within one version, and at a damaged
//! region that repeats records already kept. When two writers' blocks interleave, the
//! context holds only inside the block where it was learned, and `blocks.rs` places the
//! records of whole blocks afterwards. Work is linear: every skeleton byte is read
//! once by this pass and at most once more by `lost.rs`, element bytes once more by the
//! validator; nothing recurses. Elements the caller's [`Skeleton`] vouches for are not
//! read at all (see `proven_run` and `element_extent`): the result is the same.

use std::collections::HashSet;

use super::anchor::{Anchor, AnchorKind, Anchors};
use super::api::Skeleton;
use super::evidence::{any_block_rewinds, classify, first_key, first_key_of, record_keys};
use super::evidence::{repeats_across_block, Sampled, BLOCK};
use super::lex::string_end;
use super::lex::value_extent;
use super::lex::{at, ends_cleanly, is_valid_json, is_ws, key_name, skip_ws};
use super::lex::{Extent, Span};
use super::lost::unplaced_records;
use super::resume::{resume, Tail, TailEnd};

/// Why a new version of the document was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VersionReason {
    First,
    SecondDocument,
    RepeatedKey,
    RepeatedRecords,
    RepeatedText,
}

/// One version of the document found in the bytes.
#[derive(Debug, Clone)]
pub(crate) struct Version {
    pub start: usize,
    pub complete: bool,
    pub reason: VersionReason,
    pub keys: HashSet<String>,
}

/// The records of one record array in one version, in input order.
#[derive(Debug, Clone)]
pub(crate) struct RecordList {
    pub array: usize,
    pub records: Vec<Span>,
    pub lost: u64,
}

/// A top-level value kept from the input.
#[derive(Debug, Clone)]
pub(crate) enum EntryValue {
    Raw(Span),
    Records(RecordList),
}

/// One intact top-level key and what was kept of its value.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub name: String,
    pub key: Span,
    pub value_start: usize,
    pub value: EntryValue,
}

/// How a damaged byte range looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DamageKind {
    Invalid,
    Truncated,
    Padding,
}

/// Bytes that were not kept, and whether they follow a complete document.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Damage {
    pub span: Span,
    pub kind: DamageKind,
    pub trailing: bool,
}

/// Everything the scan learned about the input.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScanOut {
    pub bom: bool,
    pub versions: Vec<Version>,
    pub entries: Vec<Entry>,
    pub damage: Vec<Damage>,
    pub unplaced: Vec<Span>,
    /// Records in damaged regions identical to a record kept before (kept once).
    pub repeated: Vec<Span>,
    pub trailing_commas: u64,
    pub keys_lost: Vec<String>,
    pub truncated: bool,
    pub interleaved: bool,
    /// How many times the scan lost its context (zero for an intact input).
    pub lost_regions: u64,
}

enum Step {
    Between,
    Object {
        after_comma: bool,
    },
    Lost {
        damage: usize,
        from: usize,
        array: Option<usize>,
    },
    Done,
}

/// A damaged point: where the damage starts and where the search for context resumes.
struct Broken {
    damage: usize,
    from: usize,
    /// The record array the damage hit, if it hit one.
    array: Option<usize>,
}

/// Scans `buf` for documents whose record arrays are `record_keys`.
pub(crate) fn scan(buf: &[u8], record_keys: &[String], skeleton: &Skeleton) -> ScanOut {
    let mut s = Scanner {
        buf,
        skeleton,
        next_value: 0,
        keys: record_keys,
        anchors: Anchors::new(buf, record_keys),
        whole_valid: None,
        splice_guard: false,
        origin: 0,
        body: 0,
        pos: 0,
        out: ScanOut::default(),
        index: HashSet::new(),
        indexed: (0, 0),
        resumed: None,
    };
    s.run();
    if s.out.interleaved {
        super::blocks::apply(buf, s.body, record_keys, &mut s.out);
    }
    s.out
}

struct Scanner<'a> {
    buf: &'a [u8],
    /// What the caller proved about `buf` (values and runs of array elements).
    skeleton: &'a Skeleton,
    /// The index of the skeleton's value after the one last used.
    next_value: usize,
    keys: &'a [String],
    anchors: Anchors<'a>,
    whole_valid: Option<bool>,
    /// Text rewinds at a 4 KiB boundary and the input is not valid JSON: two writers'
    /// blocks are interleaved, so a value straddling a boundary may be two texts spliced.
    splice_guard: bool,
    /// The block where the scan last learned its context (a document start or an
    /// anchor); with `splice_guard`, a token in another block is another writer's text.
    origin: usize,
    body: usize,
    pos: usize,
    out: ScanOut,
    /// Kept records seen so far, built only once a damaged region holds records.
    index: HashSet<Sampled<'a>>,
    indexed: (usize, usize),
    /// The quote of the last anchor the scan resumed at: damage before the scan got past
    /// it (a document whose `{` and first key lie in different writers' blocks) must not
    /// resume there again, so every resumption moves forward.
    resumed: Option<usize>,
}

impl<'a> Scanner<'a> {
    fn run(&mut self) {
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

    fn between(&mut self) -> Step {
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
    fn is_lone_null(&self, p: usize) -> bool {
        let rest = self.buf.get(p..).unwrap_or_default();
        self.out.versions.is_empty()
            && rest.starts_with(b"null")
            && rest.get(4..).unwrap_or_default().iter().all(|&b| is_ws(b))
    }

    fn padding(&mut self, p: usize) -> Step {
        let rest = self.buf.get(p..).unwrap_or_default();
        let len = rest.iter().position(|&b| b != 0 && !is_ws(b));
        let end = len.map_or(self.buf.len(), |n| p + n);
        self.push_damage(Span::new(p, end));
        self.pos = end;
        Step::Between
    }

    fn begin_document(&mut self, brace: usize) {
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

    fn new_version(&mut self, start: usize, reason: VersionReason) {
        self.out.versions.push(Version {
            start,
            complete: false,
            reason,
            keys: HashSet::new(),
        });
    }

    fn version_index(&mut self) -> usize {
        if self.out.versions.is_empty() {
            self.new_version(self.pos, VersionReason::First);
        }
        self.out.versions.len() - 1
    }

    /// Records `name` in the current version; a repeated key starts a new version.
    fn note_key(&mut self, key_start: usize, name: &str) {
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

    fn complete_document(&mut self, close: usize) -> Step {
        if let Some(v) = self.out.versions.last_mut() {
            v.complete = true;
        }
        self.pos = close + 1;
        Step::Between
    }

    // ---- inside a top-level object ---------------------------------------------------

    fn object(&mut self, mut after_comma: bool) -> Step {
        loop {
            let p = skip_ws(self.buf, self.pos);
            if self.crosses(p) {
                return Step::Lost {
                    damage: p,
                    from: p,
                    array: None,
                };
            }
            match at(self.buf, p) {
                Some(b'}') => {
                    self.out.trailing_commas += u64::from(after_comma);
                    return self.complete_document(p);
                }
                Some(b'"') => {}
                _ => {
                    return Step::Lost {
                        damage: p,
                        from: p,
                        array: None,
                    }
                }
            }
            if let Err(b) = self.member(p) {
                return Step::Lost {
                    damage: b.damage,
                    from: b.from,
                    array: b.array,
                };
            }
            let s = skip_ws(self.buf, self.pos);
            match at(self.buf, s) {
                _ if self.crosses(s) => {
                    return Step::Lost {
                        damage: s,
                        from: s,
                        array: None,
                    }
                }
                Some(b',') => {
                    self.pos = s + 1;
                    after_comma = true;
                }
                Some(b'}') => return self.complete_document(s),
                _ => {
                    return Step::Lost {
                        damage: s,
                        from: s,
                        array: None,
                    }
                }
            }
        }
    }

    /// One `"key": value` member starting at the key's quote `p`.
    fn member(&mut self, p: usize) -> Result<(), Broken> {
        let broken = Broken {
            damage: p,
            from: p + 1,
            array: None,
        };
        let Some(key_end) = string_end(self.buf, p, self.buf.len()) else {
            return Err(broken);
        };
        let key = Span::new(p, key_end);
        let Some(name) = key_name(key.of(self.buf)) else {
            return Err(broken);
        };
        let colon = skip_ws(self.buf, key_end);
        if at(self.buf, colon) != Some(b':') || self.crosses(colon) {
            return Err(broken);
        }
        let v = skip_ws(self.buf, colon + 1);
        if self.crosses(v) {
            return Err(broken);
        }
        self.note_key(p, &name);
        let entry = Entry {
            name,
            key,
            value_start: v,
            value: EntryValue::Raw(Span::new(v, v)),
        };
        match self.record_array(&entry.name) {
            Some(array) if at(self.buf, v) == Some(b'[') => self.array(entry, array),
            _ => self.raw_value(entry),
        }
    }

    fn record_array(&self, name: &str) -> Option<usize> {
        self.keys.iter().position(|k| k == name)
    }

    fn raw_value(&mut self, mut entry: Entry) -> Result<(), Broken> {
        let v = entry.value_start;
        let end = match self.extent(v) {
            Extent::Complete(end) if self.is_intact(Span::new(v, end), b'}', false) => end,
            _ => {
                self.out.keys_lost.push(entry.name);
                return Err(Broken {
                    damage: entry.key.start,
                    from: v + 1,
                    array: None,
                });
            }
        };
        self.pos = end;
        if self.record_array(&entry.name).is_some() {
            // a record array whose value is not an array: the key is lost, not the skeleton
            self.out.keys_lost.push(entry.name);
        } else {
            entry.value = EntryValue::Raw(Span::new(v, end));
            self.out.entries.push(entry);
        }
        Ok(())
    }

    // ---- inside a record array ---------------------------------------------------------

    fn array(&mut self, mut entry: Entry, array: usize) -> Result<(), Broken> {
        entry.value = EntryValue::Records(RecordList {
            array,
            records: Vec::new(),
            lost: 0,
        });
        self.out.entries.push(entry);
        let mut i = self.pos_after_bracket();
        let mut after_comma = false;
        loop {
            let p = skip_ws(self.buf, i);
            if self.crosses(p) {
                return Err(Broken {
                    damage: p,
                    from: p,
                    array: Some(array),
                });
            }
            if at(self.buf, p) == Some(b']') {
                self.out.trailing_commas += u64::from(after_comma);
                self.pos = p + 1;
                return Ok(());
            }
            if let Some(next) = self.proven_run(p) {
                // as many elements as the run took, each followed by its comma
                i = next;
                after_comma = true;
                continue;
            }
            i = self.element(p).map_err(|b| Broken {
                array: Some(array),
                ..b
            })?;
            let s = skip_ws(self.buf, i);
            match at(self.buf, s) {
                _ if self.crosses(s) => {
                    return Err(Broken {
                        damage: s,
                        from: s,
                        array: Some(array),
                    })
                }
                Some(b',') => {
                    i = s + 1;
                    after_comma = true;
                }
                Some(b']') => {
                    self.pos = s + 1;
                    return Ok(());
                }
                _ => {
                    return Err(Broken {
                        damage: s,
                        from: s,
                        array: Some(array),
                    })
                }
            }
        }
    }

    fn pos_after_bracket(&self) -> usize {
        self.out
            .entries
            .last()
            .map_or(self.pos, |e| e.value_start + 1)
    }

    /// The elements of a proven run starting at `p` that the element-by-element scan
    /// would keep without a doubt, kept at once without reading their bytes: each is one
    /// valid value (kept, once its extent is known), followed by whitespace, one comma and
    /// the next element (so it ends cleanly and the scan goes on there), and its extent is
    /// the run's range whenever no anchor lies inside it (a valid value of any kind
    /// followed by a comma ends exactly there). Not while blocks interleave, where every
    /// element is checked against the block boundaries. Returns where the scan goes on:
    /// the start of the first element not taken.
    fn proven_run(&mut self, p: usize) -> Option<usize> {
        if self.splice_guard {
            return None;
        }
        let first = self.skeleton.find(p, self.next_value)?;
        let limit = self.anchors.next(p).map_or(usize::MAX, |a| a.quote);
        let mut i = first;
        while self.skeleton.sibling(i) {
            let Some(value) = self.skeleton.value(i) else {
                break;
            };
            if value.end > limit {
                break;
            }
            self.push_record(Span::new(value.start, value.end));
            i += 1;
        }
        if i == first {
            return None;
        }
        self.next_value = i;
        self.skeleton.value(i).map(|r| r.start)
    }

    /// One element at `p`: kept if it closes and is valid, else counted lost.
    fn element(&mut self, p: usize) -> Result<usize, Broken> {
        let (extent, vouched) = self.element_extent(p);
        if let Extent::Complete(end) = extent {
            let span = Span::new(p, end);
            if self.is_intact(span, b']', vouched) {
                self.push_record(span);
                return Ok(end);
            }
        }
        if at(self.buf, p).is_some_and(starts_value) {
            self.count_lost_record();
        }
        Err(Broken {
            damage: p,
            from: p + 1,
            array: None,
        })
    }

    /// True if `p` lies outside the block where the context was learned while blocks of
    /// two writers interleave: the bytes there may be the other writer's.
    fn crosses(&self, p: usize) -> bool {
        self.splice_guard && p / BLOCK != self.origin
    }

    /// A value is intact if it ends cleanly (see `ends_cleanly`), is valid on its own
    /// (`vouched`: the caller said so), and does not straddle a block boundary of
    /// interleaved writers.
    fn is_intact(&self, span: Span, closer: u8, vouched: bool) -> bool {
        let straddles = span.start / BLOCK != span.end.saturating_sub(1) / BLOCK;
        !(self.splice_guard && straddles)
            && ends_cleanly(self.buf, span.end, closer)
            && (vouched || self.known_valid(span) || is_valid_json(span.of(self.buf)))
    }

    /// Whether the caller vouched for exactly `span` being valid JSON.
    fn known_valid(&self, span: Span) -> bool {
        self.skeleton
            .find(span.start, self.next_value)
            .and_then(|i| self.skeleton.value(i))
            .is_some_and(|r| r.end == span.end)
    }

    fn push_record(&mut self, span: Span) {
        if let Some(Entry {
            value: EntryValue::Records(list),
            ..
        }) = self.out.entries.last_mut()
        {
            list.records.push(span);
        }
    }

    fn count_lost_record(&mut self) {
        if let Some(Entry {
            value: EntryValue::Records(list),
            ..
        }) = self.out.entries.last_mut()
        {
            list.lost += 1;
        }
    }

    /// [`Self::extent`] of an element, without reading its bytes when the caller vouched
    /// for a range starting at `p` holding an object, array or string: such a value,
    /// valid, closes exactly where the range ends (its brackets and quotes are balanced
    /// there and nowhere before), so the scan's answer is that end whenever its limit, the
    /// next anchor, does not lie inside the range.
    /// Also says whether the element is exactly a value the caller vouched for.
    fn element_extent(&mut self, p: usize) -> (Extent, bool) {
        let Some(end) = self.vouched_end(p) else {
            return (self.extent(p), false);
        };
        if self.anchors.next(p).is_none_or(|a| a.quote >= end) {
            return (Extent::Complete(end), true);
        }
        let extent = self.extent(p);
        (extent, extent == Extent::Complete(end))
    }

    /// The end of the value the caller vouched for that starts at `p`, if it is an object,
    /// array or string (a number's extent also depends on what follows it).
    fn vouched_end(&mut self, p: usize) -> Option<usize> {
        if !matches!(at(self.buf, p), Some(b'{' | b'[' | b'"')) {
            return None;
        }
        // elements come in input order: the value after the last one found first
        let i = self.skeleton.find(p, self.next_value)?;
        self.next_value = i + 1;
        self.skeleton.value(i).map(|r| r.end)
    }

    /// The extent of the value at `start`, not crossing the next anchor unless the whole
    /// input is valid JSON (then an anchor-like text inside a value is just content).
    fn extent(&mut self, start: usize) -> Extent {
        let len = self.buf.len();
        let limit = match self.whole_valid {
            Some(true) => len,
            _ => self.anchors.next(start).map_or(len, |a| a.quote),
        };
        let extent = value_extent(self.buf, start, limit);
        if extent == Extent::Cut && limit < len && self.whole_input_valid() {
            return value_extent(self.buf, start, len);
        }
        extent
    }

    fn whole_input_valid(&mut self) -> bool {
        let buf = self.buf;
        let body = self.body;
        *self
            .whole_valid
            .get_or_insert_with(|| is_valid_json(buf.get(body..).unwrap_or_default()))
    }

    // ---- damaged regions -----------------------------------------------------------

    fn lost(&mut self, damage: usize, from: usize, array: Option<usize>) -> Step {
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
    fn try_resume(
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
    fn accounts_for_all_arrays(
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
    fn ends_document(&self, brace: usize) -> bool {
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
    fn like_kept_records(&self, chain: &[Span], tail: &Tail) -> bool {
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

    fn first_kept_record(&self) -> Option<&'a [u8]> {
        let version = self.out.versions.len().checked_sub(1)?;
        let start = self.out.versions.get(version)?.start;
        self.out.entries.iter().rev().find_map(|e| match &e.value {
            EntryValue::Records(l) if e.key.start >= start => {
                l.records.first().map(|s| s.of(self.buf))
            }
            _ => None,
        })
    }

    fn after_complete_document(&self) -> bool {
        self.out.versions.last().is_some_and(|v| v.complete)
    }

    /// Unplaced records identical to a kept one are evidence of a second version.
    fn file_unplaced(&mut self, damage: usize, found: Vec<Span>) {
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

    fn index_kept(&mut self) {
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

    fn push_damage(&mut self, span: Span) {
        let trailing = self.after_complete_document();
        self.push_damage_with(span, trailing);
    }

    fn push_damage_with(&mut self, span: Span, trailing: bool) {
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

fn starts_value(b: u8) -> bool {
    matches!(
        b,
        b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n' | b'N' | b'I'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<String> {
        vec!["open_positions".into(), "closed_positions".into()]
    }

    fn reasons(input: &str) -> Vec<VersionReason> {
        scan(input.as_bytes(), &keys(), &Skeleton::default())
            .versions
            .iter()
            .map(|v| v.reason)
            .collect()
    }

    #[test]
    fn version_evidence() {
        use VersionReason::*;
        let cases: &[(&str, &[VersionReason])] = &[
            (r#"{"open_positions": []}"#, &[First]),
            (
                r#"{"open_positions": []}{"open_positions": []}"#,
                &[First, SecondDocument],
            ),
            (
                "{\"open_positions\": []}\n{\"a\": 1}",
                &[First, SecondDocument],
            ),
            (
                r#"{"open_positions": [{"a": 1}, {"b{"open_positions": []}"#,
                &[First, SecondDocument],
            ),
            (
                r#"{"open_positions": [], "open_positions": []}"#,
                &[First, RepeatedKey],
            ),
            (
                r#"{"open_positions": [{"a": 1}], "x": "y" garbage, "open_positions": [] }"#,
                &[First, RepeatedKey],
            ),
            // garbage before the first document is not a version
            ("\u{1}\u{1}{\"open_positions\": []}", &[First]),
        ];
        for (input, want) in cases {
            assert_eq!(reasons(input), *want, "input: {input}");
        }
    }

    #[test]
    fn damage_kinds() {
        let cases: &[(&[u8], &[DamageKind])] = &[
            (
                b"{\"open_positions\": [{\"a\": 1}, {\"b\"",
                &[DamageKind::Truncated],
            ),
            (b"{\"open_positions\": []}\0\0\0", &[DamageKind::Padding]),
            (b"{\"open_positions\": []} junk", &[DamageKind::Invalid]),
            (
                b"{\"open_positions\": [{\"a\": \xff}, {\"b\": 2}]}",
                &[DamageKind::Invalid],
            ),
        ];
        for (input, want) in cases {
            let kinds: Vec<DamageKind> = scan(input, &keys(), &Skeleton::default())
                .damage
                .iter()
                .map(|d| d.kind)
                .collect();
            assert_eq!(kinds, *want, "input: {input:?}");
        }
    }

    fn kept_and_unplaced(input: &[u8]) -> (Vec<&[u8]>, Vec<&[u8]>) {
        kept_and_unplaced_with(input, &Skeleton::default())
    }

    fn kept_and_unplaced_with<'a>(
        input: &'a [u8],
        skeleton: &Skeleton,
    ) -> (Vec<&'a [u8]>, Vec<&'a [u8]>) {
        let out = scan(input, &keys(), skeleton);
        let kept = out
            .entries
            .iter()
            .filter_map(|e| match &e.value {
                EntryValue::Records(l) => Some(l.records.iter().map(|s| s.of(input))),
                EntryValue::Raw(_) => None,
            })
            .flatten()
            .collect();
        let unplaced = out.unplaced.iter().map(|s| s.of(input)).collect();
        (kept, unplaced)
    }

    /// A skeleton of runs gives the scan without one: a run is taken whole up to a record
    /// holding an anchor-like key (which the scan takes for damage), and a record that does
    /// not end cleanly is checked where the run ends.
    #[test]
    fn proven_runs_give_the_same_scan() {
        let inputs: &[&[u8]] = &[
            b"{\"open_positions\": [{\"a\": 1}, {\"x\": {\"closed_positions\": [1]}}, {\"b\": 2}, {\"c\": 3",
            b"{\"open_positions\": [{\"a\": 1}, {\"b\": 2}, {\"c\": 3} x, {\"d\": 4}]}",
            b"{\"open_positions\": [{\"a\": 1}, {\"b\": 2}], \"closed_positions\": [{\"c\": 3}, {\"d\": 4}]} {",
        ];
        for input in inputs {
            let runs = crate::jsondoc::record_runs(
                input,
                &crate::jsondoc::Spec {
                    record_arrays: &keys(),
                    ..crate::jsondoc::Spec::default()
                },
            );
            assert!(runs.iter().any(|r| r.len() > 1), "{runs:?}");
            let plain = kept_and_unplaced(input);
            let with = kept_and_unplaced_with(input, &Skeleton::runs(runs));
            assert_eq!(with, plain, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn records_after_damage_are_placed_only_when_proven() {
        let a: &[u8] = b"{\"a\": 1}";
        let b: &[u8] = b"{\"b\": 2}";
        let c: &[u8] = b"{\"c\": 3}";
        let d: &[u8] = b"{\"a\": 4}";
        type Case<'c> = (&'c [u8], Vec<&'c [u8]>, Vec<&'c [u8]>);
        let cases: Vec<Case> = vec![
            // the next header follows: b is proven to be in open_positions
            (
                b"{\"open_positions\": [{\"a\": 1}, \xff\xff, {\"b\": 2}], \"closed_positions\": [{\"c\": 3}]}",
                vec![a, b, c],
                vec![],
            ),
            // the closed header may be in the garbage: b's array is unknown
            (
                b"{\"open_positions\": [{\"a\": 1}, \xff\xff, {\"b\": 2}]}",
                vec![a],
                vec![b],
            ),
            // the end of the last array and of the document follow, and d looks like the
            // records kept before: d is proven
            (
                b"{\"open_positions\": [], \"closed_positions\": [{\"a\": 1}, \xff, {\"a\": 4}], \"t\": 1}",
                vec![a, d],
                vec![],
            ),
            // the same, but c does not look like the records kept: it may be nested
            (
                b"{\"open_positions\": [], \"closed_positions\": [{\"a\": 1}, \xff, {\"c\": 3}], \"t\": 1}",
                vec![a],
                vec![c],
            ),
            // a record repeated from before the damage: maybe another version, not placed
            (
                b"{\"open_positions\": [], \"closed_positions\": [{\"a\": 1}, \xff, {\"a\": 1}]}",
                vec![a],
                vec![],
            ),
        ];
        for (input, kept, unplaced) in cases {
            let got = kept_and_unplaced(input);
            assert_eq!(
                got,
                (kept, unplaced),
                "input: {}",
                String::from_utf8_lossy(input)
            );
        }
    }
}
