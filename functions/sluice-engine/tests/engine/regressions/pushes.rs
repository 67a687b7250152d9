//! Pushes delivered late, in the same second, or again: each push is one execution,
//! and an older push never deploys over a newer one.

use super::*;

/// 4. A late delivery of an older push is older: it never replaces the branch head.
#[tokio::test]
async fn an_older_push_delivered_late_is_superseded_at_once() {
    let world = World::new();
    let (c1, c2) = (commit(1), commit(2));
    let pushed_c1 = world.now();
    let late_c1 = World::push_event(&c1, pushed_c1);
    world.advance(Duration::minutes(1));
    let b = world.to_the_gate(&c2).await;
    world.advance(Duration::minutes(1));
    world.engine.on_push(late_c1).await.unwrap();
    let a = world.execution_of(&c1).await;
    assert_eq!(a.status, Status::Superseded, "{:?}", a.timeline);
    assert_eq!(
        world.builder.requests().len(),
        1,
        "no build for the outdated push"
    );
    assert_eq!(
        status_of(&world.execution(&b.id).await, "production"),
        StageStatus::AwaitingApproval
    );
}

/// 4b. Without the branch head, the push's own time still orders it: the older
/// commit is outdated at the first stage the newer one reached.
#[tokio::test]
async fn an_older_push_never_deploys_over_a_newer_one() {
    let world = World::new();
    let (c1, c2) = (commit(1), commit(2));
    let late_c1 = World::push_event(&c1, world.now());
    world.advance(Duration::minutes(1));
    let b = world.to_the_gate(&c2).await;
    world.advance(Duration::minutes(1));
    world.commits.clear_head();
    world.engine.on_push(late_c1).await.unwrap();
    let a = world.execution_of(&c1).await;
    world
        .build_succeeds(&a, "template of the older commit")
        .await;
    let a = world.execution(&a.id).await;
    assert_eq!(a.status, Status::Superseded, "{:?}", a.timeline);
    assert_eq!(a.superseded_by.as_ref(), Some(&b.id));
    assert_eq!(
        world.deployer.template(STAGING).as_deref(),
        Some(format!("template of {c2}").as_str())
    );
    assert_eq!(
        status_of(&world.execution(&b.id).await, "production"),
        StageStatus::AwaitingApproval
    );
}

/// 4c. Two pushes in the same second (event times are whole seconds) order as
/// they happened.
#[tokio::test]
async fn two_pushes_in_one_second_order_as_they_happened() {
    let world = World::new();
    // The newer commit sorts after the older one, so only the order of pushes decides.
    let (c1, c2) = (commit(3), commit(7));
    let a = world.to_the_gate(&c1).await;
    world.commits.set_head(&c2);
    let same_second = World::push_from(&c2, &c1, a.id.time());
    world.engine.on_push(same_second).await.unwrap();
    let b = world.execution_of(&c2).await;
    assert!(
        sluice_core::lane::is_newer(&b.id, &a.id),
        "{} vs {}",
        b.id,
        a.id
    );
    world
        .build_succeeds(&b, "template of the newer commit")
        .await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    assert_eq!(world.execution(&a.id).await.status, Status::Superseded);
    assert_eq!(
        status_of(&world.execution(&b.id).await, "production"),
        StageStatus::AwaitingApproval
    );
}

/// 7. A new push of a commit whose execution ended delivers it again; duplicates of
/// one push still start one build.
#[tokio::test]
async fn a_new_push_of_a_failed_commit_delivers_it_again() {
    let world = World::new();
    let c = commit(1);
    let first = world.push(&c).await;
    let duplicate = World::push_event(&c, world.now());
    world.engine.on_push(duplicate).await.unwrap();
    assert_eq!(world.builder.requests().len(), 1);
    let failed = World::build_event("codebuild-failed.json", &first);
    world.engine.on_build(failed).await.unwrap();
    assert_eq!(world.execution(&first.id).await.status, Status::Failed);

    world.advance(Duration::minutes(5));
    let second = world.push(&c).await;
    assert_ne!(second.id, first.id);
    assert_eq!(second.status, Status::Building);
    assert_eq!(world.builder.requests().len(), 2);
}

/// 15. A push delivered again after the execution of the commit before it appeared is
/// still one push: the second delivery once saw that execution, moved the push's time
/// after it, and so made a second execution of the same commit (found by the soak).
#[tokio::test]
async fn a_push_redelivered_after_the_commit_before_it_appeared_is_one_execution() {
    let world = World::new();
    let (c1, c2, c3) = (commit(3), commit(5), commit(7));
    let second = world.now();
    // Three pushes in one second; the branch ends on c3, so c1 and c2 are outdated.
    world.commits.set_head(&c3);
    let push_c1 = World::push_event(&c1, second);
    let push_c2 = World::push_from(&c2, &c1, second);
    // c2's push arrives first, then c1's, then c2's again.
    world.engine.on_push(push_c2.clone()).await.unwrap();
    world.engine.on_push(push_c1).await.unwrap();
    world.engine.on_push(push_c2).await.unwrap();
    let of_c2: Vec<_> = world
        .executions()
        .await
        .into_iter()
        .filter(|e| e.commit.id.as_str() == c2)
        .map(|e| e.id)
        .collect();
    assert_eq!(of_c2.len(), 1, "executions of c2: {of_c2:?}");
    assert_eq!(
        world.builder.requests().len(),
        0,
        "outdated pushes build nothing"
    );
}

