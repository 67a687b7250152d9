use std::process::ExitCode;

use anyhow::Result;
use sluice_engine::operator::Action;

use super::{Decision, Global, operate, printed, sdk};

/// Approve the stage waiting at its gate, as your AWS identity (its ARN from STS is
/// recorded, not a name). Needs the stack's ApproverPolicy or OperatorPolicy.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    decision: Decision,
}

pub async fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let Decision {
        execution,
        stage,
        comment,
    } = args.decision;
    let action = Action::Approve {
        execution,
        stage,
        comment,
    };
    let answer = operate(global, &sdk().await, action).await?;
    printed(format!("{}\n", answer.message))
}
