//! After a deploy: the post-deploy test, the rollback it may cause, and retries.

use super::*;

/// Started under a pipeline whose staging stage runs a post-deploy test.
fn tested() -> Execution {
    let mut pipeline = pipeline();
    pipeline.stages[0].test =
        Some(crate::config::PostDeployTest::new("buildspec-test.yml").unwrap());
    let commit = Commit {
        id: CommitId::parse(COMMIT).unwrap(),
        author: Some("Ada".into()),
        message: Some("Say hello".into()),
    };
    let push = Push::new("hello-api", "master", commit, t(0));
    start(&pipeline, push, t(0)).unwrap().execution
}

/// `tested()` after `events`, at one-second intervals.
fn tested_after(events: Vec<Event>) -> Execution {
    let mut exec = tested();
    for (i, event) in events.into_iter().enumerate() {
        exec = step(&exec, event, t(i as i64 + 1)).unwrap().execution;
    }
    exec
}

fn test_started() -> Event {
    Event::TestStarted {
        stage: stage("staging"),
        build_id: "hello:test-1".into(),
        log_url: Some("https://logs/test-1".into()),
    }
}

fn test_failed() -> Event {
    Event::TestFailed {
        stage: stage("staging"),
        build_id: Some("hello:test-1".into()),
        reason: "phase BUILD FAILED: curl: (22) 500".into(),
        cause: Cause::Change,
        log_url: None,
    }
}

fn rollback_started() -> Event {
    Event::RollbackStarted {
        stage: stage("staging"),
        to: ExecutionId::parse("9000000000000-aaaaaaaaaaaa").unwrap(),
        commit: CommitId::parse(&"a".repeat(40)).unwrap(),
        change_set_id: "cs-staging-back".into(),
    }
}

#[test]
fn a_tested_stage_passes_only_when_its_test_does() {
    let deployed = tested_after(vec![build_ok(), pinned(), ready("staging")]);
    let tr = step(&deployed, self::deployed("staging"), t(10)).unwrap();
    assert_eq!(
        tr.commands,
        vec![Command::StartTest {
            stage: stage("staging")
        }]
    );
    assert_eq!(statuses(&tr.execution).1, vec![S::Testing, S::Pending]);
    let e = step(&tr.execution, test_started(), t(11))
        .unwrap()
        .execution;
    // Another build's news is not this test's.
    let foreign = Event::TestSucceeded {
        stage: stage("staging"),
        build_id: "hello:other".into(),
        log_url: None,
    };
    assert!(matches!(
        step(&e, foreign, t(12)),
        Err(Rejected::ForeignBuild { .. })
    ));
    let passed = Event::TestSucceeded {
        stage: stage("staging"),
        build_id: "hello:test-1".into(),
        log_url: None,
    };
    let tr = step(&e, passed.clone(), t(12)).unwrap();
    assert_eq!(statuses(&tr.execution).1, vec![S::Succeeded, S::Preparing]);
    let run = tr.execution.stages[0].test_run.clone().unwrap();
    assert_eq!(run.status, BuildStatus::Succeeded);
    assert_eq!(run.log_url.as_deref(), Some("https://logs/test-1"));
    // Delivered twice, it changes nothing more.
    let again = step(&tr.execution, passed, t(13)).unwrap();
    assert_eq!(again.execution, tr.execution);
    assert!(again.commands.is_empty());
}

