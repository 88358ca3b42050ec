//! What goes over the wire: request bodies for the two APIs, and the pieces of text (with their
//! log-probabilities when the server gives them) read back from their server-sent events.

use serde_json::{json, Value};

use crate::{PromptPart, Sampling, SpecialToken};

/// The HTTP API an inference service speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RemoteApi {
    /// OpenAI-compatible `POST /v1/completions` (vLLM, TGI, Ollama, llama-server, LiteLLM …).
    Openai,
    /// llama.cpp's own `POST /completion` (llama-server): reuses its prompt cache per slot.
    LlamaServer,
}

/// A prompt as sent: text, or token ids when Wisp has the model's vocabulary, or the parts of a
/// fill-in-the-middle prompt that llama-server's `/infill` lays out with its model's tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WirePrompt {
    Text(String),
    Tokens(Vec<u32>),
    Infill(Infill),
}

/// The parts of a fill-in-the-middle prompt, for `/infill`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Infill {
    /// Other files: (path, code).
    pub files: Vec<(String, String)>,
    pub prefix: String,
    pub suffix: String,
}

impl WirePrompt {
    /// The request path on `api`.
    pub fn path(&self, api: RemoteApi) -> &'static str {
        match (self, api) {
            (WirePrompt::Infill(_), _) => "/infill",
            (_, RemoteApi::Openai) => "/v1/completions",
            (_, RemoteApi::LlamaServer) => "/completion",
        }
    }

    /// The prompt's fields of a request body.
    fn fields(&self) -> Value {
        match self {
            WirePrompt::Text(text) => json!({ "prompt": text }),
            WirePrompt::Tokens(tokens) => json!({ "prompt": tokens }),
            WirePrompt::Infill(Infill { files, prefix, suffix }) => json!({
                "input_extra": files
                    .iter()
                    .map(|(path, code)| json!({ "filename": path, "text": code }))
                    .collect::<Vec<_>>(),
                "input_prefix": prefix,
                "input_suffix": suffix,
                "prompt": "",
            }),
        }
    }
}

/// The parts of a fill-in-the-middle prompt in the repository layout, for `/infill`: each
/// `<file_sep>path\ncode` is another file (this file's own header, with no code, is left to the
/// server), then the prefix (with the typed part of a word put back), the suffix. None for a
/// prompt of another layout (a chat prompt for a code action).
pub fn infill_of(parts: &[PromptPart], healing: &str) -> Option<Infill> {
    let (mut files, mut prefix, mut suffix) = (Vec::new(), None, None);
    let mut parts = parts.iter();
    while let Some(part) = parts.next() {
        let text = || match parts.clone().next() {
            Some(PromptPart::Text(text)) => text.clone(),
            _ => String::new(),
        };
        match part {
            PromptPart::Special(SpecialToken::FileSeparator) => {
                let file = text();
                if let Some((path, code)) = file.split_once('\n').filter(|(_, code)| !code.is_empty()) {
                    files.push((path.to_owned(), code.to_owned()));
                }
            }
            PromptPart::Special(SpecialToken::FimPrefix) => prefix = Some(text() + healing),
            PromptPart::Special(SpecialToken::FimSuffix) => suffix = Some(text()),
            PromptPart::Special(SpecialToken::FimMiddle) => break,
            _ => {}
        }
    }
    Some(Infill { files, prefix: prefix?, suffix: suffix? })
}

/// The streaming body of a greedy completion request.
pub fn completion_body(
    api: RemoteApi,
    model: Option<&str>,
    prompt: &WirePrompt,
    max_tokens: usize,
    stop: &[&str],
    sampling: Sampling,
) -> Value {
    let Sampling { temperature, top_p, seed } = sampling;
    let temperature = if sampling.is_greedy() { 0.0 } else { temperature };
    let mut body = match api {
        RemoteApi::Openai => json!({
            "max_tokens": max_tokens,
            "temperature": temperature.max(0.0),
            "top_p": top_p,
            "stream": true,
            "logprobs": 1,
            "seed": seed,
        }),
        RemoteApi::LlamaServer => json!({
            "n_predict": max_tokens,
            "temperature": temperature.max(0.0),
            "top_p": top_p,
            "stream": true,
            "cache_prompt": true,
            "n_probs": 1,
            "seed": seed,
        }),
    };
    if let (Value::Object(body), Value::Object(fields)) = (&mut body, prompt.fields()) {
        body.extend(fields);
    }
    if temperature <= 0.0 && api == RemoteApi::LlamaServer {
        body["top_k"] = json!(1);
    }
    if !stop.is_empty() {
        body["stop"] = json!(stop);
    }
    if let Some(model) = model {
        body["model"] = json!(model);
    }
    body
}

