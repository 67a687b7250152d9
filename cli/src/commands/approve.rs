use std::process::ExitCode;

use super::{Decision, State, decide};
use anyhow::Result;

/// Approve the stage waiting at its gate, as your AWS identity (its ARN from STS is
/// recorded, not a name). Needs the stack's ApproverPolicy or OperatorPolicy.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    decision: Decision,
    #[command(flatten)]
    state: State,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    decide(&args.state, args.decision, true).await
}
