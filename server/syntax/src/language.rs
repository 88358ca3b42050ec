//! Languages and the registry that finds them by LSP `languageId` or file extension.
//!
//! Everything Wisp knows about a language lives in `grammars/<lang>/`: its `language.toml` and its
//! `tags.scm` query (both documented in `grammars/README.md`). The files of the built-in languages
//! are embedded in the binary; each `language.toml` names one of the tree-sitter grammars linked
//! into it, and each query is compiled once, when the registry is built.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;

use crate::names::NameList;
use crate::tags;

/// A language Wisp knows: how editors name it, which files are in it, and its grammar.
pub struct Language {
    /// The language's name, which is also its folder under `grammars/`.
    pub name: String,
    /// LSP `languageId`s that select this language, such as `"typescriptreact"`.
    pub language_ids: Vec<String>,
    /// File extensions without the leading dot, such as `"rs"`, matched ignoring ASCII case.
    pub file_extensions: Vec<String>,
    /// The token that starts a line comment, such as `"//"`, if the language has one.
    pub line_comment: Option<String>,
    /// Line starts that begin a new top-level item (`fn `, `def `): a suggestion stops before a
    /// later line that starts with one at column 0.
    pub stop_patterns: Vec<String>,
    /// Words after which names are declared, not used (`let`, `fn`, `def`): see
    /// [`crate::names::name_use`].
    pub declaration_keywords: Vec<String>,
    /// Keywords, builtins and common standard-library names: names every file of the language
    /// may use without defining them.
    pub standard_names: Arc<NameList>,
    /// The language whose standard names this one shares (`standard_names_from`).
    standard_names_from: Option<String>,
    /// The key of the tree-sitter grammar in [`GRAMMARS`].
    grammar_name: String,
    grammar: tree_sitter::Language,
    /// The compiled `tags.scm`, if the language has one.
    tags_query: Option<tree_sitter::Query>,
}

impl Language {
    /// Reads a `language.toml`; `source` names the file in errors.
    pub fn from_toml(source: &str, toml_text: &str) -> Result<Language, LanguageConfigError> {
        let config: LanguageConfig = toml::from_str(toml_text).map_err(|error| {
            LanguageConfigError::Toml { source_name: source.to_owned(), message: error.to_string() }
        })?;
        let Some(grammar) = grammar_by_name(&config.grammar) else {
            return Err(LanguageConfigError::UnknownGrammar {
                source_name: source.to_owned(),
                grammar: config.grammar,
                known: known_grammars(),
            });
        };
        if let Err(error) = tree_sitter::Parser::new().set_language(&grammar) {
            return Err(LanguageConfigError::IncompatibleGrammar {
                source_name: source.to_owned(),
                grammar: config.grammar,
                message: error.to_string(),
            });
        }
        if let Some(extension) = config.file_extensions.iter().find(|e| e.starts_with('.')) {
            return Err(LanguageConfigError::DottedExtension {
                source_name: source.to_owned(),
                extension: extension.clone(),
            });
        }
        Ok(Language {
            name: config.name,
            language_ids: config.language_ids,
            file_extensions: config.file_extensions,
            line_comment: config.line_comment,
            stop_patterns: config.stop_patterns,
            declaration_keywords: config.declaration_keywords,
            standard_names: Arc::new(NameList::new(
                config.standard_names.as_deref().map(crate::names::parse_names).unwrap_or_default(),
            )),
            standard_names_from: config.standard_names_from,
            grammar_name: config.grammar,
            grammar,
            tags_query: None,
        })
    }

    /// Reads a `language.toml` and, when given, the `tags.scm` of the same folder; `toml_name`
    /// and `tags_name` name the files in errors.
    pub fn from_files(files: &LanguageFiles<'_>) -> Result<Language, LanguageConfigError> {
        let mut language = Language::from_toml(files.toml_name, files.toml_text)?;
        if let Some((tags_name, tags_text)) = files.tags {
            language.tags_query = Some(compile_tags_query(&language.grammar, tags_name, tags_text)?);
        }
        Ok(language)
    }

    /// The tree-sitter grammar that parses this language.
    pub fn grammar(&self) -> &tree_sitter::Language {
        &self.grammar
    }

    /// The `grammar` key from `language.toml`.
    pub fn grammar_name(&self) -> &str {
        &self.grammar_name
    }

    /// The language's compiled `tags.scm` (capture names in `grammars/README.md`), or `None`
    /// when the language has none. [`crate::tags::extract`] runs it.
    pub fn tags_query(&self) -> Option<&tree_sitter::Query> {
        self.tags_query.as_ref()
    }
}

