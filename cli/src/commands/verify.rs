use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use sluice_adapters::S3Objects;
use sluice_adapters::aws::s3_client;

use super::{Global, printed, sdk};

/// Whether a stage runs exactly its live release: the stack's template, and each
/// Lambda function's code by SHA-256, against the release's manifest. Exits 1 and
/// names each resource that differs.
#[derive(clap::Args)]
pub struct Args {
    /// The stage, such as `production`.
    stage: String,
}

pub async fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let stage = sluice_core::StageName::parse(&args.stage).with_context(|| {
        format!(
            "{:?} is not a stage name (such as staging or production)",
            args.stage
        )
    })?;
    let sdk = sdk().await;
    let store = global.store(&sdk)?;
    let executions = store.recent(sluice_core::history::RECENT).await?;
    let bucket = global.bucket.clone().unwrap_or_default();
    let objects = S3Objects::new(s3_client(&sdk), bucket);
    let (release, report) = sluice::verify::verify(&sdk, &objects, &executions, &stage).await?;
    let text = sluice::verify::render(&stage, &release, &report);
    if report.differs.is_empty() {
        printed(text)
    } else {
        print!("{text}");
        bail!("{stage} does not run exactly its release")
    }
}
