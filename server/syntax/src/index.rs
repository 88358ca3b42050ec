//! The workspace index: what each source file of the workspace defines and imports, so context
//! for a completion can come from files the editor has not opened.
//!
//! [`index_workspace`] walks a folder the way `git` sees it (`.gitignore`, `.git/info/exclude`,
//! plus Wisp's own `.wispignore`), skips what is not hand-written source (binary, huge, not UTF-8,
//! no known language), parses each file with tree-sitter and keeps its definitions and imports.
//! The index keeps bounded snippets, never whole files, so its memory stays a small fraction of the
//! workspace's size. Files are replaced one at a time ([`WorkspaceIndex::update`]) as they change.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::names::{self, NameList};
use crate::tags::{self, DefinitionKind, FileTags, Import};
use crate::{Language, LanguageRegistry};

/// Files larger than this are not indexed: hand-written source is rarely over a few hundred
/// kilobytes, and a multi-megabyte file is generated code or data whose parse would stall the
/// index for seconds.
pub const MAX_INDEXED_FILE_BYTES: u64 = 1024 * 1024;
/// A NUL byte in the first this-many bytes marks a file as binary (what git and ripgrep check).
pub const BINARY_SNIFF_BYTES: usize = 8 * 1024;
/// A type, interface or constant is kept whole up to this many lines (a struct's fields are what
/// a completion needs); longer ones, and functions, keep their header only.
pub const MAX_SNIPPET_LINES: usize = 16;
/// Upper bound of one definition's snippet, in bytes.
pub const MAX_SNIPPET_BYTES: usize = 1536;
/// The name of Wisp's own ignore file, read like `.gitignore` in every folder.
pub const IGNORE_FILE_NAME: &str = ".wispignore";

/// One definition, as the index keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedDefinition {
    pub name: String,
    pub kind: DefinitionKind,
    /// Zero-based line of the definition's start.
    pub line: u32,
    /// The signature (text up to the body).
    pub header: String,
    /// What a prompt shows of it: the whole definition when short, else its header.
    pub snippet: String,
}

/// What the index knows about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedFile {
    /// Path relative to the workspace root, with `/` separators.
    pub path: String,
    /// The language's name (`grammars/<name>`).
    pub language: String,
    pub definitions: Vec<IndexedDefinition>,
    pub imports: Vec<Import>,
    pub n_lines: usize,
    pub n_bytes: usize,
    /// Every name the file uses (identifiers of its syntax tree), once each, sorted.
    pub names: NameList,
}

impl IndexedFile {
    /// Builds the entry for `source` from its tags.
    pub fn new(
        path: &str,
        language: &Language,
        source: &str,
        tags: &FileTags,
        names: NameList,
    ) -> IndexedFile {
        let mut line = 0u32;
        let mut counted = 0usize;
        let definitions = tags
            .definitions
            .iter()
            .map(|definition| {
                line += source.as_bytes()[counted..definition.range.start]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count() as u32;
                counted = definition.range.start;
                IndexedDefinition {
                    name: definition.name.clone(),
                    kind: definition.kind,
                    line,
                    header: definition.header.clone(),
                    snippet: definition_snippet(source, definition, &tags.definitions),
                }
            })
            .collect();
        IndexedFile {
            path: path.to_owned(),
            language: language.name.clone(),
            definitions,
            imports: tags.imports.clone(),
            n_lines: source.lines().count(),
            n_bytes: source.len(),
            names,
        }
    }

    /// Approximate heap bytes held by this entry.
    fn heap_bytes(&self) -> usize {
        let definitions: usize = self
            .definitions
            .iter()
            .map(|d| {
                d.name.len() + d.header.len() + d.snippet.len() + std::mem::size_of::<IndexedDefinition>()
            })
            .sum();
        let imports: usize = self
            .imports
            .iter()
            .map(|i| {
                i.source.as_ref().map_or(0, String::len)
                    + i.names.iter().map(String::len).sum::<usize>()
                    + std::mem::size_of::<Import>()
            })
            .sum();
        self.path.len() + self.language.len() + definitions + imports + self.names.heap_bytes()
    }
}

