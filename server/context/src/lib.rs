//! Building completion prompts within a token budget.
//!
//! [`build`] is a pure function of what was collected around the cursor and a budget in real
//! tokens (counted by the model's own tokenizer through [`TokenCounter`]), so it can be
//! snapshot-tested. Prompt v1 knows two layouts:
//!
//! - models without fill-in-the-middle tokens (SmolLM2, Gemma 3): a file path header in the
//!   language's comment syntax, then the prefix window that ends at the cursor;
//! - models with FIM tokens in their GGUF metadata: `<prefix>header+prefix<suffix>suffix<middle>`.
//!
//! Stable material comes first and the cursor region last, so consecutive prompts share a long
//! token prefix that the engine can keep in its KV cache.

pub mod collect;
pub mod cross_file;
pub mod recent;

pub use collect::{collect, Chunk, ContextMode, Cursor, Origin, Snippet, Workspace};
pub use cross_file::{cross_file_names, shows_definition};
pub use recent::RecentEdits;
use wisp_engine::{Prompt, PromptPart, SpecialToken};

/// Bytes before the cursor that the caller hands to [`build`] at most. The token budget cuts far
/// earlier for normal code; this bound keeps a multi-megabyte file from being copied and
/// tokenized on every keystroke.
pub const MAX_PREFIX_BYTES: usize = 32 * 1024;
/// Bytes after the cursor handed to [`build`] at most (only FIM prompts use the suffix).
pub const MAX_SUFFIX_BYTES: usize = 8 * 1024;
/// Share of a FIM prompt's budget reserved for the suffix, in percent. Code after the cursor
/// helps less than code before it, so it gets the smaller part; what it leaves unused goes to
/// the prefix.
pub const FIM_SUFFIX_BUDGET_PERCENT: usize = 25;
/// When the prefix window has to move down (the code above the cursor outgrew the budget), it
/// moves this share of the budget further than needed, so the next lines typed fit without
/// moving it again. Every move changes the start of the prompt and costs a re-evaluation of
/// the whole window; this makes moves rare (one per ~quarter budget of new code).
pub const WINDOW_SLACK_PERCENT: usize = 25;
/// Share of the budget kept for snippets (definitions, imports, similar code) when there are any,
/// in percent. The window's share is fixed rather than growing into what snippets leave unused,
/// so its start does not move with the snippets and the KV cache keeps it.
pub const SNIPPET_BUDGET_PERCENT: usize = 30;

/// Counts tokens the way the model will see them.
pub trait TokenCounter {
    fn count_tokens(&self, text: &str) -> usize;
}

impl<F: Fn(&str) -> usize> TokenCounter for F {
    fn count_tokens(&self, text: &str) -> usize {
        self(text)
    }
}

/// What the prompt is built from.
#[derive(Debug, Clone, Copy)]
pub struct CompletionInput<'a> {
    /// Workspace-relative path shown to the model.
    pub path: &'a str,
    /// Line comment token of the language ("//", "#"), for the path header.
    pub line_comment: Option<&'a str>,
    /// Text before the cursor (at most [`MAX_PREFIX_BYTES`] is useful).
    pub prefix: &'a str,
    /// Text after the cursor (at most [`MAX_SUFFIX_BYTES`] is useful).
    pub suffix: &'a str,
    /// Where the previous prompt's prefix window started, as a byte offset into `prefix`. Kept
    /// when it is still a line start and the text from it fits, so consecutive prompts share
    /// their beginning (and the engine's KV cache).
    pub anchor: Option<usize>,
    /// Document byte offset where `prefix` starts (to tell which snippets of this file the window
    /// already shows).
    pub prefix_start: usize,
    /// Context from [`collect`], best first.
    pub snippets: &'a [Snippet],
}

