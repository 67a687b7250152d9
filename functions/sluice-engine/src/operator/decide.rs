//! `sluice approve` and `sluice reject`: an operator's decision at a stage's gate.

use serde::{Deserialize, Serialize};
use sluice_core::{ExecutionId, StageName, StageStatus, Via};
use tracing::info;

use crate::engine::{Adapters, Decided, Engine};
use crate::error::EngineError;

use super::Answer;

/// `approve` and `reject`: the decision about the stage waiting at the gate of
/// `execution`, or about `stage`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decide {
    pub execution: ExecutionId,
    #[serde(default)]
    pub stage: Option<StageName>,
    #[serde(default)]
    pub comment: Option<String>,
}

impl<A: Adapters> Engine<A> {
    pub(super) async fn decide_as(
        &self,
        caller: &str,
        decide: Decide,
        approve: bool,
    ) -> Result<Answer, EngineError> {
        let action = if approve { "approve" } else { "reject" };
        let (execution, stage) = match self
            .find_at_gate(&decide.execution, decide.stage.as_ref(), action, caller)
            .await?
        {
            Ok(found) => found,
            Err(refused) => return Ok(refused),
        };
        let (execution, stage, comment) = (&execution, &stage, decide.comment);
        let id = &execution.id;
        let recent = match approve {
            true => self.store.recent(sluice_core::history::RECENT).await?,
            false => Vec::new(),
        };
        if approve
            && let Some(why) = sluice_core::decide::self_approval(execution, &recent, stage, caller)
        {
            info!(execution = %id, %stage, %caller, "self-approval refused");
            return Ok(Answer::refused(why));
        }
        let decided = self
            .decide(
                id,
                stage,
                Via::Identity,
                approve,
                caller.to_owned(),
                comment,
            )
            .await?;
        Ok(match decided {
            Decided::Done { execution, acted } => {
                let what = if approve { "approved" } else { "rejected" };
                let then = match (approve, acted) {
                    (false, _) => "; the execution ends here and nothing is deployed".to_owned(),
                    (true, true) => match execution.stage(stage).map(|s| (s.status, s)) {
                        Some((StageStatus::Deploying, _)) => "; deploying now".to_owned(),
                        Some((StageStatus::AwaitingWindow, s)) => match (&s.window, s.window_opens)
                        {
                            (Some(w), Some(at)) => format!(
                                "; it deploys when its window ({}) opens, {}",
                                w.describe(),
                                w.local_time(at)
                            ),
                            _ => "; it deploys when its window opens".to_owned(),
                        },
                        Some((status, _)) => format!("; the stage is {status}"),
                        None => String::new(),
                    },
                    (true, false) => {
                        "; the deploy did not start yet and the sweeper starts it within minutes"
                            .to_owned()
                    }
                };
                Answer::done(format!(
                    "{what} {stage} of execution {id} (commit {}) as {caller}{then}",
                    execution.commit.id.short()
                ))
            }
            Decided::Refused(rejected, _) => {
                Answer::refused(format!("execution {id}, stage {stage}: {rejected}"))
            }
            Decided::NotFound => Answer::refused(format!("no execution {id}")),
        })
    }
}
