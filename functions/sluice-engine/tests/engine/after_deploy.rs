//! After the deploy: a stage's post-deploy test decides whether its release stays,
//! and a failed test puts the release that was live before back, through the engine
//! over the in-memory AWS fakes.

use sluice_core::smoke::Answer;
use sluice_core::{BuildStatus, StageName, StageStatus, Status};
use sluice_tests::world::{STAGING, World, commit, config_with};

fn status_of(execution: &sluice_core::Execution, stage: &str) -> StageStatus {
    execution
        .stage(&StageName::parse(stage).unwrap())
        .map(|s| s.status)
        .unwrap()
}

/// A pipeline whose staging deploys are tested.
fn tested() -> World {
    World::of(config_with(&[("SLUICE_TEST_STAGES", "staging")]))
}

/// Pushes `commit`, builds it with `template` and ends its staging deploy: its test
/// is running.
async fn deployed_to_staging(
    world: &World,
    commit: &str,
    template: &str,
) -> sluice_core::Execution {
    let execution = world.push(commit).await;
    world.build_succeeds(&execution, template).await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    world.execution(&execution.id).await
}

#[tokio::test]
async fn the_test_runs_the_commit_with_the_stacks_outputs_and_its_success_opens_the_next_stage() {
    let world = tested();
    world
        .deployer
        .set_output(STAGING, "ApiUrl", "https://api.example/staging/");
    let a = deployed_to_staging(&world, &commit(1), "template A").await;
    assert_eq!(status_of(&a, "staging"), StageStatus::Testing);
    let request = world
        .builder
        .requests()
        .pop()
        .expect("the test was started");
    assert_eq!(request.buildspec.as_deref(), Some("buildspec-test.yml"));
    assert_eq!(request.source_version, commit(1));
    for variable in [
        ("SLUICE_TEST_STAGE", "staging"),
        ("SLUICE_STACK_NAME", STAGING),
        ("SLUICE_OUTPUT_ApiUrl", "https://api.example/staging/"),
    ] {
        assert!(
            request
                .environment
                .contains(&(variable.0.to_owned(), variable.1.to_owned())),
            "{variable:?} missing from {:?}",
            request.environment
        );
    }
    // The test build's own events move the stage; the build's artifact is untouched.
    let started = world.test_event("codebuild-in-progress.json", &a, "staging");
    world.engine.on_build(started).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(
        a.stages[0].test_run.as_ref().map(|r| r.status),
        Some(BuildStatus::Running)
    );
    let passed = world.test_event("codebuild-succeeded.json", &a, "staging");
    world.engine.on_build(passed).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(status_of(&a, "staging"), StageStatus::Succeeded);
    assert_eq!(status_of(&a, "production"), StageStatus::AwaitingApproval);
}

#[tokio::test]
async fn a_failed_test_puts_the_previous_release_back_and_says_so() {
    let world = tested();
    let a = deployed_to_staging(&world, &commit(1), "template A").await;
    let passed = world.test_event("codebuild-succeeded.json", &a, "staging");
    world.engine.on_build(passed).await.unwrap();

    world.advance(chrono::Duration::minutes(5));
    let b = deployed_to_staging(&world, &commit(2), "template B").await;
    assert_eq!(
        world.deployer.template(STAGING).as_deref(),
        Some("template B")
    );
    let failed = world.test_event("codebuild-failed.json", &b, "staging");
    world.engine.on_build(failed).await.unwrap();
    let b_now = world.execution(&b.id).await;
    assert_eq!(status_of(&b_now, "staging"), StageStatus::RollingBack);
    let rollback = b_now.stages[0].rollback.clone().expect("rollback recorded");
    assert_eq!(rollback.to.as_ref(), Some(&a.id));

    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    assert_eq!(
        world.deployer.template(STAGING).as_deref(),
        Some("template A"),
        "A's release is live again"
    );
    let b_now = world.execution(&b.id).await;
    assert_eq!(b_now.status, Status::Failed);
    assert_eq!(status_of(&b_now, "staging"), StageStatus::RolledBack);
    assert_eq!(status_of(&b_now, "production"), StageStatus::Pending);
    let reason = b_now.reason.clone().unwrap();
    assert!(
        reason.starts_with("post-deploy test failed: phase BUILD FAILED"),
        "{reason}"
    );
    assert!(
        reason.contains(&format!(
            "rolled back: commit {} (execution {})",
            &commit(1)[..12],
            a.id
        )),
        "{reason}"
    );
    let mail = world.messages_about("FAILED at staging");
    let body = &mail.last().expect("a failure was announced").body;
    assert!(body.contains("read the post-deploy test's log"), "{body}");
    assert!(
        body.contains(&format!("Live again:    commit {}", &commit(1)[..12])),
        "{body}"
    );
}

