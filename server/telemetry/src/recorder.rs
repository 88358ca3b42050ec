//! Writing without waiting: [`Recorder::record`] hands a record to a writer thread and returns
//! at once, so the LSP loop never waits on the disk.
//!
//! The writer takes whatever has queued up (at most [`MAX_BATCH`]) and writes it in one
//! transaction. A record is *acknowledged* when its transaction has committed:
//! [`Recorder::committed`] is the sequence number of the last such record, and
//! [`Recorder::wait_committed`] waits for one. An acknowledged record survives the process being
//! killed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::event::now_ms;
use crate::store::{Record, Retention, Store};

/// Records waiting for the writer at most; past this, new ones are dropped (and counted) rather
/// than blocking the editor. At a few hundred bytes each this bounds the queue to a few MiB.
pub const QUEUE_CAPACITY: usize = 16_384;
/// Records written per transaction at most: one commit (one WAL append) per batch keeps a burst
/// of thousands cheap, and a batch this size commits in milliseconds.
pub const MAX_BATCH: usize = 1_024;
/// How often the writer applies the retention bounds.
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(3_600);

/// Handle to the writer thread. Cloning shares the same writer.
#[derive(Clone)]
pub struct Recorder {
    sender: SyncSender<(u64, Record)>,
    shared: Arc<Shared>,
}

struct Shared {
    /// Held while a sequence number is taken and its record queued, so records reach the
    /// writer in sequence order and "committed up to n" means every record up to n.
    next_seq: Mutex<u64>,
    /// Sequence number of the last committed record, with a condvar for waiters.
    committed: Mutex<u64>,
    committed_changed: Condvar,
    dropped: AtomicU64,
    failed: AtomicU64,
    /// Sequence ranges of batches the database refused (rare: disk full, file removed).
    failed_ranges: Mutex<Vec<std::ops::RangeInclusive<u64>>>,
}

impl Recorder {
    /// Starts the writer thread on an open store.
    pub fn spawn(store: Store, retention: Retention) -> Recorder {
        let (sender, receiver) = sync_channel(QUEUE_CAPACITY);
        let shared = Arc::new(Shared {
            next_seq: Mutex::new(1),
            committed: Mutex::new(0),
            committed_changed: Condvar::new(),
            dropped: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            failed_ranges: Mutex::default(),
        });
        let writer_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("wisp-feedback-writer".into())
            .spawn(move || write_loop(store, retention, receiver, &writer_shared))
            .expect("spawning the feedback writer thread");
        Recorder { sender, shared }
    }

    /// Queues `record`; returns its sequence number, or `None` when the queue is full or the
    /// writer has stopped (the record is dropped and counted).
    pub fn record(&self, record: Record) -> Option<u64> {
        let mut next_seq = self.shared.next_seq.lock().unwrap_or_else(|p| p.into_inner());
        let seq = *next_seq;
        match self.sender.try_send((seq, record)) {
            Ok(()) => {
                *next_seq += 1;
                Some(seq)
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Sequence number of the last committed record (0 before the first commit).
    pub fn committed(&self) -> u64 {
        *self.shared.committed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until record `seq` has committed, at most `timeout`; true if it has (false if it
    /// timed out or its batch failed).
    pub fn wait_committed(&self, seq: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut committed = self.shared.committed.lock().unwrap_or_else(|p| p.into_inner());
        while *committed < seq {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            committed = self
                .shared
                .committed_changed
                .wait_timeout(committed, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        drop(committed);
        let failed = self.shared.failed_ranges.lock().unwrap_or_else(|p| p.into_inner());
        !failed.iter().any(|range| range.contains(&seq))
    }

    /// Waits until everything queued so far is committed, at most `timeout` (at shutdown).
    pub fn flush(&self, timeout: Duration) -> bool {
        let last = *self.shared.next_seq.lock().unwrap_or_else(|p| p.into_inner()) - 1;
        last == 0 || self.wait_committed(last, timeout)
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Batches the database refused (disk full, file removed); their records are lost.
    pub fn failed_batches(&self) -> u64 {
        self.shared.failed.load(Ordering::Relaxed)
    }
}

fn write_loop(mut store: Store, retention: Retention, receiver: Receiver<(u64, Record)>, shared: &Shared) {
    let mut last_retention = Instant::now();
    if let Err(error) = store.enforce_retention(retention, now_ms()) {
        tracing::warn!("feedback retention: {error}");
    }
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // `recv` fails only when every Recorder is gone: then the thread ends.
    while let Ok(first) = receiver.recv() {
        batch.clear();
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let first_seq = batch.first().map(|(seq, _)| *seq).unwrap_or(0);
        let last_seq = batch.last().map(|(seq, _)| *seq).unwrap_or(0);
        let records: Vec<Record> = batch.drain(..).map(|(_, record)| record).collect();
        if let Err(error) = store.write(&records) {
            shared.failed.fetch_add(1, Ordering::Relaxed);
            shared.failed_ranges.lock().unwrap_or_else(|p| p.into_inner()).push(first_seq..=last_seq);
            tracing::warn!("{} feedback records not stored: {error}", records.len());
        }
        // A failed batch also moves the mark (its range is remembered as failed), so nobody
        // waits forever on it.
        {
            let mut committed = shared.committed.lock().unwrap_or_else(|p| p.into_inner());
            *committed = (*committed).max(last_seq);
        }
        shared.committed_changed.notify_all();
        if last_retention.elapsed() >= RETENTION_INTERVAL {
            last_retention = Instant::now();
            if let Err(error) = store.enforce_retention(retention, now_ms()) {
                tracing::warn!("feedback retention: {error}");
            }
        }
    }
}
