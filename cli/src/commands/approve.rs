use std::process::ExitCode;

use super::{Decision, Global, decide};
use anyhow::Result;

/// Approve the stage waiting at its gate, as your AWS identity (its ARN from STS is
/// recorded, not a name). Needs the stack's ApproverPolicy or OperatorPolicy.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    decision: Decision,
}

pub async fn run(global: &Global, args: Args) -> Result<ExitCode> {
    decide(global, args.decision, true).await
}
