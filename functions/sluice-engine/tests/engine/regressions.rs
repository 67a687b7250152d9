//! One named test per broken promise found in review (issue "Delivery you can trust").
//! Each failed against the engine as it was, and passes since its fix.

use chrono::Duration;
use serde_json::Value;
use sluice_core::{Command, StageName, StageStatus, Status};
use sluice_engine::operator::{Action, OperatorCommand};
use sluice_tests::world::{OPS, PRODUCTION, STAGING, World, commit};

fn staging() -> StageName {
    StageName::parse("staging").unwrap()
}

fn status_of(execution: &sluice_core::Execution, stage: &str) -> StageStatus {
    execution
        .stage(&StageName::parse(stage).unwrap())
        .map(|s| s.status)
        .unwrap()
}

/// 1. A stack event counts only for the change set it finished.
#[tokio::test]
async fn a_stale_stack_event_does_not_finish_another_executions_deploy() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    let a_done = world.settle(STAGING);
    world.deliver_stack(a_done.clone()).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&a.id).await, "production"),
        StageStatus::AwaitingApproval
    );

    world.advance(Duration::minutes(5));
    let b = world.push(&commit(2)).await;
    world.build_succeeds(&b, "template B").await;
    assert_eq!(
        status_of(&world.execution(&b.id).await, "staging"),
        StageStatus::Deploying
    );
    // A's completion, redelivered while B's update is still running.
    world.deliver_stack(a_done).await.unwrap();
    let b_now = world.execution(&b.id).await;
    assert_eq!(status_of(&b_now, "staging"), StageStatus::Deploying);
    assert!(
        world
            .messages_about("approval")
            .iter()
            .all(|m| !m.body.contains(b.id.as_str())),
        "no approval may be asked for B before its staging deploy finished"
    );
    // B's own completion still counts.
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&b.id).await, "staging"),
        StageStatus::Succeeded
    );
}

/// 1b. A failed update whose own event follows a stale success still fails the stage.
#[tokio::test]
async fn a_rollback_after_a_stale_success_still_fails_the_stage() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    let a_done = world.settle(STAGING);
    world.deliver_stack(a_done.clone()).await.unwrap();
    world.advance(Duration::minutes(5));
    let b = world.push(&commit(2)).await;
    world
        .build_succeeds(
            &b,
            &format!("template B {}", sluice_adapters::memory::FAIL_DEPLOY),
        )
        .await;
    world.deliver_stack(a_done).await.unwrap();
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let b_now = world.execution(&b.id).await;
    assert_eq!(b_now.status, Status::Failed, "{:?}", b_now.timeline);
    assert_eq!(status_of(&b_now, "staging"), StageStatus::Failed);
}

/// 2. Executing a change set that is already executing is not a failure.
#[tokio::test]
async fn executing_a_change_set_twice_keeps_the_deploy_running() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    let a = world.execution(&a.id).await;
    assert_eq!(status_of(&a, "staging"), StageStatus::Deploying);
    let change_set_id = a.stage(&staging()).unwrap().change_set_id.clone().unwrap();
    // A second execute, as an overlapping sweep or a retried handler would send.
    world
        .engine
        .run(
            a.clone(),
            vec![Command::ExecuteChangeSet {
                stage: staging(),
                change_set_id,
            }],
        )
        .await
        .unwrap();
    let a_now = world.execution(&a.id).await;
    assert_eq!(a_now.status, Status::Deploying, "{:?}", a_now.timeline);
    assert_eq!(status_of(&a_now, "staging"), StageStatus::Deploying);
    assert!(world.messages_about("failed").is_empty());
    assert_eq!(world.deployer.executed().len(), 1);
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&a.id).await, "production"),
        StageStatus::AwaitingApproval
    );
}

/// 13. The deploy function acts only on stack status changes, not on a resource's.
#[tokio::test]
async fn a_resource_status_change_does_not_finish_a_stage() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    let stack_id = world
        .deployer
        .stack_id(STAGING)
        .expect("staging stack exists");
    let mut event = World::stack_event(&stack_id, "CREATE_COMPLETE");
    event["detail-type"] = Value::String("CloudFormation Resource Status Change".into());
    event["detail"]["logical-resource-id"] = Value::String("HelloFunction".into());
    event["detail"]["resource-type"] = Value::String("AWS::Lambda::Function".into());
    let _ = world.deliver_stack(event).await;
    let mut forged = World::stack_event(&stack_id, "CREATE_COMPLETE");
    forged["source"] = Value::String("custom.forged".into());
    let _ = world.deliver_stack(forged).await;
    assert_eq!(
        status_of(&world.execution(&a.id).await, "staging"),
        StageStatus::Deploying
    );
}

/// 13b. The build function acts only on CodeBuild's build state changes.
#[tokio::test]
async fn a_build_event_from_another_source_is_refused() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    world.upload_artifacts(&a.id, "template A").await;
    let mut forged = World::build_event("codebuild-succeeded.json", &a);
    forged["source"] = Value::String("custom.forged".into());
    let _ = world.engine.on_build(forged).await;
    let mut phase = World::build_event("codebuild-succeeded.json", &a);
    phase["detail-type"] = Value::String("CodeBuild Build Phase Change".into());
    let _ = world.engine.on_build(phase).await;
    assert_eq!(world.execution(&a.id).await.status, Status::Building);
}

/// 6. An event Sluice cannot handle is not acknowledged as handled: Lambda sends it
/// to the failed-events queue with its reason.
#[tokio::test]
async fn an_event_that_cannot_be_handled_is_not_acknowledged() {
    let world = World::new();
    let handled = world
        .engine
        .on_build(serde_json::json!({"detail-type": "CodeBuild Build State Change"}))
        .await;
    let answer = sluice_engine::runtime::outcome(handled);
    let diagnostic = lambda_runtime::Diagnostic::from(answer.expect_err("must be an error"));
    assert_eq!(diagnostic.error_type, "Sluice.NotRetryable");
    assert!(
        diagnostic.error_message.contains("CodeBuild"),
        "{}",
        diagnostic.error_message
    );
}