/// Which layout the model understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptFormat {
    /// Prefix only, with a path header.
    Plain,
    /// Fill-in-the-middle with the model's special tokens.
    Fim,
    /// Fill-in-the-middle with repository-level file separators (Qwen2.5-Coder's `<|file_sep|>`,
    /// StarCoder2's `<file_sep>`): each snippet file is `<file_sep>path\ncode`, then
    /// `<file_sep>path\n` of this file before the FIM prefix.
    FimRepo,
    /// Codestral's suffix-first FIM, `[SUFFIX]suffix[PREFIX]code` with no middle token; each
    /// snippet file and this file start with a `+++++ path` line in the code part.
    FimSuffixFirst,
}

/// A prompt and how it was cut from the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltPrompt {
    pub prompt: Prompt,
    /// Tokens of the text parts, as counted while building (special tokens count one each).
    pub n_tokens: usize,
    /// Byte offset in `input.prefix` where the prefix window starts.
    pub prefix_window_start: usize,
    /// Bytes of `input.suffix` that made it into the prompt.
    pub suffix_window_len: usize,
    /// The snippets in the prompt, in prompt order.
    pub snippets: Vec<Snippet>,
}

/// Builds the prompt for one completion within `budget_tokens`.
///
/// Layout, stable material first: snippets of other files (and of this file outside the window),
/// each group under its path header, then this file's header, the headers of the scopes around
/// the cursor that the window does not show, and the window ending at the cursor.
pub fn build(
    input: &CompletionInput<'_>,
    format: PromptFormat,
    budget_tokens: usize,
    counter: &dyn TokenCounter,
) -> BuiltPrompt {
    let repo = format == PromptFormat::FimRepo;
    let style = if format == PromptFormat::FimSuffixFirst { HeaderStyle::Plus } else { HeaderStyle::Comment };
    let header =
        if repo { format!("{}\n", input.path) } else { style.header(input.path, input.line_comment) };
    // The file separator before this file's path counts as one token.
    let n_header = counter.count_tokens(&header) + usize::from(repo);
    let n_special = match format {
        PromptFormat::Plain => 0,
        PromptFormat::FimSuffixFirst => 2,
        PromptFormat::Fim | PromptFormat::FimRepo => 3,
    };
    let available = budget_tokens.saturating_sub(n_header + n_special);
    let snippet_budget = if input.snippets.is_empty() { 0 } else { available * SNIPPET_BUDGET_PERCENT / 100 };
    let code_budget = available - snippet_budget;
    let (suffix_len, n_suffix) = match format {
        PromptFormat::Plain => (0, 0),
        PromptFormat::Fim | PromptFormat::FimRepo | PromptFormat::FimSuffixFirst => {
            head_within(input.suffix, code_budget * FIM_SUFFIX_BUDGET_PERCENT / 100, counter)
        }
    };
    let window_of =
        |start: usize| input.prefix_start + start..input.prefix_start + input.prefix.len() + suffix_len;
    let (mut start, mut n_prefix) = prefix_window(input, code_budget - n_suffix, counter);
    let mut context =
        context_text(input, &header, &window_of(start), snippet_budget + n_header, counter, repo, style);
    // What the snippets left unused goes to the window (it moves only when the snippets change,
    // which re-evaluates the prompt anyway). Snippets of this file that the wider window now
    // shows are chosen again; the wider layout is kept only if it still fits.
    let unused = (snippet_budget + n_header).saturating_sub(context.n_tokens);
    if unused > 0 && !input.snippets.is_empty() {
        let (wide_start, wide_n_prefix) = prefix_window(input, code_budget + unused - n_suffix, counter);
        let wide_context = context_text(
            input,
            &header,
            &window_of(wide_start),
            snippet_budget + n_header,
            counter,
            repo,
            style,
        );
        if n_special + wide_context.n_tokens + wide_n_prefix + n_suffix
            <= budget_tokens.max(n_special + n_header)
        {
            (start, n_prefix, context) = (wide_start, wide_n_prefix, wide_context);
        }
    }
    let code = context.text + &input.prefix[start..];
    let n_tokens = n_special + context.n_tokens + n_prefix + n_suffix;
    let snippets = context.snippets;
    let mut parts = context.before;
    match format {
        PromptFormat::Plain => parts.push(PromptPart::Text(code)),
        PromptFormat::Fim | PromptFormat::FimRepo => parts.extend([
            PromptPart::Special(SpecialToken::FimPrefix),
            PromptPart::Text(code),
            PromptPart::Special(SpecialToken::FimSuffix),
            PromptPart::Text(input.suffix[..suffix_len].to_owned()),
            PromptPart::Special(SpecialToken::FimMiddle),
        ]),
        PromptFormat::FimSuffixFirst => parts.extend([
            PromptPart::Special(SpecialToken::FimSuffix),
            PromptPart::Text(input.suffix[..suffix_len].to_owned()),
            PromptPart::Special(SpecialToken::FimPrefix),
            PromptPart::Text(code),
        ]),
    }
    BuiltPrompt {
        prompt: Prompt { parts },
        n_tokens,
        prefix_window_start: start,
        suffix_window_len: suffix_len,
        snippets,
    }
}

