//! Build events and the events a function cannot handle: events from elsewhere are
//! refused, an unhandled one is not acknowledged, a retried one finishes the work, and
//! a build is started once, however its start is taken up again.

use super::*;

/// 13b. The build function acts only on CodeBuild's build state changes.
#[tokio::test]
async fn a_build_event_from_another_source_is_refused() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    world.upload_artifacts(&a.id, "template A").await;
    let mut forged = World::build_event("codebuild-succeeded.json", &a);
    forged["source"] = Value::String("custom.forged".into());
    let _ = world.engine.on_build(forged).await;
    let mut phase = World::build_event("codebuild-succeeded.json", &a);
    phase["detail-type"] = Value::String("CodeBuild Build Phase Change".into());
    let _ = world.engine.on_build(phase).await;
    assert_eq!(world.execution(&a.id).await.status, Status::Building);
}

/// 6. An event Sluice cannot handle is not acknowledged as handled: Lambda sends it
/// to the failed-events queue with its reason.
#[tokio::test]
async fn an_event_that_cannot_be_handled_is_not_acknowledged() {
    let world = World::new();
    let handled = world
        .engine
        .on_build(serde_json::json!({"detail-type": "CodeBuild Build State Change"}))
        .await;
    let answer = sluice_engine::runtime::outcome(handled);
    let diagnostic = lambda_runtime::Diagnostic::from(answer.expect_err("must be an error"));
    assert_eq!(diagnostic.error_type, "Sluice.NotRetryable");
    assert!(
        diagnostic.error_message.contains("CodeBuild"),
        "{}",
        diagnostic.error_message
    );
}

/// 16. An event retried after its handler failed part-way finishes what the first
/// delivery left undone. The first delivery saved the build's success and then could
/// not ask for the staging change set (throttled); Lambda's retry found the event
/// already applied and did nothing, so the execution sat in `building` until the
/// sweeper's next pass, five minutes later (found by the soak under injected faults).
#[tokio::test]
async fn an_event_retried_after_a_failure_part_way_finishes_the_work() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    world.upload_artifacts(&a.id, "template A").await;
    let built = World::build_event("codebuild-succeeded.json", &a);
    world
        .faults()
        .set(fail_with("Throttling", true, "CreateChangeSet"));
    assert!(
        world.engine.on_build(built.clone()).await.is_err(),
        "the failure reaches Lambda, which retries the event"
    );
    world.faults().clear();
    assert!(world.deployer.deploying().is_empty());

    // Lambda's retry, with no sweep in between.
    world.engine.on_build(built.clone()).await.unwrap();
    assert_eq!(world.deployer.deploying(), vec![STAGING.to_owned()]);
    assert_eq!(
        status_of(&world.execution(&a.id).await, "staging"),
        StageStatus::Deploying
    );

    // Yet another copy changes nothing more.
    world.engine.on_build(built).await.unwrap();
    assert_eq!(world.deployer.deploying(), vec![STAGING.to_owned()]);
}

/// 18. A build's in-progress event, already known, asks CodeBuild nothing: catching up
/// on it asked how the build went, a call the build function is not given, and the
/// event went to the failed-events queue (found by the soak on a fresh clone).
#[tokio::test]
async fn a_known_in_progress_build_event_asks_codebuild_nothing() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    let running = World::build_event("codebuild-in-progress.json", &a);
    world.faults().set(fail_with(
        "Sluice.CapabilityNotGiven",
        false,
        "BatchGetBuilds",
    ));
    world.engine.on_build(running.clone()).await.unwrap();
    world.engine.on_build(running).await.unwrap();
    assert_eq!(world.execution(&a.id).await.status, Status::Building);
}

