//! `sluice`: what the pipeline is doing, read from the same S3 state the functions
//! write, locally (with `AWS_ENDPOINT_URL`) or in AWS; and `sluice local` / `sluice
//! demo`, the whole pipeline on this machine. Each command is a file of `commands/`;
//! this parses the command line and hands it to one.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
use commands::*;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "What your Sluice pipeline is doing, and what an operator does about it."
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Status(status::Args),
    Metrics(metrics::Args),
    Report(report::Args),
    Show(show::Args),
    Verify(verify::Args),
    Watch(watch::Args),
    Logs(logs::Args),
    Note(note::Args),
    Approve(approve::Args),
    Reject(reject::Args),
    Resend(resend::Args),
    Release(release::Args),
    Retry(retry::Args),
    Cancel(cancel::Args),
    Rollback(rollback::Args),
    Doctor(doctor::Args),
    Definition(definition::Args),
    #[cfg(feature = "local")]
    Local(local::Args),
    #[cfg(feature = "local")]
    Demo(demo::Args),
}

#[tokio::main]
async fn main() -> ExitCode {
    let Cli { global, command } = Cli::parse();
    let g = &global;
    let ran = match command {
        Command::Status(args) => status::run(g, args).await,
        Command::Metrics(args) => metrics::run(g, args).await,
        Command::Report(args) => report::run(g, args).await,
        Command::Show(args) => show::run(g, args).await,
        Command::Verify(args) => verify::run(g, args).await,
        Command::Watch(args) => watch::run(g, args).await,
        Command::Logs(args) => logs::run(g, args).await,
        Command::Note(args) => note::run(g, args).await,
        Command::Approve(args) => approve::run(g, args).await,
        Command::Reject(args) => reject::run(g, args).await,
        Command::Resend(args) => resend::run(g, args).await,
        Command::Release(args) => release::run(g, args).await,
        Command::Retry(args) => retry::run(g, args).await,
        Command::Cancel(args) => cancel::run(g, args).await,
        Command::Rollback(args) => rollback::run(g, args).await,
        Command::Doctor(args) => doctor::run(g, args).await,
        Command::Definition(args) => definition::run(args),
        #[cfg(feature = "local")]
        Command::Local(args) => local::run(g, args).await,
        #[cfg(feature = "local")]
        Command::Demo(args) => demo::run(g, args).await,
    };
    ran.unwrap_or_else(|e| {
        eprintln!("sluice: {e:#}");
        ExitCode::FAILURE
    })
}
