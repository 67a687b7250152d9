use std::process::ExitCode;

use anyhow::Result;
use sluice_core::{ExecutionId, StageName};
use sluice_engine::operator::{Action, Decide, Rollback};

use super::{State, check_state_for, give, operate, printed};

const EXAMPLES: &str = "\
Examples:
  $ sluice rollback production
  $ sluice rollback production --to 8203300362271-0123456789ab --yes";

/// Deploy a stage's previous release again
///
/// Deploys to the stage the artifact of its previous successful execution (or of the
/// one --to names) through a change set: prints what it will change, then asks to
/// confirm (or --yes). Unconfirmed, it waits at a gate like an approval: `sluice
/// approve` deploys it, `sluice cancel` drops it. Needs the stack's OperatorPolicy.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The stage to roll back, e.g. production.
    #[arg(value_parser = super::stage_name)]
    stage: StageName,
    /// The execution whose artifact to deploy, as `sluice status` prints it.
    #[arg(long, value_parser = super::execution_id)]
    to: Option<ExecutionId>,
    /// Deploy without asking.
    #[arg(long)]
    yes: bool,
    #[command(flatten)]
    state: State,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let State { bucket, global } = &args.state;
    let action = Action::Rollback(Rollback {
        stage: args.stage,
        to: args.to,
    });
    check_state_for(&action, bucket.as_deref())?;
    let sdk = global.sdk().await?;
    let answer = operate(global, bucket.as_deref(), &sdk, action).await?;
    let (Some(execution), Some(stage)) = (&answer.execution, &answer.awaiting) else {
        return printed(format!("{}\n", answer.message));
    };
    println!("{}", answer.message);
    let later = format!(
        "Not deployed. `sluice approve {execution}` deploys it; `sluice cancel {execution}` drops it.\n"
    );
    if !args.yes && !confirmed(stage)? {
        return printed(later);
    }
    let action = Action::Approve(Decide {
        execution: ExecutionId::parse(execution)?,
        stage: Some(StageName::parse(stage)?),
        comment: Some("rollback confirmed by the operator who asked for it".into()),
    });
    let answer = give(&sdk, &global.pipeline, action).await?;
    printed(format!("{}\n", answer.message))
}

/// Whether the operator at the terminal says yes; no terminal is no.
fn confirmed(stage: &str) -> Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    print!("Deploy these changes to {stage}? [y/N] ");
    std::io::stdout().flush()?;
    let mut reply = String::new();
    std::io::stdin().lock().read_line(&mut reply)?;
    Ok(matches!(reply.trim(), "y" | "Y" | "yes"))
}
