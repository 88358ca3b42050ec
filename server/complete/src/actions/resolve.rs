//! The edit of an action: asked of the model, shaped in the language's own style, and checked with
//! its parser. A generation that does not parse, or says nothing, is an error that says so; a
//! broken edit is never returned.

use std::ops::{ControlFlow, Range};
use std::path::{Path, PathBuf};

use wisp_engine::{CancelFlag, ChatMessage, Engine, GenerateRequest, Prompt, Sampling, StopReason, StopRule};
use wisp_syntax::Document;

use super::shape::{definition_at, line_around, Definition};
use super::{ActionKind, Diagnostic};
use crate::completion;
use crate::config::Config;

/// Bytes of code quoted to the model in one action at most.
const MAX_QUOTED_BYTES: usize = 6000;
/// Lines of the body [`ActionKind::CompleteBody`] writes at most.
const MAX_BODY_LINES: usize = 40;
/// Lines of a doc comment or an explanation at most.
const MAX_COMMENT_LINES: usize = 8;
/// Characters per line of a doc comment or an explanation.
const COMMENT_WIDTH: usize = 90;
/// KV-cache sequence key of actions: apart from the documents' completion sequences.
const ACTIONS_CACHE_KEY: u64 = 0x0a57_10c5;

/// What an action is asked on.
pub struct ActionRequest<'r> {
    pub kind: ActionKind,
    pub document: &'r Document,
    /// The document's file, for files written beside it (tests); None for unsaved documents.
    pub file: Option<&'r Path>,
    /// The path shown to the model.
    pub display_path: &'r str,
    pub selection: Range<usize>,
    pub diagnostic: Option<Diagnostic>,
    pub config: &'r Config,
    pub cancel: CancelFlag,
}

/// An action's edit: `text` replaces the bytes `replace` of the document, or, for `file`, a file
/// beside it gets the text (created, or added at its end when it exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionEdit {
    pub replace: Range<usize>,
    pub text: String,
    pub file: Option<PathBuf>,
}

/// Why an action has no edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// Nothing at the cursor for this action any more (the document changed).
    NotApplicable(String),
    /// The model is not loaded, failed to load, or failed while generating.
    Model(String),
    /// The model's answer was empty or did not parse: nothing is changed.
    Invalid(String),
    Cancelled,
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActionError::NotApplicable(why) | ActionError::Invalid(why) | ActionError::Model(why) => {
                f.write_str(why)
            }
            ActionError::Cancelled => f.write_str("cancelled"),
        }
    }
}

/// Computes the edit of `request`'s action with `engine`. Blocking: run it on the inference
/// worker.
pub fn resolve(engine: &dyn Engine, request: &ActionRequest<'_>) -> Result<ActionEdit, ActionError> {
    let document = request.document;
    let cursor = request.selection.start;
    let language = document.language().map(|language| language.name.clone()).unwrap_or_default();
    let edit = match request.kind {
        ActionKind::CompleteBody => {
            let function = definition_at(document, cursor, true)
                .ok_or_else(|| not_here("there is no function at the cursor"))?;
            complete_body(engine, request, &function)?
        }
        ActionKind::Document => {
            let definition = definition_at(document, cursor, false)
                .ok_or_else(|| not_here("there is no function or type at the cursor"))?;
            document_definition(engine, request, &language, &definition)?
        }
        ActionKind::WriteTests => {
            let function = definition_at(document, cursor, true)
                .ok_or_else(|| not_here("there is no function at the cursor"))?;
            write_tests(engine, request, &language, &function)?
        }
        ActionKind::Fix => {
            let diagnostic = request.diagnostic.clone().ok_or_else(|| not_here("no diagnostic was given"))?;
            fix(engine, request, &language, &diagnostic)?
        }
        ActionKind::Explain => explain(engine, request, &language)?,
    };
    check(document, &edit)?;
    Ok(edit)
}

fn not_here(why: &str) -> ActionError {
    ActionError::NotApplicable(format!("{why} — the document may have changed; ask for the action again"))
}

