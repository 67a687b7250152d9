//! Every transition, one row each, and the events that do not apply in a state.

use super::*;

/// Each row: the events leading to a state, the event under test, and the outcome.
struct Case {
    name: &'static str,
    before: fn() -> Execution,
    event: Event,
    status: (Status, Vec<StageStatus>),
    commands: Vec<Command>,
}

fn cases() -> Vec<Case> {
    let cs = |name: &str| ChangeSetId::from(format!("cs-{name}"));
    vec![
        Case {
            name: "build started records the build",
            before: started,
            event: Event::BuildStarted {
                build_id: "hello:1".into(),
                log_url: None,
            },
            status: (Status::Building, vec![S::Pending, S::Pending]),
            commands: vec![],
        },
        Case {
            name: "build succeeded asks for its artifact to be recorded",
            before: started,
            event: build_ok(),
            status: (Status::Building, vec![S::Pending, S::Pending]),
            commands: vec![Command::PinArtifact],
        },
        Case {
            name: "the recorded artifact starts the first stage",
            before: || after(vec![build_ok()]),
            event: pinned(),
            status: (Status::Deploying, vec![S::Preparing, S::Pending]),
            commands: vec![Command::CreateChangeSet {
                stage: stage("staging"),
            }],
        },
        Case {
            name: "an artifact that cannot be deployed fails the execution",
            before: || after(vec![build_ok()]),
            event: Event::ArtifactRejected {
                reason: "no packaged.yaml".into(),
            },
            status: (Status::Failed, vec![S::Pending, S::Pending]),
            commands: vec![Command::Notify(Notice::Failed {
                stage: None,
                reason: "the build's artifact cannot be deployed: no packaged.yaml".into(),
            })],
        },
        Case {
            name: "the sweeper asks again for an artifact never recorded",
            before: || after(vec![build_ok()]),
            event: Event::ArtifactNotPinned,
            status: (Status::Building, vec![S::Pending, S::Pending]),
            commands: vec![Command::PinArtifact],
        },
        Case {
            name: "build failed fails the execution",
            before: started,
            event: Event::BuildFailed {
                build_id: Some("hello:1".into()),
                reason: "phase BUILD failed".into(),
                cause: Cause::Change,
                log_url: Some("https://logs/1".into()),
            },
            status: (Status::Failed, vec![S::Pending, S::Pending]),
            commands: vec![Command::Notify(Notice::Failed {
                stage: None,
                reason: "build failed: phase BUILD failed".into(),
            })],
        },
        Case {
            name: "a build that never started fails the execution",
            before: started,
            event: Event::BuildNeverStarted,
            status: (Status::Failed, vec![S::Pending, S::Pending]),
            commands: vec![Command::Notify(Notice::Failed {
                stage: None,
                reason: "the build was never started: CodeBuild has no record of it; push again to retry".into(),
            })],
        },
        Case {
            name: "an ungated stage executes its ready change set",
            before: || after(vec![build_ok(), pinned()]),
            event: ready("staging"),
            status: (Status::Deploying, vec![S::Deploying, S::Pending]),
            commands: vec![Command::ExecuteChangeSet {
                stage: stage("staging"),
                change_set_id: cs("staging"),
            }],
        },
        Case {
            name: "an empty change set passes the stage and starts the next",
            before: || after(vec![build_ok(), pinned()]),
            event: Event::ChangeSetEmpty {
                stage: stage("staging"),
                change_set_id: cs("staging"),
            },
            status: (Status::Deploying, vec![S::NoChanges, S::Preparing]),
            commands: vec![
                Command::DeleteChangeSet {
                    stage: stage("staging"),
                    change_set_id: cs("staging"),
                },
                Command::CreateChangeSet {
                    stage: stage("production"),
                },
            ],
        },
        Case {
            name: "a failed change set fails the execution",
            before: || after(vec![build_ok(), pinned()]),
            event: Event::ChangeSetFailed {
                stage: stage("staging"),
                change_set_id: None,
                reason: "Template format error".into(),
                cause: Cause::Change,
            },
            status: (Status::Failed, vec![S::Failed, S::Pending]),
            commands: vec![Command::Notify(Notice::Failed {
                stage: Some(stage("staging")),
                reason: "change set failed: Template format error".into(),
            })],
        },
        Case {
            name: "a deployed stage starts the next",
            before: || after(vec![build_ok(), pinned(), ready("staging")]),
            event: deployed("staging"),
            status: (Status::Deploying, vec![S::Succeeded, S::Preparing]),
            commands: vec![Command::CreateChangeSet {
                stage: stage("production"),
            }],
        },
        Case {
            name: "a failed deploy fails the execution with the reason",
            before: || after(vec![build_ok(), pinned(), ready("staging")]),
            event: Event::StackUpdateFailed {
                stage: stage("staging"),
                reason: "HelloFunction: Resource handler returned message".into(),
                cause: Cause::Change,
            },
            status: (Status::Failed, vec![S::Failed, S::Pending]),
            commands: vec![Command::Notify(Notice::Failed {
                stage: Some(stage("staging")),
                reason: "deploy failed: HelloFunction: Resource handler returned message".into(),
            })],
        },
        Case {
            name: "a gated stage asks for approval instead of executing",
            before: || after(vec![build_ok(), pinned(), ready("staging"), deployed("staging")]),
            event: ready("production"),
            status: (Status::Deploying, vec![S::Succeeded, S::AwaitingApproval]),
            commands: vec![Command::RequestApproval {
                stage: stage("production"),
            }],
        },
        Case {
            name: "approval executes the change set",
            before: at_gate,
            event: granted(TOKEN),
            status: (Status::Deploying, vec![S::Succeeded, S::Deploying]),
            commands: vec![Command::ExecuteChangeSet {
                stage: stage("production"),
                change_set_id: cs("production"),
            }],
        },
        Case {
            name: "rejection deletes the change set and ends the execution",
            before: at_gate,
            event: rejected(TOKEN),
            status: (Status::Rejected, vec![S::Succeeded, S::Rejected]),
            commands: vec![
                Command::DeleteChangeSet {
                    stage: stage("production"),
                    change_set_id: cs("production"),
                },
                Command::Notify(Notice::Rejected {
                    stage: stage("production"),
                    by: "Grace".into(),
                    comment: Some("not on a Friday".into()),
                }),
            ],
        },
        Case {
            name: "superseding ends the waiting execution",
            before: at_gate,
            event: Event::Superseded {
                stage: stage("production"),
                by: ExecutionId::parse("9999999999998-0123456789ab").unwrap(),
            },
            status: (Status::Superseded, vec![S::Succeeded, S::Superseded]),
            commands: vec![
                Command::DeleteChangeSet {
                    stage: stage("production"),
                    change_set_id: cs("production"),
                },
                Command::Notify(Notice::Superseded {
                    stage: stage("production"),
                    by: ExecutionId::parse("9999999999998-0123456789ab").unwrap(),
                }),
            ],
        },
        Case {
            name: "superseding also ends an execution queued at a stage",
            before: || after(vec![build_ok(), pinned()]),
            event: Event::Superseded {
                stage: stage("staging"),
                by: ExecutionId::parse("9999999999998-0123456789ab").unwrap(),
            },
            status: (Status::Superseded, vec![S::Superseded, S::Pending]),
            commands: vec![Command::Notify(Notice::Superseded {
                stage: stage("staging"),
                by: ExecutionId::parse("9999999999998-0123456789ab").unwrap(),
            })],
        },
        Case {
            name: "an approval link never sent is sent",
            before: || {
                after(vec![
                    build_ok(),
                    pinned(),
                    ready("staging"),
                    deployed("staging"),
                    ready("production"),
                ])
            },
            event: Event::ApprovalNotSent {
                stage: stage("production"),
            },
            status: (Status::Deploying, vec![S::Succeeded, S::AwaitingApproval]),
            commands: vec![Command::RequestApproval {
                stage: stage("production"),
            }],
        },
        Case {
            name: "the last stage deployed ends the execution successfully",
            before: || {
                let e = at_gate();
                step(&e, granted(TOKEN), t(100)).unwrap().execution
            },
            event: deployed("production"),
            status: (Status::Succeeded, vec![S::Succeeded, S::Succeeded]),
            commands: vec![Command::Notify(Notice::Succeeded)],
        },
        Case {
            name: "a missing change set is created again",
            before: || after(vec![build_ok(), pinned()]),
            event: Event::ChangeSetMissing {
                stage: stage("staging"),
            },
            status: (Status::Deploying, vec![S::Preparing, S::Pending]),
            commands: vec![Command::CreateChangeSet {
                stage: stage("staging"),
            }],
        },
        Case {
            name: "an unexecuted change set is executed",
            before: || after(vec![build_ok(), pinned(), ready("staging")]),
            event: Event::ChangeSetNotExecuted {
                stage: stage("staging"),
            },
            status: (Status::Deploying, vec![S::Deploying, S::Pending]),
            commands: vec![Command::ExecuteChangeSet {
                stage: stage("staging"),
                change_set_id: cs("staging"),
            }],
        },
    ]
}

