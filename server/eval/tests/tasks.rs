//! Task sets cut from files, directories and git repositories: determinism, the split of each
//! file, the skip rules and the spread over files and kinds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use wisp_eval::{
    tasks_from_dir, tasks_from_files, tasks_from_files_where, tasks_from_repo, MaskKind, Task, TaskOptions,
    CANDIDATES_PER_TURN,
};

/// Files from a fixture whose files start with `//- /path` header lines.
fn fixture(text: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(path) = line.strip_prefix("//- /") {
            files.push((path.trim_end().to_owned(), String::new()));
        } else if let Some((_, file_text)) = files.last_mut() {
            file_text.push_str(line);
        }
    }
    files
}

/// A Rust file of `n_functions` functions after a ten-line licence header, distinct per `name`.
fn rust_source(name: &str, n_functions: usize) -> String {
    let mut text = "// Licensed under the Apache License, Version 2.0.\n".repeat(10);
    for index in 0..n_functions {
        text.push_str(&format!(
            "pub fn {name}_{index}(input: &[u32]) -> u32 {{\n    let total: u32 = input.iter().sum();\n    \
             // Scale it.\n    let scaled = total * {index} + 1;\n    scaled.min(1_000)\n}}\n\n"
        ));
    }
    text
}

fn python_source(name: &str, n_functions: usize) -> String {
    let mut text = "# Licensed under the Apache License, Version 2.0.\n".repeat(10);
    for index in 0..n_functions {
        text.push_str(&format!(
            "def {name}_{index}(values):\n    \"\"\"Sums the values.\"\"\"\n    total = sum(values) * {index}\n    \
             return min(total, 1000)\n\n"
        ));
    }
    text
}

fn corpus() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for index in 0..12 {
        files.push((format!("src/module_{index}.rs"), rust_source(&format!("rust{index}"), 8)));
        files.push((format!("lib/pkg_{index}.py"), python_source(&format!("py{index}"), 8)));
    }
    files
}

fn options(seed: u64, n_tasks: usize) -> TaskOptions {
    TaskOptions { seed, n_tasks, extensions: vec!["rs".into(), "py".into()], max_file_bytes: 64 * 1024 }
}

