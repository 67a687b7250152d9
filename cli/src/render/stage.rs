//! A stage's lines beyond its status in `sluice show`: its deployment window, and what
//! happened after its deploy.

use std::fmt::Write;

use chrono::Duration;
use sluice_core::{BuildStatus, Stage, StageStatus, Timestamp};

use super::words::{clock, counted, duration, shown};

/// The stage's deployment window, while it matters: when it opens, if the stage
/// waits for it.
pub(super) fn window(out: &mut String, s: &Stage, now: Timestamp) {
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
pub(super) fn after_deploy(out: &mut String, s: &Stage, now: Timestamp) {
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
                format!(
                    "for {}: none went into ALARM",
                    counted(watch.minutes as usize, "minute")
                )
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
