//! Conversions between LSP positions and byte offsets.

use expect_test::{expect, Expect};
use wisp_syntax::{Document, Position, PositionEncoding, PositionError};

use crate::model;

const UTF8: PositionEncoding = PositionEncoding::Utf8;
const UTF16: PositionEncoding = PositionEncoding::Utf16;

/// Texts mixing emoji, accents, CJK and every kind of line break.
const SAMPLES: &[&str] = &[
    "",
    "let s = \"😀é中\";",
    "fn main() {\n    println!(\"中文\");\n}\n",
    "a\r\nb😀\r\n\r\nc",
    "x\ry\r\rz\r",
    "\r\n\n\r\r\n",
    "😀😀\n👍🏽 done\r\n最后一行",
];

/// Renders the position of every char boundary of `text` in both encodings.
fn check_positions(text: &str, expect: Expect) {
    let document = Document::new(text, None);
    let mut rendered = String::new();
    for (offset, c) in text.char_indices() {
        let utf8 = document.position(offset, UTF8);
        let utf16 = document.position(offset, UTF16);
        rendered += &format!("{offset:>2} {c:?}: utf-8 {utf8}, utf-16 {utf16}\n");
    }
    let end = text.len();
    rendered += &format!(
        "{end:>2} end: utf-8 {}, utf-16 {}\n",
        document.position(end, UTF8),
        document.position(end, UTF16)
    );
    expect.assert_eq(&rendered);
}

