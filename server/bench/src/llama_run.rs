//! The same sessions against llama.cpp's `llama-server`, with the same prompts: a second wisp
//! process follows the edits and answers `wisp/debugPrompt` (no model run), and the prompt goes to
//! `POST /completion`. Like an editor with a latest-wins policy, each keystroke's request gets its
//! own connection, and the previous one still in flight is abandoned (its stream shut down, which
//! llama-server notices and stops the task).

use std::fs::File;
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::history::Session;
use crate::http::{self, HttpResponse};
use crate::lsp::file_uri;
use crate::process::{ChildGuard, RssSampler};
use crate::stats::{ratio, KeystrokeRecord, RunStats};
use crate::wisp_run::{self, WispMode};
use crate::ReplayOptions;

/// Seconds for `GET /health` to answer 200 (the model loaded).
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(120);
/// How often `/health` is asked while waiting.
const HEALTH_POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Context window (tokens): Wisp's default `model.n_ctx`.
pub const CONTEXT_TOKENS: usize = 4096;
/// `--cache-reuse` chunk size (tokens): llama-server reuses cached KV chunks at least this long
/// after the common prefix, its closest match to Wisp's prefix reuse.
pub const CACHE_REUSE_TOKENS: usize = 256;
/// Tokens generated per request: Wisp's default `completion.max_tokens`.
pub const N_PREDICT: usize = 64;
/// Seconds a completion may take before the benchmark gives up on the connection.
pub const COMPLETION_TIMEOUT: Duration = Duration::from_secs(120);
/// Seconds for the oracle's `wisp/debugPrompt` (tokenizing only).
pub const ORACLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Seconds for small requests (`/health`, `/metrics`).
const SMALL_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The answer of `wisp/debugPrompt`.
#[derive(Debug, Deserialize)]
struct DebugPrompt {
    prompt: String,
    format: String,
}

/// The parts of llama-server's `/completion` answer the benchmark reads.
#[derive(Debug, Deserialize)]
struct Completion {
    #[serde(default)]
    content: String,
    timings: Option<Timings>,
}

#[derive(Debug, Deserialize)]
struct Timings {
    prompt_n: Option<u64>,
}

/// The `/completion` body for a prompt; `mid_line` stops at the end of the line (as Wisp does
/// when there is code around the cursor), otherwise at a blank line.
pub fn completion_body(prompt: &str, mid_line: bool) -> Value {
    let stop = if mid_line { json!(["\n"]) } else { json!(["\n\n"]) };
    json!({
        "prompt": prompt,
        "n_predict": N_PREDICT,
        "temperature": 0,
        "top_k": 1,
        "cache_prompt": true,
        "stop": stop,
        "stream": false,
    })
}

/// `llamacpp:prompt_tokens_total` of llama-server's Prometheus `/metrics`: every prompt token
/// evaluated, abandoned requests included.
pub fn prompt_tokens_total(metrics: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix("llamacpp:prompt_tokens_total "))
        .and_then(|value| value.trim().parse().ok())
}

