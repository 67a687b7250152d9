use std::process::ExitCode;

use anyhow::Result;
use sluice_core::{ExecutionId, StageName};
use sluice_engine::operator::{Action, Resend};

use super::{State, operated};

const EXAMPLES: &str = "\
Examples:
  $ sluice resend 8203300362271-0123456789ab";

/// Email a new approval link
///
/// A new link for the stage waiting at its gate, to the approvers; the old link stops
/// working (it answers that it was replaced). Needs the stack's OperatorPolicy.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The execution's id, as `sluice status` prints it.
    #[arg(value_parser = super::execution_id)]
    execution: ExecutionId,
    /// The stage, if not the one waiting for approval.
    #[arg(long, value_parser = super::stage_name)]
    stage: Option<StageName>,
    #[command(flatten)]
    state: State,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let action = Action::Resend(Resend {
        execution: args.execution,
        stage: args.stage,
    });
    operated(&args.state.global, args.state.bucket.as_deref(), action).await
}
