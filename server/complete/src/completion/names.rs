//! The names a suggestion may use where a name is used, for index-guided decoding
//! (`completion.guide`): the language's standard names, every name the workspace index has
//! seen, and the names of the document and of the prompt's snippets.

use std::sync::Arc;

use wisp_context::Snippet;
use wisp_engine::NameOracle;
use wisp_syntax::names::{identifiers, is_identifier, name_use, NameList, NameUse};
use wisp_syntax::{Document, Language};

/// Known names, in shared lists, with the language that says where a name is used.
#[derive(Debug, Clone)]
pub struct KnownNames {
    language: Arc<Language>,
    lists: Vec<Arc<NameList>>,
}

impl KnownNames {
    /// Whether any list has `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.lists.iter().any(|list| list.contains(name))
    }

    pub fn language(&self) -> &Language {
        &self.language
    }

    /// Names in all lists (a name in several lists counts once per list).
    pub fn len(&self) -> usize {
        self.lists.iter().map(|list| list.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl NameOracle for KnownNames {
    fn knows(&self, word: &str, whole: bool) -> bool {
        self.lists.iter().any(|list| if whole { list.contains(word) } else { list.extends(word) })
    }

    fn is_used_at(&self, before: &str) -> bool {
        name_use(before, &self.language) == NameUse::Used
    }
}

/// The names a suggestion at byte `offset` of `document` may use: the language's standard
/// names, `index` (every name of the workspace), and the names of the document and of
/// `snippets`. The name the cursor is in (being typed) counts only where it also stands
/// elsewhere. None for a document without a language.
pub fn known_names(
    document: &Document,
    offset: usize,
    snippets: &[Snippet],
    index: Option<Arc<NameList>>,
) -> Option<Arc<KnownNames>> {
    let language = document.shared_language()?;
    let mut lists = vec![Arc::clone(&language.standard_names)];
    lists.extend(index);
    let mut local: Vec<String> = Vec::new();
    if let Some(tree) = document.tree() {
        let source = document.slice(0..document.len_bytes());
        let base = source.as_ptr() as usize;
        for name in identifiers(tree, &source) {
            let start = name.as_ptr() as usize - base;
            if !(start..=start + name.len()).contains(&offset) {
                local.push(name.to_owned());
            }
        }
    }
    for snippet in snippets {
        let text = &snippet.text;
        local.extend(
            text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .filter(|word| is_identifier(word))
                .map(str::to_owned),
        );
    }
    lists.push(Arc::new(NameList::new(local)));
    Some(Arc::new(KnownNames { language, lists }))
}