#[tokio::test]
async fn a_failed_test_with_nothing_to_go_back_to_is_a_loud_failure() {
    let world = tested();
    let a = deployed_to_staging(&world, &commit(1), "template A").await;
    let failed = world.test_event("codebuild-failed.json", &a, "staging");
    world.engine.on_build(failed).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(status_of(&a, "staging"), StageStatus::RollbackFailed);
    let reason = a.reason.clone().unwrap();
    assert!(
        reason.contains("ROLLBACK FAILED: no earlier release of staging"),
        "{reason}"
    );
    assert_eq!(world.messages_about("ROLLBACK FAILED at staging").len(), 1);
}

#[tokio::test]
async fn the_sweeper_finds_a_test_whose_events_were_lost() {
    let world = tested();
    let a = deployed_to_staging(&world, &commit(1), "template A").await;
    let token = a.test_token(&StageName::parse("staging").unwrap());
    let build = world.builder.build_for(&token).expect("test started");
    let a = world.execution(&a.id).await;
    assert_eq!(
        a.stages[0]
            .test_run
            .as_ref()
            .and_then(|r| r.build_id.clone()),
        Some(build.clone())
    );
    world.builder.set_outcome(
        &build,
        sluice_adapters::builder::BuildOutcome::Failed {
            reason: "phase BUILD FAILED: smoke test".into(),
            cause: sluice_core::Cause::Change,
        },
    );
    world.engine.sweep(10).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(status_of(&a, "staging"), StageStatus::RollbackFailed);
    assert!(a.reason.unwrap().contains("phase BUILD FAILED: smoke test"));
}

/// A pipeline whose stages retry twice, the first retry a minute after the failure.
fn retrying() -> World {
    World::of(config_with(&[
        ("SLUICE_TEST_STAGES", "staging"),
        ("SLUICE_RETRIES", "staging=2"),
    ]))
}

#[tokio::test]
async fn a_throttled_deploy_is_retried_after_its_wait_and_succeeds() {
    let world = retrying();
    world.deployer.throttle_next_deploy(STAGING);
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(
        status_of(&a, "staging"),
        StageStatus::Retrying,
        "{:?}",
        a.timeline
    );
    let retry = a.stages[0].retrying.clone().expect("a retry is waiting");
    assert_eq!(retry.at, world.now() + chrono::Duration::minutes(1));
    assert!(retry.reason.contains("Rate exceeded"), "{}", retry.reason);

    // Not before its time; then the sweeper starts it again from a new change set.
    world.engine.sweep(10).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&a.id).await, "staging"),
        StageStatus::Retrying
    );
    world.advance(chrono::Duration::minutes(1));
    world.engine.sweep(10).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(status_of(&a, "staging"), StageStatus::Deploying);
    assert_eq!((a.stages[0].attempt, a.stages[0].retries), (1, 1));
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let passed = world.test_event(
        "codebuild-succeeded.json",
        &world.execution(&a.id).await,
        "staging",
    );
    world.engine.on_build(passed).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(status_of(&a, "staging"), StageStatus::Succeeded);
    assert!(
        a.timeline
            .iter()
            .any(|l| l.what.contains("worth retrying: retry 1 of 2 of the stage")),
        "{:?}",
        a.timeline
    );
}

#[tokio::test]
async fn an_application_failure_is_not_retried_and_retries_run_out() {
    let world = retrying();
    // A template that fails however often it is tried: not retried.
    let a = world.push(&commit(1)).await;
    world
        .build_succeeds(
            &a,
            &format!("template A {}", sluice_adapters::memory::FAIL_DEPLOY),
        )
        .await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(
        (a.status, status_of(&a, "staging")),
        (Status::Failed, StageStatus::Failed)
    );
    assert_eq!(a.stages[0].retries, 0);

    // Throttled three times: two retries, then it fails, saying so.
    world.advance(chrono::Duration::minutes(5));
    let b = world.push(&commit(2)).await;
    world.build_succeeds(&b, "template B").await;
    for wait in [1, 2] {
        world.deployer.throttle_next_deploy(STAGING);
        world.deliver_stack(world.settle(STAGING)).await.unwrap();
        world.advance(chrono::Duration::minutes(wait));
        world.engine.sweep(10).await.unwrap();
    }
    world.deployer.throttle_next_deploy(STAGING);
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let b = world.execution(&b.id).await;
    assert_eq!(b.status, Status::Failed, "{:?}", b.timeline);
    let reason = b.reason.unwrap();
    assert!(reason.ends_with("(after 2 automatic retries)"), "{reason}");
}

