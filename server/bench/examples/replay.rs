//! Runs the replay benchmark without the `wisp` CLI:
//! `cargo run --release --example replay -- WISP REPO MODEL [LLAMA_SERVER] [MAX_KEYSTROKES] [THREADS] [SEED]`.

use std::path::PathBuf;

use anyhow::Context;
use wisp_bench::ReplayOptions;

/// Keystrokes replayed when none are given: about a minute of typing per run.
const DEFAULT_MAX_KEYSTROKES: usize = 300;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [wisp, repo, model, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: replay WISP REPO MODEL [LLAMA_SERVER|-] [MAX_KEYSTROKES] [THREADS] [SEED]");
    };
    let number = |index: usize, default: usize| -> anyhow::Result<usize> {
        rest.get(index)
            .map_or(Ok(default), |text| text.parse().with_context(|| format!("not a number: {text}")))
    };
    let options = ReplayOptions {
        wisp_binary: PathBuf::from(wisp),
        repo: PathBuf::from(repo),
        model_path: PathBuf::from(model),
        llama_server: rest.first().filter(|path| path.as_str() != "-").map(PathBuf::from),
        before: None,
        remote_url: None,
        log_suffix: String::new(),
        max_keystrokes: number(1, DEFAULT_MAX_KEYSTROKES)?,
        threads: number(2, std::thread::available_parallelism().map_or(1, usize::from))?,
        seed: number(3, 1)? as u64,
        extensions: ["rs", "py", "ts", "js", "go"].map(String::from).to_vec(),
        session_grace: None,
    };
    wisp_bench::run(&options, &mut std::io::stderr())?;
    Ok(())
}
