//! The feedback database: SQLite in WAL mode, one file under the user's data directory.
//!
//! [`Store`] is the synchronous handle (the CLI, the writer thread, tests). Durability: WAL with
//! `synchronous = NORMAL` — a committed transaction survives the process being killed (the WAL
//! is in the OS's hands once `COMMIT` returns); only a power loss can take the last
//! transactions. Content is redacted here, on the way in, whatever the caller did.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use wisp_guard::Redactor;

use crate::event::{Completion, DismissReason, Event, EventKind, Latency, Source, Trigger};
use crate::schema;

/// How long SQLite waits for another connection's write lock (the CLI reading while the server
/// writes) before giving up, in milliseconds.
const BUSY_TIMEOUT_MS: u64 = 5_000;
/// Oldest completions deleted per round when the database is over its size bound: small enough
/// that a round is quick, large enough that few rounds are needed.
const RETENTION_DELETE_BATCH: i64 = 500;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot open the feedback database at {path}: {source} — check the directory's permissions, or move the file away and Wisp starts a new one"
    )]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error(
        "the feedback database at {path} has schema version {found}, newer than this Wisp understands ({supported}) — update Wisp, or set telemetry.path to another file"
    )]
    NewerSchema { path: PathBuf, found: u32, supported: u32 },
    #[error("feedback database error: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// How much history the database keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Completions older than this many days are deleted with their events.
    pub max_days: u32,
    /// Past this size the oldest completions are deleted until it fits.
    pub max_bytes: u64,
}

impl Default for Retention {
    fn default() -> Retention {
        // 90 days covers a quarter of A/B history; 256 MiB holds about a million metadata-only
        // completions, or some tens of thousands with content.
        Retention { max_days: 90, max_bytes: 256 << 20 }
    }
}

/// One thing to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Completion(Box<Completion>),
    Event(Event),
}

/// A completion and what happened to it, as stats and exports read it.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionOutcome {
    pub completion: Completion,
    pub shown: bool,
    pub accepted: bool,
    /// Largest partial accept, in UTF-16 code units (0 if none).
    pub partially_accepted_utf16: u32,
    pub dismissed: Option<DismissReason>,
    /// `(after_s, kept_ratio)` of each survival measurement.
    pub survival: Vec<(u32, f64)>,
}

pub struct Store {
    connection: Connection,
    path: PathBuf,
    redactor: Redactor,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it to the latest schema.
    pub fn open(path: &Path, redactor: Redactor) -> Result<Store, StoreError> {
        Store::open_at_version(path, redactor, schema::LATEST)
    }

