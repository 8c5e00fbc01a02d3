//! The scan inside a top-level object: each member's key (a key repeated within a version
//! opens a new one), record arrays handed to `array`, any other value kept as its raw text
//! once it is known to be valid.

use super::out::{Entry, EntryValue};
use super::{Broken, Scanner, Step};
use crate::salvage::lex::{at, key_name, skip_ws, string_end, Extent, Span};

impl<'a> Scanner<'a> {
    // ---- inside a top-level object ---------------------------------------------------

    pub(super) fn object(&mut self, mut after_comma: bool) -> Step {
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
    pub(super) fn member(&mut self, p: usize) -> Result<(), Broken> {
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

    pub(super) fn record_array(&self, name: &str) -> Option<usize> {
        self.keys.iter().position(|k| k == name)
    }

    pub(super) fn raw_value(&mut self, mut entry: Entry) -> Result<(), Broken> {
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
}
