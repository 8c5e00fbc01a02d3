//! Objects and their keys: every object is checked for a key that occurs twice (compared
//! as written), and an object repeating the previous object's keys at the same depth, in
//! order, is known duplicate-free after one comparison per key.

use super::words::{key_hash, same_bytes};
use super::{unusable, Key, Scanner, Str, MAX_DEPTH, R};

/// The keys of the object being scanned at one depth, and those of the last object at that
/// depth that had no duplicate. State files repeat one schema record after record, so an
/// object whose keys equal the previous one's, in order, is known duplicate-free after one
/// comparison per key; any other object is checked by sorting hashes of its keys.
#[derive(Default)]
pub(super) struct KeySet {
    keys: Vec<Str>,
    prev: Vec<Str>,
    same: bool,
}

impl KeySet {
    fn start(&mut self) {
        self.keys.clear();
        self.same = true;
    }

    /// Adds a key; returns whether every key so far equals the previous object's.
    fn push(&mut self, b: &[u8], key: Str) -> bool {
        if self.same {
            let i = self.keys.len();
            self.same = self.prev.get(i).is_some_and(|p| {
                same_bytes(
                    b.get(p.start..p.end).unwrap_or_default(),
                    b.get(key.start..key.end).unwrap_or_default(),
                )
            });
        }
        self.keys.push(key);
        self.same
    }

    /// The previous object's key at the index of the next key, while the keys so far are
    /// the same.
    #[inline]
    fn expected(&self) -> Option<Str> {
        if !self.same {
            return None;
        }
        self.prev.get(self.keys.len()).copied()
    }

    /// At the end of the object: the start of a key that occurs twice, if any.
    fn finish(&mut self, b: &[u8]) -> Option<usize> {
        if self.same && self.keys.len() == self.prev.len() {
            return None;
        }
        let mut hashed: Vec<(u64, usize, usize)> = self
            .keys
            .iter()
            .map(|k| {
                (
                    key_hash(b.get(k.start..k.end).unwrap_or_default()),
                    k.start,
                    k.end,
                )
            })
            .collect();
        hashed.sort_unstable_by_key(|k| k.0);
        let dup = hashed.windows(2).find_map(|w| match w {
            [(h1, s1, e1), (h2, s2, e2)] if h1 == h2 && b.get(*s1..*e1) == b.get(*s2..*e2) => {
                Some(*s2)
            }
            _ => None,
        });
        if dup.is_none() {
            std::mem::swap(&mut self.keys, &mut self.prev);
        }
        dup
    }
}

impl Scanner<'_> {
    /// Scans an object at `depth` (the cursor on `{`), checking keys for duplicates and
    /// calling `member` with each key, the cursor after its `:`.
    pub(super) fn object(
        &mut self,
        depth: usize,
        mut member: impl FnMut(&mut Self, Key) -> R<()>,
    ) -> R<()> {
        if depth >= MAX_DEPTH {
            return unusable(self.i, "recursion limit exceeded");
        }
        self.i += 1;
        if self.keys.len() <= depth {
            self.keys.resize_with(depth + 1, KeySet::default);
        }
        if let Some(k) = self.keys.get_mut(depth) {
            k.start();
        }
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        let mut index = 0;
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return self.unexpected("a key");
            }
            let at = self.i;
            let (key, same) = match self.repeated_key(depth) {
                Some(key) => (key, true),
                None => {
                    let key = self.string()?;
                    (key, self.note_key(depth, key))
                }
            };
            self.eat(b':', "`:`")?;
            member(
                self,
                Key {
                    s: key,
                    at,
                    index,
                    same,
                },
            )?;
            index += 1;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return self.check_duplicates(depth);
                }
                _ => return self.unexpected("`,` or `}`"),
            }
        }
    }

    /// Records a key of the object at `depth`; returns whether the object's keys so far
    /// equal those of the previous object at that depth.
    pub(super) fn note_key(&mut self, depth: usize, key: Str) -> bool {
        let b = self.b;
        self.keys
            .get_mut(depth)
            .is_some_and(|seen| seen.push(b, key))
    }

    /// The key at the cursor (on its `"`) when it is, byte for byte and with its closing
    /// quote, the previous object's key at this index while the keys so far were the same:
    /// those bytes were validated when first scanned, so it is taken (and noted) without
    /// another scan. `None`: scan it.
    #[inline]
    pub(super) fn repeated_key(&mut self, depth: usize) -> Option<Str> {
        let b = self.b;
        let set = self.keys.get_mut(depth)?;
        let prev = set.expected()?;
        let start = self.i + 1;
        let end = start + (prev.end - prev.start);
        if b.get(end) != Some(&b'"')
            || !same_bytes(b.get(start..end)?, b.get(prev.start..prev.end)?)
        {
            return None;
        }
        let key = Str {
            start,
            end,
            escaped: prev.escaped,
        };
        set.keys.push(key);
        self.i = end + 1;
        Some(key)
    }

    /// Refuses the object at `depth` (just closed) if a key occurs twice in it.
    pub(super) fn check_duplicates(&mut self, depth: usize) -> R<()> {
        let b = self.b;
        let Some(seen) = self.keys.get_mut(depth) else {
            return Ok(());
        };
        match seen.finish(b) {
            None => Ok(()),
            Some(start) => {
                let end = seen
                    .keys
                    .iter()
                    .find(|k| k.start == start)
                    .map_or(start, |k| k.end);
                let raw = b.get(start..end).unwrap_or_default();
                unusable(
                    start,
                    format!("duplicate key {:?}", String::from_utf8_lossy(raw)),
                )
            }
        }
    }
}
