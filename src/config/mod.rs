//! The state layout: the embedded default (the reference bot's layout, README
//! "Configuration") and its override from `config/selfheal.json` (or `--config FILE`).
//! Every item can be overridden; an unknown key, a wrong type or an impossible value is an
//! [`Error::Config`](crate::error::Error::Config) naming the file and the key, never
//! silently ignored. A section given in the file replaces that whole section's default item
//! by item (missing items keep their default).
//!
//! `schema` holds the configuration's types as the file spells them and `defaults` their
//! embedded values; `parse` reads the file (bounded, never blocking) and the unit syntax
//! of modes, durations and sizes; `layout` holds the checked [`Layout`] every command works
//! from, which `rules` builds and `claims` completes with the paths selfheal itself
//! owns.

mod claims;
mod defaults;
mod layout;
mod parse;
mod rules;
mod schema;

pub use layout::{inside_root, File, Layout};
pub use parse::{parse_duration, parse_permissions, parse_size, MAX_CONFIG_SIZE};
pub use schema::{Config, Detectors, DirSpec, FileRole, ManagedFile, Positions, Severity, Slots};

/// Where the config file is looked for when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "config/selfheal.json";
