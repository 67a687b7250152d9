//! What an operator asks of an execution: to cancel it, to retry it, to note something
//! on it.

use super::{NOTE_AUTHOR_MAX, NOTE_TEXT_MAX, Rejected, Run};
use crate::event::{Command, Notice};
use crate::model::{BuildStatus, Note, RetryOf, StageStatus, Status};

impl Run {
    /// Why an operator's command does nothing to a finished execution.
    pub(super) fn finished(&self) -> Rejected {
        Rejected::Finished {
            status: self.execution.status,
            at: self
                .execution
                .finished_at
                .unwrap_or(self.execution.updated_at),
        }
    }

    /// Stops an execution in flight: its build, or its stage short of deploying.
    pub(super) fn cancel(&mut self, by: String) -> Result<(), Rejected> {
        let reason = format!("cancelled by {by}");
        if self.execution.status == Status::Building {
            let build = &mut self.execution.build;
            if build.status != BuildStatus::Succeeded {
                if let (BuildStatus::Running, Some(build_id)) = (build.status, build.id.clone()) {
                    self.commands.push(Command::StopBuild { build_id });
                }
                build.status = BuildStatus::Failed;
                build.reason = Some(reason.clone());
            }
        } else if let Some(i) = self
            .execution
            .stages
            .iter()
            .position(|s| s.status != StageStatus::Pending && !s.status.is_finished())
        {
            let s = &self.execution.stages[i];
            let putting_back = s
                .retrying
                .as_ref()
                .is_some_and(|r| r.of == RetryOf::Rollback);
            if s.status.is_busy() || putting_back {
                return Err(Rejected::DeployInProgress {
                    stage: self.execution.stages[i].name.clone(),
                    status: self.execution.stages[i].status,
                });
            }
            self.delete_change_set(i);
            self.finish_stage(i, StageStatus::Cancelled, Some(reason.clone()));
        }
        self.end(Status::Cancelled, reason);
        self.commands
            .push(Command::Notify(Notice::Cancelled { by }));
        Ok(())
    }

    /// Takes a failed execution up again where it failed.
    pub(super) fn retry(&mut self, by: String) -> Result<(), Rejected> {
        if self.execution.status != Status::Failed {
            return Err(Rejected::NothingToRetry {
                status: self.execution.status,
            });
        }
        self.execution.status = Status::Building;
        self.execution.finished_at = None;
        self.execution.reason = None;
        if self.execution.artifact.is_none() {
            let build = &mut self.execution.build;
            build.attempt += 1;
            build.status = BuildStatus::Requested;
            build.id = None;
            build.log_url = None;
            build.reason = None;
            build.requested_at = Some(self.now);
            let attempt = build.attempt + 1;
            self.log(format!("retried by {by}: building again (build {attempt})"));
            self.commands.push(Command::StartBuild);
            return Ok(());
        }
        self.execution.status = Status::Deploying;
        let failed = self
            .execution
            .stages
            .iter()
            .position(|s| s.status.is_failed());
        let Some(i) = failed else {
            // Failed with its artifact recorded but no stage failed: start where it stopped.
            let next = self
                .execution
                .stages
                .iter()
                .position(|s| !s.status.is_passed())
                .unwrap_or(self.execution.stages.len());
            self.log(format!("retried by {by}"));
            self.begin_stage(next);
            return Ok(());
        };
        let s = &mut self.execution.stages[i];
        s.next_attempt();
        // The operator decided: the stage has its automatic retries again.
        s.retries = 0;
        s.retrying = None;
        self.log_stage(i, format!("retried by {by}"));
        self.begin_stage(i);
        Ok(())
    }

    /// A retry of an execution that has not ended: nothing failed to retry.
    pub(super) fn nothing_to_retry(&self) -> Result<(), Rejected> {
        Err(Rejected::NothingToRetry {
            status: self.execution.status,
        })
    }

    pub(super) fn add_note(&mut self, author: String, text: String) -> Result<(), Rejected> {
        let author = author.trim().to_owned();
        let text = text.trim().to_owned();
        if author.is_empty() || author.chars().count() > NOTE_AUTHOR_MAX {
            return Err(Rejected::InvalidNote("an author of 1 to 256 characters"));
        }
        if text.is_empty() || text.chars().count() > NOTE_TEXT_MAX {
            return Err(Rejected::InvalidNote("a text of 1 to 2000 characters"));
        }
        let note = Note {
            at: self.now,
            author,
            text,
        };
        // Notes are kept sorted, so concurrent writers end with the same document
        // whatever order their writes landed in; an identical note is a duplicate.
        if let Err(pos) = self.execution.notes.binary_search(&note) {
            self.execution.notes.insert(pos, note);
            self.changed = true;
        }
        Ok(())
    }
}
