use std::process::ExitCode;

use anyhow::Result;
use clap_complete::Shell;

/// Print the shell completion script for sluice's commands and options.
#[derive(clap::Args)]
pub struct Args {
    /// The shell: bash, elvish, fish, powershell or zsh.
    shell: Shell,
}

/// Writes the script for `command`, the whole command line, to stdout.
pub fn run(args: Args, command: &mut clap::Command) -> Result<ExitCode> {
    clap_complete::generate(args.shell, command, "sluice", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
