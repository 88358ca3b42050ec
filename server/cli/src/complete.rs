//! `wisp complete FILE:LINE:COL`: one suggestion from the command line, through the same
//! pipeline as the editor's (gather, context, prompt, generate, post-process).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use wisp_complete::config::{CompletionConfig, ModelConfig};
use wisp_complete::{completion, models};
use wisp_engine::CancelFlag;
use wisp_syntax::{Document, LanguageRegistry, Position, PositionEncoding};

/// Parses FILE:LINE:COL (1-based). The file part may itself contain colons.
pub fn parse_location(location: &str) -> anyhow::Result<(PathBuf, u32, u32)> {
    let mut parts = location.rsplitn(3, ':');
    let (Some(col), Some(line), Some(file)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("expected FILE:LINE:COL (1-based), got \"{location}\"");
    };
    let line: u32 =
        line.parse().with_context(|| format!("line \"{line}\" in \"{location}\" is not a number"))?;
    let col: u32 =
        col.parse().with_context(|| format!("column \"{col}\" in \"{location}\" is not a number"))?;
    if line == 0 || col == 0 {
        bail!("lines and columns count from 1, got \"{location}\"");
    }
    Ok((PathBuf::from(file), line, col))
}

pub fn model_config_for(model: Option<&str>, threads: Option<usize>) -> ModelConfig {
    let mut config = ModelConfig { threads, ..ModelConfig::default() };
    match model {
        Some(value) if wisp_complete::models::looks_like_path(value) => {
            config.path = Some(PathBuf::from(value))
        }
        Some(id) => config.id = Some(id.to_owned()),
        None => {}
    }
    config
}

/// `wisp complete`'s options.
pub struct CompleteOptions {
    pub model: Option<String>,
    pub max_tokens: Option<usize>,
    pub prompt_tokens: Option<usize>,
    pub threads: Option<usize>,
    pub context: wisp_context::ContextMode,
    pub root: Option<PathBuf>,
    pub explain: bool,
    /// `completion.guide` (its default when None).
    pub guide: Option<wisp_complete::config::GuideSetting>,
    /// `completion.candidates`.
    pub candidates: bool,
}

/// The nearest folder above `file` that holds `.git`, else the file's folder.
fn workspace_root(file: &std::path::Path) -> PathBuf {
    let file = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
    let folder = file.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    folder
        .ancestors()
        .find(|dir| dir.join(".git").exists())
        .map_or(folder.clone(), std::path::Path::to_path_buf)
}

