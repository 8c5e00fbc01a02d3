//! `config`: the effective configuration of a root (its file, or the embedded default),
//! loaded and checked as every command loads it.

use crate::config::Layout;
use crate::error::Result;
use crate::run::Options;

/// Runs `config`.
///
/// # Errors
/// [`crate::Error::Config`] for a configuration that does not load or check; I/O errors.
pub fn config(opts: &Options) -> Result<Layout> {
    Layout::load(&opts.root, opts.config.as_deref())
}
