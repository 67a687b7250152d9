//! After a stage's deploy: its post-deploy test, its smoke check and its alarm watch,
//! which pass the stage or find the deploy bad (see `recovery` for what follows then).

use super::{Rejected, Run};
use crate::BuildId;
use crate::event::Command;
use crate::ids::StageName;
use crate::model::{BuildStatus, RetryOf, StageStatus, TestRun};
use crate::smoke::{Findings, SmokeCheck};
use crate::transient::Cause;

impl Run {
    /// The stage's change went live: tested when the stage has a test; a stack stage
    /// without one has the built-in smoke check; a site stage passes.
    pub(super) fn deployed(&mut self, i: usize) {
        let stage = &mut self.execution.stages[i];
        let Some(test) = stage.test.clone() else {
            if stage.site.is_some() {
                self.log_stage(i, "deployed".into());
                self.verified(i);
            } else {
                self.smoke_check(i);
            }
            return;
        };
        stage.status = StageStatus::Testing;
        stage.test_run = Some(TestRun::requested(self.now));
        let name = stage.name.clone();
        self.log_stage(
            i,
            format!(
                "deployed; running the post-deploy test ({})",
                test.buildspec
            ),
        );
        self.commands.push(Command::StartTest { stage: name });
    }

    /// The index of `stage` if its post-deploy test runs (or is asked for) and the
    /// build `build_id` may be it: the recorded one, or any before one is recorded.
    fn testing(
        &self,
        stage: &StageName,
        build_id: Option<&BuildId>,
    ) -> Result<Option<usize>, Rejected> {
        let i = self.stage_index(stage)?;
        let s = &self.execution.stages[i];
        let Some(run) = s
            .test_run
            .as_ref()
            .filter(|_| s.status == StageStatus::Testing)
        else {
            return Ok(None);
        };
        match (&run.build_id, build_id) {
            // An earlier attempt's build, retried since: old news.
            (_, Some(got)) if run.earlier.iter().any(|e| e == got) => Ok(None),
            (Some(known), Some(got)) if known != got => Err(Rejected::ForeignBuild {
                expected: known.clone(),
                got: got.to_owned(),
            }),
            _ => Ok(Some(i)),
        }
    }

    fn test_run(&mut self, i: usize) -> &mut TestRun {
        let now = self.now;
        self.execution.stages[i]
            .test_run
            .get_or_insert(TestRun::requested(now))
    }

    fn record_test(&mut self, i: usize, build_id: BuildId, log_url: Option<String>) {
        let run = self.test_run(i);
        run.build_id = Some(build_id);
        if log_url.is_some() {
            run.log_url = log_url;
        }
        self.changed = true;
    }

    pub(super) fn test_started(
        &mut self,
        stage: &StageName,
        build_id: BuildId,
        log_url: Option<String>,
    ) -> Result<(), Rejected> {
        let Some(i) = self.testing(stage, Some(&build_id))? else {
            return Ok(());
        };
        if self.test_run(i).status == BuildStatus::Requested {
            self.record_test(i, build_id.clone(), log_url);
            self.test_run(i).status = BuildStatus::Running;
            self.log_stage(i, format!("post-deploy test {build_id} started"));
        }
        Ok(())
    }

    pub(super) fn test_succeeded(
        &mut self,
        stage: &StageName,
        build_id: BuildId,
        log_url: Option<String>,
    ) -> Result<(), Rejected> {
        let Some(i) = self.testing(stage, Some(&build_id))? else {
            return Ok(());
        };
        self.record_test(i, build_id, log_url);
        let now = self.now;
        let run = self.test_run(i);
        run.status = BuildStatus::Succeeded;
        run.finished_at = Some(now);
        self.log_stage(i, "post-deploy test passed".into());
        self.verified(i);
        Ok(())
    }

    /// The stage's deploy went live and passed its test, if it has one: watched, if
    /// the stage watches alarms, else passed.
    fn verified(&mut self, i: usize) {
        let now = self.now;
        let stage = &mut self.execution.stages[i];
        let Some(watch) = stage.watch.clone() else {
            self.finish_stage(i, StageStatus::Succeeded, None);
            self.begin_stage(i + 1);
            return;
        };
        let until = now + chrono::Duration::minutes(i64::from(watch.minutes));
        stage.status = StageStatus::Verifying;
        stage.watch_until = Some(until);
        self.changed = true;
        self.log_stage(
            i,
            format!("watching alarms {} until {until}", watch.alarms.join(", ")),
        );
    }

