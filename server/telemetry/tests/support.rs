//! Fixtures shared by the telemetry tests.

#![allow(dead_code)]

use std::path::PathBuf;

use wisp_telemetry::{Completion, Content, Event, EventKind, Latency, Record, Source, Trigger};

/// A fresh directory under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("wisp-telemetry-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn database(&self) -> PathBuf {
        self.0.join(wisp_telemetry::DATABASE_FILE_NAME)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn completion(id: &str, at_ms: i64) -> Completion {
    Completion {
        id: id.into(),
        at_ms,
        language: "rust".into(),
        model_id: "smollm2-135m-instruct-q4_1".into(),
        model_sha256: "ab".repeat(32),
        adapter_id: None,
        confidence: None,
        variant: "default".into(),
        trigger: Trigger::Automatic,
        source: Source::Model,
        latency: Latency { context_ms: 1.0, queue_ms: 2.0, prompt_ms: 10.0, decode_ms: 50.0, total_ms: 63.0 },
        prompt_tokens: 300,
        suggestion_tokens: 12,
        suggestion_utf16: 40,
        file_key: "0123456789abcdef".into(),
        content: None,
    }
}

pub fn with_content(mut completion: Completion, path: &str, prompt: &str, suggestion: &str) -> Completion {
    completion.suggestion_utf16 = suggestion.encode_utf16().count() as u32;
    completion.content =
        Some(Content { path: path.into(), prompt: prompt.into(), suggestion: suggestion.into() });
    completion
}

pub fn event(id: &str, at_ms: i64, kind: EventKind) -> Record {
    Record::Event(Event { completion_id: id.into(), at_ms, kind })
}

pub fn record(completion: Completion) -> Record {
    Record::Completion(Box::new(completion))
}

pub fn redactor() -> wisp_guard::Redactor {
    wisp_guard::Redactor::new([7u8; 32])
}
