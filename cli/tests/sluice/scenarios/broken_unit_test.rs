//! A commit whose unit test fails: the build fails, its email links the log, and no
//! stage deploys.

use sluice_core::Status;
use sluice_local::demo;

use super::harness::{Run, SETTLE};

pub(super) async fn story(run: &Run) {
    run.begin("a broken unit test").await;
    let before = run.stacks().await;
    run.change("template.yaml", "from ${StageName}", "from nowhere");
    run.commit("hello-api: expect the wrong stage").await;
    let commit = run.push().await;

    let done = run.finished(&commit).await;
    assert_eq!(done.status, Status::Failed);
    let reason = done.reason.clone().unwrap_or_default();
    assert!(reason.contains("PRE_BUILD"), "names the phase: {reason}");
    assert!(reason.contains("sh test.sh"), "names the command: {reason}");

    let email = run
        .local
        .outbox
        .wait_for(SETTLE, |m| {
            m.body.contains("PRE_BUILD") && m.body.contains(done.id.as_str())
        })
        .await
        .expect("a failure email naming the phase");
    let log = email
        .body
        .split_whitespace()
        .find(|w| w.contains("/builds/") && w.ends_with("/log"))
        .unwrap_or_else(|| panic!("the email links the log: {}", email.body))
        .to_owned();
    let (status, text) = demo::call(&log).await.expect("fetch the log");
    assert_eq!(status, 200);
    assert!(text.contains("test result: FAILED"), "{text}");

    assert_eq!(run.stacks().await, before, "no stage deployed");
}
