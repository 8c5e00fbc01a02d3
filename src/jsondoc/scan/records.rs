//! Record arrays: each element is validated, taken from the known records when its text
//! is the same, and the fields the caller extracts are pulled out of each record; a kept
//! scan records each element's byte range.

use super::{broken, unusable, Key, Scanner, MAX_DEPTH, R};
use crate::jsondoc::{fnv, Extract, Record, Spec, Val};
use std::ops::Range;

impl Scanner<'_> {
    /// Scans an array at `depth` (the cursor on `[`), calling `element` for each element with
    /// the cursor on it.
    pub(super) fn array(
        &mut self,
        depth: usize,
        mut element: impl FnMut(&mut Self) -> R<()>,
    ) -> R<()> {
        if depth >= MAX_DEPTH {
            return unusable(self.i, "recursion limit exceeded");
        }
        self.i += 1;
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            element(self)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return self.unexpected("`,` or `]`"),
            }
        }
    }

    pub(super) fn record_array(
        &mut self,
        key: &str,
        extract: Option<&Extract>,
        hash: bool,
        full: bool,
    ) -> R<Vec<Record>> {
        let mut out = Vec::new();
        let mut spans = Vec::new();
        let (known, fields) = self.array_start(key, extract, full);
        let result = self.array(1, |s| {
            let start = s.i;
            if s.keep {
                spans.push(start..start);
            }
            let rec = s.element(known, extract, fields, hash)?;
            if let Some(span) = spans.last_mut() {
                span.end = s.i;
            }
            out.push(rec);
            Ok(())
        });
        if self.keep {
            // A record whose scan broke has no entry in `out`.
            spans.truncate(out.len());
            self.spans.push((key.to_string(), spans));
            if result.is_err() {
                self.cut.1 = Some(std::mem::take(&mut out));
            }
        }
        result.map(|()| out)
    }

    /// The records of record array `key` whose elements are the texts at `elements`, in
    /// order: what [`Self::record_array`] gives for an array of exactly those elements.
    pub(super) fn records_at(
        &mut self,
        key: &str,
        elements: &[Range<usize>],
        spec: &Spec<'_>,
    ) -> R<Vec<Record>> {
        let hash = spec.hash_records.iter().any(|k| k == key);
        let full = spec.full_records.iter().any(|k| k == key);
        let (known, fields) = self.array_start(key, spec.extract, full);
        let mut out = Vec::with_capacity(elements.len());
        for range in elements {
            self.i = range.start;
            out.push(self.element(known, spec.extract, fields, hash)?);
            if self.i != range.end {
                return broken(self.i, "an element is not exactly its range");
            }
        }
        Ok(out)
    }

    /// Starts the records of array `key`: its index among the known arrays, and the fields
    /// its records get.
    pub(super) fn array_start<'e>(
        &mut self,
        key: &str,
        extract: Option<&'e Extract>,
        full: bool,
    ) -> (Option<usize>, &'e [String]) {
        let known = self
            .known
            .as_ref()
            .and_then(|k| k.arrays.iter().position(|(name, _)| name == key));
        self.slots.clear();
        let fields = extract.map(|e| e.fields.as_slice()).unwrap_or_default();
        let fields = match extract {
            Some(e) if !full => fields.get(..e.common).unwrap_or(fields),
            _ => fields,
        };
        (known, fields)
    }

    /// One element of a record array (the cursor on it): the known record when its text
    /// is at the cursor, else the record scanned (an element that is not an object is
    /// skipped, validated); with `hash`, the hash of its bytes.
    pub(super) fn element(
        &mut self,
        known: Option<usize>,
        extract: Option<&Extract>,
        fields: &[String],
        hash: bool,
    ) -> R<Record> {
        let start = self.i;
        let taken = known.and_then(|k| self.take_known(k));
        let is_object = self.peek() == Some(b'{');
        let mut rec = if let Some(rec) = taken {
            rec
        } else if is_object && !fields.is_empty() {
            self.record(extract, fields)?
        } else {
            // nothing to pull out: validated like any value
            self.skip(2)?;
            Record {
                values: Vec::new(),
                is_object,
                raw_hash: None,
            }
        };
        if hash && rec.raw_hash.is_none() {
            rec.raw_hash = Some(fnv(self.b.get(start..self.i).unwrap_or_default()));
        }
        Ok(rec)
    }

    /// The next known record of known array `k` when its text is, byte for byte, the text
    /// at the cursor: it is taken and the cursor moved past it. Each call consumes one
    /// known record, as each element of the array corresponds to one.
    pub(super) fn take_known(&mut self, k: usize) -> Option<Record> {
        let known = self.known.as_mut()?;
        let (span, rec) = known.arrays.get_mut(k)?.1.pop_front()?;
        let rec = rec?;
        let end = self.i.checked_add(span.len())?;
        // the same bytes at the same place need no comparison
        let here = std::ptr::eq(self.b, known.source) && span.start == self.i;
        if !here && self.b.get(self.i..end)? != known.source.get(span)? {
            return None;
        }
        self.i = end;
        Some(rec)
    }

    /// One record (the cursor on `{`), with `fields` (a prefix of the extract's) pulled out.
    pub(super) fn record(&mut self, extract: Option<&Extract>, fields: &[String]) -> R<Record> {
        let mut values = vec![Val::Missing; fields.len()];
        self.object(2, |s, key| {
            let slot = s.field_slot(fields, key)?;
            match slot {
                Some(i) => {
                    let sub = extract
                        .and_then(|e| e.sub_fields.get(i))
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    let v = s.value(sub, 3)?;
                    if let Some(v_slot) = values.get_mut(i) {
                        *v_slot = v;
                    }
                    Ok(())
                }
                None => {
                    s.ws();
                    s.skip(3)
                }
            }
        })?;
        Ok(Record {
            values,
            is_object: true,
            raw_hash: None,
        })
    }

    /// Which extracted field a record key is, reusing the previous record's answer when
    /// the keys so far are the same.
    pub(super) fn field_slot(&mut self, fields: &[String], key: Key) -> R<Option<usize>> {
        if key.same {
            if let Some(&slot) = self.slots.get(key.index) {
                return Ok(slot);
            }
        }
        let slot = if key.s.escaped {
            let text = self.key_text(key.s, key.at)?;
            fields.iter().position(|f| *f == text)
        } else {
            let raw = self.b.get(key.s.start..key.s.end).unwrap_or_default();
            fields.iter().position(|f| f.as_bytes() == raw)
        };
        if self.slots.len() <= key.index {
            self.slots.resize(key.index + 1, None);
        }
        if let Some(s) = self.slots.get_mut(key.index) {
            *s = slot;
        }
        Ok(slot)
    }
}
