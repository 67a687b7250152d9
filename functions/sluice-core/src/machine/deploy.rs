//! A stage's deploy: its change set (or site plan) is prepared, waits for its gate and
//! its deployment window, and is executed; or a newer execution supersedes it.

use super::{Rejected, Run};
use crate::ChangeSetId;
use crate::event::{Command, Notice};
use crate::ids::{ExecutionId, StageName, Timestamp};
use crate::model::{RetryOf, StageStatus, Status};
use crate::transient::Cause;

impl Run {
    /// The stage's change set (or site plan) is ready: to its gate, or deployed.
    pub(super) fn ready(
        &mut self,
        stage: StageName,
        change_set_id: ChangeSetId,
        changes: Vec<crate::model::ResourceChange>,
        files: Vec<crate::site::FileChange>,
    ) -> Result<(), Rejected> {
        let i = self.stage_index(&stage)?;
        if !self.stage_is(i, StageStatus::Preparing) {
            return Ok(());
        }
        let s = &mut self.execution.stages[i];
        s.change_set_id = Some(change_set_id.clone());
        let count = match s.site {
            Some(_) => format!("{} file changes", files.len()),
            None => format!("{} changes", changes.len()),
        };
        s.changes = changes;
        s.files = files;
        if s.requires_approval {
            s.status = StageStatus::AwaitingApproval;
            self.commands.push(Command::RequestApproval { stage });
            self.log_stage(i, format!("{count} ready, awaiting approval"));
        } else {
            self.deploy_in_window(i, &format!("{count} ready"));
        }
        Ok(())
    }

    pub(super) fn change_set_empty(
        &mut self,
        stage: StageName,
        change_set_id: ChangeSetId,
    ) -> Result<(), Rejected> {
        let i = self.stage_index(&stage)?;
        if self.stage_is(i, StageStatus::Preparing) {
            self.execution.stages[i].change_set_id = Some(change_set_id.clone());
            // CloudFormation keeps empty change sets around as FAILED; tidy up.
            self.commands.push(Command::DeleteChangeSet {
                stage,
                change_set_id,
            });
            self.finish_stage(i, StageStatus::NoChanges, None);
            self.log_stage(i, "no changes".into());
            self.begin_stage(i + 1);
        }
        Ok(())
    }

    pub(super) fn change_set_failed(
        &mut self,
        stage: StageName,
        change_set_id: Option<ChangeSetId>,
        reason: String,
        cause: Cause,
    ) -> Result<(), Rejected> {
        let i = self.stage_index(&stage)?;
        if self.stage_is(i, StageStatus::Preparing) {
            if change_set_id.is_some() {
                self.execution.stages[i].change_set_id = change_set_id;
            }
            let reason = format!("change set failed: {reason}");
            if !self.retry_later(cause.worth_retrying(), i, RetryOf::Deploy, &reason) {
                let reason = self.after_retries(i, reason);
                self.finish_stage(i, StageStatus::Failed, Some(reason.clone()));
                self.fail(Some(stage), reason);
            }
        }
        Ok(())
    }

    pub(super) fn change_set_missing(&mut self, stage: StageName) -> Result<(), Rejected> {
        let i = self.stage_index(&stage)?;
        if self.stage_is(i, StageStatus::Preparing) {
            self.log_stage(i, "change set missing, creating it again".into());
            self.commands.push(Command::CreateChangeSet { stage });
        }
        Ok(())
    }

    pub(super) fn change_set_not_executed(&mut self, stage: StageName) -> Result<(), Rejected> {
        let i = self.stage_index(&stage)?;
        let s = &self.execution.stages[i];
        if let (StageStatus::Deploying, Some(id)) = (s.status, s.change_set_id.clone()) {
            self.log_stage(i, "change set was not executed, executing it".into());
            self.commands.push(Command::ExecuteChangeSet {
                stage,
                change_set_id: id,
            });
        }
        Ok(())
    }

