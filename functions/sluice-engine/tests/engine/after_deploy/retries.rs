//! A stage's automatic retries: a failure of the moment (a throttled deploy, a stack
//! busy with another update, a build machine that faulted) is retried after its wait;
//! an application failure is not, and retries run out.

use super::*;

/// A pipeline whose stages retry twice, the first retry a minute after the failure.
fn retrying() -> World {
    World::of(with_staging(
        "    test: {buildspec: buildspec-test.yml}\n    retries: {max: 2}\n",
    ))
}

#[tokio::test]
async fn a_throttled_deploy_is_retried_after_its_wait_and_succeeds() {
    let world = retrying();
    world.deployer.throttle_next_deploy(STAGING);
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(
        status_of(&a, "staging"),
        StageStatus::Retrying,
        "{:?}",
        a.timeline
    );
    let retry = a.stages[0].retrying.clone().expect("a retry is waiting");
    assert_eq!(retry.at, world.now() + chrono::Duration::minutes(1));
    assert!(retry.reason.contains("Rate exceeded"), "{}", retry.reason);

    // Not before its time; then the sweeper starts it again from a new change set.
    world.engine.sweep(10).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&a.id).await, "staging"),
        StageStatus::Retrying
    );
    world.advance(chrono::Duration::minutes(1));
    world.engine.sweep(10).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(status_of(&a, "staging"), StageStatus::Deploying);
    assert_eq!((a.stages[0].attempt, a.stages[0].retries), (1, 1));
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let passed = world.test_event(
        "codebuild-succeeded.json",
        &world.execution(&a.id).await,
        "staging",
    );
    world.engine.on_build(passed).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(status_of(&a, "staging"), StageStatus::Succeeded);
    assert!(
        a.timeline
            .iter()
            .any(|l| l.what.contains("worth retrying: retry 1 of 2 of the stage")),
        "{:?}",
        a.timeline
    );
}

#[tokio::test]
async fn an_application_failure_is_not_retried_and_retries_run_out() {
    let world = retrying();
    // A template that fails however often it is tried: not retried.
    let a = world.push(&commit(1)).await;
    world
        .build_succeeds(
            &a,
            &format!("template A {}", sluice_adapters::memory::FAIL_DEPLOY),
        )
        .await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(
        (a.status, status_of(&a, "staging")),
        (Status::Failed, StageStatus::Failed)
    );
    assert_eq!(a.stages[0].retries, 0);

    // Throttled three times: two retries, then it fails, saying so.
    world.advance(chrono::Duration::minutes(5));
    let b = world.push(&commit(2)).await;
    world.build_succeeds(&b, "template B").await;
    for wait in [1, 2] {
        world.deployer.throttle_next_deploy(STAGING);
        world.deliver_stack(world.settle(STAGING)).await.unwrap();
        world.advance(chrono::Duration::minutes(wait));
        world.engine.sweep(10).await.unwrap();
    }
    world.deployer.throttle_next_deploy(STAGING);
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let b = world.execution(&b.id).await;
    assert_eq!(b.status, Status::Failed, "{:?}", b.timeline);
    let reason = b.reason.unwrap();
    assert!(reason.ends_with("(after 2 automatic retries)"), "{reason}");
}

/// CloudFormation refuses a change set while the stack is busy with another update:
/// the deployer's read of the stack's status (not the refusal's words) makes it a
/// failure of the moment, retried once the wait is over.
#[tokio::test]
async fn a_change_set_refused_by_a_stack_busy_with_another_update_is_retried() {
    let world = World::of(with_staging("    retries: {max: 2}\n"));
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    assert!(world.deployer.start_other_operation(STAGING));

    world.advance(chrono::Duration::minutes(1));
    let b = world.push(&commit(2)).await;
    world.build_succeeds(&b, "template B").await;
    let b = world.execution(&b.id).await;
    assert_eq!(
        status_of(&b, "staging"),
        StageStatus::Retrying,
        "{:?}",
        b.timeline
    );
    let retry = b.stages[0].retrying.clone().expect("a retry is waiting");
    assert!(
        retry.reason.contains("UPDATE_IN_PROGRESS"),
        "{}",
        retry.reason
    );

    world.deployer.end_other_operation(STAGING);
    world.advance(chrono::Duration::minutes(1));
    world.engine.sweep(10).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&b.id).await, "staging"),
        StageStatus::Deploying
    );
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let b = world.execution(&b.id).await;
    assert_eq!(
        status_of(&b, "staging"),
        StageStatus::Succeeded,
        "{:?}",
        b.timeline
    );
}

#[tokio::test]
async fn a_test_whose_build_machine_faulted_runs_again_without_a_new_deploy() {
    let world = retrying();
    let a = deployed_to_staging(&world, &commit(1), "template A").await;
    let token = a.test_token(&StageName::parse("staging").unwrap());
    let first = world.builder.build_for(&token).expect("test started");
    let mut faulted = world.test_event("codebuild-failed.json", &a, "staging");
    faulted["detail"]["build-status"] = serde_json::Value::String("FAULT".into());
    // The machine never came up: the failed phase is the provisioning, not the buildspec.
    for phase in faulted["detail"]["additional-information"]["phases"]
        .as_array_mut()
        .expect("the fixture's phases")
    {
        if phase["phase-status"] == "FAILED" {
            phase["phase-type"] = serde_json::Value::String("PROVISIONING".into());
        }
    }
    world.engine.on_build(faulted.clone()).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(
        status_of(&a, "staging"),
        StageStatus::Retrying,
        "{:?}",
        a.timeline
    );
    world.advance(chrono::Duration::minutes(1));
    world.engine.sweep(10).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(status_of(&a, "staging"), StageStatus::Testing);
    assert_eq!(a.stages[0].attempt, 0, "the deploy is not done again");
    let second = world
        .builder
        .build_for(&a.test_token(&StageName::parse("staging").unwrap()))
        .expect("the test runs again");
    assert_ne!(first, second);
    // The first test's news, late, is old news.
    world.engine.on_build(faulted).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&a.id).await, "staging"),
        StageStatus::Testing
    );
    let passed = world.test_event("codebuild-succeeded.json", &a, "staging");
    world.engine.on_build(passed).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&a.id).await, "staging"),
        StageStatus::Succeeded
    );
}