#[test]
fn emoji_accent_and_cjk_positions() {
    check_positions(
        "let s = \"😀é中\";",
        expect![[r#"
             0 'l': utf-8 0:0, utf-16 0:0
             1 'e': utf-8 0:1, utf-16 0:1
             2 't': utf-8 0:2, utf-16 0:2
             3 ' ': utf-8 0:3, utf-16 0:3
             4 's': utf-8 0:4, utf-16 0:4
             5 ' ': utf-8 0:5, utf-16 0:5
             6 '=': utf-8 0:6, utf-16 0:6
             7 ' ': utf-8 0:7, utf-16 0:7
             8 '"': utf-8 0:8, utf-16 0:8
             9 '😀': utf-8 0:9, utf-16 0:9
            13 'é': utf-8 0:13, utf-16 0:11
            15 '中': utf-8 0:15, utf-16 0:12
            18 '"': utf-8 0:18, utf-16 0:13
            19 ';': utf-8 0:19, utf-16 0:14
            20 end: utf-8 0:20, utf-16 0:15
        "#]],
    );
}

#[test]
fn crlf_and_lone_cr_positions() {
    check_positions(
        "a\r\nb😀\rc\n",
        expect![[r#"
             0 'a': utf-8 0:0, utf-16 0:0
             1 '\r': utf-8 0:1, utf-16 0:1
             2 '\n': utf-8 0:1, utf-16 0:1
             3 'b': utf-8 1:0, utf-16 1:0
             4 '😀': utf-8 1:1, utf-16 1:1
             8 '\r': utf-8 1:5, utf-16 1:3
             9 'c': utf-8 2:0, utf-16 2:0
            10 '\n': utf-8 2:1, utf-16 2:1
            11 end: utf-8 3:0, utf-16 3:0
        "#]],
    );
}

#[test]
fn positions_round_trip_and_match_the_model() {
    for text in SAMPLES {
        let document = Document::new(text, None);
        for encoding in [UTF8, UTF16] {
            for offset in (0..=text.len()).filter(|&o| model::is_position_offset(text, o)) {
                let position = document.position(offset, encoding);
                assert_eq!(
                    position,
                    model::position(text, offset, encoding),
                    "{text:?} at {offset} in {encoding:?}"
                );
                assert_eq!(
                    document.offset(position, encoding),
                    Ok(offset),
                    "{text:?} at {position} in {encoding:?}"
                );
                assert_eq!(document.offset_clamped(position, encoding), offset);
            }
        }
    }
}

#[test]
fn offset_inside_a_character_is_an_error() {
    let document = Document::new("a😀b\né", None);
    // UTF-16: "😀" is the surrogate pair at characters 1 and 2.
    assert_eq!(document.offset(Position::new(0, 1), UTF16), Ok(1));
    assert_eq!(
        document.offset(Position::new(0, 2), UTF16),
        Err(PositionError::InsideCharacter { line: 0, character: 2, encoding: UTF16 })
    );
    assert_eq!(document.offset(Position::new(0, 3), UTF16), Ok(5));
    // UTF-8: "😀" is bytes 1 to 4 and "é" bytes 0 to 1 of line 1.
    for character in 2..=4 {
        assert!(matches!(
            document.offset(Position::new(0, character), UTF8),
            Err(PositionError::InsideCharacter { .. })
        ));
    }
    assert!(matches!(document.offset(Position::new(1, 1), UTF8), Err(PositionError::InsideCharacter { .. })));
    assert_eq!(document.offset(Position::new(1, 2), UTF8), Ok(9));
    expect!["character 2 on line 0 falls inside a character that takes several UTF-16 code units"]
        .assert_eq(&document.offset(Position::new(0, 2), UTF16).unwrap_err().to_string());
}

#[test]
fn offset_past_the_end_is_an_error() {
    let document = Document::new("ab\r\ncd\r\n", None);
    // Three lines: "ab", "cd" and the empty line after the last break.
    assert_eq!(document.offset(Position::new(2, 0), UTF16), Ok(8));
    assert_eq!(
        document.offset(Position::new(3, 0), UTF16),
        Err(PositionError::LineOutOfRange { line: 3, n_lines: 3 })
    );
    assert_eq!(document.offset(Position::new(0, 2), UTF16), Ok(2));
    // The line break is not part of the line: character 3 would fall between "\r" and "\n".
    assert_eq!(
        document.offset(Position::new(0, 3), UTF16),
        Err(PositionError::CharacterOutOfRange { line: 0, character: 3, line_length: 2, encoding: UTF16 })
    );
    assert!(document.offset(Position::new(2, 1), UTF8).is_err());
    expect!["line 3 is out of range: the document has 3 lines (0 to 2)"]
        .assert_eq(&document.offset(Position::new(3, 0), UTF16).unwrap_err().to_string());
    expect!["character 3 is past the end of line 0, which is 2 UTF-8 bytes long"]
        .assert_eq(&document.offset(Position::new(0, 3), UTF8).unwrap_err().to_string());
}

#[test]
fn offset_clamped_clamps() {
    let document = Document::new("a😀b\r\nxy", None);
    // Past the end of a line: the end of the line, before "\r\n".
    assert_eq!(document.offset_clamped(Position::new(0, 99), UTF16), 6);
    assert_eq!(document.offset_clamped(Position::new(0, 99), UTF8), 6);
    // Inside the surrogate pair: the start of the emoji.
    assert_eq!(document.offset_clamped(Position::new(0, 2), UTF16), 1);
    assert_eq!(document.offset_clamped(Position::new(0, 3), UTF8), 1);
    // Past the last line: the end of the document.
    assert_eq!(document.offset_clamped(Position::new(2, 0), UTF16), 10);
    assert_eq!(document.offset_clamped(Position::new(u32::MAX, 0), UTF16), 10);
    assert_eq!(document.offset_clamped(Position::new(1, u32::MAX), UTF16), 10);
}

#[test]
fn position_clamps_and_rounds_down() {
    let document = Document::new("a😀\r\nb", None);
    // Inside "😀" (bytes 1 to 4): rounded down to its start.
    assert_eq!(document.position(3, UTF16), Position::new(0, 1));
    // Between "\r" and "\n": the end of the line.
    assert_eq!(document.position(6, UTF16), Position::new(0, 3));
    // Past the end: the end of the document.
    assert_eq!(document.position(1000, UTF8), Position::new(1, 1));
}

#[test]
fn empty_document_has_one_empty_line() {
    let document = Document::new("", None);
    assert_eq!(document.len_lines(), 1);
    assert_eq!(document.offset(Position::new(0, 0), UTF16), Ok(0));
    assert!(document.offset(Position::new(0, 1), UTF16).is_err());
    assert!(document.offset(Position::new(1, 0), UTF16).is_err());
    assert_eq!(document.position(0, UTF16), Position::new(0, 0));
}

#[test]
fn unicode_line_separators_are_not_line_breaks() {
    // LSP splits lines only at "\n", "\r\n" and "\r"; U+2028, U+2029 and U+0085 stay in the line.
    let document = Document::new("a\u{2028}b\u{2029}c\u{85}d\ne", None);
    assert_eq!(document.len_lines(), 2);
    assert_eq!(document.position(9, UTF16), Position::new(0, 5));
    assert_eq!(document.offset(Position::new(1, 0), UTF16), Ok(13));
}
