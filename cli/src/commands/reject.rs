use std::process::ExitCode;

use anyhow::Result;
use sluice_engine::operator::Action;

use super::{Decision, Global, operate, printed, sdk};

/// Reject the stage waiting at its gate, as your AWS identity: the execution ends
/// and nothing is deployed there.
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
    let action = Action::Reject {
        execution,
        stage,
        comment,
    };
    let answer = operate(global, &sdk().await, action).await?;
    printed(format!("{}\n", answer.message))
}
