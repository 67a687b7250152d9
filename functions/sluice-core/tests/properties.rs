//! Property tests: a valid run's events, duplicated, reordered within a window and
//! partly dropped, never break the pipeline's safety invariants.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use sluice_core::smoke::{Answer, Findings, Probe};
use sluice_core::{
    Artifact, ArtifactObject, BuildId, Cause, ChangeAction, ChangeSetId, Command, Commit, CommitId,
    Event, Execution, ExecutionId, Pipeline, Push, Replacement, ResourceChange, StageConfig,
    StageName, Status, Timestamp, TokenHash, Via, start, step,
};

const CASES: u32 = 10_000;
const SPACING: i64 = 10;
const APPROVAL_WINDOW: i64 = 5_000;

fn t(secs: i64) -> Timestamp {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

fn token(stage: &StageName) -> String {
    format!("token-for-{stage}")
}

/// How one generated run is meant to go, before it is perturbed.
#[derive(Debug, Clone)]
struct Plan {
    gates: Vec<bool>,
    choices: Vec<u8>,
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        prop::collection::vec(any::<bool>(), 1..=3),
        prop::collection::vec(any::<u8>(), 12),
    )
        .prop_map(|(gates, choices)| Plan { gates, choices })
}

fn pipeline(gates: &[bool]) -> Pipeline {
    let stages = gates
        .iter()
        .enumerate()
        .map(|(i, gated)| {
            StageConfig::new(&format!("s{i}"), &format!("stack-{i}"), None, *gated).unwrap()
        })
        .collect();
    Pipeline::new("p", "repo", "master", stages).unwrap()
}

fn begin(pipeline: &Pipeline) -> (Execution, Vec<Command>) {
    let commit = Commit {
        id: CommitId::parse(&"ab".repeat(20)).unwrap(),
        author: None,
        message: None,
    };
    let tr = start(pipeline, Push::new("repo", "master", commit, t(0)), t(0)).unwrap();
    (tr.execution, tr.commands)
}