/// 12. The decision endpoint takes only the page's form.
#[tokio::test]
async fn a_decision_sent_as_json_is_refused() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    let (path, token) = world.approval_link(&a.id);
    let mut request = World::request(
        "POST",
        &path,
        "",
        Some(&format!(
            r#"{{"token":"{token}","decision":"approve","name":"Eve"}}"#
        )),
    );
    request["headers"]["content-type"] = Value::String("application/json".into());
    let (status, _) = world.http(request).await;
    assert_eq!(status.as_u16(), 415);
    assert_eq!(
        status_of(&world.execution(&a.id).await, "production"),
        StageStatus::AwaitingApproval
    );
    assert!(world.deployer.status(PRODUCTION).is_some());
    assert!(world.deployer.deploying().is_empty());
}

fn fail_with(
    code: &'static str,
    retryable: bool,
    operation: &'static str,
) -> impl FnMut(&'static str) -> Option<sluice_adapters::AwsError> + Send + 'static {
    move |op| {
        (op == operation).then(|| {
            sluice_adapters::AwsError::service(op, code, "injected by the test", retryable)
        })
    }
}

/// Takes `commit` to the production gate with every publish failing on the way in.
async fn to_the_gate_unsent(world: &World, c: &str) -> sluice_core::Execution {
    let a = world.push(c).await;
    world.build_succeeds(&a, "template A").await;
    world
        .faults()
        .set(fail_with("InternalError", true, "Publish"));
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    world.faults().clear();
    world.execution(&a.id).await
}

/// 3. An approval request counts as sent only once published; the sweeper sends an
/// unsent one again, with a link that works.
#[tokio::test]
async fn an_approval_link_that_could_not_be_sent_is_sent_again() {
    let world = World::new();
    let a = to_the_gate_unsent(&world, &commit(1)).await;
    assert_eq!(status_of(&a, "production"), StageStatus::AwaitingApproval);
    assert!(world.messages_about("approval needed").is_empty());
    world.engine.sweep(10).await.unwrap();
    assert!(
        world.messages_about("approval needed").is_empty(),
        "a request still being published is not raced"
    );
    world.advance(Duration::minutes(3));
    world.engine.sweep(10).await.unwrap();
    assert_eq!(world.messages_about("approval needed").len(), 1);
    let (status, page) = world.decide(&a.id, "approve", "Grace").await;
    assert_eq!(status.as_u16(), 200, "{page}");
    assert_eq!(
        status_of(&world.execution(&a.id).await, "production"),
        StageStatus::Deploying
    );
    // Once sent, the sweeper leaves it alone.
    world.advance(Duration::minutes(30));
    world.engine.sweep(10).await.unwrap();
    assert_eq!(world.messages_about("approval needed").len(), 1);
}

/// 3b. Whatever the commit says, the approval request fits in an SNS message.
#[tokio::test]
async fn a_huge_commit_message_does_not_stop_the_approval_request() {
    let world = World::new();
    let c = commit(1);
    world.commits.insert(
        &c,
        "Mallory <m@example.com>",
        &format!("{}\n{}", "A".repeat(300_000), "line\n".repeat(10_000)),
    );
    let a = world.to_the_gate(&c).await;
    let requests = world.messages_about("approval needed");
    assert_eq!(
        requests.len(),
        1,
        "{:?}",
        world.execution(&a.id).await.timeline
    );
    assert!(
        requests[0].body.len() < 64 * 1024,
        "{}",
        requests[0].body.len()
    );
}

/// 9. The decision page says what happened: a deploy that could not start failed.
#[tokio::test]
async fn the_decision_page_says_when_the_deploy_failed() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    world
        .faults()
        .set(fail_with("AccessDenied", false, "ExecuteChangeSet"));
    let (status, page) = world.decide(&a.id, "approve", "Grace").await;
    assert_eq!(status.as_u16(), 200);
    assert!(!page.contains("being deployed now"), "{page}");
    assert!(page.contains("not deployed"), "{page}");
    assert!(page.contains("AccessDenied"), "{page}");
    assert_eq!(world.execution(&a.id).await.status, Status::Failed);
}

/// 9b. A saved decision is never reported as "nothing was decided".
#[tokio::test]
async fn the_decision_page_does_not_deny_a_saved_decision() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    world
        .faults()
        .set(fail_with("Throttling", true, "ExecuteChangeSet"));
    let (status, page) = world.decide(&a.id, "approve", "Grace").await;
    assert_eq!(status.as_u16(), 200, "{page}");
    assert!(!page.contains("Nothing was decided"), "{page}");
    assert!(page.contains("approval is saved"), "{page}");
    world.faults().clear();
    world.engine.sweep(10).await.unwrap();
    assert_eq!(world.deployer.deploying(), vec![PRODUCTION.to_owned()]);
}

/// 10. A name is stored on one line: it cannot forge a line of the rejection email.
#[tokio::test]
async fn an_approvers_name_cannot_forge_a_line_in_the_rejection_email() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    let (status, _) = world
        .decide(
            &a.id,
            "reject",
            "Eve%0D%0AWhat+happened%3A+approved%1B%5B2J",
        )
        .await;
    assert_eq!(status.as_u16(), 200);
    let rejection = world.messages_about("rejected");
    assert_eq!(rejection.len(), 1);
    let body = &rejection[0].body;
    assert!(
        body.lines()
            .all(|l| !l.starts_with("What happened: approved")),
        "{body}"
    );
    assert!(!body.contains('\u{1b}'), "{body}");
}

