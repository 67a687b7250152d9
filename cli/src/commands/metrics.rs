use std::process::ExitCode;

use anyhow::{Result, bail};
use sluice_core::StageName;

use super::{Since, State, printed, stage_list};

const EXAMPLES: &str = "\
Examples:
  $ sluice metrics
  $ sluice metrics --stage staging --since 2w
  $ sluice metrics --format json";

/// Measure how well the pipeline delivers to a stage
///
/// DORA's four keys for one stage (deployment frequency, lead time for changes, change
/// failure rate, recovery time), with approval wait and build time, computed from the
/// execution documents of the window. The table ends with the figures' definitions;
/// --format json gives the figures alone.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The window: the last 30d, 12h, 2w...
    #[arg(long, default_value = "30d", value_parser = super::since)]
    since: Since,
    /// The stage to measure.
    #[arg(long, default_value = "production", value_parser = super::stage_name)]
    stage: StageName,
    /// `table` (with the definitions) or `json`.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    #[command(flatten)]
    state: State,
}

/// How `sluice metrics` prints.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let window = args.since.window;
    let stage = args.stage;
    let global = &args.state.global;
    let (_, store) = args.state.open().await?;
    let now = chrono::Utc::now();
    let from = now - window;
    let executions = store.since(from - sluice::metrics::LOOKBACK).await?;
    if !executions.is_empty() && !executions.iter().any(|e| e.stage(&stage).is_some()) {
        bail!(
            "no execution of pipeline {} has a stage {stage}; its stages: {}",
            global.pipeline,
            stage_list(executions[0].stages.iter().map(|s| &s.name))
        );
    }
    let report = sluice_core::metrics::report(&executions, &stage, from, now);
    printed(match args.format {
        Format::Table => sluice::metrics::table(&global.pipeline, &report),
        Format::Json => serde_json::to_string_pretty(&report)?,
    })
}