impl fmt::Debug for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Language")
            .field("name", &self.name)
            .field("language_ids", &self.language_ids)
            .field("file_extensions", &self.file_extensions)
            .field("line_comment", &self.line_comment)
            .field("grammar", &self.grammar_name)
            .field("has_tags_query", &self.tags_query.is_some())
            .finish()
    }
}

/// The keys of a `language.toml`; see `grammars/README.md`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LanguageConfig {
    name: String,
    grammar: String,
    language_ids: Vec<String>,
    #[serde(default)]
    file_extensions: Vec<String>,
    #[serde(default)]
    line_comment: Option<String>,
    #[serde(default)]
    stop_patterns: Vec<String>,
    #[serde(default)]
    declaration_keywords: Vec<String>,
    #[serde(default)]
    standard_names: Option<String>,
    #[serde(default)]
    standard_names_from: Option<String>,
}

/// Makes one of the tree-sitter grammars linked into the binary.
type GrammarFn = fn() -> tree_sitter::Language;

/// The tree-sitter grammars linked into the binary, by the name `language.toml` gives them.
const GRAMMARS: &[(&str, GrammarFn)] = &[
    ("rust", || tree_sitter_rust::LANGUAGE.into()),
    ("python", || tree_sitter_python::LANGUAGE.into()),
    ("typescript", || tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into()),
    ("tsx", || tree_sitter_typescript::LANGUAGE_TSX.into()),
    ("javascript", || tree_sitter_javascript::LANGUAGE.into()),
    ("go", || tree_sitter_go::LANGUAGE.into()),
    ("c", || tree_sitter_c::LANGUAGE.into()),
    ("cpp", || tree_sitter_cpp::LANGUAGE.into()),
    ("java", || tree_sitter_java::LANGUAGE.into()),
];

fn grammar_by_name(name: &str) -> Option<tree_sitter::Language> {
    GRAMMARS.iter().find(|(key, _)| *key == name).map(|(_, grammar)| grammar())
}

fn known_grammars() -> String {
    let names: Vec<&str> = GRAMMARS.iter().map(|(name, _)| *name).collect();
    names.join(", ")
}

/// Compiles a `tags.scm` for `grammar`, rejecting capture names that are not documented (or
/// start with `_`, for predicates) so that a typo never silently captures nothing.
fn compile_tags_query(
    grammar: &tree_sitter::Language,
    source_name: &str,
    query_text: &str,
) -> Result<tree_sitter::Query, LanguageConfigError> {
    let query = tree_sitter::Query::new(grammar, query_text).map_err(|error| LanguageConfigError::Query {
        source_name: source_name.to_owned(),
        line: error.row + 1,
        column: error.column + 1,
        offset: error.offset,
        message: describe_query_error(&error),
    })?;
    let is_documented = |name: &str| tags::CAPTURES.iter().any(|(capture_name, _)| *capture_name == name);
    if let Some(capture) =
        query.capture_names().iter().find(|name| !name.starts_with('_') && !is_documented(name))
    {
        return Err(LanguageConfigError::UnknownCapture {
            source_name: source_name.to_owned(),
            capture: (*capture).to_owned(),
            known: tags::CAPTURES.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", "),
        });
    }
    Ok(query)
}

/// Tree-sitter's query error as a sentence: its message alone is often just the offending name.
fn describe_query_error(error: &tree_sitter::QueryError) -> String {
    use tree_sitter::QueryErrorKind;
    let message = error.message.trim();
    match error.kind {
        QueryErrorKind::Syntax => format!("syntax error: {message}"),
        QueryErrorKind::NodeType => format!("the grammar has no node type \"{message}\""),
        QueryErrorKind::Field => format!("the grammar has no field \"{message}\""),
        QueryErrorKind::Capture => format!("unknown capture \"{message}\" in a predicate"),
        QueryErrorKind::Predicate => format!("invalid predicate: {message}"),
        QueryErrorKind::Structure => format!("the grammar cannot produce this pattern: {message}"),
        QueryErrorKind::Language => format!("the query does not fit the grammar: {message}"),
    }
}

/// The files of one folder under `grammars/`, with the names used in errors.
#[derive(Debug, Clone, Copy)]
pub struct LanguageFiles<'a> {
    /// The name of the `language.toml` in errors, such as `"grammars/rust/language.toml"`.
    pub toml_name: &'a str,
    /// The text of the `language.toml`.
    pub toml_text: &'a str,
    /// The name and text of the folder's `tags.scm`, if it has one.
    pub tags: Option<(&'a str, &'a str)>,
}

