//! Suggestion feedback in the server: the id and accept command on each answered item, the
//! client's show / partial-accept / dismiss reports, dismissals inferred from edits and newer
//! requests, and survival measurements after accepts — recorded through `wisp_telemetry`.
//!
//! Nothing here runs unless `telemetry.events` is on. Recording never waits on the disk (the
//! recorder's writer thread does), except the accept command, which answers once its event has
//! committed so a client knows it is stored.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tower_lsp_server::ls_types::Uri;
use wisp_telemetry::{
    event::now_ms, Completion, Content, DismissReason, Event, EventKind, Latency, Record, Recorder, Source,
    Trigger,
};

/// The command an inline item runs on accept (`workspace/executeCommand`).
pub const ACCEPT_COMMAND: &str = "wisp.acceptCompletion";
/// Suggestions remembered for feedback at most; older ones are forgotten (a client reporting on
/// one of those gets a clear error). A few hundred cover minutes of typing.
pub const MAX_TRACKED: usize = 512;
/// How long shutdown (and `wisp/stats`, which counts everything recorded before it) waits for
/// queued feedback to be stored.
pub const FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
/// How long the accept command waits for its event to be stored before answering anyway.
pub const ACCEPT_COMMIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// What the server needs to know about a suggestion it answered.
#[derive(Debug, Clone)]
pub struct Issued {
    pub uri: Uri,
    /// The suggestion text.
    pub text: String,
    /// Byte offset in the document where it would be inserted.
    pub offset: usize,
    /// Text typed at `offset` since it was answered, while that agreed with it.
    pub typed: String,
    pub shown: bool,
    /// Largest partial accept so far, UTF-16 code units.
    pub accepted_utf16: u32,
    pub accepted: bool,
    pub dismissed: bool,
    /// The document received the whole suggestion (typed or applied by the editor): it is not
    /// dismissed by what follows, whether or not the accept command comes.
    pub applied: bool,
    /// Bumped by each accept: a survival measurement scheduled by an earlier one is skipped.
    pub accept_generation: u64,
}

impl Issued {
    fn decided(&self) -> bool {
        self.accepted || self.dismissed || self.applied || self.accepted_utf16 > 0
    }
}

/// A recorder and the key of the open database.
struct Sink {
    recorder: Recorder,
    key: [u8; wisp_telemetry::keys::KEY_BYTES],
    database: PathBuf,
}

/// Feedback state of the server.
#[derive(Default)]
pub struct Feedback {
    sink: Mutex<Option<Arc<Sink>>>,
    issued: Mutex<Tracked>,
    counter: AtomicU64,
    /// Distinguishes this process's completion ids from other sessions'.
    session: Mutex<String>,
}

#[derive(Default)]
struct Tracked {
    by_id: HashMap<String, Issued>,
    order: VecDeque<String>,
    /// The latest suggestion answered for each document.
    latest: HashMap<Uri, String>,
}

/// Everything recorded with a suggestion besides its text.
pub struct Metadata {
    pub language: String,
    pub model_id: String,
    pub model_sha256: String,
    pub variant: String,
    pub trigger: Trigger,
    pub source: Source,
    pub latency: Latency,
    pub prompt_tokens: u32,
    pub suggestion_tokens: u32,
    /// How sure the model was of the suggestion (0 to 1), when it made it just now.
    pub confidence: Option<f32>,
    /// Workspace-relative path.
    pub path: String,
    /// The prompt, when content is to be kept.
    pub prompt: Option<String>,
}

impl Feedback {
    /// Opens (or reopens at another path) the database, or closes it when `database` is None.
    pub fn configure(
        &self,
        database: Option<PathBuf>,
        retention: wisp_telemetry::Retention,
    ) -> Result<(), String> {
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        let Some(database) = database else {
            *sink = None;
            return Ok(());
        };
        if sink.as_ref().is_some_and(|open| open.database == database) {
            return Ok(());
        }
        let (store, key) = wisp_telemetry::open(&database)?;
        let recorder = Recorder::spawn(store, retention);
        *sink = Some(Arc::new(Sink { recorder, key, database }));
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        if session.is_empty() {
            *session = format!("{:08x}", rand_u32());
        }
        Ok(())
    }

