//! Whole executions against the emulated AWS: a push to production and every way it
//! can go wrong. CloudFormation, S3 and SNS are the emulator's; only CodeBuild and
//! CodeCommit are fakes, and the tests deliver the events EventBridge would.

use chrono::Duration;
use lambda_http::http::StatusCode;
use sluice_adapters::builder::BuildOutcome;
use sluice_core::{BuildStatus, Execution, StageStatus, Status};
use sluice_tests::world::{APP_TEMPLATE, Emulated, World, approval_link, failing_template};

const C1: &str = "1111111111111111111111111111111111111111";
const C2: &str = "2222222222222222222222222222222222222222";

fn build_id(execution: &Execution) -> String {
    execution
        .build
        .id
        .as_ref()
        .expect("build recorded")
        .to_string()
}

/// `stack`'s deployment ends, and the deploy function hears of it.
async fn stack_settles(world: &World<Emulated>, stack: &str) {
    let event = world.settle(stack).await;
    world
        .deliver_stack(event)
        .await
        .expect("stack event handled");
}

fn stage_statuses(execution: &Execution) -> Vec<StageStatus> {
    execution.stages.iter().map(|s| s.status).collect()
}

/// Push, build and staging deploy (or no change there): the execution then waits at
/// the production gate.
async fn to_the_gate(world: &World<Emulated>, commit: &str) -> Execution {
    let execution = world.push(commit).await;
    world.build_succeeds(&execution, APP_TEMPLATE).await;
    stack_settles(world, "hello-staging").await;
    let execution = world.execution(&execution.id).await;
    assert!(
        execution.stages[0].status.is_passed(),
        "{:#?}",
        execution.timeline
    );
    assert_eq!(
        execution.stages[1].status,
        StageStatus::AwaitingApproval,
        "{:#?}",
        execution.timeline
    );
    execution
}

async fn post(world: &World<Emulated>, path: &str, form: &str) -> (StatusCode, String) {
    world
        .http(World::request("POST", path, "", Some(form)))
        .await
}

#[tokio::test]
async fn a_push_goes_through_staging_and_an_approval_to_production() {
    let world = World::emulated().await;

    // Push: the execution exists and its build was started with the overrides.
    let execution = world.push(C1).await;
    let requests = world.builder.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].source_version, C1);
    let env: Vec<_> = requests[0]
        .environment
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        env,
        [
            "SLUICE_EXECUTION_ID",
            "SLUICE_ARTIFACT_BUCKET",
            "SLUICE_ARTIFACT_PREFIX"
        ]
    );
    assert_eq!(execution.build.status, BuildStatus::Running);
    assert_eq!(
        execution.commit.author.as_deref(),
        Some("Ada Lovelace <ada@example.com>")
    );

    // Build succeeded: staging's change set is created from the SAM template and executed.
    world.build_succeeds(&execution, APP_TEMPLATE).await;
    let staged = world.execution(&execution.id).await;
    assert_eq!(
        stage_statuses(&staged),
        [StageStatus::Deploying, StageStatus::Pending]
    );
    let staging = &staged.stages[0];
    assert!(
        staging
            .changes
            .iter()
            .any(|c| c.logical_id == "HelloFunction"),
        "{:?}",
        staging.changes
    );
    assert!(
        staging
            .changes
            .iter()
            .any(|c| c.resource_type == "AWS::ApiGateway::RestApi"),
        "{:?}",
        staging.changes
    );
    assert_eq!(
        world.stack_status("hello-staging").await.as_deref(),
        Some("CREATE_COMPLETE")
    );

    // Stack complete: production's change set waits for approval, and the email says what changes.
    stack_settles(&world, "hello-staging").await;
    let gated = world.execution(&execution.id).await;
    assert_eq!(
        stage_statuses(&gated),
        [StageStatus::Succeeded, StageStatus::AwaitingApproval]
    );
    let messages = world.messages().await;
    let subjects: Vec<_> = messages.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "[hello-api] building 111111111111 Say hello",
            "[hello-api] approval needed for production: 111111111111 Say hello"
        ]
    );
    let request = &messages[1].body;
    assert!(
        request.contains("Changes to stack hello-production"),
        "{request}"
    );
    assert!(request.contains("Add     HelloFunction"), "{request}");
    assert!(request.contains("by Ada Lovelace"), "{request}");
    // Production is untouched until someone approves.
    assert_eq!(
        world.stack_status("hello-production").await.as_deref(),
        Some("REVIEW_IN_PROGRESS")
    );

    // Approve through the page's POST: production deploys, and the execution succeeds.
    let (path, token) = approval_link(request);
    let (status, page) = post(
        &world,
        &path,
        &format!("token={token}&decision=approve&name=Grace"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("being deployed"), "{page}");
    assert_eq!(
        world.stack_status("hello-production").await.as_deref(),
        Some("CREATE_COMPLETE")
    );
    stack_settles(&world, "hello-production").await;

    let done = world.execution(&execution.id).await;
    assert_eq!(done.status, Status::Succeeded);
    assert_eq!(
        stage_statuses(&done),
        [StageStatus::Succeeded, StageStatus::Succeeded]
    );
    let decision = done.stages[1]
        .approval
        .as_ref()
        .and_then(|a| a.decision.clone());
    assert_eq!(
        decision.map(|d| (d.approved, d.by)),
        Some((true, "Grace".to_owned()))
    );
    let last = world.messages().await;
    assert_eq!(last.len(), 1);
    assert_eq!(
        last[0].subject,
        "[hello-api] deployed to production: 111111111111 Say hello"
    );
    // One build, however the run went.
    assert_eq!(world.builder.requests().len(), 1);
}

