//! What one run measured, and the arithmetic that turns per-keystroke records into figures.

use std::time::{Duration, Instant};

/// What happened to one keystroke's completion request.
#[derive(Debug, Clone, Copy)]
pub struct KeystrokeRecord {
    /// When the request was written.
    pub sent: Instant,
    /// When its answer was read; `None` when it never came (abandoned).
    pub answered: Option<Instant>,
    /// The answer held a non-empty suggestion.
    pub suggested: bool,
    /// The answer was an error (not an empty list).
    pub failed: bool,
}

/// Figures of one run over the replayed sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStats {
    /// What ran: "wisp", "wisp without reuse", "llama-server".
    pub label: String,
    /// Latency percentiles (ms) over keystrokes whose own request got a suggestion.
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub keystrokes: usize,
    /// Keystrokes whose own request got a suggestion.
    pub suggested: usize,
    /// `suggested / keystrokes`.
    pub share_suggested: f64,
    /// Requests answered with an error.
    pub errors: usize,
    /// Requests the model could not answer (a remote backend down or behind): typing gets an
    /// empty answer for them, and the status says why. `None` when not reported.
    pub unanswered: Option<u64>,
    /// Prompt tokens run through the model, divided by keystrokes; `None` when not reported.
    pub prompt_tokens_evaluated_per_keystroke: Option<f64>,
    /// Prompt tokens evaluated per model run for a keystroke (cancelled runs included).
    pub prompt_tokens_evaluated_per_generation: Option<f64>,
    /// Prompt tokens per model run: what each run would evaluate without reuse.
    pub prompt_tokens_per_generation: Option<f64>,
    /// Prompt tokens evaluated by warm-ups when documents were opened (not in the per-keystroke
    /// figure).
    pub warm_up_tokens: Option<u64>,
    /// Requests answered from the suggestion cache as is; `None` when not reported or no cache.
    pub cache_hit_rate: Option<f64>,
    /// Requests answered from the cache because the user typed into its suggestion.
    pub typed_through_hit_rate: Option<f64>,
    /// Requests that waited for an earlier keystroke's generation instead of cancelling it.
    pub joined_rate: Option<f64>,
    /// Requests answered with the rest of the earlier generation they joined.
    pub joined_hit_rate: Option<f64>,
    pub peak_rss_bytes: Option<u64>,
    /// Resident memory once a second from the start of the replay: (time, bytes).
    pub rss_series: Vec<(Duration, u64)>,
    /// From the first session's start to the last session's end (model loading excluded).
    pub wall: Duration,
    /// From starting the process to the model being ready.
    pub startup: Duration,
    /// Per keystroke, in replay order: its latency (ms) when its own request got a suggestion.
    pub latencies_ms: Vec<Option<f64>>,
}

impl RunStats {
    /// Latency, counts and share from the per-keystroke records; the rest is left unset.
    pub fn from_records(
        label: &str,
        records: &[KeystrokeRecord],
        wall: Duration,
        startup: Duration,
    ) -> RunStats {
        let per_keystroke: Vec<Option<f64>> = records
            .iter()
            .map(|record| {
                let answered = record.answered.filter(|_| record.suggested)?;
                Some((answered - record.sent).as_secs_f64() * 1e3)
            })
            .collect();
        let mut latencies_ms: Vec<f64> = per_keystroke.iter().flatten().copied().collect();
        latencies_ms.sort_by(f64::total_cmp);
        let suggested = records.iter().filter(|record| record.suggested).count();
        RunStats {
            label: label.to_owned(),
            latency_p50_ms: percentile(&latencies_ms, 50.0),
            latency_p95_ms: percentile(&latencies_ms, 95.0),
            latency_p99_ms: percentile(&latencies_ms, 99.0),
            keystrokes: records.len(),
            suggested,
            share_suggested: ratio(suggested as f64, records.len() as f64).unwrap_or(0.0),
            errors: records.iter().filter(|record| record.failed).count(),
            unanswered: None,
            prompt_tokens_evaluated_per_keystroke: None,
            prompt_tokens_evaluated_per_generation: None,
            prompt_tokens_per_generation: None,
            warm_up_tokens: None,
            cache_hit_rate: None,
            typed_through_hit_rate: None,
            joined_rate: None,
            joined_hit_rate: None,
            peak_rss_bytes: None,
            rss_series: Vec::new(),
            wall,
            startup,
            latencies_ms: per_keystroke,
        }
    }
}

