//! Snapshot tests of context collection and prompt building together: a multi-file fixture is
//! indexed, [`collect`] gathers snippets for the `$0` cursor and [`build`] lays them out within a
//! budget, as the server does for a completion. Each snapshot is the rendered prompt followed by
//! `---` and the origin of every snippet in it.

use std::path::Path;

use expect_test::{expect, Expect};
use wisp_context::{
    build, collect, BuiltPrompt, CompletionInput, ContextMode, Cursor, PromptFormat, Workspace,
};
use wisp_engine::PromptPart;
use wisp_syntax::index::WorkspaceIndex;
use wisp_syntax::{tags, LanguageRegistry};

/// One token per whitespace-separated word, plus one per line break: predictable in snapshots.
fn words(text: &str) -> usize {
    text.split_whitespace().count() + text.matches('\n').count()
}

/// The files of a fixture (`//- /path` headers), with the `$0` cursor taken out of its file.
struct Fixture {
    /// Workspace-relative paths and texts, in fixture order.
    files: Vec<(String, String)>,
    /// Index into `files` of the file with the cursor.
    cursor_file: usize,
    /// Byte offset of the cursor in that file.
    offset: usize,
}

impl Fixture {
    fn parse(fixture: &str) -> Fixture {
        let mut files: Vec<(String, String)> = Vec::new();
        for line in fixture.split_inclusive('\n') {
            if let Some(path) = line.strip_prefix("//- /") {
                files.push((path.trim().to_owned(), String::new()));
            } else if let Some((_, text)) = files.last_mut() {
                text.push_str(line);
            } else {
                assert!(line.trim().is_empty(), "text before the first `//- /path` header: {line:?}");
            }
        }
        let with_cursor: Vec<usize> =
            (0..files.len()).filter(|&index| files[index].1.contains("$0")).collect();
        assert_eq!(with_cursor.len(), 1, "exactly one file must hold the $0 cursor");
        let cursor_file = with_cursor[0];
        let text = &mut files[cursor_file].1;
        let offset = text.find("$0").unwrap();
        text.replace_range(offset..offset + 2, "");
        assert!(!text.contains("$0"), "more than one $0 cursor");
        Fixture { files, cursor_file, offset }
    }
}

/// Collects and builds the prompt for the fixture's cursor, checking the budget.
fn prompt(fixture: &str, mode: ContextMode, format: PromptFormat, budget: usize) -> BuiltPrompt {
    let fixture = Fixture::parse(fixture);
    let registry = LanguageRegistry::builtin();
    let language_of =
        |path: &str| registry.by_path(Path::new(path)).unwrap_or_else(|| panic!("no language for {path}"));
    let mut index = WorkspaceIndex::new();
    for (position, (path, text)) in fixture.files.iter().enumerate() {
        if position != fixture.cursor_file {
            index.update(path, &language_of(path), text);
        }
    }
    let (path, source) = &fixture.files[fixture.cursor_file];
    let language = language_of(path);
    let file_tags = tags::extract_from_source(&language, source);
    let cursor = Cursor { path, source, offset: fixture.offset, tags: &file_tags };
    let workspace = Workspace { index: Some(&index), open: &[], recent: &[] };
    let snippets = collect(&cursor, &workspace, mode);
    let input = CompletionInput {
        path,
        line_comment: language.line_comment.as_deref(),
        prefix: &source[..fixture.offset],
        suffix: &source[fixture.offset..],
        anchor: None,
        prefix_start: 0,
        snippets: &snippets,
    };
    let built = build(&input, format, budget, &words);
    assert!(built.n_tokens <= budget, "{} tokens over a budget of {budget}", built.n_tokens);
    let n_real: usize = built
        .prompt
        .parts
        .iter()
        .map(|part| match part {
            PromptPart::Text(text) | PromptPart::Template(text) => words(text),
            PromptPart::Special(_) => 1,
        })
        .sum();
    assert!(n_real <= budget, "the prompt counts {n_real} tokens, over a budget of {budget}");
    assert_eq!(n_real, built.n_tokens, "the count while building differs from the prompt's");
    built
}

