use std::process::ExitCode;

use super::{Decision, State, decide};
use anyhow::Result;

const EXAMPLES: &str = "\
Examples:
  $ sluice reject 8203300362271-0123456789ab --comment \"not before the audit\"";

/// Reject the stage waiting at its gate
///
/// The execution ends and nothing is deployed to the stage. Recorded with your AWS
/// identity, and --comment for whoever reads `sluice show` or the email. Needs the
/// stack's ApproverPolicy or OperatorPolicy.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(flatten)]
    decision: Decision,
    #[command(flatten)]
    state: State,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    decide(&args.state, args.decision, false).await
}
