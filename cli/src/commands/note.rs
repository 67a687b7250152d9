use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use sluice_adapters::StoreError;
use sluice_core::{Event, ExecutionId};

use super::{Global, printed, sdk};

/// Add a note to an execution for whoever looks at it later (`sluice show` prints
/// it), signed with your AWS identity.
#[derive(clap::Args)]
pub struct Args {
    /// The execution's id, as `sluice status` prints it.
    execution: String,
    /// What to say: up to 2,000 characters; line breaks are kept.
    text: String,
}

pub async fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let id = ExecutionId::parse(&args.execution)?;
    if args.text.trim().is_empty() {
        bail!("the note is empty: say what you want others to read");
    }
    let sdk = sdk().await;
    let store = global.store(&sdk)?;
    let author = sluice::identity::caller(&sdk).await?;
    let event = Event::NoteAdded {
        author: author.clone(),
        text: args.text,
    };
    match store.apply(&id, event, chrono::Utc::now()).await {
        Ok(applied) if applied.changed => printed(format!("Note added to {id} by {author}.\n")),
        Ok(_) => printed(format!("{id} already has this note by {author}.\n")),
        Err(StoreError::NotFound(_)) => Err(global.no_execution(&id)),
        Err(StoreError::Rejected(why)) => bail!("note not added: {why}"),
        Err(e) => Err(e).context("note not added"),
    }
}