/// The events of one valid run, each with the time it happens, and the status it ends in.
fn valid_run(plan: &Plan) -> (Vec<(Event, Timestamp)>, Status) {
    let mut events = Vec::new();
    let mut choice = plan.choices.iter().copied().cycle();
    // Each event happens SPACING seconds after the previous one; returns its time.
    let push = |events: &mut Vec<(Event, Timestamp)>, e: Event| {
        let at = (events.len() as i64 + 1) * SPACING;
        events.push((e, t(at)));
        at
    };
    let build_id = BuildId::from("p:1");
    push(
        &mut events,
        Event::BuildStarted {
            build_id: build_id.clone(),
            log_url: None,
        },
    );
    if choice.next().unwrap_or(0) % 5 == 0 {
        let e = Event::BuildFailed {
            build_id: Some(build_id),
            reason: "tests failed".into(),
            cause: Cause::Change,
            log_url: None,
        };
        push(&mut events, e);
        return (events, Status::Failed);
    }
    push(
        &mut events,
        Event::BuildSucceeded {
            build_id,
            log_url: None,
        },
    );
    let object = |key: &str| ArtifactObject {
        key: key.into(),
        etag: "\"e\"".into(),
        version: None,
        ..Default::default()
    };
    push(
        &mut events,
        Event::ArtifactPinned {
            artifact: Artifact {
                template: Some(object("packaged.yaml")),
                configurations: Vec::new(),
                code: vec![object("code.zip")],
                site: Vec::new(),
                ..Default::default()
            },
        },
    );
    for (i, gated) in plan.gates.iter().enumerate() {
        let stage = StageName::parse(&format!("s{i}")).unwrap();
        let change_set_id = ChangeSetId::from(format!("cs-{i}"));
        match choice.next().unwrap_or(9) % 10 {
            0 => {
                let e = Event::ChangeSetFailed {
                    stage,
                    change_set_id: None,
                    reason: "bad template".into(),
                    cause: Cause::Change,
                };
                push(&mut events, e);
                return (events, Status::Failed);
            }
            1 => {
                let e = Event::ChangeSetEmpty {
                    stage,
                    change_set_id,
                };
                push(&mut events, e);
                continue;
            }
            _ => {
                let changes = vec![ResourceChange {
                    logical_id: "Fn".into(),
                    resource_type: "AWS::Lambda::Function".into(),
                    action: ChangeAction::Modify,
                    replacement: Replacement::Never,
                    stack: None,
                }];
                let e = Event::ChangeSetReady {
                    stage: stage.clone(),
                    change_set_id,
                    changes,
                };
                push(&mut events, e);
            }
        }
        if *gated {
            let hash = TokenHash::of(&token(&stage));
            let expires_at = t((events.len() as i64 + 1) * SPACING + APPROVAL_WINDOW);
            let at = push(
                &mut events,
                Event::ApprovalRequested {
                    stage: stage.clone(),
                    token_sha256: hash,
                    expires_at,
                },
            );
            let decide = |token: &str, by: &str| Event::ApprovalGranted {
                stage: stage.clone(),
                via: Via::Link {
                    token_sha256: TokenHash::of(token),
                },
                by: by.into(),
                comment: None,
            };
            match choice.next().unwrap_or(9) % 10 {
                0 => {
                    let e = Event::ApprovalRejected {
                        stage: stage.clone(),
                        via: Via::Link { token_sha256: hash },
                        by: "grace".into(),
                        comment: None,
                    };
                    push(&mut events, e);
                    return (events, Status::Rejected);
                }
                1 => {
                    // Expiry comes from the sweeper, after the deadline.
                    let when = t(at + APPROVAL_WINDOW + 1);
                    events.push((Event::ApprovalExpired { stage }, when));
                    return (events, Status::Expired);
                }
                2 => {
                    let by = ExecutionId::parse("0000000000001-0123456789ab").unwrap();
                    push(&mut events, Event::Superseded { stage, by });
                    return (events, Status::Superseded);
                }
                3 => {
                    // Someone guesses before the real approver clicks.
                    push(&mut events, decide("guessed", "mallory"));
                    push(&mut events, decide(&token(&stage), "grace"));
                }
                _ => {
                    push(&mut events, decide(&token(&stage), "grace"));
                }
            }
        }
        if choice.next().unwrap_or(9) % 8 == 0 {
            let e = Event::StackUpdateFailed {
                stage,
                reason: "rolled back".into(),
                cause: Cause::Change,
            };
            push(&mut events, e);
            return (events, Status::Failed);
        }
        let completed = Event::StackUpdateCompleted {
            stage: stage.clone(),
        };
        push(&mut events, completed);
        // The stage has no post-deploy test: the shell reports its smoke check.
        let probe = Probe::new(
            "ApiUrl",
            "https://api.example.com/",
            Answer::Status { code: 200 },
        );
        let findings = Findings {
            probes: vec![probe],
            ..Findings::default()
        };
        push(&mut events, Event::SmokeChecked { stage, findings });
    }
    (events, Status::Succeeded)
}

/// How a run's delivery goes wrong: per event, how many copies arrive, how late each
/// copy is (in positions), and whether the event is lost altogether.
#[derive(Debug, Clone)]
struct Weather {
    copies: Vec<u8>,
    delays: Vec<f64>,
    lost: Vec<bool>,
}

fn weather() -> impl Strategy<Value = Weather> {
    (
        prop::collection::vec(1u8..=3, 40),
        prop::collection::vec(0.0f64..4.0, 120),
        prop::collection::vec(prop::bool::weighted(0.1), 40),
    )
        .prop_map(|(copies, delays, lost)| Weather {
            copies,
            delays,
            lost,
        })
}

