//! The top level of a document: it must be an object whose record arrays are arrays; its
//! members are kept in order with their byte ranges, and a kept scan hands over what it
//! completed before a break.

use super::entry::{error_at, first_break};
use super::words::CACHE_SLOTS;
use super::{broken, ScanError, Scanner, Top, R};
use crate::jsondoc::{Document, Known, Scanned, Spec, Val};
use std::ops::Range;

impl<'a> Scanner<'a> {
    pub(super) fn new(b: &'a [u8], keep: bool, known: Option<Known<'a>>) -> Self {
        Scanner {
            b,
            i: 0,
            keys: Vec::new(),
            slots: Vec::new(),
            cache: vec![None; CACHE_SLOTS],
            keep,
            spans: Vec::new(),
            cut: (Vec::new(), None),
            known,
        }
    }

    /// [`Self::top`] with the error placed (line and column), and an unusable document
    /// reported broken when its bytes are broken further on.
    pub(super) fn checked_top(&mut self, spec: &Spec<'_>) -> Result<Top, ScanError> {
        let bytes = self.b;
        match self.top(spec).map_err(|f| error_at(bytes, f)) {
            Err(e) if e.unusable => Err(first_break(bytes).unwrap_or(e)),
            other => other,
        }
    }

    /// The key whose text (quotes included) is exactly `range`: its decoded name and its
    /// content as written.
    pub(super) fn key_at(&mut self, range: &Range<usize>) -> Option<(String, Vec<u8>)> {
        self.i = range.start;
        if self.peek() != Some(b'"') {
            return None;
        }
        let key = self.string().ok()?;
        if self.i != range.end {
            return None;
        }
        let name = self.key_text(key, range.start).ok()?;
        Some((name, self.b.get(key.start..key.end)?.to_vec()))
    }
}

impl Scanner<'_> {
    pub(super) fn top(&mut self, spec: &Spec<'_>) -> R<Top> {
        self.ws();
        let top = match self.peek() {
            Some(b'{') => self.top_object(spec)?,
            Some(b'[') => self.skip(0).map(|()| Top::NotObject("an array"))?,
            Some(b'"') => self.skip(0).map(|()| Top::NotObject("a string"))?,
            Some(b't' | b'f') => self.skip(0).map(|()| Top::NotObject("a boolean"))?,
            Some(b'n') => self.skip(0).map(|()| Top::NotObject("null"))?,
            Some(b'-' | b'0'..=b'9' | b'N' | b'I') => {
                self.skip(0).map(|()| Top::NotObject("a number"))?
            }
            _ => return self.unexpected("a value"),
        };
        self.ws();
        if self.i < self.b.len() {
            // a complete document, then more bytes: its records were completed
            if let (true, Top::Object(doc)) = (self.keep, top) {
                self.cut.0 = doc.arrays;
            }
            return broken(self.i, "trailing characters");
        }
        Ok(top)
    }

    /// What a kept scan completed before it broke: each record array's records with their
    /// byte ranges (the array it broke in holds the records before the break).
    pub(super) fn scanned(&mut self) -> Scanned {
        let (done, broken) = std::mem::take(&mut self.cut);
        let mut records = done.into_iter().map(|(_, r)| r).chain(broken);
        let arrays = std::mem::take(&mut self.spans)
            .into_iter()
            .map_while(|(key, spans)| {
                let recs = records.next()?;
                Some((key, spans.into_iter().zip(recs).collect()))
            })
            .collect();
        Scanned { arrays }
    }

    pub(super) fn top_object(&mut self, spec: &Spec<'_>) -> R<Top> {
        let mut doc = Document::default();
        let result = self.top_members(spec, &mut doc);
        if result.is_err() && self.keep {
            self.cut.0 = std::mem::take(&mut doc.arrays);
        }
        Ok(match result? {
            Some(k) => Top::BadArray(k),
            None => Top::Object(doc),
        })
    }

    /// The members of the top-level object into `doc`; returns the first record array key
    /// whose value is not an array.
    pub(super) fn top_members(&mut self, spec: &Spec<'_>, doc: &mut Document) -> R<Option<String>> {
        let mut bad_array = None;
        self.object(0, |s, key| {
            let key_text = s.key_text(key.s, key.at)?;
            s.top_member(spec, doc, key_text, &mut bad_array)
        })?;
        Ok(bad_array)
    }

    /// The value of top-level key `key_text` (the cursor before it) into `doc`; a record
    /// array key whose value is not an array is noted in `bad_array`.
    pub(super) fn top_member(
        &mut self,
        spec: &Spec<'_>,
        doc: &mut Document,
        key_text: String,
        bad_array: &mut Option<String>,
    ) -> R<()> {
        if spec.record_arrays.contains(&key_text) {
            let hash = spec.hash_records.contains(&key_text);
            self.ws();
            if self.peek() == Some(b'[') {
                let full = spec.full_records.contains(&key_text);
                let records = self.record_array(&key_text, spec.extract, hash, full)?;
                doc.arrays.push((key_text.clone(), records));
            } else {
                self.skip(1)?;
                bad_array.get_or_insert_with(|| key_text.clone());
            }
            doc.top.push((key_text.clone(), Val::Array));
        } else {
            let v = self.value(&[], 1)?;
            doc.top.push((key_text.clone(), v));
        }
        doc.keys.push(key_text);
        Ok(())
    }
}
