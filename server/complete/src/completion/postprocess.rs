//! Post-process: the generated text as it should be inserted at the cursor (no spaces typed
//! twice, no indentation written again, no blank lines first); `wisp_guard::run` follows.

/// A suggestion on a line whose cursor sits after the line's indentation (nothing but spaces or
/// tabs before it), without the indentation written a second time. The model writes the line's
/// whole indentation again (measured on ropey with SmolLM2: 6 of 24 indented blank lines got
/// `"        while …"` after 8 typed spaces, 16 in all once inserted), or one space too many (its
/// tokens carry their leading space, `" let"`: 13 of 20 whole-line suggestions of the eval).
/// Its leading whitespace is read as the line's indentation, as on every later line of a
/// suggestion: the typed indentation comes off it, and what is left is the deeper indentation the
/// model chose. A lone space left over, or whitespace that is only part of the typed indentation,
/// comes off too: the user's indentation stands.
pub fn without_repeated_indentation<'t>(text: &'t str, line_before_cursor: &str) -> &'t str {
    if line_before_cursor.is_empty() || !line_before_cursor.trim().is_empty() {
        return text;
    }
    let code = text.trim_start_matches([' ', '\t']);
    if code.is_empty() || code.starts_with(['\n', '\r']) {
        // A blank first line is not an indentation (blank lines are handled before this).
        return text;
    }
    let written = &text[..text.len() - code.len()];
    let deeper = match written.strip_prefix(line_before_cursor) {
        Some(deeper) => deeper,
        None if line_before_cursor.starts_with(written) => "",
        None => written,
    };
    if deeper == " " {
        code
    } else {
        &text[text.len() - code.len() - deeper.len()..]
    }
}

/// `text` from its first line that is not blank (or empty when all are).
pub fn skip_blank_lines(text: &str) -> &str {
    let mut rest = text;
    while let Some(newline) = rest.find('\n') {
        if !rest[..newline].trim().is_empty() {
            break;
        }
        rest = &rest[newline + 1..];
    }
    rest
}

/// A generated text without the spaces the user already typed (`blank`): when the model wrote
/// them, or fewer of them, they are taken off; other text is left as it is.
pub fn after_typed_blank<'t>(text: &'t str, blank: &str) -> &'t str {
    if blank.is_empty() {
        return text;
    }
    if let Some(rest) = text.strip_prefix(blank) {
        return rest;
    }
    let code = text.trim_start_matches([' ', '\t']);
    if blank.starts_with(&text[..text.len() - code.len()]) {
        code
    } else {
        text
    }
}