fn deliver(events: &[(Event, Timestamp)], w: &Weather) -> Vec<(Event, Timestamp)> {
    let mut keyed = Vec::new();
    let mut delays = w.delays.iter().copied().cycle();
    for (i, e) in events.iter().enumerate() {
        if w.lost[i % w.lost.len()] {
            continue;
        }
        for _ in 0..w.copies[i % w.copies.len()] {
            // Shuffling is bounded: a copy is never delivered more than 4 positions early
            // relative to a later event, which keeps causes roughly before effects.
            keyed.push((i as f64 + delays.next().unwrap_or(0.0), e.clone()));
        }
    }
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    keyed.into_iter().map(|(_, e)| e).collect()
}

/// Applies a delivery and checks every invariant after every step.
fn check(pipeline: &Pipeline, delivered: Vec<(Event, Timestamp)>) -> Result<(), TestCaseError> {
    let (mut exec, first) = begin(pipeline);
    let mut build_starts = first.iter().filter(|c| **c == Command::StartBuild).count();
    let mut executes: BTreeMap<StageName, usize> = BTreeMap::new();
    let mut rightly_approved: BTreeSet<StageName> = BTreeSet::new();

    for (event, now) in delivered {
        let right_grant = match &event {
            Event::ApprovalGranted {
                stage,
                via: Via::Link { token_sha256 },
                ..
            } if token_sha256.matches(&TokenHash::of(&token(stage))) => Some(stage.clone()),
            _ => None,
        };
        let before = exec.clone();
        let Ok(tr) = step(&exec, event, now) else {
            continue;
        };
        if let Some(stage) = right_grant {
            rightly_approved.insert(stage);
        }
        if before.status.is_terminal() {
            prop_assert_eq!(&tr.execution, &before, "a finished execution changed");
            prop_assert!(tr.commands.is_empty(), "a finished execution acted");
        }
        for command in &tr.commands {
            match command {
                Command::StartBuild => build_starts += 1,
                Command::ExecuteChangeSet { stage, .. } => {
                    *executes.entry(stage.clone()).or_default() += 1;
                    let s = tr.execution.stage(stage).expect("known stage");
                    if s.requires_approval {
                        let approved = s
                            .approval
                            .as_ref()
                            .and_then(|a| a.decision.as_ref())
                            .is_some_and(|d| d.approved);
                        prop_assert!(
                            approved && rightly_approved.contains(stage),
                            "stage {} deployed before its approval",
                            stage
                        );
                    }
                }
                _ => {}
            }
        }
        prop_assert!(build_starts <= 1, "{} builds started", build_starts);
        for (stage, n) in &executes {
            prop_assert!(*n <= 1, "stage {} executed {} times", stage, n);
        }
        exec = tr.execution;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn perturbed_deliveries_keep_every_invariant(plan in plan(), w in weather()) {
        let (events, _) = valid_run(&plan);
        check(&pipeline(&plan.gates), deliver(&events, &w))?;
    }

    #[test]
    fn a_valid_run_delivered_in_order_ends_as_planned(plan in plan()) {
        let (events, expected) = valid_run(&plan);
        let pipeline = pipeline(&plan.gates);
        let (mut exec, _) = begin(&pipeline);
        for (event, now) in events.iter().cloned() {
            if let Ok(tr) = step(&exec, event, now) {
                exec = tr.execution;
            }
        }
        prop_assert_eq!(exec.status, expected);
        prop_assert!(exec.finished_at.is_some());
    }

    #[test]
    fn duplicates_alone_never_change_the_outcome(plan in plan(), copies in prop::collection::vec(1u8..=3, 40)) {
        let (events, expected) = valid_run(&plan);
        let w = Weather { copies, delays: vec![0.0], lost: vec![false] };
        let pipeline = pipeline(&plan.gates);
        let (mut exec, _) = begin(&pipeline);
        for (event, now) in deliver(&events, &w) {
            if let Ok(tr) = step(&exec, event, now) {
                exec = tr.execution;
            }
        }
        prop_assert_eq!(exec.status, expected);
    }
}
