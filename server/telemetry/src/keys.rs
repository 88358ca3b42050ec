//! The installation's secret key: it keys the hashes that stand in for file paths and for
//! personal data found in content, so the same value maps to the same token on this machine
//! and cannot be looked up elsewhere.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

/// Bytes of key.
pub const KEY_BYTES: usize = 32;

/// Reads the key at `path`, creating it (random, readable by the owner only) if missing.
pub fn load_or_create(path: &Path) -> std::io::Result<[u8; KEY_BYTES]> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() == KEY_BYTES => {
            let mut key = [0u8; KEY_BYTES];
            key.copy_from_slice(&bytes);
            return Ok(key);
        }
        Ok(bytes) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} holds {} bytes, not a {KEY_BYTES}-byte key — delete it and Wisp makes a new one (hashed paths and personal data then map to new tokens)",
                    path.display(),
                    bytes.len()
                ),
            ))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    let mut key = [0u8; KEY_BYTES];
    getrandom::fill(&mut key).map_err(|error| std::io::Error::other(error.to_string()))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(&key)?;
            file.sync_all()?;
            Ok(key)
        }
        // Another process made it first: use theirs.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(path),
        Err(error) => Err(error),
    }
}

/// Keyed hash of a workspace-relative file path, hex (16 characters are plenty to tell files
/// apart).
pub fn file_key(key: &[u8; KEY_BYTES], relative_path: &str) -> String {
    let digest =
        Sha256::new().chain_update(key).chain_update(b"path\0").chain_update(relative_path).finalize();
    digest[..8].iter().map(|byte| format!("{byte:02x}")).collect()
}
