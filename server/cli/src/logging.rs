//! Where logs go: stderr (stdout belongs to the protocol), or a file that rotates by size, as
//! plain lines or JSON objects (one per line, with the request's span and its fields), filtered by
//! `WISP_LOG`.
//!
//! - `WISP_LOG=info,wisp::completion=debug` adds one event per model run and per answer, with
//!   each stage's time and token counts, inside a `completion` span (URI, line, trigger).
//! - `WISP_LOG_FORMAT=json` writes JSON lines instead of plain text.
//! - `WISP_LOG_FILE=/path/wisp.log` writes there instead of stderr, moving it to `wisp.log.1`
//!   (and older ones up to `.3`) once it passes 10 MiB.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A log file passing this size is rotated.
pub const MAX_LOG_BYTES: u64 = 10 << 20;
/// Rotated files kept (`.1` the newest).
pub const KEPT_LOGS: usize = 3;

/// A size-rotated log file shared by every writer.
#[derive(Clone)]
pub struct RotatingFile {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    path: PathBuf,
    file: File,
    written: u64,
    max_bytes: u64,
}

impl RotatingFile {
    pub fn open(path: &Path, max_bytes: u64) -> std::io::Result<RotatingFile> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        Ok(RotatingFile {
            inner: Arc::new(Mutex::new(Inner { path: path.to_path_buf(), file, written, max_bytes })),
        })
    }
}

impl Inner {
    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |n: usize| {
            let mut name = self.path.as_os_str().to_owned();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        for n in (1..KEPT_LOGS).rev() {
            let _ = std::fs::rename(numbered(n), numbered(n + 1));
        }
        std::fs::rename(&self.path, numbered(1))?;
        self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.written > 0 && inner.written + bytes.len() as u64 > inner.max_bytes {
            // A failed rotation keeps writing to the current file rather than losing the line.
            let _ = inner.rotate();
        }
        inner.file.write_all(bytes)?;
        inner.written += bytes.len() as u64;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).file.flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RotatingFile {
    type Writer = RotatingFile;

    fn make_writer(&'a self) -> RotatingFile {
        self.clone()
    }
}

/// Sets up logging from `WISP_LOG`, `WISP_LOG_FORMAT` and `WISP_LOG_FILE`; `default` is the filter
/// without `WISP_LOG`. A log file that cannot be opened falls back to stderr, saying why there.
pub fn init(default: &str) {
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    let filter = tracing_subscriber::EnvFilter::try_from_env("WISP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let json = std::env::var("WISP_LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    let mut problem = None;
    let writer = match std::env::var_os("WISP_LOG_FILE").filter(|path| !path.is_empty()) {
        Some(path) => match RotatingFile::open(Path::new(&path), MAX_LOG_BYTES) {
            Ok(file) => BoxMakeWriter::new(file),
            Err(error) => {
                problem = Some(format!(
                    "cannot write the log file {} ({error}); logging to stderr — fix WISP_LOG_FILE",
                    Path::new(&path).display()
                ));
                BoxMakeWriter::new(std::io::stderr)
            }
        },
        None => BoxMakeWriter::new(std::io::stderr),
    };
    let builder = tracing_subscriber::fmt().with_writer(writer).with_env_filter(filter).with_ansi(false);
    if json {
        builder.json().with_current_span(true).with_span_list(false).init();
    } else {
        builder.init();
    }
    if let Some(problem) = problem {
        tracing::error!("{problem}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_log_moves_to_dot_one_and_older_ones_shift_up() {
        let dir = std::env::temp_dir().join(format!("wisp-log-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("wisp.log");
        let mut log = RotatingFile::open(&path, 10).unwrap();
        for line in ["first\n", "second\n", "third\n", "fourth\n", "fifth\n"] {
            log.write_all(line.as_bytes()).unwrap();
        }
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert_eq!(read("wisp.log"), "fifth\n");
        assert_eq!(read("wisp.log.1"), "fourth\n");
        assert_eq!(read("wisp.log.3"), "second\n");
        assert!(!dir.join("wisp.log.4").exists(), "only {KEPT_LOGS} rotated files are kept");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
