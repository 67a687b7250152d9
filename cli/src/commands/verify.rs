use std::process::ExitCode;

use anyhow::{Result, bail};
use sluice_adapters::S3Objects;
use sluice_adapters::aws::s3_client;
use sluice_core::StageName;

use super::{State, printed};

/// Whether a stage runs exactly its live release: the stack's template, and each
/// Lambda function's code by SHA-256, against the release's manifest. Exits 1 and
/// names each resource that differs.
#[derive(clap::Args)]
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
