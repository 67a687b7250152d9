use std::process::ExitCode;

use anyhow::Result;
use sluice_core::ExecutionId;

use super::{Global, printed, sdk};

/// The functions' log lines about an execution, in time order, from CloudWatch
/// Logs (the emulator's under `sluice local`), and the link to its build's log.
/// Needs the stack's OperatorPolicy.
#[derive(clap::Args)]
pub struct Args {
    /// The execution's id, as `sluice status` prints it.
    execution: String,
}

pub async fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let id = ExecutionId::parse(&args.execution)?;
    let sdk = sdk().await;
    let store = global.store(&sdk)?;
    let Some(execution) = store.load(&id).await? else {
        return Err(global.no_execution(&id));
    };
    let client = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let lines = sluice::logs::lines(&client, &global.pipeline, &execution).await?;
    let prefix = sluice::logs::log_group_prefix(&global.pipeline);
    printed(sluice::logs::render(&execution, &lines, &prefix))
}
