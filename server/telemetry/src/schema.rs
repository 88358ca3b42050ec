//! The database schema, as the migrations that build it. Version `n` is `MIGRATIONS[n - 1]`
//! applied to version `n - 1`; the version lives in SQLite's `user_version`. A migration is
//! never edited once released: changes are a new entry at the end.

use rusqlite::Connection;

/// Each migration, in order. Run inside one transaction with the `user_version` update.
pub const MIGRATIONS: &[&str] = &[
    // 1: completions and their events.
    "
    CREATE TABLE completions (
        id                TEXT PRIMARY KEY,
        at_ms             INTEGER NOT NULL,
        language          TEXT NOT NULL,
        model_id          TEXT NOT NULL,
        model_sha256      TEXT NOT NULL,
        variant           TEXT NOT NULL,
        trigger_kind      TEXT NOT NULL,
        source            TEXT NOT NULL,
        context_ms        REAL NOT NULL,
        queue_ms          REAL NOT NULL,
        prompt_ms         REAL NOT NULL,
        decode_ms         REAL NOT NULL,
        total_ms          REAL NOT NULL,
        prompt_tokens     INTEGER NOT NULL,
        suggestion_tokens INTEGER NOT NULL,
        suggestion_utf16  INTEGER NOT NULL,
        file_key          TEXT NOT NULL,
        path              TEXT,
        prompt            TEXT,
        suggestion        TEXT
    );
    CREATE INDEX completions_at ON completions(at_ms);
    CREATE TABLE events (
        seq            INTEGER PRIMARY KEY AUTOINCREMENT,
        completion_id  TEXT NOT NULL REFERENCES completions(id) ON DELETE CASCADE,
        at_ms          INTEGER NOT NULL,
        kind           TEXT NOT NULL,
        accepted_utf16 INTEGER,
        reason         TEXT,
        after_s        INTEGER,
        kept_ratio     REAL
    );
    CREATE INDEX events_completion ON events(completion_id);
    ",
    // 2: the adapter (LoRA fine-tune) a suggestion was made with, and every event with its
    // completion's fields in one view.
    "
    ALTER TABLE completions ADD COLUMN adapter_id TEXT;
    CREATE VIEW event_details AS
        SELECT e.seq, e.completion_id, e.at_ms, e.kind, e.accepted_utf16, e.reason, e.after_s,
               e.kept_ratio, c.language, c.model_id, c.model_sha256, c.adapter_id, c.variant,
               c.trigger_kind, c.source, c.context_ms, c.queue_ms, c.prompt_ms, c.decode_ms,
               c.total_ms, c.prompt_tokens, c.suggestion_tokens
        FROM events e JOIN completions c ON c.id = e.completion_id;
    ",
    // 3: how sure the model was of a suggestion (the geometric mean of its tokens' probabilities),
    // in the view too.
    "
    ALTER TABLE completions ADD COLUMN confidence REAL;
    DROP VIEW event_details;
    CREATE VIEW event_details AS
        SELECT e.seq, e.completion_id, e.at_ms, e.kind, e.accepted_utf16, e.reason, e.after_s,
               e.kept_ratio, c.language, c.model_id, c.model_sha256, c.adapter_id, c.variant,
               c.trigger_kind, c.source, c.context_ms, c.queue_ms, c.prompt_ms, c.decode_ms,
               c.total_ms, c.prompt_tokens, c.suggestion_tokens, c.confidence
        FROM events e JOIN completions c ON c.id = e.completion_id;
    ",
];

/// The schema version this build writes.
pub const LATEST: u32 = MIGRATIONS.len() as u32;

pub fn version(connection: &Connection) -> rusqlite::Result<u32> {
    connection.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Applies the migrations after the database's version, up to `target`, each in its own
/// transaction (a crash leaves the database at the last finished version).
pub fn migrate(connection: &mut Connection, target: u32) -> rusqlite::Result<()> {
    let current = version(connection)?;
    for next in current + 1..=target.min(LATEST) {
        let transaction = connection.transaction()?;
        transaction.execute_batch(MIGRATIONS[next as usize - 1])?;
        transaction.pragma_update(None, "user_version", next)?;
        transaction.commit()?;
    }
    Ok(())
}
