//! `sluice cancel`: stops an execution, and its build if it runs.

use serde::{Deserialize, Serialize};
use sluice_adapters::builder::{BuildOutcome, Builder};
use sluice_core::{BuildStatus, Event, ExecutionId, StageStatus};
use tracing::info;

use crate::engine::{Adapters, Engine};
use crate::error::EngineError;

use super::Answer;

/// Stops `execution`, and its build if it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cancel {
    pub execution: ExecutionId,
}

impl<A: Adapters> Engine<A> {
    pub(super) async fn cancel(&self, caller: &str, cancel: Cancel) -> Result<Answer, EngineError> {
        let execution = match self.find(&cancel.execution).await? {
            Ok(execution) => execution,
            Err(refused) => return Ok(refused),
        };
        let execution = &execution;
        let id = &execution.id;
        info!(execution = %id, action = "cancel", %caller, "operator command");
        let event = Event::Cancelled {
            by: caller.to_owned(),
        };
        let now = match self.operator_event(id, event).await? {
            Ok(now) => now,
            Err(refused) => return Ok(refused),
        };
        let mut done = vec![format!(
            "cancelled execution {id} (commit {}) as {caller}",
            now.commit.id.short()
        )];
        let build_was_running = execution.status == sluice_core::Status::Building
            && execution.build.status == BuildStatus::Running;
        if let (true, Some(build)) = (build_was_running, &execution.build.id) {
            let reports = self.builder.builds(vec![build.clone()]).await;
            let running = reports
                .as_ref()
                .map(|r| r.iter().any(|r| r.outcome == BuildOutcome::InProgress));
            done.push(match running {
                Ok(false) => format!("build {build} is stopped"),
                Ok(true) => format!("build {build} is stopping"),
                Err(e) => format!("could not confirm that build {build} stopped ({e})"),
            });
        }
        if let Some(stage) = now
            .stages
            .iter()
            .find(|s| s.status == StageStatus::Cancelled)
        {
            if stage.change_set_id.is_some() {
                done.push(format!("its change set for {} is deleted", stage.name));
            }
            done.push(format!("{} is free for the next execution", stage.name));
        }
        Ok(Answer::done(done.join("; ")))
    }
}
