//! Counters since the server started (`wisp/metrics`, and the Prometheus endpoint
//! `metrics.addr`): requests, reuse, tokens, indexing, latency per stage, feedback.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

/// Counters behind `wisp/metrics`.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    /// Completion requests from the editor.
    pub requests: AtomicU64,
    /// Requests answered with a suggestion.
    pub suggestions: AtomicU64,
    /// Requests (and prefetches) cancelled or superseded before they finished.
    pub cancelled: AtomicU64,
    /// Requests the model could not answer (a remote backend down, slow or refusing; the status
    /// says why). Typing gets no suggestion for them; an explicit request gets the error.
    pub unanswered: AtomicU64,
    pub cache_exact_hits: AtomicU64,
    pub cache_typed_through_hits: AtomicU64,
    /// Requests that waited for the generation of an earlier keystroke instead of cancelling it
    /// (the typed characters agreed with it).
    pub joined: AtomicU64,
    /// Joining requests answered with the rest of that generation's suggestion.
    pub joined_hits: AtomicU64,
    /// Prompt tokens of the generations that ran.
    pub prompt_tokens: AtomicU64,
    /// Prompt tokens the model evaluated for keystrokes and prefetches (the rest came from the
    /// KV cache).
    pub prompt_tokens_evaluated: AtomicU64,
    /// Prompt tokens evaluated by warm-ups when documents were opened.
    pub warm_up_tokens: AtomicU64,
    /// Model runs for keystrokes and prefetches (finished or cancelled part-way).
    pub generations: AtomicU64,
    pub generated_tokens: AtomicU64,
    /// Milliseconds spent waiting in the debounce, in all.
    pub debounce_ms: AtomicU64,
    pub prefetches: AtomicU64,
    pub warm_ups: AtomicU64,
    /// Times context snippets were collected (the rest reused a document's previous ones).
    pub context_collections: AtomicU64,
    /// Microseconds spent collecting them, in all.
    pub context_us: AtomicU64,
    /// Source files in the workspace index.
    pub indexed_files: AtomicU64,
    pub indexed_lines: AtomicU64,
    /// Milliseconds the initial indexing took.
    pub index_ms: AtomicU64,
    /// Approximate bytes the index holds.
    pub index_bytes: AtomicU64,
    /// Model suggestions each filter cut (`wisp_guard::FILTERS`, and `confidence`).
    pub cut_by: Mutex<BTreeMap<String, u64>>,
    /// Model suggestions nothing was left of after the filters.
    pub suppressed: AtomicU64,
    /// Code actions resolved with an edit, refused (the model's answer was empty or did not
    /// parse), and stopped part-way because the client cancelled.
    pub actions_resolved: AtomicU64,
    pub actions_refused: AtomicU64,
    pub actions_cancelled: AtomicU64,
    /// Suggestions the editor showed, and those accepted (wholly or in part).
    pub shown: AtomicU64,
    pub accepted: AtomicU64,
    /// Latency of each stage of a completion, in milliseconds (see [`Stage`]).
    pub stages: Mutex<BTreeMap<&'static str, Histogram>>,
}

/// The stages of a completion, as latency histograms are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for the typing to pause.
    Debounce,
    /// Reading the document and collecting context snippets.
    Context,
    /// Waiting for the inference worker (another request's model run).
    Queue,
    /// Building the prompt within its token budget.
    PromptBuild,
    /// The model evaluating the prompt tokens not in its cache.
    PromptEval,
    /// The model writing the suggestion.
    Decode,
    /// The suggestion filters and the confidence threshold.
    Filters,
    /// From the request's arrival to the answer.
    Total,
}

impl Stage {
    pub const ALL: [Stage; 8] = [
        Stage::Debounce,
        Stage::Context,
        Stage::Queue,
        Stage::PromptBuild,
        Stage::PromptEval,
        Stage::Decode,
        Stage::Filters,
        Stage::Total,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Debounce => "debounce",
            Stage::Context => "context",
            Stage::Queue => "queue",
            Stage::PromptBuild => "prompt_build",
            Stage::PromptEval => "prompt_eval",
            Stage::Decode => "decode",
            Stage::Filters => "filters",
            Stage::Total => "total",
        }
    }
}

/// Upper bounds of the latency buckets, in milliseconds (Prometheus `le`); a last bucket holds
/// everything slower.
pub const LATENCY_BUCKETS_MS: [f64; 12] =
    [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0];

