//! Experiments: which variant of the settings answers a completion.
//!
//! Variants declare a share of traffic in percent; whatever the shares leave goes to the
//! default settings (variant [`DEFAULT_VARIANT`]). A completion's variant comes from a hash of
//! its id, so it is fixed for that completion and the same everywhere it is recomputed. A canary
//! is a variant with a small share: raise it to roll a model out, set it to 0 to roll back.

use sha2::{Digest, Sha256};

/// Name recorded for completions answered with the default settings.
pub const DEFAULT_VARIANT: &str = "default";

/// A variant's name and traffic share.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    pub name: String,
    /// Percent of completions, 0–100.
    pub percent: f64,
}

/// Checks the shares: names unique and not [`DEFAULT_VARIANT`], each 0–100, summing to at most
/// 100.
pub fn validate(shares: &[Share]) -> Result<(), String> {
    let mut total = 0.0;
    for (i, share) in shares.iter().enumerate() {
        if share.name.is_empty() || share.name == DEFAULT_VARIANT {
            return Err(format!(
                "experiment variant {} needs a name other than {DEFAULT_VARIANT:?} (that one means the settings outside any variant)",
                i + 1
            ));
        }
        if shares[..i].iter().any(|earlier| earlier.name == share.name) {
            return Err(format!(
                "experiment variant {:?} is declared twice — variant names must differ",
                share.name
            ));
        }
        if !(0.0..=100.0).contains(&share.percent) {
            return Err(format!(
                "experiment variant {:?} has share {} — a share is a percent from 0 to 100",
                share.name, share.percent
            ));
        }
        total += share.percent;
    }
    if total > 100.0 + 1e-9 {
        return Err(format!(
            "experiment variant shares add up to {total}% — they must add up to 100% at most"
        ));
    }
    Ok(())
}

/// The position of `completion_id` in [0, 100): uniform over ids, fixed per id and salt.
pub fn bucket(completion_id: &str, salt: &str) -> f64 {
    let digest = Sha256::new().chain_update(salt).chain_update([0]).chain_update(completion_id).finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // 53 bits make an exact f64 in [0, 1).
    (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64 * 100.0
}

/// Index of the variant that answers `completion_id`, or `None` for the default settings.
pub fn assign(shares: &[Share], completion_id: &str, salt: &str) -> Option<usize> {
    let position = bucket(completion_id, salt);
    let mut upper = 0.0;
    for (i, share) in shares.iter().enumerate() {
        upper += share.percent;
        if position < upper {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(list: &[(&str, f64)]) -> Vec<Share> {
        list.iter().map(|(name, percent)| Share { name: (*name).into(), percent: *percent }).collect()
    }

    #[test]
    fn assignment_is_deterministic_and_follows_the_shares() {
        let variants = shares(&[("a", 50.0), ("canary", 10.0)]);
        let mut counts = [0usize; 3];
        for i in 0..20_000 {
            let id = format!("c{i}");
            let first = assign(&variants, &id, "exp");
            assert_eq!(first, assign(&variants, &id, "exp"));
            counts[first.map_or(2, |index| index)] += 1;
        }
        let share = |n: usize| n as f64 / 20_000.0 * 100.0;
        assert!((share(counts[0]) - 50.0).abs() < 1.5, "{counts:?}");
        assert!((share(counts[1]) - 10.0).abs() < 1.0, "{counts:?}");
        assert!((share(counts[2]) - 40.0).abs() < 1.5, "{counts:?}");
    }

    #[test]
    fn a_canary_at_zero_gets_nothing_and_raising_it_keeps_earlier_assignments() {
        let off = shares(&[("canary", 0.0)]);
        assert!((0..5_000).all(|i| assign(&off, &format!("c{i}"), "s").is_none()));
        // Going from 5% to 20% only adds completions to the canary: none leaves it.
        let small = shares(&[("canary", 5.0)]);
        let large = shares(&[("canary", 20.0)]);
        for i in 0..5_000 {
            let id = format!("c{i}");
            if assign(&small, &id, "s").is_some() {
                assert!(assign(&large, &id, "s").is_some());
            }
        }
    }

    #[test]
    fn bad_shares_are_refused_with_the_fix() {
        assert!(validate(&shares(&[("a", 60.0), ("b", 50.0)])).unwrap_err().contains("100% at most"));
        assert!(validate(&shares(&[("a", -1.0)])).unwrap_err().contains("from 0 to 100"));
        assert!(validate(&shares(&[("a", 1.0), ("a", 1.0)])).unwrap_err().contains("twice"));
        assert!(validate(&shares(&[("default", 1.0)])).is_err());
        assert!(validate(&shares(&[("a", 30.0), ("b", 70.0)])).is_ok());
    }
}
