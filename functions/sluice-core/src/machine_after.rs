//! After a stage's deploy: its post-deploy test, and the automatic rollback to the
//! release that was live before when the test fails.

use super::{Rejected, Run};
use crate::event::{Command, Notice};
use crate::ids::{CommitId, ExecutionId, StageName};
use crate::model::{BuildStatus, StageRollback, StageStatus, TestRun};

impl Run {
    /// The stage's change went live: tested when the stage has a test, else passed.
    pub(super) fn deployed(&mut self, i: usize) {
        let stage = &mut self.execution.stages[i];
        let Some(test) = stage.test.clone() else {
            self.finish_stage(i, StageStatus::Succeeded, None);
            self.log_stage(i, "deployed".into());
            self.begin_stage(i + 1);
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
        self.finish_stage(i, StageStatus::Succeeded, None);
        self.log_stage(i, "post-deploy test passed".into());
        self.begin_stage(i + 1);
        Ok(())
    }

    pub(super) fn test_failed(
        &mut self,
        stage: &StageName,
        build_id: Option<String>,
        reason: String,
        log_url: Option<String>,
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
        self.roll_back(i, format!("post-deploy test failed: {reason}{log}"));
        Ok(())
    }

    pub(super) fn test_not_started(&mut self, stage: &StageName) -> Result<(), Rejected> {
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
    fn roll_back(&mut self, i: usize, trigger: String) {
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
        let reason = format!(
            "{trigger}; rolled back: {release} is live on {name} again, and later stages were \
             not started"
        );
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
