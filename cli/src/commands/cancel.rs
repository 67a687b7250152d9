use std::process::ExitCode;

use anyhow::Result;
use sluice_core::ExecutionId;
use sluice_engine::operator::{Action, Cancel};

use super::{Global, operated};

const EXAMPLES: &str = "\
Examples:
  $ sluice cancel 8203300362271-0123456789ab";

/// Stop an execution in flight
///
/// Its build is stopped, its pending change set deleted and its stage freed for the
/// next execution. A stage already deploying cannot be stopped half-way. Recorded with
/// your AWS identity. Needs the stack's OperatorPolicy.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The execution's id, as `sluice status` prints it.
    #[arg(value_parser = super::execution_id)]
    execution: ExecutionId,
    #[command(flatten)]
    global: Global,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let action = Action::Cancel(Cancel {
        execution: args.execution,
    });
    operated(&args.global, None, action).await
}
