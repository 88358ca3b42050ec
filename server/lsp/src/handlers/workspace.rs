//! Documents and the workspace: changes applied in order, the index built and kept up to date,
//! paths shown to the model, private files.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;

use tower_lsp_server::ls_types::*;

use crate::server::Server;
use crate::state::{TYPING_AVERAGE_WEIGHT, TYPING_PAUSE_MS};
use wisp_complete::completion;
use wisp_complete::worker::panic_message;

impl Server {
    /// Indexes the workspace folder in the background, reporting `$/progress` to clients that
    /// show it, and then asks the client to report file changes. One sequence of protocol steps
    /// (create the token, begin, report, end, register the watcher) kept together, so that the
    /// order the client sees is the order written here.
    pub(crate) async fn index_workspace(self) {
        let Some(root) = self.state.root.read().unwrap_or_else(|p| p.into_inner()).clone() else { return };
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<(usize, usize)>();
        let languages = self.state.languages.clone();
        let walk_root = root.clone();
        let server = self.clone();
        let job = tokio::task::spawn_blocking(move || {
            let mut last_report = std::time::Instant::now();
            let mut progress = |done: usize, total: usize| {
                if last_report.elapsed() >= INDEX_PROGRESS_INTERVAL || done == total {
                    last_report = std::time::Instant::now();
                    let _ = sender.send((done, total));
                }
            };
            let cancelled = || server.state.stopping.load(Ordering::Relaxed);
            wisp_syntax::index::index_workspace(&walk_root, &languages, &mut progress, &cancelled)
        });
        let progress = if self.state.client_progress.load(Ordering::Relaxed) {
            let token = ProgressToken::String("wisp/index".into());
            let created = tokio::time::timeout(
                PROGRESS_CREATE_TIMEOUT,
                self.client.create_work_done_progress(token.clone()),
            );
            match created.await {
                Ok(Ok(())) => {
                    Some(self.client.progress(token, "Wisp: indexing").with_percentage(0).begin().await)
                }
                _ => None,
            }
        } else {
            None
        };
        while let Some((done, total)) = receiver.recv().await {
            if let Some(progress) = &progress {
                let percentage = (done * 100).checked_div(total).unwrap_or(100) as u32;
                progress.report_with_message(format!("{done}/{total} files"), percentage).await;
            }
        }
        let Ok((mut index, report)) = job.await else {
            tracing::error!("indexing {} failed; completions use open documents only", root.display());
            return;
        };
        completion::drop_sensitive_files(
            &mut index,
            &self.state.sensitive.read().unwrap_or_else(|p| p.into_inner()),
        );
        let stats = index.stats();
        {
            // Files opened or saved during the walk are newer in the editor than on disk.
            let mut shared = self.state.index.write().unwrap_or_else(|p| p.into_inner());
            let newer: Vec<_> = shared.files().cloned().collect();
            *shared = index;
            for file in newer {
                shared.insert(file);
            }
        }
        let metrics = &self.state.service.metrics;
        metrics.indexed_files.store(stats.n_files as u64, Ordering::Relaxed);
        metrics.indexed_lines.store(stats.n_lines as u64, Ordering::Relaxed);
        metrics.index_ms.store(report.elapsed.as_millis() as u64, Ordering::Relaxed);
        metrics.index_bytes.store(stats.heap_bytes as u64, Ordering::Relaxed);
        let message = format!(
            "indexed {} files ({} lines, {} definitions) in {:.1} s; {} skipped, {} walk errors",
            stats.n_files,
            stats.n_lines,
            stats.n_definitions,
            report.elapsed.as_secs_f64(),
            report.skipped.values().sum::<usize>(),
            report.errors.len()
        );
        tracing::info!("{message}");
        if let Some(progress) = progress {
            progress.finish_with_message(message).await;
        }
        if self.state.client_watches_files.load(Ordering::Relaxed) {
            let options = DidChangeWatchedFilesRegistrationOptions {
                watchers: vec![FileSystemWatcher {
                    glob_pattern: GlobPattern::String("**/*".into()),
                    kind: None,
                }],
            };
            let registration = Registration {
                id: "wisp/watch".into(),
                method: "workspace/didChangeWatchedFiles".into(),
                register_options: serde_json::to_value(options).ok(),
            };
            if let Err(why) = self.client.register_capability(vec![registration]).await {
                tracing::warn!("the client refused file watching ({why}); the index follows saves only");
            }
        }
    }

    /// Re-indexes an open document from its text (on save).
    pub(crate) fn reindex_open(&self, uri: &Uri) {
        let Some((document, binary)) = self
            .state
            .documents
            .get(uri)
            .filter(|open| !open.private)
            .map(|open| (open.document.clone(), open.binary))
        else {
            return;
        };
        let Some(language) = document.language() else { return };
        if binary || document.len_bytes() as u64 > wisp_syntax::index::MAX_INDEXED_FILE_BYTES {
            return;
        }
        let Some(root) = self.state.root.read().unwrap_or_else(|p| p.into_inner()).clone() else { return };
        let Some(path) = uri.to_file_path() else { return };
        let Some(relative) = wisp_syntax::index::relative_path(&root, &path) else { return };
        let text = document.slice(0..document.len_bytes());
        self.state.index.write().unwrap_or_else(|p| p.into_inner()).update(&relative, language, &text);
    }

