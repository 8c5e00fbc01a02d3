//! What a plan needs on disk before it may start: the backup objects of what it replaces or
//! removes, the new content (written beside the old, so both exist until the rename), the
//! directories it creates, and the journal records it appends, each rounded up to whole
//! blocks of the filesystem. An estimate that errs high by a few blocks, never a fixed slack:
//! a plan that fits a small filesystem (a tmpfs of a few hundred KiB) is not refused, and
//! one that cannot fit is refused before anything is written.

use crate::plan::{Effect, Op};

/// Journal bytes of a transaction besides its operations: header, begin, commit summary.
const JOURNAL_BASE: u64 = 8 << 10;
/// Journal bytes per operation: its plan entry, intent and done, the commit summary's line.
const JOURNAL_PER_OP: u64 = 2 << 10;
/// Directory blocks that may grow to hold new names (the journal's, the objects', a
/// target's directory).
const DIRECTORY_GROWTH: u64 = 3;

/// Bytes `ops` need free on a filesystem of `block`-byte blocks.
pub fn needed(ops: &[Op], block: u64) -> u64 {
    let block = block.max(512);
    let blocks = |bytes: u64| bytes.div_ceil(block).max(1).saturating_mul(block);
    let mut need = 0u64;
    let mut journal = JOURNAL_BASE;
    for op in ops {
        let text = op.path.as_ref().map_or(0, |p| p.as_str().len()) + op.reason.len();
        journal = journal.saturating_add(JOURNAL_PER_OP + 3 * text as u64);
        if let Some(old) = op.backup() {
            // An object and, at worst, a new fan-out directory for it.
            need = need.saturating_add(blocks(compressed_bound(old.len() as u64)) + block);
        }
        need = need.saturating_add(match &op.action {
            Effect::WriteFile { bytes, .. } => blocks(bytes.len() as u64),
            Effect::CreateDir { .. } => block,
            _ => 0,
        });
    }
    need.saturating_add(blocks(journal))
        .saturating_add(DIRECTORY_GROWTH * block)
}

/// The most a zstd frame of `len` bytes can take (zstd's own `ZSTD_COMPRESSBOUND`, plus the
/// frame header and checksum).
fn compressed_bound(len: u64) -> u64 {
    let small = if len < (128 << 10) {
        ((128 << 10) - len) >> 11
    } else {
        0
    };
    len + (len >> 8) + small + 32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::RelPath;
    use crate::plan::Observed;

    fn dir(path: &str) -> Op {
        Op {
            heal: crate::plan::HealKind::MissingDirectory,
            path: RelPath::new(path).ok(),
            reason: "directory is missing".into(),
            message: String::new(),
            action: Effect::CreateDir { mode: 0o755 },
            before: Observed::absent(),
        }
    }

    #[test]
    fn a_few_directories_need_a_few_blocks_not_a_mebibyte() {
        let ops: Vec<Op> = ["logs", "data", "state", "state/heartbeats"]
            .into_iter()
            .map(dir)
            .collect();
        let need = needed(&ops, 4096);
        assert!(need >= 4 * 4096, "{need}");
        assert!(need < 64 << 10, "{need}");
        assert_eq!(needed(&[], 4096), (2 + 3) * 4096);
    }

    #[test]
    fn the_zstd_bound_covers_incompressible_bytes() {
        for len in [0u64, 1, 4096, 128 << 10, 10 << 20] {
            let bytes: Vec<u8> = (0..len)
                .map(|i| ((i * 2_654_435_761) >> 13) as u8)
                .collect();
            let z = zstd::encode_all(bytes.as_slice(), 3).unwrap_or_default();
            assert!(
                (z.len() as u64) <= compressed_bound(len),
                "{len}: {}",
                z.len()
            );
        }
    }
}
