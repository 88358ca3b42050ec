//! Wisp in the real Emacs through eglot: runs `tests/editors/emacs/test.el` in `emacs --batch`,
//! which loads the recipe `editors/emacs/wisp-eglot.el` with this checkout's binary, lets eglot
//! start Wisp for a Rust buffer, and checks that `completion-at-point` inserts exactly the text of
//! the completion item the real model produced. `tests/editors/emacs/install` installs Emacs and
//! eglot (Debian's `emacs-nox` and `elpa-eglot`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Emacs starts in well under a second; the rest is the model loading and one suggestion on a
/// busy 2-core machine.
const TIMEOUT: Duration = Duration::from_secs(240);

/// The Emacs the install script puts on PATH (apt's `emacs-nox`).
fn emacs() -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("emacs"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from("/usr/bin/emacs"));
    wisp_tests::require_tool(&found)
}

/// Reads a pipe to its end on a thread, so a chatty child never blocks on a full pipe.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

#[test]
fn eglot_inserts_wisps_completion() {
    let started = Instant::now();
    let emacs = emacs();
    let eglot = Path::new("/usr/share/emacs/site-lisp/elpa");
    assert!(
        std::fs::read_dir(eglot).is_ok_and(|mut entries| entries.any(|entry| {
            entry.is_ok_and(|entry| entry.file_name().to_string_lossy().starts_with("eglot-"))
        })),
        "eglot is missing under {} — run ./scripts/editor-deps (tests/editors/emacs/install)",
        eglot.display()
    );
    let binary = wisp_tests::wisp_binary();
    let root = wisp_tests::repo_root();
    let scratch = wisp_tests::scratch_dir("emacs");
    let workspace = scratch.join("workspace");
    let data = scratch.join("data");
    let result = scratch.join("result.json");
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::create_dir_all(&data).unwrap();

    let mut child = Command::new(&emacs)
        .args(["--batch", "-Q", "-l"])
        .arg(root.join("tests/editors/emacs/test.el"))
        .env("WISP_PROGRAM", binary)
        .env("WISP_RECIPE", root.join("editors/emacs/wisp-eglot.el"))
        .env("WISP_WORKSPACE", &workspace)
        .env("WISP_RESULT", &result)
        .env("WISP_DATA_DIR", &data)
        .current_dir(&workspace)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting emacs");
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = stdout.join().unwrap();
    let stderr = stderr.join().unwrap();
    let transcript = format!("---- emacs stdout ----\n{stdout}\n---- emacs stderr ----\n{stderr}");
    let status = status.unwrap_or_else(|| panic!("emacs did not finish in {TIMEOUT:?}\n{transcript}"));
    assert!(status.success(), "the Emacs test failed ({status})\n{transcript}");

    let outcome: Value = serde_json::from_str(&std::fs::read_to_string(&result).unwrap_or_default())
        .unwrap_or_else(|why| panic!("no result from the Emacs test ({why})\n{transcript}"));
    let inserted = outcome["newText"].as_str().unwrap_or_default();
    assert!(!inserted.trim().is_empty(), "Emacs inserted no suggestion: {outcome}\n{transcript}");
    println!("{stdout}");
    println!("emacs test: {:?} in all, outcome {outcome}", started.elapsed());
}
