//! Path filters: a push is delivered only when it changed a file the pipeline's paths
//! count, and a push that changed none of them neither starts an execution nor stops
//! one that must deliver an earlier change.

use chrono::Duration;
use sluice_core::Status;
use sluice_tests::world::{World, commit};

/// The back-end pipeline of a repository that also holds a front-end and documents.
fn back_end() -> World {
    World::with_paths(&["api/", "template.yaml"], &["**/*.md"])
}

/// Delivers the push of `new` from `old` now, the branch pointing at `new`.
async fn push_from(world: &World, new: &str, old: &str) {
    world.commits.set_head(new);
    let event = World::push_from(new, old, world.now());
    world.engine.on_push(event).await.expect("push handled");
}

async fn executions_of(world: &World, c: &str) -> usize {
    world
        .executions()
        .await
        .iter()
        .filter(|e| e.commit.id.as_str() == c)
        .count()
}

#[tokio::test]
async fn a_push_that_changes_only_other_files_starts_nothing() {
    let world = back_end();
    let (c1, c2, c3, c4) = (commit(1), commit(2), commit(3), commit(4));
    // A new branch has nothing to compare with: it is always delivered.
    let first = world.push(&c1).await;
    assert_eq!(first.status, Status::Building);

    world.advance(Duration::minutes(1));
    world
        .commits
        .set_changes(&c1, &c2, &["web/index.html", "README.md", "api/NOTES.md"]);
    push_from(&world, &c2, &c1).await;
    assert_eq!(executions_of(&world, &c2).await, 0, "outside the paths");

    world.advance(Duration::minutes(1));
    world
        .commits
        .set_changes(&c2, &c3, &["docs/guide.md", "api/src/main.rs"]);
    push_from(&world, &c3, &c2).await;
    assert_eq!(executions_of(&world, &c3).await, 1, "api/ is in the paths");

    world.advance(Duration::minutes(1));
    world.commits.set_changes(&c3, &c4, &["template.yaml"]);
    push_from(&world, &c4, &c3).await;
    assert_eq!(
        executions_of(&world, &c4).await,
        1,
        "template.yaml is listed"
    );

    let built: Vec<_> = world
        .builder
        .requests()
        .into_iter()
        .map(|r| r.source_version)
        .collect();
    assert_eq!(
        built,
        [c1, c3, c4],
        "one build per delivered push, none for c2"
    );
}

#[tokio::test]
async fn a_pipeline_without_paths_never_asks_what_changed() {
    let world = World::new();
    let (c1, c2) = (commit(1), commit(2));
    world.push(&c1).await;
    world.commits.set_changes(&c1, &c2, &["README.md"]);
    push_from(&world, &c2, &c1).await;
    assert_eq!(executions_of(&world, &c2).await, 1);
    assert_eq!(world.commits.difference_calls(), 0, "no request added");
}

#[tokio::test]
async fn a_push_whose_changes_cannot_be_read_is_delivered_or_retried() {
    let world = back_end();
    let (c1, c2, c3) = (commit(1), commit(2), commit(3));
    world.push(&c1).await;
    world.commits.set_changes(&c1, &c2, &["README.md"]);

    // Throttled: the event fails, to be delivered again, and nothing was created.
    world
        .commits
        .fail_differences(Some(("ThrottlingException", true)));
    world.commits.set_head(&c2);
    let event = World::push_from(&c2, &c1, world.now());
    world
        .engine
        .on_push(event.clone())
        .await
        .expect_err("a throttled read is retried");
    assert_eq!(executions_of(&world, &c2).await, 0);
    // Answered again: the same event is judged by what it changed.
    world.commits.fail_differences(None);
    world.engine.on_push(event).await.expect("push handled");
    assert_eq!(executions_of(&world, &c2).await, 0);

    // CodeCommit cannot say (the old commit is gone): better a build too many.
    world.advance(Duration::minutes(1));
    world
        .commits
        .fail_differences(Some(("CommitDoesNotExistException", false)));
    world.commits.set_changes(&c2, &c3, &["README.md"]);
    push_from(&world, &c3, &c2).await;
    assert_eq!(executions_of(&world, &c3).await, 1);
}

