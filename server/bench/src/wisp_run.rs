//! Driving the real `wisp serve` the way an editor does: open the file, send each keystroke's
//! `didChange` immediately followed by an inline completion request, never waiting for answers
//! (the server answers superseded requests with an empty list itself).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::history::{Session, Step};
use crate::lsp::{file_uri, LspServer, METHOD_NOT_FOUND};
use crate::process::RssSampler;
use crate::stats::{ratio, KeystrokeRecord, RunStats};
use crate::ReplayOptions;

/// Seconds for the `initialize` answer: the server answers before loading the model.
pub const INITIALIZE_TIMEOUT: Duration = Duration::from_secs(30);
/// Seconds for the model to load after `initialized`: a multi-GB GGUF from a cold disk.
pub const MODEL_READY_TIMEOUT: Duration = Duration::from_secs(300);
/// Seconds, after a session's last keystroke, for every request of the session to be answered.
/// Without reuse every request evaluates a ~1000-token prompt from scratch; on a 2-core machine
/// shared with a build, 120 s was once not enough to answer the queue.
pub const SESSION_DRAIN_TIMEOUT: Duration = Duration::from_secs(300);
/// Seconds for `wisp/metrics` (counters, no model work).
pub const METRICS_TIMEOUT: Duration = Duration::from_secs(10);
/// Seconds for `shutdown` to be answered and, after `exit`, for the process to end.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// JSON-RPC "request cancelled": a superseded request, not a failure.
const REQUEST_CANCELLED: i64 = -32800;

/// Which Wisp configuration a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WispMode {
    /// The defaults: KV-cache reuse and the suggestion cache on.
    Default,
    /// `model.kv_reuse = false` and `completion.cache = false`: every request starts from scratch.
    NoReuse,
    /// [`ReplayOptions::before`], an earlier build, with its defaults.
    Before,
    /// The defaults with `model.remote.url` set to [`ReplayOptions::remote_url`].
    Remote,
}

/// `initializationOptions` for a run.
pub fn initialization_options(
    options: &ReplayOptions,
    mode: WispMode,
    disable_suggestion_cache: bool,
) -> anyhow::Result<Value> {
    let model_path = options
        .model_path
        .to_str()
        .with_context(|| format!("model path {} is not UTF-8", options.model_path.display()))?;
    let mut model = json!({ "path": model_path, "threads": options.threads });
    let mut init = json!({});
    if mode == WispMode::NoReuse {
        model["kv_reuse"] = json!(false);
        if disable_suggestion_cache {
            // Without reuse a warm-up at open is thrown away: leave it out too.
            init["completion"] = json!({ "cache": false, "prefetch": false });
        }
    }
    if mode == WispMode::Remote {
        // The served model's vocabulary is the GGUF file at hand: prompts are counted here, not
        // by a /tokenize request per line to the shared server.
        let url = options.remote_url.as_deref().context("no remote URL to point wisp at")?;
        model = json!({ "remote": { "url": url, "vocabulary": model_path } });
    }
    init["model"] = model;
    Ok(init)
}

/// A started server with its model loaded.
pub struct Started {
    pub server: LspServer,
    /// From spawning the process to the model being ready.
    pub startup: Duration,
    /// Errors the server showed while starting (a refused configuration, for instance).
    pub error_messages: Vec<String>,
}