/// Issue 35: AWS does not promise that a build's event carries StartBuild's
/// environment overrides, nor an `artifact` for a build that leaves none. An event
/// with neither is matched to its execution by asking CodeBuild about the build, and
/// the execution goes on to staging; before, it failed to decode (no `artifact`), and
/// without the environment it was ignored as not Sluice's.
#[tokio::test]
async fn a_build_event_without_environment_or_artifact_finds_its_execution() {
    let world = World::new();
    let execution = world.push(&commit(1)).await;
    world.upload_artifacts(&execution.id, "template of 1").await;
    let build_id = execution.build.id.clone().expect("build started");
    world
        .builder
        .set_outcome(&build_id, sluice_adapters::builder::BuildOutcome::Succeeded);
    let mut event = World::build_event("codebuild-succeeded.json", &execution);
    let info = event["detail"]["additional-information"]
        .as_object_mut()
        .expect("the fixture's additional information");
    info.remove("environment");
    info.remove("artifact");
    world
        .engine
        .on_build(event)
        .await
        .expect("build event handled");
    assert_eq!(world.deployer.deploying(), vec![STAGING.to_owned()]);

    // A build Sluice did not start (no SLUICE_EXECUTION_ID anywhere) is still ignored.
    let mut stranger = World::build_event("codebuild-succeeded.json", &execution);
    stranger["detail"]["build-id"] = Value::String(
        "arn:aws:codebuild:us-east-1:123456789012:build/hello-api-build:other".into(),
    );
    let info = stranger["detail"]["additional-information"]
        .as_object_mut()
        .expect("the fixture's additional information");
    info.remove("environment");
    let before = world.execution(&execution.id).await;
    world.engine.on_build(stranger).await.expect("ignored");
    assert_eq!(world.execution(&execution.id).await, before);
}

/// Issue 35: CodeBuild keeps an idempotency token five minutes. A build that started
/// but whose start was not recorded (its answer lost) must not be started a second
/// time when the push is delivered again after that: two builds of one execution
/// would write one upload.
#[tokio::test]
async fn a_build_start_taken_up_after_codebuild_forgot_its_token_starts_no_second_build() {
    let world = World::new();
    world.commits.set_head(&commit(1));
    let event = World::push_event(&commit(1), world.now());
    world
        .faults()
        .set_after(fail_with("InternalError", true, "StartBuild"));
    assert!(world.engine.on_push(event.clone()).await.is_err());
    world.faults().clear();
    assert_eq!(world.builder.requests().len(), 1, "the build started");
    let first = world
        .builder
        .build_for(&world.execution_of(&commit(1)).await.build_token())
        .expect("its id");

    world.advance(Duration::minutes(6));
    world.builder.forget_tokens();
    world.engine.on_push(event).await.expect("delivered again");
    assert_eq!(world.builder.requests().len(), 1, "no second build");
    let execution = world.execution_of(&commit(1)).await;
    assert_eq!(execution.build.id.as_deref(), Some(first.as_str()));
    assert_eq!(execution.status, Status::Building);
}

/// The same, for a retried build whose start failed: the execution's earlier, failed
/// build carries its id too, and must not be taken up as the retry's.
#[tokio::test]
async fn a_retried_build_taken_up_late_is_not_mistaken_for_the_failed_one() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    let failed = World::build_event("codebuild-failed.json", &a);
    world.engine.on_build(failed).await.unwrap();
    assert_eq!(world.execution(&a.id).await.status, Status::Failed);
    let first = a.build.id.clone().expect("the first build");

    // The retry's build start fails before CodeBuild acts: only the failed build exists.
    world
        .faults()
        .set(fail_with("InternalError", true, "StartBuild"));
    let mut retry = operator("retry", &a.id);
    retry.issued_at = world.now();
    assert!(
        world.engine.operate(OPS, retry).await.is_err(),
        "not started"
    );
    world.faults().clear();
    assert_eq!(world.builder.requests().len(), 1);

    world.advance(Duration::minutes(6));
    world.builder.forget_tokens();
    let event = World::push_event(&commit(1), a.created_at);
    world.engine.on_push(event).await.expect("delivered again");
    let now = world.execution(&a.id).await;
    assert_ne!(
        now.build.id.as_deref(),
        Some(first.as_str()),
        "not the failed build"
    );
    assert_eq!(world.builder.requests().len(), 2, "the retry's own build");
    assert_eq!(now.status, Status::Building);
}
