//! Recently edited code: a small ring buffer of chunks around the user's latest edits, so code
//! just written in one file can inform completions in another.
//!
//! A new chunk replaces an older one of the same file that it mostly overlaps (similar
//! identifiers), so typing through a function keeps one chunk of it rather than filling the
//! buffer with near-copies; otherwise the oldest chunk goes.

use std::collections::{HashSet, VecDeque};

use crate::collect::Chunk;

/// Chunks kept at most.
pub const MAX_RECENT_CHUNKS: usize = 16;
/// Lines kept above and below an edit.
pub const RECENT_CONTEXT_LINES: usize = 6;
/// A new chunk replaces an older one of the same file when this share of their identifiers
/// (Jaccard) is shared.
pub const REPLACE_SIMILARITY: f64 = 0.5;

#[derive(Debug, Default, Clone)]
pub struct RecentEdits {
    chunks: VecDeque<Chunk>,
}

fn words(text: &str) -> HashSet<&str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|word| word.len() >= 2).collect()
}

impl RecentEdits {
    pub fn new() -> RecentEdits {
        RecentEdits::default()
    }

    /// Records the lines around byte `offset` of `text` (the document after an edit there).
    pub fn record(&mut self, path: &str, text: &str, offset: usize) {
        let offset = offset.min(text.len());
        let mut start = offset;
        for _ in 0..=RECENT_CONTEXT_LINES {
            match text[..start].rfind('\n') {
                Some(newline) => start = newline,
                None => {
                    start = 0;
                    break;
                }
            }
        }
        if start > 0 {
            start += 1;
        }
        let mut end = offset;
        for _ in 0..=RECENT_CONTEXT_LINES {
            match text[end..].find('\n') {
                Some(newline) => end += newline + 1,
                None => {
                    end = text.len();
                    break;
                }
            }
        }
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        while !text.is_char_boundary(end) {
            end += 1;
        }
        let chunk = Chunk { path: path.to_owned(), text: text[start..end].trim_end().to_owned() };
        if chunk.text.trim().is_empty() {
            return;
        }
        let new_words = words(&chunk.text);
        let similar = self.chunks.iter().position(|old| {
            if old.path != chunk.path {
                return false;
            }
            let old_words = words(&old.text);
            let union = new_words.union(&old_words).count();
            union > 0
                && new_words.intersection(&old_words).count() as f64 / union as f64 >= REPLACE_SIMILARITY
        });
        if let Some(index) = similar {
            self.chunks.remove(index);
        } else if self.chunks.len() >= MAX_RECENT_CHUNKS {
            self.chunks.pop_front();
        }
        self.chunks.push_back(chunk);
    }

    /// The chunks, newest last.
    pub fn chunks(&self) -> Vec<Chunk> {
        self.chunks.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_in_the_same_place_keep_one_chunk() {
        let mut recent = RecentEdits::new();
        let text = "fn total(items: &[u32]) -> u32 {\n    items.iter().sum()\n}\n";
        recent.record("a.rs", text, 40);
        recent.record("a.rs", text, 45);
        assert_eq!(recent.chunks().len(), 1);
        recent.record("b.rs", "struct Point { x: f64, y: f64 }\n", 5);
        assert_eq!(recent.chunks().len(), 2);
        assert_eq!(recent.chunks()[1].path, "b.rs");
    }

    #[test]
    fn the_oldest_chunk_goes_first() {
        let mut recent = RecentEdits::new();
        for index in 0..MAX_RECENT_CHUNKS + 3 {
            recent.record(&format!("f{index}.rs"), &format!("fn unique_{index}() {{}}\n"), 3);
        }
        let chunks = recent.chunks();
        assert_eq!(chunks.len(), MAX_RECENT_CHUNKS);
        assert_eq!(chunks[0].path, "f3.rs");
    }

    #[test]
    fn a_chunk_is_the_lines_around_the_edit() {
        let text: String = (0..30).map(|line| format!("line{line}\n")).collect();
        let offset = text.find("line15").unwrap();
        let mut recent = RecentEdits::new();
        recent.record("a.rs", &text, offset);
        let chunk = &recent.chunks()[0].text;
        assert!(chunk.starts_with("line9\n") && chunk.ends_with("line21"), "{chunk}");
    }
}