/// 11. People's words are kept as written; statuses read as words.
#[tokio::test]
async fn an_approvers_comment_is_kept_verbatim() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    let (path, token) = world.approval_link(&a.id);
    let form = format!("token={token}&decision=reject&name=Grace&comment=not+on+a+Friday");
    world
        .http(World::request("POST", &path, "", Some(&form)))
        .await;
    let after = world.execution(&a.id).await;
    let last = &after.timeline.last().unwrap().what;
    assert!(last.contains("not on a Friday"), "{last}");
    assert!(
        world.messages_about("rejected")[0]
            .body
            .contains("not on a Friday")
    );

    // A later commit that changes nothing: its success email reads "no changes".
    world.advance(Duration::minutes(10));
    let b = world.push(&commit(2)).await;
    world
        .build_succeeds(&b, &format!("template of {}", commit(1)))
        .await;
    let b_now = world.execution(&b.id).await;
    assert_eq!(
        status_of(&b_now, "staging"),
        StageStatus::NoChanges,
        "{:?}",
        b_now.timeline
    );
    let (path, token) = world.approval_link(&b.id);
    let form = format!("token={token}&decision=approve&name=Grace");
    world
        .http(World::request("POST", &path, "", Some(&form)))
        .await;
    world.deliver_stack(world.settle(PRODUCTION)).await.unwrap();
    let done = world.messages_about("deployed to production");
    assert_eq!(done.len(), 1, "{:?}", world.execution(&b.id).await.timeline);
    assert!(done[0].body.contains("no changes"), "{}", done[0].body);
    assert!(!done[0].body.contains("NoChanges"), "{}", done[0].body);
}

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

/// 5. A newer execution queued behind an older one that was still preparing takes
/// the gate when the older one reaches it.
#[tokio::test]
async fn a_newer_execution_queued_behind_a_preparing_one_takes_the_gate() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template A").await;
    world.deployer.set_slow(true);
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    world.deployer.set_slow(false);
    assert_eq!(
        status_of(&world.execution(&a.id).await, "production"),
        StageStatus::Preparing
    );
    world.advance(Duration::minutes(1));
    let b = world.push(&commit(2)).await;
    world.build_succeeds(&b, "template B").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&b.id).await, "production"),
        StageStatus::Preparing,
        "queued behind A"
    );
    world.deployer.work_out();
    world.engine.sweep(10).await.unwrap();
    let (a, b) = (world.execution(&a.id).await, world.execution(&b.id).await);
    assert_eq!(a.status, Status::Superseded, "{:?}", a.timeline);
    assert_eq!(
        status_of(&b, "production"),
        StageStatus::AwaitingApproval,
        "{:?}",
        b.timeline
    );
    world.approval_link(&b.id);
}

/// 5b. A decision that claimed the gate and died before it was saved does not
/// strand the newer execution queued behind it.
#[tokio::test]
async fn an_abandoned_claim_on_the_gate_does_not_strand_a_newer_execution() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    let production = StageName::parse("production").unwrap();
    // The approval function marked the stage busy, then died before saving.
    world
        .engine
        .lanes
        .mark_waiting(&production, &a.id, false, world.now())
        .await
        .unwrap();
    world.advance(Duration::minutes(1));
    let b = world.to_the_gate(&commit(2)).await;
    assert_eq!(status_of(&b, "production"), StageStatus::Preparing);
    world.engine.sweep(10).await.unwrap();
    assert_eq!(
        status_of(&world.execution(&b.id).await, "production"),
        StageStatus::Preparing,
        "a decision may still be in flight"
    );
    world.advance(Duration::minutes(16));
    world.engine.sweep(10).await.unwrap();
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

// 8. Code that changed after the build (and its approval) is never deployed: see
// `releases.rs`, where it no longer fails the delivery (the release's copy deploys).

/// 8b. Every stage deploys the template the build left, whatever is written later.
#[tokio::test]
async fn every_stage_deploys_the_template_the_build_left() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "the approved template").await;
    // Written while staging deploys, before production's change set is made.
    let key = format!("artifacts/hello/{}/packaged.yaml", a.id);
    world.put(&key, b"a template nobody approved").await;
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let (status, _) = world.decide(&a.id, "approve", "Grace").await;
    assert_eq!(status.as_u16(), 200);
    world.deliver_stack(world.settle(PRODUCTION)).await.unwrap();
    assert_eq!(
        world.deployer.template(PRODUCTION).as_deref(),
        Some("the approved template")
    );
}

/// 10b. A template too large for CloudFormation is refused, read no further than
/// the limit.
#[tokio::test]
async fn a_huge_template_is_refused_with_a_reason() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    let huge = format!("# {}\n", "x".repeat(2 * 1024 * 1024));
    world.build_succeeds(&a, &huge).await;
    let a = world.execution(&a.id).await;
    assert_eq!(a.status, Status::Failed);
    let reason = a.reason.unwrap_or_default();
    assert!(reason.contains("larger than 1024 KB"), "{reason}");
    assert!(world.deployer.status(STAGING).is_none());
}

/// Found by the simulation (seed 589): when a newer execution replaced a queued one
/// in the lane and the handler died before marking the queued one superseded, the
/// lane forgot it and it waited, preparing, behind nothing.
#[tokio::test]
async fn a_queued_execution_the_lane_forgot_is_superseded_by_the_sweeper() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    world.decide(&a.id, "approve", "Grace").await;
    world.advance(Duration::minutes(1));
    let b = world.to_the_gate(&commit(2)).await;
    assert_eq!(
        status_of(&b, "production"),
        StageStatus::Preparing,
        "queued behind A's deploy"
    );
    // A newer execution asks for the stage; its handler dies before telling B.
    let production = StageName::parse("production").unwrap();
    let newer = sluice_core::ExecutionId::new(
        world.now() + Duration::minutes(1),
        &sluice_core::CommitId::parse(&commit(3)).unwrap(),
    );
    world
        .engine
        .lanes
        .acquire(&production, &newer, world.now())
        .await
        .unwrap();
    world.engine.sweep(10).await.unwrap();
    let b = world.execution(&b.id).await;
    assert_eq!(b.status, Status::Superseded, "{:?}", b.timeline);
    assert_eq!(b.superseded_by.as_ref(), Some(&newer));
}

/// Found in review: a stale request for an approval (the sweeper's, say), run after
/// the approval, must not mark the deploying stage as merely waiting, or a newer
/// execution would take it while the deployment runs.
#[tokio::test]
async fn a_stale_approval_request_does_not_free_a_deploying_stage() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    world.decide(&a.id, "approve", "Grace").await;
    let production = StageName::parse("production").unwrap();
    world
        .engine
        .run(
            a.clone(),
            vec![sluice_core::Command::RequestApproval { stage: production }],
        )
        .await
        .unwrap();
    world.advance(Duration::minutes(1));
    let b = world.to_the_gate(&commit(2)).await;
    assert_eq!(
        status_of(&b, "production"),
        StageStatus::Preparing,
        "B waits for A's deployment: {:?}",
        b.timeline
    );
    assert_eq!(world.deployer.deploying(), vec![PRODUCTION.to_owned()]);
    assert_eq!(
        status_of(&world.execution(&a.id).await, "production"),
        StageStatus::Deploying
    );
}

