use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use sluice_definition::{Definition, Deployment};

use super::printed;

/// A pipeline's definition (sluice.yaml): check one, print it as the functions read
/// it, or print the JSON Schema editors complete and check it with.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Checks a definition file: every problem is named with its line and field.
    Check {
        /// The definition file.
        #[arg(default_value = "sluice.yaml")]
        file: PathBuf,
    },
    /// Prints the definition as JSON, every default filled in: what the functions read.
    Json {
        /// The definition file.
        #[arg(default_value = "sluice.yaml")]
        file: PathBuf,
    },
    /// Prints the Sluice stack's parameters for a definition, one Key=Value a line:
    /// `sam deploy --parameter-overrides $(sluice definition parameters)
    /// AdministratorArn=<your role's ARN>`.
    Parameters {
        /// The definition file.
        #[arg(default_value = "sluice.yaml")]
        file: PathBuf,
    },
    /// Prints the definition's JSON Schema (published as docs/sluice.schema.json).
    Schema,
}

/// Reads and checks the definition in `file`.
pub fn load(file: &std::path::Path) -> Result<Definition> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the pipeline definition {}", file.display()))?;
    Ok(Definition::from_yaml(&file.display().to_string(), &text)?)
}

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Check { file } => {
            let definition = load(&file)?;
            let pipeline = definition
                .pipeline(&Deployment::default())
                .map_err(|p| anyhow::anyhow!("{}: {}: {}", file.display(), p.field, p.message))?;
            let stages: Vec<String> = pipeline
                .stages
                .iter()
                .map(|s| match s.requires_approval {
                    true => format!("{} (approved)", s.name),
                    false => s.name.to_string(),
                })
                .collect();
            printed(format!(
                "{}: pipeline {} delivers {} of {} through {}.\n",
                file.display(),
                pipeline.name,
                pipeline.branch,
                pipeline.repository,
                stages.join(", then ")
            ))
        }
        Command::Parameters { file } => {
            let parameters = load(&file)?.parameters()?;
            printed(
                parameters
                    .iter()
                    .map(|(key, value)| format!("{key}={value}\n"))
                    .collect::<String>(),
            )
        }
        Command::Json { file } => printed(format!("{}\n", load(&file)?.to_json())),
        Command::Schema => printed(format!(
            "{}\n",
            serde_json::to_string_pretty(&sluice_definition::schema())?
        )),
    }
}
