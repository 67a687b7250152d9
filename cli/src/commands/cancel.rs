use std::process::ExitCode;

use anyhow::Result;
use sluice_engine::operator::Action;

use super::{Global, operated};

/// Stop an execution in flight: its build is stopped, its pending change set
/// deleted and its stage freed for the next execution. A stage already deploying
/// cannot be stopped half-way. Recorded with your AWS identity. Needs the stack's
/// OperatorPolicy.
#[derive(clap::Args)]
pub struct Args {
    /// The execution's id, as `sluice status` prints it.
    execution: String,
}

pub async fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let action = Action::Cancel {
        execution: args.execution,
    };
    operated(global, action).await
}
