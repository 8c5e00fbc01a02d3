//! The salvaged document as it is emitted: a sequence of pieces, each either a byte range
//! of the input or bytes the salvage wrote itself (the skeleton and restored defaults).
//! Nothing is copied out of the input: a reader walks the pieces ([`Output::chunks`]) and
//! writes or hashes them as they come, so a salvage costs memory in proportion to what it
//! writes itself and to the number of pieces, never to the size of the input.
//!
//! Invariant: adjacent pieces never continue each other (an input range is extended
//! instead, and so is the last own piece), and bytes the salvage writes right where the
//! same bytes follow in the input extend the input range: the output of a file cut short
//! is one input range and a few bytes of its own, however many records it keeps.

use std::io::Write;

use super::lex::Span;

/// Where one piece of the output comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    /// Bytes `start..end` of the input.
    Input { start: usize, end: usize },
    /// Bytes `start..end` of the output's own text.
    Own { start: usize, end: usize },
}

/// A salvaged document: pieces of the input and of its own text, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    pieces: Vec<Piece>,
    own: Vec<u8>,
    len: usize,
}

impl Output {
    /// The whole input, unchanged.
    pub(crate) fn whole(input_len: usize) -> Self {
        let mut out = Output::default();
        out.copy(Span::new(0, input_len));
        out
    }

    /// Length of the document in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the document is empty (never the case for a salvage's output).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many pieces the document is made of.
    pub fn piece_count(&self) -> usize {
        self.pieces.len()
    }

    /// How many bytes the document shares with the start of the input: the length of its
    /// first piece when that is the input's first bytes.
    pub fn leading_input(&self) -> Option<usize> {
        match self.pieces.first() {
            Some(Piece::Input { start: 0, end }) => Some(*end),
            _ => None,
        }
    }

    /// The document's bytes in order, as slices of `input` (the bytes salvaged) and of
    /// the output's own text. `input` must be the salvaged bytes.
    pub fn chunks<'a>(&'a self, input: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.pieces.iter().map(move |p| match *p {
            Piece::Input { start, end } => input.get(start..end).unwrap_or_default(),
            Piece::Own { start, end } => self.own.get(start..end).unwrap_or_default(),
        })
    }

    /// Writes the document to `w` piece by piece.
    ///
    /// # Errors
    /// The writer's errors.
    pub fn write_to(&self, input: &[u8], w: &mut dyn Write) -> std::io::Result<()> {
        for chunk in self.chunks(input) {
            w.write_all(chunk)?;
        }
        Ok(())
    }

    /// The document as one buffer.
    pub fn to_vec(&self, input: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len);
        for chunk in self.chunks(input) {
            v.extend_from_slice(chunk);
        }
        v
    }

    /// Appends the input's bytes `span`, extending the last piece when it ends there.
    pub(crate) fn copy(&mut self, span: Span) {
        if span.len() == 0 {
            return;
        }
        match self.pieces.last_mut() {
            Some(Piece::Input { end, .. }) if *end == span.start => *end = span.end,
            _ => self.pieces.push(Piece::Input {
                start: span.start,
                end: span.end,
            }),
        }
        self.len += span.len();
    }

    /// Appends bytes of the output's own: taken from the input instead when the input
    /// holds these very bytes right after the last piece (or at its start, first).
    pub(crate) fn write(&mut self, input: &[u8], bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let next_in_input = match self.pieces.last() {
            None => Some(0),
            Some(Piece::Input { end, .. }) => Some(*end),
            Some(Piece::Own { .. }) => None,
        };
        if let Some(at) = next_in_input {
            // short texts (separators) compared inline, not through memcmp
            let here = input.get(at..at + bytes.len());
            if here.is_some_and(|h| h.iter().zip(bytes).all(|(a, b)| a == b)) {
                self.copy(Span::new(at, at + bytes.len()));
                return;
            }
        }
        let start = self.own.len();
        self.own.extend_from_slice(bytes);
        match self.pieces.last_mut() {
            Some(Piece::Own { end, .. }) if *end == start => *end = self.own.len(),
            _ => self.pieces.push(Piece::Own {
                start,
                end: self.own.len(),
            }),
        }
        self.len += bytes.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_merge_where_the_input_continues() {
        let input = b"{\"a\": [1, 2, 3";
        let mut out = Output::default();
        out.write(input, b"{");
        out.copy(Span::new(1, 8));
        out.write(input, b", ");
        out.copy(Span::new(10, 11));
        out.write(input, b"]}");
        assert_eq!(out.to_vec(input), b"{\"a\": [1, 2]}");
        assert_eq!(out.piece_count(), 2);
        assert_eq!(out.len(), 13);
        let mut written = Vec::new();
        assert!(out.write_to(input, &mut written).is_ok());
        assert_eq!(written, out.to_vec(input));
        let mut gap = Output::default();
        gap.copy(Span::new(7, 8));
        gap.write(input, b",");
        gap.copy(Span::new(13, 14));
        assert_eq!(gap.to_vec(input), b"1,3");
        assert_eq!(gap.piece_count(), 2);
    }

    #[test]
    fn whole_input() {
        let input = b"{}";
        let out = Output::whole(input.len());
        assert_eq!(out.to_vec(input), input);
        assert_eq!(Output::whole(0).to_vec(b""), b"");
        assert!(Output::whole(0).is_empty());
    }
}
