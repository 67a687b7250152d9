//! What an execution records: its timeline, notes, and JSON form.

use super::*;

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
