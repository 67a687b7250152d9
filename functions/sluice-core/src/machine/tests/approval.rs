//! The gate: tokens, links, expiry, and decisions by link or by an authenticated caller.

use super::*;

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
