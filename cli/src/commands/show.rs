use std::process::ExitCode;

use anyhow::Result;
use sluice::render;
use sluice_core::ExecutionId;

use super::{State, json, printed};

/// One execution in full: stages, approvals, links, failure reasons, timeline.
#[derive(clap::Args)]
pub struct Args {
    /// The execution's id, as `sluice status` prints it.
    #[arg(value_parser = super::execution_id)]
    execution: ExecutionId,
    /// Print the execution as Sluice stores it: one JSON execution document.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    state: State,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let (_, store) = args.state.open().await?;
    match store.load(&args.execution).await? {
        Some(execution) if args.json => printed(json(&execution)?),
        Some(execution) => printed(render::details(&execution, chrono::Utc::now())),
        None => Err(args.state.global.no_execution(&args.execution)),
    }
}