/// The part of the prompt before the window: snippets, this file's path header, scope headers.
struct Context {
    /// Parts before the FIM prefix (repository-level layout only).
    before: Vec<PromptPart>,
    /// Text that starts the prompt's code part, before the window.
    text: String,
    n_tokens: usize,
    /// The snippets in it, in prompt order.
    snippets: Vec<Snippet>,
}

/// The snippets that fit `budget` (which includes this file's `header`) rendered before the
/// window. Snippets of this file that the `window` (document byte range) shows are left out.
///
/// The text is rendered and counted as a whole, and snippets are added in rank order while the
/// real count stays within the budget, so merges across snippet boundaries never push it over.
fn context_text(
    input: &CompletionInput<'_>,
    header: &str,
    window: &std::ops::Range<usize>,
    budget: usize,
    counter: &dyn TokenCounter,
    repo: bool,
    style: HeaderStyle,
) -> Context {
    let visible = |snippet: &Snippet| {
        snippet.range.as_ref().is_some_and(|range| range.start < window.end && window.start < range.end)
    };
    let mut chosen: Vec<&Snippet> = Vec::new();
    let render = |ordered: &[&Snippet]| -> Context {
        if repo {
            render_repo_context(input, header, ordered, counter)
        } else {
            let text = render_context(input, header, ordered, style);
            let n_tokens = counter.count_tokens(&text);
            Context {
                before: Vec::new(),
                text,
                n_tokens,
                snippets: ordered.iter().map(|s| (*s).clone()).collect(),
            }
        }
    };
    let mut best = render(&[]);
    for snippet in input.snippets.iter().filter(|snippet| !visible(snippet)) {
        chosen.push(snippet);
        let candidate = render(&context_order(input, &chosen));
        if candidate.n_tokens <= budget {
            best = candidate;
        } else {
            chosen.pop();
        }
    }
    best
}