fn operator(action: &str, execution: &sluice_core::ExecutionId) -> OperatorCommand {
    let mut action = sluice_tests::world::action(action, execution, None);
    if let Action::Approve(decide) = &mut action {
        decide.comment = Some("looked at the change set".into());
    }
    sluice_tests::world::command(action)
}

fn release(commit: Option<&str>) -> OperatorCommand {
    sluice_tests::world::command(sluice_engine::operator::Action::Release(
        sluice_engine::operator::Release {
            commit: commit.map(|c| sluice_core::CommitId::parse(c).expect("a commit id")),
        },
    ))
}

/// Issue 11: a resend whose email cannot be published still retires the old link, and
/// the sweeper sends the new one; nothing waits at the gate with no link out.
#[tokio::test]
async fn a_resent_link_that_could_not_be_published_is_sent_by_the_sweeper() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    let (old_path, old_token) = world.approval_link(&a.id);
    world
        .faults()
        .set(fail_with("InternalError", true, "Publish"));
    let answer = world.operate(operator("resend", &a.id)).await;
    world.faults().clear();
    assert!(answer.ok, "{}", answer.message);
    assert!(
        answer.message.contains("could not be sent yet"),
        "{}",
        answer.message
    );
    let form = format!("token={old_token}&decision=approve&name=late");
    let (status, page) = world
        .http(World::request("POST", &old_path, "", Some(&form)))
        .await;
    assert_eq!(status.as_u16(), 410, "{page}");
    assert!(page.contains("replaced"), "{page}");

    world.advance(Duration::minutes(3));
    world.engine.sweep(10).await.unwrap();
    assert_eq!(world.messages_about("approval needed").len(), 2);
    let (_, new_token) = world.approval_link(&a.id);
    assert_ne!(new_token, old_token);
    let (status, page) = world.decide(&a.id, "approve", "Grace").await;
    assert_eq!(status.as_u16(), 200, "{page}");
}

/// Issue 11: an operator's approval deploys like a link's, recorded as their ARN; a
/// second decision, from either side, is refused with the first.
#[tokio::test]
async fn an_operator_approval_deploys_and_is_recorded_as_the_callers() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    let answer = world.operate(operator("approve", &a.id)).await;
    assert!(answer.ok, "{}", answer.message);
    assert!(
        answer.message.contains("deploying now"),
        "{}",
        answer.message
    );
    assert_eq!(world.deployer.deploying(), vec![PRODUCTION.to_owned()]);
    let now = world.execution(&a.id).await;
    let decision = now.stages[1]
        .approval
        .as_ref()
        .and_then(|a| a.decision.clone())
        .expect("recorded");
    assert_eq!(decision.by, OPS);
    assert!(decision.by_identity);

    let again = world.operate(operator("reject", &a.id)).await;
    assert!(!again.ok);
    assert!(
        again.message.contains("already approved"),
        "{}",
        again.message
    );
    let (status, _) = world.decide(&a.id, "reject", "Mallory").await;
    assert_eq!(status.as_u16(), 410);

    // Wrong input says what is wrong and changes nothing.
    let mut other = operator("approve", &a.id);
    other.pipeline = "another-pipeline".into();
    let refused = world.operate(other).await;
    assert!(
        !refused.ok && refused.message.contains("SLUICE_PIPELINE"),
        "{}",
        refused.message
    );
    let missing = world
        .engine
        .operate(
            OPS,
            operator(
                "approve",
                &sluice_core::ExecutionId::parse("1800000000000-0123456789ab").unwrap(),
            ),
        )
        .await
        .unwrap();
    assert!(
        !missing.ok && missing.message.contains("has no execution"),
        "{}",
        missing.message
    );
    assert_eq!(world.execution(&a.id).await, now);
}

/// Issue 29: a copy of an operator command (Lambda's second try of an asynchronous
/// invocation, a signed request replayed within STS's 15 minutes) acts once; the copy
/// is refused and changes nothing. So is one whose nonce is not one. (A command given
/// more than 15 minutes ago is refused where its proof is checked, by the wall clock:
/// `operator::tests`.)
#[tokio::test]
async fn a_copy_of_an_operator_command_changes_nothing() {
    // Both stages gated. An approval without a stage is resolved by the function:
    // copied, and replayed once staging is deployed, it would approve production.
    let world = World::of(sluice_tests::world::config_with(&[(
        "SLUICE_APPROVAL_STAGES",
        "staging,production",
    )]));
    let a = world.push(&commit(1)).await;
    world.build_succeeds(&a, "template").await;
    let approve = operator("approve", &a.id);
    let first = world.operate(approve.clone()).await;
    assert!(first.ok, "{}", first.message);
    world
        .deliver_stack(world.settle(STAGING))
        .await
        .expect("staging deployed");
    let at_production = world.execution(&a.id).await;
    assert_eq!(
        at_production.stages[1].status,
        StageStatus::AwaitingApproval
    );
    let copy = world.operate(approve).await;
    assert!(!copy.ok, "{}", copy.message);
    assert!(
        copy.message.contains("was received before") && copy.message.contains("nothing was done"),
        "{}",
        copy.message
    );
    assert_eq!(world.execution(&a.id).await, at_production);
    assert!(world.deployer.deploying().is_empty());

    // A nonce that is not one is refused before anything is recorded or done.
    let world = World::new();
    let b = world.to_the_gate(&commit(1)).await;
    let before = world.execution(&b.id).await;
    let mut forged = operator("approve", &b.id);
    forged.issued_at = world.now();
    forged.nonce = "../../executions/x".into();
    let refused = world.engine.operate(OPS, forged).await.unwrap();
    assert!(
        !refused.ok && refused.message.contains("nonce"),
        "{}",
        refused.message
    );
    assert_eq!(world.execution(&b.id).await, before);
}

