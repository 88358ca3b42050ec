//! `wisp models list|fetch|verify`: the registry's models on this machine.

use std::io::Write;
use std::process::ExitCode;

use wisp_engine::registry::{self, Registry};

use crate::ModelsCommand;

pub fn run(command: ModelsCommand) -> anyhow::Result<ExitCode> {
    let registry = Registry::builtin();
    let dir = registry::models_dir()?;
    let mut stdout = std::io::stdout().lock();
    match command {
        ModelsCommand::List => {
            writeln!(stdout, "models directory: {}", dir.display())?;
            for entry in &registry.models {
                let default = if entry.id == registry.default { " (default)" } else { "" };
                let status = if entry.path_in(&dir).exists() { "fetched" } else { "not fetched" };
                writeln!(
                    stdout,
                    "{:<28} {:>7.1} MB  {:<8} {:<11} {status}{default}",
                    entry.id,
                    entry.size as f64 / 1e6,
                    entry.family,
                    entry.license
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Fetch { id } => {
            let entry = match id {
                Some(id) => registry.get(&id)?,
                None => registry.default_model(),
            };
            let path = registry::fetch(entry, &dir, &mut |line| eprintln!("{line}"))?;
            writeln!(stdout, "{}", path.display())?;
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Verify { id } => {
            let entries: Vec<_> = match id {
                Some(id) => vec![registry.get(&id)?],
                None => registry.models.iter().filter(|entry| entry.path_in(&dir).exists()).collect(),
            };
            if entries.is_empty() {
                writeln!(stdout, "no models fetched in {} — run \"wisp models fetch\"", dir.display())?;
                return Ok(ExitCode::FAILURE);
            }
            let mut all_good = true;
            for entry in entries {
                match registry::verify(entry, &dir) {
                    Ok(path) => writeln!(stdout, "ok        {} {}", entry.id, path.display())?,
                    Err(error) => {
                        all_good = false;
                        writeln!(stdout, "FAILED    {}: {error}", entry.id)?;
                    }
                }
            }
            Ok(if all_good { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}
