//! `sluice`: what the pipeline is doing, read from the same S3 state the functions
//! write, locally (with `AWS_ENDPOINT_URL`) or in AWS; and `sluice local` / `sluice
//! demo`, the whole pipeline on this machine. Each command is a file of `commands/`;
//! this parses the command line and hands it to one.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod commands;
mod help;
use commands::*;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Work with a Sluice pipeline: see what it is doing, decide at its gates, operate it",
    max_term_width = 100,
    arg_required_else_help = true
)]
struct Cli {
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
    Completions(completions::Args),
    #[cfg(feature = "local")]
    #[command(
        about = help::local::ABOUT,
        long_about = help::local::LONG_ABOUT,
        after_help = help::local::EXAMPLES
    )]
    Local(local::Args),
    #[cfg(feature = "local")]
    Demo(demo::Args),
}

/// The whole command line, as `--help` and the completion scripts describe it.
fn command_line() -> clap::Command {
    help::grouped(Cli::command())
}

#[tokio::main]
async fn main() -> ExitCode {
    let matches = command_line().get_matches();
    let Cli { command } = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let ran = match command {
        Command::Status(args) => status::run(args).await,
        Command::Metrics(args) => metrics::run(args).await,
        Command::Report(args) => report::run(args).await,
        Command::Show(args) => show::run(args).await,
        Command::Verify(args) => verify::run(args).await,
        Command::Watch(args) => watch::run(args).await,
        Command::Logs(args) => logs::run(args).await,
        Command::Note(args) => note::run(args).await,
        Command::Approve(args) => approve::run(args).await,
        Command::Reject(args) => reject::run(args).await,
        Command::Resend(args) => resend::run(args).await,
        Command::Release(args) => release::run(args).await,
        Command::Retry(args) => retry::run(args).await,
        Command::Cancel(args) => cancel::run(args).await,
        Command::Rollback(args) => rollback::run(args).await,
        Command::Doctor(args) => doctor::run(args).await,
        Command::Definition(args) => definition::run(args),
        Command::Completions(args) => completions::run(args, &mut command_line()),
        // Local mode takes the AWS commands' settings and uses none of them.
        #[cfg(feature = "local")]
        Command::Local(args) => local::run(&Global::default(), args).await,
        #[cfg(feature = "local")]
        Command::Demo(args) => demo::run(args).await,
    };
    ran.unwrap_or_else(|e| {
        complain(&e);
        ExitCode::FAILURE
    })
}