#[test]
fn every_transition_does_what_its_row_says() {
    for case in cases() {
        let before = (case.before)();
        let tr = step(&before, case.event, t(1000))
            .unwrap_or_else(|e| panic!("{}: rejected: {e}", case.name));
        assert_eq!(statuses(&tr.execution), case.status, "{}", case.name);
        assert_eq!(tr.commands, case.commands, "{}", case.name);
        assert_ne!(tr.execution, before, "{}: nothing changed", case.name);
        assert_eq!(tr.execution.updated_at, t(1000), "{}", case.name);
    }
}

/// Events that do not apply in a state: no change, no commands.
#[test]
fn stale_duplicate_and_out_of_order_events_change_nothing() {
    let rows: Vec<(&str, Execution, Event)> = vec![
        (
            "duplicate build success",
            after(vec![build_ok(), pinned()]),
            build_ok(),
        ),
        (
            "build started after success",
            after(vec![build_ok(), pinned()]),
            Event::BuildStarted {
                build_id: "hello:1".into(),
                log_url: None,
            },
        ),
        (
            "build failure after success",
            after(vec![build_ok(), pinned()]),
            Event::BuildFailed {
                build_id: Some("hello:1".into()),
                reason: "late".into(),
                cause: Cause::Change,
                log_url: None,
            },
        ),
        ("change set before build", started(), ready("staging")),
        (
            "duplicate change set ready",
            after(vec![build_ok(), pinned(), ready("staging")]),
            ready("staging"),
        ),
        (
            "next stage's change set too early",
            after(vec![build_ok(), pinned()]),
            ready("production"),
        ),
        (
            "stack done before execute",
            after(vec![build_ok(), pinned()]),
            deployed("staging"),
        ),
        ("duplicate approval request", at_gate(), requested()),
        (
            "approval link already sent",
            at_gate(),
            Event::ApprovalNotSent {
                stage: stage("production"),
            },
        ),
        (
            "expiry before any request",
            after(vec![
                build_ok(),
                pinned(),
                ready("staging"),
                deployed("staging"),
                ready("production"),
            ]),
            Event::ApprovalExpired {
                stage: stage("production"),
            },
        ),
        (
            "supersede of a stage that is deploying",
            after(vec![build_ok(), pinned(), ready("staging")]),
            Event::Superseded {
                stage: stage("staging"),
                by: ExecutionId::parse("9999999999998-0123456789ab").unwrap(),
            },
        ),
        (
            "event for a rejected execution",
            {
                let e = at_gate();
                step(&e, rejected(TOKEN), t(50)).unwrap().execution
            },
            deployed("production"),
        ),
        (
            "build never started once it has",
            after(vec![Event::BuildStarted {
                build_id: "hello:1".into(),
                log_url: None,
            }]),
            Event::BuildNeverStarted,
        ),
    ];
    for (name, before, event) in rows {
        let tr = step(&before, event, t(1000)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(tr.execution, before, "{name}");
        assert!(tr.commands.is_empty(), "{name}: {:?}", tr.commands);
    }
}

#[test]
fn impossible_events_are_typed_rejections() {
    let foreign = step(
        &after(vec![Event::BuildStarted {
            build_id: "hello:1".into(),
            log_url: None,
        }]),
        Event::BuildSucceeded {
            build_id: "hello:2".into(),
            log_url: None,
        },
        t(100),
    );
    assert!(matches!(foreign, Err(Rejected::ForeignBuild { .. })));

    let unknown = step(&started(), deployed("qa"), t(100));
    assert_eq!(unknown, Err(Rejected::UnknownStage(stage("qa"))));

    let early = step(
        &at_gate(),
        Event::ApprovalExpired {
            stage: stage("production"),
        },
        t(100),
    );
    assert!(matches!(early, Err(Rejected::NotYetExpired { .. })));

    let note = step(
        &started(),
        Event::NoteAdded {
            author: " ".into(),
            text: "hi".into(),
        },
        t(100),
    );
    assert!(matches!(note, Err(Rejected::InvalidNote(_))));
}
