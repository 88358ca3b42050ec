//! The names a suggestion may use where a name is used, for index-guided decoding
//! (`completion.guide`): the language's standard names, every name the workspace index has
//! seen, and the names of the document and of the prompt's snippets.

use std::hash::Hasher;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use wisp_context::Snippet;
use wisp_engine::NameOracle;
use wisp_syntax::names::{identifiers_in, is_identifier, name_use, NameList, NameUse};
use wisp_syntax::{Document, Language, Position, PositionEncoding};

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
///
/// This reads the document's whole tree; a server asking on every keystroke keeps a
/// [`DocumentNames`] per document instead.
pub fn known_names(
    document: &Document,
    offset: usize,
    snippets: &[Snippet],
    index: Option<Arc<NameList>>,
) -> Option<Arc<KnownNames>> {
    DocumentNames::default().known_names(document, offset, snippets, index)
}

/// The names of one document outside the cursor's line, kept while only that line changes:
/// typing changes the line under the cursor, so a keystroke reads that line's part of the tree,
/// not the whole tree (about a millisecond for 2,000 lines, on every keystroke).
#[derive(Debug, Default)]
pub struct DocumentNames {
    /// The names outside a line, and what they were read from (see [`outside_key`]).
    kept: Mutex<Option<(u64, Arc<NameList>)>>,
}

impl DocumentNames {
    /// As [`known_names`], reusing the names outside the cursor's line when the text outside it
    /// is what it was at the last call.
    pub fn known_names(
        &self,
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
            let line = line_range(document, offset);
            let key = outside_key(document, &line);
            let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
            let outside = match kept.as_ref() {
                Some((kept_key, names)) if *kept_key == key => Arc::clone(names),
                _ => {
                    let source = document.slice(0..document.len_bytes());
                    let names = Arc::new(NameList::new(
                        identifiers_in(tree, &source, 0)
                            .into_iter()
                            .filter(|(start, _)| !line.contains(start))
                            .map(|(_, name)| name),
                    ));
                    *kept = Some((key, Arc::clone(&names)));
                    names
                }
            };
            drop(kept);
            lists.push(outside);
            let text = document.slice(line.clone());
            for (start, name) in identifiers_in(tree, &text, line.start) {
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
}

/// Where the names for a cursor come from, read only when a model run needs them: a suggestion
/// answered from the cache, or by joining the generation already running, never reads them.
#[derive(Debug, Clone)]
pub struct NamesSource {
    pub document: Arc<DocumentNames>,
    /// Every name of the workspace index.
    pub index: Option<Arc<NameList>>,
}

impl NamesSource {
    /// The known names at `gathered`'s cursor (see [`known_names`]).
    pub fn read(&self, gathered: &super::Gathered) -> Option<Arc<KnownNames>> {
        let document = gathered.document.as_ref()?;
        self.document.known_names(document, gathered.offset, &gathered.snippets, self.index.clone())
    }
}

/// The byte range of the line `offset` is on, without its line break.
fn line_range(document: &Document, offset: usize) -> Range<usize> {
    let line = document.position(offset, PositionEncoding::Utf8).line;
    let start = document.offset_clamped(Position { line, character: 0 }, PositionEncoding::Utf8);
    let end = document.offset_clamped(Position { line, character: u32::MAX }, PositionEncoding::Utf8);
    start..end.max(offset)
}

/// A hash of the document's text outside `line`, and of where the line starts.
fn outside_key(document: &Document, line: &Range<usize>) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let text = document.text();
    for chunk in text.byte_slice(..line.start).chunks() {
        hasher.write(chunk.as_bytes());
    }
    hasher.write_u8(0xff);
    for chunk in text.byte_slice(line.end..).chunks() {
        hasher.write(chunk.as_bytes());
    }
    hasher.write_usize(line.start);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rust(text: &str) -> Document {
        Document::new(text, wisp_syntax::LanguageRegistry::builtin().by_name("rust"))
    }

    fn kept(names: &DocumentNames) -> Arc<NameList> {
        Arc::clone(&names.kept.lock().unwrap().as_ref().unwrap().1)
    }

    #[test]
    fn typing_on_a_line_keeps_the_other_lines_names_and_an_edit_elsewhere_reads_them_again() {
        let names = DocumentNames::default();
        let before = "fn area(width: u32) -> u32 {\n    let height = 2;\n    wid\n}\n";
        let cursor = before.find("wid\n").unwrap() + 3;
        let known = names.known_names(&rust(before), cursor, &[], None).unwrap();
        assert!(known.contains("width") && known.contains("height"));
        assert!(!known.contains("wid"), "the word being typed is not a known name");
        let outside = kept(&names);

        // Typing on the cursor's line: the rest of the document is not read again.
        let typed = before.replace("    wid\n", "    width * height + depth\n");
        let cursor = typed.find("depth").unwrap() + 5;
        let known = names.known_names(&rust(&typed), cursor, &[], None).unwrap();
        assert!(Arc::ptr_eq(&outside, &kept(&names)));
        assert!(known.contains("width") && known.contains("height"));
        assert!(!known.contains("depth"));
        let fresh = known_names(&rust(&typed), cursor, &[], None).unwrap();
        for name in ["area", "width", "height", "depth", "u32"] {
            assert_eq!(known.contains(name), fresh.contains(name), "{name}");
        }

        // A name written on another line is read.
        let elsewhere = typed.replace("let height = 2;", "let depth = 2;").replace("fn area", "fn volume");
        let known = names.known_names(&rust(&elsewhere), cursor, &[], None).unwrap();
        assert!(!Arc::ptr_eq(&outside, &kept(&names)));
        assert!(known.contains("depth") && known.contains("volume") && !known.contains("area"));
    }
}
