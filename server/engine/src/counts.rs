//! Token counts of recently counted texts. The prompt builder counts the same lines and the same
//! rendered snippets on every keystroke (to fit the window and the snippets to the budget), and
//! tokenizing them again took most of the prompt's build time: about 6 ms of each model run with
//! SmolLM2 on 2 cores.

use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::Mutex;

/// Texts remembered at most by default; the memo starts over when full (a keystroke's texts are
/// counted again then, once).
const MAX_REMEMBERED: usize = 4096;

/// Token counts by a 64-bit hash of the text. A collision would misjudge one text's length by
/// the difference of two counts, which only moves where a prompt's window starts.
#[derive(Debug)]
pub struct CountMemo {
    counts: Mutex<HashMap<u64, usize>>,
    capacity: usize,
}

impl Default for CountMemo {
    fn default() -> CountMemo {
        CountMemo::new(MAX_REMEMBERED)
    }
}

impl CountMemo {
    /// A memo of at most `capacity` texts.
    pub fn new(capacity: usize) -> CountMemo {
        CountMemo { counts: Mutex::default(), capacity: capacity.max(1) }
    }

    /// The count of `text`, from the memo or from `count`.
    pub fn count(&self, text: &str, count: impl FnOnce(&str) -> usize) -> usize {
        self.try_count(text, |text| Some(count(text))).unwrap_or_default()
    }

    /// As [`CountMemo::count`] for a count that may fail (a server's); a failure is not kept.
    pub fn try_count(&self, text: &str, count: impl FnOnce(&str) -> Option<usize>) -> Option<usize> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        hasher.write(text.as_bytes());
        let key = hasher.finish();
        if let Some(&n) = self.counts.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Some(n);
        }
        let n = count(text)?;
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.len() >= self.capacity {
            counts.clear();
        }
        counts.insert(key, n);
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_counted_once_and_the_memo_starts_over_when_full() {
        let memo = CountMemo::default();
        let calls = std::cell::Cell::new(0);
        let count = |text: &str| {
            calls.set(calls.get() + 1);
            text.split_whitespace().count()
        };
        assert_eq!(memo.count("let x = 1;", count), 4);
        assert_eq!(memo.count("let x = 1;", count), 4);
        assert_eq!(memo.count("let y", count), 2);
        assert_eq!(calls.get(), 2);
        for i in 0..MAX_REMEMBERED {
            memo.count(&i.to_string(), count);
        }
        assert!(memo.counts.lock().unwrap().len() <= MAX_REMEMBERED);
        assert_eq!(memo.count("let x = 1;", count), 4);
        assert_eq!(calls.get(), 3 + MAX_REMEMBERED);
        // A failed count is asked again.
        assert_eq!(memo.try_count("fn", |_| None), None);
        assert_eq!(memo.try_count("fn", |_| Some(1)), Some(1));
    }
}
