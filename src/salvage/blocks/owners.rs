//! Which version owns each byte of an interleaved input: by block (blocks alternate), or
//! past the shorter version's visible end, the longer version.

use crate::salvage::evidence::BLOCK;

/// Which version owns the bytes of a block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Owners {
    /// Each version owns its own blocks (the versions' ends are not both visible).
    #[default]
    ByBlock,
    /// The shorter version (`short`) ends at `end`; past it the longer one owns all.
    Cut { short: usize, end: usize },
}

impl Owners {
    /// The version whose bytes are at `pos`.
    pub(crate) fn of(self, pos: usize) -> usize {
        let class = (pos / BLOCK) % 2;
        match self {
            Owners::Cut { short, end } if class == short && pos > end => 1 - short,
            _ => class,
        }
    }

    /// True if a header of `version` strictly between `a` and `b` may be unseen: some
    /// byte there is not owned by `version`, or the range crosses a block boundary
    /// (`lines` reads no line across one, even between two blocks of one version, as past
    /// the shorter version's end).
    pub(super) fn hidden_between(self, version: usize, a: usize, b: usize) -> bool {
        if b <= a + 1 {
            return false;
        }
        let (lo, hi) = (a + 1, b - 1);
        if lo / BLOCK != hi / BLOCK {
            return true;
        }
        match self {
            Owners::Cut { short, end } if version == short => {
                hi > end || other_block_in(version, lo, hi)
            }
            Owners::Cut { end, .. } => {
                lo <= hi.min(end) && other_block_in(version, lo, hi.min(end))
            }
            Owners::ByBlock => other_block_in(version, lo, hi),
        }
    }
}

/// True if `lo..=hi` touches a block of the other class (blocks alternate).
fn other_block_in(version: usize, lo: usize, hi: usize) -> bool {
    let (first, last) = (lo / BLOCK, hi / BLOCK);
    last > first || first % 2 != version
}
