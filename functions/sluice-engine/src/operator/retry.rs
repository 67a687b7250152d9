//! `sluice retry`: runs a failed execution again.

use serde::{Deserialize, Serialize};
use sluice_core::{Event, ExecutionId, StageStatus};
use tracing::info;

use crate::engine::{Adapters, Engine};
use crate::error::EngineError;

use super::{Answer, describe};

/// Takes the failed `execution` up again where it failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    pub execution: ExecutionId,
}

impl<A: Adapters> Engine<A> {
    pub(super) async fn retry(&self, caller: &str, retry: Retry) -> Result<Answer, EngineError> {
        let execution = match self.find(&retry.execution).await? {
            Ok(execution) => execution,
            Err(refused) => return Ok(refused),
        };
        let id = &execution.id;
        info!(execution = %id, action = "retry", %caller, "operator command");
        let failed_stage = execution
            .stages
            .iter()
            .find(|s| s.status == StageStatus::Failed)
            .map(|s| s.name.clone());
        let event = Event::Retried {
            by: caller.to_owned(),
        };
        let now = match self.operator_event(id, event).await? {
            Ok(now) => now,
            Err(refused) => return Ok(refused),
        };
        let what = match (&execution.artifact, failed_stage) {
            (None, _) => "with a new build".to_owned(),
            (Some(_), Some(stage)) => format!("at stage {stage}, from the same artifact"),
            (Some(_), None) => "from the same artifact".to_owned(),
        };
        Ok(Answer::done(format!(
            "retried execution {id} (commit {}) {what}, as {caller}; it is {}. `sluice watch {id}` \
             follows it",
            now.commit.id.short(),
            describe(&now)
        )))
    }
}
