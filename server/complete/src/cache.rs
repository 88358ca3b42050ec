//! Suggestions already computed, answered again without the model.
//!
//! Two kinds of hits: *exact* (same model, same text before and after the cursor), and
//! *typed-through*: the user typed characters that match the head of a suggestion on screen, so
//! the rest of it is still the answer. Entries are keyed by model, so a suggestion is never served
//! for another model, and every hit checks the text after the cursor, so it is never served for a
//! different suffix.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// Bytes of the text before the cursor kept per entry to recognise a typed-through prefix. Long
/// enough that two different places in a file practically never share it.
const PREFIX_TAIL_BYTES: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hit {
    /// The same cursor context as before: the same suggestion.
    Exact(String),
    /// The user typed the head of a suggestion: the rest of it.
    TypedThrough(String),
}

#[derive(Debug)]
struct Entry {
    model: String,
    document: u64,
    prefix_hash: u64,
    suffix_hash: u64,
    prefix_tail: String,
    text: String,
    last_used: u64,
}

/// A bounded LRU of suggestions.
#[derive(Debug)]
pub struct SuggestionCache {
    entries: Vec<Entry>,
    capacity: usize,
    clock: u64,
}

fn hash(text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// The last `PREFIX_TAIL_BYTES` of `text`, starting at a character boundary.
fn tail(text: &str) -> &str {
    let mut start = text.len().saturating_sub(PREFIX_TAIL_BYTES);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

impl SuggestionCache {
    pub fn new(capacity: usize) -> SuggestionCache {
        SuggestionCache { entries: Vec::new(), capacity: capacity.max(1), clock: 0 }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Looks up the cursor context `prefix|suffix` of `document` (a hash of its path, which is
    /// part of the prompt) for `model`.
    pub fn lookup(&mut self, model: &str, document: u64, prefix: &str, suffix: &str) -> Option<Hit> {
        self.clock += 1;
        let (prefix_hash, suffix_hash) = (hash(prefix), hash(suffix));
        let clock = self.clock;
        let same_place = |entry: &Entry| entry.model == model && entry.suffix_hash == suffix_hash;
        if let Some(entry) = self
            .entries
            .iter_mut()
            .find(|entry| same_place(entry) && entry.document == document && entry.prefix_hash == prefix_hash)
        {
            entry.last_used = clock;
            return Some(Hit::Exact(entry.text.clone()));
        }
        for entry in self.entries.iter_mut().filter(|entry| same_place(entry) && entry.document == document) {
            if let Some(rest) = typed_through(&entry.prefix_tail, &entry.text, prefix) {
                entry.last_used = clock;
                return Some(Hit::TypedThrough(rest.to_owned()));
            }
        }
        None
    }

    /// Remembers a suggestion shown at `prefix|suffix`; the least recently used entry goes when
    /// the cache is full.
    pub fn insert(&mut self, model: &str, document: u64, prefix: &str, suffix: &str, text: &str) {
        if text.is_empty() {
            return;
        }
        self.clock += 1;
        let (prefix_hash, suffix_hash) = (hash(prefix), hash(suffix));
        self.entries.retain(|entry| {
            !(entry.model == model
                && entry.document == document
                && entry.prefix_hash == prefix_hash
                && entry.suffix_hash == suffix_hash)
        });
        if self.entries.len() >= self.capacity {
            if let Some(oldest) = (0..self.entries.len()).min_by_key(|&index| self.entries[index].last_used) {
                self.entries.swap_remove(oldest);
            }
        }
        self.entries.push(Entry {
            model: model.to_owned(),
            document,
            prefix_hash,
            suffix_hash,
            prefix_tail: tail(prefix).to_owned(),
            text: text.to_owned(),
            last_used: self.clock,
        });
    }

    /// Changes how many suggestions are kept, dropping the least recently used ones.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
        while self.entries.len() > self.capacity {
            if let Some(oldest) = (0..self.entries.len()).min_by_key(|&index| self.entries[index].last_used) {
                self.entries.swap_remove(oldest);
            }
        }
    }

    /// Forgets everything (the model changed).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// If `prefix` is the prefix a suggestion was made at, followed by a non-empty head of the
/// suggestion, the rest of the suggestion (non-empty).
fn typed_through<'a>(old_prefix_tail: &str, text: &'a str, prefix: &str) -> Option<&'a str> {
    text.char_indices().skip(1).map(|(index, _)| index).find_map(|typed_len| {
        let typed = &text[..typed_len];
        let before = prefix.strip_suffix(typed)?;
        before.ends_with(old_prefix_tail).then_some(&text[typed_len..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_hits_need_the_same_model_prefix_and_suffix() {
        let mut cache = SuggestionCache::new(8);
        cache.insert("m1", 1, "let x = ", ";\n}", "compute()");
        assert_eq!(cache.lookup("m1", 1, "let x = ", ";\n}"), Some(Hit::Exact("compute()".into())));
        // Another document has another path in its prompt.
        assert_eq!(cache.lookup("m1", 2, "let x = ", ";\n}"), None);
        assert_eq!(cache.lookup("m2", 1, "let x = ", ";\n}"), None, "never for another model");
        assert_eq!(cache.lookup("m1", 1, "let x = ", ");\n}"), None, "never for another suffix");
        assert_eq!(cache.lookup("m1", 1, "let y = ", ";\n}"), None);
    }

    #[test]
    fn typing_the_head_of_a_suggestion_serves_the_rest() {
        let mut cache = SuggestionCache::new(8);
        cache.insert("m", 1, "fn main() {\n    let total = ", "\n}", "items.len();");
        let hit = cache.lookup("m", 1, "fn main() {\n    let total = it", "\n}");
        assert_eq!(hit, Some(Hit::TypedThrough("ems.len();".into())));
        let hit = cache.lookup("m", 1, "fn main() {\n    let total = items.len()", "\n}");
        assert_eq!(hit, Some(Hit::TypedThrough(";".into())));
        // Typed something else, typed all of it, another suffix, another model: no hit.
        assert_eq!(cache.lookup("m", 1, "fn main() {\n    let total = iz", "\n}"), None);
        assert_eq!(cache.lookup("m", 1, "fn main() {\n    let total = items.len();", "\n}"), None);
        assert_eq!(cache.lookup("m", 1, "fn main() {\n    let total = it", "x\n}"), None);
        assert_eq!(cache.lookup("other", 1, "fn main() {\n    let total = it", "\n}"), None);
    }

    #[test]
    fn multibyte_suggestions_are_split_at_characters() {
        let mut cache = SuggestionCache::new(8);
        cache.insert("m", 1, "s = \"", "", "héllo\"");
        assert_eq!(cache.lookup("m", 1, "s = \"hé", ""), Some(Hit::TypedThrough("llo\"".into())));
    }

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let mut cache = SuggestionCache::new(2);
        cache.insert("m", 1, "a", "", "1");
        cache.insert("m", 1, "b", "", "2");
        assert!(cache.lookup("m", 1, "a", "").is_some());
        cache.insert("m", 1, "c", "", "3");
        assert_eq!(cache.len(), 2);
        assert!(cache.lookup("m", 1, "a", "").is_some());
        assert!(cache.lookup("m", 1, "b", "").is_none());
        assert!(cache.lookup("m", 1, "c", "").is_some());
    }
}
