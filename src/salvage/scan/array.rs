//! The scan inside a record array: each element's extent (taken from the caller's
//! [`Skeleton`](crate::salvage::Skeleton) where it vouches for it, else found and
//! validated), kept only while the context holds; with interleaved blocks, never across a
//! block boundary.

use super::out::{Entry, EntryValue, RecordList};
use super::{Broken, Scanner};
use crate::salvage::evidence::BLOCK;
use crate::salvage::lex::{at, ends_cleanly, is_valid_json, skip_ws, value_extent, Extent, Span};

impl<'a> Scanner<'a> {
    // ---- inside a record array ---------------------------------------------------------

    pub(super) fn array(&mut self, mut entry: Entry, array: usize) -> Result<(), Broken> {
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

    pub(super) fn pos_after_bracket(&self) -> usize {
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
    pub(super) fn proven_run(&mut self, p: usize) -> Option<usize> {
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
    pub(super) fn element(&mut self, p: usize) -> Result<usize, Broken> {
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
    pub(super) fn crosses(&self, p: usize) -> bool {
        self.splice_guard && p / BLOCK != self.origin
    }

    /// A value is intact if it ends cleanly (see `ends_cleanly`), is valid on its own
    /// (`vouched`: the caller said so), and does not straddle a block boundary of
    /// interleaved writers.
    pub(super) fn is_intact(&self, span: Span, closer: u8, vouched: bool) -> bool {
        let straddles = span.start / BLOCK != span.end.saturating_sub(1) / BLOCK;
        !(self.splice_guard && straddles)
            && ends_cleanly(self.buf, span.end, closer)
            && (vouched || self.known_valid(span) || is_valid_json(span.of(self.buf)))
    }

    /// Whether the caller vouched for exactly `span` being valid JSON.
    pub(super) fn known_valid(&self, span: Span) -> bool {
        self.skeleton
            .find(span.start, self.next_value)
            .and_then(|i| self.skeleton.value(i))
            .is_some_and(|r| r.end == span.end)
    }

    pub(super) fn push_record(&mut self, span: Span) {
        if let Some(Entry {
            value: EntryValue::Records(list),
            ..
        }) = self.out.entries.last_mut()
        {
            list.records.push(span);
        }
    }

    pub(super) fn count_lost_record(&mut self) {
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
    pub(super) fn element_extent(&mut self, p: usize) -> (Extent, bool) {
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
    pub(super) fn vouched_end(&mut self, p: usize) -> Option<usize> {
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
    pub(super) fn extent(&mut self, start: usize) -> Extent {
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

    pub(super) fn whole_input_valid(&mut self) -> bool {
        let buf = self.buf;
        let body = self.body;
        *self
            .whole_valid
            .get_or_insert_with(|| is_valid_json(buf.get(body..).unwrap_or_default()))
    }
}

pub(super) fn starts_value(b: u8) -> bool {
    matches!(
        b,
        b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n' | b'N' | b'I'
    )
}
