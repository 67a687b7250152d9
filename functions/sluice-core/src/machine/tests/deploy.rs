//! A stage's deploy: a site stage's plan, and deployment windows.

use super::*;

#[test]
fn a_site_stage_waits_at_its_gate_with_its_file_changes_and_deploys_them() {
    use crate::site::{FileAction, FileChange, SiteTarget};
    let mut pipeline = pipeline();
    for s in &mut pipeline.stages {
        let site = SiteTarget::for_stage(&s.name, "hello-web-*", "site", "index.html").unwrap();
        *s = s.clone().with_site(site);
    }
    let mut exec = started_on(&pipeline);
    let planned = |name: &str, files: Vec<FileChange>| Event::SitePlanned {
        stage: stage(name),
        target: ChangeSetId::site(format!("hello-web-{name}")),
        files,
    };
    let file = |path: &str, action| FileChange {
        path: path.into(),
        action,
        size: 12,
    };
    let events = [
        build_ok(),
        pinned(),
        planned("staging", vec![file("index.html", FileAction::Change)]),
        deployed("staging"),
        planned(
            "production",
            vec![
                file("index.html", FileAction::Change),
                file("old.css", FileAction::Remove),
            ],
        ),
    ];
    let mut commands = Vec::new();
    for (i, event) in events.into_iter().enumerate() {
        let next = step(&exec, event, t(i as i64 + 1)).unwrap();
        exec = next.execution;
        commands = next.commands;
    }
    let production = exec.stage(&stage("production")).unwrap();
    assert_eq!(production.status, StageStatus::AwaitingApproval);
    assert_eq!(
        production.files.len(),
        2,
        "the approver sees every file change"
    );
    assert!(production.changes.is_empty());
    assert_eq!(
        commands,
        [Command::RequestApproval {
            stage: stage("production")
        }]
    );
    assert!(
        exec.timeline
            .iter()
            .any(|e| e.what == "production: 2 file changes ready, awaiting approval"),
        "{:?}",
        exec.timeline
    );
    assert!(
        exec.timeline
            .iter()
            .any(|e| e.what == "staging: planning the site's deploy to bucket hello-web-staging"),
        "{:?}",
        exec.timeline
    );
    let staging = exec.stage(&stage("staging")).unwrap();
    assert_eq!(staging.status, StageStatus::Succeeded);
    assert_eq!(
        staging.change_set_id,
        Some(ChangeSetId::site("hello-web-staging"))
    );
}

/// Started under a pipeline whose stages deploy only on Saturdays, 10:00 to 11:00
/// UTC (`t(0)` is a Friday, 08:00 UTC).
fn windowed() -> Execution {
    let mut pipeline = pipeline();
    let window = crate::window::DeployWindows::parse("Sat 10:00-11:00", "UTC").unwrap();
    for s in &mut pipeline.stages {
        *s = s.clone().with_window(window.clone());
    }
    let commit = Commit {
        id: CommitId::parse(COMMIT).unwrap(),
        author: None,
        message: None,
    };
    let push = Push::new("hello-api", "master", commit, t(0));
    start(&pipeline, push, t(0)).unwrap().execution
}

/// Saturday 10:00 UTC, when the windows of `windowed()` open.
const SATURDAY: i64 = 26 * 3600;

#[test]
fn outside_its_window_a_ready_stage_waits_and_deploys_when_the_window_opens() {
    let mut exec = windowed();
    for (i, event) in [build_ok(), pinned()].into_iter().enumerate() {
        exec = step(&exec, event, t(i as i64 + 1)).unwrap().execution;
    }
    let waiting = step(&exec, ready("staging"), t(10)).unwrap();
    let s = &waiting.execution.stages[0];
    assert_eq!(s.status, StageStatus::AwaitingWindow);
    assert_eq!(s.window_opens, Some(t(SATURDAY)));
    assert_eq!(
        waiting.commands,
        vec![Command::AwaitWindow {
            stage: stage("staging")
        }],
        "nothing is executed"
    );
    let logged = &waiting.execution.timeline.last().unwrap().what;
    assert!(
        logged.ends_with("waiting for the window, opens Sat 16 Jan 2027 10:00 UTC"),
        "{logged}"
    );
    let exec = waiting.execution;

    // The clock says nothing before the window opens; a finding that came too early
    // changes nothing.
    assert_eq!(crate::deadlines::overdue(&exec, t(SATURDAY - 1)), None);
    let early = step(
        &exec,
        Event::WindowOpened {
            stage: stage("staging"),
        },
        t(SATURDAY - 60),
    )
    .unwrap();
    assert_eq!(early.execution, exec);
    assert!(early.commands.is_empty());

    let opened = crate::deadlines::overdue(&exec, t(SATURDAY)).expect("the window opened");
    let go = step(&exec, opened, t(SATURDAY + 5)).unwrap();
    assert_eq!(go.execution.stages[0].status, StageStatus::Deploying);
    assert_eq!(
        go.commands,
        vec![Command::ExecuteChangeSet {
            stage: stage("staging"),
            change_set_id: "cs-staging".into()
        }]
    );

    // Missed altogether (the sweeper was away all Saturday): it waits for the next.
    let missed = step(
        &exec,
        Event::WindowOpened {
            stage: stage("staging"),
        },
        t(SATURDAY + 2 * 3600),
    )
    .unwrap();
    let s = &missed.execution.stages[0];
    assert_eq!(s.status, StageStatus::AwaitingWindow);
    assert_eq!(s.window_opens, Some(t(SATURDAY + 7 * 24 * 3600)));
    assert!(missed.execution.timeline.last().unwrap().what.contains(
        "the window closed before the deploy started, waiting for the window, opens Sat 23 Jan"
    ));
}