    /// Like [`Store::open`] but migrates only up to `version` (tests of the migrations).
    pub fn open_at_version(path: &Path, redactor: Redactor, version: u32) -> Result<Store, StoreError> {
        let open_error = |source| StoreError::Open { path: path.to_owned(), source };
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|error| open_error(rusqlite::Error::ToSqlConversionFailure(Box::new(error))))?;
        }
        let mut connection = Connection::open(path).map_err(open_error)?;
        connection.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS)).map_err(open_error)?;
        // auto_vacuum only takes effect before the first table exists.
        connection.pragma_update(None, "auto_vacuum", "INCREMENTAL").map_err(open_error)?;
        let mode: String =
            connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)).map_err(open_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!("feedback database at {} is in {mode} mode, not WAL", path.display());
        }
        connection.pragma_update(None, "synchronous", "NORMAL").map_err(open_error)?;
        connection.pragma_update(None, "foreign_keys", "ON").map_err(open_error)?;
        // A damaged file fails here rather than on the first write.
        let found = schema::version(&connection).map_err(open_error)?;
        if found > schema::LATEST {
            return Err(StoreError::NewerSchema { path: path.to_owned(), found, supported: schema::LATEST });
        }
        schema::migrate(&mut connection, version).map_err(open_error)?;
        Ok(Store { connection, path: path.to_owned(), redactor })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(schema::version(&self.connection)?)
    }

    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Writes `records` in one transaction. A record that cannot be written (an event whose
    /// completion is unknown, a duplicate id) is skipped with a warning; the others are kept.
    /// Returns how many were written.
    pub fn write(&mut self, records: &[Record]) -> Result<usize, StoreError> {
        let transaction = self.connection.transaction()?;
        let mut written = 0;
        {
            let mut insert_completion = transaction.prepare_cached(
                "INSERT INTO completions (id, at_ms, language, model_id, model_sha256, adapter_id,
                    variant, trigger_kind, source, context_ms, queue_ms, prompt_ms, decode_ms,
                    total_ms, prompt_tokens, suggestion_tokens, suggestion_utf16, file_key, path,
                    prompt, suggestion, confidence)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                    ?18, ?19, ?20, ?21, ?22)",
            )?;
            let mut insert_event = transaction.prepare_cached(
                "INSERT INTO events (completion_id, at_ms, kind, accepted_utf16, reason, after_s,
                    kept_ratio) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for record in records {
                let result = match record {
                    Record::Completion(completion) => {
                        let content = completion.content.as_ref().map(|content| {
                            (
                                self.redactor.redact(&content.path).text,
                                self.redactor.redact(&content.prompt).text,
                                self.redactor.redact(&content.suggestion).text,
                            )
                        });
                        let (path, prompt, suggestion) = match content {
                            Some((path, prompt, suggestion)) => (Some(path), Some(prompt), Some(suggestion)),
                            None => (None, None, None),
                        };
                        let latency = &completion.latency;
                        insert_completion.execute(params![
                            completion.id,
                            completion.at_ms,
                            completion.language,
                            completion.model_id,
                            completion.model_sha256,
                            completion.adapter_id,
                            completion.variant,
                            completion.trigger.name(),
                            completion.source.name(),
                            latency.context_ms,
                            latency.queue_ms,
                            latency.prompt_ms,
                            latency.decode_ms,
                            latency.total_ms,
                            completion.prompt_tokens,
                            completion.suggestion_tokens,
                            completion.suggestion_utf16,
                            completion.file_key,
                            path,
                            prompt,
                            suggestion,
                            completion.confidence,
                        ])
                    }
                    Record::Event(event) => {
                        let (accepted, reason, after_s, kept_ratio) = match &event.kind {
                            EventKind::PartiallyAccepted { accepted_utf16 } => {
                                (Some(*accepted_utf16), None, None, None)
                            }
                            EventKind::Dismissed { reason } => (None, Some(reason.name()), None, None),
                            EventKind::Survived { after_s, kept_ratio } => {
                                (None, None, Some(*after_s), Some(*kept_ratio))
                            }
                            EventKind::Shown | EventKind::Accepted => (None, None, None, None),
                        };
                        insert_event.execute(params![
                            event.completion_id,
                            event.at_ms,
                            event.kind.name(),
                            accepted,
                            reason,
                            after_s,
                            kept_ratio,
                        ])
                    }
                };
                match result {
                    Ok(_) => written += 1,
                    Err(error) => tracing::warn!("feedback record not stored: {error}"),
                }
            }
        }
        transaction.commit()?;
        Ok(written)
    }

    /// Deletes what is past the retention bounds; returns the number of completions deleted.
    pub fn enforce_retention(&mut self, retention: Retention, now_ms: i64) -> Result<usize, StoreError> {
        let cutoff = now_ms - i64::from(retention.max_days) * 86_400_000;
        let mut deleted = self.connection.execute("DELETE FROM completions WHERE at_ms < ?1", [cutoff])?;
        while self.used_bytes()? > retention.max_bytes {
            let n = self.connection.execute(
                "DELETE FROM completions WHERE id IN
                    (SELECT id FROM completions ORDER BY at_ms LIMIT ?1)",
                [RETENTION_DELETE_BATCH],
            )?;
            if n == 0 {
                break;
            }
            deleted += n;
        }
        if deleted > 0 {
            self.connection.execute_batch("PRAGMA incremental_vacuum")?;
        }
        Ok(deleted)
    }

    /// Bytes in use by live pages.
    pub fn used_bytes(&self) -> Result<u64, StoreError> {
        let pages: i64 = self.connection.query_row("PRAGMA page_count", [], |row| row.get(0))?;
        let free: i64 = self.connection.query_row("PRAGMA freelist_count", [], |row| row.get(0))?;
        let size: i64 = self.connection.query_row("PRAGMA page_size", [], |row| row.get(0))?;
        Ok(((pages - free).max(0) * size) as u64)
    }

    pub fn count_events(&self) -> Result<u64, StoreError> {
        Ok(self.connection.query_row("SELECT COUNT(*) FROM events", [], |row| row.get::<_, i64>(0))? as u64)
    }

    pub fn count_completions(&self) -> Result<u64, StoreError> {
        Ok(self.connection.query_row("SELECT COUNT(*) FROM completions", [], |row| row.get::<_, i64>(0))?
            as u64)
    }

    /// One completion by id.
    pub fn completion(&self, id: &str) -> Result<Option<Completion>, StoreError> {
        let mut statement = self.connection.prepare_cached(&format!("{COMPLETION_SELECT} WHERE id = ?1"))?;
        Ok(statement.query_row([id], completion_from_row).optional()?)
    }

    /// Every completion made at or after `since_ms`, oldest first, with what happened to it.
    pub fn outcomes_since(&self, since_ms: i64) -> Result<Vec<CompletionOutcome>, StoreError> {
        let mut outcomes = Vec::new();
        let mut index = std::collections::HashMap::new();
        let mut statement =
            self.connection.prepare(&format!("{COMPLETION_SELECT} WHERE at_ms >= ?1 ORDER BY at_ms, id"))?;
        for completion in statement.query_map([since_ms], completion_from_row)? {
            let completion = completion?;
            index.insert(completion.id.clone(), outcomes.len());
            outcomes.push(CompletionOutcome {
                completion,
                shown: false,
                accepted: false,
                partially_accepted_utf16: 0,
                dismissed: None,
                survival: Vec::new(),
            });
        }
        let mut events = self.connection.prepare(
            "SELECT e.completion_id, e.kind, e.accepted_utf16, e.reason, e.after_s, e.kept_ratio
             FROM events e JOIN completions c ON c.id = e.completion_id
             WHERE c.at_ms >= ?1 ORDER BY e.seq",
        )?;
        let mut rows = events.query([since_ms])?;
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            let Some(&position) = index.get(&id) else { continue };
            let outcome = &mut outcomes[position];
            let kind: String = row.get(1)?;
            match kind.as_str() {
                "shown" => outcome.shown = true,
                "accepted" => outcome.accepted = true,
                "partially_accepted" => {
                    let accepted: Option<u32> = row.get(2)?;
                    outcome.partially_accepted_utf16 =
                        outcome.partially_accepted_utf16.max(accepted.unwrap_or(0));
                }
                "dismissed" => {
                    let reason: Option<String> = row.get(3)?;
                    outcome.dismissed = reason.as_deref().and_then(DismissReason::from_name);
                }
                "survived" => {
                    let after_s: Option<u32> = row.get(4)?;
                    let kept: Option<f64> = row.get(5)?;
                    if let (Some(after_s), Some(kept)) = (after_s, kept) {
                        outcome.survival.push((after_s, kept));
                    }
                }
                other => tracing::debug!("unknown event kind {other:?} in the feedback database"),
            }
        }
        Ok(outcomes)
    }
}

