//! Typing sessions reconstructed from a git repository's real history: a commit that adds lines
//! to a source file becomes a session that opens the file as it was before the commit and types
//! the commit's additions into it, hunk by hunk, the way a programmer would.
//!
//! Editing model, per hunk (top to bottom, line numbers shifted by the hunks before):
//! - the hunk's removed lines go in one change (select the lines, delete);
//! - the added lines are typed one character a keystroke. When they end with a newline and do not
//!   start the file, the typist puts the cursor at the end of the line above and presses Enter
//!   first (so the cursor is at the end of a line while typing, as it usually is); otherwise the
//!   typing starts where the lines go.
//! - Enter is one keystroke, and it also inserts the next line's leading indentation in the same
//!   change, as editors auto-indent. The first line's indentation, when typing starts at the
//!   beginning of a line, is inserted in a change of its own that is not a keystroke.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::pace::{SplitMix64, TypingPace};
use crate::text::{self, Position, Range};

/// Commits looked at, newest first: a few hundred cover months of a busy repository's history
/// and keep `git log` fast.
pub const MAX_COMMITS: usize = 400;
/// Files larger than this (bytes) are generated or data, not something a person types into.
pub const MAX_FILE_BYTES: usize = 200 * 1024;
/// Keystrokes at most per session, so that a run of a few hundred keystrokes covers several
/// files and commits instead of one large addition.
pub const MAX_KEYSTROKES_PER_SESSION: usize = 100;
/// Path components that mark vendored code, fixtures and build output.
const SKIPPED_COMPONENTS: &[&str] = &[
    "vendor",
    "vendored",
    "third_party",
    "third-party",
    "node_modules",
    "testdata",
    "test-data",
    "test_data",
    "fixtures",
    "__snapshots__",
    "snapshots",
    "target",
    "dist",
    "build",
    "generated",
];

/// One replayed editing session on one file.
#[derive(Debug, Clone)]
pub struct Session {
    pub commit: String,
    /// Path relative to the repository root, with `/` separators (as git prints it).
    pub path: String,
    pub language_id: String,
    /// The file before the commit: what `didOpen` sends.
    pub initial_text: String,
    pub steps: Vec<Step>,
    /// Whether `steps` type the whole commit (false when cut off by the keystroke budget).
    pub complete: bool,
}

impl Session {
    pub fn n_keystrokes(&self) -> usize {
        self.steps.iter().filter(|step| step.keystroke).count()
    }
}

/// One `didChange` of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Time to wait after the previous step (or the session's start) before sending this one.
    pub delay: Duration,
    pub range: Range,
    pub text: String,
    /// A typed key, followed by an inline completion request; otherwise a change with no request.
    pub keystroke: bool,
    /// Where the cursor is after the change.
    pub cursor: Position,
    /// Whether the cursor's line has non-blank text before the cursor or non-whitespace after it.
    pub mid_line: bool,
}

/// The languageId an editor sends for a file extension.
pub fn language_id(extension: &str) -> String {
    match extension {
        "rs" => "rust",
        "py" => "python",
        "ts" => "typescript",
        "tsx" => "typescriptreact",
        "js" => "javascript",
        "jsx" => "javascriptreact",
        "go" => "go",
        other => other,
    }
    .to_owned()
}

/// One hunk of `git diff --unified=0`, as zero-based line ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hunk {
    pub old_start: usize,
    pub old_count: usize,
    pub new_start: usize,
    pub new_count: usize,
}

/// Parses the `@@ -a,b +c,d @@` headers of a zero-context diff.
pub fn parse_hunks(diff: &str) -> anyhow::Result<Vec<Hunk>> {
    let mut hunks = Vec::new();
    for line in diff.lines().filter(|line| line.starts_with("@@ ")) {
        let mut fields = line.split(' ').skip(1);
        let (Some(old), Some(new)) = (fields.next(), fields.next()) else {
            bail!("malformed hunk header {line:?}");
        };
        let side = |field: &str, sign: char| -> anyhow::Result<(usize, usize)> {
            let field =
                field.strip_prefix(sign).with_context(|| format!("malformed hunk header {line:?}"))?;
            let (start, count) = match field.split_once(',') {
                Some((start, count)) => (start.parse()?, count.parse()?),
                None => (field.parse()?, 1),
            };
            // With a count of 0 the start names the line *after which* nothing is; otherwise it is
            // the one-based first line.
            let start: usize = start;
            Ok((if count == 0 { start } else { start.saturating_sub(1) }, count))
        };
        let (old_start, old_count) = side(old, '-').with_context(|| format!("hunk header {line:?}"))?;
        let (new_start, new_count) = side(new, '+').with_context(|| format!("hunk header {line:?}"))?;
        hunks.push(Hunk { old_start, old_count, new_start, new_count });
    }
    Ok(hunks)
}

