//! A stage that deploys only in its window: an approval outside it is kept, and the
//! sweeper deploys when the window opens.

use super::*;

/// Production deploys only on Saturdays from 10:00 to 11:00 UTC; the tests' clock
/// starts on a Friday morning.
#[tokio::test]
async fn an_approval_outside_the_window_is_kept_and_the_sweeper_deploys_when_it_opens() {
    let world = World::of(sluice_tests::world::config_of(
        &format!(
            "{}    windows: {{when: Sat 10:00-11:00}}\n",
            sluice_tests::world::DEFINITION
        ),
        &[],
    ));
    let a = world.to_the_gate(&commit(1)).await;
    let mail = world
        .messages_about("approval needed")
        .pop()
        .expect("asked");
    assert!(
        mail.body
            .contains("production deploys only in its window, Sat 10:00-11:00 (UTC)"),
        "{}",
        mail.body
    );
    let (_, page) = world.review(&a.id).await;
    assert!(
        page.contains("production deploys only in its window, Sat 10:00-11:00 (UTC)"),
        "{page}"
    );

    let (status, page) = world.decide(&a.id, "approve", "Grace").await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("<h1>Approved, waiting for the deployment window</h1>")
            && page.contains("when the window opens, Sat 21 Nov 2026 10:00 UTC"),
        "{page}"
    );
    let a = world.execution(&a.id).await;
    assert_eq!(status_of(&a, "production"), StageStatus::AwaitingWindow);
    let production_runs = || {
        world
            .deployer
            .executed_change_sets()
            .into_iter()
            .filter(|(.., stack, _)| stack == sluice_tests::world::PRODUCTION)
            .count()
    };
    assert_eq!(production_runs(), 0);

    // The sweeper leaves it before the window, and deploys it once the window opens.
    world.engine.sweep(10).await.expect("sweep");
    assert_eq!(
        status_of(&world.execution(&a.id).await, "production"),
        StageStatus::AwaitingWindow
    );
    world.advance(chrono::Duration::hours(24));
    world.engine.sweep(10).await.expect("sweep");
    let a = world.execution(&a.id).await;
    assert_eq!(status_of(&a, "production"), StageStatus::Deploying);
    assert_eq!(production_runs(), 1);
    world
        .deliver_stack(world.settle(sluice_tests::world::PRODUCTION))
        .await
        .unwrap();
    assert_eq!(world.execution(&a.id).await.status, Status::Succeeded);
}
