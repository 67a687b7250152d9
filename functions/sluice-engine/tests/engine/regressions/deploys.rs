//! Deploying a stage: a stack event counts only for the change set it finished and
//! for the stack's own status, a change set executed twice keeps running, each stage
//! deploys the template the build left, and a failed first deploy does not wedge the
//! stage.

use super::*;

fn staging() -> StageName {
    StageName::parse("staging").unwrap()
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

// 8. Code that changed after the build (and its approval) is never deployed: see
// `releases.rs`, where it no longer fails the delivery (the release's copy deploys).

/// 8b. Every stage deploys the template the build left, whatever is written later.
#[tokio::test]
async fn every_stage_deploys_the_template_the_build_left() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "the approved template").await;
    // Written while staging deploys, before production's change set is made.
    let key = format!("artifacts/hello/{}/packaged.yaml", a.id);
    world.put(&key, b"a template nobody approved").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let (status, _) = world.decide(&a.id, "approve", "Grace").await;
    assert_eq!(status.as_u16(), 200);
    world.deliver_stack(world.settle(PRODUCTION)).await.unwrap();
    assert_eq!(
        world.deployer.template(PRODUCTION).as_deref(),
        Some("the approved template")
    );
}

/// 10b. A template too large for CloudFormation is refused, read no further than
/// the limit.
#[tokio::test]
async fn a_huge_template_is_refused_with_a_reason() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    let huge = format!("# {}\n", "x".repeat(2 * 1024 * 1024));
    world.build_succeeds(&a, &huge).await;
    let a = world.execution(&a.id).await;
    assert_eq!(a.status, Status::Failed);
    let reason = a.reason.unwrap_or_default();
    assert!(reason.contains("larger than 1024 KB"), "{reason}");
    assert!(world.deployer.status(STAGING).is_none());
}

/// Commit 1's execution, whose first deploy of staging failed and left the stack in
/// `ROLLBACK_COMPLETE`; the clock is then moved on, for a newer push.
async fn failed_first_deploy(world: &World) -> sluice_core::Execution {
    let first = world.push(&commit(1)).await;
    world
        .build_succeeds(
            &first,
            &format!("template 1 {}", sluice_adapters::memory::FAIL_DEPLOY),
        )
        .await;
    world
        .deliver_stack(world.settle(STAGING))
        .await
        .expect("stack event handled");
    world.advance(Duration::minutes(5));
    world.execution(&first.id).await
}

/// Issue 35: a first deploy that fails leaves its stack in `ROLLBACK_COMPLETE`, which
/// CloudFormation refuses every change set on (the fake now does too). Before, every
/// later push failed at that stage until a person deleted the stack; now the stack is
/// deleted, through the stage's execution role, and created again.
#[tokio::test]
async fn a_failed_first_deploy_does_not_wedge_the_stage() {
    let world = World::new();
    let first = failed_first_deploy(&world).await;
    assert_eq!(first.status, Status::Failed);
    let second = world.push(&commit(2)).await;
    world.build_succeeds(&second, "template 2").await;
    let now = world.execution(&second.id).await;
    assert_eq!(
        now.stages[0].status,
        StageStatus::Deploying,
        "{:?}",
        now.stages[0].reason
    );
    assert_eq!(world.deployer.deploying(), vec![STAGING.to_owned()]);
    let deleted = world.deployer.deleted();
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert_eq!(deleted[0].0, STAGING);
    // Through the role the stage's change sets use.
    assert_eq!(deleted[0].1, now.stages[0].execution_role_arn);
}

/// The same, when deleting the stack is refused for good (its role may not): the stage
/// fails saying so, instead of with CloudFormation's refusal of an update.
#[tokio::test]
async fn a_failed_first_deploy_whose_stack_cannot_be_deleted_says_why() {
    let world = World::new();
    failed_first_deploy(&world).await;
    world
        .faults()
        .set(fail_with("AccessDenied", false, "DeleteStack"));
    let second = world.push(&commit(2)).await;
    world.build_succeeds(&second, "template 2").await;
    world.faults().clear();
    let now = world.execution(&second.id).await;
    assert_eq!(now.status, Status::Failed);
    let reason = now.stages[0].reason.clone().unwrap_or_default();
    assert!(
        reason.contains("ROLLBACK_COMPLETE") && reason.contains("deleting it was refused"),
        "{reason}"
    );
    assert!(world.deployer.deleted().is_empty());
}