/// The rendered prompt, `$0` where the model goes on, `---`, then one `{path} · {origin}` line
/// per snippet in the prompt. The marker keeps the cursor line's indentation visible (and safe
/// from editors and rustfmt, which strip trailing whitespace).
fn render(built: &BuiltPrompt) -> String {
    let mut text = built.prompt.render();
    text.push_str("$0\n---\n");
    for snippet in &built.snippets {
        text.push_str(&format!("{} · {}\n", snippet.path, snippet.origin));
    }
    text
}

fn check(fixture: &str, mode: ContextMode, budget: usize, expect: Expect) {
    expect.assert_eq(&render(&prompt(fixture, mode, PromptFormat::Plain, budget)));
}

fn check_fim(fixture: &str, mode: ContextMode, budget: usize, expect: Expect) {
    expect.assert_eq(&render(&prompt(fixture, mode, PromptFormat::Fim, budget)));
}

const RUST_LAYOUT: &str = r#"
//- /src/geometry.rs
/// An axis-aligned rectangle.
pub struct Rectangle {
    pub width: f64,
    pub height: f64,
}

pub fn area(rectangle: &Rectangle) -> f64 {
    rectangle.width * rectangle.height
}
//- /src/main.rs
mod geometry;

use crate::geometry::{area, Rectangle};

struct Layout {
    panels: Vec<Rectangle>,
    gap: f64,
}

impl Layout {
    fn new(gap: f64) -> Layout {
        Layout { panels: Vec::new(), gap }
    }

    fn push(&mut self, width: f64, height: f64) {
        self.panels.push(Rectangle { width, height });
    }

    fn padded_area(&self) -> f64 {
        let mut total = 0.0;
        for panel in &self.panels {
            let padded = Rectangle {
                width: panel.width + self.gap,
                height: panel.height + self.gap,
            };
            total += area(&padded);
        }
        $0
    }
}
"#;

