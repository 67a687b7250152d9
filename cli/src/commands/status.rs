use std::process::ExitCode;

use anyhow::Result;
use sluice::render;

use super::{Global, printed, sdk};

/// The newest executions, one line each: commit, author, each stage, age.
#[derive(clap::Args)]
pub struct Args {
    /// How many executions to show.
    #[arg(short = 'n', long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=1000))]
    limit: u16,
}

pub async fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let store = global.store(&sdk().await)?;
    let executions = store.recent(usize::from(args.limit)).await?;
    printed(render::status_table(&executions, chrono::Utc::now()))
}