/// Snippets in prompt order: other files' groups (the best group last, nearest the code), then
/// this file's definitions, then its enclosing scopes (outermost first).
fn context_order<'s>(input: &CompletionInput<'_>, chosen: &[&'s Snippet]) -> Vec<&'s Snippet> {
    let mut paths: Vec<&str> = Vec::new();
    for snippet in chosen {
        if snippet.path != input.path && !paths.contains(&snippet.path.as_str()) {
            paths.push(&snippet.path);
        }
    }
    paths.reverse();
    let mut ordered: Vec<&Snippet> = Vec::new();
    for path in &paths {
        ordered.extend(chosen.iter().filter(|snippet| snippet.path == *path));
    }
    let own = |scope: bool| {
        chosen.iter().filter(move |snippet| {
            snippet.path == input.path && (snippet.origin == Origin::EnclosingScope) == scope
        })
    };
    let mut definitions: Vec<&Snippet> = own(false).copied().collect();
    definitions.sort_by_key(|snippet| snippet.range.as_ref().map_or(0, |range| range.start));
    ordered.extend(definitions);
    let mut scopes: Vec<&Snippet> = own(true).copied().collect();
    scopes.sort_by_key(|snippet| snippet.range.as_ref().map_or(0, |range| range.start));
    ordered.extend(scopes);
    ordered
}

/// Each other file's snippets under its path header, this file's definitions from outside the
/// window under a header of their own, then this file's header for the window followed by the
/// headers of the enclosing scopes.
fn render_context(
    input: &CompletionInput<'_>,
    header: &str,
    ordered: &[&Snippet],
    style: HeaderStyle,
) -> String {
    let mut text = String::new();
    let mut current_path: Option<&str> = None;
    let mut scopes = String::new();
    for snippet in ordered {
        if snippet.path == input.path && snippet.origin == Origin::EnclosingScope {
            scopes.push_str(&snippet.text);
            scopes.push('\n');
            continue;
        }
        if current_path != Some(snippet.path.as_str()) {
            if current_path.is_some() {
                text.push('\n');
            }
            text.push_str(&style.header(&snippet.path, input.line_comment));
            current_path = Some(&snippet.path);
        }
        text.push_str(&snippet.text);
        text.push('\n');
    }
    if current_path.is_some() {
        text.push('\n');
    }
    text.push_str(header);
    text.push_str(&scopes);
    text
}

/// The repository-level layout: each other file's snippets as `<file_sep>path\ncode`, then
/// `<file_sep>path\n` for this file; this file's definitions and enclosing scope headers start
/// the code part (after the FIM prefix token).
fn render_repo_context(
    input: &CompletionInput<'_>,
    header: &str,
    ordered: &[&Snippet],
    counter: &dyn TokenCounter,
) -> Context {
    let mut before: Vec<PromptPart> = Vec::new();
    let mut n_tokens = 0;
    let mut group: Option<(&str, String)> = None;
    let flush = |group: Option<(&str, String)>, before: &mut Vec<PromptPart>, n_tokens: &mut usize| {
        if let Some((path, code)) = group {
            let text = format!("{path}\n{code}");
            *n_tokens += 1 + counter.count_tokens(&text);
            before.push(PromptPart::Special(SpecialToken::FileSeparator));
            before.push(PromptPart::Text(text));
        }
    };
    let mut own_definitions = String::new();
    let mut scopes = String::new();
    for snippet in ordered {
        if snippet.path == input.path {
            let target =
                if snippet.origin == Origin::EnclosingScope { &mut scopes } else { &mut own_definitions };
            target.push_str(&snippet.text);
            target.push('\n');
            continue;
        }
        if group.as_ref().map(|(path, _)| *path) != Some(snippet.path.as_str()) {
            flush(group.take(), &mut before, &mut n_tokens);
            group = Some((&snippet.path, String::new()));
        }
        if let Some((_, code)) = group.as_mut() {
            code.push_str(&snippet.text);
            code.push('\n');
        }
    }
    flush(group.take(), &mut before, &mut n_tokens);
    before.push(PromptPart::Special(SpecialToken::FileSeparator));
    before.push(PromptPart::Text(header.to_owned()));
    n_tokens += 1 + counter.count_tokens(header);
    let text = own_definitions + &scopes;
    n_tokens += counter.count_tokens(&text);
    Context { before, text, n_tokens, snippets: ordered.iter().map(|s| (*s).clone()).collect() }
}

fn path_header(path: &str, line_comment: Option<&str>) -> String {
    format!("{} {path}\n", line_comment.unwrap_or("#"))
}

/// How a file's path is written above its code in the prompt's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeaderStyle {
    /// A comment of the file's language (`// src/lib.rs`): reads as code to any model.
    Comment,
    /// `+++++ src/lib.rs`, the file marker Codestral was trained with.
    Plus,
}

impl HeaderStyle {
    fn header(self, path: &str, line_comment: Option<&str>) -> String {
        match self {
            HeaderStyle::Comment => path_header(path, line_comment),
            HeaderStyle::Plus => format!("+++++ {path}\n"),
        }
    }
}

