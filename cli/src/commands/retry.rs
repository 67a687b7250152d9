use std::process::ExitCode;

use anyhow::Result;
use sluice_core::ExecutionId;
use sluice_engine::operator::{Action, Retry};

use super::{Global, operated};

const EXAMPLES: &str = "\
Examples:
  $ sluice retry 8203300362271-0123456789ab";

/// Take a failed execution up again where it failed
///
/// A new build if its build failed, else the failed stage again from the same artifact
/// (a gated stage asks for approval again). Needs the stack's OperatorPolicy.
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
    let action = Action::Retry(Retry {
        execution: args.execution,
    });
    operated(&args.global, None, action).await
}