/// A push of c1 (api/) whose event arrives after c2 (documents only) was pushed: c2
/// will never be delivered, so c1 must be, not superseded "by the newer push".
#[tokio::test]
async fn a_commit_is_not_superseded_by_a_newer_head_outside_the_paths() {
    let world = back_end();
    let (c0, c1, c2) = (commit(10), commit(1), commit(2));
    world.push(&c0).await;
    world.advance(Duration::minutes(1));
    world.commits.set_changes(&c0, &c1, &["api/src/main.rs"]);
    world.commits.set_changes(&c1, &c2, &["README.md"]);
    let late_c1 = World::push_from(&c1, &c0, world.now());
    world.advance(Duration::seconds(5));
    push_from(&world, &c2, &c1).await;
    world.engine.on_push(late_c1).await.expect("push handled");

    let e1 = world.execution_of(&c1).await;
    assert_eq!(e1.status, Status::Building, "{:?}", e1.timeline);
    assert_eq!(executions_of(&world, &c2).await, 0);
}

/// The same, when CodeCommit cannot say what the newer head changed: c1 is
/// delivered (a build too many beats a change lost).
#[tokio::test]
async fn a_commit_is_not_superseded_by_a_head_whose_changes_are_unknown() {
    let world = back_end();
    let (c0, c1, c2) = (commit(10), commit(1), commit(2));
    world.push(&c0).await;
    world.advance(Duration::minutes(1));
    world.commits.set_changes(&c0, &c1, &["api/src/main.rs"]);
    let late_c1 = World::push_from(&c1, &c0, world.now());
    world.commits.set_head(&c2);
    // c1's own changes were read; then CodeCommit stops answering.
    world
        .commits
        .fail_differences_after(1, "CommitDoesNotExistException");
    world.engine.on_push(late_c1).await.expect("push handled");
    let e1 = world.execution_of(&c1).await;
    assert_eq!(e1.status, Status::Building, "{:?}", e1.timeline);
}

/// The same, but the newer head changed the API too: it is delivered, and it holds
/// c1's change, so c1 is superseded at once as before.
#[tokio::test]
async fn a_commit_is_superseded_by_a_newer_head_inside_the_paths() {
    let world = back_end();
    let (c0, c1, c2) = (commit(10), commit(1), commit(2));
    world.push(&c0).await;
    world.advance(Duration::minutes(1));
    world.commits.set_changes(&c0, &c1, &["api/src/main.rs"]);
    world.commits.set_changes(&c1, &c2, &["api/src/lib.rs"]);
    let late_c1 = World::push_from(&c1, &c0, world.now());
    world.advance(Duration::seconds(5));
    push_from(&world, &c2, &c1).await;
    world.engine.on_push(late_c1).await.expect("push handled");

    assert_eq!(world.execution_of(&c1).await.status, Status::Superseded);
    assert_eq!(world.execution_of(&c2).await.status, Status::Building);
}

/// Two pipelines fed by one repository must not send look-alike emails: one with
/// path filters names itself beside the repository.
#[tokio::test]
async fn a_pipeline_with_path_filters_names_itself_in_subjects() {
    let filtered = back_end();
    filtered.push(&commit(1)).await;
    let plain = World::new();
    plain.push(&commit(1)).await;
    let subjects = |world: &World| -> Vec<String> {
        world
            .notifier
            .sent()
            .into_iter()
            .map(|m| m.subject)
            .collect()
    };
    assert!(
        subjects(&filtered)
            .iter()
            .all(|s| s.starts_with("[hello-api hello] ")),
        "{:?}",
        subjects(&filtered)
    );
    assert!(
        subjects(&plain)
            .iter()
            .all(|s| s.starts_with("[hello-api] ")),
        "{:?}",
        subjects(&plain)
    );
    assert!(!subjects(&plain).is_empty() && !subjects(&filtered).is_empty());
}