/// The edit parses: no new syntax error around it in the document, none at all in a new file.
fn check(document: &Document, edit: &ActionEdit) -> Result<(), ActionError> {
    let added = match &edit.file {
        None => document.errors_added_by_change(edit.replace.clone(), &edit.text),
        Some(_) => Document::new(&edit.text, document.shared_language()).syntax_errors(),
    };
    match added {
        Some(0) | None => Ok(()),
        Some(n) => Err(ActionError::Invalid(format!(
            "the model's answer does not parse ({n} syntax error{} where it would go); nothing was changed — try again after editing the code, or with a larger model",
            if n == 1 { "" } else { "s" }
        ))),
    }
}

/// The body of a function with an empty one, written like a suggestion on the body's first line:
/// through the completion pipeline, its stop rule and its filters (the syntax check included).
fn complete_body(
    engine: &dyn Engine,
    request: &ActionRequest<'_>,
    function: &Definition,
) -> Result<ActionEdit, ActionError> {
    let document = request.document;
    let body_start = function.body_start.ok_or_else(|| not_here("the function has no body to complete"))?;
    let body_end = function.range.end;
    let braces = document.slice(body_start..body_start + 1) == "{";
    let inner_indentation = format!("{}{}", function.indentation, indent_unit(document));
    let (opening, closing) = if braces {
        (format!("{{\n{inner_indentation}"), format!("\n{}}}", function.indentation))
    } else {
        (String::new(), String::new())
    };
    let replace = if braces { body_start..body_end } else { body_start..line_around(document, body_end).end };
    // The document with an empty body and the cursor inside it.
    let before = document.slice(0..replace.start);
    let after = document.slice(replace.end..document.len_bytes());
    let emptied = Document::new(&format!("{before}{opening}{closing}{after}"), document.shared_language());
    let cursor = replace.start + opening.len();
    let mut settings = request.config.completion.clone();
    settings.max_lines = MAX_BODY_LINES;
    settings.max_tokens = request.config.actions.max_tokens;
    settings.min_confidence = 0.0;
    settings.time_budget_ms = 0;
    let gathered = completion::gather(&emptied, cursor, request.display_path, MAX_BODY_LINES);
    let suggestion =
        completion::suggest(engine, &gathered, &settings, request.cancel.clone(), false, &mut |_| {})
            .map_err(|error| ActionError::Model(error.to_string()))?;
    if suggestion.generation.stop_reason == StopReason::Cancelled {
        return Err(ActionError::Cancelled);
    }
    if suggestion.text.trim().is_empty() {
        return Err(ActionError::Invalid(format!(
            "the model wrote no body for {} that parses; nothing was changed",
            function.name
        )));
    }
    Ok(ActionEdit { replace, text: format!("{opening}{}{closing}", suggestion.text), file: None })
}

/// A doc comment above a definition (a docstring first in a Python body), in the language's style.
fn document_definition(
    engine: &dyn Engine,
    request: &ActionRequest<'_>,
    language: &str,
    definition: &Definition,
) -> Result<ActionEdit, ActionError> {
    let document = request.document;
    let what = if definition.is_function { "function" } else { "type" };
    let code = quoted(document, definition.range.clone());
    let reply = ask(
        engine,
        request,
        &[
            ChatMessage::new("system", format!("You are an expert {language} programmer. You write short, precise documentation.")),
            ChatMessage::new(
                "user",
                format!(
                    "Write the documentation for the {what} `{}` below: one or two sentences saying what it does, not how. Reply with the sentences only.\n\n```{language}\n{code}\n```",
                    definition.name
                ),
            ),
        ],
    )?;
    let lines = prose(&reply);
    if lines.is_empty() {
        return Err(ActionError::Invalid(format!(
            "the model wrote no documentation for {}; nothing was changed",
            definition.name
        )));
    }
    let indentation = &definition.indentation;
    if language == "python" {
        let body = definition.body_start.ok_or_else(|| not_here("the definition has no body"))?;
        let at = line_around(document, body).start;
        let inner = format!("{indentation}{}", indent_unit(document));
        let text = if lines.len() == 1 {
            format!("{inner}\"\"\"{}\"\"\"\n", lines[0].replace("\"\"\"", "'''"))
        } else {
            let body: String =
                lines.iter().map(|line| format!("{inner}{}\n", line.replace("\"\"\"", "'''"))).collect();
            format!("{inner}\"\"\"\n{body}{inner}\"\"\"\n")
        };
        return Ok(ActionEdit { replace: at..at, text, file: None });
    }
    let text = match language {
        "rust" => lines.iter().map(|line| format!("{indentation}/// {line}\n")).collect(),
        "javascript" | "typescript" | "tsx" | "java" => {
            let body: String =
                lines.iter().map(|line| format!("{indentation} * {}\n", line.replace("*/", "* /"))).collect();
            format!("{indentation}/**\n{body}{indentation} */\n")
        }
        _ => {
            let token =
                document.language().and_then(|l| l.line_comment.clone()).unwrap_or_else(|| "//".into());
            lines.iter().map(|line| format!("{indentation}{token} {line}\n")).collect()
        }
    };
    Ok(ActionEdit { replace: definition.line_start..definition.line_start, text, file: None })
}

