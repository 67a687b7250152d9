//! `sluice demo`: the example delivered through the local pipeline, end to end.

use std::process::ExitCode;

use anyhow::{Context, Result};
use sluice::render;
use sluice_local::{self as local, Console, Local};

use super::local::{LocalArgs, stopped};
use super::printed;

const EXAMPLES: &str = "\
Examples:
  $ sluice demo
  $ sluice demo --auto-approve
  $ sluice demo --app path/to/app";

/// Deliver the example application through the local pipeline
///
/// Starts local mode, pushes the example (hello-api, and hello-web through a pipeline
/// of its own), approves production through the approval page (with --auto-approve, or
/// when you click), and prints what production answered and the execution's timeline.
/// Succeeds only if production answered. Run it from the Sluice checkout.
#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    #[command(flatten)]
    local: LocalArgs,
    /// Approve through the page's form instead of waiting for a click.
    #[arg(long, env = "DEMO_AUTO_APPROVE", value_parser = clap::builder::BoolishValueParser::new(), default_value = "false")]
    auto_approve: bool,
}

/// Runs the demo; succeeds only if production answered.
pub async fn run(args: Args) -> Result<ExitCode> {
    let Args {
        local: args,
        auto_approve,
    } = args;
    let mut options = args.options()?;
    let (example, front) = match args.app()? {
        Some(app) => (app, None),
        // The examples: hello-api at the repository's root, hello-web under web/,
        // each delivered by its own pipeline.
        None => {
            let web = options.workspace.join("examples/hello-web");
            let front = local::Sibling::parse(local::demo::FRONT_PIPELINE)?;
            let stack = front.stack.clone();
            options.set_paths(
                &options.include_paths.join(","),
                &[options.exclude_paths.clone(), vec!["web/".to_owned()]]
                    .concat()
                    .join(","),
            )?;
            options.add_sibling(front)?;
            // hello-api's post-deploy test (buildspec-test.yml) checks every stage's
            // answer; a broken release is rolled back.
            if options.test_stages.is_empty() {
                let stages = options.stages.join(",");
                options.set_tests(&stages, sluice_core::DEFAULT_TEST_BUILDSPEC)?;
            }
            (
                options.workspace.join("examples/hello-api"),
                Some((web, stack)),
            )
        }
    };
    if options.endpoint.is_none() && options.state.exists() {
        // A fresh emulator starts with nothing: so does the rest of local mode.
        std::fs::remove_dir_all(&options.state)
            .with_context(|| format!("cannot clear {}", options.state.display()))?;
    }
    let console = Console::new();
    let local = Local::start(options, console.clone()).await?;
    let result = tokio::select! {
        r = local::demo::run(
            &local,
            &example,
            front.as_ref().map(|(example, stack)| local::demo::Front { example, stack }),
            auto_approve,
        ) => r,
        _ = stopped() => Err(anyhow::anyhow!("interrupted; everything started was stopped")),
    };
    let last_stage = local.options.stages.last().cloned().unwrap_or_default();
    let store = local.store()?;
    let latest = store.recent(1).await.ok().and_then(|mut v| v.pop());
    drop(local);
    let timeline = latest
        .map(|e| {
            format!(
                "\nThe execution:\n{}",
                render::details(&e, chrono::Utc::now())
            )
        })
        .unwrap_or_default();
    match result {
        Ok(answer) => printed(format!("\n{last_stage} answered: {answer}\n{timeline}")),
        Err(e) => {
            // What happened is as useful when it went wrong.
            print!("{timeline}");
            Err(e)
        }
    }
}
