//! The operator's commands from a terminal (approve, reject, retry, cancel): recorded
//! as the caller's, acting once, and retrying a failed stage or build.

use super::*;

/// Issue 11: an operator's approval deploys like a link's, recorded as their ARN; a
/// second decision, from either side, is refused with the first.
#[tokio::test]
async fn an_operator_approval_deploys_and_is_recorded_as_the_callers() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    let answer = world.operate(operator("approve", &a.id)).await;
    assert!(answer.ok, "{}", answer.message);
    assert!(
        answer.message.contains("deploying now"),
        "{}",
        answer.message
    );
    assert_eq!(world.deployer.deploying(), vec![PRODUCTION.to_owned()]);
    let now = world.execution(&a.id).await;
    let decision = now.stages[1]
        .approval
        .as_ref()
        .and_then(|a| a.decision.clone())
        .expect("recorded");
    assert_eq!(decision.by, OPS);
    assert!(decision.by_identity);

    let again = world.operate(operator("reject", &a.id)).await;
    assert!(!again.ok);
    assert!(
        again.message.contains("already approved"),
        "{}",
        again.message
    );
    let (status, _) = world.decide(&a.id, "reject", "Mallory").await;
    assert_eq!(status.as_u16(), 410);

    // Wrong input says what is wrong and changes nothing.
    let mut other = operator("approve", &a.id);
    other.pipeline = "another-pipeline".into();
    let refused = world.operate(other).await;
    assert!(
        !refused.ok && refused.message.contains("SLUICE_PIPELINE"),
        "{}",
        refused.message
    );
    let missing = world
        .engine
        .operate(
            OPS,
            operator(
                "approve",
                &sluice_core::ExecutionId::parse("1800000000000-0123456789ab").unwrap(),
            ),
        )
        .await
        .unwrap();
    assert!(
        !missing.ok && missing.message.contains("has no execution"),
        "{}",
        missing.message
    );
    assert_eq!(world.execution(&a.id).await, now);
}

/// Issue 29: a copy of an operator command (Lambda's second try of an asynchronous
/// invocation, a signed request replayed within STS's 15 minutes) acts once; the copy
/// is refused and changes nothing. So is one whose nonce is not one. (A command given
/// more than 15 minutes ago is refused where its proof is checked, by the wall clock:
/// `operator::tests`.)
#[tokio::test]
async fn a_copy_of_an_operator_command_changes_nothing() {
    // Both stages gated. An approval without a stage is resolved by the function:
    // copied, and replayed once staging is deployed, it would approve production.
    let world = World::of(sluice_tests::world::config_of(
        &sluice_tests::world::DEFINITION.replace(
            "  - name: staging\n",
            "  - name: staging\n    approval: true\n",
        ),
        &[],
    ));
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template").await;
    let approve = operator("approve", &a.id);
    let first = world.operate(approve.clone()).await;
    assert!(first.ok, "{}", first.message);
    world
        .deliver_stack(world.settle(STAGING))
        .await
        .expect("staging deployed");
    let at_production = world.execution(&a.id).await;
    assert_eq!(
        at_production.stages[1].status,
        StageStatus::AwaitingApproval
    );
    let copy = world.operate(approve).await;
    assert!(!copy.ok, "{}", copy.message);
    assert!(
        copy.message.contains("was received before") && copy.message.contains("nothing was done"),
        "{}",
        copy.message
    );
    assert_eq!(world.execution(&a.id).await, at_production);
    assert!(world.deployer.deploying().is_empty());

    // A nonce that is not one is refused before anything is recorded or done.
    let world = World::new();
    let b = world.to_the_gate(&commit(1)).await;
    let before = world.execution(&b.id).await;
    let mut forged = operator("approve", &b.id);
    forged.issued_at = world.now();
    forged.nonce = "../../executions/x".into();
    let refused = world.engine.operate(OPS, forged).await.unwrap();
    assert!(
        !refused.ok && refused.message.contains("nonce"),
        "{}",
        refused.message
    );
    assert_eq!(world.execution(&b.id).await, before);
}