/// Latency of two runs over the same keystrokes, counting only keystrokes that both runs
/// answered with a suggestion: the like-for-like comparison, which the per-run percentiles are
/// not when one run answers more (and harder) keystrokes than the other.
#[derive(Debug, Clone, PartialEq)]
pub struct Paired {
    /// Keystrokes both runs answered.
    pub n: usize,
    pub p50_ms: (f64, f64),
    pub p95_ms: (f64, f64),
}

/// `None` when the runs replayed different keystrokes or share no answered keystroke.
pub fn paired(a: &RunStats, b: &RunStats) -> Option<Paired> {
    if a.latencies_ms.len() != b.latencies_ms.len() {
        return None;
    }
    let (mut left, mut right): (Vec<f64>, Vec<f64>) =
        a.latencies_ms.iter().zip(&b.latencies_ms).filter_map(|(x, y)| Some(((*x)?, (*y)?))).unzip();
    left.sort_by(f64::total_cmp);
    right.sort_by(f64::total_cmp);
    Some(Paired {
        n: left.len(),
        p50_ms: (percentile(&left, 50.0)?, percentile(&right, 50.0)?),
        p95_ms: (percentile(&left, 95.0)?, percentile(&right, 95.0)?),
    })
}

/// Nearest-rank percentile of sorted values: the smallest value with at least `p`% of the values
/// at or below it. `None` for no values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// `numerator / denominator`, `None` when the denominator is zero.
pub fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator != 0.0).then(|| numerator / denominator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), Some(50.0));
        assert_eq!(percentile(&values, 95.0), Some(95.0));
        assert_eq!(percentile(&values, 99.0), Some(99.0));
        assert_eq!(percentile(&values, 100.0), Some(100.0));
        assert_eq!(percentile(&[3.0, 7.0, 9.0], 50.0), Some(7.0));
        assert_eq!(percentile(&[3.0, 7.0, 9.0], 99.0), Some(9.0));
        assert_eq!(percentile(&[4.0], 0.0), Some(4.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn only_keystrokes_with_their_own_suggestion_count_for_latency() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let records = [
            KeystrokeRecord { sent: at(0), answered: Some(at(100)), suggested: true, failed: false },
            KeystrokeRecord { sent: at(10), answered: Some(at(20)), suggested: false, failed: false },
            KeystrokeRecord { sent: at(20), answered: None, suggested: false, failed: false },
            KeystrokeRecord { sent: at(30), answered: Some(at(330)), suggested: true, failed: false },
            KeystrokeRecord { sent: at(40), answered: Some(at(41)), suggested: false, failed: true },
        ];
        let stats = RunStats::from_records("x", &records, Duration::ZERO, Duration::ZERO);
        assert_eq!((stats.keystrokes, stats.suggested, stats.errors), (5, 2, 1));
        assert_eq!(stats.share_suggested, 0.4);
        let p50 = stats.latency_p50_ms.unwrap();
        let p99 = stats.latency_p99_ms.unwrap();
        assert!((p50 - 100.0).abs() < 1e-6 && (p99 - 300.0).abs() < 1e-6, "{p50} {p99}");
    }

    #[test]
    fn paired_latency_counts_keystrokes_both_runs_answered() {
        let mut a = RunStats::from_records("a", &[], Duration::ZERO, Duration::ZERO);
        let mut b = a.clone();
        a.latencies_ms = vec![Some(10.0), Some(20.0), None, Some(40.0)];
        b.latencies_ms = vec![Some(100.0), None, Some(5.0), Some(80.0)];
        let both = paired(&a, &b).unwrap();
        assert_eq!(both, Paired { n: 2, p50_ms: (10.0, 80.0), p95_ms: (40.0, 100.0) });
        b.latencies_ms.pop();
        assert_eq!(paired(&a, &b), None, "different keystrokes");
    }
}