fn wait_healthy(server: &mut ChildGuard, port: u16, log_path: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + HEALTH_TIMEOUT;
    loop {
        if let Some(status) = server.try_exited()? {
            bail!("llama-server exited ({status}) before it was ready; see its log {}", log_path.display());
        }
        if let Ok(response) = http::fetch(port, "GET", "/health", None, SMALL_REQUEST_TIMEOUT) {
            if response.status == 200 {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            bail!(
                "timed out after {} s waiting for llama-server's GET /health to answer 200; see its log {}",
                HEALTH_TIMEOUT.as_secs(),
                log_path.display()
            );
        }
        thread::sleep(HEALTH_POLL_INTERVAL);
    }
}

/// Starts llama-server on a free loopback port with `model`, `threads`, `context` cells shared by
/// `slots` slots and `extra` arguments, logging to `log_path`, and waits until it is healthy.
pub fn start_server(
    binary: &Path,
    model: &Path,
    threads: usize,
    context: usize,
    slots: usize,
    extra: &[&str],
    log_path: &Path,
) -> anyhow::Result<(ChildGuard, u16)> {
    let port = http::free_loopback_port()?;
    let log = File::create(log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let child = Command::new(binary)
        .arg("-m")
        .arg(model)
        .args(["-t", &threads.to_string()])
        .args(["-c", &context.to_string()])
        .args(["-np", &slots.to_string()])
        .args(["--port", &port.to_string(), "--host", "127.0.0.1"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(log.try_clone().context("duplicating the log file handle")?)
        .stderr(log)
        .spawn()
        .with_context(|| {
            format!("starting {} — build it with scripts/build-llama-cpp-tools", binary.display())
        })?;
    let mut server = ChildGuard::new(child);
    wait_healthy(&mut server, port, log_path)?;
    Ok((server, port))
}

/// Replays `sessions` against llama-server; `notes` collects caveats for the report.
pub fn replay(
    options: &ReplayOptions,
    llama_server: &Path,
    repo: &Path,
    sessions: &[Session],
    work_dir: &Path,
    notes: &mut Vec<String>,
) -> anyhow::Result<RunStats> {
    let started = Instant::now();
    let cache_reuse = CACHE_REUSE_TOKENS.to_string();
    let (mut server, port) = start_server(
        llama_server,
        &options.model_path,
        options.threads,
        CONTEXT_TOKENS,
        1,
        &["--cache-reuse", &cache_reuse, "--metrics"],
        &work_dir.join("llama-server.log"),
    )?;
    let startup = started.elapsed();

    let init = wisp_run::initialization_options(options, WispMode::Default, false)?;
    let oracle_log = work_dir.join("wisp-prompt-oracle.log");
    let oracle = wisp_run::start(&options.wisp_binary, repo, init, "wisp (prompt oracle)", oracle_log)?;
    if !oracle.error_messages.is_empty() {
        bail!("the wisp prompt oracle refused its configuration: {}", oracle.error_messages.join("; "));
    }
    let mut oracle = oracle.server;

    let sampler = RssSampler::start(server.id());
    let (results_sender, results) = mpsc::channel::<(usize, Instant, anyhow::Result<HttpResponse>)>();
    let replay_started = Instant::now();
    let mut records: Vec<KeystrokeRecord> = Vec::new();
    let mut abandoned: Vec<bool> = Vec::new();
    for session in sessions {
        let uri = file_uri(&repo.join(&session.path))?;
        wisp_run::open(&mut oracle, &uri, session)?;
        let mut version = 1;
        let mut in_flight: Option<(usize, TcpStream)> = None;
        let mut workers = Vec::new();
        let mut due = Instant::now();
        for step in &session.steps {
            due += step.delay;
            thread::sleep(due.saturating_duration_since(Instant::now()));
            version += 1;
            wisp_run::change(&mut oracle, &uri, version, step)?;
            if !step.keystroke {
                continue;
            }
            let (id, _) = oracle.request("wisp/debugPrompt", wisp_run::position_params(&uri, step, false))?;
            let answer = oracle.wait_response(id, ORACLE_TIMEOUT, "a wisp/debugPrompt answer")?;
            let prompt = match answer.outcome {
                Ok(value) => serde_json::from_value::<DebugPrompt>(value)
                    .context("reading a wisp/debugPrompt answer")?,
                Err(error) => {
                    bail!("the wisp prompt oracle answered wisp/debugPrompt with an error: {}", error.message)
                }
            };
            if prompt.format != "plain" {
                bail!(
                    "the model takes {} prompts; the llama-server comparison sends plain prompts only — \
                     run without llama-server or with a model without fill-in-the-middle tokens",
                    prompt.format
                );
            }
            let body = completion_body(&prompt.prompt, step.mid_line).to_string();
            if let Some((index, previous)) = in_flight.take() {
                // Latest wins: the editor drops the previous request. Shutting down a stream whose
                // answer already arrived is harmless.
                let _ = previous.shutdown(Shutdown::Both);
                abandoned[index] = true;
            }
            let mut stream =
                http::send_request(port, "POST", "/completion", Some(&body), COMPLETION_TIMEOUT)?;
            let sent = Instant::now();
            let index = records.len();
            records.push(KeystrokeRecord { sent, answered: None, suggested: false, failed: false });
            abandoned.push(false);
            in_flight = Some((index, stream.try_clone().context("duplicating a connection")?));
            let sender = results_sender.clone();
            workers.push(thread::spawn(move || {
                let result = http::read_response(&mut stream);
                // The receiver lives until every worker is joined.
                let _ = sender.send((index, Instant::now(), result));
            }));
        }
        for worker in workers {
            if worker.join().is_err() {
                bail!("a llama-server request thread panicked");
            }
        }
        wisp_run::close(&mut oracle, &uri)?;
    }
    let wall = replay_started.elapsed();
    drop(results_sender);

    let mut completed_prompt_tokens = 0;
    for (index, arrived, result) in results.iter() {
        let record = &mut records[index];
        let response = match result {
            Ok(response) if response.status == 200 => response,
            Ok(response) => {
                record.failed = true;
                let body = String::from_utf8_lossy(&response.body);
                notes.push(format!(
                    "llama-server answered a completion with HTTP {}: {body}",
                    response.status
                ));
                continue;
            }
            // An abandoned request ends with a reset or an empty stream: not a failure.
            Err(_) if abandoned[index] => continue,
            Err(error) => {
                record.failed = true;
                notes.push(format!("llama-server completion failed: {error:#}"));
                continue;
            }
        };
        let completion: Completion =
            serde_json::from_slice(&response.body).context("reading a /completion answer")?;
        record.answered = Some(arrived);
        record.suggested = !completion.content.is_empty();
        completed_prompt_tokens += completion.timings.and_then(|timings| timings.prompt_n).unwrap_or(0);
    }

    let evaluated = match http::fetch(port, "GET", "/metrics", None, SMALL_REQUEST_TIMEOUT) {
        Ok(response) if response.status == 200 => {
            prompt_tokens_total(&String::from_utf8_lossy(&response.body))
        }
        _ => None,
    };
    let evaluated = evaluated.unwrap_or_else(|| {
        notes.push(
            "llama-server: /metrics unavailable, so prompt tokens are counted from completed requests only \
             (abandoned ones also evaluated some)"
                .into(),
        );
        completed_prompt_tokens as f64
    });
    let peak_rss_bytes = sampler.finish();
    server.kill();
    oracle.shut_down(wisp_run::SHUTDOWN_TIMEOUT)?;

    let mut stats = RunStats::from_records("llama-server", &records, wall, startup);
    stats.peak_rss_bytes = peak_rss_bytes;
    stats.prompt_tokens_evaluated_per_keystroke = ratio(evaluated, records.len() as f64);
    notes.push(
        "llama-server: a keystroke's send time is when its HTTP request was written, after the prompt oracle \
         answered; Wisp's includes building the prompt, which favours llama-server slightly"
            .into(),
    );
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_sequences_follow_the_cursor() {
        assert_eq!(completion_body("p", true)["stop"], json!(["\n"]));
        assert_eq!(completion_body("p", false)["stop"], json!(["\n\n"]));
        assert_eq!(completion_body("p", false)["cache_prompt"], json!(true));
    }

    #[test]
    fn prompt_tokens_total_is_read_from_prometheus_text() {
        let metrics = "# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.\n\
                       # TYPE llamacpp:prompt_tokens_total counter\n\
                       llamacpp:prompt_tokens_total 1234\n\
                       llamacpp:prompt_tokens_cached_total 99\n";
        assert_eq!(prompt_tokens_total(metrics), Some(1234.0));
        assert_eq!(prompt_tokens_total("llamacpp:tokens_predicted_total 3\n"), None);
    }
}
