use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use sluice::render::counted;

use sluice_core::StageName;

use super::{Since, State, printed, stage_list};

const EXAMPLES: &str = "\
Examples:
  $ sluice report --html delivery.html
  $ sluice report --html production.html --stage production --since 12w";

/// Write the delivery figures over time as an HTML page
///
/// The figures of `sluice metrics` over the window, for every stage or only --stage, as
/// one self-contained page of charts: it needs no network to open.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Where to write the page.
    #[arg(long, value_name = "FILE")]
    html: PathBuf,
    /// The window: the last 30d, 12h, 2w...
    #[arg(long, default_value = "30d", value_parser = super::since)]
    since: Since,
    /// Only this stage.
    #[arg(long, value_parser = super::stage_name)]
    stage: Option<StageName>,
    #[command(flatten)]
    state: State,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let Args {
        html,
        since,
        stage,
        state,
    } = args;
    let global = &state.global;
    let Since {
        text: since,
        window,
    } = since;
    // Refuse a bad destination before reading anything.
    let parent = match html.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        bail!(
            "--html {}: the directory {} does not exist",
            html.display(),
            parent.display()
        );
    }
    let (_, store) = state.open().await?;
    let now = chrono::Utc::now();
    let from = now - window;
    eprintln!(
        "Reading the executions since {} ...",
        (from - sluice::metrics::LOOKBACK).format("%Y-%m-%d")
    );
    let executions = store.since(from - sluice::metrics::LOOKBACK).await?;
    // The stages, in order, of the newest change (a rollback has one stage).
    let known: Vec<sluice_core::StageName> = executions
        .iter()
        .filter(|e| e.rollback_of.is_none())
        .max_by_key(|e| e.created_at)
        .map(|e| e.stages.iter().map(|s| s.name.clone()).collect())
        .unwrap_or_default();
    let stages = match stage {
        Some(stage) if !known.is_empty() && !known.contains(&stage) => bail!(
            "pipeline {} has no stage {stage}; its stages: {}",
            global.pipeline,
            stage_list(&known)
        ),
        Some(stage) => vec![stage],
        None => known,
    };
    let page = sluice::report::html(&global.pipeline, &executions, &stages, from, now);
    // Written beside it, then renamed: a failure leaves no half page.
    let partial = parent.join(format!(
        ".{}.partial",
        html.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("report.html")
    ));
    std::fs::write(&partial, page)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, &html).with_context(|| format!("cannot write {}", html.display()))?;
    printed(format!(
        "Wrote {}: {} ({}), {} read, over the last {since}.\n",
        html.display(),
        counted(stages.len(), "stage"),
        stage_list(&stages),
        counted(executions.len(), "execution")
    ))
}
