//! selfheal's small state files beside the journal (`logs/backups/meta/`): each is one
//! line framed like a journal record, `<compact JSON>\t<tag>\n`, the tag computed with the
//! journal's own algorithm (SHA-256, or HMAC-SHA256 under the journal key), and replaced
//! atomically (temp, fsync, rename, fsync directory). A file whose tag fails is damaged,
//! never half-read.

use crate::error::Result;
use crate::fsx::{Attrs, Read_, Replace, Root};
use crate::paths::RelPath;
use journal_format::Mac;

/// The largest such file read; anything larger is damaged.
const MAX_META_BYTES: u64 = 4 << 20;

/// What reading one of them found.
#[derive(Debug)]
pub(crate) enum Framed {
    /// No such file.
    Absent,
    /// Its body, verified.
    Body(Vec<u8>),
    /// Damaged, and why.
    Damaged(String),
}

/// Reads and verifies the framed file `rel`.
///
/// # Errors
/// I/O errors other than absence.
pub(crate) fn read(root: &Root, rel: &RelPath, mac: &Mac) -> Result<Framed> {
    let bytes = match root
        .read(rel, MAX_META_BYTES)
        .map_err(|e| root.explain_denied(e))?
    {
        Read_::Absent => return Ok(Framed::Absent),
        Read_::File(b, _) => b,
        Read_::TooLarge(n) => return Ok(Framed::Damaged(format!("{n} bytes, too large"))),
        _ => return Ok(Framed::Damaged("not a regular file".into())),
    };
    let Some(line) = bytes.strip_suffix(b"\n") else {
        return Ok(Framed::Damaged("cut short (no final newline)".into()));
    };
    Ok(match journal_format::unframe(line, mac) {
        Ok((body, _)) => Framed::Body(body.to_vec()),
        Err(_) => Framed::Damaged("its tag does not match its content".into()),
    })
}

/// Replaces the framed file `rel` with `body`, durably.
///
/// # Errors
/// I/O errors naming the file.
pub(crate) fn write(root: &Root, rel: &RelPath, mac: &Mac, body: &[u8]) -> Result<()> {
    let dir = RelPath::new(crate::paths::META_DIR)?;
    root.ensure_dir(&dir, 0o700)?;
    let mut line = body.to_vec();
    line.push(b'\t');
    line.extend_from_slice(mac.tag(body).to_hex().as_bytes());
    line.push(b'\n');
    let attrs = Attrs {
        mode: 0o600,
        owner: None,
        mtime: None,
        xattrs: None,
    };
    let tmp = format!("{}{}", crate::fsx::TMP_PREFIX, rel.file_name());
    let replace = match root.entry(rel)? {
        crate::fsx::Entry::Absent => Replace::NoClobber,
        _ => Replace::Existing,
    };
    root.write_atomic(rel, &line, &attrs, &tmp, replace)
        .map_err(|e| root.explain_denied(e))
}