/// The text a prompt shows for a definition, from the start of its first line (indentation
/// kept): types, interfaces and constants whole when they have at most [`MAX_SNIPPET_LINES`]
/// lines; a longer type or interface as an outline — its header line and the headers of the
/// methods inside it (from `all`, the file's definitions) — or, without methods, its first lines
/// and an indented `...`; functions and methods by their header.
pub fn definition_snippet(source: &str, definition: &tags::Definition, all: &[tags::Definition]) -> String {
    let line_start =
        |offset: usize| source[..offset.min(source.len())].rfind('\n').map_or(0, |newline| newline + 1);
    let indent_of = |offset: usize| {
        let indent = source.get(line_start(offset)..offset).unwrap_or_default();
        if indent.trim().is_empty() {
            indent
        } else {
            ""
        }
    };
    let indent = indent_of(definition.range.start);
    let whole_kinds = matches!(
        definition.kind,
        DefinitionKind::Type | DefinitionKind::Interface | DefinitionKind::Constant
    );
    let mut text = if whole_kinds {
        let whole = source.get(definition.range.clone()).unwrap_or_default();
        let n_lines = whole.lines().count();
        let members: Vec<&tags::Definition> = all
            .iter()
            .filter(|member| {
                member.range.start > definition.range.start
                    && member.range.end <= definition.range.end
                    && matches!(member.kind, DefinitionKind::Method | DefinitionKind::Function)
            })
            .collect();
        if n_lines <= MAX_SNIPPET_LINES {
            format!("{indent}{whole}")
        } else if !members.is_empty() {
            // The lines before the first member (the header, fields or attributes), then each
            // member's header.
            let first_member_line = line_start(members[0].range.start);
            let head_end = first_member_line.max(definition.range.start);
            let head: Vec<&str> =
                source[definition.range.start..head_end].lines().take(MAX_SNIPPET_LINES / 2).collect();
            let mut text = format!("{indent}{}", head.join("\n").trim_end());
            for member in members.iter().filter(|member| {
                // Only direct members: not methods of nested classes.
                !members.iter().any(|outer| {
                    outer.range.start < member.range.start && member.range.end <= outer.range.end
                })
            }) {
                text.push_str(&format!("\n{}{}", indent_of(member.range.start), member.header));
            }
            text
        } else {
            let head: Vec<&str> = whole.lines().take(MAX_SNIPPET_LINES).collect();
            format!("{indent}{}\n{indent}    ...", head.join("\n"))
        }
    } else {
        format!("{indent}{}", definition.header)
    };
    if text.len() > MAX_SNIPPET_BYTES {
        let mut end = MAX_SNIPPET_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text.trim_end().to_owned()
}

/// Every indexed file, and its definitions by name.
#[derive(Debug, Default, Clone)]
pub struct WorkspaceIndex {
    files: HashMap<String, IndexedFile>,
    /// Definition name → paths of the files defining it.
    by_name: HashMap<String, Vec<String>>,
    /// Name → how many files use it.
    name_counts: HashMap<Box<str>, u32>,
    /// Every name some file uses, built when first asked for after a change.
    names: OnceLock<Arc<NameList>>,
}

/// Size of an index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexStats {
    pub n_files: usize,
    pub n_lines: usize,
    pub n_definitions: usize,
    /// Approximate heap bytes of the index.
    pub heap_bytes: usize,
}

impl WorkspaceIndex {
    pub fn new() -> WorkspaceIndex {
        WorkspaceIndex::default()
    }

    /// Parses `source` and replaces what the index knew about `path`.
    pub fn update(&mut self, path: &str, language: &Language, source: &str) {
        let (tags, names) = match tags::parse(language, source) {
            Some(tree) => (
                if language.tags_query().is_some() {
                    tags::extract(language, &tree, source)
                } else {
                    FileTags::default()
                },
                NameList::new(names::identifiers(&tree, source)),
            ),
            None => (FileTags::default(), NameList::default()),
        };
        self.insert(IndexedFile::new(path, language, source, &tags, names));
    }

    /// Replaces what the index knew about the entry's path.
    pub fn insert(&mut self, file: IndexedFile) {
        self.remove(&file.path);
        for definition in &file.definitions {
            let paths = self.by_name.entry(definition.name.clone()).or_default();
            if paths.last() != Some(&file.path) {
                paths.push(file.path.clone());
            }
        }
        for name in file.names.iter() {
            *self.name_counts.entry(name.into()).or_default() += 1;
        }
        self.names = OnceLock::new();
        self.files.insert(file.path.clone(), file);
    }

