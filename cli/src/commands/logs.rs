use std::process::ExitCode;

use anyhow::Result;
use sluice_core::ExecutionId;

use super::{State, printed};

const EXAMPLES: &str = "\
Examples:
  $ sluice logs 8203300362271-0123456789ab";

/// Show the functions' log lines about an execution
///
/// Every line Sluice's functions logged about the execution, in time order, from
/// CloudWatch Logs (the emulator's under `sluice local`), and the link to its build's
/// log. Needs the stack's OperatorPolicy.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The execution's id, as `sluice status` prints it.
    #[arg(value_parser = super::execution_id)]
    execution: ExecutionId,
    #[command(flatten)]
    state: State,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let Args {
        execution: id,
        state,
    } = args;
    let (sdk, store) = state.open().await?;
    let Some(execution) = store.load(&id).await? else {
        return Err(state.global.no_execution(&id));
    };
    let pipeline = &state.global.pipeline;
    let client = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let lines = sluice::logs::lines(&client, pipeline, &execution).await?;
    let prefix = sluice::logs::log_group_prefix(pipeline);
    printed(sluice::logs::render(&execution, &lines, &prefix))
}