#[test]
fn an_approval_given_before_the_window_opens_is_kept_until_it_does() {
    let mut exec = windowed();
    let events = [
        build_ok(),
        pinned(),
        ready("staging"),
        Event::WindowOpened {
            stage: stage("staging"),
        },
        deployed("staging"),
        ready("production"),
        requested(),
        sent(),
    ];
    for (i, event) in events.into_iter().enumerate() {
        exec = step(&exec, event, t(SATURDAY + i as i64))
            .unwrap()
            .execution;
    }
    assert_eq!(exec.stages[1].status, StageStatus::AwaitingApproval);
    // Approved in the evening, after the window closed.
    let approved = step(&exec, granted(TOKEN), t(SATURDAY + 8 * 3600)).unwrap();
    let p = &approved.execution.stages[1];
    assert_eq!(p.status, StageStatus::AwaitingWindow);
    assert!(p.approval.as_ref().is_some_and(|a| a.decision.is_some()));
    assert_eq!(
        approved.commands,
        vec![Command::AwaitWindow {
            stage: stage("production")
        }]
    );
    assert!(
        approved
            .execution
            .timeline
            .last()
            .unwrap()
            .what
            .contains("approved by Grace, waiting for the window, opens Sat 23 Jan")
    );
    // A newer execution reaching the stage supersedes it, as at a gate.
    let newer = ExecutionId::parse("0000000000001-bbbbbbbbbbbb").unwrap();
    let superseded = step(
        &approved.execution,
        Event::Superseded {
            stage: stage("production"),
            by: newer,
        },
        t(SATURDAY + 9 * 3600),
    )
    .unwrap();
    assert_eq!(superseded.execution.status, Status::Superseded);
    assert!(superseded.commands.contains(&Command::DeleteChangeSet {
        stage: stage("production"),
        change_set_id: "cs-production".into()
    }));
    // Or an operator cancels it: nothing is deploying.
    let cancelled = step(
        &approved.execution,
        Event::Cancelled { by: "olga".into() },
        t(SATURDAY + 9 * 3600),
    )
    .unwrap();
    assert_eq!(cancelled.execution.stages[1].status, StageStatus::Cancelled);
}

#[test]
fn an_operators_rollback_does_not_wait_for_the_window() {
    let mut source = windowed();
    for (i, event) in [build_ok(), pinned()].into_iter().enumerate() {
        source = step(&source, event, t(i as i64 + 1)).unwrap().execution;
    }
    let mut pipeline = pipeline();
    let window = crate::window::DeployWindows::parse("Sat 10:00-11:00", "UTC").unwrap();
    pipeline.stages[0] = pipeline.stages[0].clone().with_window(window);
    let back = rollback(&pipeline, &source, &stage("staging"), "olga", t(10))
        .unwrap()
        .execution;
    let waiting = step(&back, ready("staging"), t(11)).unwrap().execution;
    let confirmed = [
        Event::ApprovalRequested {
            stage: stage("staging"),
            token_sha256: TokenHash::of(TOKEN),
            expires_at: t(3600),
        },
        Event::ApprovalGranted {
            stage: stage("staging"),
            via: Via::Identity,
            by: "olga".into(),
            comment: None,
        },
    ]
    .into_iter()
    .fold(waiting, |e, event| {
        step(&e, event, t(12)).unwrap().execution
    });
    assert_eq!(confirmed.stages[0].status, StageStatus::Deploying);
}