/// Issue 11: a stage that failed for a passing reason is retried from the same pinned
/// artifact, under a new change set, and goes on to the next stage.
#[tokio::test]
async fn a_failed_stage_is_retried_to_success_from_the_same_artifact() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    world
        .faults()
        .set(fail_with("ValidationError", false, "ExecuteChangeSet"));
    world.build_succeeds(&a, "template A").await;
    world.faults().clear();
    let failed = world.execution(&a.id).await;
    assert_eq!(failed.status, Status::Failed, "{:?}", failed.timeline);
    let answer = world.operate(operator("retry", &a.id)).await;
    assert!(answer.ok, "{}", answer.message);
    assert!(
        answer
            .message
            .contains("at stage staging, from the same artifact"),
        "{}",
        answer.message
    );
    let retried = world.execution(&a.id).await;
    assert_eq!(retried.artifact, failed.artifact);
    assert_eq!(status_of(&retried, "staging"), StageStatus::Deploying);
    world.deliver_stack(world.settle(STAGING)).await.unwrap();
    let now = world.execution(&a.id).await;
    assert_eq!(status_of(&now, "staging"), StageStatus::Succeeded);
    assert_eq!(status_of(&now, "production"), StageStatus::AwaitingApproval);
    // In flight again: the sweeper looks after it.
    let (in_flight, _) = world.engine.store.in_flight(None, 10).await.unwrap();
    assert_eq!(in_flight, vec![a.id.clone()]);

    let again = world.operate(operator("retry", &a.id)).await;
    assert!(!again.ok);
    assert!(
        again.message.contains("is deploying; nothing to retry"),
        "{}",
        again.message
    );
}

/// Issue 11: a failed build is retried with a new build (a new idempotency token, or
/// CodeBuild would answer with the failed one), whose success deploys.
#[tokio::test]
async fn a_failed_build_is_retried_with_a_new_build() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    let failed = World::build_event("codebuild-failed.json", &a);
    world.engine.on_build(failed).await.unwrap();
    assert_eq!(world.execution(&a.id).await.status, Status::Failed);
    let answer = world.operate(operator("retry", &a.id)).await;
    assert!(
        answer.ok && answer.message.contains("with a new build"),
        "{}",
        answer.message
    );
    let requests = world.builder.requests();
    assert_eq!(requests.len(), 2);
    assert_ne!(requests[0].idempotency_token, requests[1].idempotency_token);
    let retried = world.execution(&a.id).await;
    assert_ne!(retried.build.id, a.build.id);
    world.build_succeeds(&retried, "template A").await;
    assert_eq!(
        status_of(&world.execution(&a.id).await, "staging"),
        StageStatus::Deploying
    );
}

/// Issue 11: a cancel mid-build stops the build; a cancel at the gate deletes the
/// change set and frees the stage, so the next execution is not queued behind it.
#[tokio::test]
async fn a_cancel_stops_the_build_or_frees_the_gate_and_is_recorded_as_the_callers() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    let answer = world.operate(operator("cancel", &a.id)).await;
    assert!(answer.ok, "{}", answer.message);
    let build = a.build.id.clone().unwrap();
    assert!(
        answer
            .message
            .contains(&format!("build {build} is stopped")),
        "{}",
        answer.message
    );
    assert_eq!(world.builder.stopped(), vec![build]);
    let a_now = world.execution(&a.id).await;
    assert_eq!(a_now.status, Status::Cancelled);
    assert_eq!(a_now.reason, Some(format!("cancelled by {OPS}")));
    assert_eq!(world.messages_about("cancelled").len(), 1);

    world.advance(Duration::minutes(1));
    let b = world.to_the_gate(&commit(2)).await;
    let change_set = b.stages[1].change_set_id.clone().unwrap();
    assert!(world.deployer.change_set_template(&change_set).is_some());
    let answer = world.operate(operator("cancel", &b.id)).await;
    assert!(answer.ok, "{}", answer.message);
    assert!(
        answer.message.contains("production is free"),
        "{}",
        answer.message
    );
    let production = StageName::parse("production").unwrap();
    assert_eq!(
        world.engine.lanes.get(&production).await.unwrap().holder,
        None
    );
    let b_now = world.execution(&b.id).await;
    assert_eq!(status_of(&b_now, "production"), StageStatus::Cancelled);
    assert_eq!(
        world.deployer.change_set_template(&change_set),
        None,
        "deleted"
    );
    let (status, page) = world.decide(&b.id, "approve", "Grace").await;
    assert_eq!(status.as_u16(), 410, "{page}");

    world.advance(Duration::minutes(1));
    let c = world.to_the_gate(&commit(3)).await;
    assert_eq!(status_of(&c, "production"), StageStatus::AwaitingApproval);
    let refused = world.operate(operator("cancel", &b.id)).await;
    assert!(
        !refused.ok && refused.message.contains("already ended (cancelled)"),
        "{}",
        refused.message
    );
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