#[test]
fn a_failed_test_rolls_the_stage_back_and_fails_the_execution_saying_what_is_live() {
    let testing = tested_after(vec![
        build_ok(),
        pinned(),
        ready("staging"),
        deployed("staging"),
        test_started(),
    ]);
    let tr = step(&testing, test_failed(), t(20)).unwrap();
    assert_eq!(
        tr.commands,
        vec![Command::RollBack {
            stage: stage("staging")
        }]
    );
    let e = tr.execution;
    assert_eq!(
        statuses(&e),
        (Status::Deploying, vec![S::RollingBack, S::Pending])
    );
    // A cancel cannot cut a rollback short.
    let refused = step(&e, cancelled(), t(21)).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("the previous release is being put back"),
        "{refused}"
    );
    // The stack event of the failed release's own deploy is old news.
    let e = step(&e, rollback_started(), t(22)).unwrap().execution;
    let tr = step(&e, deployed("staging"), t(23)).unwrap();
    let e = tr.execution;
    assert_eq!(
        statuses(&e),
        (Status::Failed, vec![S::RolledBack, S::Pending])
    );
    let reason = e.reason.clone().unwrap();
    assert!(
        reason.starts_with("post-deploy test failed: phase BUILD FAILED: curl: (22) 500 (log: https://logs/test-1); rolled back: commit aaaaaaaaaaaa (execution 9000000000000-aaaaaaaaaaaa) is live on staging again"),
        "{reason}"
    );
    assert!(matches!(
        tr.commands.as_slice(),
        [Command::Notify(Notice::Failed { .. })]
    ));
    // Retried, the stage deploys this commit again under a new change set, and is
    // tested again.
    let tr = step(&e, retried(), t(30)).unwrap();
    let s = &tr.execution.stages[0];
    assert_eq!((s.status, s.attempt), (S::Preparing, 1));
    assert!(s.test_run.is_none() && s.rollback.is_none());
}

#[test]
fn a_rollback_that_fails_or_cannot_start_is_the_loudest_failure() {
    let rolling = tested_after(vec![
        build_ok(),
        pinned(),
        ready("staging"),
        deployed("staging"),
        test_started(),
        test_failed(),
    ]);
    let impossible = Event::RollbackImpossible {
        stage: stage("staging"),
        reason: "nothing to go back to".into(),
    };
    let failed_deploy = Event::StackUpdateFailed {
        stage: stage("staging"),
        reason: "HelloFunction: bad".into(),
        cause: Cause::Change,
    };
    // Before its change set runs, the stack's news is not the rollback's.
    let unchanged = step(&rolling, failed_deploy.clone(), t(30)).unwrap();
    assert_eq!(unchanged.execution, rolling);
    // A rollback whose deploy fails is put back again, three times, each after a
    // longer wait; then it has failed.
    let mut started = step(&rolling, rollback_started(), t(30)).unwrap().execution;
    let mut now = 30;
    for (n, wait) in [(1, 30), (2, 60), (3, 120)] {
        now += 1;
        let retrying = step(&started, failed_deploy.clone(), t(now))
            .unwrap()
            .execution;
        assert_eq!(retrying.stages[0].status, S::Retrying);
        let due = retrying.stages[0].retrying.clone().unwrap().at;
        assert_eq!(due, t(now + wait));
        assert!(crate::deadlines::overdue(&retrying, t(now + wait - 1)).is_none());
        now += wait;
        let finding = crate::deadlines::overdue(&retrying, t(now)).unwrap();
        let tr = step(&retrying, finding, t(now)).unwrap();
        assert_eq!(
            tr.commands,
            vec![Command::RollBack {
                stage: stage("staging")
            }]
        );
        assert_eq!(tr.execution.stages[0].rollback.as_ref().unwrap().attempt, n);
        assert_eq!(
            tr.execution.rollback_change_set_name(&stage("staging")),
            format!(
                "{}-back{n}",
                tr.execution.change_set_name(&stage("staging"))
            )
        );
        started = step(&tr.execution, rollback_started(), t(now))
            .unwrap()
            .execution;
    }
    for (from, event) in [(&rolling, impossible), (&started, failed_deploy)] {
        let tr = step(from, event, t(now + 1)).unwrap();
        let e = tr.execution;
        assert_eq!(
            statuses(&e),
            (Status::Failed, vec![S::RollbackFailed, S::Pending])
        );
        let reason = e.reason.clone().unwrap();
        assert!(reason.contains("ROLLBACK FAILED"), "{reason}");
        assert!(
            reason.contains("still runs commit f00dfeedf00d"),
            "{reason}"
        );
        assert!(matches!(
            tr.commands.as_slice(),
            [Command::Notify(Notice::RollbackFailed { .. })]
        ));
    }
}