/// CloudFormation refuses a change set while the stack is busy with another update:
/// the deployer's read of the stack's status (not the refusal's words) makes it a
/// failure of the moment, retried once the wait is over.
#[tokio::test]
async fn a_change_set_refused_by_a_stack_busy_with_another_update_is_retried() {
    let world = World::of(config_with(&[("SLUICE_RETRIES", "staging=2")]));
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    assert!(world.deployer.start_other_operation(STAGING));

    world.advance(chrono::Duration::minutes(1));
    let b = world.push(&commit(2)).await;
    world.build_succeeds(&b, "template B").await;
    let b = world.execution(&b.id).await;
    assert_eq!(
        status_of(&b, "staging"),
        StageStatus::Retrying,
        "{:?}",
        b.timeline
    );
    let retry = b.stages[0].retrying.clone().expect("a retry is waiting");
    assert!(
        retry.reason.contains("UPDATE_IN_PROGRESS"),
        "{}",
        retry.reason
    );

    world.deployer.end_other_operation(STAGING);
    world.advance(chrono::Duration::minutes(1));
    world.engine.sweep(10).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&b.id).await, "staging"),
        StageStatus::Deploying
    );
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let b = world.execution(&b.id).await;
    assert_eq!(
        status_of(&b, "staging"),
        StageStatus::Succeeded,
        "{:?}",
        b.timeline
    );
}

#[tokio::test]
async fn a_test_whose_build_machine_faulted_runs_again_without_a_new_deploy() {
    let world = retrying();
    let a = deployed_to_staging(&world, &commit(1), "template A").await;
    let token = a.test_token(&StageName::parse("staging").unwrap());
    let first = world.builder.build_for(&token).expect("test started");
    let mut faulted = world.test_event("codebuild-failed.json", &a, "staging");
    faulted["detail"]["build-status"] = serde_json::Value::String("FAULT".into());
    // The machine never came up: the failed phase is the provisioning, not the buildspec.
    for phase in faulted["detail"]["additional-information"]["phases"]
        .as_array_mut()
        .expect("the fixture's phases")
    {
        if phase["phase-status"] == "FAILED" {
            phase["phase-type"] = serde_json::Value::String("PROVISIONING".into());
        }
    }
    world.engine.on_build(faulted.clone()).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(
        status_of(&a, "staging"),
        StageStatus::Retrying,
        "{:?}",
        a.timeline
    );
    world.advance(chrono::Duration::minutes(1));
    world.engine.sweep(10).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(status_of(&a, "staging"), StageStatus::Testing);
    assert_eq!(a.stages[0].attempt, 0, "the deploy is not done again");
    let second = world
        .builder
        .build_for(&a.test_token(&StageName::parse("staging").unwrap()))
        .expect("the test runs again");
    assert_ne!(first, second);
    // The first test's news, late, is old news.
    world.engine.on_build(faulted).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&a.id).await, "staging"),
        StageStatus::Testing
    );
    let passed = world.test_event("codebuild-succeeded.json", &a, "staging");
    world.engine.on_build(passed).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&a.id).await, "staging"),
        StageStatus::Succeeded
    );
}

/// A pipeline whose staging deploys are watched for 10 minutes through its errors alarm.
fn watched() -> World {
    World::of(config_with(&[
        ("SLUICE_ALARM_STAGES", "staging"),
        ("SLUICE_ALARM_NAMES", "hello-*-errors"),
    ]))
}

/// A `CloudWatch Alarm State Change` of `alarm` to `state`, as EventBridge delivers it.
fn alarm_event(alarm: &str, state: &str) -> serde_json::Value {
    serde_json::json!({
        "version": "0", "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
        "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
        "account": "123456789012", "time": "2026-11-20T10:20:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm}")],
        "detail": {
            "alarmName": alarm,
            "state": {"value": state, "reason": "Threshold Crossed: 1 datapoint [3.0] was greater than the threshold (0.0).", "timestamp": "2026-11-20T10:20:00.000+0000"},
            "previousState": {"value": "OK", "reason": "", "timestamp": "2026-11-20T10:00:00.000+0000"},
            "configuration": {"metrics": []}
        }
    })
}