#[tokio::test]
async fn a_failed_build_fails_the_execution_with_the_phase_and_the_log() {
    let world = World::emulated().await;
    let execution = world.push(C1).await;
    let event = World::build_event("codebuild-failed.json", &execution);
    world.engine.on_build(event).await.expect("handled");

    let failed = world.execution(&execution.id).await;
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(
        stage_statuses(&failed),
        [StageStatus::Pending, StageStatus::Pending]
    );
    let messages = world.messages().await;
    let failure = messages.last().expect("a failure message");
    assert_eq!(
        failure.subject,
        "[hello-api] FAILED at build: 111111111111 Say hello"
    );
    assert!(
        failure.body.contains("phase BUILD FAILED"),
        "{}",
        failure.body
    );
    assert!(
        failure.body.contains("cargo test --locked"),
        "{}",
        failure.body
    );
    assert!(
        failure
            .body
            .contains("Build log:     https://console.aws.amazon.com/cloudwatch/"),
        "{}",
        failure.body
    );
    assert_eq!(
        world.stack_status("hello-staging").await,
        None,
        "nothing deployed"
    );
}

#[tokio::test]
async fn a_commit_that_changes_nothing_passes_its_stages_as_no_changes() {
    let world = World::emulated().await;
    let first = to_the_gate(&world, C1).await;
    let (path, token) = approval_link(&world.messages().await[1].body);
    post(&world, &path, &format!("token={token}&decision=approve")).await;
    stack_settles(&world, "hello-production").await;
    assert_eq!(world.execution(&first.id).await.status, Status::Succeeded);
    world.messages().await;

    // Same template, same parameters: CloudFormation has nothing to change anywhere.
    world.advance(Duration::minutes(5));
    let second = world.push(C2).await;
    world.build_succeeds(&second, APP_TEMPLATE).await;
    let done = world.execution(&second.id).await;
    assert_eq!(done.status, Status::Succeeded, "{:#?}", done.timeline);
    assert_eq!(
        stage_statuses(&done),
        [StageStatus::NoChanges, StageStatus::NoChanges]
    );
    let subjects: Vec<_> = world
        .messages()
        .await
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert_eq!(
        subjects,
        [
            "[hello-api] building 222222222222 Say hello",
            "[hello-api] deployed to production: 222222222222 Say hello"
        ]
    );
}

#[tokio::test]
async fn a_stack_that_rolls_back_fails_the_execution_quoting_the_resource() {
    let world = World::emulated().await;
    let execution = world.push(C1).await;
    world.build_succeeds(&execution, &failing_template()).await;
    assert_eq!(
        world.stack_status("hello-staging").await.as_deref(),
        Some("ROLLBACK_COMPLETE")
    );
    stack_settles(&world, "hello-staging").await;

    let failed = world.execution(&execution.id).await;
    assert_eq!(failed.status, Status::Failed);
    let reason = failed.stages[0].reason.clone().unwrap_or_default();
    assert!(
        reason.contains("Seeder (AWS::CloudFormation::CustomResource)"),
        "{reason}"
    );
    assert!(reason.contains("no-such-seeder"), "{reason}");
    let message = world.messages().await.pop().expect("failure message");
    assert_eq!(
        message.subject,
        "[hello-api] FAILED at staging: 111111111111 Say hello"
    );
    assert!(
        message
            .body
            .contains("Seeder (AWS::CloudFormation::CustomResource)"),
        "{}",
        message.body
    );
    assert!(
        message.body.contains("filteringText=hello-staging"),
        "{}",
        message.body
    );
    assert_eq!(world.stack_status("hello-production").await, None);
}