    /// Forgets a file (deleted, or now ignored).
    pub fn remove(&mut self, path: &str) {
        let Some(old) = self.files.remove(path) else { return };
        for definition in &old.definitions {
            if let Some(paths) = self.by_name.get_mut(&definition.name) {
                paths.retain(|p| p != path);
                if paths.is_empty() {
                    self.by_name.remove(&definition.name);
                }
            }
        }
        for name in old.names.iter() {
            if let Some(count) = self.name_counts.get_mut(name) {
                *count -= 1;
                if *count == 0 {
                    self.name_counts.remove(name);
                }
            }
        }
        self.names = OnceLock::new();
    }

    /// Every name some indexed file uses: what index-guided decoding lets a model write where a
    /// name is used. Shared, and built again only after the index changed.
    pub fn names(&self) -> Arc<NameList> {
        Arc::clone(self.names.get_or_init(|| Arc::new(NameList::new(self.name_counts.keys().cloned()))))
    }

    pub fn file(&self, path: &str) -> Option<&IndexedFile> {
        self.files.get(path)
    }

    pub fn files(&self) -> impl Iterator<Item = &IndexedFile> {
        self.files.values()
    }

    /// Definitions called `name`, in files in path order.
    pub fn definitions_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = (&'a IndexedFile, &'a IndexedDefinition)> + 'a {
        self.by_name.get(name).into_iter().flatten().filter_map(|path| self.files.get(path)).flat_map(
            move |file| file.definitions.iter().filter(move |d| d.name == name).map(move |d| (file, d)),
        )
    }

    /// How many files define `name`.
    pub fn n_files_defining(&self, name: &str) -> usize {
        self.by_name.get(name).map_or(0, Vec::len)
    }

    pub fn stats(&self) -> IndexStats {
        let files = self.files.values();
        IndexStats {
            n_files: self.files.len(),
            n_lines: files.clone().map(|f| f.n_lines).sum(),
            n_definitions: files.clone().map(|f| f.definitions.len()).sum(),
            heap_bytes: files.map(IndexedFile::heap_bytes).sum::<usize>()
                + self.by_name.iter().map(|(name, paths)| name.len() + paths.len() * 24 + 48).sum::<usize>()
                + self.name_counts.keys().map(|name| name.len() + 32).sum::<usize>(),
        }
    }
}

/// Why a file was left out of the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skipped {
    TooLarge,
    Binary,
    NotUtf8,
    Unreadable,
}

/// Reads a source file for indexing, or says why it is not one.
pub fn read_source(path: &Path) -> Result<String, Skipped> {
    let metadata = std::fs::metadata(path).map_err(|_| Skipped::Unreadable)?;
    if !metadata.is_file() {
        return Err(Skipped::Unreadable);
    }
    if metadata.len() > MAX_INDEXED_FILE_BYTES {
        return Err(Skipped::TooLarge);
    }
    let bytes = std::fs::read(path).map_err(|_| Skipped::Unreadable)?;
    if bytes.len() as u64 > MAX_INDEXED_FILE_BYTES {
        return Err(Skipped::TooLarge);
    }
    if bytes[..bytes.len().min(BINARY_SNIFF_BYTES)].contains(&0) {
        return Err(Skipped::Binary);
    }
    String::from_utf8(bytes).map_err(|_| Skipped::NotUtf8)
}

/// What one indexing pass did.
#[derive(Debug, Clone, Default)]
pub struct IndexReport {
    pub n_indexed: usize,
    pub n_lines: usize,
    /// Files left out, by reason.
    pub skipped: HashMap<Skipped, usize>,
    /// Walk errors (unreadable folders, symlink loops), as text.
    pub errors: Vec<String>,
    pub elapsed: Duration,
}

