use std::process::ExitCode;

use anyhow::Result;
use sluice::render;

use super::{State, json, printed};

const EXAMPLES: &str = "\
Examples:
  $ sluice status
  $ sluice status -n 5
  $ sluice status --json | jq -r '.[0].id'";

/// List the newest executions, one line each
///
/// One line per execution, newest first: its id, commit, author, the build, each
/// stage's status, the execution's status and its age.
///
/// With --json, the executions as Sluice stores them, newest first: a JSON array of the
/// documents `sluice show --json` prints.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// How many executions to show.
    #[arg(short = 'n', long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=1000))]
    limit: u16,
    /// Print the executions as Sluice stores them, newest first: a JSON array of
    /// execution documents.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    state: State,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let (_, store) = args.state.open().await?;
    let executions = store.recent(usize::from(args.limit)).await?;
    match args.json {
        true => printed(json(&executions)?),
        false => printed(render::status_table(&executions, chrono::Utc::now())),
    }
}
