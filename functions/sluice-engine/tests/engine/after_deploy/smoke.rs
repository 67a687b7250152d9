//! What the stages before showed, for the approver (a post-deploy test, or the smoke
//! check's call of the stack's addresses), and a stage gated by its smoke check.

use super::*;

/// Issue 30, item 3: the approver sees, above the change, what the stages before
/// showed: staging deployed and when, its post-deploy test passed (with its log), or a
/// warning that nothing tested it.
#[tokio::test]
async fn the_approval_shows_what_staging_showed_its_test_or_a_warning_that_nothing_tested_it() {
    let world = tested();
    let a = deployed_to_staging(&world, &commit(1), "template A").await;
    let passed = world.test_event("codebuild-succeeded.json", &a, "staging");
    world.engine.on_build(passed).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(status_of(&a, "production"), StageStatus::AwaitingApproval);
    let email = &world.messages_about("approval needed")[0].body;
    assert!(email.contains("Before this stage:"), "{email}");
    assert!(
        email.contains("staging: deployed, passed ") && email.contains("; post-deploy test passed"),
        "{email}"
    );
    assert!(email.contains("    test log: https://"), "{email}");
    let (_, page) = world.review(&a.id).await;
    assert!(page.contains("<h2>Before this stage</h2>"), "{page}");
    assert!(page.contains("post-deploy test passed"), "{page}");
    assert!(page.contains(">test log</a>"), "{page}");

    // Without a test, and with no address for the smoke check to call, the approver
    // is warned that nothing checked staging works.
    let world = World::new();
    let b = world.to_the_gate(&commit(2)).await;
    let email = &world.messages_about("approval needed")[0].body;
    assert!(
        email.contains("! staging: deployed, passed ")
            && email.contains("smoke check: no web address among the stack's outputs"),
        "{email}"
    );
    let (_, page) = world.review(&b.id).await;
    assert!(
        page.contains("<li class=\"warn\">staging: deployed"),
        "{page}"
    );
}

const API: &str = "https://abc123.execute-api.us-east-1.amazonaws.com/Prod/hello";

#[tokio::test]
async fn an_untested_stage_calls_its_stacks_addresses_once_and_the_approver_sees_a_5xx_as_a_warning()
 {
    let world = World::new();
    world.deployer.set_output(STAGING, "ApiUrl", API);
    world.deployer.set_output(STAGING, "Table", "hello-table");
    world.prober.answer(API, Answer::Status { code: 502 });
    let a = world.to_the_gate(&commit(1)).await;
    assert_eq!(world.prober.calls(), [API], "one call, to the one address");
    // It only warns: production still asks for approval.
    assert_eq!(status_of(&a, "production"), StageStatus::AwaitingApproval);
    let email = &world.messages_about("approval needed")[0].body;
    assert!(
        email.contains("! staging: deployed, passed ")
            && email.contains(
                "no post-deploy test; smoke check: ApiUrl \
                 (abc123.execute-api.us-east-1.amazonaws.com) answered 502"
            ),
        "{email}"
    );
    let (_, page) = world.review(&a.id).await;
    assert!(
        page.contains("<li class=\"warn\">staging: deployed")
            && page.contains("(abc123.execute-api.us-east-1.amazonaws.com) answered 502"),
        "{page}"
    );

    // An address that answers is evidence, without a warning.
    let world = World::new();
    world.deployer.set_output(STAGING, "ApiUrl", API);
    world.prober.answer(API, Answer::Status { code: 200 });
    let b = world.to_the_gate(&commit(2)).await;
    let email = &world.messages_about("approval needed")[0].body;
    assert!(
        email.contains("  staging: deployed, passed ")
            && email.contains("smoke check: ApiUrl (abc123.execute-api")
            && email.contains(") answered 200"),
        "{email}"
    );
    let (_, page) = world.review(&b.id).await;
    assert!(page.contains("<li>staging: deployed"), "{page}");
}

#[tokio::test]
async fn a_stage_gated_by_its_smoke_check_goes_back_when_its_api_gives_no_answer() {
    let world = World::of(with_staging("    test: smoke\n"));
    world.deployer.set_output(STAGING, "ApiUrl", API);
    world.prober.answer(API, Answer::Status { code: 200 });
    let a = deployed_to_staging(&world, &commit(1), "template A").await;
    assert_eq!(status_of(&a, "staging"), StageStatus::Succeeded);

    world.advance(chrono::Duration::minutes(5));
    world.prober.answer(
        API,
        Answer::NoAnswer {
            reason: "no answer within 10 s".into(),
        },
    );
    let b = deployed_to_staging(&world, &commit(2), "template B").await;
    assert_eq!(status_of(&b, "staging"), StageStatus::RollingBack);
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    assert_eq!(
        world.deployer.template(STAGING).as_deref(),
        Some("template A"),
        "A's release is live again"
    );
    let b_now = world.execution(&b.id).await;
    assert_eq!(b_now.status, Status::Failed);
    assert_eq!(status_of(&b_now, "production"), StageStatus::Pending);
    let reason = b_now.reason.clone().unwrap();
    assert!(
        reason.starts_with("smoke check failed: ApiUrl (") && reason.contains("gave no answer"),
        "{reason}"
    );
}