#[test]
fn rust_impl_header_and_imported_struct() {
    check(
        RUST_LAYOUT,
        ContextMode::Full,
        110,
        expect![[r#"
            // src/geometry.rs
            pub fn area(rectangle: &Rectangle) -> f64
            pub struct Rectangle {
                pub width: f64,
                pub height: f64,
            }

            // src/main.rs
            impl Layout {
                fn new(gap: f64) -> Layout {
                    Layout { panels: Vec::new(), gap }
                }

                fn push(&mut self, width: f64, height: f64) {
                    self.panels.push(Rectangle { width, height });
                }

                fn padded_area(&self) -> f64 {
                    let mut total = 0.0;
                    for panel in &self.panels {
                        let padded = Rectangle {
                            width: panel.width + self.gap,
                            height: panel.height + self.gap,
                        };
                        total += area(&padded);
                    }
                    $0
            ---
            src/geometry.rs · definition of `area`
            src/geometry.rs · definition of `Rectangle`
            src/main.rs · enclosing scope
        "#]],
    );
}

#[test]
fn python_method_using_an_imported_class_and_helper() {
    check(
        r#"
//- /models/user.py
class User:
    def __init__(self, name: str, email: str):
        self.name = name
        self.email = email

    def display_name(self) -> str:
        return self.name.title()
//- /services/mailer.py
def send_welcome(to: str, name: str) -> bool:
    return deliver(to, "Welcome", f"Hello {name}")
//- /services/signup.py
from models.user import User
from services.mailer import send_welcome


class SignupService:
    def __init__(self, audit_log):
        self.audit_log = audit_log

    def register(self, name: str, email: str) -> User:
        user = User(name, email)
        self.audit_log.append(user.email)
        send_welcome(user.email, user.display_name())
        $0
"#,
        ContextMode::Full,
        120,
        expect![[r#"
            # services/mailer.py
            def send_welcome(to: str, name: str) -> bool:

            # models/user.py
                def display_name(self) -> str:

            # services/signup.py
            from models.user import User
            from services.mailer import send_welcome


            class SignupService:
                def __init__(self, audit_log):
                    self.audit_log = audit_log

                def register(self, name: str, email: str) -> User:
                    user = User(name, email)
                    self.audit_log.append(user.email)
                    send_welcome(user.email, user.display_name())
                    $0
            ---
            services/mailer.py · definition of `send_welcome`
            models/user.py · definition of `display_name`
        "#]],
    );
}

#[test]
fn typescript_imported_function_and_interface_annotation() {
    check(
        r#"
//- /src/types.ts
export interface User {
  id: number;
  name: string;
  email: string;
}
//- /src/api.ts
import { User } from "./types";

export async function fetchUser(id: number): Promise<User> {
  const response = await fetch(`/api/users/${id}`);
  return response.json();
}
//- /src/profile.ts
import { fetchUser } from "./api";
import { User } from "./types";

export async function profileTitle(id: number): Promise<string> {
  const user: User = await fetchUser(id);
  return $0
}
"#,
        ContextMode::Full,
        120,
        expect![[r#"
            // src/types.ts
            interface User {
              id: number;
              name: string;
              email: string;
            }

            // src/api.ts
            async function fetchUser(id: number): Promise<User>

            // src/profile.ts
            import { fetchUser } from "./api";
            import { User } from "./types";

            export async function profileTitle(id: number): Promise<string> {
              const user: User = await fetchUser(id);
              return $0
            ---
            src/types.ts · definition of `User`
            src/api.ts · definition of `fetchUser`
        "#]],
    );
}

#[test]
fn javascript_function_from_a_required_file() {
    check(
        r#"
//- /lib/format.js
function formatPrice(cents, currency) {
  return (cents / 100).toFixed(2) + " " + currency;
}

module.exports = { formatPrice };
//- /lib/cart.js
const { formatPrice } = require("./format");

function cartSummary(items) {
  const total = items.reduce((sum, item) => sum + item.cents, 0);
  const label = formatPrice(total, "EUR");
  return $0
}

module.exports = { cartSummary };
"#,
        ContextMode::Full,
        100,
        expect![[r#"
            // lib/format.js
            function formatPrice(cents, currency)

            // lib/cart.js
            const { formatPrice } = require("./format");

            function cartSummary(items) {
              const total = items.reduce((sum, item) => sum + item.cents, 0);
              const label = formatPrice(total, "EUR");
              return $0
            ---
            lib/format.js · definition of `formatPrice`
        "#]],
    );
}

#[test]
fn go_struct_and_function_of_the_same_package() {
    check(
        r#"
//- /store/order.go
package store

type Item struct {
	Name  string
	Cents int
}

type Order struct {
	ID    int
	Items []Item
	Paid  bool
}

func NewOrder(id int) *Order {
	return &Order{ID: id}
}
//- /store/checkout.go
package store

import "fmt"

func Checkout(id int, items []Item) (*Order, error) {
	order := NewOrder(id)
	order.Items = items
	if len(order.Items) == 0 {
		return nil, fmt.Errorf("order %d is empty", id)
	}
	$0
}
"#,
        ContextMode::Full,
        120,
        expect![[r#"
            // store/order.go
            func NewOrder(id int) *Order
            type Order struct {
            	ID    int
            	Items []Item
            	Paid  bool
            }

            // store/checkout.go
            package store

            import "fmt"

            func Checkout(id int, items []Item) (*Order, error) {
            	order := NewOrder(id)
            	order.Items = items
            	if len(order.Items) == 0 {
            		return nil, fmt.Errorf("order %d is empty", id)
            	}
            	$0
            ---
            store/order.go · definition of `NewOrder`
            store/order.go · definition of `Order`
        "#]],
    );
}

#[test]
fn context_modes_add_this_file_then_the_workspace() {
    check(
        RUST_LAYOUT,
        ContextMode::None,
        90,
        expect![[r#"
            // src/main.rs
                gap: f64,
            }

            impl Layout {
                fn new(gap: f64) -> Layout {
                    Layout { panels: Vec::new(), gap }
                }

                fn push(&mut self, width: f64, height: f64) {
                    self.panels.push(Rectangle { width, height });
                }

                fn padded_area(&self) -> f64 {
                    let mut total = 0.0;
                    for panel in &self.panels {
                        let padded = Rectangle {
                            width: panel.width + self.gap,
                            height: panel.height + self.gap,
                        };
                        total += area(&padded);
                    }
                    $0
            ---
        "#]],
    );
    check(
        RUST_LAYOUT,
        ContextMode::File,
        90,
        expect![[r#"
            // src/main.rs
            struct Layout {
                panels: Vec<Rectangle>,
                gap: f64,
            }

            // src/main.rs
            impl Layout {
                }

                fn push(&mut self, width: f64, height: f64) {
                    self.panels.push(Rectangle { width, height });
                }

                fn padded_area(&self) -> f64 {
                    let mut total = 0.0;
                    for panel in &self.panels {
                        let padded = Rectangle {
                            width: panel.width + self.gap,
                            height: panel.height + self.gap,
                        };
                        total += area(&padded);
                    }
                    $0
            ---
            src/main.rs · definition of `Layout`
            src/main.rs · enclosing scope
        "#]],
    );
    check(
        RUST_LAYOUT,
        ContextMode::Full,
        90,
        expect![[r#"
            // src/geometry.rs
            pub fn area(rectangle: &Rectangle) -> f64

            // src/main.rs
            impl Layout {
                    Layout { panels: Vec::new(), gap }
                }

                fn push(&mut self, width: f64, height: f64) {
                    self.panels.push(Rectangle { width, height });
                }

                fn padded_area(&self) -> f64 {
                    let mut total = 0.0;
                    for panel in &self.panels {
                        let padded = Rectangle {
                            width: panel.width + self.gap,
                            height: panel.height + self.gap,
                        };
                        total += area(&padded);
                    }
                    $0
            ---
            src/geometry.rs · definition of `area`
            src/main.rs · enclosing scope
        "#]],
    );
}

/// `load` and `validate` are defined in five files each. `use crate::config::load` picks the
/// `load` of config.rs; the unqualified `validate` is none of the five, so no definition of it is
/// taken (it shows only as an item of config.rs's outline, under the import).
#[test]
fn a_name_in_many_files_needs_an_import() {
    let mut fixture = String::new();
    for module in ["config", "cache", "schema", "plugin", "theme"] {
        fixture.push_str(&format!(
            "//- /src/{module}.rs\npub fn load(path: &str) -> {module}::Data {{\n    todo!()\n}}\n\n\
             pub fn validate(data: &str) -> bool {{\n    !data.is_empty()\n}}\n"
        ));
    }
    fixture.push_str(
        r#"//- /src/main.rs
use crate::config::load;

fn main() {
    let settings = load("wisp.toml");
    if !validate(&settings.raw) {
        eprintln!("invalid settings");
    }
    $0
}
"#,
    );
    check(
        &fixture,
        ContextMode::Full,
        200,
        expect![[r#"
            // src/config.rs
            pub fn load(path: &str) -> config::Data
            pub fn validate(data: &str) -> bool

            // src/main.rs
            use crate::config::load;

            fn main() {
                let settings = load("wisp.toml");
                if !validate(&settings.raw) {
                    eprintln!("invalid settings");
                }
                $0
            ---
            src/config.rs · definition of `load`
            src/config.rs · imported `crate::config`
        "#]],
    );
}

#[test]
fn a_name_imported_but_not_used_yet_brings_its_definition() {
    // Nothing near the cursor mentions `ReadBuf`, but the file imports it: the signature being
    // written is likely to use it.
    check(
        r#"
//- /src/io/read_buf.rs
pub struct ReadBuf<'a> {
    buf: &'a mut [u8],
    filled: usize,
}
//- /src/io/async_read.rs
use super::ReadBuf;
use std::pin::Pin;

pub trait AsyncRead {
    fn poll_read(
        self: Pin<&mut Self>,
        $0
}
"#,
        ContextMode::Full,
        80,
        expect![[r#"
            // src/io/read_buf.rs
            pub struct ReadBuf<'a> {
                buf: &'a mut [u8],
                filled: usize,
            }

            // src/io/async_read.rs
            use super::ReadBuf;
            use std::pin::Pin;

            pub trait AsyncRead {
                fn poll_read(
                    self: Pin<&mut Self>,
                    $0
            ---
            src/io/read_buf.rs · definition of `ReadBuf`
        "#]],
    );
}

#[test]
fn snippets_that_do_not_fit_are_left_out() {
    // Below 12 the window no longer holds the line before the cursor.
    for budget in 12..=40 {
        let built = prompt(RUST_LAYOUT, ContextMode::Full, PromptFormat::Plain, budget);
        let rendered = built.prompt.render();
        assert!(rendered.ends_with("total += area(&padded);\n        }\n        "), "{rendered}");
        for snippet in &built.snippets {
            assert!(words(&snippet.text) <= budget, "{snippet:?} is over the budget of {budget}");
        }
    }
    // At 20 the impl header fits, `area` (3 words more with its path header) does not.
    check(
        RUST_LAYOUT,
        ContextMode::Full,
        20,
        expect![[r#"
            // src/main.rs
            impl Layout {
                            height: panel.height + self.gap,
                        };
                        total += area(&padded);
                    }
                    $0
            ---
            src/main.rs · enclosing scope
        "#]],
    );
}

#[test]
fn fim_keeps_the_impl_header_and_the_rest_of_the_method() {
    check_fim(
        RUST_LAYOUT,
        ContextMode::Full,
        120,
        expect![[r#"
            <FimPrefix>// src/geometry.rs
            pub fn area(rectangle: &Rectangle) -> f64
            pub struct Rectangle {
                pub width: f64,
                pub height: f64,
            }

            // src/main.rs
            impl Layout {
                fn new(gap: f64) -> Layout {
                    Layout { panels: Vec::new(), gap }
                }

                fn push(&mut self, width: f64, height: f64) {
                    self.panels.push(Rectangle { width, height });
                }

                fn padded_area(&self) -> f64 {
                    let mut total = 0.0;
                    for panel in &self.panels {
                        let padded = Rectangle {
                            width: panel.width + self.gap,
                            height: panel.height + self.gap,
                        };
                        total += area(&padded);
                    }
                    <FimSuffix>
                }
            }
            <FimMiddle>$0
            ---
            src/geometry.rs · definition of `area`
            src/geometry.rs · definition of `Rectangle`
            src/main.rs · enclosing scope
        "#]],
    );
}

#[test]
fn fim_puts_snippets_in_the_prefix_before_the_file_header() {
    check_fim(
        r#"
//- /src/types.ts
export interface User {
  id: number;
  name: string;
}
//- /src/api.ts
export async function fetchUser(id: number): Promise<User> {
  return (await fetch(`/api/users/${id}`)).json();
}
//- /src/profile.ts
import { fetchUser } from "./api";
import { User } from "./types";

export async function profileTitle(id: number): Promise<string> {
  const user: User = await fetchUser(id);
  return $0;
}

export function initials(user: User): string {
  return user.name.slice(0, 1);
}
"#,
        ContextMode::Full,
        120,
        expect![[r#"
            <FimPrefix>// src/types.ts
            interface User {
              id: number;
              name: string;
            }

            // src/api.ts
            async function fetchUser(id: number): Promise<User>

            // src/profile.ts
            import { fetchUser } from "./api";
            import { User } from "./types";

            export async function profileTitle(id: number): Promise<string> {
              const user: User = await fetchUser(id);
              return <FimSuffix>;
            }

            export function initials(user: User): string {
              return user.name.slice(0, 1);
            }
            <FimMiddle>$0
            ---
            src/types.ts · definition of `User`
            src/api.ts · definition of `fetchUser`
        "#]],
    );
}

#[test]
fn issue_4_codestral_puts_the_suffix_first_and_marks_files_with_plus_lines() {
    let built = prompt(RUST_LAYOUT, ContextMode::Full, PromptFormat::FimSuffixFirst, 120);
    assert!(matches!(built.prompt.parts.first(), Some(PromptPart::Special(_))));
    expect![[r#"
        <FimSuffix>
            }
        }
        <FimPrefix>+++++ src/geometry.rs
        pub fn area(rectangle: &Rectangle) -> f64
        pub struct Rectangle {
            pub width: f64,
            pub height: f64,
        }

        +++++ src/main.rs
        impl Layout {
            fn new(gap: f64) -> Layout {
                Layout { panels: Vec::new(), gap }
            }

            fn push(&mut self, width: f64, height: f64) {
                self.panels.push(Rectangle { width, height });
            }

            fn padded_area(&self) -> f64 {
                let mut total = 0.0;
                for panel in &self.panels {
                    let padded = Rectangle {
                        width: panel.width + self.gap,
                        height: panel.height + self.gap,
                    };
                    total += area(&padded);
                }
                $0
        ---
        src/geometry.rs · definition of `area`
        src/geometry.rs · definition of `Rectangle`
        src/main.rs · enclosing scope
    "#]]
    .assert_eq(&render(&built));
}
