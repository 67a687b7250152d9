use std::process::ExitCode;

use super::{Decision, State, decide};
use anyhow::Result;

/// Reject the stage waiting at its gate, as your AWS identity: the execution ends
/// and nothing is deployed there.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    decision: Decision,
    #[command(flatten)]
    state: State,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    decide(&args.state, args.decision, false).await
}
