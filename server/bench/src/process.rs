//! Child processes that are always killed (even when the benchmark fails half way), their peak
//! resident memory, and the scratch folder that holds their logs.

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;

/// How often a child's resident memory is read (ms): often enough to catch the peak of a prompt
/// evaluation, rare enough to cost nothing.
pub const RSS_SAMPLE_INTERVAL: Duration = Duration::from_millis(100);
/// How often a waiting loop looks at a child again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A folder under the system temp dir for logs. Kept after the run (the report and errors point
/// to the logs in it) except by tests, which remove it.
pub struct WorkDir {
    path: PathBuf,
    remove_on_drop: bool,
}

impl WorkDir {
    pub fn create(label: &str) -> anyhow::Result<WorkDir> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.subsec_nanos());
        let path = std::env::temp_dir().join(format!("wisp-bench-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(WorkDir { path, remove_on_drop: cfg!(test) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.remove_on_drop {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A child process that is killed and reaped when dropped, unless it already exited.
pub struct ChildGuard {
    child: Child,
    exited: Option<ExitStatus>,
}

impl ChildGuard {
    pub fn new(child: Child) -> ChildGuard {
        ChildGuard { child, exited: None }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The exit status, if the child has exited.
    pub fn try_exited(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().context("waiting for a child process")?;
        }
        Ok(self.exited)
    }

    /// Waits up to `timeout` for the child to exit; kills it after that. Returns the exit status
    /// when it exited by itself.
    pub fn wait_or_kill(&mut self, timeout: Duration) -> anyhow::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.try_exited()? {
                return Ok(Some(status));
            }
            thread::sleep(POLL_INTERVAL);
        }
        self.kill();
        Ok(None)
    }

    pub fn kill(&mut self) {
        if self.exited.is_none() {
            // Errors here mean it is already gone; there is nothing else to do.
            let _ = self.child.kill();
            self.exited = self.child.wait().ok();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Samples a process's resident set size (VmRSS) in a thread and keeps the peak.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    peak_bytes: Arc<AtomicU64>,
    /// One sample a second: (time since the start, bytes).
    series: Arc<std::sync::Mutex<Vec<(Duration, u64)>>>,
    thread: Option<JoinHandle<()>>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_bytes = Arc::new(AtomicU64::new(0));
        let series = Arc::new(std::sync::Mutex::new(Vec::new()));
        let thread = {
            let (stop, peak_bytes, series) =
                (Arc::clone(&stop), Arc::clone(&peak_bytes), Arc::clone(&series));
            thread::spawn(move || {
                let status_path = format!("/proc/{pid}/status");
                let started = std::time::Instant::now();
                let mut next_sample = Duration::ZERO;
                while !stop.load(Ordering::Relaxed) {
                    if let Some(bytes) =
                        std::fs::read_to_string(&status_path).ok().and_then(|status| vm_rss_bytes(&status))
                    {
                        peak_bytes.fetch_max(bytes, Ordering::Relaxed);
                        if started.elapsed() >= next_sample {
                            series.lock().unwrap_or_else(|p| p.into_inner()).push((started.elapsed(), bytes));
                            next_sample += Duration::from_secs(1);
                        }
                    }
                    thread::sleep(RSS_SAMPLE_INTERVAL);
                }
            })
        };
        RssSampler { stop, peak_bytes, series, thread: Some(thread) }
    }

    /// Stops sampling; the peak, or `None` when no sample could be read (not Linux).
    pub fn finish(self) -> Option<u64> {
        self.finish_with_series().0
    }

    /// Stops sampling; the peak and one sample a second.
    pub fn finish_with_series(mut self) -> (Option<u64>, Vec<(Duration, u64)>) {
        self.stop_thread();
        let series = std::mem::take(&mut *self.series.lock().unwrap_or_else(|p| p.into_inner()));
        (Some(self.peak_bytes.load(Ordering::Relaxed)).filter(|&bytes| bytes > 0), series)
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// `VmRSS:   12345 kB` of `/proc/PID/status`, in bytes.
pub fn vm_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kilobytes: u64 =
        line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kilobytes * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\twisp\nVmPeak:\t  900 kB\nVmRSS:\t   1234 kB\nThreads:\t3\n";
        assert_eq!(vm_rss_bytes(status), Some(1234 * 1024));
        assert_eq!(vm_rss_bytes("Name:\tzombie\n"), None);
    }

    #[test]
    fn the_sampler_sees_this_process() {
        let sampler = RssSampler::start(std::process::id());
        thread::sleep(RSS_SAMPLE_INTERVAL * 2);
        let peak = sampler.finish();
        if cfg!(target_os = "linux") {
            assert!(peak.is_some_and(|bytes| bytes > 1024 * 1024), "{peak:?}");
        }
    }

    #[test]
    fn a_dropped_guard_kills_its_child() {
        let child = std::process::Command::new("sleep").arg("30").spawn().expect("sleep runs");
        let pid = child.id();
        drop(ChildGuard::new(child));
        assert!(!Path::new(&format!("/proc/{pid}")).exists() || !cfg!(target_os = "linux"));
    }
}