/// The `tags.scm` of `files` with the one it inherits from put in front, when its header has a
/// `; inherits: <folder>` line (TSX's queries are TypeScript's plus JSX patterns). Errors name the
/// joined text as `grammars/<folder>/tags.scm + grammars/<this>/tags.scm`, with line numbers
/// counted in the joined text. `None` when nothing is inherited.
fn with_inherited_tags(
    files: &LanguageFiles<'_>,
    all: &[LanguageFiles<'_>],
) -> Result<Option<(String, String)>, LanguageConfigError> {
    let Some((tags_name, tags_text)) = files.tags else { return Ok(None) };
    let parent = tags_text
        .lines()
        .take_while(|line| line.starts_with(';') || line.trim().is_empty())
        .find_map(|line| line.strip_prefix("; inherits:").map(str::trim));
    let Some(parent) = parent else { return Ok(None) };
    let parent_name = format!("grammars/{parent}/tags.scm");
    let Some((_, parent_text)) =
        all.iter().filter_map(|other| other.tags).find(|(name, _)| *name == parent_name)
    else {
        return Err(LanguageConfigError::Query {
            source_name: tags_name.to_owned(),
            line: 1,
            column: 1,
            offset: 0,
            message: format!("inherits from {parent_name}, which is not among the languages loaded"),
        });
    };
    Ok(Some((format!("{parent_name} + {tags_name}"), format!("{parent_text}\n{tags_text}"))))
}

/// The files of the built-in language in `grammars/<$name>/`, embedded in the binary;
/// `builtin_language!("x", without_tags)` for a folder that has no `tags.scm`.
macro_rules! builtin_language {
    ($name:literal, without_tags) => {
        LanguageFiles {
            toml_name: concat!("grammars/", $name, "/language.toml"),
            toml_text: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../grammars/",
                $name,
                "/language.toml"
            )),
            tags: None,
        }
    };
    ($name:literal) => {
        LanguageFiles {
            toml_name: concat!("grammars/", $name, "/language.toml"),
            toml_text: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../grammars/",
                $name,
                "/language.toml"
            )),
            tags: Some((
                concat!("grammars/", $name, "/tags.scm"),
                include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../grammars/", $name, "/tags.scm")),
            )),
        }
    };
}

/// The files of every built-in language.
const BUILTIN_LANGUAGES: &[LanguageFiles<'static>] = &[
    builtin_language!("rust"),
    builtin_language!("python"),
    builtin_language!("typescript"),
    builtin_language!("tsx"),
    builtin_language!("javascript"),
    builtin_language!("go"),
    builtin_language!("c"),
    builtin_language!("cpp"),
    builtin_language!("java"),
];

/// Why a `language.toml` or a set of them could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LanguageConfigError {
    /// The file is not valid TOML or has missing, mistyped or unknown keys.
    #[error("{source_name}: {message}")]
    Toml {
        /// The file.
        source_name: String,
        /// The TOML parser's message, which names the offending key.
        message: String,
    },
    /// The `grammar` key names no grammar linked into the binary.
    #[error("{source_name}: unknown grammar \"{grammar}\"; the known grammars are {known}")]
    UnknownGrammar {
        /// The file.
        source_name: String,
        /// The `grammar` value.
        grammar: String,
        /// The known grammar names, comma-separated.
        known: String,
    },
    /// The grammar was generated for a tree-sitter ABI this build cannot load.
    #[error("{source_name}: grammar \"{grammar}\" cannot be loaded: {message}")]
    IncompatibleGrammar {
        /// The file.
        source_name: String,
        /// The `grammar` value.
        grammar: String,
        /// Tree-sitter's reason.
        message: String,
    },
    /// A file extension starts with a dot.
    #[error("{source_name}: file extension \"{extension}\" starts with a dot; write it without the dot")]
    DottedExtension {
        /// The file.
        source_name: String,
        /// The extension as written.
        extension: String,
    },
    /// A `tags.scm` is not a valid query for the language's grammar.
    #[error("{source_name}:{line}:{column} (byte {offset}): {message}")]
    Query {
        /// The query file.
        source_name: String,
        /// The 1-based line of the error.
        line: usize,
        /// The 1-based column of the error, in bytes.
        column: usize,
        /// The byte offset of the error in the file.
        offset: usize,
        /// What is wrong, from tree-sitter.
        message: String,
    },
    /// A `tags.scm` uses a capture name that is not part of the documented API.
    #[error("{source_name}: unknown capture @{capture}; the known captures are {known} (names starting with _ are free for predicates)")]
    UnknownCapture {
        /// The query file.
        source_name: String,
        /// The capture name, without the `@`.
        capture: String,
        /// The documented capture names, comma-separated.
        known: String,
    },
    /// Two languages claim the same name, `languageId` or file extension.
    #[error("{what} \"{value}\" is claimed by both {first} and {second}")]
    Duplicate {
        /// What is claimed twice: "name", "language id" or "file extension".
        what: &'static str,
        /// The value claimed twice.
        value: String,
        /// The language that claimed it first.
        first: String,
        /// The language that claimed it again.
        second: String,
    },
}

