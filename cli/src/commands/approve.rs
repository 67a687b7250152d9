use std::process::ExitCode;

use super::{Decision, State, decide};
use anyhow::Result;

const EXAMPLES: &str = "\
Examples:
  $ sluice approve 8203300362271-0123456789ab
  $ sluice approve 8203300362271-0123456789ab --stage production --comment \"change set checked\"";

/// Approve the stage waiting at its gate
///
/// Deploys the change set the approval email describes, as your AWS identity: the ARN
/// STS gives for your credentials is recorded, not a name. Without --stage, the stage
/// at its gate now is named in the signed command, so that it cannot come to approve a
/// later gate. Needs the stack's ApproverPolicy or OperatorPolicy.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(flatten)]
    decision: Decision,
    #[command(flatten)]
    state: State,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    decide(&args.state, args.decision, true).await
}
