//! A stage's lane: an execution queued at a stage takes it when the one before is
//! done, and is neither stranded nor let in early, however a handler before it died.

use super::*;

/// 5. A newer execution queued behind an older one that was still preparing takes
/// the gate when the older one reaches it.
#[tokio::test]
async fn a_newer_execution_queued_behind_a_preparing_one_takes_the_gate() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    world.deployer.set_slow(true);
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    world.deployer.set_slow(false);
    assert_eq!(
        status_of(&world.execution(&a.id).await, "production"),
        StageStatus::Preparing
    );
    world.advance(Duration::minutes(1));
    let b = world.push(&commit(2)).await;
    world.build_succeeds(&b, "template B").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&b.id).await, "production"),
        StageStatus::Preparing,
        "queued behind A"
    );
    world.deployer.work_out();
    world.engine.sweep(10).await.unwrap();
    let (a, b) = (world.execution(&a.id).await, world.execution(&b.id).await);
    assert_eq!(a.status, Status::Superseded, "{:?}", a.timeline);
    assert_eq!(
        status_of(&b, "production"),
        StageStatus::AwaitingApproval,
        "{:?}",
        b.timeline
    );
    world.approval_link(&b.id);
}

/// 5b. A decision that claimed the gate and died before it was saved does not
/// strand the newer execution queued behind it.
#[tokio::test]
async fn an_abandoned_claim_on_the_gate_does_not_strand_a_newer_execution() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    let production = StageName::parse("production").unwrap();
    // The approval function marked the stage busy, then died before saving.
    world
        .engine
        .lanes
        .mark_waiting(&production, &a.id, false, world.now())
        .await
        .unwrap();
    world.advance(Duration::minutes(1));
    let b = world.to_the_gate(&commit(2)).await;
    assert_eq!(status_of(&b, "production"), StageStatus::Preparing);
    world.engine.sweep(10).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&b.id).await, "production"),
        StageStatus::Preparing,
        "a decision may still be in flight"
    );
    world.advance(Duration::minutes(16));
    world.engine.sweep(10).await.unwrap();
    assert_eq!(world.execution(&a.id).await.status, Status::Superseded);
    assert_eq!(
        status_of(&world.execution(&b.id).await, "production"),
        StageStatus::AwaitingApproval
    );
}

/// Found by the simulation (seed 589): when a newer execution replaced a queued one
/// in the lane and the handler died before marking the queued one superseded, the
/// lane forgot it and it waited, preparing, behind nothing.
#[tokio::test]
async fn a_queued_execution_the_lane_forgot_is_superseded_by_the_sweeper() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    world.decide(&a.id, "approve", "Grace").await;
    world.advance(Duration::minutes(1));
    let b = world.to_the_gate(&commit(2)).await;
    assert_eq!(
        status_of(&b, "production"),
        StageStatus::Preparing,
        "queued behind A's deploy"
    );
    // A newer execution asks for the stage; its handler dies before telling B.
    let production = StageName::parse("production").unwrap();
    let newer = sluice_core::ExecutionId::new(
        world.now() + Duration::minutes(1),
        &sluice_core::CommitId::parse(&commit(3)).unwrap(),
    );
    world
        .engine
        .lanes
        .acquire(&production, &newer, world.now())
        .await
        .unwrap();
    world.engine.sweep(10).await.unwrap();
    let b = world.execution(&b.id).await;
    assert_eq!(b.status, Status::Superseded, "{:?}", b.timeline);
    assert_eq!(b.superseded_by.as_ref(), Some(&newer));
}

/// Found in review: a stale request for an approval (the sweeper's, say), run after
/// the approval, must not mark the deploying stage as merely waiting, or a newer
/// execution would take it while the deployment runs.
#[tokio::test]
async fn a_stale_approval_request_does_not_free_a_deploying_stage() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    world.decide(&a.id, "approve", "Grace").await;
    let production = StageName::parse("production").unwrap();
    world
        .engine
        .run(
            a.clone(),
            vec![sluice_core::Command::RequestApproval { stage: production }],
        )
        .await
        .unwrap();
    world.advance(Duration::minutes(1));
    let b = world.to_the_gate(&commit(2)).await;
    assert_eq!(
        status_of(&b, "production"),
        StageStatus::Preparing,
        "B waits for A's deployment: {:?}",
        b.timeline
    );
    assert_eq!(world.deployer.deploying(), vec![PRODUCTION.to_owned()]);
    assert_eq!(
        status_of(&world.execution(&a.id).await, "production"),
        StageStatus::Deploying
    );
}