const COMPLETION_SELECT: &str = "SELECT id, at_ms, language, model_id, model_sha256, adapter_id,
    variant, trigger_kind, source, context_ms, queue_ms, prompt_ms, decode_ms, total_ms,
    prompt_tokens, suggestion_tokens, suggestion_utf16, file_key, path, prompt, suggestion, confidence
    FROM completions";

fn completion_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Completion> {
    let trigger: String = row.get(7)?;
    let source: String = row.get(8)?;
    let path: Option<String> = row.get(18)?;
    let prompt: Option<String> = row.get(19)?;
    let suggestion: Option<String> = row.get(20)?;
    let content = match (path, prompt, suggestion) {
        (Some(path), Some(prompt), Some(suggestion)) => {
            Some(crate::event::Content { path, prompt, suggestion })
        }
        _ => None,
    };
    Ok(Completion {
        id: row.get(0)?,
        at_ms: row.get(1)?,
        language: row.get(2)?,
        model_id: row.get(3)?,
        model_sha256: row.get(4)?,
        adapter_id: row.get(5)?,
        confidence: row.get(21)?,
        variant: row.get(6)?,
        trigger: Trigger::from_name(&trigger).unwrap_or(Trigger::Automatic),
        source: Source::from_name(&source).unwrap_or(Source::Model),
        latency: Latency {
            context_ms: row.get(9)?,
            queue_ms: row.get(10)?,
            prompt_ms: row.get(11)?,
            decode_ms: row.get(12)?,
            total_ms: row.get(13)?,
        },
        prompt_tokens: row.get(14)?,
        suggestion_tokens: row.get(15)?,
        suggestion_utf16: row.get(16)?,
        file_key: row.get(17)?,
        content,
    })
}
