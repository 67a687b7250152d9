//! What `sluice status` and `sluice show` print: plain text, aligned for a terminal.

use std::fmt::Write;

use chrono::Duration;
use sluice_core::{BuildStatus, Execution, Stage, StageStatus, Status, Timestamp};

/// A short human duration: `42s`, `5m12s`, `3h04m`, `2d03h`.
pub fn duration(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

fn stage_word(stage: &Stage) -> String {
    match stage.status {
        StageStatus::Pending => "-".into(),
        other => other.to_string(),
    }
}

fn build_word(execution: &Execution) -> String {
    match execution.build.status {
        BuildStatus::Requested => "requested".into(),
        other => other.to_string(),
    }
}

fn author_name(execution: &Execution) -> String {
    let author = execution.commit.author.as_deref().unwrap_or("-");
    // "Ada Lovelace <ada@example.com>" → "Ada Lovelace"
    let name = author.split(" <").next().unwrap_or(author);
    sluice_core::text::line(name, 20)
}

/// The table of `sluice status`: one row per execution, newest first.
pub fn status_table(executions: &[Execution], now: Timestamp) -> String {
    if executions.is_empty() {
        return "No executions yet: push to the watched branch to start one.\n".into();
    }
    let stage_names: Vec<String> = executions[0]
        .stages
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    let mut header = vec![
        "EXECUTION".to_owned(),
        "COMMIT".into(),
        "AUTHOR".into(),
        "BUILD".into(),
    ];
    header.extend(stage_names.iter().map(|s| s.to_uppercase()));
    header.push("STATUS".into());
    header.push("AGE".into());
    let mut rows = vec![header];
    for e in executions {
        let mut row = vec![
            e.id.to_string(),
            e.commit.id.short().to_owned(),
            author_name(e),
            build_word(e),
        ];
        for name in &stage_names {
            row.push(
                e.stages
                    .iter()
                    .find(|s| s.name.as_str() == name)
                    .map(stage_word)
                    .unwrap_or_else(|| "-".into()),
            );
        }
        row.push(e.status.to_string());
        row.push(duration(now - e.created_at));
        rows.push(row);
    }
    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

fn clock(t: Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Stored text as a terminal may show it: one line, no escape sequences or bidi
/// overrides, whoever wrote the document.
fn shown(text: &str) -> String {
    sluice_core::text::line(text, 2000)
}

/// One execution in full, as `sluice show` prints it.
pub fn details(e: &Execution, now: Timestamp) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Execution   {} (pipeline {})", e.id, e.pipeline);
    let _ = writeln!(out, "Repository  {} (branch {})", e.repository, e.branch);
    let _ = writeln!(
        out,
        "Commit      {}{}",
        e.commit.id,
        e.commit
            .author
            .as_deref()
            .map(|a| format!(" by {}", shown(a)))
            .unwrap_or_default()
    );
    if let Some(message) = &e.commit.message {
        for line in message.lines().take(5) {
            let _ = writeln!(out, "            {}", shown(line));
        }
    }
    let took = e.finished_at.unwrap_or(now) - e.created_at;
    let status = if e.status.is_terminal() {
        format!("{} after {}", e.status, duration(took))
    } else {
        format!("{} for {}", e.status, duration(took))
    };
    let _ = writeln!(out, "Status      {status}");
    if let Some(reason) = &e.reason {
        let _ = writeln!(out, "Reason      {}", shown(reason));
    }
    if let Some(by) = &e.superseded_by {
        let _ = writeln!(out, "Superseded  by execution {by}");
    }
    if let Some(source) = &e.rollback_of {
        let _ = writeln!(
            out,
            "Rollback    deploys again what execution {source} built"
        );
    }
    if let Some(manifest) = e.artifact.as_ref().and_then(|a| a.manifest.as_ref()) {
        let _ = writeln!(
            out,
            "Release     manifest sha256 {} ({} objects; `sluice verify STAGE` compares a stage with it)",
            manifest.sha256.as_deref().unwrap_or("-"),
            e.artifact.as_ref().map_or(0, |a| a.objects().count())
        );
    }
    let _ = write!(
        out,
        "Build       {} {}",
        build_word(e),
        e.build.id.as_deref().unwrap_or("(not started)")
    );
    if let Some(log) = &e.build.log_url {
        let _ = write!(out, "\n            log: {}", shown(log));
    }
    if let Some(reason) = &e.build.reason {
        let _ = write!(out, "\n            {}", shown(reason));
    }
    out.push_str("\n\nStages\n");
    for s in &e.stages {
        let timing = match (s.started_at, s.finished_at) {
            (Some(a), Some(b)) => format!("{} ({})", clock(a), duration(b - a)),
            (Some(a), None) => format!("{} (running {})", clock(a), duration(now - a)),
            _ => String::new(),
        };
        let gate = if s.requires_approval {
            ", approval"
        } else {
            ""
        };
        let target = match &s.site {
            Some(_) => format!("site in {}", sluice_engine::messages::site_place(s)),
            None => format!("stack {}", s.stack_name),
        };
        let _ = writeln!(
            out,
            "  {:<12} {:<18} {}{gate}  {timing}",
            s.name,
            stage_word(s),
            shown(&target)
        );
        if !s.changes.is_empty() {
            let _ = writeln!(out, "  {:<12} {} resource changes", "", s.changes.len());
        }
        if !s.files.is_empty() {
            let _ = writeln!(
                out,
                "  {:<12} {}",
                "",
                sluice_engine::messages::file_counts(&s.files)
            );
        }
        if let Some(decision) = s.approval.as_ref().and_then(|a| a.decision.as_ref()) {
            let _ = writeln!(
                out,
                "  {:<12} {} by {} ({}) at {}{}",
                "",
                if decision.approved {
                    "approved"
                } else {
                    "rejected"
                },
                shown(&decision.by),
                // An ARN STS vouched for, or a name typed on the page by whoever held the link.
                if decision.by_identity {
                    "AWS identity, sluice"
                } else {
                    "name given on the emailed link's page"
                },
                clock(decision.at),
                decision
                    .comment
                    .as_deref()
                    .map(|c| format!(": {}", shown(c)))
                    .unwrap_or_default()
            );
        } else if let Some(approval) = &s.approval
            && s.status == StageStatus::AwaitingApproval
        {
            let _ = writeln!(
                out,
                "  {:<12} waiting since {}; the link expires {}",
                "",
                clock(approval.requested_at),
                clock(approval.expires_at)
            );
        }
        window(&mut out, s, now);
        after_deploy(&mut out, s, now);
        if let Some(reason) = &s.reason {
            let _ = writeln!(out, "  {:<12} {}", "", shown(reason));
        }
    }
    out.push_str("\nTimeline\n");
    let mut previous = e.created_at;
    for entry in &e.timeline {
        let _ = writeln!(
            out,
            "  {}  +{:<7} {}",
            clock(entry.at),
            duration(entry.at - previous),
            shown(&entry.what)
        );
        previous = entry.at;
    }
    for note in &e.notes {
        let _ = writeln!(
            out,
            "  note by {} at {}: {}",
            shown(&note.author),
            clock(note.at),
            shown(&note.text)
        );
    }
    if e.status == Status::Building && e.build.id.is_none() {
        out.push_str(
            "\nThe build has not been recorded yet; the sweeper checks every few minutes.\n",
        );
    }
    out
}

/// The stage's deployment window, while it matters: when it opens, if the stage
/// waits for it.
fn window(out: &mut String, s: &Stage, now: Timestamp) {
    let Some(window) = &s.window else {
        return;
    };
    match (s.status, s.window_opens) {
        (StageStatus::AwaitingWindow, Some(opens)) => {
            let _ = writeln!(
                out,
                "  {:<12} waiting for the window {}: opens {} (in {})",
                "",
                shown(&window.describe()),
                window.local_time(opens),
                duration(opens - now)
            );
        }
        (status, _) if !status.is_finished() => {
            let _ = writeln!(
                out,
                "  {:<12} deploys only in the window {}",
                "",
                shown(&window.describe())
            );
        }
        _ => {}
    }
}

/// What happened after the stage's deploy: its post-deploy test (what ran, how it
/// went, its log) and its rollback (what triggered it, what is live now).
fn after_deploy(out: &mut String, s: &Stage, now: Timestamp) {
    if let (Some(test), Some(run)) = (&s.test, &s.test_run) {
        let took = duration(run.finished_at.unwrap_or(now) - run.requested_at);
        let outcome = match run.status {
            BuildStatus::Requested => "asked for".to_owned(),
            BuildStatus::Running => format!("running for {took}"),
            BuildStatus::Succeeded => format!("passed in {took}"),
            BuildStatus::Failed => format!("failed after {took}"),
        };
        let _ = writeln!(
            out,
            "  {:<12} post-deploy test {} {outcome}{}",
            "",
            shown(&test.buildspec),
            run.build_id
                .as_deref()
                .map(|b| format!(" (build {})", shown(b)))
                .unwrap_or_default()
        );
        if let Some(log) = &run.log_url {
            let _ = writeln!(out, "  {:<12} test log: {}", "", shown(log));
        }
    }
    if let Some(check) = &s.smoke {
        let what = match &check.findings {
            Some(findings) => findings.summary(),
            None => "asked for".to_owned(),
        };
        let gates = if s.smoke_gates {
            " (gates the stage)"
        } else {
            ""
        };
        let _ = writeln!(out, "  {:<12} smoke check{gates}: {}", "", shown(&what));
        for probe in check.findings.iter().flat_map(|f| &f.probes) {
            let _ = writeln!(
                out,
                "  {:<12}   {} {} {}",
                "",
                shown(&probe.output),
                shown(&probe.url),
                shown(&probe.answer.describe())
            );
        }
    }
    if let (Some(watch), Some(until)) = (&s.watch, s.watch_until) {
        let how = match s.status {
            StageStatus::Verifying => {
                format!("until {} (in {})", clock(until), duration(until - now))
            }
            StageStatus::Succeeded => {
                format!("for {} minutes: none went into ALARM", watch.minutes)
            }
            _ => format!(
                "from {}",
                clock(until - Duration::minutes(i64::from(watch.minutes)))
            ),
        };
        let _ = writeln!(
            out,
            "  {:<12} watching alarms {} {how}",
            "",
            shown(&watch.alarms.join(", "))
        );
    }
    if let Some(pending) = &s.retrying {
        let what = match pending.of {
            sluice_core::RetryOf::Deploy => "the stage",
            sluice_core::RetryOf::Test => "the post-deploy test",
            sluice_core::RetryOf::Rollback => "the rollback",
        };
        let _ = writeln!(
            out,
            "  {:<12} retrying {what} at {} (in {}), after: {}",
            "",
            clock(pending.at),
            duration(pending.at - now),
            shown(&pending.reason)
        );
    }
    if s.retries > 0 {
        let max = s.retry.map(|r| r.max).unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<12} automatic retries: {} of {max}",
            "", s.retries
        );
    }
    if let Some(rollback) = &s.rollback {
        let to = match (rollback.release(), s.status.is_finished()) {
            (Some(release), _) => release,
            (None, true) => "an earlier release, but none could be deployed".into(),
            (None, false) => "the release live before (being looked up)".into(),
        };
        let now_live = match s.status {
            StageStatus::RolledBack => format!("; {to} is live again"),
            StageStatus::RollbackFailed => ", which FAILED: this commit is still live".into(),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  {:<12} rollback to {} at {}{now_live}",
            "",
            shown(&to),
            clock(rollback.started_at)
        );
    }
}

