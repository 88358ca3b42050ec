//! How a remote engine copes with a server that fails: a circuit breaker that stops asking a
//! server that keeps failing, a limit on requests in flight, and jittered backoff between tries.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::http::POLL;
use crate::CancelFlag;

/// Longest cooldown of an open circuit.
const MAX_COOLDOWN: Duration = Duration::from_secs(60);
/// First retry delay; doubles per try, with ±50% jitter.
pub(super) const RETRY_BASE: Duration = Duration::from_millis(100);

/// After `threshold` failures in a row, requests fail at once for a cooldown (doubling while the
/// server keeps failing, up to a minute); a success closes it.
pub(super) struct Breaker {
    state: Mutex<BreakerState>,
    threshold: u32,
    first_cooldown: Duration,
    /// The server, for messages.
    name: String,
}

#[derive(Debug, Default)]
struct BreakerState {
    failures: u32,
    /// Open until then.
    open_until: Option<Instant>,
    /// Cooldown of the next opening.
    cooldown: Option<Duration>,
}

impl Breaker {
    pub(super) fn new(threshold: u32, first_cooldown: Duration, name: String) -> Breaker {
        Breaker { state: Mutex::default(), threshold, first_cooldown, name }
    }

    /// Why requests fail at once now; Ok while the circuit is closed.
    pub(super) fn check(&self) -> Result<(), String> {
        let state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match state.open_until {
            Some(until) if Instant::now() < until => Err(format!(
                "the backend at {} failed {} times in a row; trying it again in {:.0} s",
                self.name,
                state.failures,
                until.saturating_duration_since(Instant::now()).as_secs_f64().ceil()
            )),
            _ => Ok(()),
        }
    }

    pub(super) fn record(&self, success: bool) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if success {
            if state.failures >= self.threshold {
                tracing::info!("backend {} answers again", self.name);
            }
            *state = BreakerState::default();
            return;
        }
        state.failures += 1;
        if state.failures >= self.threshold {
            let cooldown = state.cooldown.unwrap_or(self.first_cooldown);
            state.open_until = Some(Instant::now() + cooldown);
            state.cooldown = Some((cooldown * 2).min(MAX_COOLDOWN));
            tracing::warn!(
                "backend {}: {} failures in a row, pausing requests for {:.0} s",
                self.name,
                state.failures,
                cooldown.as_secs_f64()
            );
        }
    }
}

/// A counting semaphore that gives up when the request is cancelled.
#[derive(Debug, Default)]
pub(super) struct Limit {
    in_flight: Mutex<usize>,
    freed: Condvar,
}

pub(super) struct Permit<'a>(&'a Limit);

impl Limit {
    pub(super) fn acquire(&self, max: usize, cancel: &CancelFlag) -> Option<Permit<'_>> {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while *in_flight >= max.max(1) {
            if cancel.is_cancelled() {
                return None;
            }
            in_flight =
                self.freed.wait_timeout(in_flight, POLL).unwrap_or_else(|poisoned| poisoned.into_inner()).0;
        }
        *in_flight += 1;
        Some(Permit(self))
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) -= 1;
        self.0.freed.notify_one();
    }
}

/// `delay` ±50%, drawn from `seed`: no two editors retry in step.
pub(super) fn jittered(delay: Duration, seed: u64) -> Duration {
    let unit = (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64 / (1u64 << 53) as f64;
    delay.mul_f64(0.5 + unit)
}

/// Sleeps `delay` unless the request is cancelled first; false when it was.
pub(super) fn sleep_unless_cancelled(delay: Duration, cancel: &CancelFlag) -> bool {
    let until = Instant::now() + delay;
    while Instant::now() < until {
        if cancel.is_cancelled() {
            return false;
        }
        std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
    }
    !cancel.is_cancelled()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_circuit_opens_after_failures_in_a_row_and_a_success_closes_it() {
        let breaker = Breaker::new(3, Duration::from_secs(5), "http://127.0.0.1:1".into());
        for _ in 0..3 {
            assert!(breaker.check().is_ok());
            breaker.record(false);
        }
        let error = breaker.check().unwrap_err();
        assert!(error.contains("3 times in a row") && error.contains("trying it again in 5 s"), "{error}");
        breaker.record(true);
        assert!(breaker.check().is_ok());
    }

    #[test]
    fn retry_delays_are_jittered_around_the_base() {
        let delays: Vec<Duration> = (0..20).map(|seed| jittered(Duration::from_millis(100), seed)).collect();
        assert!(delays
            .iter()
            .all(|delay| *delay >= Duration::from_millis(50) && *delay <= Duration::from_millis(150)));
        assert!(delays.windows(2).any(|pair| pair[0] != pair[1]));
    }

    #[test]
    fn a_full_limit_gives_up_when_the_request_is_cancelled() {
        let limit = Limit::default();
        let held = limit.acquire(1, &CancelFlag::new()).expect("a free slot");
        let cancel = CancelFlag::new();
        cancel.cancel();
        assert!(limit.acquire(1, &cancel).is_none());
        drop(held);
        assert!(limit.acquire(1, &CancelFlag::new()).is_some());
    }
}