/// Where the prefix window starts and its token count: at the anchor when it still works, else
/// at a fresh line start with [`WINDOW_SLACK_PERCENT`] of slack.
fn prefix_window(input: &CompletionInput<'_>, budget: usize, counter: &dyn TokenCounter) -> (usize, usize) {
    let prefix = input.prefix;
    if let Some(anchor) = input.anchor.filter(|&anchor| anchor <= prefix.len()) {
        let at_line_start =
            prefix.is_char_boundary(anchor) && (anchor == 0 || prefix.as_bytes()[anchor - 1] == b'\n');
        if at_line_start {
            let n_tokens = counter.count_tokens(&prefix[anchor..]);
            if n_tokens <= budget {
                return (anchor, n_tokens);
            }
        }
    }
    let (start, n_tokens) = tail_within(prefix, budget, counter);
    if input.anchor.is_none() || n_tokens < budget / 2 {
        // No earlier window to keep stable, or plenty of room: nothing to gain from slack.
        return (start, n_tokens);
    }
    tail_within(prefix, budget - budget * WINDOW_SLACK_PERCENT / 100, counter)
}

/// The longest tail of `text` that starts at a line start (or, when even the cursor's own line
/// is over budget, at a character) and fits `budget` tokens. Returns its start and token count.
fn tail_within(text: &str, budget: usize, counter: &dyn TokenCounter) -> (usize, usize) {
    let mut start = text.len();
    let mut n_tokens = 0;
    // Walk whole lines backwards, summing per-line counts (cheap), then check the real count of
    // the joined text: merges across line breaks can make it differ slightly.
    for line in text.split_inclusive('\n').rev() {
        let n_line = counter.count_tokens(line);
        if n_tokens + n_line > budget {
            break;
        }
        n_tokens += n_line;
        start -= line.len();
    }
    if start == text.len() {
        // Not even the last line fits: keep as many of its trailing characters as fit.
        return tail_chars_within(text, budget, counter);
    }
    let mut n_real = counter.count_tokens(&text[start..]);
    while n_real > budget {
        match text[start..].find('\n') {
            Some(newline) if start + newline + 1 < text.len() => start += newline + 1,
            _ => return tail_chars_within(text, budget, counter),
        }
        n_real = counter.count_tokens(&text[start..]);
    }
    (start, n_real)
}

/// The longest run of trailing characters of `text` that fits `budget` tokens (binary search).
fn tail_chars_within(text: &str, budget: usize, counter: &dyn TokenCounter) -> (usize, usize) {
    let boundaries: Vec<usize> = text.char_indices().map(|(index, _)| index).collect();
    let (mut fits, mut too_long) = (boundaries.len(), 0usize);
    // Invariant: starting at boundaries[fits] fits (the empty tail always does).
    while fits > too_long + 1 {
        let middle = (fits + too_long) / 2;
        if counter.count_tokens(&text[boundaries[middle]..]) <= budget {
            fits = middle;
        } else {
            too_long = middle;
        }
    }
    if fits == 0 && counter.count_tokens(text) <= budget {
        return (0, counter.count_tokens(text));
    }
    let start = boundaries.get(fits).copied().unwrap_or(text.len());
    (start, counter.count_tokens(&text[start..]))
}

