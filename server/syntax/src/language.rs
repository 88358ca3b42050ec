//! Languages and the registry that finds them by LSP `languageId` or file extension.
//!
//! Everything Wisp knows about a language lives in `grammars/<lang>/language.toml` (documented in
//! `grammars/README.md`); the files of the built-in languages are embedded in the binary, and each
//! names one of the tree-sitter grammars linked into it.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

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
    /// The key of the tree-sitter grammar in [`GRAMMARS`].
    grammar_name: String,
    grammar: tree_sitter::Language,
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
            grammar_name: config.grammar,
            grammar,
        })
    }

    /// The tree-sitter grammar that parses this language.
    pub fn grammar(&self) -> &tree_sitter::Language {
        &self.grammar
    }

    /// The `grammar` key from `language.toml`.
    pub fn grammar_name(&self) -> &str {
        &self.grammar_name
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
];

fn grammar_by_name(name: &str) -> Option<tree_sitter::Language> {
    GRAMMARS.iter().find(|(key, _)| *key == name).map(|(_, grammar)| grammar())
}

fn known_grammars() -> String {
    let names: Vec<&str> = GRAMMARS.iter().map(|(name, _)| *name).collect();
    names.join(", ")
}

/// The `language.toml` of every built-in language, with the name used in errors.
const BUILTIN_LANGUAGES: &[(&str, &str)] = &[
    (
        "grammars/rust/language.toml",
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../grammars/rust/language.toml")),
    ),
    (
        "grammars/python/language.toml",
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../grammars/python/language.toml")),
    ),
    (
        "grammars/typescript/language.toml",
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../grammars/typescript/language.toml")),
    ),
    (
        "grammars/tsx/language.toml",
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../grammars/tsx/language.toml")),
    ),
    (
        "grammars/javascript/language.toml",
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../grammars/javascript/language.toml")),
    ),
    (
        "grammars/go/language.toml",
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../grammars/go/language.toml")),
    ),
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
    /// The languages built into the binary, from the embedded `grammars/*/language.toml`.
    pub fn builtin() -> LanguageRegistry {
        // The embedded files are part of the program, not outside data, and a test loads them.
        LanguageRegistry::from_tomls(BUILTIN_LANGUAGES)
            .expect("the built-in grammars/*/language.toml files are valid")
    }

    /// Loads the languages of `(source name, language.toml text)` pairs.
    pub fn from_tomls(files: &[(&str, &str)]) -> Result<LanguageRegistry, LanguageConfigError> {
        let mut registry = LanguageRegistry::default();
        for (source, toml_text) in files {
            registry.add(Language::from_toml(source, toml_text)?)?;
        }
        Ok(registry)
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