#[tokio::test]
async fn a_watched_stage_passes_when_its_watch_ends_quietly_and_rolls_back_when_its_alarm_fires() {
    let world = watched();
    world
        .deployer
        .set_alarm("hello-staging-errors", "OK", "fine");
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(status_of(&a, "staging"), StageStatus::Verifying);
    world.engine.sweep(10).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&a.id).await, "staging"),
        StageStatus::Verifying
    );
    world.advance(chrono::Duration::minutes(10));
    world.engine.sweep(10).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(status_of(&a, "staging"), StageStatus::Succeeded);
    assert_eq!(status_of(&a, "production"), StageStatus::AwaitingApproval);

    // B's deploy sets the alarm off: its state change rolls staging back to A at once.
    world.advance(chrono::Duration::minutes(5));
    let b = world.push(&commit(2)).await;
    world.build_succeeds(&b, "template B").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    // Another alarm, or this one back to OK, changes nothing.
    let via_deploy = sluice_engine::runtime::handles_alarm(&alarm_event("x", "ALARM"));
    assert!(via_deploy, "the deploy function takes alarm state changes");
    world
        .engine
        .on_alarm(alarm_event("someone-elses-alarm", "ALARM"))
        .await
        .unwrap();
    world
        .engine
        .on_alarm(alarm_event("hello-staging-errors", "OK"))
        .await
        .unwrap();
    assert_eq!(
        status_of(&world.execution(&b.id).await, "staging"),
        StageStatus::Verifying
    );
    world
        .deployer
        .set_alarm("hello-staging-errors", "ALARM", "Threshold Crossed");
    world
        .engine
        .on_alarm(alarm_event("hello-staging-errors", "ALARM"))
        .await
        .unwrap();
    let b_now = world.execution(&b.id).await;
    assert_eq!(status_of(&b_now, "staging"), StageStatus::RollingBack);
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let b_now = world.execution(&b.id).await;
    assert_eq!(status_of(&b_now, "staging"), StageStatus::RolledBack);
    assert_eq!(
        world.deployer.template(STAGING).as_deref(),
        Some("template A")
    );
    let reason = b_now.reason.unwrap();
    assert!(
        reason.starts_with(
            "alarm hello-staging-errors went into ALARM during the watch: Threshold Crossed"
        ),
        "{reason}"
    );
}

#[tokio::test]
async fn the_sweeper_sees_an_alarm_whose_event_was_lost_or_one_that_does_not_exist() {
    let world = watched();
    world
        .deployer
        .set_alarm("hello-staging-errors", "OK", "fine");
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    world.advance(chrono::Duration::minutes(10));
    world.engine.sweep(10).await.unwrap();

    world.advance(chrono::Duration::minutes(5));
    let b = world.push(&commit(2)).await;
    world.build_succeeds(&b, "template B").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    world
        .deployer
        .set_alarm("hello-staging-errors", "ALARM", "Threshold Crossed");
    // Even after the watch time: an alarm in ALARM is seen before the watch passes.
    world.advance(chrono::Duration::minutes(20));
    world.engine.sweep(10).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&b.id).await, "staging"),
        StageStatus::RollingBack
    );

    // A watch of an alarm that does not exist cannot pass.
    let world = watched();
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    world.advance(chrono::Duration::minutes(10));
    world.engine.sweep(10).await.unwrap();
    let a = world.execution(&a.id).await;
    assert_eq!(status_of(&a, "staging"), StageStatus::RollbackFailed);
    assert!(
        a.reason
            .unwrap()
            .contains("alarm hello-staging-errors does not exist")
    );
}

/// Production deploys only on Saturdays from 10:00 to 11:00 UTC; the tests' clock
/// starts on a Friday morning.
#[tokio::test]
async fn an_approval_outside_the_window_is_kept_and_the_sweeper_deploys_when_it_opens() {
    let world = World::of(config_with(&[
        ("SLUICE_WINDOW_STAGES", "production"),
        ("SLUICE_WINDOWS", "Sat 10:00-11:00"),
    ]));
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
    let world = World::of(config_with(&[("SLUICE_TEST_STAGES", "staging=smoke")]));
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