    /// When stage `i`'s deployment window opens, if it is closed now.
    fn window_closed(&self, i: usize) -> Option<Timestamp> {
        let window = self.execution.stages[i].window.as_ref()?;
        // Windows open at least weekly; should one never open, look again tomorrow.
        (!window.is_open(self.now)).then(|| {
            window
                .next_open(self.now)
                .unwrap_or(self.now + chrono::Duration::days(1))
        })
    }

    /// Deploys stage `i`'s ready (and approved) change set, or holds it until its
    /// deployment window opens. `what` says what made it ready, for the timeline.
    pub(super) fn deploy_in_window(&mut self, i: usize, what: &str) {
        let closed = self.window_closed(i);
        let s = &mut self.execution.stages[i];
        let stage = s.name.clone();
        if let (Some(opens), Some(window)) = (closed, &s.window) {
            let when = window.local_time(opens);
            s.status = StageStatus::AwaitingWindow;
            s.window_opens = Some(opens);
            self.commands.push(Command::AwaitWindow { stage });
            self.log_stage(i, format!("{what}, waiting for the window, opens {when}"));
            return;
        }
        s.status = StageStatus::Deploying;
        s.window_opens = None;
        if let Some(change_set_id) = s.change_set_id.clone() {
            self.commands.push(Command::ExecuteChangeSet {
                stage,
                change_set_id,
            });
        }
        self.log_stage(i, format!("{what}, deploying"));
    }

    pub(super) fn window_opened(&mut self, stage: StageName) -> Result<(), Rejected> {
        let i = self.stage_index(&stage)?;
        let s = &self.execution.stages[i];
        if s.status == StageStatus::AwaitingWindow {
            match self.window_closed(i) {
                None => self.deploy_in_window(i, "window open"),
                // Too early (a clock ahead of this one), or missed: the
                // window closed again before the deploy could start.
                Some(opens) if Some(opens) != s.window_opens => {
                    self.deploy_in_window(i, "the window closed before the deploy started")
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    pub(super) fn stack_update_completed(&mut self, stage: StageName) -> Result<(), Rejected> {
        let i = self.stage_index(&stage)?;
        if self.stage_is(i, StageStatus::Deploying) {
            self.deployed(i);
        } else if self.rollback_running(i) {
            self.rolled_back(i);
        }
        Ok(())
    }

    pub(super) fn stack_update_failed(
        &mut self,
        stage: StageName,
        reason: String,
        cause: Cause,
    ) -> Result<(), Rejected> {
        let i = self.stage_index(&stage)?;
        if self.stage_is(i, StageStatus::Deploying) {
            let reason = format!("deploy failed: {reason}");
            if !self.retry_later(cause.worth_retrying(), i, RetryOf::Deploy, &reason) {
                let reason = self.after_retries(i, reason);
                self.finish_stage(i, StageStatus::Failed, Some(reason.clone()));
                self.fail(Some(stage), reason);
            }
        } else if self.rollback_running(i) {
            let reason = format!("the rollback's deploy failed: {reason}");
            if !self.retry_rollback_later(i, &reason) {
                self.rollback_failed(i, reason);
            }
        }
        Ok(())
    }

    pub(super) fn superseded(&mut self, stage: StageName, by: ExecutionId) -> Result<(), Rejected> {
        let i = self.stage_index(&stage)?;
        let waiting = matches!(
            self.execution.stages[i].status,
            StageStatus::AwaitingApproval | StageStatus::AwaitingWindow | StageStatus::Preparing
        );
        if waiting && by != self.execution.id {
            let reason = format!("superseded at stage {stage} by execution {by}");
            self.delete_change_set(i);
            self.finish_stage(i, StageStatus::Superseded, Some(reason.clone()));
            self.execution.superseded_by = Some(by.clone());
            self.end(Status::Superseded, reason);
            self.commands
                .push(Command::Notify(Notice::Superseded { stage, by }));
        }
        Ok(())
    }
}