/// The longest head of `text` made of whole lines (or, failing that, characters) that fits.
fn head_within(text: &str, budget: usize, counter: &dyn TokenCounter) -> (usize, usize) {
    let mut end = 0;
    let mut n_tokens = 0;
    for line in text.split_inclusive('\n') {
        let n_line = counter.count_tokens(line);
        if n_tokens + n_line > budget {
            break;
        }
        n_tokens += n_line;
        end += line.len();
    }
    while end > 0 && counter.count_tokens(&text[..end]) > budget {
        end = text[..end - 1].rfind('\n').map_or(0, |newline| newline + 1);
    }
    (end, counter.count_tokens(&text[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{expect, Expect};

    /// One token per whitespace-separated word, plus one per line break: predictable in tests.
    fn words(text: &str) -> usize {
        text.split_whitespace().count() + text.matches('\n').count()
    }

    fn check(fixture: &str, format: PromptFormat, budget: usize, expect: Expect) {
        let (prefix, suffix) = fixture.split_once("$0").expect("fixture has a $0 cursor");
        let input = CompletionInput {
            path: "src/lib.rs",
            line_comment: Some("//"),
            prefix,
            suffix,
            anchor: None,
            prefix_start: 0,
            snippets: &[],
        };
        let built = build(&input, format, budget, &words);
        assert!(built.n_tokens <= budget, "{} tokens over a budget of {budget}", built.n_tokens);
        let n_real: usize = built
            .prompt
            .parts
            .iter()
            .map(|part| match part {
                PromptPart::Text(text) => words(text),
                PromptPart::Special(_) => 1,
                PromptPart::Template(text) => words(text),
            })
            .sum();
        assert_eq!(n_real, built.n_tokens);
        expect.assert_eq(&built.prompt.render());
    }

    #[test]
    fn plain_prompt_is_header_then_prefix() {
        check(
            "fn add(a: i32, b: i32) -> i32 {\n    a + $0\n}\n",
            PromptFormat::Plain,
            100,
            expect![[r#"
                // src/lib.rs
                fn add(a: i32, b: i32) -> i32 {
                    a + "#]],
        );
    }

    #[test]
    fn plain_prompt_drops_whole_lines_from_the_top_when_over_budget() {
        check(
            "use a;\nuse b;\nfn main() {\n    let x = 1;\n    x$0\n}",
            PromptFormat::Plain,
            9,
            expect![[r#"
                // src/lib.rs
                    let x = 1;
                    x"#]],
        );
    }

    #[test]
    fn an_overlong_cursor_line_is_cut_by_characters() {
        check(
            "a b c d e f g h i j$0",
            PromptFormat::Plain,
            5,
            expect![[r#"
                // src/lib.rs
                 i j"#]],
        );
    }

    #[test]
    fn fim_prompt_has_prefix_suffix_and_middle() {
        check(
            "fn main() {\n    let x = $0;\n    println!(\"{x}\");\n}\n",
            PromptFormat::Fim,
            100,
            expect![[r#"
                <FimPrefix>// src/lib.rs
                fn main() {
                    let x = <FimSuffix>;
                    println!("{x}");
                }
                <FimMiddle>"#]],
        );
    }

    #[test]
    fn fim_suffix_keeps_to_its_share() {
        let suffix_lines = "x\n".repeat(50);
        let fixture = format!("fn f() {{\n$0{suffix_lines}");
        let (prefix, suffix) = fixture.split_once("$0").unwrap();
        let input = CompletionInput {
            path: "a.rs",
            line_comment: Some("//"),
            prefix,
            suffix,
            anchor: None,
            prefix_start: 0,
            snippets: &[],
        };
        let built = build(&input, PromptFormat::Fim, 40, &words);
        assert!(built.n_tokens <= 40);
        // 40 - header(3) - 3 special = 34 available; 25% = 8 tokens = 4 lines of "x\n".
        assert_eq!(built.suffix_window_len, 8);
        assert_eq!(built.prefix_window_start, 0);
    }

    #[test]
    fn the_window_stays_anchored_while_it_fits_then_moves_with_slack() {
        // Each line is 2 tokens with the `words` counter ("xN" + line break).
        let lines: String = (0..30).map(|index| format!("x{index}\n")).collect();
        let input = |prefix: &'static str, anchor| CompletionInput {
            path: "a.rs",
            line_comment: Some("//"),
            prefix,
            suffix: "",
            anchor,
            prefix_start: 0,
            snippets: &[],
        };
        let text: &'static str = Box::leak(lines.into_boxed_str());
        // Budget 23 = header 3 + 20 for the prefix: 10 lines fit.
        let first = build(&input(text, None), PromptFormat::Plain, 23, &words);
        assert_eq!(first.prefix_window_start, text.len() - 10 * 3 - 10);
        // Typing a line more with the old window start: it no longer fits, so the window moves
        // by a quarter of the budget more than needed (to 15 tokens = 7 lines).
        let longer: &'static str = Box::leak(format!("{text}y\n").into_boxed_str());
        let moved = build(&input(longer, Some(first.prefix_window_start)), PromptFormat::Plain, 23, &words);
        assert!(moved.n_tokens <= 23);
        assert_eq!(&longer[moved.prefix_window_start..], "x24\nx25\nx26\nx27\nx28\nx29\ny\n");
        // The next line fits from the new start: the window stays.
        let again: &'static str = Box::leak(format!("{longer}z\n").into_boxed_str());
        let kept = build(&input(again, Some(moved.prefix_window_start)), PromptFormat::Plain, 23, &words);
        assert_eq!(kept.prefix_window_start, moved.prefix_window_start);
        // An anchor in the middle of a line is not used.
        let mid = build(&input(again, Some(moved.prefix_window_start + 1)), PromptFormat::Plain, 23, &words);
        assert!(again[..mid.prefix_window_start].ends_with('\n'));
    }

    #[test]
    fn repository_level_fim_puts_each_file_after_a_separator() {
        let snippets = [
            Snippet {
                path: "src/geometry.rs".into(),
                text: "pub struct Point { pub x: f64 }".into(),
                origin: Origin::Definition { name: "Point".into() },
                range: None,
            },
            Snippet {
                path: "src/lib.rs".into(),
                text: "impl Shape {".into(),
                origin: Origin::EnclosingScope,
                range: Some(0..12),
            },
        ];
        let prefix = "impl Shape {\n".to_owned()
            + &"    // filler line\n".repeat(30)
            + "    fn center(&self) -> Point {\n        ";
        let input = CompletionInput {
            path: "src/lib.rs",
            line_comment: Some("//"),
            prefix: &prefix,
            suffix: "\n    }\n}\n",
            anchor: None,
            prefix_start: 0,
            snippets: &snippets,
        };
        let built = build(&input, PromptFormat::FimRepo, 60, &words);
        assert!(built.n_tokens <= 60, "{}", built.n_tokens);
        let n_real: usize = built
            .prompt
            .parts
            .iter()
            .map(|part| match part {
                PromptPart::Text(text) => words(text),
                PromptPart::Special(_) => 1,
                PromptPart::Template(text) => words(text),
            })
            .sum();
        assert_eq!(n_real, built.n_tokens);
        expect![[r#"
            <FileSeparator>src/geometry.rs
            pub struct Point { pub x: f64 }
            <FileSeparator>src/lib.rs
            <FimPrefix>impl Shape {
                // filler line
                // filler line
                // filler line
                // filler line
                // filler line
                // filler line
                fn center(&self) -> Point {
                    <FimSuffix>
                }
            }
            <FimMiddle>"#]]
        .assert_eq(&built.prompt.render());
    }

    #[test]
    fn budget_holds_for_every_cut() {
        let text = "alpha beta\ngamma\n\n delta epsilon zeta\n eta\n".repeat(5);
        for cursor in (0..text.len()).step_by(7) {
            for budget in [0, 1, 3, 8, 20, 200] {
                let input = CompletionInput {
                    path: "p.py",
                    line_comment: Some("#"),
                    prefix: &text[..cursor],
                    suffix: &text[cursor..],
                    anchor: None,
                    prefix_start: 0,
                    snippets: &[],
                };
                for format in [
                    PromptFormat::Plain,
                    PromptFormat::Fim,
                    PromptFormat::FimRepo,
                    PromptFormat::FimSuffixFirst,
                ] {
                    let built = build(&input, format, budget, &words);
                    let header_and_specials = 3 + if format == PromptFormat::Plain { 0 } else { 4 };
                    assert!(
                        built.n_tokens <= budget.max(header_and_specials),
                        "cursor {cursor} budget {budget} {format:?}: {}",
                        built.n_tokens
                    );
                }
            }
        }
    }
}