/// A latency histogram: counts per bucket (not cumulative), their sum and count.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Histogram {
    pub count: u64,
    pub sum_ms: f64,
    /// Per bucket of [`LATENCY_BUCKETS_MS`], then one for slower.
    pub buckets: Vec<u64>,
}

impl Histogram {
    pub fn observe(&mut self, ms: f64) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; LATENCY_BUCKETS_MS.len() + 1];
        }
        let bucket =
            LATENCY_BUCKETS_MS.iter().position(|&bound| ms <= bound).unwrap_or(LATENCY_BUCKETS_MS.len());
        self.buckets[bucket] += 1;
        self.count += 1;
        self.sum_ms += ms;
    }

    /// The upper bound of the bucket holding the `q` quantile (0 to 1); None when empty.
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        let target = (q * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, count) in self.buckets.iter().enumerate() {
            seen += count;
            if seen >= target {
                return Some(LATENCY_BUCKETS_MS.get(index).copied().unwrap_or(f64::INFINITY));
            }
        }
        None
    }
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Records how long a stage took.
    pub fn observe(&self, stage: Stage, ms: f64) {
        let mut stages = self.stages.lock().unwrap_or_else(|p| p.into_inner());
        stages.entry(stage.name()).or_default().observe(ms);
    }

    /// The figures derived from the counters: rates and speeds, and the process's memory.
    pub fn derived(&self) -> Derived {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed) as f64;
        let ratio = |a: f64, b: f64| (b > 0.0).then(|| a / b);
        let stages = self.stages.lock().unwrap_or_else(|p| p.into_inner());
        let seconds = |stage: Stage| stages.get(stage.name()).map_or(0.0, |histogram| histogram.sum_ms / 1e3);
        Derived {
            decode_tokens_per_second: ratio(get(&self.generated_tokens), seconds(Stage::Decode)),
            prompt_tokens_per_second: ratio(get(&self.prompt_tokens_evaluated), seconds(Stage::PromptEval)),
            kv_reuse_rate: ratio(
                get(&self.prompt_tokens) - get(&self.prompt_tokens_evaluated),
                get(&self.prompt_tokens),
            ),
            cache_hit_rate: ratio(
                get(&self.cache_exact_hits) + get(&self.cache_typed_through_hits) + get(&self.joined_hits),
                get(&self.requests),
            ),
            acceptance_rate: ratio(get(&self.accepted), get(&self.shown)),
            resident_bytes: resident_bytes(),
        }
    }

    /// The Prometheus text exposition of every figure (`wisp_` names).
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let counters: [(&str, &AtomicU64, &str); 15] = [
            ("requests_total", &self.requests, "Completion requests from the editor."),
            ("suggestions_total", &self.suggestions, "Requests answered with a suggestion."),
            ("cancelled_total", &self.cancelled, "Requests cancelled or superseded before they finished."),
            (
                "unanswered_total",
                &self.unanswered,
                "Requests the model could not answer (backend down or slow).",
            ),
            (
                "cache_exact_hits_total",
                &self.cache_exact_hits,
                "Requests answered from the suggestion cache.",
            ),
            (
                "cache_typed_through_hits_total",
                &self.cache_typed_through_hits,
                "Requests answered by typing through a suggestion.",
            ),
            ("joined_hits_total", &self.joined_hits, "Requests answered by joining a running generation."),
            ("generations_total", &self.generations, "Model runs."),
            ("prompt_tokens_total", &self.prompt_tokens, "Prompt tokens of the model runs."),
            (
                "prompt_tokens_evaluated_total",
                &self.prompt_tokens_evaluated,
                "Prompt tokens evaluated (the rest came from the KV cache).",
            ),
            ("generated_tokens_total", &self.generated_tokens, "Tokens generated."),
            (
                "suppressed_total",
                &self.suppressed,
                "Model suggestions nothing was left of after the filters.",
            ),
            ("shown_total", &self.shown, "Suggestions the editor showed."),
            ("accepted_total", &self.accepted, "Suggestions accepted, wholly or in part."),
            ("indexed_files", &self.indexed_files, "Source files in the workspace index."),
        ];
        for (name, counter, help) in counters {
            let kind = if name.ends_with("_total") { "counter" } else { "gauge" };
            out.push_str(&format!(
                "# HELP wisp_{name} {help}\n# TYPE wisp_{name} {kind}\nwisp_{name} {}\n",
                counter.load(Ordering::Relaxed)
            ));
        }
        out.push_str(
            "# HELP wisp_stage_latency_ms Latency of each stage of a completion, in milliseconds.\n",
        );
        out.push_str("# TYPE wisp_stage_latency_ms histogram\n");
        let stages = self.stages.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for stage in Stage::ALL {
            let histogram = stages.get(stage.name()).cloned().unwrap_or_default();
            let mut cumulative = 0;
            for (index, bound) in LATENCY_BUCKETS_MS.iter().enumerate() {
                cumulative += histogram.buckets.get(index).copied().unwrap_or(0);
                out.push_str(&format!(
                    "wisp_stage_latency_ms_bucket{{stage=\"{}\",le=\"{bound}\"}} {cumulative}\n",
                    stage.name()
                ));
            }
            out.push_str(&format!(
                "wisp_stage_latency_ms_bucket{{stage=\"{0}\",le=\"+Inf\"}} {1}\nwisp_stage_latency_ms_sum{{stage=\"{0}\"}} {2}\nwisp_stage_latency_ms_count{{stage=\"{0}\"}} {1}\n",
                stage.name(),
                histogram.count,
                histogram.sum_ms
            ));
        }
        let derived = self.derived();
        let gauges = [
            (
                "decode_tokens_per_second",
                derived.decode_tokens_per_second,
                "Generated tokens per second of decoding.",
            ),
            (
                "prompt_tokens_per_second",
                derived.prompt_tokens_per_second,
                "Prompt tokens evaluated per second.",
            ),
            ("kv_reuse_ratio", derived.kv_reuse_rate, "Share of prompt tokens taken from the KV cache."),
            ("cache_hit_ratio", derived.cache_hit_rate, "Share of requests answered without a model run."),
            ("acceptance_ratio", derived.acceptance_rate, "Share of shown suggestions accepted."),
            (
                "resident_memory_bytes",
                derived.resident_bytes.map(|bytes| bytes as f64),
                "Resident set size of the wisp process.",
            ),
        ];
        for (name, value, help) in gauges {
            if let Some(value) = value {
                out.push_str(&format!(
                    "# HELP wisp_{name} {help}\n# TYPE wisp_{name} gauge\nwisp_{name} {value}\n"
                ));
            }
        }
        out
    }

    /// Counts a model suggestion the filters `cut_by` changed, `suppressed` when nothing was left.
    pub fn filtered(&self, cut_by: &[&str], suppressed: bool) {
        let mut counts = self.cut_by.lock().unwrap_or_else(|p| p.into_inner());
        for filter in cut_by {
            *counts.entry((*filter).to_owned()).or_default() += 1;
        }
        if suppressed {
            Metrics::add(&self.suppressed, 1);
        }
    }
}