    pub fn enabled(&self) -> bool {
        self.sink.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    fn sink(&self) -> Option<Arc<Sink>> {
        self.sink.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A fresh completion id (before the variant is chosen, which hashes it).
    pub fn next_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        format!("wisp-{}-{n}", self.session.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Records a suggestion answered to the editor under `id`. A previous undecided suggestion
    /// of the same document is dismissed as superseded.
    pub fn issue(&self, id: &str, uri: &Uri, offset: usize, text: &str, metadata: Metadata) {
        let Some(sink) = self.sink() else { return };
        let now = now_ms();
        let superseded = {
            let mut tracked = self.issued.lock().unwrap_or_else(|p| p.into_inner());
            let previous = tracked.latest.insert(uri.clone(), id.to_owned());
            let superseded = previous.and_then(|previous| {
                let issued = tracked.by_id.get_mut(&previous)?;
                (!issued.decided()).then(|| {
                    issued.dismissed = true;
                    previous
                })
            });
            tracked.by_id.insert(
                id.to_owned(),
                Issued {
                    uri: uri.clone(),
                    text: text.to_owned(),
                    offset,
                    typed: String::new(),
                    shown: false,
                    accepted_utf16: 0,
                    accepted: false,
                    dismissed: false,
                    applied: false,
                    accept_generation: 0,
                },
            );
            tracked.order.push_back(id.to_owned());
            while tracked.order.len() > MAX_TRACKED {
                if let Some(old) = tracked.order.pop_front() {
                    tracked.by_id.remove(&old);
                }
            }
            superseded
        };
        if let Some(previous) = superseded {
            self.event(&sink, &previous, now, EventKind::Dismissed { reason: DismissReason::Superseded });
        }
        let content = metadata.prompt.map(|prompt| Content {
            path: metadata.path.clone(),
            prompt,
            suggestion: text.to_owned(),
        });
        let completion = Completion {
            id: id.to_owned(),
            at_ms: now,
            language: metadata.language,
            model_id: metadata.model_id,
            model_sha256: metadata.model_sha256,
            adapter_id: None,
            confidence: metadata.confidence,
            variant: metadata.variant,
            trigger: metadata.trigger,
            source: metadata.source,
            latency: metadata.latency,
            prompt_tokens: metadata.prompt_tokens,
            suggestion_tokens: metadata.suggestion_tokens,
            suggestion_utf16: text.encode_utf16().count() as u32,
            file_key: wisp_telemetry::keys::file_key(&sink.key, &metadata.path),
            content,
        };
        sink.recorder.record(Record::Completion(Box::new(completion)));
    }

    fn event(&self, sink: &Sink, id: &str, at_ms: i64, kind: EventKind) -> Option<u64> {
        sink.recorder.record(Record::Event(Event { completion_id: id.to_owned(), at_ms, kind }))
    }

    /// A request for `uri` answered with nothing: the editor hides the suggestion it showed.
    pub fn superseded(&self, uri: &Uri) {
        let Some(sink) = self.sink() else { return };
        let superseded = {
            let mut tracked = self.issued.lock().unwrap_or_else(|p| p.into_inner());
            let Some(id) = tracked.latest.get(uri).cloned() else { return };
            match tracked.by_id.get_mut(&id) {
                Some(issued) if !issued.decided() => {
                    issued.dismissed = true;
                    id
                }
                _ => return,
            }
        };
        self.event(&sink, &superseded, now_ms(), EventKind::Dismissed { reason: DismissReason::Superseded });
    }

    /// `textDocument/didShowCompletion`. Err when the id is unknown.
    pub fn shown(&self, id: &str) -> Result<(), String> {
        let sink = self.sink().ok_or_else(disabled)?;
        let first = self.update(id, |issued| !std::mem::replace(&mut issued.shown, true))?;
        if first {
            self.event(&sink, id, now_ms(), EventKind::Shown);
        }
        Ok(())
    }

    /// The accept command. Returns the recorder's sequence number to wait on, and what to
    /// measure survival of.
    pub fn accepted(&self, id: &str) -> Result<(Option<u64>, Survival), String> {
        let sink = self.sink().ok_or_else(disabled)?;
        let survival = self.update(id, |issued| {
            let first = !issued.accepted;
            issued.accepted = true;
            issued.shown = true;
            issued.accept_generation += 1;
            (first, survival_of(id, issued, issued.text.clone()))
        })?;
        let seq = survival.0.then(|| self.event(&sink, id, now_ms(), EventKind::Accepted)).flatten();
        Ok((seq, survival.1))
    }

    /// `textDocument/didPartiallyAcceptCompletion`: `accepted_utf16` is cumulative.
    pub fn partially_accepted(&self, id: &str, accepted_utf16: u32) -> Result<Survival, String> {
        let sink = self.sink().ok_or_else(disabled)?;
        let survival = self.update(id, |issued| {
            issued.shown = true;
            issued.accepted_utf16 = issued.accepted_utf16.max(accepted_utf16);
            issued.accept_generation += 1;
            let kept = wisp_telemetry::dataset::utf16_prefix(&issued.text, issued.accepted_utf16 as usize);
            survival_of(id, issued, kept.to_owned())
        })?;
        self.event(&sink, id, now_ms(), EventKind::PartiallyAccepted { accepted_utf16 });
        Ok(survival)
    }

    /// `wisp/didDismissCompletion`.
    pub fn dismissed(&self, id: &str, reason: DismissReason) -> Result<(), String> {
        let sink = self.sink().ok_or_else(disabled)?;
        let first = self.update(id, |issued| {
            let first = !issued.decided();
            issued.dismissed = true;
            first
        })?;
        if first {
            self.event(&sink, id, now_ms(), EventKind::Dismissed { reason });
        }
        Ok(())
    }

    /// A survival measurement is due: records it if no later accept replaced it.
    pub fn survived(&self, survival: &Survival, after_s: u32, kept_ratio: f64) {
        let Some(sink) = self.sink() else { return };
        let current = self
            .issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_id
            .get(&survival.id)
            .is_none_or(|issued| issued.accept_generation == survival.generation);
        if current {
            self.event(&sink, &survival.id, now_ms(), EventKind::Survived { after_s, kept_ratio });
        }
    }

    /// Waits (blocking) until everything recorded so far is stored, at most `timeout`.
    pub fn flush(&self, timeout: std::time::Duration) -> bool {
        self.sink().is_none_or(|sink| sink.recorder.flush(timeout))
    }

    /// Waits (blocking) until record `seq` is stored.
    pub fn wait_stored(&self, seq: u64) -> bool {
        self.sink().is_some_and(|sink| sink.recorder.wait_committed(seq, ACCEPT_COMMIT_TIMEOUT))
    }

    /// A text change in a document: `start` is the byte offset where `removed` bytes were
    /// replaced by `inserted`. A shown, undecided suggestion that the change disagrees with is
    /// dismissed as contradicted; typing that agrees with it keeps it.
    pub fn changed(&self, uri: &Uri, start: usize, removed: usize, inserted: &str) {
        let Some(sink) = self.sink() else { return };
        let contradicted = {
            let mut tracked = self.issued.lock().unwrap_or_else(|p| p.into_inner());
            let Some(id) = tracked.latest.get(uri).cloned() else { return };
            let Some(issued) = tracked.by_id.get_mut(&id) else { return };
            if issued.decided() || !issued.shown {
                return;
            }
            let typed_end = issued.offset + issued.typed.len();
            let rest = &issued.text[issued.typed.len().min(issued.text.len())..];
            let agrees = if removed == 0 && start == typed_end {
                // Typing at the cursor: agrees while it continues the suggestion.
                let typed = format!("{}{inserted}", issued.typed);
                let agrees = issued.text.starts_with(&typed);
                if agrees {
                    issued.applied = typed == issued.text;
                    issued.typed = typed;
                }
                agrees
            } else if start <= typed_end && start + removed >= issued.offset && inserted.ends_with(rest) {
                // The editor applying the suggestion (over the typed part, if any).
                issued.applied = true;
                true
            } else if start + removed < issued.offset {
                // An edit above: the suggestion's place moves with it.
                issued.offset = issued.offset + inserted.len() - removed;
                true
            } else {
                // After the suggestion it changes nothing; over it, it contradicts it.
                start > typed_end
            };
            if agrees {
                None
            } else {
                issued.dismissed = true;
                Some(id)
            }
        };
        if let Some(id) = contradicted {
            self.event(&sink, &id, now_ms(), EventKind::Dismissed { reason: DismissReason::Contradicted });
        }
    }

    fn update<T>(&self, id: &str, f: impl FnOnce(&mut Issued) -> T) -> Result<T, String> {
        let mut tracked = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        let issued = tracked.by_id.get_mut(id).ok_or_else(|| {
            format!(
                "unknown completion id {id:?} — it is not one this server answered recently (the last {MAX_TRACKED} are remembered)"
            )
        })?;
        Ok(f(issued))
    }
}

/// What a survival measurement checks: is `accepted` still near `offset` in `uri`?
#[derive(Debug, Clone)]
pub struct Survival {
    pub id: String,
    pub uri: Uri,
    pub offset: usize,
    pub accepted: String,
    pub generation: u64,
}

fn survival_of(id: &str, issued: &Issued, accepted: String) -> Survival {
    Survival {
        id: id.to_owned(),
        uri: issued.uri.clone(),
        offset: issued.offset,
        accepted,
        generation: issued.accept_generation,
    }
}

fn disabled() -> String {
    "suggestion feedback is off — set \"telemetry.events\" to true to record it".into()
}

/// A random number for the session id (not security-sensitive).
fn rand_u32() -> u32 {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|since| since.subsec_nanos())
            .unwrap_or(0);
        return nanos ^ std::process::id();
    }
    u32::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> Metadata {
        Metadata {
            language: "rust".into(),
            model_id: "m".into(),
            model_sha256: String::new(),
            variant: "default".into(),
            trigger: Trigger::Automatic,
            source: Source::Model,
            latency: Latency::default(),
            prompt_tokens: 10,
            suggestion_tokens: 3,
            confidence: Some(0.5),
            path: "src/lib.rs".into(),
            prompt: None,
        }
    }

    /// A feedback state writing to a fresh database; the outcomes by id after `f`.
    fn outcomes(
        name: &str,
        f: impl FnOnce(&Feedback, &Uri),
    ) -> HashMap<String, wisp_telemetry::CompletionOutcome> {
        let dir = std::env::temp_dir().join(format!("wisp-feedback-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let database = dir.join("feedback.sqlite3");
        let feedback = Feedback::default();
        feedback.configure(Some(database.clone()), wisp_telemetry::Retention::default()).unwrap();
        let uri: Uri = "file:///tmp/lib.rs".parse().unwrap();
        f(&feedback, &uri);
        assert!(feedback.flush(std::time::Duration::from_secs(10)));
        let (store, _) = wisp_telemetry::open(&database).unwrap();
        let outcomes = store.outcomes_since(0).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        outcomes.into_iter().map(|outcome| (outcome.completion.id.clone(), outcome)).collect()
    }

    #[test]
    fn typing_that_agrees_keeps_a_suggestion_and_typing_that_disagrees_dismisses_it() {
        let outcomes = outcomes("typing", |feedback, uri| {
            feedback.issue("a", uri, 100, "value + 1", metadata());
            feedback.shown("a").unwrap();
            feedback.changed(uri, 100, 0, "v");
            feedback.changed(uri, 101, 0, "al");
            feedback.issue("b", uri, 200, "count", metadata());
            feedback.shown("b").unwrap();
            feedback.changed(uri, 200, 0, "x");
        });
        // "a" agreed with the typing until "b" replaced it.
        assert_eq!(outcomes["a"].dismissed, Some(DismissReason::Superseded));
        assert_eq!(outcomes["b"].dismissed, Some(DismissReason::Contradicted));
    }

    #[test]
    fn edits_above_move_a_suggestion_and_an_applied_one_is_not_dismissed() {
        let outcomes = outcomes("moves", |feedback, uri| {
            feedback.issue("a", uri, 100, "x)", metadata());
            feedback.shown("a").unwrap();
            // A line inserted above, then backspace right before the suggestion.
            feedback.changed(uri, 10, 0, "// note\n");
            feedback.changed(uri, 107, 1, "");
            feedback.issue("b", uri, 300, "done();", metadata());
            feedback.shown("b").unwrap();
            // The editor applies it, then the next request answers nothing.
            feedback.changed(uri, 300, 0, "done();");
            feedback.superseded(uri);
            feedback.accepted("b").unwrap();
        });
        assert_eq!(outcomes["a"].dismissed, Some(DismissReason::Contradicted));
        assert!(outcomes["b"].accepted);
        assert_eq!(outcomes["b"].dismissed, None);
    }

    #[test]
    fn reports_on_unknown_ids_are_errors_that_say_so() {
        let feedback = Feedback::default();
        assert!(feedback.shown("x").unwrap_err().contains("telemetry.events"));
        outcomes("unknown", |feedback, _| {
            assert!(feedback.shown("nope").unwrap_err().contains("unknown completion id"));
        });
    }
}
