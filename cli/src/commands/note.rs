use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use sluice_adapters::StoreError;
use sluice_core::{Event, ExecutionId};

use super::{State, printed};

const EXAMPLES: &str = "\
Examples:
  $ sluice note 8203300362271-0123456789ab \"Rolled back by hand; see INC-42\"";

/// Add a note to an execution
///
/// A note for whoever looks at the execution later (`sluice show` prints it), signed
/// with your AWS identity: its ARN, from STS.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// The execution's id, as `sluice status` prints it.
    #[arg(value_parser = super::execution_id)]
    execution: ExecutionId,
    /// What to say: up to 2,000 characters; line breaks are kept.
    text: String,
    #[command(flatten)]
    state: State,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let Args {
        execution: id,
        text,
        state,
    } = args;
    if text.trim().is_empty() {
        bail!("the note is empty: say what you want others to read");
    }
    let global = &state.global;
    let (sdk, store) = state.open().await?;
    let author = sluice::identity::caller(&sdk).await?;
    let event = Event::NoteAdded {
        author: author.clone(),
        text,
    };
    match store.apply(&id, event, chrono::Utc::now()).await {
        Ok(applied) if applied.changed => printed(format!("Note added to {id} by {author}.\n")),
        Ok(_) => printed(format!("{id} already has this note by {author}.\n")),
        Err(StoreError::NotFound(_)) => Err(global.no_execution(&id)),
        Err(StoreError::Rejected(why)) => bail!("note not added: {why}"),
        Err(e) => Err(e).context("note not added"),
    }
}
