//! What the stages before a gate showed of an execution, as an approver sees it.

use std::fmt::Write;

use sluice_core::{Execution, StageName, StageStatus, Timestamp};

use super::LINE_MAX;

/// What the stages before `stage` showed of this execution, one per stage: how it
/// went, when it passed, its post-deploy test and its alarm watch. An approver sees
/// it before the change set, on the page and in the email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    pub stage: StageName,
    /// "deployed", or "no changes" (the stack already ran this).
    pub outcome: &'static str,
    /// When it passed: deployed, tested and watched.
    pub passed_at: Option<Timestamp>,
    /// The post-deploy test's log, if the stage has a test: `Some(None)` when it
    /// passed with no log link recorded.
    pub test: Option<Option<String>>,
    /// The alarms watched after the deploy, and for how many minutes, all quiet.
    pub watch: Option<(Vec<String>, u32)>,
    /// What the built-in smoke check found, for a stage with no test.
    pub smoke: Option<sluice_core::smoke::Findings>,
}

/// The evidence of the stages of `execution` before `stage` (see [`Evidence`]).
pub fn evidence(execution: &Execution, stage: &StageName) -> Vec<Evidence> {
    execution
        .stages
        .iter()
        .take_while(|s| &s.name != stage)
        .filter(|s| s.status.is_passed())
        .map(|s| Evidence {
            stage: s.name.clone(),
            outcome: if s.status == StageStatus::NoChanges {
                "no changes"
            } else {
                "deployed"
            },
            passed_at: s.finished_at,
            test: s
                .test_run
                .as_ref()
                .filter(|t| t.status == sluice_core::BuildStatus::Succeeded)
                .map(|t| t.log_url.clone()),
            watch: s.watch.as_ref().map(|w| (w.alarms.clone(), w.minutes)),
            smoke: s.smoke.as_ref().and_then(|c| c.findings.clone()),
        })
        .collect()
}

impl Evidence {
    /// The stage's evidence in one line, and whether it warns: nothing tested it, or
    /// its smoke check found an address answering 5xx or not at all.
    pub fn line(&self, now: Timestamp) -> (String, bool) {
        let mut line = format!("{}: {}", self.stage, self.outcome);
        if let Some(at) = self.passed_at {
            let _ = write!(
                line,
                ", passed {} ({} ago)",
                at.format("%Y-%m-%d %H:%M UTC"),
                ago(now - at)
            );
        }
        let deployed = self.outcome == "deployed";
        let warns = match (&self.test, &self.smoke) {
            (Some(_), _) => {
                line.push_str("; post-deploy test passed");
                false
            }
            (None, Some(smoke)) if deployed => {
                let _ = write!(
                    line,
                    "; no post-deploy test; smoke check: {}",
                    sluice_core::text::line(&smoke.summary(), LINE_MAX)
                );
                let answered = smoke
                    .probes
                    .iter()
                    .any(|p| matches!(p.answer, sluice_core::smoke::Answer::Status { .. }));
                smoke.warns() || !answered
            }
            (None, _) if deployed => {
                line.push_str("; no post-deploy test: nothing checked it works");
                true
            }
            (None, _) => false,
        };
        if let Some((alarms, minutes)) = &self.watch {
            let _ = write!(
                line,
                "; alarms quiet for {minutes} min ({})",
                sluice_core::text::line(&alarms.join(", "), LINE_MAX)
            );
        }
        (line, warns)
    }
}

/// A duration as a person reads it: "5 min", "3 h 10 min", "2 days".
fn ago(d: chrono::Duration) -> String {
    let minutes = d.num_minutes().max(0);
    match minutes {
        0..=59 => format!("{minutes} min"),
        60..=2879 => format!("{} h {} min", minutes / 60, minutes % 60),
        _ => format!("{} days", minutes / 1440),
    }
}
