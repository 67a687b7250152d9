use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use sluice_definition::{Definition, Deployment};

use super::printed;

const EXAMPLES: &str = "\
Examples:
  $ sluice definition check
  $ sluice definition json path/to/sluice.yaml
  $ sam deploy --parameter-overrides $(sluice definition parameters) AdministratorArn=ARN
  $ sluice definition schema > sluice.schema.json";

/// Check a pipeline definition, or print it as the functions read it
///
/// A pipeline's definition (sluice.yaml): check one, print it as JSON with every
/// default filled in, print the Sluice stack's parameters for it, or print the JSON
/// Schema editors complete and check it with.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Check a definition file
    ///
    /// Every problem is named with its line and field; exits 1 if there is one.
    #[command(
        after_help = "Examples:\n  $ sluice definition check\n  $ sluice definition check api/sluice.yaml"
    )]
    Check {
        /// The definition file.
        #[arg(default_value = "sluice.yaml")]
        file: PathBuf,
    },
    /// Print the definition as the functions read it
    ///
    /// As JSON, every default filled in.
    #[command(after_help = "Examples:\n  $ sluice definition json | jq .stages")]
    Json {
        /// The definition file.
        #[arg(default_value = "sluice.yaml")]
        file: PathBuf,
    },
    /// Print the Sluice stack's parameters for a definition
    ///
    /// One Key=Value a line, for `sam deploy --parameter-overrides`; the stack's
    /// AdministratorArn is yours to add.
    #[command(
        after_help = "Examples:\n  $ sam deploy --parameter-overrides $(sluice definition parameters) AdministratorArn=ARN"
    )]
    Parameters {
        /// The definition file.
        #[arg(default_value = "sluice.yaml")]
        file: PathBuf,
    },
    /// Print the definition's JSON Schema
    ///
    /// The schema editors complete and check sluice.yaml with, as published in
    /// docs/sluice.schema.json.
    #[command(after_help = "Examples:\n  $ sluice definition schema > sluice.schema.json")]
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