/// One event of a streamed answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    pub text: String,
    /// Natural-log probabilities of the tokens behind `text`, when the server sent them.
    pub logprobs: Vec<f32>,
    /// The server's last event (`[DONE]`, `"stop": true`, a finish reason).
    pub done: bool,
    /// Prompt tokens the server evaluated (not taken from its cache), when it says.
    pub prompt_evaluated: Option<usize>,
    /// Prompt tokens in all, when it says.
    pub prompt_tokens: Option<usize>,
}

/// Parses one line of a server-sent-event stream: Ok(None) for lines that carry no event
/// (comments, blank lines, other fields); an error for a `data:` line that is not the API's JSON.
pub fn parse_event(api: RemoteApi, line: &str) -> Result<Option<Event>, String> {
    let Some(data) = line.strip_prefix("data:") else {
        if line.starts_with('{') {
            // An error object sent without SSE framing (some servers do so mid-stream).
            return Err(error_message(line));
        }
        return Ok(None);
    };
    let data = data.trim();
    if data == "[DONE]" {
        return Ok(Some(Event { done: true, ..Event::default() }));
    }
    let value: Value = serde_json::from_str(data)
        .map_err(|error| format!("an event that is not JSON ({error}): {}", clip(data)))?;
    if let Some(error) = value.get("error") {
        return Err(format!("the server reported an error: {}", clip(&error.to_string())));
    }
    match api {
        RemoteApi::Openai => {
            let choice = value
                .get("choices")
                .and_then(|choices| choices.get(0))
                .ok_or_else(|| format!("an event without choices: {}", clip(data)))?;
            let text = choice.get("text").and_then(Value::as_str).unwrap_or_default().to_owned();
            let logprobs = choice
                .pointer("/logprobs/token_logprobs")
                .and_then(Value::as_array)
                .map(|values| values.iter().filter_map(Value::as_f64).map(|value| value as f32).collect())
                .unwrap_or_default();
            let done = choice.get("finish_reason").is_some_and(|reason| !reason.is_null());
            let prompt_tokens =
                value.pointer("/usage/prompt_tokens").and_then(Value::as_u64).map(|n| n as usize);
            Ok(Some(Event { text, logprobs, done, prompt_evaluated: None, prompt_tokens }))
        }
        RemoteApi::LlamaServer => {
            let text = value
                .get("content")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("an event without content: {}", clip(data)))?
                .to_owned();
            let logprobs = value
                .get("completion_probabilities")
                .and_then(Value::as_array)
                .map(|tokens| {
                    tokens
                        .iter()
                        .filter_map(|token| token.get("logprob").and_then(Value::as_f64))
                        .map(|value| value as f32)
                        .collect()
                })
                .unwrap_or_default();
            let done = value.get("stop").and_then(Value::as_bool).unwrap_or(false);
            let prompt_evaluated =
                value.pointer("/timings/prompt_n").and_then(Value::as_u64).map(|n| n as usize);
            let prompt_tokens = value.get("tokens_evaluated").and_then(Value::as_u64).map(|n| n as usize);
            Ok(Some(Event { text, logprobs, done, prompt_evaluated, prompt_tokens }))
        }
    }
}

/// The message of an error body (`{"error": {"message": …}}`, `{"error": "…"}`, or text).
pub fn error_message(body: &str) -> String {
    let value: Option<Value> = serde_json::from_str(body).ok();
    let message = value.as_ref().and_then(|value| {
        let error = value.get("error").unwrap_or(value);
        error
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| error.as_str().map(str::to_owned))
    });
    clip(&message.unwrap_or_else(|| body.trim().to_owned()))
}

