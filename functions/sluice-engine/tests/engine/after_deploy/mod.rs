//! After the deploy: a stage's post-deploy test decides whether its release stays,
//! and a failed test puts the release that was live before back, through the engine
//! over the in-memory AWS fakes.
//!
//! One module per area (the post-deploy test, retries, alarm watches, deploy windows,
//! the smoke check); the helpers several of them share are here.

use sluice_core::smoke::Answer;
use sluice_core::{BuildStatus, StageName, StageStatus, Status};
use sluice_tests::world::{DEFINITION, STAGING, World, commit, config_of};

/// The default pipeline, its staging stage with `options` (lines of its YAML).
fn with_staging(options: &str) -> sluice_engine::Config {
    config_of(
        &DEFINITION.replace(
            "  - name: staging\n",
            &format!("  - name: staging\n{options}"),
        ),
        &[],
    )
}

fn status_of(execution: &sluice_core::Execution, stage: &str) -> StageStatus {
    execution
        .stage(&StageName::parse(stage).unwrap())
        .map(|s| s.status)
        .unwrap()
}

/// A pipeline whose staging deploys are tested.
fn tested() -> World {
    World::of(with_staging("    test: {buildspec: buildspec-test.yml}\n"))
}

/// Pushes `commit`, builds it with `template` and ends its staging deploy: its test
/// is running.
async fn deployed_to_staging(
    world: &World,
    commit: &str,
    template: &str,
) -> sluice_core::Execution {
    let execution = world.push(commit).await;
    world.build_succeeds(&execution, template).await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    world.execution(&execution.id).await
}

mod alarms;
mod post_deploy_tests;
mod retries;
mod smoke;
mod windows;
