//! The inference worker: one dedicated thread that runs every model job in order.
//!
//! llama.cpp contexts are not thread-safe and inference blocks for hundreds of milliseconds, so
//! neither belongs on the LSP loop. Jobs are closures; each caller awaits its own answer. A panic
//! inside a job is caught and reported as an error; the worker keeps running.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// What the worker thread is asked to do.
enum Message {
    Run(Job),
    /// Finish the jobs queued before this and end the thread.
    Stop,
}

#[derive(Debug, Clone)]
pub struct InferenceWorker {
    jobs: mpsc::Sender<Message>,
    thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

/// Why a job gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// The job panicked; the message says where.
    Panicked(String),
    /// The worker thread is gone (only while the process shuts down).
    WorkerGone,
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobError::Panicked(message) => {
                write!(f, "internal error in the inference worker: {message} (please report it)")
            }
            JobError::WorkerGone => write!(f, "the inference worker has stopped"),
        }
    }
}

impl InferenceWorker {
    pub fn spawn() -> InferenceWorker {
        let (jobs, receiver) = mpsc::channel::<Message>();
        let thread = std::thread::Builder::new()
            .name("wisp-inference".into())
            .spawn(move || {
                for message in receiver {
                    match message {
                        Message::Run(job) => job(),
                        Message::Stop => return,
                    }
                }
            })
            .expect("spawning the inference thread");
        InferenceWorker { jobs, thread: Arc::new(Mutex::new(Some(thread))) }
    }

    /// Ends the worker after the jobs already queued (cancel them first so they end quickly) and
    /// waits up to `limit` for it. The process must not exit while llama.cpp is running on this
    /// thread: exit tears down llama.cpp's globals under it.
    pub fn stop(&self, limit: Duration) -> bool {
        let _ = self.jobs.send(Message::Stop);
        let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return true;
        };
        let deadline = std::time::Instant::now() + limit;
        while !thread.is_finished() {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        thread.join().is_ok()
    }

    /// Runs `job` on the worker and waits for its result without blocking the async runtime.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, JobError> {
        let (sender, receiver) = oneshot::channel();
        let wrapped: Job = Box::new(move || {
            let result = catch_unwind(AssertUnwindSafe(job))
                .map_err(|panic| JobError::Panicked(panic_message(&panic)));
            // The caller may have gone (cancelled request); nothing to tell then.
            let _ = sender.send(result);
        });
        self.jobs.send(Message::Run(wrapped)).map_err(|_| JobError::WorkerGone)?;
        receiver.await.map_err(|_| JobError::WorkerGone)?
    }
}

pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_in_order_and_panics_are_caught() {
        let worker = InferenceWorker::spawn();
        assert_eq!(worker.run(|| 1 + 1).await, Ok(2));
        let result = worker.run(|| -> u32 { panic!("boom") }).await;
        assert_eq!(result, Err(JobError::Panicked("boom".into())));
        assert_eq!(worker.run(|| "still alive").await, Ok("still alive"));
    }

    #[tokio::test]
    async fn stop_waits_for_the_running_job_and_refuses_new_ones() {
        let worker = InferenceWorker::spawn();
        let running = worker.run(|| std::thread::sleep(Duration::from_millis(100)));
        let stopper = worker.clone();
        let stopped = std::thread::spawn(move || stopper.stop(Duration::from_secs(5)));
        assert_eq!(running.await, Ok(()));
        assert!(stopped.join().unwrap());
        assert_eq!(worker.run(|| 1).await, Err(JobError::WorkerGone));
    }
}
