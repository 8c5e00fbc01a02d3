//! The size of selfheal's own trees under `logs/backups/`, for retention's size warning,
//! the predictions and the index.

use crate::error::Result;
use crate::fsx::{tree_size, Entry, Kind, Root};
use crate::paths::{RelPath, OWN_DIRS};

/// Total size in bytes of the regular files in selfheal's own subdirectories of
/// `logs/backups/` (journal, objects, torn tails), for the size warning; the bot's own
/// backups beside them are not counted.
///
/// # Errors
/// I/O errors listing or reading metadata.
pub fn backups_size(root: &Root) -> Result<u64> {
    own_size(root, &[])
}

/// Total size in bytes of the regular files in selfheal's own subdirectories of
/// `logs/backups/`, leaving out the subdirectories `skip`.
///
/// # Errors
/// I/O errors listing or reading metadata.
pub fn own_size(root: &Root, skip: &[&str]) -> Result<u64> {
    let mut total = 0u64;
    for dir in OWN_DIRS {
        let rel = RelPath::new(dir)?;
        if skip.contains(&dir) {
            continue;
        }
        if matches!(root.entry(&rel)?, Entry::Present(st) if st.kind == Kind::Dir) {
            total = total.saturating_add(tree_size(root, &rel, &[])?);
        }
    }
    Ok(total)
}