pub fn complete(location: &str, options: &CompleteOptions) -> anyhow::Result<ExitCode> {
    let CompleteOptions { max_tokens, prompt_tokens, threads, .. } = *options;
    let model = options.model.as_deref();
    let (file, line, col) = parse_location(location)?;
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let language = LanguageRegistry::builtin().by_path(&file);
    let document = Document::new(&text, language);
    let position = Position { line: line - 1, character: col - 1 };
    // The document's own message counts from 0; the command line counts from 1.
    let offset = document.offset(position, PositionEncoding::Utf16).map_err(|_| {
        let n_lines = document.len_lines();
        let line_text = text.lines().nth(line as usize - 1);
        match line_text {
            None => anyhow::anyhow!(
                "{}:{line}:{col} is past the end: the file has {n_lines} lines",
                file.display()
            ),
            Some(content) if (col as usize) <= content.encode_utf16().count() => {
                anyhow::anyhow!("{}:{line}:{col} falls inside a character", file.display())
            }
            Some(content) => anyhow::anyhow!(
                "{}:{line}:{col} is past the end of line {line}, which has {} columns",
                file.display(),
                content.encode_utf16().count() + 1
            ),
        }
    })?;

    let defaults = CompletionConfig::default();
    let settings = CompletionConfig {
        max_tokens: max_tokens.unwrap_or(defaults.max_tokens),
        prompt_tokens: prompt_tokens.unwrap_or(defaults.prompt_tokens),
        guide: options.guide.unwrap_or(defaults.guide),
        candidates: options.candidates || defaults.candidates,
        // One cold request: answer it from its full prompt.
        fast_first_answer: false,
        ..defaults
    };
    let mut model_config = model_config_for(model, threads);
    model_config.n_ctx = model_config.n_ctx.max(settings.prompt_tokens + settings.max_tokens + 64);
    let loaded = models::load(&model_config).map_err(anyhow::Error::msg)?;
    let root = options.root.clone().unwrap_or_else(|| workspace_root(&file));
    let canonical = file.canonicalize().unwrap_or_else(|_| file.clone());
    let sensitive = wisp_guard::SensitiveFiles::new(&[]).map_err(anyhow::Error::msg)?;
    if sensitive.is_sensitive(&canonical) || wisp_syntax::index::is_wispignored(&root, &canonical) {
        bail!(
            "{} is a sensitive file (a secret or key by its name, or in .wispignore): Wisp never puts it in a prompt",
            file.display()
        );
    }
    let display_path =
        wisp_syntax::index::relative_path(&root, &canonical).unwrap_or_else(|| file.display().to_string());
    let mut gathered = completion::gather(&document, offset, &display_path, settings.max_lines);
    let index = if options.context == wisp_context::ContextMode::Full {
        let registry = LanguageRegistry::builtin();
        let (mut index, report) =
            wisp_syntax::index::index_workspace(&root, &registry, &mut |_, _| {}, &|| false);
        completion::drop_sensitive_files(&mut index, &sensitive);
        if options.explain {
            let stats = index.stats();
            eprintln!(
                "indexed {} ({} files, {} lines, {} definitions) in {:.0} ms",
                root.display(),
                stats.n_files,
                stats.n_lines,
                stats.n_definitions,
                report.elapsed.as_secs_f64() * 1e3
            );
        }
        Some(index)
    } else {
        None
    };
    let workspace = wisp_context::Workspace { index: index.as_ref(), open: &[], recent: &[] };
    gathered.snippets = completion::context(&document, offset, &display_path, &workspace, options.context);
    gathered.names = completion::known_names(
        &document,
        offset,
        &gathered.snippets,
        index.as_ref().map(wisp_syntax::index::WorkspaceIndex::names),
    );
    let started = Instant::now();
    let suggestion = completion::suggest(
        loaded.engine.as_ref(),
        &gathered,
        &settings,
        CancelFlag::new(),
        false,
        &mut |_| {},
    )?;
    let total = started.elapsed();
    tracing::debug!("prompt:\n{}", suggestion.prompt.render());
    if options.explain {
        eprintln!("context ({:?}): {} snippets in the prompt", options.context, suggestion.snippets.len());
        for snippet in &suggestion.snippets {
            eprintln!("  {} — {} ({} lines)", snippet.path, snippet.origin, snippet.text.lines().count());
        }
        eprintln!(
            "prompt ({} tokens):\n{}\n--- end of prompt ---",
            suggestion.generation.n_prompt_tokens,
            suggestion.prompt.render()
        );
    }

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", suggestion.text)?;
    let generation = &suggestion.generation;
    let per_second = |n: usize, ms: f64| if ms > 0.0 { n as f64 * 1e3 / ms } else { 0.0 };
    eprintln!(
        "load {:.0} ms · prompt {} tokens ({} evaluated) in {:.0} ms ({:.1} tok/s) · generated {} tokens in {:.0} ms ({:.1} tok/s) · first suggestion {:.0} ms · {} on {}",
        loaded.load_time.as_secs_f64() * 1e3,
        generation.n_prompt_tokens,
        generation.n_prompt_evaluated,
        generation.prompt_ms,
        per_second(generation.n_prompt_evaluated, generation.prompt_ms),
        generation.n_generated,
        generation.decode_ms,
        per_second(generation.n_generated, generation.decode_ms),
        total.as_secs_f64() * 1e3,
        loaded.engine.model().id,
        loaded.engine.model().device,
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_with_colons_in_the_path() {
        assert_eq!(parse_location("a/b.rs:3:7").unwrap(), (PathBuf::from("a/b.rs"), 3, 7));
        assert_eq!(parse_location("c:/x.rs:1:1").unwrap(), (PathBuf::from("c:/x.rs"), 1, 1));
        assert!(parse_location("x.rs:0:1").is_err());
        assert!(parse_location("x.rs:3").is_err());
    }
}
