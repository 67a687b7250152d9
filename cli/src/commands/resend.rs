use std::process::ExitCode;

use anyhow::Result;
use sluice_engine::operator::Action;

use super::{Global, operated};

/// Email a new approval link for the stage waiting at its gate; the old link stops
/// working (it answers that it was replaced). Needs the stack's OperatorPolicy.
#[derive(clap::Args)]
pub struct Args {
    /// The execution's id, as `sluice status` prints it.
    execution: String,
    /// The stage, if not the one waiting for approval.
    #[arg(long)]
    stage: Option<String>,
}

pub async fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let action = Action::Resend {
        execution: args.execution,
        stage: args.stage,
    };
    operated(global, action).await
}