/// The languages Wisp knows, found by LSP `languageId` or file extension.
#[derive(Debug, Clone, Default)]
pub struct LanguageRegistry {
    languages: Vec<Arc<Language>>,
}

impl LanguageRegistry {
    /// The languages built into the binary, from the embedded `grammars/*/language.toml` and
    /// `tags.scm` files.
    ///
    /// The first call compiles the queries (a few hundred milliseconds: tree-sitter analyses each
    /// pattern against the grammar, and C++'s is large); later calls share its languages.
    pub fn builtin() -> LanguageRegistry {
        static BUILTIN: OnceLock<LanguageRegistry> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                // The embedded files are part of the program, not outside data, and a test loads
                // them.
                LanguageRegistry::from_files(BUILTIN_LANGUAGES)
                    .expect("the built-in grammars/*/language.toml and tags.scm files are valid")
            })
            .clone()
    }

    /// Loads the languages of `(source name, language.toml text)` pairs, without query files.
    pub fn from_tomls(files: &[(&str, &str)]) -> Result<LanguageRegistry, LanguageConfigError> {
        let mut registry = LanguageRegistry::default();
        for (source, toml_text) in files {
            let language = Language::from_toml(source, toml_text)?;
            registry.add(registry.with_shared_names(source, language)?)?;
        }
        Ok(registry)
    }

    /// Loads the languages of language folders, compiling each query file once.
    pub fn from_files(files: &[LanguageFiles<'_>]) -> Result<LanguageRegistry, LanguageConfigError> {
        let mut registry = LanguageRegistry::default();
        for language_files in files {
            let inherited = with_inherited_tags(language_files, files)?;
            let tags =
                inherited.as_ref().map(|(name, text)| (name.as_str(), text.as_str())).or(language_files.tags);
            let language = Language::from_files(&LanguageFiles { tags, ..*language_files })?;
            registry.add(registry.with_shared_names(language_files.toml_name, language)?)?;
        }
        Ok(registry)
    }

    /// `language` with the standard names of the language its `standard_names_from` names, which
    /// must be loaded before it.
    fn with_shared_names(
        &self,
        source: &str,
        mut language: Language,
    ) -> Result<Language, LanguageConfigError> {
        let Some(from) = language.standard_names_from.clone() else { return Ok(language) };
        let Some(shared) = self.languages.iter().find(|other| other.name == from) else {
            return Err(LanguageConfigError::Toml {
                source_name: source.to_owned(),
                message: format!(
                    "standard_names_from names \"{from}\", which is not a language loaded before this one"
                ),
            });
        };
        let mut names: Vec<&str> = shared.standard_names.iter().collect();
        names.extend(language.standard_names.iter());
        language.standard_names = Arc::new(NameList::new(names));
        Ok(language)
    }

    /// Adds a language, unless its name, a `languageId` or an extension is already taken.
    pub fn add(&mut self, language: Language) -> Result<(), LanguageConfigError> {
        for existing in &self.languages {
            let duplicate = |what: &'static str, value: &str| LanguageConfigError::Duplicate {
                what,
                value: value.to_owned(),
                first: existing.name.clone(),
                second: language.name.clone(),
            };
            if existing.name == language.name {
                return Err(duplicate("name", &language.name));
            }
            if let Some(id) = language.language_ids.iter().find(|id| existing.language_ids.contains(id)) {
                return Err(duplicate("language id", id));
            }
            if let Some(extension) = language
                .file_extensions
                .iter()
                .find(|extension| existing.file_extensions.iter().any(|e| e.eq_ignore_ascii_case(extension)))
            {
                return Err(duplicate("file extension", extension));
            }
        }
        self.languages.push(Arc::new(language));
        Ok(())
    }

    /// The language with LSP `languageId` `id`, such as `"rust"` or `"typescriptreact"`.
    pub fn by_language_id(&self, id: &str) -> Option<Arc<Language>> {
        self.languages.iter().find(|language| language.language_ids.iter().any(|l| l == id)).cloned()
    }

    /// The language of `path`, by its extension (ignoring ASCII case).
    pub fn by_path(&self, path: &Path) -> Option<Arc<Language>> {
        let extension = path.extension()?.to_str()?;
        self.languages
            .iter()
            .find(|language| language.file_extensions.iter().any(|e| e.eq_ignore_ascii_case(extension)))
            .cloned()
    }

    /// The language named `name`, which is its folder under `grammars/`.
    pub fn by_name(&self, name: &str) -> Option<Arc<Language>> {
        self.languages.iter().find(|language| language.name == name).cloned()
    }

    /// Every language, in load order.
    pub fn languages(&self) -> impl Iterator<Item = &Arc<Language>> {
        self.languages.iter()
    }
}
