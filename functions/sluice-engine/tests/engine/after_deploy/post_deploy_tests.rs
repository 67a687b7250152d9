//! The post-deploy test: it runs the commit against the deployed stack, its success
//! opens the next stage, and its failure puts the release that was live before back.

use super::*;

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
            .and_then(|r| r.build_id.as_ref().map(ToString::to_string)),
        Some(build.to_string())
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