#[tokio::test]
async fn a_rejection_leaves_production_untouched() {
    let world = World::emulated().await;
    let execution = to_the_gate(&world, C1).await;
    let (path, token) = approval_link(&world.messages().await[1].body);
    let (status, page) = post(
        &world,
        &path,
        &format!("token={token}&decision=reject&name=Grace&comment=not+on+a+Friday"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Nothing will be deployed"), "{page}");

    let rejected = world.execution(&execution.id).await;
    assert_eq!(rejected.status, Status::Rejected);
    assert_eq!(
        stage_statuses(&rejected),
        [StageStatus::Succeeded, StageStatus::Rejected]
    );
    let message = world.messages().await.pop().expect("rejection message");
    assert_eq!(
        message.subject,
        "[hello-api] rejected at production: 111111111111 Say hello"
    );
    assert!(message.body.contains("not on a Friday"), "{}", message.body);
    // The change set was deleted and production was never created.
    assert_ne!(
        world.stack_status("hello-production").await.as_deref(),
        Some("CREATE_COMPLETE")
    );
    let change_sets = world
        .cfn()
        .list_change_sets()
        .stack_name("hello-production")
        .send()
        .await
        .map(|o| o.summaries().len())
        .unwrap_or(0);
    assert_eq!(change_sets, 0);
}

#[tokio::test]
async fn an_expired_link_is_refused_and_the_sweeper_expires_the_execution() {
    let world = World::emulated().await;
    let execution = to_the_gate(&world, C1).await;
    let (path, token) = approval_link(&world.messages().await[1].body);

    world.advance(Duration::days(7) + Duration::minutes(1));
    let (status, page) = post(&world, &path, &format!("token={token}&decision=approve")).await;
    assert_eq!(status, StatusCode::GONE, "{page}");
    assert!(page.contains("This approval has expired"), "{page}");
    assert_eq!(
        world.execution(&execution.id).await.stages[1].status,
        StageStatus::AwaitingApproval,
        "a refused decision changes nothing"
    );

    let report = world.engine.sweep(50).await.expect("sweep");
    assert_eq!(report.findings, 1);
    let expired = world.execution(&execution.id).await;
    assert_eq!(expired.status, Status::Expired);
    let message = world.messages().await.pop().expect("expiry message");
    assert_eq!(
        message.subject,
        "[hello-api] approval expired for production: 111111111111 Say hello"
    );
    assert_ne!(
        world.stack_status("hello-production").await.as_deref(),
        Some("CREATE_COMPLETE")
    );
}

#[tokio::test]
async fn a_replayed_link_is_refused() {
    let world = World::emulated().await;
    let execution = to_the_gate(&world, C1).await;
    let (path, token) = approval_link(&world.messages().await[1].body);
    let form = format!("token={token}&decision=approve&name=Grace");
    let (first, _) = post(&world, &path, &form).await;
    assert_eq!(first, StatusCode::OK);
    let before = world.execution(&execution.id).await;

    for replay in [form.clone(), format!("token={token}&decision=reject")] {
        let (status, page) = post(&world, &path, &replay).await;
        assert_eq!(status, StatusCode::GONE, "{page}");
        assert!(page.contains("Already approved"), "{page}");
        assert!(page.contains("Approved by Grace at 2026-11-20"), "{page}");
    }
    assert_eq!(world.execution(&execution.id).await, before);
}

#[tokio::test]
async fn a_newer_commit_supersedes_the_one_waiting_at_the_gate() {
    let world = World::emulated().await;
    let older = to_the_gate(&world, C1).await;
    let (old_path, old_token) = approval_link(&world.messages().await[1].body);

    world.advance(Duration::minutes(3));
    let newer = to_the_gate(&world, C2).await;

    let superseded = world.execution(&older.id).await;
    assert_eq!(superseded.status, Status::Superseded);
    assert_eq!(superseded.superseded_by.as_ref(), Some(&newer.id));
    let (status, page) = world
        .http(World::request(
            "GET",
            &old_path,
            &format!("token={old_token}"),
            None,
        ))
        .await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.contains("Superseded by a newer commit"), "{page}");
    assert!(page.contains(newer.id.as_str()), "{page}");

    let subjects: Vec<_> = world
        .messages()
        .await
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert!(
        subjects
            .contains(&"[hello-api] superseded at production: 111111111111 Say hello".to_owned()),
        "{subjects:?}"
    );
    let request = subjects
        .iter()
        .position(|s| s == "[hello-api] approval needed for production: 222222222222 Say hello");
    assert!(request.is_some(), "{subjects:?}");
}

#[tokio::test]
async fn the_sweeper_finishes_an_execution_whose_events_were_lost() {
    let world = World::emulated().await;
    let execution = world.push(C1).await;
    world.upload_artifacts(&execution.id, APP_TEMPLATE).await;

    // The build's SUCCEEDED event is lost; CodeBuild knows the build succeeded.
    world
        .builder
        .set_outcome(&build_id(&execution), BuildOutcome::Succeeded);
    world.engine.sweep(50).await.expect("sweep");
    assert_eq!(
        world.execution(&execution.id).await.stages[0].status,
        StageStatus::Deploying
    );

    // The staging stack's status event is lost too: the next sweep asks CloudFormation.
    world.engine.sweep(50).await.expect("sweep");
    let at_gate = world.execution(&execution.id).await;
    assert_eq!(
        stage_statuses(&at_gate),
        [StageStatus::Succeeded, StageStatus::AwaitingApproval]
    );
    let (path, token) = approval_link(&world.messages().await[1].body);
    post(&world, &path, &format!("token={token}&decision=approve")).await;

    // And production's as well.
    world.engine.sweep(50).await.expect("sweep");
    let done = world.execution(&execution.id).await;
    assert_eq!(done.status, Status::Succeeded, "{:#?}", done.timeline);
    let report = world.engine.sweep(50).await.expect("sweep");
    assert_eq!(report.examined, 0, "nothing is left in flight");
}

#[tokio::test]
async fn a_push_delivered_twice_starts_one_build() {
    let world = World::emulated().await;
    world.push(C1).await;
    world.advance(Duration::seconds(30));
    world.push(C1).await;
    assert_eq!(world.executions().await.len(), 1);
    assert_eq!(world.builder.requests().len(), 1);
    let subjects: Vec<_> = world
        .messages()
        .await
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert_eq!(subjects.len(), 1, "{subjects:?}");
}

#[tokio::test]
async fn after_a_rejection_the_next_commit_creates_the_stack_left_in_review() {
    let world = World::emulated().await;
    to_the_gate(&world, C1).await;
    let (path, token) = approval_link(&world.messages().await[1].body);
    post(&world, &path, &format!("token={token}&decision=reject")).await;
    // The rejected CREATE change set leaves an empty stack in REVIEW_IN_PROGRESS.
    assert_eq!(
        world.stack_status("hello-production").await.as_deref(),
        Some("REVIEW_IN_PROGRESS")
    );

    world.advance(Duration::minutes(10));
    let next = to_the_gate(&world, C2).await;
    let (path, token) = approval_link(&world.messages().await.pop().expect("request").body);
    let (status, page) = post(&world, &path, &format!("token={token}&decision=approve")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    stack_settles(&world, "hello-production").await;
    assert_eq!(world.execution(&next.id).await.status, Status::Succeeded);
    assert_eq!(
        world.stack_status("hello-production").await.as_deref(),
        Some("CREATE_COMPLETE")
    );
}

#[tokio::test]
async fn the_sweeper_does_bounded_work_and_resumes_where_it_stopped() {
    let world = World::emulated().await;
    let commits = ["a", "b", "c"].map(|c| c.repeat(40));
    for commit in &commits {
        world.advance(Duration::minutes(1));
        world.push(commit).await;
    }
    // Every build failed, and every failure event was lost: only the sweeper can tell.
    for execution in world.executions().await {
        world.builder.set_outcome(
            &build_id(&execution),
            BuildOutcome::Failed {
                reason: "phase BUILD FAILED".into(),
                cause: sluice_core::Cause::Change,
            },
        );
    }
    let first = world.engine.sweep(2).await.expect("sweep");
    assert_eq!(
        (first.examined, first.findings, first.finished_pass),
        (2, 2, false)
    );
    let second = world.engine.sweep(2).await.expect("sweep");
    assert_eq!(
        (second.examined, second.findings, second.finished_pass),
        (1, 1, true)
    );
    let statuses: Vec<_> = world.executions().await.iter().map(|e| e.status).collect();
    assert_eq!(statuses, [Status::Failed; 3]);
}
