//! Commands an operator gives from a terminal (`sluice approve`, `reject`, `resend`),
//! taken by the operator function after it has proven who the caller is. They go
//! through the same core rules and conditional writes as everything else.

use serde::{Deserialize, Serialize};
use sluice_adapters::ObjectStore;
use sluice_adapters::StoreError;
use sluice_adapters::builder::Builder;
use sluice_adapters::commits::CommitReader;
use sluice_adapters::deployer::Deployer;
use sluice_adapters::notifier::Notifier;
use sluice_core::{Event, Execution, ExecutionId, StageName, StageStatus, Via};
use tracing::info;

use crate::engine::{Decided, Engine, EngineError};

/// What an operator asks for, as `sluice` sends it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Approve the stage waiting at its gate (or the one named).
    Approve {
        execution: String,
        #[serde(default)]
        stage: Option<String>,
        #[serde(default)]
        comment: Option<String>,
    },
    Reject {
        execution: String,
        #[serde(default)]
        stage: Option<String>,
        #[serde(default)]
        comment: Option<String>,
    },
    /// Send a new approval link; the old one stops working.
    Resend {
        execution: String,
        #[serde(default)]
        stage: Option<String>,
    },
}

impl Action {
    /// The action's name, as the CLI's subcommand says it.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Approve { .. } => "approve",
            Action::Reject { .. } => "reject",
            Action::Resend { .. } => "resend",
        }
    }

    /// Every action's name.
    pub const ALL: [&'static str; 3] = ["approve", "reject", "resend"];
}

/// One command: the pipeline it is meant for, and what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorCommand {
    pub pipeline: String,
    #[serde(flatten)]
    pub action: Action,
}

/// What the command did, for the operator's terminal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// Whether it was done; `false` says why not in `message`, and nothing changed.
    pub ok: bool,
    pub message: String,
}

impl Answer {
    fn done(message: String) -> Self {
        Self { ok: true, message }
    }

    fn refused(message: String) -> Self {
        Self { ok: false, message }
    }
}

impl<O, B, D, N, C> Engine<O, B, D, N, C>
where
    O: ObjectStore,
    B: Builder,
    D: Deployer,
    N: Notifier,
    C: CommitReader,
{
    /// Carries out `command` for `caller`, an ARN STS answered for the caller's proof.
    pub async fn operate(
        &self,
        caller: &str,
        command: OperatorCommand,
    ) -> Result<Answer, EngineError> {
        let pipeline = &self.config.pipeline.name;
        if &command.pipeline != pipeline {
            return Ok(Answer::refused(format!(
                "this is pipeline {pipeline}, not {}; set SLUICE_PIPELINE to the pipeline you mean",
                command.pipeline.chars().take(128).collect::<String>()
            )));
        }
        let (execution, stage) = match &command.action {
            Action::Approve {
                execution, stage, ..
            }
            | Action::Reject {
                execution, stage, ..
            }
            | Action::Resend { execution, stage } => (execution, stage),
        };
        let execution = match self.find(execution).await? {
            Ok(execution) => execution,
            Err(refused) => return Ok(refused),
        };
        let stage = match at_gate(&execution, stage.as_deref()) {
            Ok(stage) => stage,
            Err(refused) => return Ok(refused),
        };
        info!(execution = %execution.id, %stage, action = command.action.name(), %caller, "operator command");
        match command.action {
            Action::Approve { comment, .. } => {
                self.decide_as(caller, &execution, &stage, true, comment)
                    .await
            }
            Action::Reject { comment, .. } => {
                self.decide_as(caller, &execution, &stage, false, comment)
                    .await
            }
            Action::Resend { .. } => self.resend(caller, &execution, &stage).await,
        }
    }

    /// The execution `id` names, or the answer saying there is none.
    async fn find(&self, id: &str) -> Result<Result<Execution, Answer>, EngineError> {
        let pipeline = &self.config.pipeline.name;
        let Ok(id) = ExecutionId::parse(id.trim()) else {
            return Ok(Err(Answer::refused(format!(
                "{:?} is not an execution id; `sluice status` lists them",
                id.chars().take(64).collect::<String>()
            ))));
        };
        Ok(match self.store.load(&id).await? {
            Some(execution) => Ok(execution),
            None => Err(Answer::refused(format!(
                "pipeline {pipeline} has no execution {id}; `sluice status` lists them"
            ))),
        })
    }

    async fn decide_as(
        &self,
        caller: &str,
        execution: &Execution,
        stage: &StageName,
        approve: bool,
        comment: Option<String>,
    ) -> Result<Answer, EngineError> {
        let id = &execution.id;
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
                    (true, true) => match execution.stage(stage).map(|s| s.status) {
                        Some(StageStatus::Deploying) => "; deploying now".to_owned(),
                        Some(status) => format!("; the stage is {status}"),
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

    async fn resend(
        &self,
        caller: &str,
        execution: &Execution,
        stage: &StageName,
    ) -> Result<Answer, EngineError> {
        let id = &execution.id;
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

/// The stage to decide: the one named, or the one waiting for approval.
fn at_gate(execution: &Execution, named: Option<&str>) -> Result<StageName, Answer> {
    let id = &execution.id;
    if let Some(name) = named {
        let known = execution.stages.iter().find(|s| s.name.as_str() == name);
        return match known {
            Some(s) => Ok(s.name.clone()),
            None => Err(Answer::refused(format!(
                "execution {id} has no stage {:?}; its stages are {}",
                name.chars().take(64).collect::<String>(),
                stage_names(execution)
            ))),
        };
    }
    let waiting = execution
        .stages
        .iter()
        .find(|s| s.status == StageStatus::AwaitingApproval);
    // Else the gate decided last, so that the answer says who decided it and when.
    let decided = || {
        execution
            .stages
            .iter()
            .rev()
            .find(|s| s.approval.as_ref().is_some_and(|a| a.decision.is_some()))
    };
    match waiting.or_else(decided) {
        Some(s) => Ok(s.name.clone()),
        None => Err(Answer::refused(format!(
            "execution {id} is {}; no stage is waiting for approval",
            execution.status
        ))),
    }
}

fn stage_names(execution: &Execution) -> String {
    execution
        .stages
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