/// Starts `wisp serve`, initializes it with `initialization_options` and waits for the model.
pub fn start(
    wisp_binary: &Path,
    repo: &Path,
    init: Value,
    label: &str,
    log_path: PathBuf,
) -> anyhow::Result<Started> {
    let started = Instant::now();
    let mut server = LspServer::spawn(wisp_binary, label, log_path)?;
    let params = json!({
        "processId": std::process::id(),
        "rootUri": file_uri(repo)?,
        "capabilities": {},
        "initializationOptions": init,
    });
    let (id, _) = server.request("initialize", params)?;
    let answer = server.wait_response(id, INITIALIZE_TIMEOUT, "the initialize answer")?;
    if let Err(error) = answer.outcome {
        bail!("{label} refused initialize: {} (see its log {})", error.message, server.log_path().display());
    }
    server.notify("initialized", json!({}))?;
    server.wait_until(
        MODEL_READY_TIMEOUT,
        "the model to load (didChangeStatus with busy: false)",
        |server| {
            server
                .status
                .as_ref()
                .is_some_and(|status| !status.busy && matches!(status.kind.as_str(), "Normal" | "Error"))
        },
    )?;
    if let Some(status) = server.status.as_ref().filter(|status| status.kind == "Error") {
        bail!(
            "{label} could not load the model: {} (see its log {})",
            status.message,
            server.log_path().display()
        );
    }
    let error_messages = std::mem::take(&mut server.error_messages);
    Ok(Started { server, startup: started.elapsed(), error_messages })
}

/// `didOpen` of a session's file.
pub fn open(server: &mut LspServer, uri: &str, session: &Session) -> anyhow::Result<()> {
    let document =
        json!({ "uri": uri, "languageId": session.language_id, "version": 1, "text": session.initial_text });
    server.notify("textDocument/didOpen", json!({ "textDocument": document }))
}

/// The incremental `didChange` of one step.
pub fn change(server: &mut LspServer, uri: &str, version: i64, step: &Step) -> anyhow::Result<()> {
    let params = json!({
        "textDocument": { "uri": uri, "version": version },
        "contentChanges": [{ "range": step.range, "text": step.text }],
    });
    server.notify("textDocument/didChange", params)
}

pub fn close(server: &mut LspServer, uri: &str) -> anyhow::Result<()> {
    server.notify("textDocument/didClose", json!({ "textDocument": { "uri": uri } }))
}

/// Parameters of `textDocument/inlineCompletion` (and, without `context`, `wisp/debugPrompt`).
pub fn position_params(uri: &str, step: &Step, with_context: bool) -> Value {
    let mut params = json!({ "textDocument": { "uri": uri }, "position": step.cursor });
    if with_context {
        // InlineCompletionTriggerKind.Automatic = 2: "completion was triggered automatically while editing".
        params["context"] = json!({ "triggerKind": 2 });
    }
    params
}

/// Whether an inline completion answer (a list, `{ items }` or null) holds a non-empty suggestion.
pub fn has_suggestion(result: &Value) -> bool {
    let items = match result {
        Value::Array(items) => items,
        Value::Object(_) => match result.get("items") {
            Some(Value::Array(items)) => items,
            _ => return false,
        },
        _ => return false,
    };
    items.iter().any(|item| match item.get("insertText") {
        Some(Value::String(text)) => !text.is_empty(),
        // A StringValue snippet: { kind: "snippet", value }.
        Some(Value::Object(snippet)) => {
            snippet.get("value").and_then(Value::as_str).is_some_and(|text| !text.is_empty())
        }
        _ => false,
    })
}

/// The counters of `wisp/metrics`; each is optional so a renamed one disables only its figure.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WispMetrics {
    pub requests: Option<u64>,
    pub suggestions: Option<u64>,
    pub cancelled: Option<u64>,
    pub unanswered: Option<u64>,
    pub cache_exact_hits: Option<u64>,
    pub cache_typed_through_hits: Option<u64>,
    pub joined: Option<u64>,
    pub joined_hits: Option<u64>,
    pub prompt_tokens: Option<u64>,
    pub prompt_tokens_evaluated: Option<u64>,
    pub generated_tokens: Option<u64>,
    pub warm_up_tokens: Option<u64>,
    pub generations: Option<u64>,
}

/// Replays `sessions` against one wisp process; `notes` collects caveats for the report.
/// Files a keystroke's answer: suggested or not, failed or not (a cancelled request is neither).
fn record_answer(record: &mut KeystrokeRecord, answer: crate::lsp::Response) {
    record.answered = Some(answer.arrived);
    match answer.outcome {
        Ok(result) => record.suggested = has_suggestion(&result),
        Err(error) => record.failed = error.code != REQUEST_CANCELLED,
    }
}