#[test]
fn the_same_seed_cuts_the_same_tasks_and_another_seed_others() {
    let files = corpus();
    let tasks = tasks_from_files(&files, &options(1, 40));
    assert_eq!(tasks.len(), 40);
    assert_eq!(tasks, tasks_from_files(&files, &options(1, 40)));
    let reversed: Vec<(String, String)> = files.iter().rev().cloned().collect();
    assert_eq!(tasks, tasks_from_files(&reversed, &options(1, 40)), "the order of the files does not matter");
    let other = tasks_from_files(&files, &options(2, 40));
    assert_ne!(tasks, other);
    // Pinned, so a change to the generator or the rules shows up here: it changes every task set.
    let ids: Vec<&str> = tasks.iter().take(4).map(|task| task.id.as_str()).collect();
    expect_test::expect![[r#"
        [
            "lib/pkg_5.py:44:line",
            "src/module_6.rs:64:mid",
            "src/module_7.rs:47:multi",
            "src/module_0.rs:22:word",
        ]
    "#]]
    .assert_debug_eq(&ids);
}

#[test]
fn every_task_splits_its_file_into_prefix_span_and_suffix() {
    let files: HashMap<String, String> = corpus().into_iter().collect();
    let tasks = tasks_from_files(&corpus(), &options(7, 90));
    assert_eq!(tasks.len(), 90);
    for task in &tasks {
        assert_eq!(task.text, files[&task.path], "{}", task.id);
        assert_eq!(format!("{}{}{}", task.prefix(), task.expected, task.suffix()), task.text, "{}", task.id);
        assert_eq!(task.text_without_span(), format!("{}{}", task.prefix(), task.suffix()));
        assert!(!task.expected.trim().is_empty() && !task.expected.ends_with('\n'), "{task:?}");
        let (line, _) = task.line_and_utf16_column();
        assert!(line > 10, "{}: never in the licence header", task.id);
        assert_eq!(task.id, format!("{}:{line}:{}", task.path, task.kind));
        let line_before_cursor = task.prefix().rsplit('\n').next().unwrap_or_default();
        let n_lines = task.expected.lines().count();
        match task.kind {
            MaskKind::WholeLine => {
                assert!(line_before_cursor.trim().is_empty(), "{task:?}");
                assert_eq!(n_lines, 1);
            }
            MaskKind::MidLine => {
                assert!(!line_before_cursor.trim().is_empty(), "{task:?}");
                assert_eq!(n_lines, 1);
                assert!(task.expected.trim_end().chars().count() >= 8, "{task:?}");
            }
            MaskKind::MultiLine => {
                assert!(line_before_cursor.trim().is_empty(), "{task:?}");
                assert!((2..=4).contains(&n_lines), "{task:?}");
            }
            MaskKind::MidWord => {
                let typed = line_before_cursor.chars().next_back().unwrap_or(' ');
                let next = task.expected.chars().next().unwrap_or(' ');
                assert!(typed.is_alphanumeric() || typed == '_', "inside a name: {task:?}");
                assert!(next.is_alphanumeric() || next == '_', "inside a name: {task:?}");
                assert_eq!(n_lines, 1);
            }
        }
        assert!(task.suffix().is_empty() || task.suffix().starts_with('\n'), "masks end at a line end");
        let first_line = task.expected.lines().next().unwrap_or_default();
        assert!(
            !first_line.starts_with("//") && !first_line.starts_with('#'),
            "comments are not masked: {task:?}"
        );
    }
    let mut ids: Vec<&str> = tasks.iter().map(|task| task.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), tasks.len(), "ids are unique");
}

#[test]
fn kinds_come_in_equal_shares_and_files_share_the_set() {
    let tasks = tasks_from_files(&corpus(), &options(3, 60));
    assert_eq!(tasks.len(), 60);
    let mut per_kind: HashMap<MaskKind, usize> = HashMap::new();
    let mut per_file: HashMap<&str, usize> = HashMap::new();
    for task in &tasks {
        *per_kind.entry(task.kind).or_default() += 1;
        *per_file.entry(&task.path).or_default() += 1;
    }
    assert_eq!(per_kind.values().copied().collect::<Vec<_>>(), [15, 15, 15, 15]);
    assert_eq!(per_file.len(), 24, "every file takes part");
    assert!(per_file.values().all(|&n| n <= 3), "at most 60 / 20 per file: {per_file:?}");
}

#[test]
fn the_per_file_cap_can_leave_the_set_short() {
    let files = vec![("src/only.rs".to_owned(), rust_source("only", 20))];
    assert_eq!(tasks_from_files(&files, &options(0, 40)).len(), 2, "one file gives at most 40 / 20");
    assert_eq!(tasks_from_files(&files, &options(0, 10)).len(), 1, "and at least one");
}

#[test]
fn a_filter_that_keeps_everything_changes_nothing() {
    let files = corpus();
    let selection = tasks_from_files_where(&files, &options(1, 40), &mut |_| true);
    assert_eq!(selection.tasks, tasks_from_files(&files, &options(1, 40)));
    assert_eq!(selection.n_candidates, 40);
}

#[test]
fn a_filter_keeps_the_first_candidates_that_pass_and_counts_every_one() {
    let files = corpus();
    // Only the 12 Rust files qualify: each Python file is offered its share of tries, then left.
    let wanted = |task: &Task| task.path.ends_with(".rs");
    let mut offered: Vec<String> = Vec::new();
    let selection = tasks_from_files_where(&files, &options(1, 20), &mut |task| {
        offered.push(task.id.clone());
        wanted(task)
    });
    assert!(selection.tasks.iter().all(wanted));
    assert_eq!(selection.tasks.len(), 12, "one per file (20 / 20), so the Rust files run out first");
    assert_eq!(selection.n_candidates, offered.len());
    assert_eq!(selection.n_candidates, 12 + 12 * CANDIDATES_PER_TURN, "rejected candidates count too");
    let mut unique = offered.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), offered.len(), "no candidate is offered twice");
    assert_eq!(selection, tasks_from_files_where(&files, &options(1, 20), &mut |task| wanted(task)));
}

fn skip_fixture() -> String {
    let body = rust_source("body", 3);
    let generated = format!("// Code generated by protoc-gen-prost. DO NOT EDIT.\n{body}");
    let minified = format!("{body}const TABLE: [u8; 600] = [{}];\n", "0,".repeat(600));
    let binary_ish = format!("{body}\0\0\0\u{1}\u{2}");
    let python = python_source("body", 3);
    format!(
        "//- /src/kept.rs\n{body}//- /tests/integration.rs\n{body}//- /src/parser/tests/cases.rs\n{body}\
         //- /benches/speed.rs\n{body}//- /vendor/lib/x.rs\n{body}//- /third_party/y.rs\n{body}\
         //- /web/node_modules/z.rs\n{body}//- /target/debug/build/out.rs\n{body}\
         //- /src/generated.rs\n{generated}//- /src/minified.rs\n{minified}//- /src/blob.rs\n{binary_ish}\
         //- /lib/test_parse.py\n{python}//- /lib/parse_test.py\n{python}//- /README.md\n{body}"
    )
}

