use chrono::Duration;
use sluice_core::BuildStatus;

use super::*;

/// A new execution of a two-stage pipeline, pushed at `now`.
fn pushed(now: Timestamp) -> Execution {
    let pipeline =
        sluice_core::Pipeline::with_default_stages("p", "repo", "master", "app").expect("pipeline");
    let commit = sluice_core::Commit {
        id: sluice_core::CommitId::parse(&"ab".repeat(20)).expect("commit"),
        author: None,
        message: None,
    };
    let push = sluice_core::Push::new("repo", "master", commit, now);
    sluice_core::start(&pipeline, push, now)
        .expect("start")
        .execution
}

#[test]
fn show_says_whether_a_decision_names_an_aws_identity_or_a_typed_name() {
    let now = chrono::Utc::now();
    let mut e = pushed(now);
    let decided = |by: &str, by_identity: bool| sluice_core::Approval {
        token_sha256: sluice_core::TokenHash::of("t"),
        requested_at: now,
        expires_at: now,
        sent_at: Some(now),
        decision: Some(sluice_core::Decision {
            approved: true,
            by: by.into(),
            comment: None,
            at: now,
            by_identity,
        }),
    };
    e.stages[1].approval = Some(decided("arn:aws:iam::123456789012:user/ada", true));
    let out = details(&e, now);
    assert!(
        out.contains("approved by arn:aws:iam::123456789012:user/ada (AWS identity, sluice)"),
        "{out}"
    );
    e.stages[1].approval = Some(decided("Ada", false));
    let out = details(&e, now);
    assert!(
        out.contains("approved by Ada (name given on the emailed link's page)"),
        "{out}"
    );
}

#[test]
fn show_names_what_a_rollback_deploys_again() {
    let now = chrono::Utc::now();
    let source = pushed(now);
    let mut e = pushed(now);
    assert!(!details(&e, now).contains("Rollback"));
    e.rollback_of = Some(source.id.clone());
    let out = details(&e, now);
    assert!(
        out.contains(&format!(
            "Rollback    deploys again what execution {} built",
            source.id
        )),
        "{out}"
    );
}

#[test]
fn show_says_where_a_site_stage_deploys_and_how_many_files_change() {
    use sluice_core::site::{FileAction, FileChange, SiteTarget};
    let now = chrono::Utc::now();
    let mut e = pushed(now);
    let stage = e.stages[1].name.clone();
    e.stages[1].site =
        Some(SiteTarget::for_stage(&stage, "app-web-*", "site", "index.html").expect("site"));
    e.stages[1].change_set_id = Some("s3://app-web-production/".into());
    e.stages[1].files = vec![
        FileChange {
            path: "index.html".into(),
            action: FileAction::Change,
            size: 10,
        },
        FileChange {
            path: "old.css".into(),
            action: FileAction::Remove,
            size: 3,
        },
    ];
    let out = details(&e, now);
    assert!(out.contains("site in bucket app-web-production"), "{out}");
    assert!(
        out.contains("2 files: 0 added, 1 changed, 1 removed"),
        "{out}"
    );
    assert!(out.contains("stack app-staging"), "{out}");
}

#[test]
fn show_tells_what_the_smoke_check_found_at_each_address() {
    use sluice_core::smoke::{Answer, Findings, Probe, SmokeCheck};
    let now = chrono::Utc::now();
    let mut e = pushed(now);
    let s = &mut e.stages[0];
    s.status = StageStatus::Succeeded;
    s.smoke = Some(SmokeCheck {
        requested_at: now,
        finished_at: Some(now),
        findings: Some(Findings {
            probes: vec![Probe::new(
                "ApiUrl",
                "https://abc.execute-api.us-east-1.amazonaws.com/Prod/\u{1b}[31m",
                Answer::Status { code: 502 },
            )],
            ..Findings::default()
        }),
    });
    let out = details(&e, now);
    assert!(
        out.contains("smoke check: ApiUrl (abc.execute-api.us-east-1.amazonaws.com) answered 502"),
        "{out}"
    );
    assert!(
        out.contains("ApiUrl https://abc.execute-api.us-east-1.amazonaws.com/Prod/"),
        "{out}"
    );
    assert!(!out.contains('\u{1b}'), "{out}");
}

