//! The cursor's primitives (peek, whitespace, one expected byte) and values: decoded when
//! extracted, otherwise skipped and validated; numbers to the strict grammar and in f64
//! range, Python's `NaN`, `Infinity` and `-Infinity`, and the literals.

use super::words::{fast_f64, non_digits, word};
use super::{broken, unusable, Scanner, R};
use crate::jsondoc::Val;
use crate::pyjson::NonFinite;

impl Scanner<'_> {
    #[inline]
    pub(super) fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    pub(super) fn ws(&mut self) {
        let b = self.b;
        let mut i = self.i;
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
            i += 1;
        }
        self.i = i;
    }
}

impl Scanner<'_> {
    pub(super) fn eat(&mut self, c: u8, what: &str) -> R<()> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            self.unexpected(what)
        }
    }

    pub(super) fn unexpected<T>(&self, expected: &str) -> R<T> {
        match self.peek() {
            None => broken(self.i, format!("EOF while parsing {expected}")),
            Some(c) => broken(
                self.i,
                format!("expected {expected}, found {:?}", char::from(c)),
            ),
        }
    }
}

impl Scanner<'_> {
    /// A value as a [`Val`] (the cursor before it): scalars are decoded, arrays skipped,
    /// objects skipped except for the `sub` fields.
    pub(super) fn value(&mut self, sub: &[String], depth: usize) -> R<Val> {
        self.ws();
        match self.peek() {
            Some(b'"') => {
                let at = self.i;
                let s = self.string()?;
                self.shared(s, at).map(Val::Str)
            }
            _ if self.at_non_finite() => self.non_finite().map(|t| Val::Num(t.value())),
            Some(b'-' | b'0'..=b'9') => {
                let (start, end, _) = self.number()?;
                let raw = self.b.get(start..end).unwrap_or_default();
                let n = fast_f64(raw).or_else(|| {
                    let text = std::str::from_utf8(raw).ok()?;
                    text.parse::<f64>().ok()
                });
                match n {
                    Some(n) if n.is_finite() => Ok(Val::Num(n)),
                    _ => unusable(start, "number out of range"),
                }
            }
            Some(b'[') => self.skip(depth).map(|()| Val::Array),
            Some(b'{') => {
                let mut values = vec![Val::Missing; sub.len()];
                self.object(depth, |s, key| {
                    let text = s.key_text(key.s, key.at)?;
                    match sub.iter().position(|f| *f == text) {
                        Some(i) => {
                            let v = s.value(&[], depth + 1)?;
                            if let Some(slot) = values.get_mut(i) {
                                *slot = v;
                            }
                            Ok(())
                        }
                        None => {
                            s.ws();
                            s.skip(depth + 1)
                        }
                    }
                })?;
                Ok(Val::Object(values.into_boxed_slice()))
            }
            Some(b't') => self.literal(b"true").map(|()| Val::Bool(true)),
            Some(b'f') => self.literal(b"false").map(|()| Val::Bool(false)),
            Some(b'n') => self.literal(b"null").map(|()| Val::Null),
            _ => self.unexpected("a value"),
        }
    }

    /// Skips one value (the cursor on it), validating it.
    pub(super) fn skip(&mut self, depth: usize) -> R<()> {
        match self.peek() {
            Some(b'"') => self.string().map(|_| ()),
            Some(b'{') => self.object(depth, |s, _| {
                s.ws();
                s.skip(depth + 1)
            }),
            Some(b'[') => self.array(depth, |s| s.skip(depth + 1)),
            _ if self.at_non_finite() => self.non_finite().map(|_| ()),
            Some(b'-' | b'0'..=b'9') => {
                let (start, end, exp) = self.number()?;
                self.check_range(start, end, exp)
            }
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            _ => self.unexpected("a value"),
        }
    }

    /// Whether the cursor is on what can only be a non-finite number: `N`, `I` or `-I`.
    #[inline]
    pub(super) fn at_non_finite(&self) -> bool {
        match self.peek() {
            Some(b'N' | b'I') => true,
            Some(b'-') => self.b.get(self.i + 1) == Some(&b'I'),
            _ => false,
        }
    }

    /// Scans `NaN`, `Infinity` or `-Infinity` (exactly, as Python writes them).
    pub(super) fn non_finite(&mut self) -> R<NonFinite> {
        match NonFinite::at_start(self.b.get(self.i..).unwrap_or_default()) {
            Some(t) => {
                self.i += t.text().len();
                Ok(t)
            }
            None => broken(self.i, "expected `NaN`, `Infinity` or `-Infinity`"),
        }
    }

    pub(super) fn literal(&mut self, word: &[u8]) -> R<()> {
        let end = self.i + word.len();
        if self.b.get(self.i..end) == Some(word) {
            self.i = end;
            Ok(())
        } else {
            broken(
                self.i,
                format!("expected `{}`", String::from_utf8_lossy(word)),
            )
        }
    }

    /// Scans a number (strict grammar); returns its byte range and whether it has an
    /// exponent.
    #[inline]
    pub(super) fn number(&mut self) -> R<(usize, usize, bool)> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return broken(self.i, "invalid number"),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return broken(self.i, "invalid number");
            }
            self.digits();
        }
        let exp = matches!(self.peek(), Some(b'e' | b'E'));
        if exp {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return broken(self.i, "invalid number");
            }
            self.digits();
        }
        Ok((start, self.i, exp))
    }

    /// Skips ASCII digits, eight at a time while there are eight bytes.
    #[inline]
    pub(super) fn digits(&mut self) {
        let b = self.b;
        let mut i = self.i;
        while let Some(w) = word(b, i) {
            let stop = non_digits(w);
            if stop != 0 {
                self.i = i + (stop.trailing_zeros() / 8) as usize;
                return;
            }
            i += 8;
        }
        while let Some(b'0'..=b'9') = b.get(i) {
            i += 1;
        }
        self.i = i;
    }

    /// Refuses a number that overflows f64. Only numbers with an exponent or more than 300
    /// digits can, so only those are parsed.
    pub(super) fn check_range(&self, start: usize, end: usize, exp: bool) -> R<()> {
        let text = self.b.get(start..end).unwrap_or_default();
        if end - start < 300 && !exp {
            return Ok(());
        }
        match std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
        {
            Some(n) if n.is_finite() => Ok(()),
            _ => unusable(start, "number out of range"),
        }
    }
}
