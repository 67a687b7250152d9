use std::process::ExitCode;

use super::{Decision, Global, decide};
use anyhow::Result;

/// Reject the stage waiting at its gate, as your AWS identity: the execution ends
/// and nothing is deployed there.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    decision: Decision,
}

pub async fn run(global: &Global, args: Args) -> Result<ExitCode> {
    decide(global, args.decision, false).await
}
