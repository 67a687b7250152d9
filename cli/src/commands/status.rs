use std::process::ExitCode;

use anyhow::Result;
use sluice::render;

use super::{State, json, printed};

/// The newest executions, one line each: commit, author, each stage, age.
#[derive(clap::Args)]
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
