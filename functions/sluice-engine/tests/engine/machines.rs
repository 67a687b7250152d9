//! What a pipeline's builds run on: the build project's own machine, unless the
//! definition asks for another, which every build and post-deploy test of the
//! pipeline then starts on.

use sluice_adapters::builder::Machine;
use sluice_tests::world::{DEFINITION, World, commit, config_of};

#[tokio::test]
async fn builds_run_on_the_project_machine_unless_the_definition_names_another() {
    let world = World::new();
    world.push(&commit(1)).await;
    let requests = world.builder.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].machine, None, "the project's own machine");

    let lambda = DEFINITION.replace(
        "stages:\n",
        "build:\n  compute: lambda\n  image: aws/codebuild/amazonlinux-aarch64-lambda-standard:python3.12\n  \
         timeout_minutes: 10\nstages:\n",
    );
    let world = World::of(config_of(&lambda, &[]));
    world.push(&commit(1)).await;
    let requests = world.builder.requests();
    assert_eq!(
        requests[0].machine,
        Some(Machine {
            compute_type: "BUILD_LAMBDA_2GB".into(),
            environment_type: "ARM_LAMBDA_CONTAINER".into(),
            image: "aws/codebuild/amazonlinux-aarch64-lambda-standard:python3.12".into(),
            timeout_minutes: 10,
        })
    );
}
