//! Random edit sequences: after every edit the document's text equals a `String` model and its
//! incrementally reparsed tree equals a fresh parse.

use wisp_syntax::{Document, LanguageRegistry, Position, PositionEncoding, Range, TextChange};

use crate::model;

/// How many random edits each language's sequence applies.
const N_EDITS: usize = 300;

/// The longest stretch of text one random edit removes, in bytes.
const MAX_REMOVED_BYTES: usize = 24;

/// Pieces that random inserted text is made of: code, line breaks of every kind, unbalanced
/// brackets and quotes, and characters that take several UTF-8 bytes or UTF-16 code units.
const FRAGMENTS: &[&str] = &[
    "x",
    "foo",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "\"",
    "'",
    "`",
    ";",
    ",",
    ".",
    ":",
    "=",
    "+",
    "->",
    "//",
    "/*",
    "*/",
    "#",
    "0",
    "42",
    "😀",
    "é",
    "中",
    "👍🏽",
    "let x = 1;",
    "if x {",
    "return",
    "fn",
    "def",
    "func",
    "const",
    "\"é\"",
    "\n    ",
];

/// A tiny xorshift generator, so that a failing sequence can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..bound`.
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// A random offset in `text` that an LSP position can name.
fn random_position_offset(rng: &mut Rng, text: &str, from: usize, max_len: usize) -> usize {
    let end = text.len().min(from + max_len);
    let mut offset = from + rng.below(end - from + 1);
    // Round down past the middle of characters and of "\r\n"; `from` itself is a valid offset.
    while !model::is_position_offset(text, offset) {
        offset -= 1;
    }
    offset
}

/// A random position, possibly past the end of its line or the document, or inside a character.
fn random_raw_position(rng: &mut Rng, text: &str) -> Position {
    let n_lines = model::lines(text).len();
    Position::new(rng.below(n_lines + 2) as u32, rng.below(40) as u32)
}

fn random_text(rng: &mut Rng) -> String {
    let n_fragments = if rng.chance(20) { 0 } else { 1 + rng.below(4) };
    (0..n_fragments).map(|_| FRAGMENTS[rng.below(FRAGMENTS.len())]).collect()
}

/// Applies `N_EDITS` random edits to `source` in `language_id`, checking after each.
fn check_random_edits(language_id: &str, source: &str, seed: u64) {
    let language = LanguageRegistry::builtin().by_language_id(language_id);
    assert!(language.is_some(), "no language {language_id}");
    let mut document = Document::new(source, language);
    let mut text = source.to_owned();
    model::assert_document_matches(&document, &text, "before any edit");
    let mut rng = Rng(seed);
    for edit_index in 0..N_EDITS {
        let encoding = if rng.chance(50) { PositionEncoding::Utf16 } else { PositionEncoding::Utf8 };
        let change = if rng.chance(3) {
            TextChange::full(random_text(&mut rng) + source)
        } else if rng.chance(25) {
            // Positions as a careless client might send them: clamped by the document.
            let mut a = random_raw_position(&mut rng, &text);
            let mut b = random_raw_position(&mut rng, &text);
            if model::offset_clamped(&text, a, encoding) > model::offset_clamped(&text, b, encoding) {
                std::mem::swap(&mut a, &mut b);
            }
            TextChange::new(Range::new(a, b), random_text(&mut rng))
        } else {
            let start = random_position_offset(&mut rng, &text, 0, text.len());
            let end = if rng.chance(40) {
                start
            } else {
                random_position_offset(&mut rng, &text, start, MAX_REMOVED_BYTES)
            };
            let range =
                Range::new(model::position(&text, start, encoding), model::position(&text, end, encoding));
            TextChange::new(range, random_text(&mut rng))
        };
        match change.range {
            None => text = change.text.clone(),
            Some(range) => {
                let start = model::offset_clamped(&text, range.start, encoding);
                let end = model::offset_clamped(&text, range.end, encoding);
                text.replace_range(start..end, &change.text);
            }
        }
        document.apply_change(&change, encoding).unwrap();
        let context = format!("{language_id} seed {seed} edit {edit_index}: {change:?} in {encoding:?}");
        model::assert_document_matches(&document, &text, &context);
    }
}

#[test]
fn random_edits_rust() {
    check_random_edits("rust", RUST, 0x5eed_0001);
}

#[test]
fn random_edits_python() {
    check_random_edits("python", PYTHON, 0x5eed_0002);
}

