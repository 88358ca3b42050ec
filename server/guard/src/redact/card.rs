//! Whether a digit string can be a payment card number: a known issuer prefix and length, and
//! the Luhn checksum.
//!
//! One number in ten passes the Luhn check, so the prefix and length table is what keeps large
//! integer constants in code (`4640401278902814207`) from being taken for cards.

/// Issuer prefixes, as inclusive ranges of leading digits, with the lengths their cards have.
/// From the public IIN ranges of the major networks.
const ISSUERS: &[(u32, u32, &[usize])] = &[
    // Visa.
    (4, 4, &[13, 16, 19]),
    // Mastercard (the 51–55 and 2221–2720 series).
    (51, 55, &[16]),
    (2221, 2720, &[16]),
    // American Express.
    (34, 34, &[15]),
    (37, 37, &[15]),
    // Diners Club.
    (300, 305, &[14, 16, 19]),
    (36, 36, &[14, 16, 19]),
    (38, 39, &[14, 16, 19]),
    // JCB.
    (3528, 3589, &[16, 17, 18, 19]),
    // Discover.
    (6011, 6011, &[16, 17, 18, 19]),
    (644, 649, &[16, 17, 18, 19]),
    (65, 65, &[16, 17, 18, 19]),
    // UnionPay.
    (62, 62, &[16, 17, 18, 19]),
];

/// True when `digits` (each 0–9) start with a known issuer prefix, have one of its lengths, and
/// pass the Luhn check.
pub(crate) fn is_card_number(digits: &[u8]) -> bool {
    has_issuer_prefix_and_length(digits) && passes_luhn(digits)
}

fn has_issuer_prefix_and_length(digits: &[u8]) -> bool {
    ISSUERS.iter().any(|&(low, high, lengths)| {
        let n_prefix_digits = high.to_string().len();
        let prefix =
            digits.iter().take(n_prefix_digits).fold(0u32, |prefix, &digit| prefix * 10 + u32::from(digit));
        digits.len() >= n_prefix_digits && (low..=high).contains(&prefix) && lengths.contains(&digits.len())
    })
}

/// True when `digits` (each 0–9) pass the Luhn check: doubling every second digit from the right,
/// the digit sum is a multiple of ten.
pub(crate) fn passes_luhn(digits: &[u8]) -> bool {
    if digits.is_empty() {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &digit)| {
            let digit = u32::from(digit);
            if i % 2 == 1 {
                let doubled = digit * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                digit
            }
        })
        .sum();
    // `u32::is_multiple_of` needs Rust 1.87; the workspace's `rust-version` is 1.85.
    #[allow(clippy::manual_is_multiple_of)]
    let is_valid = sum % 10 == 0;
    is_valid
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(text: &str) -> Vec<u8> {
        text.bytes().map(|b| b - b'0').collect()
    }

    #[test]
    fn issuer_prefix_and_length_are_checked() {
        assert!(is_card_number(&digits("4111111111111111")));
        assert!(is_card_number(&digits("2223003122003222")));
        assert!(is_card_number(&digits("6011000990139424")));
        assert!(is_card_number(&digits("3530111333300000")));
        // Luhn-valid, but no network issues these.
        assert!(!is_card_number(&digits("5010420900022432")), "Maestro-like 50 prefix");
        assert!(!is_card_number(&digits("5229781508510959783")), "Mastercard is 16 digits");
        assert!(!is_card_number(&digits("476837158203125")), "Visa is not 15 digits");
        assert!(!is_card_number(&digits("1700000000000001")), "no network starts with 1");
    }

    #[test]
    fn known_test_card_numbers_pass() {
        assert!(passes_luhn(&digits("4111111111111111")));
        assert!(passes_luhn(&digits("5555555555554444")));
        assert!(passes_luhn(&digits("378282246310005")));
        assert!(passes_luhn(&digits("79927398713")));
    }

    #[test]
    fn altered_numbers_fail() {
        assert!(!passes_luhn(&digits("4111111111111112")));
        assert!(!passes_luhn(&digits("79927398710")));
        assert!(!passes_luhn(&[]));
    }
}
