use std::process::ExitCode;

use anyhow::Result;
use sluice::render;
use sluice_core::ExecutionId;

use super::{Global, printed, sdk};

/// One execution in full: stages, approvals, links, failure reasons, timeline.
#[derive(clap::Args)]
pub struct Args {
    /// The execution's id, as `sluice status` prints it.
    execution: String,
}

pub async fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let id = ExecutionId::parse(&args.execution)?;
    let store = global.store(&sdk().await)?;
    match store.load(&id).await? {
        Some(execution) => printed(render::details(&execution, chrono::Utc::now())),
        None => Err(global.no_execution(&id)),
    }
}
