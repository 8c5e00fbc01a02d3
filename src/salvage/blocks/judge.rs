//! The rule for one candidate record: the headers of the version owning its block prove
//! its array only when every placement of the hidden headers gives the same last one.

use super::owners::Owners;
use super::{PlacedRecord, Visible};
use crate::salvage::lex::Span;

/// Decides the array of one candidate record.
pub(super) struct Judge<'l> {
    pub(super) layouts: &'l [Visible; 2],
    pub(super) rank: &'l [usize],
    pub(super) owners: Owners,
    /// Where the last document ends.
    pub(super) end: usize,
}

impl Judge<'_> {
    pub(super) fn place(&self, span: Span) -> Option<PlacedRecord> {
        let version = self.owners.of(span.start);
        let array = match self.owners {
            Owners::Cut { .. } => self.only(version, span.start)?,
            Owners::ByBlock => {
                let mine = self.only(version, span.start)?;
                (self.only(1 - version, span.start)? == mine).then_some(mine)?
            }
        };
        Some(PlacedRecord {
            version,
            array,
            span,
        })
    }

    /// Where `version`'s document ends.
    pub(super) fn end_of(&self, version: usize) -> usize {
        match self.owners {
            Owners::Cut { short, end } if short == version => end,
            _ => self.end,
        }
    }

    /// The array of a record at `s` in `version`, if its headers prove one.
    pub(super) fn only(&self, version: usize, s: usize) -> Option<usize> {
        let layout = self.layouts.get(version)?;
        if !layout.valid {
            return None;
        }
        let mut visible: Vec<(usize, usize)> = layout
            .headers
            .iter()
            .map(|(a, k)| (self.rank.get(*a).copied().unwrap_or(usize::MAX), k.start))
            .collect();
        visible.sort_by_key(|&(_, p)| p);
        if visible
            .windows(2)
            .any(|w| matches!(w, [x, y] if x.0 >= y.0))
        {
            return None;
        }
        let before = visible.iter().rev().find(|(_, p)| *p < s).copied();
        let after = visible.iter().find(|(_, p)| *p > s).copied();
        let upper = after.map_or(self.rank.len(), |(r, _)| r);
        let hidden_from = before.map_or(0, |(r, _)| r + 1);
        let gap_before = self
            .owners
            .hidden_between(version, before.map_or(0, |(_, p)| p), s);
        let gap_after =
            self.owners
                .hidden_between(version, s, after.map_or(self.end_of(version), |(_, p)| p));
        let mut ranks = Vec::new();
        if let Some((r, _)) = before {
            if hidden_from >= upper || gap_after {
                ranks.push(r);
            }
        }
        if gap_before {
            ranks.extend((hidden_from..upper).filter(|r| r + 1 == upper || gap_after));
        }
        match ranks.as_slice() {
            [r] => self.rank.iter().position(|x| x == r),
            _ => None,
        }
    }
}
