//! When a stage fails: the automatic retries of failures of the moment, and the
//! automatic rollback to the release that was live before when its test, smoke check
//! or alarm watch finds the deploy bad.

use super::{Rejected, Run};
use crate::ChangeSetId;
use crate::config::RetryPolicy;
use crate::event::{Command, Notice};
use crate::ids::{CommitId, ExecutionId, StageName};
use crate::model::{PendingRetry, RetryOf, StageRollback, StageStatus, TestRun};

/// How many times a rollback whose deploy failed is tried again, at least (a stage
/// that retries more often retries its rollback as often).
pub const ROLLBACK_RETRIES: u32 = 3;
/// The first wait before a rollback is tried again, for a stage with no retry policy.
pub const ROLLBACK_RETRY_SECONDS: u32 = 30;

impl Run {
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
        change_set_id: ChangeSetId,
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

    pub(super) fn rollback_impossible(
        &mut self,
        stage: StageName,
        reason: String,
    ) -> Result<(), Rejected> {
        let i = self.stage_index(&stage)?;
        if self.stage_is(i, StageStatus::RollingBack)
            && self.execution.stages[i]
                .rollback
                .as_ref()
                .is_some_and(|r| r.change_set_id.is_none())
        {
            self.rollback_failed(i, reason);
        }
        Ok(())
    }
}
