//! An acknowledged event survives `kill -9` of the process writing it, and the database opens
//! cleanly afterwards.
//!
//! The test runs itself again as a child process (selected by an environment variable) that
//! records a burst of 10,000 events and prints how far the writer has committed; the parent
//! kills it with SIGKILL part-way and checks every acknowledged event is in the database.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;
use wisp_telemetry::{EventKind, Recorder, Retention, Store};

const CHILD_ENV: &str = "WISP_TELEMETRY_BURST_CHILD_DB";
const BURST: i64 = 10_000;
/// The parent kills the child once this many events are acknowledged.
const KILL_AFTER_ACKNOWLEDGED: u64 = 2_000;

#[test]
fn kill_9_during_a_burst_of_10000_events_keeps_every_acknowledged_event() {
    if let Some(database) = std::env::var_os(CHILD_ENV) {
        burst_child(std::path::Path::new(&database));
        return;
    }
    let dir = TempDir::new("crash");
    let database = dir.database();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill_9_during_a_burst_of_10000_events_keeps_every_acknowledged_event",
            "--nocapture",
        ])
        .env(CHILD_ENV, &database)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acknowledged = 0u64;
    let mut finished_before_kill = false;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("acknowledged ") {
            // Record 1 is the completion; events are records 2..=BURST+1.
            acknowledged = n.trim().parse::<u64>().unwrap().saturating_sub(1);
            if acknowledged >= KILL_AFTER_ACKNOWLEDGED {
                break;
            }
        }
        if line.starts_with("burst finished") {
            finished_before_kill = true;
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix: no destructors, no final commit.
    child.wait().unwrap();
    assert!(!finished_before_kill, "the burst finished before the kill; the test proves nothing");
    assert!(acknowledged >= KILL_AFTER_ACKNOWLEDGED);

    let store = Store::open(&database, redactor()).expect("the database opens after kill -9");
    let integrity: String =
        store.connection().query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    assert_eq!(integrity, "ok");
    let mut statement = store.connection().prepare("SELECT at_ms FROM events ORDER BY at_ms").unwrap();
    let stored: Vec<i64> = statement.query_map([], |row| row.get(0)).unwrap().map(Result::unwrap).collect();
    assert!(stored.len() as u64 >= acknowledged, "{} stored < {acknowledged} acknowledged", stored.len());
    assert!(stored.len() < BURST as usize, "the kill came after the whole burst was stored");
    // Events are numbered 0.. in the order recorded: each acknowledged one is there.
    for (i, at_ms) in stored.iter().take(acknowledged as usize).enumerate() {
        assert_eq!(*at_ms, i as i64, "acknowledged event {i} is missing");
    }
}

fn burst_child(database: &std::path::Path) {
    let store = Store::open(database, redactor()).unwrap();
    let recorder = Recorder::spawn(store, Retention::default());
    let reporter = recorder.clone();
    std::thread::spawn(move || {
        let stdout = std::io::stdout();
        loop {
            let committed = reporter.committed();
            writeln!(stdout.lock(), "acknowledged {committed}").unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    recorder.record(record(completion("burst", 0))).unwrap();
    for i in 0..BURST {
        recorder.record(event("burst", i, EventKind::Shown)).expect("queue has room");
        // A burst, but one that lasts long enough for the parent to kill it part-way.
        if i % 20 == 19 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    recorder.wait_committed(BURST as u64 + 1, Duration::from_secs(60));
    println!("burst finished");
    std::thread::sleep(Duration::from_secs(60));
}
