//! End to end through `sluice local`: an application pushed to the local CodeCommit,
//! built by the local CodeBuild from its own buildspec, deployed by the
//! orchestrator's functions running in the emulator. The scenario about delivering
//! the Rust example uses it (tests, `sam build`, `sam package`); the scenarios about
//! the pipeline itself use a stand-in that builds in a second. Builds share a warm
//! cargo cache.
//!
//! Each scenario is a file of its own over one harness (`harness`, `browser`). The
//! stories that need only the default pipeline (staging, then production behind a
//! gate) are told one after another on one local pipeline, by the test below; the
//! scenarios that configure local mode otherwise start their own.

mod browser;
mod harness;

mod after_the_deploy;
mod broken_unit_test;
mod duplicated_and_reordered_events;
mod example_applications;
mod example_through_a_browser;
mod newer_push_supersedes;
mod resend_and_reject;
mod retry_cancel_release;
mod two_pipelines_one_repository;

use std::sync::Arc;

use harness::{App, Run};

/// The stories of the default pipeline, in the order they are told: the first reads
/// metrics of its own deliveries, the example applications replace the stand-in on
/// the same stacks, the last breaks the pipeline on purpose.
const STORIES: [&str; 6] = [
    "newer_push_supersedes",
    "broken_unit_test",
    "retry_cancel_release",
    "python_api",
    "node_api",
    "resend_and_reject",
];

/// Tells each story of [`STORIES`] on one pipeline, one after another, each from the
/// application as it is; a story that fails is reported, and the next one is told
/// all the same. `SLUICE_STORY=<name>` tells only that one.
#[tokio::test(flavor = "multi_thread")]
async fn the_stories_of_one_pipeline() {
    let only = std::env::var("SLUICE_STORY").ok();
    if let Some(name) = &only {
        assert!(
            STORIES.contains(&name.as_str()),
            "SLUICE_STORY={name} is none of {STORIES:?}"
        );
    }
    let run = Arc::new(Run::start(App::Quick).await);
    let mut failed = Vec::new();
    for name in STORIES {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        eprintln!("story {name}: begins");
        let told = Arc::clone(&run);
        // Each story in a task of its own, so that one that panics is reported and
        // the others are still told.
        let story = tokio::spawn(async move {
            match name {
                "newer_push_supersedes" => newer_push_supersedes::story(&told).await,
                "broken_unit_test" => broken_unit_test::story(&told).await,
                "retry_cancel_release" => retry_cancel_release::story(&told).await,
                "python_api" => example_applications::python_api(&told).await,
                "node_api" => example_applications::node_api(&told).await,
                "resend_and_reject" => resend_and_reject::story(&told).await,
                other => panic!("no story {other}"),
            }
        });
        match story.await {
            Ok(()) => eprintln!("story {name}: told"),
            Err(e) => {
                eprintln!("story {name}: FAILED ({e})");
                failed.push(name);
                run.settle().await;
            }
        }
    }
    assert!(failed.is_empty(), "these stories failed: {failed:?}");
}

/// The Serverless Framework service, `examples/serverless-api`, on a pipeline of its
/// own: left out of `make test`, whose budget it would take more than a minute of
/// (its build's `npm ci` writes some 27,000 files, which the test then deletes).
/// `cargo test -p sluice --test sluice -- --ignored a_serverless_framework_service`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "about 70 s: npm ci of the Serverless Framework, too long for make test"]
async fn a_serverless_framework_service() {
    let run = Run::start(App::Quick).await;
    example_applications::serverless_api(&run).await;
}
