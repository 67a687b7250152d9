//! `sluice`: what the pipeline is doing, read from the same S3 state the functions
//! write, locally (with `AWS_ENDPOINT_URL`) or in AWS.

mod render;

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use sluice_adapters::aws::s3_client;
use sluice_adapters::{ExecutionStore, S3Objects};
use sluice_core::ExecutionId;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "What your Sluice pipeline is doing."
)]
struct Cli {
    /// The bucket holding Sluice's state: the stack's ArtifactBucketName output.
    #[arg(long, env = "SLUICE_BUCKET", global = true)]
    bucket: Option<String>,
    /// The pipeline: the name of the Sluice stack.
    #[arg(long, env = "SLUICE_PIPELINE", global = true, default_value = "sluice")]
    pipeline: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The newest executions, one line each: commit, author, each stage, age.
    Status {
        /// How many executions to show.
        #[arg(short = 'n', long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
    },
    /// One execution in full: stages, approvals, links, failure reasons, timeline.
    Show {
        /// The execution's id, as `sluice status` prints it.
        execution: String,
    },
}

async fn run(cli: Cli) -> Result<String> {
    let bucket = cli.bucket.context(
        "no state bucket: pass --bucket or set SLUICE_BUCKET \
         (the Sluice stack's ArtifactBucketName output)",
    )?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = ExecutionStore::for_name(S3Objects::new(s3_client(&sdk), bucket), &cli.pipeline)?;
    let now = chrono::Utc::now();
    match cli.command {
        Command::Status { limit } => {
            let executions = store.recent(usize::from(limit)).await?;
            Ok(render::status_table(&executions, now))
        }
        Command::Show { execution } => {
            let id = ExecutionId::parse(&execution)?;
            match store.load(&id).await? {
                Some(execution) => Ok(render::details(&execution, now)),
                None => bail!(
                    "pipeline {} has no execution {id}; `sluice status` lists the newest",
                    cli.pipeline
                ),
            }
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sluice: {e:#}");
            ExitCode::FAILURE
        }
    }
}
