//! What every phase does to a run: find a stage, start or finish it, end the
//! execution, and write the timeline.

use super::{Rejected, Run};
use crate::event::{Command, Notice};
use crate::ids::StageName;
use crate::model::{Entry, StageStatus, Status};

impl Run {
    pub(super) fn stage_index(&self, name: &StageName) -> Result<usize, Rejected> {
        self.execution
            .stages
            .iter()
            .position(|s| &s.name == name)
            .ok_or_else(|| Rejected::UnknownStage(name.clone()))
    }

    pub(super) fn stage_is(&self, i: usize, status: StageStatus) -> bool {
        self.execution.stages[i].status == status
    }

    pub(super) fn delete_change_set(&mut self, i: usize) {
        let s = &self.execution.stages[i];
        if let Some(change_set_id) = s.change_set_id.clone() {
            self.commands.push(Command::DeleteChangeSet {
                stage: s.name.clone(),
                change_set_id,
            });
        }
    }

    /// Starts stage `i`, or ends the execution successfully when there is none.
    pub(super) fn begin_stage(&mut self, i: usize) {
        match self.execution.stages.get_mut(i) {
            Some(stage) => {
                stage.status = StageStatus::Preparing;
                stage.started_at = Some(self.now);
                let name = stage.name.clone();
                let what = match &stage.site {
                    Some(site) => format!("planning the site's deploy to {}", site.bucket),
                    None => "preparing change set".to_owned(),
                };
                self.log_stage(i, what);
                self.commands.push(Command::CreateChangeSet { stage: name });
            }
            None => {
                self.end(Status::Succeeded, "delivered to every stage".into());
                self.execution.reason = None;
                self.commands.push(Command::Notify(Notice::Succeeded));
            }
        }
    }

    pub(super) fn finish_stage(&mut self, i: usize, status: StageStatus, reason: Option<String>) {
        let stage = &mut self.execution.stages[i];
        stage.status = status;
        stage.finished_at = Some(self.now);
        stage.reason = reason;
        self.changed = true;
    }

    pub(super) fn fail(&mut self, stage: Option<StageName>, reason: String) {
        self.end(Status::Failed, reason.clone());
        self.commands
            .push(Command::Notify(Notice::Failed { stage, reason }));
    }

    pub(super) fn end(&mut self, status: Status, reason: String) {
        self.execution.status = status;
        self.execution.finished_at = Some(self.now);
        // The reason stays as written: it may quote a person.
        self.log(format!("execution {status}: {reason}"));
        self.execution.reason = Some(reason);
    }

    pub(super) fn log_stage(&mut self, i: usize, what: String) {
        let name = self.execution.stages[i].name.clone();
        self.log(format!("{name}: {what}"));
    }

    pub(super) fn log(&mut self, what: String) {
        // In time order; entries of the same instant keep the order they happened in.
        let pos = self
            .execution
            .timeline
            .partition_point(|e| e.at <= self.now);
        self.execution
            .timeline
            .insert(pos, Entry { at: self.now, what });
        self.changed = true;
    }
}
