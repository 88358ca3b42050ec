//! A seeded pseudo-random generator and a human typing pace built on it, so that a replay with
//! the same seed picks the same commits and sends every keystroke at the same offset.

use std::ops::RangeInclusive;
use std::time::Duration;

/// Milliseconds between two keys within a word: 110–170 ms is 6–9 characters a second, the pace
/// of a practised programmer typing code (slower than prose).
pub const WITHIN_WORD_MS: RangeInclusive<u64> = 110..=170;
/// Milliseconds after a space or punctuation: the short pause between tokens of code.
pub const AFTER_BREAK_MS: RangeInclusive<u64> = 250..=450;
/// Milliseconds after the end of a line: the pause to think about the next line.
pub const AFTER_LINE_MS: RangeInclusive<u64> = 500..=1200;
/// Milliseconds before an edit somewhere else (the next hunk, or deleting lines): moving the cursor.
pub const MOVE_MS: RangeInclusive<u64> = 800..=1500;

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for choosing and jittering.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `range`, uniformly (the modulo bias is negligible for ranges this small).
    pub fn in_range(&mut self, range: &RangeInclusive<u64>) -> u64 {
        let span = range.end() - range.start() + 1;
        range.start() + self.next_u64() % span
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for last in (1..items.len()).rev() {
            let pick = (self.next_u64() % (last as u64 + 1)) as usize;
            items.swap(last, pick);
        }
    }
}

/// The delay before each keystroke of a replayed typist.
#[derive(Debug, Clone)]
pub struct TypingPace {
    rng: SplitMix64,
}

impl TypingPace {
    pub fn new(seed: u64) -> TypingPace {
        TypingPace { rng: SplitMix64::new(seed) }
    }

    /// The delay before typing the key that follows `previous` (`None`: the first key of an edit).
    pub fn delay_after(&mut self, previous: Option<char>) -> Duration {
        let range = match previous {
            None | Some('\n') => &AFTER_LINE_MS,
            // `_` joins the words of an identifier, typed without a pause.
            Some(ch) if ch.is_whitespace() || (ch.is_ascii_punctuation() && ch != '_') => &AFTER_BREAK_MS,
            Some(_) => &WITHIN_WORD_MS,
        };
        Duration::from_millis(self.rng.in_range(range))
    }

    /// The delay before an edit at another place in the file.
    pub fn delay_before_move(&mut self) -> Duration {
        Duration::from_millis(self.rng.in_range(&MOVE_MS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delays(seed: u64) -> Vec<Duration> {
        let mut pace = TypingPace::new(seed);
        "fn main() {\n    let x = 1;\n}".chars().map(|ch| pace.delay_after(Some(ch))).collect()
    }

    #[test]
    fn the_pace_is_the_same_for_the_same_seed_and_differs_for_another() {
        assert_eq!(delays(7), delays(7));
        assert_ne!(delays(7), delays(8));
    }

    #[test]
    fn delays_stay_in_their_ranges() {
        let mut pace = TypingPace::new(42);
        let in_range =
            |delay: Duration, range: &RangeInclusive<u64>| range.contains(&(delay.as_millis() as u64));
        for _ in 0..2000 {
            assert!(in_range(pace.delay_after(Some('a')), &WITHIN_WORD_MS));
            assert!(in_range(pace.delay_after(Some('_')), &WITHIN_WORD_MS));
            assert!(in_range(pace.delay_after(Some(' ')), &AFTER_BREAK_MS));
            assert!(in_range(pace.delay_after(Some(';')), &AFTER_BREAK_MS));
            assert!(in_range(pace.delay_after(Some('\n')), &AFTER_LINE_MS));
            assert!(in_range(pace.delay_after(None), &AFTER_LINE_MS));
            assert!(in_range(pace.delay_before_move(), &MOVE_MS));
        }
    }

    #[test]
    fn within_word_pace_averages_six_to_eight_characters_a_second() {
        let mut pace = TypingPace::new(3);
        let n_keys = 5000;
        let total: Duration = (0..n_keys).map(|_| pace.delay_after(Some('x'))).sum();
        let per_second = n_keys as f64 / total.as_secs_f64();
        assert!((6.0..=8.0).contains(&per_second), "{per_second} characters a second");
    }

    #[test]
    fn shuffling_keeps_every_item_and_depends_on_the_seed() {
        let mut a: Vec<u32> = (0..50).collect();
        let mut b = a.clone();
        SplitMix64::new(1).shuffle(&mut a);
        SplitMix64::new(2).shuffle(&mut b);
        assert_ne!(a, b);
        a.sort();
        assert_eq!(a, (0..50).collect::<Vec<_>>());
    }
}
