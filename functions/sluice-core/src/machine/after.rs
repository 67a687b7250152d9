//! After a stage's deploy: its post-deploy test, its alarm watch, the automatic
//! rollback to the release that was live before when either finds the deploy bad,
//! and the automatic retries of failures of the moment.

use super::{Rejected, Run};
use crate::config::RetryPolicy;
use crate::event::{Command, Notice};
use crate::ids::{CommitId, ExecutionId, StageName};
use crate::model::{BuildStatus, PendingRetry, RetryOf, StageRollback, StageStatus, TestRun};
use crate::smoke::{Findings, SmokeCheck};
use crate::transient::Cause;

/// How many times a rollback whose deploy failed is tried again, at least (a stage
/// that retries more often retries its rollback as often).
pub const ROLLBACK_RETRIES: u32 = 3;
/// The first wait before a rollback is tried again, for a stage with no retry policy.
pub const ROLLBACK_RETRY_SECONDS: u32 = 30;

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
        build_id: Option<&str>,
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

    fn record_test(&mut self, i: usize, build_id: String, log_url: Option<String>) {
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
        build_id: String,
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
        build_id: String,
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
        build_id: Option<String>,
        reason: String,
        log_url: Option<String>,
        cause: Cause,
    ) -> Result<(), Rejected> {
        let Some(i) = self.testing(stage, build_id.as_deref())? else {
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
    fn smoke_check(&mut self, i: usize) {
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

    /// Schedules an automatic retry of stage `i` after `failure`, if the failure is
    /// worth retrying (as the adapter that met it said) and the stage has retries
    /// left; whether it did.
    pub(super) fn retry_later(
        &mut self,
        worth_retrying: bool,
        i: usize,
        of: RetryOf,
        failure: &str,
    ) -> bool {
        let s = &mut self.execution.stages[i];
        let Some(policy) = s.retry else {
            return false;
        };
        if s.retries >= policy.max || !worth_retrying {
            return false;
        }
        let n = s.retries + 1;
        let at = self.now + policy.wait(n);
        s.status = StageStatus::Retrying;
        s.retrying = Some(PendingRetry {
            of,
            at,
            reason: failure.to_owned(),
        });
        let what = match of {
            RetryOf::Deploy => "the stage",
            RetryOf::Test => "the post-deploy test",
            RetryOf::Rollback => "the rollback",
        };
        self.changed = true;
        self.log_stage(
            i,
            format!(
                "{failure}; worth retrying: retry {n} of {} of {what} at {at}",
                policy.max
            ),
        );
        true
    }

    /// Schedules the rollback of stage `i` again after `failure`: a rollback is
    /// retried whatever failed (the release it puts back went live there before, so
    /// the failure is most likely of the moment), whether or not the stage retries
    /// its deploys, up to [`ROLLBACK_RETRIES`] times (or the stage's own count, if
    /// more), waiting as the stage's policy says (else [`ROLLBACK_RETRY_SECONDS`],
    /// doubled each time).
    pub(super) fn retry_rollback_later(&mut self, i: usize, failure: &str) -> bool {
        let s = &mut self.execution.stages[i];
        let policy = s.retry.unwrap_or(RetryPolicy {
            max: ROLLBACK_RETRIES,
            base_seconds: ROLLBACK_RETRY_SECONDS,
        });
        let max = policy.max.max(ROLLBACK_RETRIES);
        let Some(rollback) = s.rollback.as_ref() else {
            return false;
        };
        if rollback.attempt >= max {
            return false;
        }
        let n = rollback.attempt + 1;
        let at = self.now + policy.wait(n);
        s.status = StageStatus::Retrying;
        s.retrying = Some(PendingRetry {
            of: RetryOf::Rollback,
            at,
            reason: failure.to_owned(),
        });
        self.changed = true;
        self.log_stage(
            i,
            format!("{failure}; retry {n} of {max} of the rollback at {at}"),
        );
        true
    }

    /// `reason`, saying how many automatic retries came before it, if any.
    pub(super) fn after_retries(&self, i: usize, reason: String) -> String {
        match self.execution.stages[i].retries {
            0 => reason,
            1 => format!("{reason} (after 1 automatic retry)"),
            n => format!("{reason} (after {n} automatic retries)"),
        }
    }

    /// The stage's automatic retry is due: it tries again what failed.
    pub(super) fn retry_due(&mut self, stage: &StageName) -> Result<(), Rejected> {
        let i = self.stage_index(stage)?;
        let s = &mut self.execution.stages[i];
        let due = s
            .retrying
            .clone()
            .filter(|r| s.status == StageStatus::Retrying && r.at <= self.now);
        let Some(pending) = due else {
            return Ok(());
        };
        s.retrying = None;
        if pending.of == RetryOf::Rollback {
            let Some(rollback) = s.rollback.as_mut() else {
                return Ok(());
            };
            rollback.attempt += 1;
            rollback.change_set_id = None;
            let n = rollback.attempt;
            s.status = StageStatus::RollingBack;
            self.log_stage(
                i,
                format!("rollback retry {n}: putting the release back again"),
            );
            self.commands.push(Command::RollBack {
                stage: stage.clone(),
            });
            return Ok(());
        }
        s.retries += 1;
        s.reason = None;
        let n = s.retries;
        match pending.of {
            RetryOf::Rollback => {}
            RetryOf::Deploy => {
                s.next_attempt();
                self.log_stage(i, format!("automatic retry {n}"));
                self.begin_stage(i);
            }
            RetryOf::Test if s.test.is_none() => {
                self.log_stage(i, format!("automatic retry {n}: the smoke check again"));
                self.smoke_check(i);
            }
            RetryOf::Test => {
                let before = s.test_run.take();
                let attempt = before.as_ref().map_or(0, |r| r.attempt) + 1;
                let mut earlier = before
                    .as_ref()
                    .map(|r| r.earlier.clone())
                    .unwrap_or_default();
                earlier.extend(before.and_then(|r| r.build_id));
                s.status = StageStatus::Testing;
                s.test_run = Some(TestRun {
                    attempt,
                    earlier,
                    ..TestRun::requested(self.now)
                });
                self.log_stage(
                    i,
                    format!("automatic retry {n}: running the post-deploy test again"),
                );
                self.commands.push(Command::StartTest {
                    stage: stage.clone(),
                });
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

    /// The deploy of stage `i` was found bad (`trigger` says how): the release live
    /// before goes back, unless this execution is itself a rollback, whose release
    /// an operator chose and which has nothing earlier to go back to.
    pub(super) fn roll_back(&mut self, i: usize, trigger: String) {
        let name = self.execution.stages[i].name.clone();
        if let Some(of) = &self.execution.rollback_of {
            let reason = format!(
                "{trigger}; this execution is itself a rollback (to execution {of}), so its \
                 release stays live: roll back to another execution (`sluice rollback {name} \
                 --to EXECUTION`) or push a fix"
            );
            self.finish_stage(i, StageStatus::Failed, Some(reason.clone()));
            self.fail(Some(name), reason);
            return;
        }
        let stage = &mut self.execution.stages[i];
        stage.status = StageStatus::RollingBack;
        stage.reason = Some(trigger.clone());
        stage.rollback = Some(StageRollback {
            trigger: trigger.clone(),
            started_at: self.now,
            to: None,
            commit: None,
            change_set_id: None,
            attempt: 0,
        });
        self.log_stage(i, format!("{trigger}; rolling back"));
        self.commands.push(Command::RollBack { stage: name });
    }

    /// Whether stage `i` is rolling back through a change set that is executing.
    pub(super) fn rollback_running(&self, i: usize) -> bool {
        let s = &self.execution.stages[i];
        s.status == StageStatus::RollingBack
            && s.rollback
                .as_ref()
                .is_some_and(|r| r.change_set_id.is_some())
    }

    pub(super) fn rollback_started(
        &mut self,
        stage: &StageName,
        to: ExecutionId,
        commit: CommitId,
        change_set_id: String,
    ) -> Result<(), Rejected> {
        let i = self.stage_index(stage)?;
        let s = &mut self.execution.stages[i];
        if s.status != StageStatus::RollingBack {
            return Ok(());
        }
        let Some(rollback) = s.rollback.as_mut().filter(|r| r.change_set_id.is_none()) else {
            return Ok(());
        };
        rollback.to = Some(to);
        rollback.commit = Some(commit);
        rollback.change_set_id = Some(change_set_id);
        let release = rollback.release().unwrap_or_default();
        self.log_stage(i, format!("rolling back to {release}"));
        Ok(())
    }

    pub(super) fn rollback_not_started(&mut self, stage: &StageName) -> Result<(), Rejected> {
        let i = self.stage_index(stage)?;
        let s = &self.execution.stages[i];
        if s.status == StageStatus::RollingBack
            && s.rollback
                .as_ref()
                .is_some_and(|r| r.change_set_id.is_none())
        {
            self.log_stage(i, "rollback was never started, starting it".into());
            self.commands.push(Command::RollBack {
                stage: stage.clone(),
            });
        }
        Ok(())
    }

    /// The previous release is live again: the stage and the execution failed, and
    /// say what found the deploy bad and what runs now.
    pub(super) fn rolled_back(&mut self, i: usize) {
        let s = &self.execution.stages[i];
        let name = s.name.clone();
        let (trigger, release) = s
            .rollback
            .as_ref()
            .map(|r| (r.trigger.clone(), r.release().unwrap_or_default()))
            .unwrap_or_default();
        let later = match i + 1 < self.execution.stages.len() {
            true => ", and later stages were not started",
            false => "",
        };
        let reason = format!("{trigger}; rolled back: {release} is live on {name} again{later}");
        self.finish_stage(i, StageStatus::RolledBack, Some(reason.clone()));
        self.log_stage(i, format!("rolled back to {release}"));
        self.fail(Some(name), reason);
    }

    /// The stage could not be put back: the loudest failure there is, since the
    /// stack runs a release that was found bad.
    pub(super) fn rollback_failed(&mut self, i: usize, why: String) {
        let s = &self.execution.stages[i];
        let name = s.name.clone();
        let trigger = s
            .rollback
            .as_ref()
            .map(|r| r.trigger.clone())
            .unwrap_or_default();
        let reason = format!(
            "{trigger}; ROLLBACK FAILED: {why}. Stack {} still runs commit {}, which was found \
             bad; act now: `sluice rollback {name}` or push a fix",
            s.stack_name,
            self.execution.commit.id.short()
        );
        self.finish_stage(i, StageStatus::RollbackFailed, Some(reason.clone()));
        self.end(crate::model::Status::Failed, reason.clone());
        self.commands.push(Command::Notify(Notice::RollbackFailed {
            stage: name,
            reason,
        }));
    }
}
