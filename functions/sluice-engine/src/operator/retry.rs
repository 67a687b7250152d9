//! `sluice retry`: runs a failed execution again.

use sluice_core::{Event, Execution, StageStatus};

use crate::engine::{Adapters, Engine};
use crate::error::EngineError;

use super::{Answer, describe};

impl<A: Adapters> Engine<A> {
    pub(super) async fn retry(
        &self,
        caller: &str,
        execution: &Execution,
    ) -> Result<Answer, EngineError> {
        let id = &execution.id;
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