/// 17. A push delivered again after an older push of the same commit arrived late is
/// still one push: the late one's execution took the commit's marker, which then no
/// longer named the first delivery, so its copy made a second execution (found by
/// the simulation, seed 19975 of 40,000).
#[tokio::test]
async fn a_push_redelivered_after_a_late_older_push_of_its_commit_is_one_execution() {
    let world = World::new();
    let (c1, c2) = (commit(1), commit(2));
    let first = world.now();
    world.advance(Duration::minutes(2));
    let second = world.now();
    // c1 pushed, then c2, then c1 again; the branch has moved on since.
    world.commits.set_head(&commit(4));
    let push_first = World::push_event(&c1, first);
    let push_c2 = World::push_from(&c2, &c1, first);
    let push_again = World::push_from(&c1, &c2, second);
    // c1's second push arrives first; then c2's, ordered after it; then c1's first
    // push, late; then c1's second push again.
    world.engine.on_push(push_again.clone()).await.unwrap();
    world.engine.on_push(push_c2).await.unwrap();
    world.engine.on_push(push_first).await.unwrap();
    world.engine.on_push(push_again).await.unwrap();
    let of_c1 = world
        .executions()
        .await
        .into_iter()
        .filter(|e| e.commit.id.as_str() == c1)
        .count();
    assert_eq!(of_c1, 2, "one execution per push of c1");
}

/// 19. A commit pushed again within the same second, after the branch moved away from
/// it and back (c1 → c2 → c3 → c2), is delivered again: its first execution was
/// superseded at once by c3, c3's own event had not arrived, and the second push
/// took the first one's execution id, so it was taken for a copy of the first and
/// nothing delivered c2, the branch's head (simulation seed 13528 of 40,000, with path
/// filters, whose last-push promise checks this).
#[tokio::test]
async fn a_commit_pushed_again_in_the_same_second_is_delivered_again() {
    let world = World::new();
    let (c1, c2, c3) = (commit(1), commit(2), commit(3));
    world.push(&c1).await;
    let at = world.now() + Duration::minutes(1);
    let first_c2 = World::push_from(&c2, &c1, at);
    let back_to_c2 = World::push_from(&c2, &c3, at);
    // The first push of c2 arrives when the branch already points to c3.
    world.commits.set_head(&c3);
    world.engine.on_push(first_c2).await.unwrap();
    let superseded = world.execution_of(&c2).await;
    assert_eq!(superseded.status, Status::Superseded);
    // The branch moved back to c2; that push arrives before c3's own event.
    world.commits.set_head(&c2);
    world.engine.on_push(back_to_c2.clone()).await.unwrap();
    world.engine.on_push(back_to_c2).await.unwrap();
    let of_c2: Vec<_> = world
        .executions()
        .await
        .into_iter()
        .filter(|e| e.commit.id.as_str() == c2)
        .collect();
    assert_eq!(of_c2.len(), 2, "one execution per push of c2");
    assert!(
        of_c2.iter().any(|e| e.status == Status::Building),
        "{of_c2:#?}"
    );
}

/// 20. The branch moved c1 -> c2 -> c1 -> c2 within one second: the two pushes of c2
/// have the same time and the same old commit, and were taken for two deliveries of
/// one push, so the second, arriving after the first's execution was superseded by
/// c1, delivered nothing (simulation seeds 26386 of 40,000 and 94362 of 100,000).
/// EventBridge's event id tells them apart.
#[tokio::test]
async fn a_commit_pushed_twice_from_the_same_commit_in_one_second_is_delivered_twice() {
    let world = World::new();
    let (c1, c2) = (commit(1), commit(2));
    world.push(&c1).await;
    let at = world.now() + Duration::minutes(1);
    let mut first_c2 = World::push_from(&c2, &c1, at);
    first_c2["id"] = "event-1".into();
    let mut second_c2 = World::push_from(&c2, &c1, at);
    second_c2["id"] = "event-3".into();
    // The first push of c2 arrives when the branch is back on c1.
    world.commits.set_head(&c1);
    world.engine.on_push(first_c2.clone()).await.unwrap();
    assert_eq!(world.execution_of(&c2).await.status, Status::Superseded);
    // The branch is on c2 again; the second push arrives, and a copy of the first.
    world.commits.set_head(&c2);
    world.engine.on_push(second_c2.clone()).await.unwrap();
    world.engine.on_push(first_c2).await.unwrap();
    world.engine.on_push(second_c2).await.unwrap();
    let of_c2: Vec<_> = world
        .executions()
        .await
        .into_iter()
        .filter(|e| e.commit.id.as_str() == c2)
        .map(|e| e.status)
        .collect();
    assert_eq!(of_c2.len(), 2, "one execution per push of c2: {of_c2:?}");
    assert!(of_c2.contains(&Status::Building), "{of_c2:?}");
}