#[test]
fn the_clock_restarts_a_test_or_rollback_that_never_started() {
    let testing = tested_after(vec![
        build_ok(),
        pinned(),
        ready("staging"),
        deployed("staging"),
    ]);
    assert_eq!(crate::deadlines::overdue(&testing, t(60)), None);
    let late = t(4) + crate::deadlines::TEST_START_GRACE + Duration::seconds(1);
    let finding = crate::deadlines::overdue(&testing, late).unwrap();
    assert_eq!(
        finding,
        Event::TestNotStarted {
            stage: stage("staging")
        }
    );
    let tr = step(&testing, finding, late).unwrap();
    assert_eq!(
        tr.commands,
        vec![Command::StartTest {
            stage: stage("staging")
        }]
    );

    let rolling = step(&testing, test_failed(), t(5)).unwrap().execution;
    assert_eq!(crate::deadlines::overdue(&rolling, t(60)), None);
    let late = t(5) + crate::deadlines::ROLLBACK_START_GRACE + Duration::seconds(1);
    let finding = crate::deadlines::overdue(&rolling, late).unwrap();
    let tr = step(&rolling, finding, late).unwrap();
    assert_eq!(
        tr.commands,
        vec![Command::RollBack {
            stage: stage("staging")
        }]
    );
    let started = step(&rolling, rollback_started(), t(6)).unwrap().execution;
    assert_eq!(crate::deadlines::overdue(&started, late), None);
}

#[test]
fn a_rollback_executions_failed_test_leaves_it_live_without_rolling_back_again() {
    let mut pipeline = pipeline();
    pipeline.stages[0].test =
        Some(crate::config::PostDeployTest::new("buildspec-test.yml").unwrap());
    let source = after(vec![
        build_ok(),
        pinned(),
        ready("staging"),
        deployed("staging"),
    ]);
    let back = rollback(&pipeline, &source, &stage("staging"), OPERATOR, t(100)).unwrap();
    let mut e = back.execution;
    for (i, event) in [ready("staging")].into_iter().enumerate() {
        e = step(&e, event, t(101 + i as i64)).unwrap().execution;
    }
    let grant = Event::ApprovalRequested {
        stage: stage("staging"),
        token_sha256: TokenHash::of(TOKEN),
        expires_at: t(100_000),
    };
    e = step(&e, grant, t(102)).unwrap().execution;
    let approve = Event::ApprovalGranted {
        stage: stage("staging"),
        via: Via::Identity,
        by: OPERATOR.into(),
        comment: None,
    };
    e = step(&e, approve, t(103)).unwrap().execution;
    e = step(&e, deployed("staging"), t(104)).unwrap().execution;
    assert_eq!(e.stages[0].status, S::Testing);
    let tr = step(&e, test_failed(), t(105)).unwrap();
    assert_eq!(statuses(&tr.execution), (Status::Failed, vec![S::Failed]));
    assert!(
        !tr.commands
            .iter()
            .any(|c| matches!(c, Command::RollBack { .. }))
    );
    let reason = tr.execution.reason.unwrap();
    assert!(reason.contains("is itself a rollback"), "{reason}");
}

#[test]
fn automatic_retries_wait_twice_as_long_each_time_up_to_half_an_hour() {
    let policy = crate::config::RetryPolicy::new(10, 60).unwrap();
    let waits: Vec<i64> = (1..=7).map(|n| policy.wait(n).num_seconds()).collect();
    assert_eq!(waits, [60, 120, 240, 480, 960, 1800, 1800]);
    assert!(crate::config::RetryPolicy::new(0, 60).is_err());
    assert!(crate::config::RetryPolicy::new(11, 60).is_err());
    assert!(crate::config::RetryPolicy::new(1, 0).is_err());
}