/// At most 200 characters of a server's text, for messages.
fn clip(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// `/tokenize` request and answer: llama-server takes `content`, vLLM `prompt` (both are sent).
pub fn tokenize_body(model: Option<&str>, text: &str) -> Value {
    let mut body = json!({ "content": text, "prompt": text, "add_special": false });
    if let Some(model) = model {
        body["model"] = json!(model);
    }
    body
}

/// The token count of a `/tokenize` answer (`tokens` array, or vLLM's `count`).
pub fn tokenize_count(body: &[u8]) -> Option<usize> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value
        .get("count")
        .and_then(Value::as_u64)
        .map(|n| n as usize)
        .or_else(|| value.get("tokens").and_then(Value::as_array).map(Vec::len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repository_fim_prompt_becomes_infill_fields() {
        let text = |text: &str| PromptPart::Text(text.to_owned());
        let special = PromptPart::Special;
        let parts = [
            special(SpecialToken::FileSeparator),
            text("src/geometry.rs\npub struct Point { pub x: f64 }\n"),
            special(SpecialToken::FileSeparator),
            text("src/lib.rs\n"),
            special(SpecialToken::FimPrefix),
            text("fn area(p: &Point) -> f64 {\n    p."),
            special(SpecialToken::FimSuffix),
            text("\n}\n"),
            special(SpecialToken::FimMiddle),
        ];
        let expected = Infill {
            files: vec![("src/geometry.rs".into(), "pub struct Point { pub x: f64 }\n".into())],
            prefix: "fn area(p: &Point) -> f64 {\n    p.x".into(),
            suffix: "\n}\n".into(),
        };
        assert_eq!(infill_of(&parts, "x"), Some(expected));
        assert_eq!(infill_of(&[text("a plain prompt")], ""), None);
    }

    #[test]
    fn openai_events_carry_text_logprobs_and_the_finish() {
        let line = r#"data: {"choices":[{"text":" x","logprobs":{"tokens":[" x"],"token_logprobs":[-0.5]},"finish_reason":null}]}"#;
        let event = parse_event(RemoteApi::Openai, line).unwrap().unwrap();
        assert_eq!(
            (event.text.as_str(), event.logprobs.as_slice(), event.done),
            (" x", &[-0.5f32][..], false)
        );
        let line = r#"data: {"choices":[{"text":"","finish_reason":"stop"}]}"#;
        assert!(parse_event(RemoteApi::Openai, line).unwrap().unwrap().done);
        assert!(parse_event(RemoteApi::Openai, "data: [DONE]").unwrap().unwrap().done);
        assert_eq!(parse_event(RemoteApi::Openai, ": keep-alive").unwrap(), None);
        assert_eq!(parse_event(RemoteApi::Openai, "").unwrap(), None);
    }

    #[test]
    fn llama_server_events_carry_probabilities_and_prompt_counts() {
        let line = r#"data: {"content":"ab","stop":false,"completion_probabilities":[{"id":1,"token":"a","logprob":-0.25},{"id":2,"token":"b","logprob":-1.0}]}"#;
        let event = parse_event(RemoteApi::LlamaServer, line).unwrap().unwrap();
        assert_eq!(event.logprobs, [-0.25, -1.0]);
        let line = r#"data: {"content":"","stop":true,"tokens_evaluated":40,"timings":{"prompt_n":3}}"#;
        let event = parse_event(RemoteApi::LlamaServer, line).unwrap().unwrap();
        assert_eq!((event.done, event.prompt_evaluated, event.prompt_tokens), (true, Some(3), Some(40)));
    }

    #[test]
    fn garbage_and_errors_are_reported_not_taken_for_text() {
        assert!(parse_event(RemoteApi::Openai, "data: <html>").unwrap_err().contains("not JSON"));
        assert!(parse_event(RemoteApi::LlamaServer, r#"data: {"error":{"message":"slot busy"}}"#)
            .unwrap_err()
            .contains("slot busy"));
        assert!(parse_event(RemoteApi::Openai, r#"data: {"id":1}"#).unwrap_err().contains("without choices"));
        assert_eq!(error_message(r#"{"error":{"message":"bad key","type":"auth"}}"#), "bad key");
        assert_eq!(error_message("Internal Server Error"), "Internal Server Error");
    }

    #[test]
    fn greedy_llama_server_requests_take_the_top_token_and_stop_at_the_rule() {
        let body = completion_body(
            RemoteApi::LlamaServer,
            None,
            &WirePrompt::Tokens(vec![1, 2]),
            16,
            &["\n"],
            Sampling::GREEDY,
        );
        assert_eq!(body["top_k"], 1);
        assert_eq!(body["stop"], json!(["\n"]));
        assert_eq!(body["prompt"], json!([1, 2]));
        assert!(body.get("model").is_none());
        let body = completion_body(
            RemoteApi::Openai,
            Some("m"),
            &WirePrompt::Text("x".into()),
            8,
            &[],
            Sampling::GREEDY,
        );
        assert_eq!((body["model"].as_str(), body["max_tokens"].as_u64()), (Some("m"), Some(8)));
        let infill = WirePrompt::Infill(Infill {
            files: vec![("src/a.rs".into(), "fn a() {}\n".into())],
            prefix: "fn b() { ".into(),
            suffix: " }\n".into(),
        });
        let body = completion_body(RemoteApi::LlamaServer, None, &infill, 8, &[], Sampling::GREEDY);
        assert_eq!(infill.path(RemoteApi::LlamaServer), "/infill");
        assert_eq!(body["input_extra"], json!([{ "filename": "src/a.rs", "text": "fn a() {}\n" }]));
        assert_eq!(
            (body["input_prefix"].as_str(), body["input_suffix"].as_str()),
            (Some("fn b() { "), Some(" }\n"))
        );
        assert_eq!((body["prompt"].as_str(), body["stream"].as_bool()), (Some(""), Some(true)));
        assert_eq!(tokenize_count(br#"{"tokens":[1,2,3]}"#), Some(3));
        assert_eq!(tokenize_count(br#"{"count":5,"tokens":[]}"#), Some(5));
    }
}