/// Unit tests for a function, where the language keeps them: a `#[cfg(test)]` module at the end
/// of a Rust file, `test_<file>.py`, `<file>.test.<ext>`, `<file>_test.go` beside the source.
fn write_tests(
    engine: &dyn Engine,
    request: &ActionRequest<'_>,
    language: &str,
    function: &Definition,
) -> Result<ActionEdit, ActionError> {
    let document = request.document;
    let name = &function.name;
    let framework = match language {
        "rust" => "#[test] functions",
        "python" => "pytest test functions",
        "javascript" | "typescript" | "tsx" => "Jest test() calls",
        "go" => "Go testing functions (func TestX(t *testing.T))",
        _ => "the language's usual test framework",
    };
    let code = quoted(document, function.range.clone());
    let reply = ask(
        engine,
        request,
        &[
            ChatMessage::new("system", format!("You are an expert {language} programmer who writes small, correct unit tests.")),
            ChatMessage::new(
                "user",
                format!(
                    "Write two unit tests for the function `{name}` below, as {framework}. Reply with the test code only, in one code block.\n\n```{language}\n{code}\n```"
                ),
            ),
        ],
    )?;
    let tests = code_block(&reply);
    let marker = match language {
        "rust" => "#[test]",
        "python" => "def test",
        "go" => "func Test",
        _ => "test(",
    };
    if !(tests.contains(marker) || (marker == "test(" && tests.contains("it("))) {
        return Err(ActionError::Invalid(format!(
            "the model wrote no test for {name} (no {marker} in its answer); nothing was changed — try again with a larger model"
        )));
    }
    place_tests(request, language, name, tests)
}