/// The source files under `root` that the index should hold: not ignored by `.gitignore`,
/// `.wispignore` or git's excludes, not hidden, in a known language. Symlinks are not followed,
/// so a link loop cannot trap the walk.
pub fn source_files(
    root: &Path,
    registry: &LanguageRegistry,
    errors: &mut Vec<String>,
) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    let walker = ignore::WalkBuilder::new(root)
        .add_custom_ignore_filename(IGNORE_FILE_NAME)
        .follow_links(false)
        .require_git(false)
        .build();
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                errors.push(error.to_string());
                continue;
            }
        };
        if !entry.file_type().is_some_and(|t| t.is_file()) || registry.by_path(entry.path()).is_none() {
            continue;
        }
        if let Some(relative) = relative_path(root, entry.path()) {
            files.push((entry.into_path(), relative));
        }
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    files
}

/// `path` relative to `root` with `/` separators; `None` when outside it or not UTF-8.
pub fn relative_path(root: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = relative.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

/// Indexes every source file under `root`, calling `progress(done, total)` as it goes; stops
/// early (with what it has) when `cancelled` says so.
pub fn index_workspace(
    root: &Path,
    registry: &LanguageRegistry,
    progress: &mut dyn FnMut(usize, usize),
    cancelled: &dyn Fn() -> bool,
) -> (WorkspaceIndex, IndexReport) {
    let started = Instant::now();
    let mut report = IndexReport::default();
    let files = source_files(root, registry, &mut report.errors);
    let mut index = WorkspaceIndex::new();
    for (done, (path, relative)) in files.iter().enumerate() {
        if cancelled() {
            break;
        }
        progress(done, files.len());
        let Some(language) = registry.by_path(path) else { continue };
        match read_source(path) {
            Ok(source) => {
                index.update(relative, &language, &source);
                report.n_indexed += 1;
                report.n_lines += source.lines().count();
            }
            Err(why) => *report.skipped.entry(why).or_default() += 1,
        }
    }
    progress(files.len(), files.len());
    report.elapsed = started.elapsed();
    (index, report)
}

/// A shared index handle for the server: readers take snapshots cheaply.
pub type SharedIndex = Arc<std::sync::RwLock<WorkspaceIndex>>;

/// Whether the index leaves `path` out: outside `root`, hidden, or matched by a `.gitignore` or
/// `.wispignore` in a folder from `root` down to the file (or git's `info/exclude`). The deepest
/// file with a matching rule decides, as in git.
pub fn is_ignored(root: &Path, path: &Path) -> bool {
    let Ok(relative) = path.strip_prefix(root) else { return true };
    if relative.components().any(|c| c.as_os_str().to_str().is_none_or(|name| name.starts_with('.'))) {
        return true;
    }
    matched_by_ignore_files(root, path, &[".gitignore", IGNORE_FILE_NAME], true)
}

/// Whether a `.wispignore` from `root` down to the file matches `path`: the user's "never show
/// this file to the model", which holds even for open documents (a `.gitignore` alone does not
/// stop completions in a file being edited).
pub fn is_wispignored(root: &Path, path: &Path) -> bool {
    path.strip_prefix(root).is_ok() && matched_by_ignore_files(root, path, &[IGNORE_FILE_NAME], false)
}

/// Whether the ignore files named `names` in the folders from `root` down to `path` ignore it
/// (the deepest file with a matching rule decides, as in git).
fn matched_by_ignore_files(root: &Path, path: &Path, names: &[&str], git_exclude: bool) -> bool {
    let Ok(relative) = path.strip_prefix(root) else { return false };
    let mut folders = vec![root.to_path_buf()];
    if let Some(parent) = relative.parent() {
        for component in parent.components() {
            let next = folders[folders.len() - 1].join(component);
            folders.push(next);
        }
    }
    for folder in folders.iter().rev() {
        let mut builder = ignore::gitignore::GitignoreBuilder::new(folder);
        let mut sources: Vec<_> = names.iter().map(|name| folder.join(name)).collect();
        if git_exclude && folder == root {
            sources.push(root.join(".git/info/exclude"));
        }
        for source in sources.iter().filter(|source| source.is_file()) {
            let _ = builder.add(source);
        }
        let Ok(rules) = builder.build() else { continue };
        match rules.matched_path_or_any_parents(path, false) {
            ignore::Match::Ignore(_) => return true,
            ignore::Match::Whitelist(_) => return false,
            ignore::Match::None => {}
        }
    }
    false
}