#[test]
fn skipped_files_never_produce_tasks() {
    let mut files = fixture(&skip_fixture());
    files.push(("src/huge.rs".to_owned(), rust_source("huge", 2000)));
    files.push(("pkg/server_test.go".to_owned(), rust_source("go", 3)));
    files.push(("web/app.test.ts".to_owned(), rust_source("ts", 3)));
    files.push(("web/app.spec.ts".to_owned(), rust_source("ts", 3)));
    let options = TaskOptions {
        extensions: vec!["rs".into(), "py".into(), "go".into(), "ts".into()],
        ..options(5, 1000)
    };
    let tasks = tasks_from_files(&files, &options);
    assert!(!tasks.is_empty());
    let paths: std::collections::BTreeSet<&str> = tasks.iter().map(|task| task.path.as_str()).collect();
    assert_eq!(paths.into_iter().collect::<Vec<_>>(), ["src/kept.rs"]);
}

/// A directory under the system temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let path = std::env::temp_dir().join(format!("wisp-eval-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn write(&self, path: &str, contents: &[u8]) {
        let path = self.0.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn git(repo: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "user.name=Eval", "-c", "user.email=eval@example.invalid", "-c", "commit.gpgsign=false"])
        .args(args)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?} failed");
}

fn sorted_by_id(mut tasks: Vec<Task>) -> Vec<Task> {
    tasks.sort_by(|a, b| a.id.cmp(&b.id));
    tasks
}

#[test]
fn tasks_from_a_git_repository_come_from_the_committed_files() {
    let dir = TempDir::new("repo");
    let repo = &dir.0;
    let files = fixture(&skip_fixture());
    for (path, text) in &files {
        dir.write(path, text.as_bytes());
    }
    dir.write("src/name with spaces.rs", rust_source("spaced", 3).as_bytes());
    dir.write("src/latin1.rs", b"fn caf\xe9() {}\n");
    git(repo, &["init", "--quiet"]);
    git(repo, &["add", "."]);
    git(repo, &["commit", "--quiet", "-m", "fixture"]);
    // Uncommitted edits and untracked files are not part of HEAD.
    dir.write("src/kept.rs", b"fn edited_after_the_commit() {}\n");
    dir.write("src/untracked.rs", rust_source("untracked", 3).as_bytes());

    let options = options(11, 100);
    let tasks = tasks_from_repo(repo, &options).unwrap();
    let committed = vec![
        ("src/kept.rs".to_owned(), rust_source("body", 3)),
        ("src/name with spaces.rs".to_owned(), rust_source("spaced", 3)),
    ];
    assert!(!tasks.is_empty());
    assert_eq!(tasks, tasks_from_files(&committed, &options));
    assert_eq!(tasks, tasks_from_repo(repo, &options).unwrap());
}

#[test]
fn a_directory_that_is_not_a_repository_is_an_error_that_says_so() {
    let dir = TempDir::new("not-a-repo");
    let error = tasks_from_repo(&dir.0, &options(0, 10)).unwrap_err();
    assert!(format!("{error:#}").contains("is it a git repository with a commit?"), "{error:#}");
}

#[test]
fn tasks_from_a_directory_honour_gitignore_without_git() {
    let dir = TempDir::new("dir");
    dir.write(".gitignore", b"/generated_out/\n*.bak.rs\n");
    dir.write("src/kept.rs", rust_source("kept", 4).as_bytes());
    dir.write("src/deep/also.py", python_source("also", 4).as_bytes());
    dir.write("generated_out/x.rs", rust_source("ignored", 4).as_bytes());
    dir.write("src/old.bak.rs", rust_source("backup", 4).as_bytes());
    dir.write(".hidden/y.rs", rust_source("hidden", 4).as_bytes());
    dir.write("vendor/z.rs", rust_source("vendored", 4).as_bytes());

    let options = options(4, 60);
    let tasks = tasks_from_dir(&dir.0, &options).unwrap();
    let expected = vec![
        ("src/kept.rs".to_owned(), rust_source("kept", 4)),
        ("src/deep/also.py".to_owned(), python_source("also", 4)),
    ];
    assert_eq!(tasks.len(), 6, "two files, at most 60 / 20 each");
    assert_eq!(sorted_by_id(tasks), sorted_by_id(tasks_from_files(&expected, &options)));
}