/// The steps that turn `old` into `new` along `hunks`, stopping after `max_keystrokes`.
/// Returns the steps and whether they reach `new`.
pub fn edit_steps(
    old: &str,
    new: &str,
    hunks: &[Hunk],
    pace: &mut TypingPace,
    max_keystrokes: usize,
) -> anyhow::Result<(Vec<Step>, bool)> {
    let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
    let mut text = old.to_owned();
    let mut steps = Vec::new();
    let mut n_keystrokes = 0;
    let mut shift: isize = 0;
    for hunk in hunks {
        let line = usize::try_from(hunk.old_start as isize + shift).context("hunks out of order")?;
        shift += hunk.new_count as isize - hunk.old_count as isize;
        let mut delay = pace.delay_before_move();
        if hunk.old_count > 0 {
            let from = text::line_start(&text, line);
            let to = text::line_start(&text, line + hunk.old_count);
            let range = Range { start: text::position_at(&text, from), end: text::position_at(&text, to) };
            text.replace_range(from..to, "");
            steps.push(step(&text, delay, range, String::new(), false, from));
            delay = pace.delay_after(None);
        }
        let added: String = new_lines
            .get(hunk.new_start..hunk.new_start + hunk.new_count)
            .with_context(|| format!("hunk {hunk:?} is outside the new text"))?
            .concat();
        if added.is_empty() {
            continue;
        }
        let at = text::line_start(&text, line);
        let (mut offset, typed) = match added.strip_suffix('\n') {
            Some(body) if at > 0 => (at - 1, format!("\n{body}")),
            _ => (at, added),
        };
        let mut rest = typed.as_str();
        let indent = leading_indent(rest);
        if !indent.is_empty() {
            let position = text::position_at(&text, offset);
            text.insert_str(offset, indent);
            offset += indent.len();
            steps.push(step(
                &text,
                delay,
                Range { start: position, end: position },
                indent.to_owned(),
                false,
                offset,
            ));
            delay = pace.delay_after(None);
            rest = &rest[indent.len()..];
        }
        let mut previous = None;
        while let Some(ch) = rest.chars().next() {
            if n_keystrokes == max_keystrokes {
                return Ok((steps, false));
            }
            let mut key_len = ch.len_utf8();
            if ch == '\n' {
                key_len += leading_indent(&rest[1..]).len();
            }
            let inserted = &rest[..key_len];
            let position = text::position_at(&text, offset);
            text.insert_str(offset, inserted);
            offset += key_len;
            if previous.is_some() {
                delay = pace.delay_after(previous);
            }
            steps.push(step(
                &text,
                delay,
                Range { start: position, end: position },
                inserted.to_owned(),
                true,
                offset,
            ));
            n_keystrokes += 1;
            previous = Some(ch);
            rest = &rest[key_len..];
        }
    }
    if text != new {
        bail!("replaying the hunks did not reproduce the new text (a bug in the replay)");
    }
    Ok((steps, true))
}

fn step(text: &str, delay: Duration, range: Range, inserted: String, keystroke: bool, cursor: usize) -> Step {
    let line_start = text[..cursor].rfind('\n').map_or(0, |newline| newline + 1);
    let line_end = text[cursor..].find('\n').map_or(text.len(), |newline| cursor + newline);
    let mid_line = !text[line_start..cursor].trim().is_empty() || !text[cursor..line_end].trim().is_empty();
    Step { delay, range, text: inserted, keystroke, cursor: text::position_at(text, cursor), mid_line }
}

/// The spaces and tabs at the start of `text`.
fn leading_indent(text: &str) -> &str {
    let end = text.find(|ch: char| ch != ' ' && ch != '\t').unwrap_or(text.len());
    &text[..end]
}

/// Runs git in `repo`; `Ok(None)` when git exits with an error (a missing path or parent).
fn git(repo: &Path, args: &[&str]) -> anyhow::Result<Option<Vec<u8>>> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "core.quotePath=false"])
        .args(args)
        .output()
        .with_context(|| {
            format!("running git {} in {} — is git installed?", args.join(" "), repo.display())
        })?;
    Ok(output.status.success().then_some(output.stdout))
}

fn git_text(repo: &Path, args: &[&str]) -> anyhow::Result<Option<String>> {
    Ok(git(repo, args)?.and_then(|bytes| String::from_utf8(bytes).ok()))
}