/// Issue 11: a stage that failed for a passing reason is retried from the same pinned
/// artifact, under a new change set, and goes on to the next stage.
#[tokio::test]
async fn a_failed_stage_is_retried_to_success_from_the_same_artifact() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    world
        .faults()
        .set(fail_with("ValidationError", false, "ExecuteChangeSet"));
    world.build_succeeds(&a, "template A").await;
    world.faults().clear();
    let failed = world.execution(&a.id).await;
    assert_eq!(failed.status, Status::Failed, "{:?}", failed.timeline);
    let answer = world.operate(operator("retry", &a.id)).await;
    assert!(answer.ok, "{}", answer.message);
    assert!(
        answer
            .message
            .contains("at stage staging, from the same artifact"),
        "{}",
        answer.message
    );
    let retried = world.execution(&a.id).await;
    assert_eq!(retried.artifact, failed.artifact);
    assert_eq!(status_of(&retried, "staging"), StageStatus::Deploying);
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let now = world.execution(&a.id).await;
    assert_eq!(status_of(&now, "staging"), StageStatus::Succeeded);
    assert_eq!(status_of(&now, "production"), StageStatus::AwaitingApproval);
    // In flight again: the sweeper looks after it.
    let (in_flight, _) = world.engine.store.in_flight(None, 10).await.unwrap();
    assert_eq!(in_flight, vec![a.id.clone()]);

    let again = world.operate(operator("retry", &a.id)).await;
    assert!(!again.ok);
    assert!(
        again.message.contains("is deploying; nothing to retry"),
        "{}",
        again.message
    );
}

/// Issue 11: a failed build is retried with a new build (a new idempotency token, or
/// CodeBuild would answer with the failed one), whose success deploys.
#[tokio::test]
async fn a_failed_build_is_retried_with_a_new_build() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    let failed = World::build_event("codebuild-failed.json", &a);
    world.engine.on_build(failed).await.unwrap();
    assert_eq!(world.execution(&a.id).await.status, Status::Failed);
    let answer = world.operate(operator("retry", &a.id)).await;
    assert!(
        answer.ok && answer.message.contains("with a new build"),
        "{}",
        answer.message
    );
    let requests = world.builder.requests();
    assert_eq!(requests.len(), 2);
    assert_ne!(requests[0].idempotency_token, requests[1].idempotency_token);
    let retried = world.execution(&a.id).await;
    assert_ne!(retried.build.id, a.build.id);
    world.build_succeeds(&retried, "template A").await;
    assert_eq!(
        status_of(&world.execution(&a.id).await, "staging"),
        StageStatus::Deploying
    );
}

/// Issue 11: a cancel mid-build stops the build; a cancel at the gate deletes the
/// change set and frees the stage, so the next execution is not queued behind it.
#[tokio::test]
async fn a_cancel_stops_the_build_or_frees_the_gate_and_is_recorded_as_the_callers() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    let answer = world.operate(operator("cancel", &a.id)).await;
    assert!(answer.ok, "{}", answer.message);
    let build = a.build.id.clone().unwrap();
    assert!(
        answer
            .message
            .contains(&format!("build {build} is stopped")),
        "{}",
        answer.message
    );
    assert_eq!(world.builder.stopped(), vec![build.to_string()]);
    let a_now = world.execution(&a.id).await;
    assert_eq!(a_now.status, Status::Cancelled);
    assert_eq!(a_now.reason, Some(format!("cancelled by {OPS}")));
    assert_eq!(world.messages_about("cancelled").len(), 1);

    world.advance(Duration::minutes(1));
    let b = world.to_the_gate(&commit(2)).await;
    let change_set = b.stages[1].change_set_id.clone().unwrap().to_string();
    assert!(world.deployer.change_set_template(&change_set).is_some());
    let answer = world.operate(operator("cancel", &b.id)).await;
    assert!(answer.ok, "{}", answer.message);
    assert!(
        answer.message.contains("production is free"),
        "{}",
        answer.message
    );
    let production = StageName::parse("production").unwrap();
    assert_eq!(
        world.engine.lanes.get(&production).await.unwrap().holder,
        None
    );
    let b_now = world.execution(&b.id).await;
    assert_eq!(status_of(&b_now, "production"), StageStatus::Cancelled);
    assert_eq!(
        world.deployer.change_set_template(&change_set),
        None,
        "deleted"
    );
    let (status, page) = world.decide(&b.id, "approve", "Grace").await;
    assert_eq!(status.as_u16(), 410, "{page}");

    world.advance(Duration::minutes(1));
    let c = world.to_the_gate(&commit(3)).await;
    assert_eq!(status_of(&c, "production"), StageStatus::AwaitingApproval);
    let refused = world.operate(operator("cancel", &b.id)).await;
    assert!(
        !refused.ok && refused.message.contains("already ended (cancelled)"),
        "{}",
        refused.message
    );
}
