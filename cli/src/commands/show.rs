use std::process::ExitCode;

use anyhow::Result;
use sluice::render;
use sluice_core::ExecutionId;

use super::{State, json, printed};

const EXAMPLES: &str = "\
Examples:
  $ sluice show 8203300362271-0123456789ab
  $ sluice show 8203300362271-0123456789ab --json | jq '.stages[] | {name, status}'";

/// Show one execution in full
///
/// Its commit, status and reason, the build and its log, and each stage: where it
/// deploys, what it changes, who approved or rejected it and why, its post-deploy test,
/// alarms, retries and rollback; then the timeline and the notes.
///
/// With --json, the execution document as Sluice stores it in the state bucket
/// (pipelines/PIPELINE/executions/ID.json): id, pipeline, repository, branch, commit,
/// status, reason, created_at, finished_at, build, artifact, stages, timeline and notes,
/// with times in RFC 3339 and statuses in snake_case (awaiting_approval). A later
/// version may add fields.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
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