    /// Re-reads a file of the workspace into the index, or drops it (deleted, no longer a source
    /// file, or ignored).
    pub(crate) fn reindex_path(&self, path: &std::path::Path, deleted: bool) {
        if !self.config().context.index {
            return;
        }
        let Some(root) = self.state.root.read().unwrap_or_else(|p| p.into_inner()).clone() else { return };
        let Some(relative) = wisp_syntax::index::relative_path(&root, path) else { return };
        let language = self.state.languages.by_path(path);
        let ignored = wisp_syntax::index::is_ignored(&root, path)
            || self.state.sensitive.read().unwrap_or_else(|p| p.into_inner()).is_sensitive(path);
        let source = match (deleted || ignored, &language) {
            (false, Some(_)) => wisp_syntax::index::read_source(path).ok(),
            _ => None,
        };
        let mut index = self.state.index.write().unwrap_or_else(|p| p.into_inner());
        match (source, language) {
            (Some(source), Some(language)) => index.update(&relative, &language, &source),
            _ => index.remove(&relative),
        }
    }

    /// Applies a didChange in order. Returns where to prefetch when the change accepted the
    /// suggestion last shown for this document (typed in as a whole, or a line or word of it).
    pub(crate) fn apply_changes(&self, params: DidChangeTextDocumentParams) -> Option<Position> {
        let encoding = *self.state.encoding.read().unwrap_or_else(|p| p.into_inner());
        let uri = params.text_document.uri;
        let Some(mut open) = self.state.documents.get_mut(&uri) else {
            tracing::warn!("didChange for {} which is not open; ignored", uri.as_str());
            return None;
        };
        let now = std::time::Instant::now();
        if let Some(last) = open.last_change {
            open.last_interval_ms = now.duration_since(last).as_secs_f64() * 1e3;
            if open.last_interval_ms < TYPING_PAUSE_MS {
                open.typing_interval_ms = open.typing_interval_ms * (1.0 - TYPING_AVERAGE_WEIGHT)
                    + open.last_interval_ms * TYPING_AVERAGE_WEIGHT;
            }
        }
        open.last_change = Some(now);
        let n_changes = params.content_changes.len();
        let mut accepted_at = None;
        let mut last_edit = None;
        for change in params.content_changes {
            open.binary |= change.text.contains('\0');
            let change = wisp_syntax::TextChange {
                range: change.range.map(|range| wisp_syntax::Range {
                    start: wisp_syntax::Position { line: range.start.line, character: range.start.character },
                    end: wisp_syntax::Position { line: range.end.line, character: range.end.character },
                }),
                text: change.text,
            };
            let start = change.range.map_or(0, |range| open.document.offset_clamped(range.start, encoding));
            let is_insertion = change.range.is_some_and(|range| range.start == range.end);
            let end = change
                .range
                .map_or(open.document.len_bytes(), |range| open.document.offset_clamped(range.end, encoding));
            self.state.feedback.changed(&uri, start, end.saturating_sub(start), &change.text);
            if open.anchor.is_some_and(|anchor| start < anchor) || change.range.is_none() {
                // Text above the window moved it: the next prompt chooses a new start.
                open.anchor = None;
            }
            let accepted = n_changes == 1
                && is_insertion
                && change.text.chars().nth(1).is_some()
                && open
                    .shown
                    .as_ref()
                    .is_some_and(|shown| shown.offset == start && shown.text.starts_with(&change.text));
            match catch_unwind(AssertUnwindSafe(|| open.document.apply_change(&change, encoding))) {
                Ok(Ok(())) => {}
                Ok(Err(why)) => tracing::warn!("didChange for {}: {why}", uri.as_str()),
                Err(panic) => {
                    tracing::error!(
                        "didChange for {} failed: {}; the document is dropped until it is reopened",
                        uri.as_str(),
                        panic_message(&panic)
                    );
                    drop(open);
                    self.state.documents.remove(&uri);
                    return None;
                }
            }
            if accepted {
                let end = open.document.position(start + change.text.len(), encoding);
                accepted_at = Some(Position { line: end.line, character: end.character });
            }
            last_edit = Some(start + change.text.len());
        }
        if let Some(offset) = last_edit.filter(|_| !open.binary && !open.private) {
            // Only the lines around the edit are copied (recording is cheap next to a keystroke).
            let from = open.document.len_bytes().min(offset.saturating_sub(RECENT_WINDOW_BYTES));
            let to = open.document.len_bytes().min(offset + RECENT_WINDOW_BYTES);
            let from = completion::char_floor(&open.document, from);
            let to = completion::char_floor(&open.document, to);
            let around = open.document.slice(from..to);
            let mut recent = self.state.recent.lock().unwrap_or_else(|p| p.into_inner());
            recent.record(&open.display_path, &around, offset - from);
        }
        open.shown = None;
        accepted_at
    }

    pub(crate) fn display_path(&self, uri: &Uri) -> String {
        let Some(path) = uri.to_file_path() else {
            return uri.as_str().to_owned();
        };
        let root = self.state.root.read().unwrap_or_else(|p| p.into_inner());
        match root.as_deref().and_then(|root| path.strip_prefix(root).ok()) {
            Some(relative) => relative.display().to_string(),
            None => path.display().to_string(),
        }
    }

    /// A file that must never reach a prompt: a sensitive name (`.env`, keys, …) or matched by a
    /// `.wispignore`.
    pub(crate) fn is_private(&self, uri: &Uri) -> bool {
        let Some(path) = uri.to_file_path() else { return false };
        if self.state.sensitive.read().unwrap_or_else(|p| p.into_inner()).is_sensitive(&path) {
            return true;
        }
        let root = self.state.root.read().unwrap_or_else(|p| p.into_inner()).clone();
        root.is_some_and(|root| wisp_syntax::index::is_wispignored(&root, &path))
    }
}

/// How long the client may take to accept a progress token before indexing goes on without it.
pub(crate) const PROGRESS_CREATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// How often indexing progress is reported to the client.
pub(crate) const INDEX_PROGRESS_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

/// Bytes around an edit copied for the recent-edits buffer (it keeps a few lines of them).
pub(crate) const RECENT_WINDOW_BYTES: usize = 2048;
