use std::process::ExitCode;

use anyhow::Result;
use clap_complete::Shell;

const EXAMPLES: &str = "\
Examples:
  $ sluice completions bash > ~/.local/share/bash-completion/completions/sluice
  $ sluice completions zsh > \"${fpath[1]}/_sluice\"
  $ sluice completions fish > ~/.config/fish/completions/sluice.fish";

/// Print a shell completion script
///
/// The script that completes sluice's commands and options in SHELL, on stdout: save
/// it where your shell loads completions from.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The shell: bash, elvish, fish, powershell or zsh.
    shell: Shell,
}

/// Writes the script for `command`, the whole command line, to stdout.
pub fn run(args: Args, command: &mut clap::Command) -> Result<ExitCode> {
    clap_complete::generate(args.shell, command, "sluice", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