/// Figures derived from the counters (None where nothing was measured yet).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Derived {
    pub decode_tokens_per_second: Option<f64>,
    pub prompt_tokens_per_second: Option<f64>,
    /// Share of prompt tokens the KV cache held.
    pub kv_reuse_rate: Option<f64>,
    /// Share of requests answered without a model run (cache, typing through, joining).
    pub cache_hit_rate: Option<f64>,
    pub acceptance_rate: Option<f64>,
    pub resident_bytes: Option<u64>,
}

/// This process's resident set size (`VmRSS` of `/proc/self/status`); None off Linux.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_bucket_latencies_and_render_cumulatively_for_prometheus() {
        let metrics = Metrics::default();
        for ms in [0.5, 3.0, 3.0, 40.0, 9000.0] {
            metrics.observe(Stage::Decode, ms);
        }
        let stages = metrics.stages.lock().unwrap().clone();
        let decode = &stages["decode"];
        assert_eq!(
            (decode.count, decode.quantile_bound(0.5), decode.quantile_bound(1.0)),
            (5, Some(5.0), Some(f64::INFINITY))
        );
        let text = metrics.prometheus();
        assert!(text.contains("wisp_stage_latency_ms_bucket{stage=\"decode\",le=\"5\"} 3\n"), "{text}");
        assert!(text.contains("wisp_stage_latency_ms_bucket{stage=\"decode\",le=\"+Inf\"} 5\n"), "{text}");
        assert!(text.contains("wisp_stage_latency_ms_count{stage=\"total\"} 0\n"), "{text}");
        assert!(text.contains("# TYPE wisp_requests_total counter\nwisp_requests_total 0\n"), "{text}");
        assert!(text.contains("wisp_resident_memory_bytes "), "{text}");
    }
}
