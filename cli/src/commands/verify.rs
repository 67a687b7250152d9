use std::process::ExitCode;

use anyhow::{Result, bail};
use sluice_adapters::S3Objects;
use sluice_adapters::aws::s3_client;
use sluice_core::StageName;

use super::{State, printed};

const EXAMPLES: &str = "\
Examples:
  $ sluice verify production";

/// Check that a stage runs exactly its release
///
/// Compares the stage's stack template, and each Lambda function's code by SHA-256, with
/// the manifest of the release that went live there. Exits 1 and names each resource
/// that differs: changed by hand, or deployed outside Sluice.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The stage, such as `production`.
    #[arg(value_parser = super::stage_name)]
    stage: StageName,
    #[command(flatten)]
    state: State,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let stage = args.stage;
    let (sdk, store) = args.state.open().await?;
    let executions = store.recent(sluice_core::history::RECENT).await?;
    let objects = S3Objects::new(s3_client(&sdk), args.state.bucket()?.to_owned());
    let (release, report) = sluice::verify::verify(&sdk, &objects, &executions, &stage).await?;
    let text = sluice::verify::render(&stage, &release, &report);
    if report.differs.is_empty() {
        printed(text)
    } else {
        print!("{text}");
        bail!("{stage} does not run exactly its release")
    }
}
