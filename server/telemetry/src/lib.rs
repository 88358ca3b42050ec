//! Suggestion feedback, recorded locally: typed events, the SQLite store, statistics, dataset
//! export and experiment assignment.
//!
//! - [`event`]: what is recorded — a [`Completion`] per suggestion, [`Event`]s for its fate.
//! - [`store`]: the database (WAL, versioned schema in [`schema`], retention bounds); content is
//!   redacted on the way in.
//! - [`recorder`]: a writer thread, so recording never waits on the disk.
//! - [`stats`], [`dataset`]: what `wisp stats` and `wisp dataset export` compute.
//! - [`experiment`]: deterministic assignment of completions to variants.
//! - [`survival`]: how much of an accepted suggestion is still in the document.
//! - [`keys`]: the installation key behind the keyed hashes.
//!
//! Nothing here sends anything anywhere: the database is a local file, and the only way out is
//! an export the user runs.

#![deny(clippy::print_stdout)]

pub mod dataset;
pub mod event;
pub mod experiment;
pub mod keys;
pub mod recorder;
pub mod report;
pub mod schema;
pub mod stats;
pub mod store;
pub mod survival;

use std::path::PathBuf;

pub use event::{Completion, Content, DismissReason, Event, EventKind, Latency, Source, Trigger};
pub use recorder::Recorder;
pub use store::{CompletionOutcome, Record, Retention, Store, StoreError};

/// File name of the database in the data directory.
pub const DATABASE_FILE_NAME: &str = "feedback.sqlite3";
/// File name of the installation key in the data directory.
pub const KEY_FILE_NAME: &str = "feedback.key";

/// Where Wisp keeps its data: `$WISP_DATA_DIR`, else the platform's data directory + `wisp`
/// (`~/.local/share/wisp` on Linux).
pub fn data_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WISP_DATA_DIR").filter(|dir| !dir.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    dirs::data_dir().map(|dir| dir.join("wisp"))
}

/// Opens the database at `database` with the key next to it (created if needed).
pub fn open(database: &std::path::Path) -> Result<(Store, [u8; keys::KEY_BYTES]), String> {
    let key_path = database.with_file_name(KEY_FILE_NAME);
    let key = keys::load_or_create(&key_path)
        .map_err(|error| format!("cannot read the feedback key at {}: {error}", key_path.display()))?;
    let store = Store::open(database, wisp_guard::Redactor::new(key)).map_err(|error| error.to_string())?;
    Ok((store, key))
}
