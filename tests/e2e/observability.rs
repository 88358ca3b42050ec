//! What a user or an operator sees of a running server: a span per request with each stage's time
//! and tokens, as JSON lines in a log file (never on stdout, which the protocol owns), and the same
//! figures on the opt-in Prometheus endpoint and through `wisp/metrics`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use serde_json::{json, Value};
use wisp_tests::client::Client;

fn get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connecting to the metrics endpoint");
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap_or_else(|error| panic!("GET {path}: {error}"));
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// The value of a Prometheus sample line `name value`.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"))
}

#[test]
fn each_request_is_traced_by_stage_and_counted_on_the_prometheus_endpoint() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = wisp_tests::scratch_dir("observability");
    let log = dir.join("logs").join("wisp.log");
    let mut client = Client::spawn(&[
        ("WISP_LOG", "info,wisp::completion=debug"),
        ("WISP_LOG_FORMAT", "json"),
        ("WISP_LOG_FILE", log.to_str().unwrap()),
    ]);
    client.initialize(
        json!({ "metrics": { "addr": format!("127.0.0.1:{port}") }, "completion": { "min_confidence": 0.0 } }),
        json!({}),
    );
    client.wait_until_ready();
    let uri = "file:///tmp/observed.rs";
    client.open(uri, "rust", "fn main() {\n    let answer = ");
    let response = client.inline_completion(uri, 1, 17);
    assert!(response["result"]["items"].is_array(), "{response}");

    let metrics = get(port, "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert_eq!(sample(&metrics, "wisp_requests_total"), 1.0);
    assert!(sample(&metrics, "wisp_generations_total") >= 1.0);
    for stage in ["context", "prompt_build", "prompt_eval", "decode", "filters", "total"] {
        let count = sample(&metrics, &format!("wisp_stage_latency_ms_count{{stage=\"{stage}\"}}"));
        assert!(count >= 1.0, "no {stage} latency recorded:\n{metrics}");
    }
    assert!(sample(&metrics, "wisp_decode_tokens_per_second") > 0.0);
    assert!(sample(&metrics, "wisp_resident_memory_bytes") > 1e6);
    assert!(get(port, "/other").starts_with("HTTP/1.1 404"));

    let over_lsp = client.metrics();
    assert!(over_lsp["stages"]["decode"]["count"].as_u64() >= Some(1), "{over_lsp}");
    assert!(over_lsp["derived"]["decodeTokensPerSecond"].as_f64() > Some(0.0), "{over_lsp}");

    assert_eq!(client.shutdown_and_exit().code(), Some(0));
    let text = std::fs::read_to_string(&log).expect("the log file");
    let events: Vec<Value> = text
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|_| panic!("a log line that is not JSON: {line}"))
        })
        .collect();
    let model_run = events
        .iter()
        .find(|event| event["fields"]["message"] == "model run")
        .unwrap_or_else(|| panic!("no model run event in the log:\n{text}"));
    assert_eq!(model_run["span"]["name"], "completion", "{model_run}");
    assert_eq!(model_run["span"]["line"], 1, "{model_run}");
    assert!(model_run["fields"]["prompt_tokens"].as_u64() > Some(0), "{model_run}");
    assert!(model_run["fields"]["decode_ms"].as_f64().is_some(), "{model_run}");
    assert!(
        events.iter().any(|event| event["fields"]["message"] == "answered"
            || event["fields"]["message"] == "nothing to show"),
        "{text}"
    );
}