/// Where the tests of function `name` go: a test module at the end of a Rust file, a file beside
/// the source for the other languages (with the import or package line it needs).
fn place_tests(
    request: &ActionRequest<'_>,
    language: &str,
    name: &str,
    tests: String,
) -> Result<ActionEdit, ActionError> {
    let document = request.document;
    let end = document.len_bytes();
    let separator = if document.slice(end.saturating_sub(1)..end) == "\n" { "\n" } else { "\n\n" };
    let stem =
        request.file.and_then(|file| file.file_stem()).and_then(|stem| stem.to_str()).unwrap_or("module");
    let beside =
        |file_name: String| request.file.and_then(|file| file.parent()).map(|folder| folder.join(file_name));
    match language {
        "rust" => {
            // A file with a `mod tests` already gets another module: two of one name do not
            // compile.
            let taken = document.slice(0..end).contains("mod tests");
            let module_name =
                if taken { format!("tests_{}", name.to_lowercase()) } else { "tests".to_owned() };
            let tests =
                if taken { tests.replacen("mod tests", &format!("mod {module_name}"), 1) } else { tests };
            let module = if tests.contains(&format!("mod {module_name}")) {
                tests
            } else {
                let body: String = tests
                    .lines()
                    .map(|line| if line.is_empty() { "\n".to_owned() } else { format!("    {line}\n") })
                    .collect();
                format!("#[cfg(test)]\nmod {module_name} {{\n    use super::*;\n\n{body}}}\n")
            };
            Ok(ActionEdit { replace: end..end, text: format!("{separator}{module}"), file: None })
        }
        "python" | "javascript" | "typescript" | "tsx" | "go" => {
            let (file_name, header) = match language {
                "python" => (format!("test_{stem}.py"), format!("from {stem} import {name}\n\n\n")),
                "go" => (
                    format!("{stem}_test.go"),
                    format!("package {}\n\nimport \"testing\"\n\n", go_package(document)),
                ),
                _ => {
                    let extension =
                        request.file.and_then(|f| f.extension()).and_then(|e| e.to_str()).unwrap_or("js");
                    (
                        format!("{stem}.test.{extension}"),
                        format!("import {{ {name} }} from \"./{stem}\";\n\n"),
                    )
                }
            };
            let path = beside(file_name).ok_or_else(|| {
                ActionError::NotApplicable("save the file first: its tests go in a file beside it".into())
            })?;
            let body: String = tests
                .lines()
                .filter(|line| !(line.starts_with("package ") || line.starts_with("import \"testing\"")))
                .map(|line| format!("{line}\n"))
                .collect();
            let text = if body.contains(&format!("import {{ {name} }}"))
                || body.contains(&format!("import {name}"))
            {
                body
            } else {
                format!("{header}{body}")
            };
            Ok(ActionEdit { replace: 0..0, text, file: Some(path) })
        }
        _ => Err(ActionError::NotApplicable(format!("Wisp does not know where {language} keeps its tests"))),
    }
}

/// The lines of a diagnostic, rewritten by the model to fix it.
fn fix(
    engine: &dyn Engine,
    request: &ActionRequest<'_>,
    language: &str,
    diagnostic: &Diagnostic,
) -> Result<ActionEdit, ActionError> {
    let document = request.document;
    let start = line_around(document, diagnostic.range.start.min(document.len_bytes())).start;
    let end = line_around(document, diagnostic.range.end.min(document.len_bytes())).end;
    let lines = document.slice(start..end);
    let around = definition_at(document, start, true)
        .map(|function| quoted(document, function.range))
        .unwrap_or_default();
    let context = if around.is_empty() {
        String::new()
    } else {
        format!("It is part of:\n```{language}\n{around}\n```\n\n")
    };
    let reply = ask(
        engine,
        request,
        &[
            ChatMessage::new("system", format!("You are an expert {language} programmer who fixes compiler errors.")),
            ChatMessage::new(
                "user",
                format!(
                    "{context}The compiler says: {}\n\nRewrite these lines so that the error is gone. Reply with the corrected lines only, in one code block.\n\n```{language}\n{lines}\n```",
                    diagnostic.message
                ),
            ),
        ],
    )?;
    let fixed = code_block(&reply);
    let fixed = fixed.trim_end_matches('\n');
    if fixed.trim().is_empty() || fixed.trim() == lines.trim() {
        return Err(ActionError::Invalid(format!(
            "the model found no fix for \"{}\"; nothing was changed",
            diagnostic.message.lines().next().unwrap_or_default()
        )));
    }
    // Keep the indentation of the lines it replaces when the model dropped it.
    let indentation: String = lines.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
    let fixed =
        if fixed.starts_with([' ', '\t']) { fixed.to_owned() } else { format!("{indentation}{fixed}") };
    Ok(ActionEdit { replace: start..end, text: fixed, file: None })
}

