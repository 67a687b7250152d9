use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::config::{Pipeline, StageConfig};
use crate::event::Via;
use crate::ids::{CommitId, TokenHash};
use crate::model::{
    Artifact, ArtifactObject, ChangeAction, Decision, Replacement, ResourceChange, StageStatus,
};
use crate::smoke::{Answer, Findings, Probe};
use crate::transient::Cause;

const COMMIT: &str = "f00dfeedf00dfeedf00dfeedf00dfeedf00dfeed";
const TOKEN: &str = "the-token";

/// [`super::step`], with the shell answering a smoke check it asks for at once: the
/// stack's one address answers 200. Most tests here are about what comes before or
/// after a stage passes; the smoke check's own tests call `super::step` itself.
fn step(execution: &Execution, event: Event, now: Timestamp) -> Result<Transition, Rejected> {
    let mut tr = super::step(execution, event, now)?;
    let asked: Vec<StageName> = tr
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::SmokeCheck { stage } => Some(stage.clone()),
            _ => None,
        })
        .collect();
    for stage in asked {
        tr.commands
            .retain(|c| !matches!(c, Command::SmokeCheck { stage: s } if *s == stage));
        let findings = smoke_answered(200);
        let next = super::step(&tr.execution, Event::SmokeChecked { stage, findings }, now)?;
        tr.execution = next.execution;
        tr.commands.extend(next.commands);
    }
    Ok(tr)
}

/// What a smoke check finds when the stack's one address answers `code`.
fn smoke_answered(code: u16) -> Findings {
    Findings {
        probes: vec![Probe::new(
            "ApiUrl",
            "https://abc.execute-api.us-east-1.amazonaws.com/Prod/",
            Answer::Status { code },
        )],
        ..Findings::default()
    }
}