fn rollback(stage: &str, to: Option<&sluice_core::ExecutionId>) -> OperatorCommand {
    sluice_tests::world::command(Action::Rollback(sluice_engine::operator::Rollback {
        stage: sluice_core::StageName::parse(stage).expect("a stage name"),
        to: to.cloned(),
    }))
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
        answer.message.contains("It will change 1 resources"),
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

/// A rejection email says who rejected in a way the reader can weigh: an ARN AWS
/// authenticated (`sluice reject`), or a name anyone holding the link could type.
#[tokio::test]
async fn a_rejection_email_says_whether_the_name_was_checked() {
    let world = World::new();
    let a = world.to_the_gate(&commit(1)).await;
    let answer = world.operate(operator("reject", &a.id)).await;
    assert!(answer.ok, "{}", answer.message);
    let by_cli = &world.messages_about("rejected")[0].body;
    assert!(
        by_cli.contains(&format!("{OPS} (AWS identity, checked by STS) rejected")),
        "{by_cli}"
    );

    world.advance(Duration::minutes(10));
    let b = world.to_the_gate(&commit(2)).await;
    let (status, _) = world.decide(&b.id, "reject", "Grace").await;
    assert_eq!(status.as_u16(), 200);
    let by_link = &world.messages_about("rejected")[1].body;
    assert!(
        by_link.contains("Grace (a name typed on the approval page) rejected"),
        "{by_link}"
    );
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

/// 16. An event retried after its handler failed part-way finishes what the first
/// delivery left undone. The first delivery saved the build's success and then could
/// not ask for the staging change set (throttled); Lambda's retry found the event
/// already applied and did nothing, so the execution sat in `building` until the
/// sweeper's next pass, five minutes later (found by the soak under injected faults).
#[tokio::test]
async fn an_event_retried_after_a_failure_part_way_finishes_the_work() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    world.upload_artifacts(&a.id, "template A").await;
    let built = World::build_event("codebuild-succeeded.json", &a);
    world
        .faults()
        .set(fail_with("Throttling", true, "CreateChangeSet"));
    assert!(
        world.engine.on_build(built.clone()).await.is_err(),
        "the failure reaches Lambda, which retries the event"
    );
    world.faults().clear();
    assert!(world.deployer.deploying().is_empty());

    // Lambda's retry, with no sweep in between.
    world.engine.on_build(built.clone()).await.unwrap();
    assert_eq!(world.deployer.deploying(), vec![STAGING.to_owned()]);
    assert_eq!(
        status_of(&world.execution(&a.id).await, "staging"),
        StageStatus::Deploying
    );

    // Yet another copy changes nothing more.
    world.engine.on_build(built).await.unwrap();
    assert_eq!(world.deployer.deploying(), vec![STAGING.to_owned()]);
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

/// 18. A build's in-progress event, already known, asks CodeBuild nothing: catching up
/// on it asked how the build went, a call the build function is not given, and the
/// event went to the failed-events queue (found by the soak on a fresh clone).
#[tokio::test]
async fn a_known_in_progress_build_event_asks_codebuild_nothing() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    let running = World::build_event("codebuild-in-progress.json", &a);
    world.faults().set(fail_with(
        "Sluice.CapabilityNotGiven",
        false,
        "BatchGetBuilds",
    ));
    world.engine.on_build(running.clone()).await.unwrap();
    world.engine.on_build(running).await.unwrap();
    assert_eq!(world.execution(&a.id).await.status, Status::Building);
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

/// Issue 35: AWS does not promise that a build's event carries StartBuild's
/// environment overrides, nor an `artifact` for a build that leaves none. An event
/// with neither is matched to its execution by asking CodeBuild about the build, and
/// the execution goes on to staging; before, it failed to decode (no `artifact`), and
/// without the environment it was ignored as not Sluice's.
#[tokio::test]
async fn a_build_event_without_environment_or_artifact_finds_its_execution() {
    let world = World::new();
    let execution = world.push(&commit(1)).await;
    world.upload_artifacts(&execution.id, "template of 1").await;
    let build_id = execution.build.id.clone().expect("build started");
    world
        .builder
        .set_outcome(&build_id, sluice_adapters::builder::BuildOutcome::Succeeded);
    let mut event = World::build_event("codebuild-succeeded.json", &execution);
    let info = event["detail"]["additional-information"]
        .as_object_mut()
        .expect("the fixture's additional information");
    info.remove("environment");
    info.remove("artifact");
    world
        .engine
        .on_build(event)
        .await
        .expect("build event handled");
    assert_eq!(world.deployer.deploying(), vec![STAGING.to_owned()]);

    // A build Sluice did not start (no SLUICE_EXECUTION_ID anywhere) is still ignored.
    let mut stranger = World::build_event("codebuild-succeeded.json", &execution);
    stranger["detail"]["build-id"] = Value::String(
        "arn:aws:codebuild:us-east-1:123456789012:build/hello-api-build:other".into(),
    );
    let info = stranger["detail"]["additional-information"]
        .as_object_mut()
        .expect("the fixture's additional information");
    info.remove("environment");
    let before = world.execution(&execution.id).await;
    world.engine.on_build(stranger).await.expect("ignored");
    assert_eq!(world.execution(&execution.id).await, before);
}

/// Commit 1's execution, whose first deploy of staging failed and left the stack in
/// `ROLLBACK_COMPLETE`; the clock is then moved on, for a newer push.
async fn failed_first_deploy(world: &World) -> sluice_core::Execution {
    let first = world.push(&commit(1)).await;
    world
        .build_succeeds(
            &first,
            &format!("template 1 {}", sluice_adapters::memory::FAIL_DEPLOY),
        )
        .await;
    world
        .deliver_stack(world.settle(STAGING))
        .await
        .expect("stack event handled");
    world.advance(Duration::minutes(5));
    world.execution(&first.id).await
}

/// Issue 35: a first deploy that fails leaves its stack in `ROLLBACK_COMPLETE`, which
/// CloudFormation refuses every change set on (the fake now does too). Before, every
/// later push failed at that stage until a person deleted the stack; now the stack is
/// deleted, through the stage's execution role, and created again.
#[tokio::test]
async fn a_failed_first_deploy_does_not_wedge_the_stage() {
    let world = World::new();
    let first = failed_first_deploy(&world).await;
    assert_eq!(first.status, Status::Failed);
    let second = world.push(&commit(2)).await;
    world.build_succeeds(&second, "template 2").await;
    let now = world.execution(&second.id).await;
    assert_eq!(
        now.stages[0].status,
        StageStatus::Deploying,
        "{:?}",
        now.stages[0].reason
    );
    assert_eq!(world.deployer.deploying(), vec![STAGING.to_owned()]);
    let deleted = world.deployer.deleted();
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert_eq!(deleted[0].0, STAGING);
    // Through the role the stage's change sets use.
    assert_eq!(deleted[0].1, now.stages[0].execution_role_arn);
}

/// The same, when deleting the stack is refused for good (its role may not): the stage
/// fails saying so, instead of with CloudFormation's refusal of an update.
#[tokio::test]
async fn a_failed_first_deploy_whose_stack_cannot_be_deleted_says_why() {
    let world = World::new();
    failed_first_deploy(&world).await;
    world
        .faults()
        .set(fail_with("AccessDenied", false, "DeleteStack"));
    let second = world.push(&commit(2)).await;
    world.build_succeeds(&second, "template 2").await;
    world.faults().clear();
    let now = world.execution(&second.id).await;
    assert_eq!(now.status, Status::Failed);
    let reason = now.stages[0].reason.clone().unwrap_or_default();
    assert!(
        reason.contains("ROLLBACK_COMPLETE") && reason.contains("deleting it was refused"),
        "{reason}"
    );
    assert!(world.deployer.deleted().is_empty());
}

/// Issue 35: CodeBuild keeps an idempotency token five minutes. A build that started
/// but whose start was not recorded (its answer lost) must not be started a second
/// time when the push is delivered again after that: two builds of one execution
/// would write one upload.
#[tokio::test]
async fn a_build_start_taken_up_after_codebuild_forgot_its_token_starts_no_second_build() {
    let world = World::new();
    world.commits.set_head(&commit(1));
    let event = World::push_event(&commit(1), world.now());
    world
        .faults()
        .set_after(fail_with("InternalError", true, "StartBuild"));
    assert!(world.engine.on_push(event.clone()).await.is_err());
    world.faults().clear();
    assert_eq!(world.builder.requests().len(), 1, "the build started");
    let first = world
        .builder
        .build_for(&world.execution_of(&commit(1)).await.build_token())
        .expect("its id");

    world.advance(Duration::minutes(6));
    world.builder.forget_tokens();
    world.engine.on_push(event).await.expect("delivered again");
    assert_eq!(world.builder.requests().len(), 1, "no second build");
    let execution = world.execution_of(&commit(1)).await;
    assert_eq!(execution.build.id.as_deref(), Some(first.as_str()));
    assert_eq!(execution.status, Status::Building);
}

/// The same, for a retried build whose start failed: the execution's earlier, failed
/// build carries its id too, and must not be taken up as the retry's.
#[tokio::test]
async fn a_retried_build_taken_up_late_is_not_mistaken_for_the_failed_one() {
    let world = World::new();
    let a = world.push(&commit(1)).await;
    let failed = World::build_event("codebuild-failed.json", &a);
    world.engine.on_build(failed).await.unwrap();
    assert_eq!(world.execution(&a.id).await.status, Status::Failed);
    let first = a.build.id.clone().expect("the first build");

    // The retry's build start fails before CodeBuild acts: only the failed build exists.
    world
        .faults()
        .set(fail_with("InternalError", true, "StartBuild"));
    let mut retry = operator("retry", &a.id);
    retry.issued_at = world.now();
    assert!(
        world.engine.operate(OPS, retry).await.is_err(),
        "not started"
    );
    world.faults().clear();
    assert_eq!(world.builder.requests().len(), 1);

    world.advance(Duration::minutes(6));
    world.builder.forget_tokens();
    let event = World::push_event(&commit(1), a.created_at);
    world.engine.on_push(event).await.expect("delivered again");
    let now = world.execution(&a.id).await;
    assert_ne!(
        now.build.id.as_deref(),
        Some(first.as_str()),
        "not the failed build"
    );
    assert_eq!(world.builder.requests().len(), 2, "the retry's own build");
    assert_eq!(now.status, Status::Building);
}

/// Issue 35, finding 10: an organisation whose service control policies refuse public
/// Function URLs deploys with ApprovalPage=none. Its gates work the same, decided from
/// a terminal: the email says how, carries no link, and the sweeper does not take the
/// missing address for a lost link.
#[tokio::test]
async fn without_an_approval_page_the_email_says_how_to_decide_from_a_terminal() {
    let world = World::of(sluice_tests::world::config_with(&[(
        "SLUICE_APPROVAL_URL",
        "none",
    )]));
    let a = world.to_the_gate(&commit(1)).await;
    assert_eq!(status_of(&a, "production"), StageStatus::AwaitingApproval);
    let emails = world.messages_about("approval needed");
    assert_eq!(emails.len(), 1);
    let body = &emails[0].body;
    assert!(
        body.contains(&format!(
            "SLUICE_PIPELINE=hello sluice approve {} --stage production",
            a.id
        )),
        "{body}"
    );
    assert!(!body.contains("token="), "{body}");
    assert!(!body.contains("https://"), "{body}");

    // Sent: the sweeper sends nothing more.
    world.advance(Duration::minutes(3));
    world.engine.sweep(10).await.expect("sweep");
    assert_eq!(world.messages_about("approval needed").len(), 1);

    let answer = world.operate(operator("approve", &a.id)).await;
    assert!(answer.ok, "{}", answer.message);
    let event = world.settle(PRODUCTION);
    world.deliver_stack(event).await.expect("stack event");
    assert_eq!(world.execution(&a.id).await.status, Status::Succeeded);
}

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
    let world = World::of(sluice_tests::world::config_with(&[(
        "SLUICE_SELF_APPROVAL_STAGES",
        "production",
    )]));
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

/// An operator approves `execution` at the production gate, and production deploys it.
async fn approved_into_production(world: &World, execution: &sluice_core::ExecutionId) {
    world.operate(operator("approve", execution)).await;
    world
        .deliver_stack(world.settle(PRODUCTION))
        .await
        .expect("production");
    assert_eq!(world.execution(execution).await.status, Status::Succeeded);
}

/// Issue 30, item 5: a change to the stage's configuration is shown as the values that
/// change, not hidden in "Modify": from the configuration of the release live on the
/// stage to this one's; a NoEcho parameter says it changes, never its value.
#[tokio::test]
async fn the_approval_shows_the_parameters_and_tags_that_change_and_hides_no_echo_values() {
    let world = World::new();
    let template = "Parameters:\n  LogLevel:\n    Type: String\n  DbPassword:\n    Type: String\n    \
                    NoEcho: true\nResources: {}\n";
    // What the build leaves, with this production.json in place of the usual one.
    let built = |execution: sluice_core::Execution, json: &'static str| {
        let world = &world;
        async move {
            // Each build's template differs, so that each stage has a change set.
            let template = format!("{template}# {}\n", execution.commit.id);
            world.upload_artifacts(&execution.id, &template).await;
            let key = format!(
                "{}production.json",
                world.engine.config.artifact_prefix(&execution)
            );
            world.put(&key, json.as_bytes()).await;
            let event = World::build_event("codebuild-succeeded.json", &execution);
            world.engine.on_build(event).await.expect("build event");
        }
    };
    // The first release goes live in production.
    let a = world.push(&commit(1)).await;
    built(
        a.clone(),
        r#"{"Parameters": {"LogLevel": "info", "DbPassword": "hunter2"}, "Tags": {"team": "blue"}}"#,
    )
    .await;
    world
        .deliver_stack(world.settle(STAGING))
        .await
        .expect("staging");
    let first = &world.messages_about("approval needed")[0].body;
    assert!(
        first.contains(r#"Parameter LogLevel: (not set) -> "info""#),
        "{first}"
    );
    approved_into_production(&world, &a.id).await;

    // The next changes the log level, the password and a tag.
    world.advance(Duration::minutes(1));
    let b = world.push(&commit(2)).await;
    built(
        b.clone(),
        r#"{"Parameters": {"LogLevel": "debug", "DbPassword": "correct horse"}, "Tags": {"team": "blue", "cost": "42"}}"#,
    )
    .await;
    world
        .deliver_stack(world.settle(STAGING))
        .await
        .expect("staging");
    let emails = world.messages_about("approval needed");
    let email = &emails.last().expect("an approval email").body;
    for line in [
        r#"Parameter DbPassword: "(NoEcho)" -> "(NoEcho)""#,
        r#"Parameter LogLevel: "info" -> "debug""#,
        r#"Tag cost: (not set) -> "42""#,
    ] {
        assert!(email.contains(line), "{line:?} not in:\n{email}");
    }
    assert!(!email.contains("Tag team"), "{email}");
    for secret in ["hunter2", "correct horse"] {
        assert!(!email.contains(secret), "{email}");
    }
    let (_, page) = world.review(&b.id).await;
    assert!(page.contains("Parameters and tags that change"), "{page}");
    assert!(
        page.contains("Parameter LogLevel: &quot;info&quot; -&gt; &quot;debug&quot;"),
        "{page}"
    );
    assert!(
        !page.contains("hunter2") && !page.contains("correct horse"),
        "{page}"
    );
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

/// Issue 30, item 4: the approver sees which commits this approval adds to what the
/// stage runs now, with authors and first lines (escaped on the page), and "first
/// deploy" when nothing is live there.
#[tokio::test]
async fn the_approval_lists_the_commits_production_gains_or_says_it_is_a_first_deploy() {
    let world = World::new();
    world.commits.append_history(&commit(1), &["template.yaml"]);
    let a = world.to_the_gate(&commit(1)).await;
    let first = &world.messages_about("approval needed")[0].body;
    assert!(
        first.contains("First deploy: nothing built by Sluice runs on production yet."),
        "{first}"
    );
    approved_into_production(&world, &a.id).await;

    // Two commits on master, and a branch forked from the live release merged in.
    world.commits.append_history(&commit(2), &["src/lib.rs"]);
    world.commits.insert(
        &commit(2),
        "Grace <grace@example.com>",
        "Fix the <script> tag\n\nBody.",
    );
    world.commits.set_parents(&commit(3), &[&commit(1)]);
    world
        .commits
        .insert(&commit(3), "Linus <linus@example.com>", "Add a feature");
    world
        .commits
        .set_parents(&commit(4), &[&commit(2), &commit(3)]);
    world.commits.insert(
        &commit(4),
        "Grace <grace@example.com>",
        "Merge branch 'feature'",
    );
    world.advance(Duration::minutes(1));
    let b = world.to_the_gate(&commit(4)).await;
    let emails = world.messages_about("approval needed");
    let email = &emails.last().expect("an approval email").body;
    let live = &commit(1)[..12];
    assert!(
        email.contains(&format!(
            "What production gains (3 commits since {live}, newest first):"
        )),
        "{email}"
    );
    let lines = [
        format!(
            "{} Grace <grace@example.com>: Merge branch 'feature'",
            &commit(4)[..12]
        ),
        format!(
            "{} Grace <grace@example.com>: Fix the <script> tag",
            &commit(2)[..12]
        ),
        format!(
            "{} Linus <linus@example.com>: Add a feature",
            &commit(3)[..12]
        ),
    ];
    let at = |line: &str| {
        email
            .find(line)
            .unwrap_or_else(|| panic!("{line:?} not in:\n{email}"))
    };
    assert!(
        at(&lines[0]) < at(&lines[1]) && at(&lines[1]) < at(&lines[2]),
        "{email}"
    );
    assert!(!email.contains(&format!("{live} Ada")), "{email}");
    let (_, page) = world.review(&b.id).await;
    assert!(page.contains("What production gains (3 commits"), "{page}");
    assert!(page.contains("Fix the &lt;script&gt; tag"), "{page}");
    assert!(!page.contains("<script>"), "{page}");
}

/// Issue 30, item 6: SNS's one-tap unsubscribe silently stops every later approval
/// request to that address. The sweeper's hourly look notices a confirmed
/// subscription that disappeared and tells the others how to subscribe it again,
/// once.
#[tokio::test]
async fn a_confirmed_subscription_that_disappears_is_told_to_the_others_once() {
    let world = World::new();
    world
        .notifier
        .set_subscribed("email", "ada@example.com", true);
    world
        .notifier
        .set_subscribed("email", "bob@example.com", false);
    let first = world.engine.watch_subscribers().await.expect("a look");
    assert_eq!(first.confirmed, 1);
    assert_eq!(first.pending, ["email:bob@example.com"]);
    assert!(first.lost.is_empty());

    // Bob confirms; Ada taps "unsubscribe" at the foot of an email.
    world
        .notifier
        .set_subscribed("email", "bob@example.com", true);
    world.notifier.unsubscribe("ada@example.com");
    let second = world.engine.watch_subscribers().await.expect("a look");
    assert_eq!(second.lost, ["email:ada@example.com"]);
    let told = world.messages_about("disappeared");
    assert_eq!(told.len(), 1, "{told:?}");
    let body = &told[0].body;
    assert!(body.contains("email:ada@example.com"), "{body}");
    assert!(body.contains("aws sns subscribe --topic-arn"), "{body}");

    // Said once: the next look finds nothing new.
    let third = world.engine.watch_subscribers().await.expect("a look");
    assert!(third.lost.is_empty());
    assert_eq!(world.messages_about("disappeared").len(), 1);
}