#[test]
fn show_tells_what_the_test_found_and_what_the_rollback_put_back() {
    let now = chrono::Utc::now();
    let mut e = pushed(now);
    let s = &mut e.stages[0];
    s.status = StageStatus::RolledBack;
    s.test = Some(sluice_core::PostDeployTest::new("buildspec-test.yml").expect("test"));
    s.test_run = Some(sluice_core::TestRun {
        status: BuildStatus::Failed,
        build_id: Some("app-build:42".into()),
        log_url: Some("https://logs.example/42".into()),
        requested_at: now - Duration::seconds(95),
        finished_at: Some(now - Duration::seconds(5)),
        reason: Some("phase BUILD FAILED".into()),
        attempt: 0,
        earlier: Vec::new(),
    });
    s.rollback = Some(sluice_core::StageRollback {
        trigger: "post-deploy test failed: phase BUILD FAILED".into(),
        started_at: now,
        to: Some(sluice_core::ExecutionId::parse("8000000000000-cdcdcdcdcdcd").expect("id")),
        commit: Some(sluice_core::CommitId::parse(&"cd".repeat(20)).expect("commit")),
        change_set_id: Some("cs".into()),
        attempt: 0,
    });
    let shown = details(&e, now);
    let waiting = {
        let mut e = e.clone();
        let s = &mut e.stages[1];
        s.status = StageStatus::Retrying;
        s.retry = Some(sluice_core::RetryPolicy::new(2, 60).expect("policy"));
        s.retries = 1;
        s.retrying = Some(sluice_core::PendingRetry {
            of: sluice_core::RetryOf::Deploy,
            at: now + Duration::seconds(120),
            reason: "deploy failed: Rate exceeded".into(),
        });
        details(&e, now)
    };
    let watching = {
        let mut e = e.clone();
        let s = &mut e.stages[1];
        s.status = StageStatus::Verifying;
        s.watch = Some(
            sluice_core::AlarmWatch::new(vec!["app-production-errors".into()], 10).expect("watch"),
        );
        s.watch_until = Some(now + Duration::minutes(4));
        details(&e, now)
    };
    assert!(
        watching.contains("watching alarms app-production-errors until")
            && watching.contains("(in 4m00s)"),
        "{watching}"
    );
    for line in [
        "retrying the stage at",
        "(in 2m00s), after: deploy failed: Rate exceeded",
        "automatic retries: 1 of 2",
    ] {
        assert!(waiting.contains(line), "{line:?} missing from\n{waiting}");
    }
    for line in [
        "post-deploy test buildspec-test.yml failed after 1m30s (build app-build:42)",
        "test log: https://logs.example/42",
        "rollback to commit cdcdcdcdcdcd (execution 8000000000000-cdcdcdcdcdcd) at",
        "; commit cdcdcdcdcdcd (execution 8000000000000-cdcdcdcdcdcd) is live again",
        "rolled back",
    ] {
        assert!(shown.contains(line), "{line:?} missing from\n{shown}");
    }
}

#[test]
fn show_says_when_the_window_a_stage_waits_for_opens() {
    let now = "2026-11-27T17:30:00Z"
        .parse::<Timestamp>()
        .expect("a Friday evening");
    let mut e = pushed(now);
    let window =
        sluice_core::DeployWindows::parse("Mon-Fri 09:00-17:00", "Europe/Paris").expect("window");
    for s in &mut e.stages {
        s.window = Some(window.clone());
    }
    let s = &mut e.stages[1];
    s.status = StageStatus::AwaitingWindow;
    s.window_opens = window.next_open(now);
    let out = details(&e, now);
    assert!(
        out.contains(
            "waiting for the window Mon-Fri 09:00-17:00 (Europe/Paris): opens Mon 30 Nov \
             2026 09:00 CET (08:00 UTC) (in 2d14h)"
        ),
        "{out}"
    );
    assert!(
        out.contains("deploys only in the window Mon-Fri 09:00-17:00 (Europe/Paris)"),
        "{out}"
    );
}

#[test]
fn show_prints_no_escape_sequences_or_forged_lines_from_a_document() {
    let now = chrono::Utc::now();
    let mut e = pushed(now);
    // As an older version, or a hand-edited document, might have stored it.
    e.commit.author = Some("Eve\u{1b}]0;pwned\u{7} <e@example.com>".into());
    e.reason = Some("\u{1b}[2Jgone\nReason      forged".into());
    e.timeline[0].what = "push\u{202E}desrever".into();
    let out = details(&e, now);
    assert!(!out.contains('\u{1b}'), "{out}");
    assert!(!out.contains('\u{202E}'), "{out}");
    assert!(
        out.lines().all(|l| !l.starts_with("Reason      forged")),
        "{out}"
    );
    assert!(out.contains("Reason      gone Reason forged"), "{out}");
}

#[test]
fn show_lines_up_every_stage_line_whatever_the_names_length() {
    let now = chrono::Utc::now();
    let e = pushed(now);
    let out = details(&e, now);
    let columns: Vec<usize> = out
        .lines()
        .filter(|l| l.contains("stack app-"))
        .map(|l| l.find("stack app-").expect("the stack"))
        .collect();
    assert_eq!(columns.len(), 2, "{out}");
    assert_eq!(columns[0], columns[1], "{out}");
    assert!(out.contains("  staging      -  "), "{out}");
}

#[test]
fn show_counts_one_thing_in_the_singular() {
    use sluice_core::site::{FileAction, FileChange};
    use sluice_core::{ChangeAction, Replacement, ResourceChange};
    let now = chrono::Utc::now();
    let mut e = pushed(now);
    e.stages[0].changes = vec![ResourceChange {
        logical_id: "HelloFunction".into(),
        resource_type: "AWS::Lambda::Function".into(),
        action: ChangeAction::Modify,
        replacement: Replacement::Never,
        stack: None,
    }];
    e.stages[1].files = vec![FileChange {
        path: "index.html".into(),
        action: FileAction::Add,
        size: 10,
    }];
    let out = details(&e, now);
    assert!(out.contains(" 1 resource change\n"), "{out}");
    assert!(
        out.contains(" 1 file: 1 added, 0 changed, 0 removed\n"),
        "{out}"
    );
    let change = e.stages[0].changes[0].clone();
    e.stages[0].changes.push(change);
    assert!(details(&e, now).contains(" 2 resource changes\n"));
}

#[test]
fn show_gives_times_to_the_second() {
    let now = "2026-05-04T10:00:00.123456789Z"
        .parse::<Timestamp>()
        .expect("a time the functions wrote");
    let mut e = pushed(now);
    let expires = now + Duration::days(7);
    // As the core words it: a Timestamp's own Display, to the nanosecond.
    e.timeline.push(sluice_core::Entry {
        at: now,
        what: format!("production: approval requested, expires {expires}"),
    });
    let out = details(&e, now);
    assert!(
        out.contains("production: approval requested, expires 2026-05-11 10:00:00 UTC"),
        "{out}"
    );
    assert!(!out.contains(".123"), "{out}");
}