fn t(secs: i64) -> Timestamp {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

fn pipeline() -> Pipeline {
    Pipeline::with_default_stages("hello", "hello-api", "master", "hello").unwrap()
}

fn stage(name: &str) -> StageName {
    StageName::parse(name).unwrap()
}

fn change() -> ResourceChange {
    ResourceChange {
        logical_id: "HelloFunction".into(),
        resource_type: "AWS::Lambda::Function".into(),
        action: ChangeAction::Modify,
        replacement: Replacement::Never,
        stack: None,
    }
}

fn started() -> Execution {
    let commit = Commit {
        id: CommitId::parse(COMMIT).unwrap(),
        author: Some("Ada".into()),
        message: Some("Say hello".into()),
    };
    start(
        &pipeline(),
        Push::new("hello-api", "master", commit, t(0)),
        t(0),
    )
    .unwrap()
    .execution
}

/// A push of [`COMMIT`] (no author or message) started on `pipeline`, at `t(0)`.
fn started_on(pipeline: &Pipeline) -> Execution {
    let commit = Commit {
        id: CommitId::parse(COMMIT).unwrap(),
        author: None,
        message: None,
    };
    start(
        pipeline,
        Push::new("hello-api", "master", commit, t(0)),
        t(0),
    )
    .unwrap()
    .execution
}

/// Applies events in order at one-second intervals, panicking on a rejection.
fn after(events: Vec<Event>) -> Execution {
    let mut exec = started();
    for (i, event) in events.into_iter().enumerate() {
        exec = step(&exec, event, t(i as i64 + 1)).unwrap().execution;
    }
    exec
}

fn build_ok() -> Event {
    Event::BuildSucceeded {
        build_id: "hello:1".into(),
        log_url: Some("https://logs/1".into()),
    }
}

fn pinned() -> Event {
    let object = |key: &str| ArtifactObject {
        key: key.into(),
        etag: "\"e\"".into(),
        version: Some("v1".into()),
        ..Default::default()
    };
    Event::ArtifactPinned {
        artifact: Artifact {
            template: Some(object("packaged.yaml")),
            configurations: vec![(stage("staging"), object("staging.json"))],
            code: vec![object("code.zip")],
            site: Vec::new(),
            ..Default::default()
        },
    }
}

fn ready(name: &str) -> Event {
    Event::ChangeSetReady {
        stage: stage(name),
        change_set_id: format!("cs-{name}"),
        changes: vec![change()],
    }
}

fn deployed(name: &str) -> Event {
    Event::StackUpdateCompleted { stage: stage(name) }
}

fn requested() -> Event {
    Event::ApprovalRequested {
        stage: stage("production"),
        token_sha256: TokenHash::of(TOKEN),
        expires_at: t(7 * 24 * 3600),
    }
}

fn sent() -> Event {
    Event::ApprovalSent {
        stage: stage("production"),
        token_sha256: TokenHash::of(TOKEN),
    }
}

fn granted(token: &str) -> Event {
    Event::ApprovalGranted {
        stage: stage("production"),
        via: Via::Link {
            token_sha256: TokenHash::of(token),
        },
        by: "Grace".into(),
        comment: None,
    }
}

fn rejected(token: &str) -> Event {
    Event::ApprovalRejected {
        stage: stage("production"),
        via: Via::Link {
            token_sha256: TokenHash::of(token),
        },
        by: "Grace".into(),
        comment: Some("not on a Friday".into()),
    }
}

fn at_gate() -> Execution {
    after(vec![
        build_ok(),
        pinned(),
        ready("staging"),
        deployed("staging"),
        ready("production"),
        requested(),
        sent(),
    ])
}

fn statuses(exec: &Execution) -> (Status, Vec<StageStatus>) {
    (exec.status, exec.stages.iter().map(|s| s.status).collect())
}

use StageStatus as S;

#[test]
fn a_push_creates_a_building_execution_and_asks_for_one_build() {
    let commit = Commit {
        id: CommitId::parse(COMMIT).unwrap(),
        author: None,
        message: None,
    };
    let tr = start(
        &pipeline(),
        Push::new("hello-api", "master", commit, t(0)),
        t(0),
    )
    .unwrap();
    assert_eq!(
        tr.commands,
        [Command::StartBuild, Command::Notify(Notice::Started)]
    );
    assert_eq!(
        statuses(&tr.execution),
        (Status::Building, vec![S::Pending, S::Pending])
    );
    assert_eq!(
        tr.execution.id,
        ExecutionId::new(t(0), &tr.execution.commit.id)
    );
}

#[test]
fn pushes_elsewhere_are_not_watched() {
    let commit = || Commit {
        id: CommitId::parse(COMMIT).unwrap(),
        author: None,
        message: None,
    };
    for (repo, branch) in [("other", "master"), ("hello-api", "feature")] {
        let err = start(&pipeline(), Push::new(repo, branch, commit(), t(0)), t(0)).unwrap_err();
        assert!(matches!(err, Rejected::NotWatched { .. }), "{err}");
        assert!(err.to_string().contains("hello-api/master"), "{err}");
    }
}

/// Each row: the events leading to a state, the event under test, and the outcome.
struct Case {
    name: &'static str,
    before: fn() -> Execution,
    event: Event,
    status: (Status, Vec<StageStatus>),
    commands: Vec<Command>,
}

fn cases() -> Vec<Case> {
    let cs = |name: &str| format!("cs-{name}");
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

#[test]
fn a_wrong_token_reveals_nothing_and_changes_nothing() {
    assert_eq!(
        step(&at_gate(), granted("guess"), t(100)),
        Err(Rejected::WrongToken {
            stage: stage("production")
        })
    );
    // Before any approval was requested, no token is right.
    let preparing = after(vec![
        build_ok(),
        pinned(),
        ready("staging"),
        deployed("staging"),
    ]);
    assert!(matches!(
        step(&preparing, granted(TOKEN), t(100)),
        Err(Rejected::WrongToken { .. })
    ));
    // A wrong token on a finished execution still gets 'wrong token', not its status.
    let done = step(&at_gate(), rejected(TOKEN), t(50)).unwrap().execution;
    assert!(matches!(
        step(&done, granted("guess"), t(100)),
        Err(Rejected::WrongToken { .. })
    ));
}

#[test]
fn a_token_works_once() {
    let approved = step(&at_gate(), granted(TOKEN), t(100)).unwrap().execution;
    for replay in [granted(TOKEN), rejected(TOKEN)] {
        match step(&approved, replay, t(200)) {
            Err(Rejected::AlreadyDecided {
                approved: true,
                by,
                at,
                ..
            }) => {
                assert_eq!(by, "Grace");
                assert_eq!(at, t(100));
            }
            other => panic!("replayed token gave {other:?}"),
        }
    }
}

#[test]
fn an_expired_approval_cannot_be_granted_and_expires_the_execution() {
    let gate = at_gate();
    let deadline = t(7 * 24 * 3600);
    assert_eq!(
        step(&gate, granted(TOKEN), deadline),
        Err(Rejected::ApprovalExpired {
            stage: stage("production"),
            at: deadline
        })
    );
    let tr = step(
        &gate,
        Event::ApprovalExpired {
            stage: stage("production"),
        },
        deadline + Duration::seconds(1),
    )
    .unwrap();
    assert_eq!(
        statuses(&tr.execution),
        (Status::Expired, vec![S::Succeeded, S::Expired])
    );
    assert!(tr.commands.contains(&Command::DeleteChangeSet {
        stage: stage("production"),
        change_set_id: "cs-production".into()
    }));
}

#[test]
fn decisions_on_finished_executions_say_why() {
    let superseded = step(
        &at_gate(),
        Event::Superseded {
            stage: stage("production"),
            by: ExecutionId::parse("9999999999998-0123456789ab").unwrap(),
        },
        t(100),
    )
    .unwrap()
    .execution;
    assert_eq!(
        step(&superseded, granted(TOKEN), t(200)),
        Err(Rejected::Finished {
            status: Status::Superseded,
            at: t(100)
        })
    );
    assert!(
        superseded
            .reason
            .as_deref()
            .unwrap()
            .contains("9999999999998-0123456789ab")
    );
}

#[test]
fn a_run_records_its_timeline_in_order() {
    let exec = at_gate();
    let times: Vec<_> = exec.timeline.iter().map(|e| e.at).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    let text: Vec<_> = exec.timeline.iter().map(|e| e.what.as_str()).collect();
    assert_eq!(
        text.first(),
        Some(&"push of f00dfeedf00d to master received")
    );
    assert!(
        text.iter().any(|l| l.starts_with("staging: deployed")),
        "{text:?}"
    );
    assert!(
        text.contains(
            &"staging: smoke check: ApiUrl (abc.execute-api.us-east-1.amazonaws.com) answered 200"
        ),
        "{text:?}"
    );
    assert!(
        text[text.len() - 2].starts_with("production: approval requested"),
        "{text:?}"
    );
    assert_eq!(text.last(), Some(&"production: approval link sent"));
}

#[test]
fn notes_commute_and_duplicates_are_ignored() {
    let note = |author: &str| Event::NoteAdded {
        author: author.into(),
        text: "looks fine".into(),
    };
    let base = started();
    let ab = step(
        &step(&base, note("a"), t(5)).unwrap().execution,
        note("b"),
        t(3),
    )
    .unwrap()
    .execution;
    let ba = step(
        &step(&base, note("b"), t(3)).unwrap().execution,
        note("a"),
        t(5),
    )
    .unwrap()
    .execution;
    assert_eq!(ab, ba);
    let again = step(&ab, note("a"), t(5)).unwrap();
    assert_eq!(again.execution, ab);
}

#[test]
fn a_notes_author_is_one_clean_line_and_an_over_long_note_is_refused() {
    let forged = Event::NoteAdded {
        author: "arn:aws:iam::123456789012:user/ops\r\nStatus: approved\u{1b}[31m".into(),
        text: "first line\nsecond line\u{202e}".into(),
    };
    let noted = step(&started(), forged, t(5)).unwrap().execution;
    let note = &noted.notes[0];
    assert_eq!(
        note.author,
        "arn:aws:iam::123456789012:user/ops Status: approved"
    );
    assert_eq!(note.text, "first line\nsecond line");

    let long = Event::NoteAdded {
        author: "ops".into(),
        text: "x".repeat(2001),
    };
    let refused = step(&started(), long, t(5)).expect_err("over 2,000 characters");
    assert!(matches!(refused, Rejected::InvalidNote(_)), "{refused:?}");
}

#[test]
fn executions_round_trip_through_json() {
    let exec = step(&at_gate(), granted(TOKEN), t(100)).unwrap().execution;
    let json = serde_json::to_string(&exec).unwrap();
    assert!(!json.contains(TOKEN));
    let back: Execution = serde_json::from_str(&json).unwrap();
    assert_eq!(back, exec);
}

#[test]
fn a_stage_config_with_a_role_is_carried_into_the_execution() {
    let stages = vec![
        StageConfig::new(
            "prod",
            "app-prod",
            Some("arn:aws:iam::123456789012:role/deployer"),
            true,
        )
        .unwrap(),
    ];
    let p = Pipeline::new("p", "r", "main", stages).unwrap();
    let commit = Commit {
        id: CommitId::parse(COMMIT).unwrap(),
        author: None,
        message: None,
    };
    let exec = start(&p, Push::new("r", "main", commit, t(0)), t(0))
        .unwrap()
        .execution;
    assert_eq!(
        exec.stages[0].role_arn.as_deref(),
        Some("arn:aws:iam::123456789012:role/deployer")
    );
}

#[test]
fn entries_of_the_same_instant_keep_the_order_they_happened_in() {
    let commit = Commit {
        id: CommitId::parse(COMMIT).unwrap(),
        author: None,
        message: None,
    };
    let exec = start(
        &pipeline(),
        Push::new("hello-api", "master", commit, t(0)),
        t(0),
    )
    .unwrap()
    .execution;
    let exec = step(&exec, build_ok(), t(0)).unwrap().execution;
    let exec = step(&exec, pinned(), t(0)).unwrap().execution;
    let text: Vec<_> = exec.timeline.iter().map(|e| e.what.as_str()).collect();
    assert_eq!(
        text,
        [
            "push of f00dfeedf00d to master received",
            "build hello:1 succeeded",
            "artifact recorded (3 objects)",
            "staging: preparing change set"
        ]
    );
}

#[test]
fn an_unsent_approval_link_is_replaced_and_a_sent_one_is_not() {
    let unsent = after(vec![
        build_ok(),
        pinned(),
        ready("staging"),
        deployed("staging"),
        ready("production"),
        requested(),
    ]);
    let again = Event::ApprovalNotSent {
        stage: stage("production"),
    };
    let tr = step(&unsent, again.clone(), t(500)).unwrap();
    assert_eq!(
        tr.commands,
        vec![Command::RequestApproval {
            stage: stage("production")
        }]
    );
    let other = Event::ApprovalRequested {
        stage: stage("production"),
        token_sha256: TokenHash::of("another token"),
        expires_at: t(8 * 24 * 3600),
    };
    let replaced = step(&unsent, other.clone(), t(501)).unwrap().execution;
    let approval = replaced.stages[1].approval.clone().unwrap();
    assert!(
        approval
            .token_sha256
            .matches(&TokenHash::of("another token"))
    );
    // The old link no longer decides anything.
    assert!(step(&replaced, granted(TOKEN), t(502)).is_err());

    let sent = at_gate();
    assert_eq!(step(&sent, other, t(501)).unwrap().execution, sent);
    assert!(step(&sent, again, t(500)).unwrap().commands.is_empty());
}

#[test]
fn the_clock_finds_unsent_links_late_builds_and_expired_approvals() {
    use crate::deadlines::{APPROVAL_SEND_GRACE, BUILD_START_GRACE, overdue};
    let fresh = started();
    assert_eq!(overdue(&fresh, fresh.created_at + BUILD_START_GRACE), None);
    assert_eq!(
        overdue(
            &fresh,
            fresh.created_at + BUILD_START_GRACE + chrono::Duration::seconds(1)
        ),
        Some(Event::BuildNeverStarted)
    );
    let unsent = after(vec![
        build_ok(),
        pinned(),
        ready("staging"),
        deployed("staging"),
        ready("production"),
        requested(),
    ]);
    let requested_at = unsent.stages[1].approval.as_ref().unwrap().requested_at;
    assert_eq!(
        overdue(&unsent, requested_at + chrono::Duration::seconds(30)),
        None
    );
    assert_eq!(
        overdue(&unsent, requested_at + APPROVAL_SEND_GRACE),
        Some(Event::ApprovalNotSent {
            stage: stage("production")
        })
    );
    let gate = at_gate();
    assert_eq!(overdue(&gate, requested_at + APPROVAL_SEND_GRACE), None);
    assert_eq!(
        overdue(&gate, t(7 * 24 * 3600)),
        Some(Event::ApprovalExpired {
            stage: stage("production")
        })
    );
}

#[test]
fn text_from_outside_is_stored_clean_and_reasons_verbatim() {
    let gate = at_gate();
    let rejected = step(
        &gate,
        Event::ApprovalRejected {
            stage: stage("production"),
            via: Via::Link {
                token_sha256: TokenHash::of(TOKEN),
            },
            by: "Eve\nWhat happened: approved\u{1b}[2J".into(),
            comment: Some("not on a Friday\u{202E}".into()),
        },
        t(60),
    )
    .unwrap()
    .execution;
    let decision = production_decision(&rejected);
    assert_eq!(decision.by, "Eve What happened: approved");
    assert_eq!(decision.comment.as_deref(), Some("not on a Friday"));
    let last = &rejected.timeline.last().unwrap().what;
    assert!(last.contains("not on a Friday"), "{last}");
    assert!(last.starts_with("execution rejected: "), "{last}");
}

/// The decision taken at the production gate; the test fails if there is none.
fn production_decision(e: &Execution) -> Decision {
    e.stages[1]
        .approval
        .as_ref()
        .and_then(|a| a.decision.clone())
        .expect("a decision at the production gate")
}

fn by_identity(approve: bool) -> Event {
    let (stage, via, by, comment) = (
        stage("production"),
        Via::Identity,
        "arn:aws:sts::123456789012:assumed-role/operators/grace".to_owned(),
        Some("checked the change set".to_owned()),
    );
    if approve {
        Event::ApprovalGranted {
            stage,
            via,
            by,
            comment,
        }
    } else {
        Event::ApprovalRejected {
            stage,
            via,
            by,
            comment,
        }
    }
}

#[test]
fn an_authenticated_caller_decides_without_the_link_and_is_recorded_as_such() {
    let tr = step(&at_gate(), by_identity(true), t(60)).unwrap();
    assert_eq!(tr.execution.stages[1].status, S::Deploying);
    let decision = production_decision(&tr.execution);
    assert!(decision.by_identity);
    assert_eq!(
        decision.by,
        "arn:aws:sts::123456789012:assumed-role/operators/grace"
    );
    assert!(matches!(
        tr.commands.as_slice(),
        [Command::ExecuteChangeSet { .. }]
    ));
    // A link decision is not one by identity.
    let by_link = step(&at_gate(), granted(TOKEN), t(60)).unwrap().execution;
    assert!(!production_decision(&by_link).by_identity);

    // Rejecting ends the execution the same way the page does.
    let tr = step(&at_gate(), by_identity(false), t(60)).unwrap();
    assert_eq!(tr.execution.status, Status::Rejected);
    // A second decision, however it comes, is refused with the first.
    let again = step(&tr.execution, by_identity(true), t(61)).unwrap_err();
    assert!(matches!(
        again,
        Rejected::AlreadyDecided {
            approved: false,
            ..
        }
    ));
}

#[test]
fn a_caller_cannot_decide_a_gate_whose_request_is_not_issued_yet() {
    let unrequested = after(vec![
        build_ok(),
        pinned(),
        ready("staging"),
        deployed("staging"),
        ready("production"),
    ]);
    assert_eq!(unrequested.stages[1].status, S::AwaitingApproval);
    let refused = step(&unrequested, by_identity(true), t(60)).unwrap_err();
    assert!(
        matches!(refused, Rejected::NoApprovalYet { .. }),
        "{refused}"
    );
    // Nor a stage that is not at its gate.
    let refused = step(&started(), by_identity(true), t(60)).unwrap_err();
    assert!(
        matches!(refused, Rejected::NotAwaitingApproval { .. }),
        "{refused}"
    );
}

fn replace_link() -> Event {
    Event::ApprovalLinkReplaced {
        stage: stage("production"),
        by: "arn:aws:iam::123456789012:user/ops".into(),
    }
}

#[test]
fn a_replaced_link_stops_working_and_says_so_while_a_new_one_is_issued() {
    let tr = step(&at_gate(), replace_link(), t(60)).unwrap();
    assert_eq!(
        tr.commands,
        vec![Command::RequestApproval {
            stage: stage("production")
        }]
    );
    let replaced = tr.execution;
    assert_eq!(replaced.stages[1].status, S::AwaitingApproval);
    assert!(replaced.stages[1].approval.is_none());
    let old = step(&replaced, granted(TOKEN), t(61)).unwrap_err();
    assert!(matches!(old, Rejected::LinkReplaced { .. }), "{old}");
    // A token that was never issued is still simply wrong.
    let wrong = step(&replaced, granted("never issued"), t(61)).unwrap_err();
    assert!(matches!(wrong, Rejected::WrongToken { .. }), "{wrong}");

    // The new link is accepted, and decides.
    let new = Event::ApprovalRequested {
        stage: stage("production"),
        token_sha256: TokenHash::of("new token"),
        expires_at: t(8 * 24 * 3600),
    };
    let reissued = step(&replaced, new, t(62)).unwrap().execution;
    assert!(step(&reissued, granted(TOKEN), t(63)).is_err());
    let approved = step(&reissued, granted("new token"), t(63))
        .unwrap()
        .execution;
    assert_eq!(approved.stages[1].status, S::Deploying);
}

#[test]
fn a_link_cannot_be_replaced_once_decided_or_before_the_gate() {
    let decided = step(&at_gate(), granted(TOKEN), t(60)).unwrap().execution;
    let refused = step(&decided, replace_link(), t(61)).unwrap_err();
    assert!(
        matches!(refused, Rejected::AlreadyDecided { .. }),
        "{refused}"
    );
    let refused = step(&started(), replace_link(), t(61)).unwrap_err();
    assert!(
        matches!(refused, Rejected::NotAwaitingApproval { .. }),
        "{refused}"
    );
}

#[test]
fn a_finished_execution_has_no_link_to_replace() {
    let rejected = step(&at_gate(), rejected(TOKEN), t(60)).unwrap().execution;
    let refused = step(&rejected, replace_link(), t(61)).unwrap_err();
    assert!(
        matches!(
            refused,
            Rejected::Finished {
                status: Status::Rejected,
                ..
            }
        ),
        "{refused}"
    );
}

const OPERATOR: &str = "arn:aws:sts::123456789012:assumed-role/ops/kim";

fn cancelled() -> Event {
    Event::Cancelled {
        by: OPERATOR.into(),
    }
}

fn retried() -> Event {
    Event::Retried {
        by: OPERATOR.into(),
    }
}

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
fn two_pipelines_building_one_push_ask_for_two_builds() {
    let back_end = started();
    let front_end = start(
        &Pipeline::with_default_stages("hello-web", "hello-api", "master", "hello-web").unwrap(),
        Push::new("hello-api", "master", back_end.commit.clone(), t(0)),
        t(0),
    )
    .unwrap()
    .execution;
    assert_eq!(back_end.id, front_end.id, "the same push, the same time");
    assert_ne!(
        back_end.build_token(),
        front_end.build_token(),
        "CodeBuild would answer the second pipeline with the first one's build"
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

#[test]
fn a_release_is_recorded_as_asked_for_by_the_operator() {
    let commit = Commit {
        id: CommitId::parse(COMMIT).unwrap(),
        author: None,
        message: None,
    };
    let mut push = Push::new("hello-api", "master", commit, t(0));
    push.released_by = Some(OPERATOR.into());
    let e = start(&pipeline(), push, t(0)).unwrap().execution;
    assert_eq!(
        e.timeline[0].what,
        format!("release of f00dfeedf00d on master asked for by {OPERATOR}")
    );
}

#[test]
fn a_rollback_deploys_an_earlier_artifact_to_one_stage_behind_a_confirmation() {
    let source = step(&at_gate(), granted(TOKEN), t(60)).unwrap().execution;
    let tr = rollback(&pipeline(), &source, &stage("staging"), OPERATOR, t(100)).unwrap();
    assert_eq!(
        tr.commands,
        vec![Command::CreateChangeSet {
            stage: stage("staging")
        }]
    );
    let e = tr.execution;
    assert_ne!(e.id, source.id);
    assert_eq!(e.rollback_of.as_ref(), Some(&source.id));
    assert_eq!(
        e.artifact, source.artifact,
        "the pinned artifact, as it was"
    );
    assert_eq!(e.stages.len(), 1);
    assert!(
        e.stages[0].requires_approval,
        "staging has no gate; a rollback does"
    );
    assert_eq!(e.status, Status::Deploying);
    // Ready, it waits for someone to confirm; confirmed, it deploys.
    let waiting = step(&e, ready("staging"), t(101)).unwrap();
    assert_eq!(waiting.execution.stages[0].status, S::AwaitingApproval);
    assert!(waiting.commands.contains(&Command::RequestApproval {
        stage: stage("staging")
    }));
    assert!(e.timeline[0].what.contains(&format!(
        "rollback of staging to f00dfeedf00d (execution {})",
        source.id
    )));

    let unbuilt = step(&started(), build_ok(), t(1)).unwrap().execution;
    let refused = rollback(&pipeline(), &unbuilt, &stage("staging"), OPERATOR, t(2)).unwrap_err();
    assert!(matches!(refused, Rejected::NoArtifact(_)), "{refused}");
    let refused = rollback(&pipeline(), &source, &stage("qa"), OPERATOR, t(2)).unwrap_err();
    assert!(matches!(refused, Rejected::UnknownStage(_)), "{refused}");
}

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
        target: format!("s3://hello-web-{name}/"),
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
        staging.change_set_id.as_deref(),
        Some("s3://hello-web-staging/")
    );
}

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
        e = super::step(&e, event, t(n as i64 + 1)).unwrap().execution;
    }
    let tr = super::step(&e, deployed("staging"), t(10)).unwrap();
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
    super::step(e, event, t(at)).unwrap()
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
    let tr = super::step(&e, finding, late).unwrap();
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
        e = super::step(&e, event, t(n as i64 + 1)).unwrap().execution;
    }
    let tr = smoke_checked(&e, smoke_answered(503), 10);
    assert_eq!(tr.execution.stages[0].status, StageStatus::Retrying);
    let due = crate::deadlines::overdue(&tr.execution, t(100)).unwrap();
    let tr = super::step(&tr.execution, due, t(100)).unwrap();
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