pub fn replay(
    options: &ReplayOptions,
    repo: &Path,
    sessions: &[Session],
    mode: WispMode,
    work_dir: &Path,
    notes: &mut Vec<String>,
) -> anyhow::Result<RunStats> {
    let (label, slug) = match mode {
        WispMode::Default => ("wisp", "wisp"),
        WispMode::NoReuse => ("wisp without reuse", "wisp-no-reuse"),
        WispMode::Before => ("wisp before", "wisp-before"),
        WispMode::Remote => ("wisp on a remote backend", "wisp-remote"),
    };
    let binary = match (mode, &options.before) {
        (WispMode::Before, Some(before)) => before,
        (WispMode::Before, None) => bail!("no earlier wisp binary to replay (ReplayOptions::before)"),
        _ => &options.wisp_binary,
    };
    let log_path = work_dir.join(format!("{slug}{}.log", options.log_suffix));
    let mut started =
        start(binary, repo, initialization_options(options, mode, true)?, label, log_path.clone())?;
    if mode == WispMode::NoReuse && started.error_messages.iter().any(|message| message.contains("cache")) {
        // A server without `completion.cache` refuses the whole layer (and with it model.path).
        started.server.shut_down(SHUTDOWN_TIMEOUT)?;
        notes.push(format!(
            "{label}: the server does not know completion.cache, so its suggestion cache stayed on ({})",
            started.error_messages.join("; ")
        ));
        started = start(binary, repo, initialization_options(options, mode, false)?, label, log_path)?;
    }
    if !started.error_messages.is_empty() {
        bail!(
            "{label} refused its configuration: {} (see its log {})",
            started.error_messages.join("; "),
            started.server.log_path().display()
        );
    }
    let Started { mut server, startup, .. } = started;
    let sampler = RssSampler::start(server.pid());
    let replay_started = Instant::now();
    let mut records: Vec<KeystrokeRecord> = Vec::new();
    for session in sessions {
        let uri = file_uri(&repo.join(&session.path))?;
        open(&mut server, &uri, session)?;
        let mut version = 1;
        let mut pending: Vec<(i64, usize)> = Vec::new();
        let mut due = Instant::now();
        for step in &session.steps {
            due += step.delay;
            server.pump_until(due)?;
            version += 1;
            change(&mut server, &uri, version, step)?;
            if step.keystroke {
                let (id, sent) =
                    server.request("textDocument/inlineCompletion", position_params(&uri, step, true))?;
                pending.push((id, records.len()));
                records.push(KeystrokeRecord { sent, answered: None, suggested: false, failed: false });
            }
        }
        if let Some(grace) = options.session_grace {
            // The typist looks for a moment, then moves on: what is still pending is cancelled.
            let grace_deadline = Instant::now() + grace;
            let mut waiting = Vec::new();
            for (id, index) in pending {
                let left = grace_deadline.saturating_duration_since(Instant::now());
                match server.try_response(id, left)? {
                    Some(answer) => record_answer(&mut records[index], answer),
                    None => waiting.push((id, index)),
                }
            }
            for (id, _) in &waiting {
                server.notify("$/cancelRequest", json!({ "id": id }))?;
            }
            pending = waiting;
        }
        let drain_deadline = Instant::now() + SESSION_DRAIN_TIMEOUT;
        let n_pending = pending.len();
        for (n_answered, (id, index)) in pending.into_iter().enumerate() {
            let what = format!("the answers to a session's completion requests ({n_answered} of {n_pending} answered, at most {} s in all)", SESSION_DRAIN_TIMEOUT.as_secs());
            let left = drain_deadline.saturating_duration_since(Instant::now());
            let answer = server.wait_response(id, left, &what)?;
            record_answer(&mut records[index], answer);
        }
        close(&mut server, &uri)?;
    }
    let wall = replay_started.elapsed();

    let (id, _) = server.request("wisp/metrics", json!({}))?;
    let answer = server.wait_response(id, METRICS_TIMEOUT, "the wisp/metrics answer")?;
    let metrics = match answer.outcome {
        Ok(value) => {
            Some(serde_json::from_value::<WispMetrics>(value).context("reading the wisp/metrics answer")?)
        }
        Err(error) if error.code == METHOD_NOT_FOUND => {
            notes.push(format!(
                "{label}: the server has no wisp/metrics, so token and cache figures are unavailable"
            ));
            None
        }
        Err(error) => bail!("{label} answered wisp/metrics with an error: {}", error.message),
    };
    let (peak_rss_bytes, rss_series) = sampler.finish_with_series();
    server.shut_down(SHUTDOWN_TIMEOUT)?;

    let mut stats = RunStats::from_records(label, &records, wall, startup);
    stats.peak_rss_bytes = peak_rss_bytes;
    stats.rss_series = rss_series;
    if let Some(metrics) = metrics {
        let keystrokes = records.len() as f64;
        stats.prompt_tokens_evaluated_per_keystroke =
            metrics.prompt_tokens_evaluated.and_then(|evaluated| ratio(evaluated as f64, keystrokes));
        let per_request = |count: Option<u64>| ratio(count? as f64, metrics.requests? as f64);
        stats.prompt_tokens_evaluated_per_generation = metrics
            .prompt_tokens_evaluated
            .zip(metrics.generations)
            .and_then(|(evaluated, generations)| ratio(evaluated as f64, generations as f64));
        stats.prompt_tokens_per_generation = metrics
            .prompt_tokens
            .zip(metrics.generations)
            .and_then(|(tokens, generations)| ratio(tokens as f64, generations as f64));
        stats.warm_up_tokens = metrics.warm_up_tokens;
        stats.unanswered = metrics.unanswered;
        stats.cache_hit_rate = per_request(metrics.cache_exact_hits);
        stats.typed_through_hit_rate = per_request(metrics.cache_typed_through_hits);
        stats.joined_rate = per_request(metrics.joined);
        stats.joined_hit_rate = per_request(metrics.joined_hits);
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_non_empty_insert_texts_in_any_answer_shape() {
        assert!(has_suggestion(&json!({ "items": [{ "insertText": "x" }] })));
        assert!(has_suggestion(&json!([{ "insertText": { "kind": "snippet", "value": "x" } }])));
        assert!(!has_suggestion(&json!({ "items": [] })));
        assert!(!has_suggestion(&json!({ "items": [{ "insertText": "" }] })));
        assert!(!has_suggestion(&Value::Null));
    }

    #[test]
    fn the_no_reuse_run_turns_off_both_caches() {
        let options = ReplayOptions {
            wisp_binary: "wisp".into(),
            repo: ".".into(),
            max_keystrokes: 1,
            seed: 0,
            threads: 2,
            model_path: "/m.gguf".into(),
            llama_server: None,
            before: None,
            remote_url: None,
            log_suffix: String::new(),
            extensions: vec![],
            session_grace: None,
        };
        assert_eq!(
            initialization_options(&options, WispMode::Default, true).unwrap(),
            json!({ "model": { "path": "/m.gguf", "threads": 2 } })
        );
        assert_eq!(
            initialization_options(&options, WispMode::NoReuse, true).unwrap(),
            json!({ "model": { "path": "/m.gguf", "threads": 2, "kv_reuse": false }, "completion": { "cache": false, "prefetch": false } })
        );
    }

    #[test]
    fn metrics_read_camel_case_counters_and_tolerate_missing_ones() {
        let metrics: WispMetrics = serde_json::from_value(
            json!({ "requests": 10, "cacheExactHits": 2, "promptTokensEvaluated": 300 }),
        )
        .unwrap();
        assert_eq!(
            (metrics.requests, metrics.cache_exact_hits, metrics.prompt_tokens_evaluated),
            (Some(10), Some(2), Some(300))
        );
        assert_eq!(metrics.cache_typed_through_hits, None);
    }
}
