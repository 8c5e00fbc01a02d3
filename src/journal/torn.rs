//! Cutting a torn tail off the newest journal file (SPEC.md section 7): the bytes are saved
//! aside first, bounded — a one-line JSON header (`torn_from`, `offset`, `len`, `sha256` of
//! the whole tail, `saved`) followed by at most [`TORN_KEEP`] of its first bytes — so a
//! 2 GiB run of NULs after a power loss costs 64 KiB on disk and a streamed hash, never its
//! size in memory. Then the file is truncated to its last good record.

use super::{now_nanos, Journal};
use crate::error::Result;
use crate::fsx::{Flow, Piece, Root};
use crate::paths::RelPath;
use crate::paths::TORN_DIR;
use serde_json::json;
use sha2::{Digest as _, Sha256};

/// How many bytes of a torn tail are kept in its saved copy.
pub const TORN_KEEP: u64 = 64 << 10;

/// The first bytes of a tail, its length and its SHA-256.
struct Tail {
    kept: Vec<u8>,
    len: u64,
    sha: Sha256,
}

impl Tail {
    fn take(&mut self, piece: Piece<'_>) {
        match piece {
            Piece::Data(b) => {
                self.sha.update(b);
                self.keep(b);
                self.len += b.len() as u64;
            }
            Piece::Zeros(n) => {
                static ZEROS: [u8; 1 << 16] = [0; 1 << 16];
                let zeros = &ZEROS;
                let mut left = n;
                while left > 0 {
                    let k = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(0);
                    let chunk = zeros.get(..k).unwrap_or_default();
                    self.sha.update(chunk);
                    self.keep(chunk);
                    left -= k as u64;
                }
                self.len += n;
            }
        }
    }

    fn keep(&mut self, b: &[u8]) {
        let room = usize::try_from(TORN_KEEP)
            .unwrap_or(0)
            .saturating_sub(self.kept.len());
        self.kept
            .extend_from_slice(b.get(..room.min(b.len())).unwrap_or_default());
    }
}

impl Journal {
    /// Saves a torn tail under `logs/backups/torn/` (bounded, see the module) and cuts it
    /// from the journal file, so the file ends on its last good record again.
    ///
    /// # Errors
    /// I/O errors; the tail stays in place if saving it failed.
    pub fn repair_torn_tail(&mut self, root: &Root) -> Result<()> {
        let Some(torn) = self.torn.as_mut() else {
            return Ok(());
        };
        if torn.saved_to.is_some() {
            return Ok(());
        }
        let mut tail = Tail {
            kept: Vec::new(),
            len: 0,
            sha: Sha256::new(),
        };
        root.read_stream(&torn.file, torn.offset, &mut |p| {
            tail.take(p);
            Flow::More
        })
        .map_err(|e| root.explain_denied(e))?;
        let header = json!({
            "torn_from": torn.file.as_str(),
            "offset": torn.offset,
            "len": tail.len,
            "sha256": journal_format::Digest(tail.sha.finalize().into()).to_hex(),
            "saved": tail.kept.len(),
        });
        let mut bytes = header.to_string().into_bytes();
        bytes.push(b'\n');
        bytes.extend_from_slice(&tail.kept);
        let dir = RelPath::new(TORN_DIR)?;
        root.ensure_dir(&dir, 0o700)?;
        let name = format!("{}.{}.torn", torn.file.file_name(), now_nanos());
        let saved = dir.join(&name)?;
        let mut f = root.create_append(&saved, 0o600)?;
        f.append_sync(&bytes)?;
        root.sync_dir(&dir)?;
        root.truncate(&torn.file, torn.offset)?;
        torn.saved_to = Some(saved);
        Ok(())
    }
}