    pub(super) fn test_failed(
        &mut self,
        stage: &StageName,
        build_id: Option<BuildId>,
        reason: String,
        log_url: Option<String>,
        cause: Cause,
    ) -> Result<(), Rejected> {
        let Some(i) = self.testing(stage, build_id.as_ref())? else {
            return Ok(());
        };
        if let Some(id) = build_id {
            self.record_test(i, id, log_url);
        }
        let now = self.now;
        let run = self.test_run(i);
        run.status = BuildStatus::Failed;
        run.finished_at = Some(now);
        run.reason = Some(reason.clone());
        let log = run
            .log_url
            .as_deref()
            .map(|l| format!(" (log: {l})"))
            .unwrap_or_default();
        let reason = format!("post-deploy test failed: {reason}{log}");
        if !self.retry_later(cause.worth_retrying(), i, RetryOf::Test, &reason) {
            let reason = self.after_retries(i, reason);
            self.roll_back(i, reason);
        }
        Ok(())
    }

    /// Asks for stage `i`'s smoke check: one call to each web address among its
    /// stack's outputs.
    pub(super) fn smoke_check(&mut self, i: usize) {
        let now = self.now;
        let stage = &mut self.execution.stages[i];
        stage.status = StageStatus::Testing;
        stage.smoke = Some(SmokeCheck::requested(now));
        let name = stage.name.clone();
        self.log_stage(
            i,
            "deployed; calling the stack's web addresses (smoke check)".into(),
        );
        self.commands.push(Command::SmokeCheck { stage: name });
    }

    /// The index of `stage` if its smoke check was asked for and has not reported.
    fn smoke_pending(&self, stage: &StageName) -> Result<Option<usize>, Rejected> {
        let i = self.stage_index(stage)?;
        let s = &self.execution.stages[i];
        let pending = s.status == StageStatus::Testing
            && s.smoke.as_ref().is_some_and(|c| c.finished_at.is_none());
        Ok(pending.then_some(i))
    }

    /// The smoke check reported: recorded, and the stage passes, unless its check
    /// gates it and found the application not working, when it goes back.
    pub(super) fn smoke_checked(
        &mut self,
        stage: &StageName,
        findings: Findings,
    ) -> Result<(), Rejected> {
        let Some(i) = self.smoke_pending(stage)? else {
            return Ok(());
        };
        let findings = findings.bounded();
        let s = &mut self.execution.stages[i];
        let failure = s
            .smoke_gates
            .then(|| findings.failure(&s.stack_name))
            .flatten();
        let summary = findings.summary();
        let warns = findings.warns();
        let findings_answered_badly = findings.probes.iter().any(|p| p.answer.is_bad());
        if let Some(check) = s.smoke.as_mut() {
            check.finished_at = Some(self.now);
            check.findings = Some(findings);
        }
        self.changed = true;
        match failure {
            Some(reason) => {
                // A 5xx or no answer may pass on its own (a cold start, a deploy still
                // settling): worth a retry where the stage retries; no address is not.
                let worth = findings_answered_badly;
                if !self.retry_later(worth, i, RetryOf::Test, &reason) {
                    let reason = self.after_retries(i, reason);
                    self.roll_back(i, reason);
                }
            }
            None => {
                let mark = if warns {
                    " (a warning for the approver)"
                } else {
                    ""
                };
                self.log_stage(i, format!("smoke check: {summary}{mark}"));
                self.verified(i);
            }
        }
        Ok(())
    }

    pub(super) fn test_not_started(&mut self, stage: &StageName) -> Result<(), Rejected> {
        if let Some(i) = self.smoke_pending(stage)? {
            self.log_stage(i, "the smoke check never reported, asking again".into());
            self.commands.push(Command::SmokeCheck {
                stage: stage.clone(),
            });
            return Ok(());
        }
        let Some(i) = self.testing(stage, None)? else {
            return Ok(());
        };
        if self.test_run(i).build_id.is_none() {
            self.log_stage(i, "post-deploy test was never started, starting it".into());
            self.commands.push(Command::StartTest {
                stage: stage.clone(),
            });
        }
        Ok(())
    }

    pub(super) fn alarm_fired(
        &mut self,
        stage: StageName,
        alarm: String,
        reason: String,
    ) -> Result<(), Rejected> {
        let i = self.stage_index(&stage)?;
        if self.stage_is(i, StageStatus::Verifying) {
            self.roll_back(i, format!("alarm {alarm} {reason}"));
        }
        Ok(())
    }

    pub(super) fn watch_passed(&mut self, stage: StageName) -> Result<(), Rejected> {
        let i = self.stage_index(&stage)?;
        let until = self.execution.stages[i].watch_until;
        if self.stage_is(i, StageStatus::Verifying) && until.is_some_and(|u| u <= self.now) {
            self.finish_stage(i, StageStatus::Succeeded, None);
            self.log_stage(i, "watch passed: no alarm went into ALARM".into());
            self.begin_stage(i + 1);
        }
        Ok(())
    }
}
