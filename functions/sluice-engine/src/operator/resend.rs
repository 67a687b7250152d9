//! `sluice resend`: replaces a stage's approval link with a new one, sent again.

use serde::{Deserialize, Serialize};
use sluice_adapters::StoreError;
use sluice_core::{Event, ExecutionId, StageName};

use crate::engine::{Adapters, Engine};
use crate::error::EngineError;

use super::Answer;

/// A new approval link for the stage waiting at the gate of `execution` (or `stage`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resend {
    pub execution: ExecutionId,
    #[serde(default)]
    pub stage: Option<StageName>,
}

impl<A: Adapters> Engine<A> {
    pub(super) async fn resend(&self, caller: &str, resend: Resend) -> Result<Answer, EngineError> {
        let (execution, stage) = match self
            .find_at_gate(&resend.execution, resend.stage.as_ref(), "resend", caller)
            .await?
        {
            Ok(found) => found,
            Err(refused) => return Ok(refused),
        };
        let (id, stage) = (&execution.id, &stage);
        let event = Event::ApprovalLinkReplaced {
            stage: stage.clone(),
            by: caller.to_owned(),
        };
        let applied = match self.store.apply(id, event, self.now()).await {
            Ok(applied) => applied,
            Err(StoreError::Rejected(rejected)) => {
                return Ok(Answer::refused(format!(
                    "execution {id}, stage {stage}: {rejected}"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let after = applied.execution.clone();
        self.run_all(
            applied
                .commands
                .into_iter()
                .map(|c| (after.clone(), c))
                .collect(),
        )
        .await?;
        let now = self.store.load(id).await?.unwrap_or(after);
        let sent = now
            .stage(stage)
            .and_then(|s| s.approval.as_ref())
            .is_some_and(|a| a.sent_at.is_some());
        Ok(Answer::done(if sent {
            format!(
                "sent a new approval link for {stage} of execution {id}; the old link no longer works"
            )
        } else {
            format!(
                "the old approval link for {stage} of execution {id} no longer works; the new one \
                 could not be sent yet, and the sweeper sends it within minutes"
            )
        }))
    }
}
