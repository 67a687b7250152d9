//! What an operator asks: cancels and retries.

use super::*;

#[test]
fn a_cancel_mid_build_stops_the_build_and_ends_the_execution_as_the_callers() {
    let building = after(vec![Event::BuildStarted {
        build_id: "hello:1".into(),
        log_url: None,
    }]);
    let tr = step(&building, cancelled(), t(60)).unwrap();
    assert_eq!(
        tr.commands,
        vec![
            Command::StopBuild {
                build_id: "hello:1".into()
            },
            Command::Notify(Notice::Cancelled {
                by: OPERATOR.into()
            }),
        ]
    );
    let e = tr.execution;
    assert_eq!(e.status, Status::Cancelled);
    assert_eq!(e.build.status, BuildStatus::Failed);
    assert_eq!(
        e.reason.as_deref(),
        Some(&*format!("cancelled by {OPERATOR}"))
    );
    // The build's end, arriving later, changes nothing.
    let late = Event::BuildSucceeded {
        build_id: "hello:1".into(),
        log_url: None,
    };
    assert_eq!(step(&e, late, t(61)).unwrap().execution, e);
    // A build never started has nothing to stop.
    let tr = step(&started(), cancelled(), t(60)).unwrap();
    assert!(
        !tr.commands
            .iter()
            .any(|c| matches!(c, Command::StopBuild { .. }))
    );
}

#[test]
fn a_build_that_starts_after_the_cancel_is_stopped() {
    // Cancelled while CodeBuild had not yet answered StartBuild: nothing to stop then.
    let cancelled = step(&started(), cancelled(), t(60)).unwrap().execution;
    let late = Event::BuildStarted {
        build_id: "hello:1".into(),
        log_url: None,
    };
    let tr = step(&cancelled, late.clone(), t(61)).unwrap();
    assert_eq!(
        tr.commands,
        vec![Command::StopBuild {
            build_id: "hello:1".into()
        }]
    );
    let e = tr.execution;
    assert_eq!(e.status, Status::Cancelled);
    assert_eq!(e.build.id.as_deref(), Some("hello:1"));
    assert!(
        e.timeline
            .last()
            .is_some_and(|l| l.what.contains("started after the cancel; stopping it")),
        "{:?}",
        e.timeline.last()
    );
    // Told twice, it stops the build once.
    assert!(step(&e, late, t(62)).unwrap().commands.is_empty());
}

#[test]
fn a_cancel_at_the_gate_deletes_the_change_set_and_frees_the_stage() {
    let tr = step(&at_gate(), cancelled(), t(60)).unwrap();
    assert!(tr.commands.contains(&Command::DeleteChangeSet {
        stage: stage("production"),
        change_set_id: "cs-production".into(),
    }));
    let e = tr.execution;
    assert_eq!(
        statuses(&e),
        (Status::Cancelled, vec![S::Succeeded, S::Cancelled])
    );
    assert!(e.stages[1].status.is_finished(), "the lane is released");
    // The link no longer works, and says why.
    let late = step(&e, granted(TOKEN), t(61)).unwrap_err();
    assert!(matches!(late, Rejected::Finished { .. }), "{late}");
}

#[test]
fn a_deploy_in_progress_or_a_finished_execution_cannot_be_cancelled() {
    let deploying = after(vec![build_ok(), pinned(), ready("staging")]);
    assert_eq!(deploying.stages[0].status, S::Deploying);
    let refused = step(&deploying, cancelled(), t(60)).unwrap_err();
    assert!(
        refused.to_string().contains("stage staging is deploying"),
        "{refused}"
    );
    let done = step(&at_gate(), granted(TOKEN), t(60)).unwrap().execution;
    let done = step(&done, deployed("production"), t(61))
        .unwrap()
        .execution;
    let refused = step(&done, cancelled(), t(62)).unwrap_err();
    assert!(
        refused.to_string().contains("already ended (succeeded)"),
        "{refused}"
    );
}

#[test]
fn a_retried_build_failure_builds_again_under_a_new_token() {
    let failed = after(vec![Event::BuildFailed {
        build_id: Some("hello:1".into()),
        reason: "phase BUILD FAILED".into(),
        cause: Cause::Change,
        log_url: None,
    }]);
    let first_token = failed.build_token();
    let tr = step(&failed, retried(), t(60)).unwrap();
    assert_eq!(tr.commands, vec![Command::StartBuild]);
    let e = tr.execution;
    assert_eq!(
        (e.status, e.build.status),
        (Status::Building, BuildStatus::Requested)
    );
    assert_eq!((e.finished_at, e.reason.as_deref()), (None, None));
    assert_ne!(
        e.build_token(),
        first_token,
        "CodeBuild would return the old build"
    );
    assert_eq!(e.build.requested_at, Some(t(60)));
    // The old build's events are another build's now.
    let old = step(
        &step(
            &e,
            Event::BuildStarted {
                build_id: "hello:2".into(),
                log_url: None,
            },
            t(61),
        )
        .unwrap()
        .execution,
        build_ok(),
        t(62),
    );
    assert!(matches!(old, Err(Rejected::ForeignBuild { .. })), "{old:?}");
    // The clock measures a late build from the retry, not from the push.
    assert_eq!(crate::deadlines::overdue(&e, t(60 + 10 * 60)), None);
    assert_eq!(
        crate::deadlines::overdue(&e, t(60 + 16 * 60)),
        Some(Event::BuildNeverStarted)
    );
}

#[test]
fn a_retried_stage_failure_tries_the_stage_again_from_the_same_artifact() {
    let failed = step(&at_gate(), granted(TOKEN), t(60)).unwrap().execution;
    let failed = step(
        &failed,
        Event::StackUpdateFailed {
            stage: stage("production"),
            reason: "HelloFunction: rate exceeded".into(),
            cause: Cause::Moment,
        },
        t(61),
    )
    .unwrap()
    .execution;
    let first_name = failed.change_set_name(&stage("production"));
    let tr = step(&failed, retried(), t(62)).unwrap();
    assert_eq!(
        tr.commands,
        vec![Command::CreateChangeSet {
            stage: stage("production")
        }]
    );
    let e = tr.execution;
    assert_eq!(
        statuses(&e),
        (Status::Deploying, vec![S::Succeeded, S::Preparing])
    );
    assert_eq!(e.artifact, failed.artifact, "the pinned artifact is kept");
    assert_ne!(e.change_set_name(&stage("production")), first_name);
    let s = &e.stages[1];
    assert!(s.approval.is_none() && s.change_set_id.is_none() && s.reason.is_none());
    // The new change set needs its own approval.
    let again = step(&e, ready("production"), t(63)).unwrap();
    assert_eq!(again.execution.stages[1].status, S::AwaitingApproval);
    assert!(
        e.timeline
            .iter()
            .any(|l| l.what.contains(&format!("retried by {OPERATOR}")))
    );
}

#[test]
fn only_a_failed_execution_can_be_retried_and_the_refusal_says_its_status() {
    let refused = step(&started(), retried(), t(60)).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "this execution is building; nothing to retry (only a failed execution can be retried)"
    );
    let rejected = step(&at_gate(), rejected(TOKEN), t(60)).unwrap().execution;
    let refused = step(&rejected, retried(), t(61)).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("is rejected; nothing to retry"),
        "{refused}"
    );
}