fn skipped_path(path: &str) -> bool {
    path.starts_with('"')
        || path.contains(".min.")
        || path
            .split('/')
            .any(|component| SKIPPED_COMPONENTS.contains(&component.to_ascii_lowercase().as_str()))
}

/// The file at `revision`, when it exists there, is small enough and is UTF-8 text with `\n` ends.
fn file_at(repo: &Path, revision: &str, path: &str) -> anyhow::Result<Option<String>> {
    let Some(bytes) = git(repo, &["show", &format!("{revision}:{path}")])? else {
        return Ok(None);
    };
    if bytes.len() > MAX_FILE_BYTES || bytes.contains(&b'\r') || bytes.contains(&0) {
        return Ok(None);
    }
    Ok(String::from_utf8(bytes).ok())
}

/// Sessions from the history of `repo` until `max_keystrokes` keystrokes are reached (or the
/// history runs out). Commits are visited in an order shuffled by `seed`.
pub fn build_sessions(
    repo: &Path,
    extensions: &[String],
    seed: u64,
    max_keystrokes: usize,
) -> anyhow::Result<Vec<Session>> {
    let log = git_text(repo, &["log", "--format=%H", "--no-merges", &format!("-n{MAX_COMMITS}")])?
        .with_context(|| {
            format!("git log failed in {} — is it a git repository with commits?", repo.display())
        })?;
    let mut commits: Vec<&str> = log.lines().filter(|line| !line.is_empty()).collect();
    let mut rng = SplitMix64::new(seed);
    rng.shuffle(&mut commits);
    let mut pace = TypingPace::new(rng.next_u64());
    let mut sessions = Vec::new();
    let mut n_keystrokes = 0;
    for commit in commits {
        if n_keystrokes >= max_keystrokes {
            break;
        }
        let parent = format!("{commit}^");
        // Modified files only: the file must exist before the commit.
        let Some(names) =
            git_text(repo, &["diff", "--name-only", "--no-renames", "--diff-filter=M", &parent, commit])?
        else {
            continue; // the root commit
        };
        let mut paths: Vec<&str> = names
            .lines()
            .filter(|path| {
                let extension = path.rsplit_once('.').map_or("", |(_, extension)| extension);
                extensions.iter().any(|wanted| wanted == extension) && !skipped_path(path)
            })
            .collect();
        rng.shuffle(&mut paths);
        for path in paths {
            let diff_args = [
                "diff",
                "--no-color",
                "--no-ext-diff",
                "--no-textconv",
                "--unified=0",
                &parent,
                commit,
                "--",
                path,
            ];
            let Some(diff) = git_text(repo, &diff_args)? else { continue };
            let hunks = parse_hunks(&diff).with_context(|| format!("diff of {path} in {commit}"))?;
            if hunks.iter().all(|hunk| hunk.new_count == 0) {
                continue;
            }
            let (Some(old), Some(new)) = (file_at(repo, &parent, path)?, file_at(repo, commit, path)?) else {
                continue;
            };
            let budget = (max_keystrokes - n_keystrokes).min(MAX_KEYSTROKES_PER_SESSION);
            let (steps, complete) = edit_steps(&old, &new, &hunks, &mut pace, budget)
                .with_context(|| format!("replaying {path} in {commit}"))?;
            let extension = path.rsplit_once('.').map_or("", |(_, extension)| extension);
            let session = Session {
                commit: commit.to_owned(),
                path: path.to_owned(),
                language_id: language_id(extension),
                initial_text: old,
                steps,
                complete,
            };
            n_keystrokes += session.n_keystrokes();
            sessions.push(session);
            break; // one file per commit: more commits, more variety
        }
    }
    if sessions.is_empty() {
        bail!(
            "none of the last {MAX_COMMITS} commits of {} adds lines to an existing file with extension {} \
             — pick another repository or --extensions",
            repo.display(),
            extensions.join(", ")
        );
    }
    Ok(sessions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::WorkDir;

    fn run_git(repo: &Path, args: &[&str]) {
        let status = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args([
                "-c",
                "user.name=Bench",
                "-c",
                "user.email=bench@example.invalid",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?} failed");
    }

    fn replay(session: &Session) -> String {
        let mut text = session.initial_text.clone();
        for step in &session.steps {
            text::apply_change(&mut text, step.range, &step.text).unwrap();
            assert!(text::offset_at(&text, step.cursor).is_some(), "cursor {:?} is in the text", step.cursor);
        }
        text
    }

    const OLD: &str = "fn one() {\n    1\n}\n\nfn two() -> &'static str {\n    \"😀\"\n}\n";
    const NEW: &str = "// Numbers.\nfn one() {\n    let x = 1;\n\n    x\n}\n\nfn two() -> &'static str {\n    \"😀 two\"\n}\n\nfn three() {}";

    #[test]
    fn sessions_from_git_history_replay_to_exactly_the_committed_text() {
        let work = WorkDir::create("history-test").unwrap();
        let repo = work.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        run_git(&repo, &["init", "-q"]);
        std::fs::write(repo.join("lib.rs"), OLD).unwrap();
        std::fs::write(repo.join("notes.txt"), "a\n").unwrap();
        run_git(&repo, &["add", "."]);
        run_git(&repo, &["commit", "-q", "-m", "first"]);
        std::fs::write(repo.join("lib.rs"), NEW).unwrap();
        std::fs::write(repo.join("notes.txt"), "a\nb\n").unwrap();
        run_git(&repo, &["commit", "-q", "-a", "-m", "second"]);

        let sessions = build_sessions(&repo, &["rs".to_owned()], 1, 10_000).unwrap();
        assert_eq!(sessions.len(), 1, "the root commit has no parent and notes.txt has another extension");
        let session = &sessions[0];
        assert_eq!((session.path.as_str(), session.language_id.as_str()), ("lib.rs", "rust"));
        assert_eq!(session.initial_text, OLD);
        assert!(session.complete);
        assert_eq!(replay(session), NEW);

        // Keystrokes are single characters, except that Enter carries the next line's indentation.
        let keys: String = session
            .steps
            .iter()
            .filter(|step| step.keystroke)
            .map(|step| step.text.chars().next().unwrap())
            .collect();
        assert!(session
            .steps
            .iter()
            .filter(|step| step.keystroke)
            .all(|step| step.text.chars().count() == 1 || step.text.starts_with('\n')));
        assert!(keys.starts_with("// Numbers.\n"), "{keys:?}");
        assert!(keys.contains("let x = 1;\n\nx"), "{keys:?}");
        assert!(keys.contains("\"😀 two\""), "{keys:?}");
        assert!(keys.ends_with("\nfn three() {}"), "{keys:?}");

        // A budget cuts the session short, and what was typed still applies cleanly.
        let cut = build_sessions(&repo, &["rs".to_owned()], 1, 5).unwrap();
        assert_eq!(cut[0].n_keystrokes(), 5);
        assert!(!cut[0].complete);
        replay(&cut[0]);
    }

    #[test]
    fn enter_carries_the_next_lines_indentation() {
        let old = "fn f() {\n}\n";
        let new = "fn f() {\n    a\n        b\n}\n";
        let hunks = [Hunk { old_start: 1, old_count: 0, new_start: 1, new_count: 2 }];
        let (steps, complete) = edit_steps(old, new, &hunks, &mut TypingPace::new(0), 100).unwrap();
        assert!(complete);
        let texts: Vec<&str> = steps.iter().map(|step| step.text.as_str()).collect();
        assert_eq!(texts, ["\n    ", "a", "\n        ", "b"]);
        assert!(steps.iter().all(|step| step.keystroke));
        assert_eq!(
            steps[0].range.start,
            Position { line: 0, character: 8 },
            "Enter at the end of the line above"
        );
        assert_eq!(steps[3].cursor, Position { line: 2, character: 9 });
        assert!(!steps[0].mid_line && steps[1].mid_line);
    }

    #[test]
    fn hunk_headers_parse_with_and_without_counts() {
        let diff = "diff --git a/x b/x\n@@ -3,0 +4,2 @@ fn x\n+a\n+b\n@@ -10 +12 @@\n-c\n+d\n@@ -20,2 +21,0 @@\n-e\n-f\n";
        assert_eq!(
            parse_hunks(diff).unwrap(),
            [
                Hunk { old_start: 3, old_count: 0, new_start: 3, new_count: 2 },
                Hunk { old_start: 9, old_count: 1, new_start: 11, new_count: 1 },
                Hunk { old_start: 19, old_count: 2, new_start: 21, new_count: 0 },
            ]
        );
        assert!(parse_hunks("@@ garbage @@\n").is_err());
    }

    #[test]
    fn vendored_and_fixture_paths_are_skipped() {
        assert!(skipped_path("vendor/lib.rs"));
        assert!(skipped_path("src/tests/fixtures/a.py"));
        assert!(skipped_path("web/app.min.js"));
        assert!(!skipped_path("src/lib.rs"));
    }
}
