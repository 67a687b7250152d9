use std::process::ExitCode;

use anyhow::Result;
use sluice::render;
use sluice_core::ExecutionId;

use super::{State, complain};

const EXAMPLES: &str = "\
Examples:
  $ sluice watch
  $ sluice watch 8203300362271-0123456789ab --timeout 1800
  $ sluice watch --json | jq -r .status";

/// Follow an execution until it ends
///
/// The execution named, or the newest: a line for each step and for each change of the
/// stages' statuses, read from the state every two seconds.
///
/// Exits 0 if it was delivered to every stage; 1 if it failed, was rejected, expired or
/// was cancelled; 2 if a newer commit superseded it; 3 if it could not be followed, or
/// --timeout passed first.
///
/// With --json, a line each time the execution changes: its document as `sluice show
/// --json` prints it, on one line; the last is the execution as it ended.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The execution's id, as `sluice status` prints it; the newest if omitted.
    #[arg(value_parser = super::execution_id)]
    execution: Option<ExecutionId>,
    /// Stop following after this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    timeout: Option<u64>,
    /// Print the execution as Sluice stores it each time it changes: one JSON
    /// execution document a line, the last one as it ended.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    state: State,
}

/// Lines as they happen, and an exit status that says how it ended (3 for a watch
/// that could not follow, whatever the reason).
pub async fn run(args: Args) -> Result<ExitCode> {
    let json = args.json;
    let followed = async {
        let (_, store) = args.state.open().await?;
        let limit = args.timeout.map(std::time::Duration::from_secs);
        sluice::watch::follow(&store, args.execution.as_ref(), limit, |before, now| {
            if json {
                // One line each: a reader can act on each change as it comes.
                match serde_json::to_string(now) {
                    Ok(line) => println!("{line}"),
                    Err(e) => eprintln!("sluice: cannot write {} as JSON: {e}", now.id),
                }
            } else {
                for line in render::watched(before, now) {
                    println!("{line}");
                }
            }
        })
        .await
    }
    .await;
    Ok(match followed {
        Ok(e) => {
            if !json {
                let why = e
                    .reason
                    .as_deref()
                    .map(|r| format!(": {}", render::to_the_second(r)))
                    .unwrap_or_default();
                println!("{} {}{why}", e.id, e.status);
            }
            ExitCode::from(sluice::watch::exit_code(e.status))
        }
        Err(e) => {
            complain(&e);
            ExitCode::from(3)
        }
    })
}