#[test]
fn random_edits_typescript() {
    check_random_edits("typescript", TYPESCRIPT, 0x5eed_0003);
}

#[test]
fn random_edits_tsx() {
    check_random_edits("typescriptreact", TSX, 0x5eed_0004);
}

#[test]
fn random_edits_javascript() {
    check_random_edits("javascript", JAVASCRIPT, 0x5eed_0005);
}

#[test]
fn random_edits_go() {
    check_random_edits("go", GO, 0x5eed_0006);
}

#[test]
fn random_edits_crlf_source() {
    check_random_edits("rust", &RUST.replace('\n', "\r\n"), 0x5eed_0007);
}

const RUST: &str = r#"//! Greeting people in their own language.
use std::collections::HashMap;

/// A greeting, such as "¡Hola!" or "你好".
#[derive(Debug, Clone)]
pub struct Greeting {
    text: String,
    emoji: char,
}

impl Greeting {
    pub fn new(text: &str) -> Self {
        Greeting { text: text.to_owned(), emoji: '😀' }
    }

    pub fn render(&self, name: &str) -> String {
        format!("{} {name} {}", self.text, self.emoji)
    }
}

fn main() {
    let mut greetings = HashMap::new();
    greetings.insert("es", Greeting::new("¡Hola"));
    greetings.insert("zh", Greeting::new("你好"));
    for (code, greeting) in &greetings {
        if code.len() == 2 {
            println!("{}", greeting.render("Zoë"));
        }
    }
}
"#;

const PYTHON: &str = r#""""Greeting people in their own language."""
from dataclasses import dataclass


@dataclass
class Greeting:
    text: str
    emoji: str = "😀"

    def render(self, name: str) -> str:
        # Zoë and 你好 take several bytes.
        return f"{self.text} {name} {self.emoji}"


def main() -> None:
    greetings = {"es": Greeting("¡Hola"), "zh": Greeting("你好")}
    for code, greeting in greetings.items():
        if len(code) == 2:
            print(greeting.render("Zoë"))
        else:
            raise ValueError(f"bad code {code!r}")


if __name__ == "__main__":
    main()
"#;

const TYPESCRIPT: &str = r#"// Greeting people in their own language.
export interface Greeting {
  text: string;
  emoji?: string;
}

type Code = "es" | "zh";

const greetings: Record<Code, Greeting> = {
  es: { text: "¡Hola", emoji: "😀" },
  zh: { text: "你好" },
};

export function render(greeting: Greeting, name: string): string {
  return `${greeting.text} ${name} ${greeting.emoji ?? ""}`;
}

export class Greeter<T extends Greeting> {
  constructor(private readonly greeting: T) {}

  greet(names: string[]): string[] {
    return names.map((name) => render(this.greeting, name));
  }
}
"#;

const TSX: &str = r#"import { useState } from "react";

interface Props {
  name: string;
}

export function Hello({ name }: Props) {
  const [count, setCount] = useState<number>(0);
  return (
    <div className="hello" onClick={() => setCount(count + 1)}>
      ¡Hola {name}! 😀 你好 {count > 0 && <b>{count}</b>}
    </div>
  );
}
"#;

const JAVASCRIPT: &str = r#"// Greeting people in their own language.
const greetings = {
  es: { text: "¡Hola", emoji: "😀" },
  zh: { text: "你好" },
};

export function render(greeting, name) {
  return `${greeting.text} ${name} ${greeting.emoji ?? ""}`;
}

export class Greeter {
  #greeting;

  constructor(greeting) {
    this.#greeting = greeting;
  }

  greet(names) {
    return names.map((name) => render(this.#greeting, name)); /* Zoë */
  }
}

for (const [code, greeting] of Object.entries(greetings)) {
  if (code.length === 2) console.log(new Greeter(greeting).greet(["Zoë"]));
}
"#;

const GO: &str = r#"// Package greeting greets people in their own language.
package greeting

import (
	"fmt"
	"strings"
)

// Greeting is a greeting such as "¡Hola" or "你好".
type Greeting struct {
	Text  string
	Emoji rune
}

// Render greets name.
func (g Greeting) Render(name string) string {
	return fmt.Sprintf("%s %s %c", g.Text, name, g.Emoji)
}

func Greet(names []string) string {
	g := Greeting{Text: "¡Hola", Emoji: '😀'}
	parts := make([]string, 0, len(names))
	for _, name := range names {
		if name != "" {
			parts = append(parts, g.Render(name))
		}
	}
	return strings.Join(parts, "\n")
}
"#;