/// An explanation of the selection, as a comment block above it.
fn explain(
    engine: &dyn Engine,
    request: &ActionRequest<'_>,
    language: &str,
) -> Result<ActionEdit, ActionError> {
    let document = request.document;
    let selected = quoted(document, request.selection.clone());
    let reply = ask(
        engine,
        request,
        &[
            ChatMessage::new("system", format!("You are an expert {language} programmer who explains code clearly.")),
            ChatMessage::new(
                "user",
                format!("Explain in two or three sentences what this code does.\n\n```{language}\n{selected}\n```"),
            ),
        ],
    )?;
    let lines = prose(&reply);
    if lines.is_empty() {
        return Err(ActionError::Invalid("the model wrote no explanation; nothing was changed".into()));
    }
    let line = line_around(document, request.selection.start);
    let indentation: String =
        document.slice(line.clone()).chars().take_while(|c| *c == ' ' || *c == '\t').collect();
    let token = document.language().and_then(|l| l.line_comment.clone()).unwrap_or_else(|| "//".into());
    let text = lines.iter().map(|text| format!("{indentation}{token} {text}\n")).collect();
    Ok(ActionEdit { replace: line.start..line.start, text, file: None })
}

/// The model's reply to `messages`: a chat prompt when the model has a template, else the
/// messages as plain text ending in an answer's start.
fn ask(
    engine: &dyn Engine,
    request: &ActionRequest<'_>,
    messages: &[ChatMessage],
) -> Result<String, ActionError> {
    let prompt = engine.chat_prompt(messages).unwrap_or_else(|| {
        let text: String =
            messages.iter().map(|message| format!("{}:\n{}\n\n", message.role, message.content)).collect();
        Prompt::text(format!("{text}assistant:\n"))
    });
    let generate = GenerateRequest {
        prompt,
        max_tokens: request.config.actions.max_tokens,
        stop: StopRule::Unbounded,
        cancel: request.cancel.clone(),
        cache_key: ACTIONS_CACHE_KEY,
        time_budget: None,
        background: false,
        sampling: Sampling::GREEDY,
        healing: String::new(),
        guide: None,
    };
    let generation = engine
        .generate(&generate, &mut |_| ControlFlow::Continue(()))
        .map_err(|error| ActionError::Model(error.to_string()))?;
    if generation.stop_reason == StopReason::Cancelled {
        return Err(ActionError::Cancelled);
    }
    Ok(generation.text)
}

/// The document's bytes `range`, at most [`MAX_QUOTED_BYTES`] of them.
fn quoted(document: &Document, range: Range<usize>) -> String {
    let end = completion::char_floor(document, range.end.min(range.start + MAX_QUOTED_BYTES));
    document.slice(range.start..end.max(range.start))
}

/// The code of a reply: its first fenced block, else the reply itself.
fn code_block(reply: &str) -> String {
    let Some(open) = reply.find("```") else { return reply.trim_matches('\n').to_owned() };
    let after_fence = &reply[open + 3..];
    let body_start = after_fence.find('\n').map_or(after_fence.len(), |newline| newline + 1);
    let body = &after_fence[body_start..];
    let body = &body[..body.find("```").unwrap_or(body.len())];
    body.trim_end_matches([' ', '\n']).to_owned()
}

/// The prose of a reply as comment lines: code blocks and comment markers dropped, wrapped at
/// [`COMMENT_WIDTH`], at most [`MAX_COMMENT_LINES`].
fn prose(reply: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut in_code = false;
    for line in reply.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let line = line.trim().trim_start_matches("///").trim_start_matches("//").trim_start_matches("/**");
        let line =
            line.trim_start_matches("*/").trim_start_matches('*').trim_start_matches('#').trim_matches('"');
        words.extend(line.split_whitespace().map(str::to_owned));
    }
    let mut lines: Vec<String> = Vec::new();
    for word in words {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= COMMENT_WIDTH => {
                line.push(' ');
                line.push_str(&word);
            }
            _ => lines.push(word),
        }
    }
    lines.truncate(MAX_COMMENT_LINES);
    lines
}

/// The indentation step the document uses: a tab, or four spaces.
fn indent_unit(document: &Document) -> &'static str {
    let sample = document.slice(0..completion::char_floor(document, document.len_bytes().min(4096)));
    if sample.lines().any(|line| line.starts_with('\t')) {
        "\t"
    } else {
        "    "
    }
}

/// The `package` a Go file declares.
fn go_package(document: &Document) -> String {
    let head = document.slice(0..completion::char_floor(document, document.len_bytes().min(4096)));
    head.lines()
        .find_map(|line| line.strip_prefix("package "))
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|| "main".into())
}
