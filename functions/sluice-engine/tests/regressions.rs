//! One named test per broken promise found in review (issue "Delivery you can trust").
//! Each failed against the engine as it was, and passes since its fix.

mod support;

use chrono::Duration;
use serde_json::Value;
use sluice_core::{Command, StageName, StageStatus, Status};
use support::{PRODUCTION, STAGING, World, commit};

fn staging() -> StageName {
    StageName::parse("staging").unwrap()
}

fn status_of(execution: &sluice_core::Execution, stage: &str) -> StageStatus {
    execution
        .stage(&StageName::parse(stage).unwrap())
        .map(|s| s.status)
        .unwrap()
}

/// 1. A stack event counts only for the change set it finished.
#[tokio::test]
async fn a_stale_stack_event_does_not_finish_another_executions_deploy() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    let a_done = world.settle(STAGING);
    world.deliver_stack(a_done.clone()).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&a.id).await, "production"),
        StageStatus::AwaitingApproval
    );

    world.advance(Duration::minutes(5));
    let b = world.push(&commit(2)).await;
    world.build_succeeds(&b, "template B").await;
    assert_eq!(
        status_of(&world.execution(&b.id).await, "staging"),
        StageStatus::Deploying
    );
    // A's completion, redelivered while B's update is still running.
    world.deliver_stack(a_done).await.unwrap();
    let b_now = world.execution(&b.id).await;
    assert_eq!(status_of(&b_now, "staging"), StageStatus::Deploying);
    assert!(
        world
            .messages_about("approval")
            .iter()
            .all(|m| !m.body.contains(b.id.as_str())),
        "no approval may be asked for B before its staging deploy finished"
    );
    // B's own completion still counts.
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&b.id).await, "staging"),
        StageStatus::Succeeded
    );
}

/// 1b. A failed update whose own event follows a stale success still fails the stage.
#[tokio::test]
async fn a_rollback_after_a_stale_success_still_fails_the_stage() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    let a_done = world.settle(STAGING);
    world.deliver_stack(a_done.clone()).await.unwrap();
    world.advance(Duration::minutes(5));
    let b = world.push(&commit(2)).await;
    world
        .build_succeeds(
            &b,
            &format!("template B {}", sluice_adapters::memory::FAIL_DEPLOY),
        )
        .await;
    world.deliver_stack(a_done).await.unwrap();
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let b_now = world.execution(&b.id).await;
    assert_eq!(b_now.status, Status::Failed, "{:?}", b_now.timeline);
    assert_eq!(status_of(&b_now, "staging"), StageStatus::Failed);
}

/// 2. Executing a change set that is already executing is not a failure.
#[tokio::test]
async fn executing_a_change_set_twice_keeps_the_deploy_running() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    let a = world.execution(&a.id).await;
    assert_eq!(status_of(&a, "staging"), StageStatus::Deploying);
    let change_set_id = a.stage(&staging()).unwrap().change_set_id.clone().unwrap();
    // A second execute, as an overlapping sweep or a retried handler would send.
    world
        .engine
        .run(
            a.clone(),
            vec![Command::ExecuteChangeSet {
                stage: staging(),
                change_set_id,
            }],
        )
        .await
        .unwrap();
    let a_now = world.execution(&a.id).await;
    assert_eq!(a_now.status, Status::Deploying, "{:?}", a_now.timeline);
    assert_eq!(status_of(&a_now, "staging"), StageStatus::Deploying);
    assert!(world.messages_about("failed").is_empty());
    assert_eq!(world.deployer.executed().len(), 1);
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&a.id).await, "production"),
        StageStatus::AwaitingApproval
    );
}

/// 13. The deploy function acts only on stack status changes, not on a resource's.
#[tokio::test]
async fn a_resource_status_change_does_not_finish_a_stage() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    let stack_id = world
        .deployer
        .stack_id(STAGING)
        .expect("staging stack exists");
    let mut event = World::stack_event(&stack_id, "CREATE_COMPLETE");
    event["detail-type"] = Value::String("CloudFormation Resource Status Change".into());
    event["detail"]["logical-resource-id"] = Value::String("HelloFunction".into());
    event["detail"]["resource-type"] = Value::String("AWS::Lambda::Function".into());
    let _ = world.deliver_stack(event).await;
    let mut forged = World::stack_event(&stack_id, "CREATE_COMPLETE");
    forged["source"] = Value::String("custom.forged".into());
    let _ = world.deliver_stack(forged).await;
    assert_eq!(
        status_of(&world.execution(&a.id).await, "staging"),
        StageStatus::Deploying
    );
}

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

/// 12. The decision endpoint takes only the page's form.
#[tokio::test]
async fn a_decision_sent_as_json_is_refused() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    let (path, token) = world.approval_link(&a.id);
    let mut request = World::request(
        "POST",
        &path,
        "",
        Some(&format!(
            r#"{{"token":"{token}","decision":"approve","name":"Eve"}}"#
        )),
    );
    request["headers"]["content-type"] = Value::String("application/json".into());
    let (status, _) = world.http(request).await;
    assert_eq!(status.as_u16(), 415);
    assert_eq!(
        status_of(&world.execution(&a.id).await, "production"),
        StageStatus::AwaitingApproval
    );
    assert!(world.deployer.status(PRODUCTION).is_some());
    assert!(world.deployer.deploying().is_empty());
}
