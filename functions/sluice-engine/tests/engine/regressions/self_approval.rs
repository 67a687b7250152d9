//! Whoever pushed a commit does not approve its deploy to production (issue 30, item
//! 7), through the link, a newer push or a rollback.

use super::*;

/// The answer refused an approval as the approver's own.
fn refused_as_self_approval(answer: &sluice_engine::operator::Answer) {
    assert!(!answer.ok, "{}", answer.message);
    assert!(
        answer.message.contains("someone else's approval"),
        "{}",
        answer.message
    );
}

/// Issue 30, item 7: whoever pushed a commit cannot approve its production deploy
/// with their own identity; another person can (two sessions of one role are two
/// people: `same_identity`'s test), and so can the pusher where the stack allows it.
#[tokio::test]
async fn the_pusher_cannot_approve_their_own_commit_but_someone_else_can() {
    // The fixture's push is by arn:aws:iam::123456789012:user/ada.
    const ADA: &str = "arn:aws:iam::123456789012:user/ada";
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    assert_eq!(a.started_by.as_deref(), Some(ADA));

    let approve = || {
        let mut command = operator("approve", &a.id);
        command.issued_at = world.now();
        command
    };
    let answer = world
        .engine
        .operate(ADA, approve())
        .await
        .expect("answered");
    refused_as_self_approval(&answer);
    let still = world.execution(&a.id).await;
    assert_eq!(
        status_of(&still, "production"),
        StageStatus::AwaitingApproval
    );
    assert!(world.deployer.deploying().is_empty());
    // Another identity approves.
    let answer = world.operate(approve()).await;
    assert!(answer.ok, "{}", answer.message);

    // Where the stack allows it, the pusher approves their own.
    let world = World::of(sluice_tests::world::config_of(
        &sluice_tests::world::DEFINITION
            .replace("approval: true", "approval: true\n    self_approval: true"),
        &[],
    ));
    let b = world.to_the_gate(&commit(2)).await;
    let mut command = operator("approve", &b.id);
    command.issued_at = world.now();
    let answer = world.engine.operate(ADA, command).await.expect("answered");
    assert!(answer.ok, "{}", answer.message);
}

/// Issue 30, item 7, on the link: the page cannot know who opened it, but when the
/// name typed is the commit's author's it says so, and records the name as typed.
#[tokio::test]
async fn the_link_page_warns_when_the_name_typed_is_the_commit_authors() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    // The in-memory CodeCommit's commits are by "Ada Lovelace <ada@example.com>".
    let (status, page) = world.decide(&a.id, "approve", "ada%20lovelace").await;
    assert_eq!(status.as_u16(), 200, "{page}");
    assert!(
        page.contains("the name you typed is the commit&#39;s author&#39;s"),
        "{page}"
    );
    let decision = world.execution(&a.id).await.stages[1]
        .approval
        .clone()
        .and_then(|a| a.decision)
        .expect("recorded");
    assert_eq!(decision.by, "ada lovelace");
    assert!(!decision.by_identity);

    let world = World::new();
    let b = world.to_the_gate(&commit(2)).await;
    let (_, page) = world.decide(&b.id, "approve", "Grace").await;
    assert!(!page.contains("the name you typed"), "{page}");
}

/// Issue 30, item 7, as an attacker reads it: the rule covers what a deploy brings,
/// not only the head. A newer push carries the older commit it took the gate from,
/// so the older commit's pusher cannot approve it; nor can a pusher send their own
/// unapproved commit to production as a "rollback" and confirm it themselves.
#[tokio::test]
async fn a_pusher_cannot_approve_a_newer_push_carrying_their_commit_nor_a_rollback_to_it() {
    const ADA: &str = "arn:aws:iam::123456789012:user/ada";
    const BOB: &str = "arn:aws:sts::123456789012:assumed-role/developers/bob";
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    world.advance(Duration::minutes(1));
    world.commits.set_head(&commit(2));
    let mut event = World::push_event(&commit(2), world.now());
    event["detail"]["callerUserArn"] = Value::String(BOB.into());
    world.engine.on_push(event).await.expect("push handled");
    let b = world.execution_of(&commit(2)).await;
    assert_eq!(b.started_by.as_deref(), Some(BOB));
    world.build_succeeds(&b, "template of b").await;
    world
        .deliver_stack(world.settle(STAGING))
        .await
        .expect("staging");
    let b = world.execution(&b.id).await;
    assert_eq!(status_of(&b, "production"), StageStatus::AwaitingApproval);
    let approve = |id: &sluice_core::ExecutionId| {
        let mut command = operator("approve", id);
        command.issued_at = world.now();
        command
    };
    let answer = world
        .engine
        .operate(ADA, approve(&b.id))
        .await
        .expect("answered");
    assert!(!answer.ok, "{}", answer.message);
    assert!(
        answer.message.contains(&commit(1)[..12]),
        "{}",
        answer.message
    );

    // Ada asks for a "rollback" of production to her own commit, never live there.
    let mut asked = rollback("production", Some(&a.id));
    asked.issued_at = world.now();
    let answer = world.engine.operate(ADA, asked).await.expect("answered");
    assert!(answer.ok, "{}", answer.message);
    let id = sluice_core::ExecutionId::parse(answer.execution.as_deref().expect("created"))
        .expect("an id");
    let answer = world
        .engine
        .operate(ADA, approve(&id))
        .await
        .expect("answered");
    refused_as_self_approval(&answer);
}