/// One line of `sluice watch`: the execution's status and each stage's.
pub fn progress_line(e: &Execution) -> String {
    let stages: Vec<String> = e
        .stages
        .iter()
        .map(|s| format!("{}={}", s.name, stage_word(s)))
        .collect();
    format!(
        "{} · build={} {}",
        e.status,
        build_word(e),
        stages.join(" ")
    )
}

/// The timeline entries of `now` that `before` did not have, each as `sluice watch`
/// prints it.
pub fn new_entries(before: Option<&Execution>, now: &Execution) -> Vec<String> {
    now.timeline
        .iter()
        .filter(|entry| before.is_none_or(|b| !b.timeline.contains(entry)))
        .map(|entry| format!("{}  {}", entry.at.format("%H:%M:%S"), shown(&entry.what)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new execution of a two-stage pipeline, pushed at `now`.
    fn pushed(now: Timestamp) -> Execution {
        let pipeline = sluice_core::Pipeline::with_default_stages("p", "repo", "master", "app")
            .expect("pipeline");
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
            out.contains(
                "smoke check: ApiUrl (abc.execute-api.us-east-1.amazonaws.com) answered 502"
            ),
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
                sluice_core::AlarmWatch::new(vec!["app-production-errors".into()], 10)
                    .expect("watch"),
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
        let window = sluice_core::DeployWindows::parse("Mon-Fri 09:00-17:00", "Europe/Paris")
            .expect("window");
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
    fn durations_read_at_a_glance() {
        assert_eq!(duration(Duration::seconds(42)), "42s");
        assert_eq!(duration(Duration::seconds(312)), "5m12s");
        assert_eq!(duration(Duration::seconds(3 * 3600 + 240)), "3h04m");
        assert_eq!(duration(Duration::seconds(2 * 86400 + 3 * 3600)), "2d03h");
        assert_eq!(duration(Duration::seconds(-5)), "0s");
    }

    #[test]
    fn statuses_read_as_words() {
        assert_eq!(
            StageStatus::AwaitingApproval.to_string(),
            "awaiting approval"
        );
        assert_eq!(Status::Succeeded.to_string(), "succeeded");
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
}
