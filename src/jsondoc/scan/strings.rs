//! Strings: validated (escapes, control characters, UTF-8), plain runs skipped eight bytes
//! at a time, decoded when extracted, and shared through a small cache so that a symbol a
//! file repeats is allocated once.

use super::words::{has_special, key_hash, same_bytes, CACHE_SLOTS, SPECIAL};
use super::{broken, Scanner, Str, R};
use std::sync::Arc;

impl Scanner<'_> {
    /// Skips plain string content (no quote, backslash, control character or non-ASCII
    /// byte), eight bytes at a time, then byte by byte.
    #[inline]
    pub(super) fn skip_plain(&mut self) {
        let b = self.b;
        let mut i = self.i;
        while let Some(chunk) = b.get(i..i + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            if has_special(u64::from_le_bytes(w)) {
                break;
            }
            i += 8;
        }
        while let Some(&c) = b.get(i) {
            if SPECIAL[usize::from(c)] {
                break;
            }
            i += 1;
        }
        self.i = i;
    }
}

impl Scanner<'_> {
    /// Scans a string (the cursor on its `"`), validating escapes, control characters and
    /// UTF-8; the cursor ends after the closing quote.
    #[inline]
    pub(super) fn string(&mut self) -> R<Str> {
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        let mut non_ascii = false;
        loop {
            self.skip_plain();
            match self.peek() {
                None => return broken(self.i, "EOF while parsing a string"),
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    self.escape()?;
                }
                Some(c) if c < 0x20 => {
                    return broken(
                        self.i,
                        "control character (\\u0000-\\u001F) found while parsing a string",
                    );
                }
                Some(_) => {
                    non_ascii = true;
                    self.i += 1;
                }
            }
        }
        let end = self.i;
        self.i += 1;
        if non_ascii && std::str::from_utf8(self.b.get(start..end).unwrap_or_default()).is_err() {
            return broken(start, "invalid unicode code point");
        }
        Ok(Str {
            start,
            end,
            escaped,
        })
    }

    pub(super) fn escape(&mut self) -> R<()> {
        self.i += 1;
        match self.peek() {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.i += 1;
                Ok(())
            }
            Some(b'u') => {
                let hex = self.b.get(self.i + 1..self.i + 5).unwrap_or_default();
                if hex.len() == 4 && hex.iter().all(u8::is_ascii_hexdigit) {
                    self.i += 5;
                    Ok(())
                } else {
                    broken(self.i, "invalid escape")
                }
            }
            _ => broken(self.i, "invalid escape"),
        }
    }

    pub(super) fn key_text(&self, key: Str, at: usize) -> R<String> {
        self.decode(key, at)
    }

    /// A scanned string as a shared copy: one allocation per distinct text while it stays
    /// in the cache (escaped strings are decoded and not cached).
    #[inline]
    pub(super) fn shared(&mut self, s: Str, at: usize) -> R<Arc<str>> {
        if s.escaped {
            return self.decode(s, at).map(Arc::from);
        }
        let raw = self.b.get(s.start..s.end).unwrap_or_default();
        let slot = (key_hash(raw) as usize) % CACHE_SLOTS;
        if let Some(Some(hit)) = self.cache.get(slot) {
            if same_bytes(hit.as_bytes(), raw) {
                return Ok(Arc::clone(hit));
            }
        }
        let Ok(text) = std::str::from_utf8(raw) else {
            return broken(at, "invalid unicode code point");
        };
        let copy: Arc<str> = Arc::from(text);
        if let Some(entry) = self.cache.get_mut(slot) {
            *entry = Some(Arc::clone(&copy));
        }
        Ok(copy)
    }

    /// The text of a scanned string, escapes decoded (a lone surrogate becomes U+FFFD).
    pub(super) fn decode(&self, s: Str, at: usize) -> R<String> {
        let raw = self.b.get(s.start..s.end).unwrap_or_default();
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t,
            Err(_) => return broken(at, "invalid unicode code point"),
        };
        if !s.escaped {
            return Ok(text.to_string());
        }
        Ok(unescape(text))
    }
}

/// Decodes JSON escapes in already-validated string content.
pub(super) fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hi = hex4(&mut chars);
                let c = if (0xD800..0xDC00).contains(&hi) {
                    let mut look = chars.clone();
                    if look.next() == Some('\\') && look.next() == Some('u') {
                        let lo = hex4(&mut look);
                        if (0xDC00..0xE000).contains(&lo) {
                            chars = look;
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                        } else {
                            None
                        }
                    } else {
                        None
                    }
                } else {
                    char::from_u32(hi)
                };
                out.push(c.unwrap_or('\u{FFFD}'));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

pub(super) fn hex4(chars: &mut std::str::Chars<'_>) -> u32 {
    (0..4).fold(0, |acc, _| {
        acc * 16 + chars.next().and_then(|c| c.to_digit(16)).unwrap_or(0)
    })
}
