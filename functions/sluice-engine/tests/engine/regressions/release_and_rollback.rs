//! The operator's `release` of a commit of the branch, and `rollback` of a stage to
//! its previous artifact.

use super::*;

fn release(commit: Option<&str>) -> OperatorCommand {
    sluice_tests::world::command(sluice_engine::operator::Action::Release(
        sluice_engine::operator::Release {
            commit: commit.map(|c| sluice_core::CommitId::parse(c).expect("a commit id")),
        },
    ))
}

/// Issue 11: `release` delivers the branch head or an older commit of the branch, and
/// refuses a commit elsewhere, a malformed one, or one already being delivered.
#[tokio::test]
async fn a_release_delivers_a_commit_of_the_branch_and_refuses_anything_else() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let approved = world.operate(operator("approve", &a.id)).await;
    assert!(approved.ok, "{}", approved.message);
    world.deliver_stack(world.settle(PRODUCTION)).await.unwrap();
    assert_eq!(world.execution(&a.id).await.status, Status::Succeeded);
    world.advance(Duration::minutes(1));
    let b = world.push(&commit(2)).await;

    let busy = world.operate(release(None)).await;
    assert!(!busy.ok, "{}", busy.message);
    assert!(
        busy.message
            .contains(&format!("already being delivered by execution {}", b.id)),
        "{}",
        busy.message
    );
    world.commits.off_branch(&commit(9));
    let elsewhere = world.operate(release(Some(&commit(9)))).await;
    assert!(
        !elsewhere.ok && elsewhere.message.contains("is not on branch master"),
        "{}",
        elsewhere.message
    );
    let before = world.executions().await.len();

    // A delivered commit 1; releasing it again delivers it anew, newest of all.
    world.advance(Duration::minutes(1));
    let old = world.operate(release(Some(&commit(1)))).await;
    assert!(old.ok, "{}", old.message);
    assert!(
        old.message.contains("an older commit of master"),
        "{}",
        old.message
    );
    let all = world.executions().await;
    assert_eq!(all.len(), before + 1);
    let released = world.execution_of(&commit(1)).await;
    assert_ne!(released.id, a.id);
    assert_eq!(released.status, Status::Building);
    assert!(released.build.id.is_some(), "its build started");
    assert_eq!(
        released.timeline[0].what,
        format!(
            "release of {} on master asked for by {OPS}",
            &commit(1)[..12]
        )
    );
}

/// Issue 11: a rollback deploys the previous successful artifact of a stage, once
/// confirmed, and says before that what it will change.
#[tokio::test]
async fn a_rollback_redeploys_the_previous_artifact_once_confirmed() {
    let world = World::new();
    let refused = world.operate(rollback("staging", None)).await;
    assert!(
        !refused.ok && refused.message.contains("nothing was ever deployed"),
        "{}",
        refused.message
    );
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let only = world.operate(rollback("staging", None)).await;
    assert!(
        !only.ok && only.message.contains("one commit only"),
        "{}",
        only.message
    );
    world.advance(Duration::minutes(1));
    let b = world.push(&commit(2)).await;
    world.build_succeeds(&b, "template B").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    assert_eq!(
        world.deployer.template(STAGING).as_deref(),
        Some("template B")
    );

    let wrong = world.operate(rollback("qa", None)).await;
    assert!(
        !wrong.ok && wrong.message.contains("its stages are staging, production"),
        "{}",
        wrong.message
    );
    world.advance(Duration::minutes(1));
    let answer = world.operate(rollback("staging", None)).await;
    assert!(answer.ok, "{}", answer.message);
    assert!(
        answer
            .message
            .contains(&format!("back to commit {}", &commit(1)[..12])),
        "{}",
        answer.message
    );
    assert!(
        answer.message.contains("It will change 1 resource:"),
        "{}",
        answer.message
    );
    assert_eq!(answer.awaiting.as_deref(), Some("staging"));
    let id = sluice_core::ExecutionId::parse(answer.execution.as_deref().unwrap()).unwrap();
    // Nothing changes until someone confirms.
    assert_eq!(
        world.deployer.template(STAGING).as_deref(),
        Some("template B")
    );
    let confirmed = world.operate(operator("approve", &id)).await;
    assert!(confirmed.ok, "{}", confirmed.message);
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let done = world.execution(&id).await;
    assert_eq!(done.status, Status::Succeeded, "{:?}", done.timeline);
    assert_eq!(done.rollback_of.as_ref(), Some(&a.id));
    assert_eq!(
        world.deployer.template(STAGING).as_deref(),
        Some("template A")
    );
}
