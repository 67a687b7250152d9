//! The built-in smoke check of a stack stage without a test of its own.

use super::*;

/// Staging deployed (its stack update completed) and asking for its smoke check, as
/// the real `step` leaves it.
fn smoke_asked(gates: bool) -> Execution {
    let mut pipeline = pipeline();
    pipeline.stages[0].smoke_gates = gates;
    let mut e = started_on(&pipeline);
    for (n, event) in [build_ok(), pinned(), ready("staging")]
        .into_iter()
        .enumerate()
    {
        e = crate::machine::step(&e, event, t(n as i64 + 1))
            .unwrap()
            .execution;
    }
    let tr = crate::machine::step(&e, deployed("staging"), t(10)).unwrap();
    assert_eq!(
        tr.commands,
        vec![Command::SmokeCheck {
            stage: stage("staging")
        }]
    );
    assert_eq!(tr.execution.stages[0].status, StageStatus::Testing);
    tr.execution
}

fn smoke_checked(e: &Execution, findings: Findings, at: i64) -> Transition {
    let event = Event::SmokeChecked {
        stage: stage("staging"),
        findings,
    };
    crate::machine::step(e, event, t(at)).unwrap()
}

#[test]
fn a_stack_stage_without_a_test_is_smoke_checked_and_a_bad_answer_only_warns() {
    let e = smoke_asked(false);
    let tr = smoke_checked(&e, smoke_answered(502), 11);
    let staging = &tr.execution.stages[0];
    assert_eq!(staging.status, StageStatus::Succeeded);
    let check = staging.smoke.as_ref().unwrap();
    assert_eq!(check.finished_at, Some(t(11)));
    assert!(check.findings.as_ref().unwrap().warns());
    assert!(
        tr.commands.contains(&Command::CreateChangeSet {
            stage: stage("production")
        }),
        "{:?}",
        tr.commands
    );
    // A second report (a redelivery, a sweeper's late ask) changes nothing.
    let again = smoke_checked(&tr.execution, smoke_answered(200), 12);
    assert_eq!(again.execution, tr.execution);
    assert!(again.commands.is_empty());
}

#[test]
fn a_gating_smoke_check_sends_the_stage_back_on_a_server_error() {
    let e = smoke_asked(true);
    let tr = smoke_checked(&e, smoke_answered(502), 11);
    let staging = &tr.execution.stages[0];
    assert_eq!(staging.status, StageStatus::RollingBack);
    assert!(
        tr.commands.contains(&Command::RollBack {
            stage: stage("staging")
        }),
        "{:?}",
        tr.commands
    );
    assert!(
        staging
            .reason
            .as_deref()
            .unwrap()
            .contains("smoke check failed: ApiUrl"),
        "{:?}",
        staging.reason
    );
    // A gating check that finds the application answering lets the stage pass.
    let e = smoke_asked(true);
    let tr = smoke_checked(&e, smoke_answered(200), 11);
    assert_eq!(tr.execution.stages[0].status, StageStatus::Succeeded);
}

#[test]
fn a_smoke_check_that_never_reports_is_asked_for_again_by_the_sweeper() {
    let e = smoke_asked(false);
    assert_eq!(crate::deadlines::overdue(&e, t(20)), None);
    let late = t(10) + crate::deadlines::TEST_START_GRACE + Duration::seconds(1);
    let finding = crate::deadlines::overdue(&e, late).unwrap();
    assert_eq!(
        finding,
        Event::TestNotStarted {
            stage: stage("staging")
        }
    );
    let tr = crate::machine::step(&e, finding, late).unwrap();
    assert_eq!(
        tr.commands,
        vec![Command::SmokeCheck {
            stage: stage("staging")
        }]
    );
}

#[test]
fn a_gating_smoke_check_that_got_a_5xx_is_retried_where_the_stage_retries() {
    let mut pipeline = pipeline();
    pipeline.stages[0].smoke_gates = true;
    pipeline.stages[0].retry = Some(crate::config::RetryPolicy::new(1, 60).unwrap());
    let mut e = started_on(&pipeline);
    for (n, event) in [build_ok(), pinned(), ready("staging"), deployed("staging")]
        .into_iter()
        .enumerate()
    {
        e = crate::machine::step(&e, event, t(n as i64 + 1))
            .unwrap()
            .execution;
    }
    let tr = smoke_checked(&e, smoke_answered(503), 10);
    assert_eq!(tr.execution.stages[0].status, StageStatus::Retrying);
    let due = crate::deadlines::overdue(&tr.execution, t(100)).unwrap();
    let tr = crate::machine::step(&tr.execution, due, t(100)).unwrap();
    assert_eq!(
        tr.commands,
        vec![Command::SmokeCheck {
            stage: stage("staging")
        }]
    );
    // The retry's answer decides: now it works, and the stage passes.
    let tr = smoke_checked(&tr.execution, smoke_answered(200), 101);
    assert_eq!(tr.execution.stages[0].status, StageStatus::Succeeded);
    // With its retries spent, a 5xx sends the stage back.
    let e = smoke_asked(true);
    let tr = smoke_checked(&e, smoke_answered(503), 11);
    assert_eq!(tr.execution.stages[0].status, StageStatus::RollingBack);
}
