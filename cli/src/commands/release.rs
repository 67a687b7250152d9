use std::process::ExitCode;

use anyhow::Result;
use sluice_core::CommitId;
use sluice_engine::operator::{Action, Release};

use super::{Global, operated};

const EXAMPLES: &str = "\
Examples:
  $ sluice release
  $ sluice release $(git rev-parse HEAD~1)";

/// Start an execution for the branch's head, or an older commit
///
/// Delivers the head of the branch the pipeline follows, as CodeCommit has it now, or
/// the commit named, which must be on the branch: to deliver it again. Needs the
/// stack's OperatorPolicy.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The full commit id (`git rev-parse COMMIT`); the branch's head if omitted.
    #[arg(value_parser = super::commit_id)]
    commit: Option<CommitId>,
    #[command(flatten)]
    global: Global,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let action = Action::Release(Release {
        commit: args.commit,
    });
    operated(&args.global, None, action).await
}
