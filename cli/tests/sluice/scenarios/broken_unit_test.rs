//! A commit whose unit test fails: the build fails, its email links the log, and no
//! stage deploys.

use sluice_core::Status;
use sluice_local::demo::{self, follow};

use super::{App, GATE, SETTLE, never_deployed, start};

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_unit_test_fails_the_build_and_deploys_nothing() {
    let run = start(App::Quick).await;
    let template = run.checkout.dir.join("template.yaml");
    let source = std::fs::read_to_string(&template).expect("read template.yaml");
    let broken = source.replacen("from ${StageName}", "from nowhere", 1);
    assert_ne!(source, broken, "the quick app changed: update this test");
    std::fs::write(&template, broken).expect("write template.yaml");
    let commit = run
        .checkout
        .commit("hello-api: expect the wrong stage")
        .await
        .expect("commit");
    run.checkout.push().await.expect("push");

    let done = follow(&run.local, &commit, GATE, |e| e.status.is_terminal())
        .await
        .expect("the execution finishes");
    assert_eq!(done.status, Status::Failed);
    let reason = done.reason.clone().unwrap_or_default();
    assert!(reason.contains("PRE_BUILD"), "names the phase: {reason}");
    assert!(reason.contains("sh test.sh"), "names the command: {reason}");

    let email = run
        .local
        .outbox
        .wait_for(SETTLE, |m| m.body.contains("PRE_BUILD"))
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

    assert!(never_deployed(&run.local, "hello-api-staging").await);
    assert!(never_deployed(&run.local, "hello-api-production").await);
}
