//! Reading the files of a git repository at `HEAD`, so a task set depends on the commit only,
//! not on uncommitted edits in the working tree.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, ensure, Context};

use crate::skip;
use crate::task::Task;
use crate::tasks::{tasks_from_files, TaskOptions};

/// Cuts tasks from the files tracked by git at `HEAD` in `repo` (the same files `git ls-files`
/// lists in a clean checkout), read from the commit rather than the working tree.
///
/// The same seed and the same commit give the same tasks.
pub fn tasks_from_repo(repo: &Path, options: &TaskOptions) -> anyhow::Result<Vec<Task>> {
    Ok(tasks_from_files(&files_from_repo(repo, options)?, options))
}

/// A file in `HEAD`'s tree.
struct TreeEntry {
    object: String,
    path: String,
}

/// The candidate files at `HEAD` in `repo` with their text, paths relative to the repository
/// root; files the skip rules rule out are left out.
pub fn files_from_repo(repo: &Path, options: &TaskOptions) -> anyhow::Result<Vec<(String, String)>> {
    let listing =
        git(repo, &["ls-tree", "-r", "-z", "-l", "--full-tree", "HEAD"], None).with_context(|| {
            format!("listing the files at HEAD in {} — is it a git repository with a commit?", repo.display())
        })?;
    let mut entries = Vec::new();
    for record in listing.split(|&byte| byte == 0).filter(|record| !record.is_empty()) {
        let record = std::str::from_utf8(record);
        // Paths that are not UTF-8 cannot be tasks' paths; skip them.
        let Ok(record) = record else { continue };
        let (meta, path) =
            record.split_once('\t').with_context(|| format!("unexpected git ls-tree record {record:?}"))?;
        let fields: Vec<&str> = meta.split_whitespace().collect();
        let [mode, kind, object, size] = fields[..] else {
            bail!("unexpected git ls-tree record {record:?}")
        };
        // Symbolic links (120000) hold a target path, and submodules (commits) no text.
        if kind != "blob" || mode == "120000" {
            continue;
        }
        let n_bytes: usize =
            size.parse().with_context(|| format!("unexpected size in git ls-tree record {record:?}"))?;
        if skip::is_candidate(path, n_bytes, &options.extensions, options.max_file_bytes) {
            entries.push(TreeEntry { object: object.to_owned(), path: path.to_owned() });
        }
    }

    let request: String = entries.iter().map(|entry| format!("{}\n", entry.object)).collect();
    let blobs = git(repo, &["cat-file", "--batch"], Some(request.into_bytes()))
        .with_context(|| format!("reading files at HEAD in {}", repo.display()))?;
    let mut reader = BufReader::new(blobs.as_slice());
    let mut files = Vec::new();
    for entry in entries {
        let bytes = read_batch_object(&mut reader, &entry.object)
            .with_context(|| format!("reading {} at HEAD in {}", entry.path, repo.display()))?;
        if let Some(text) = skip::usable_text(bytes) {
            files.push((entry.path, text));
        }
    }
    Ok(files)
}

/// Reads one object of `git cat-file --batch` output: `<object> <type> <size>\n<content>\n`.
fn read_batch_object(reader: &mut impl BufRead, object: &str) -> anyhow::Result<Vec<u8>> {
    let mut header = String::new();
    reader.read_line(&mut header)?;
    let fields: Vec<&str> = header.split_whitespace().collect();
    let [name, "blob", size] = fields[..] else { bail!("unexpected git cat-file header {header:?}") };
    ensure!(name == object, "git cat-file answered {name} for {object}");
    let mut content =
        vec![0; size.parse().with_context(|| format!("unexpected git cat-file header {header:?}"))?];
    reader.read_exact(&mut content)?;
    let mut newline = [0];
    reader.read_exact(&mut newline)?;
    Ok(content)
}

/// Runs git in `repo` with `input` on its stdin and returns its stdout; a failing git is an error
/// carrying its stderr.
fn git(repo: &Path, args: &[&str], input: Option<Vec<u8>>) -> anyhow::Result<Vec<u8>> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "core.quotePath=false"])
        .args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running git — is git installed?")?;
    // Write from another thread: git answers while it reads, and a full stdout pipe would block it.
    let writer = match (input, child.stdin.take()) {
        (Some(input), Some(mut stdin)) => Some(std::thread::spawn(move || stdin.write_all(&input))),
        _ => None,
    };
    let output = child.wait_with_output().context("waiting for git")?;
    if let Some(writer) = writer {
        match writer.join() {
            Ok(written) => written.context("writing to git")?,
            Err(_) => bail!("the thread writing to git panicked"),
        }
    }
    if !output.status.success() {
        bail!("git {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(output.stdout)
}
