//! What the cross-crate tests share: the `wisp` binary they drive, the repository they live in,
//! and the folder where `scripts/editor-deps` installs the real editors.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository's root folder.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the repository root")
}

/// The `wisp` binary of this checkout, built (once per test process) if it is missing or stale:
/// `cargo build --bin wisp` is a no-op when it is up to date. Cargo gives a test binary only its
/// own package's binaries, and `wisp` lives in `server/cli`.
pub fn wisp_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--bin", "wisp"])
            .current_dir(repo_root())
            .status()
            .expect("running cargo to build the wisp binary");
        assert!(status.success(), "cargo build --bin wisp failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target"));
        let binary = target.join("debug").join("wisp");
        assert!(binary.exists(), "{} is missing after cargo build", binary.display());
        binary
    })
}

/// Where `scripts/editor-deps` installs the editors and their drivers (code-server, Node 24,
/// puppeteer-core, Neovim): `$WISP_TOOLS_DIR`, else `~/.cache/wisp/tools`.
pub fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WISP_TOOLS_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".cache").join("wisp").join("tools")
}

/// A tool `scripts/editor-deps` installs; the test fails (never skips) when it is missing, saying
/// how to install it.
pub fn require_tool(path: &Path) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing — run ./scripts/editor-deps (./scripts/test runs it) to install the editors the tests drive",
        path.display()
    );
    path.to_path_buf()
}

/// A fresh, empty folder under the target directory for one test's files (workspace, data dir,
/// screenshots), kept after the test for inspection.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = repo_root().join("target").join("test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a scratch folder under target/");
    dir
}

pub mod client;
pub mod gguf_edit;
