use std::process::ExitCode;

use anyhow::Result;
use sluice_core::ExecutionId;

use super::{Global, sdk};

/// Follow an execution until it ends (the newest if none is named): a line for each
/// step and each stage's status as it changes. Exits 0 if it was delivered to every
/// stage, 1 if it failed, was rejected, expired or was cancelled, 2 if a newer
/// commit superseded it, 3 if it could not be followed (or --timeout passed first).
#[derive(clap::Args)]
pub struct Args {
    /// The execution's id, as `sluice status` prints it; the newest if omitted.
    execution: Option<String>,
    /// Stop following after this many seconds.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: Option<u64>,
}

/// Lines as they happen, and an exit status that says how it ended (3 for a watch
/// that could not follow, whatever the reason).
pub async fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let followed = async {
        let id = args
            .execution
            .as_deref()
            .map(ExecutionId::parse)
            .transpose()?;
        let store = global.store(&sdk().await)?;
        let limit = args.timeout.map(std::time::Duration::from_secs);
        sluice::watch::follow(&store, id.as_ref(), limit, |line| println!("{line}")).await
    }
    .await;
    Ok(match followed {
        Ok(e) => {
            let why = e
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            println!("{} {}{why}", e.id, e.status);
            ExitCode::from(sluice::watch::exit_code(e.status))
        }
        Err(e) => {
            eprintln!("sluice: {e:#}");
            ExitCode::from(3)
        }
    })
}
