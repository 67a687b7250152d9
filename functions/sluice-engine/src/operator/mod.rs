//! Commands an operator gives from a terminal (`sluice approve`, `reject`, `resend`,
//! `release`, `retry`, `cancel`),
//! taken by the operator function after it has proven who the caller is. They go
//! through the same core rules and conditional writes as everything else.

use serde::{Deserialize, Serialize};
use sluice_adapters::ObjectStore;
use sluice_adapters::StoreError;
use sluice_adapters::objects::{Condition, ObjectError};
use sluice_core::{Event, Execution, ExecutionId, StageName, StageStatus, Status};
use tracing::info;

use crate::engine::{Adapters, Engine};
use crate::error::EngineError;

mod cancel;
mod check;
mod decide;
mod release;
mod resend;
mod retry;
mod rollback;

pub use cancel::Cancel;
pub use decide::Decide;
pub use release::Release;
pub use resend::Resend;
pub use retry::Retry;
pub use rollback::Rollback;

/// What an operator asks for, as `sluice` sends it: one command per variant, each
/// with its own module and typed fields, so a command that parses names real ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Approve the stage waiting at its gate (or the one named).
    Approve(Decide),
    Reject(Decide),
    /// Send a new approval link; the old one stops working.
    Resend(Resend),
    /// Deliver the branch's head, or an older commit of the branch.
    Release(Release),
    /// Take a failed execution up again where it failed.
    Retry(Retry),
    /// Stop an execution in flight.
    Cancel(Cancel),
    /// Deploy to `stage` again the artifact of its previous successful execution, or
    /// of execution `to`, through a change set that waits for confirmation.
    Rollback(Rollback),
    /// `sluice doctor`'s probe of what the functions' roles may do with the state:
    /// the command's record is a write under `pipelines/`, and the read of a key that
    /// does not exist must answer "absent" (S3 answers 403 instead of 404 to a role
    /// that may not list the bucket). Changes nothing else.
    Check,
}

impl Action {
    /// The action's name, as the CLI's subcommand says it.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Approve(_) => "approve",
            Action::Reject(_) => "reject",
            Action::Resend(_) => "resend",
            Action::Release(_) => "release",
            Action::Retry(_) => "retry",
            Action::Cancel(_) => "cancel",
            Action::Rollback(_) => "rollback",
            Action::Check => "check",
        }
    }

    /// Every action's name.
    pub const ALL: [&'static str; 8] = [
        "approve", "reject", "resend", "release", "retry", "cancel", "rollback", "check",
    ];
}

/// One command: the pipeline it is meant for, when it was given, a nonce, and what to
/// do. It is signed whole (the caller proof binds its digest), so none of these can be
/// changed on the way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorCommand {
    pub pipeline: String,
    /// 128 random bits in hexadecimal, chosen for this command alone. The function
    /// records it before acting, once: a copy of the command (Lambda's second try of an
    /// asynchronous invocation, a request replayed within STS's 15 minutes) finds it
    /// recorded and does nothing.
    pub nonce: String,
    /// When the caller gave it; a command further than [`COMMAND_TTL`] from the wall
    /// clock of the function that checks its proof is refused.
    pub issued_at: sluice_core::Timestamp,
    #[serde(flatten)]
    pub action: Action,
}

/// How far a command's `issued_at` may be from the function's clock: STS's own limit
/// on a signature's age.
pub const COMMAND_TTL: chrono::Duration = chrono::Duration::minutes(15);

impl OperatorCommand {
    /// A command given now, with a fresh nonce.
    pub fn new(pipeline: &str, action: Action, issued_at: sluice_core::Timestamp) -> Self {
        let mut bytes = [0u8; 16];
        // Without an OS random source there is no safe nonce; such a machine cannot
        // run the CLI at all, so this is not an input to validate.
        getrandom::fill(&mut bytes).expect("the operating system's random source");
        Self::with_nonce(pipeline, action, issued_at, &bytes)
    }

    /// The same with the nonce `bytes` (tests and the simulation choose theirs).
    pub fn with_nonce(
        pipeline: &str,
        action: Action,
        issued_at: sluice_core::Timestamp,
        bytes: &[u8; 16],
    ) -> Self {
        Self {
            pipeline: pipeline.to_owned(),
            nonce: bytes.iter().map(|b| format!("{b:02x}")).collect(),
            issued_at,
            action,
        }
    }

    /// Why the command's nonce is not one, if it is not.
    fn malformed_nonce(&self) -> Option<String> {
        let hex = self
            .nonce
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        (self.nonce.len() != 32 || !hex)
            .then(|| "the command's nonce is not 32 lower-case hexadecimal digits".into())
    }

    /// Why the command is too old (or too new) to take at `now`, if it is: judged by
    /// the wall clock, as STS judges the proof's signature, where the proof is checked.
    pub fn stale(&self, now: sluice_core::Timestamp) -> Option<String> {
        let off = (now - self.issued_at).abs();
        (off > COMMAND_TTL).then(|| {
            format!(
                "the command was given at {} and this function's clock says {}: more than \
                 15 minutes apart, so it is refused; give it again (and check the clock of \
                 the machine that sends it)",
                self.issued_at.format("%Y-%m-%d %H:%M:%S UTC"),
                now.format("%Y-%m-%d %H:%M:%S UTC")
            )
        })
    }
}

/// What the command did, for the operator's terminal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// Whether it was done; `false` says why not in `message`, and nothing changed.
    pub ok: bool,
    pub message: String,
    /// The execution the command created, if it created one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    /// The stage of that execution now waiting for a confirmation, if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub awaiting: Option<String>,
}

impl Answer {
    pub fn done(message: String) -> Self {
        Self {
            ok: true,
            message,
            execution: None,
            awaiting: None,
        }
    }

    pub fn refused(message: String) -> Self {
        Self {
            ok: false,
            message,
            execution: None,
            awaiting: None,
        }
    }
}

impl<A: Adapters> Engine<A> {
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
        if let Some(why) = command.malformed_nonce() {
            return Ok(Answer::refused(why));
        }
        // Recorded before anything is done, by a create that fails if it exists: a copy
        // of the command, however it arrives, acts once at most.
        let record = serde_json::json!({
            "action": command.action.name(),
            "caller": caller,
            "issued_at": command.issued_at,
            "received_at": self.now(),
        });
        match self
            .objects
            .put(
                &format!("pipelines/{pipeline}/commands/{}.json", command.nonce),
                record.to_string().into_bytes(),
                Condition::Absent,
            )
            .await
        {
            Ok(()) => {}
            Err(ObjectError::PreconditionFailed { .. }) => {
                info!(nonce = %command.nonce, %caller, "a copy of a command was refused");
                return Ok(Answer::refused(format!(
                    "this command (nonce {}) was received before, and that one is the only \
                     one that acts; nothing was done now. To do it again, give the command again.",
                    command.nonce
                )));
            }
            Err(e) => return Err(StoreError::from(e).into()),
        }
        match command.action {
            Action::Approve(decide) => self.decide_as(caller, decide, true).await,
            Action::Reject(decide) => self.decide_as(caller, decide, false).await,
            Action::Resend(resend) => self.resend(caller, resend).await,
            Action::Release(release) => self.release(caller, release).await,
            Action::Retry(retry) => self.retry(caller, retry).await,
            Action::Cancel(cancel) => self.cancel(caller, cancel).await,
            Action::Rollback(rollback) => self.rollback(caller, rollback).await,
            Action::Check => Ok(self.check(caller, &command.nonce).await),
        }
    }

    /// Applies an operator's event and runs what it leads to; the execution after it,
    /// or the answer saying why it did not apply.
    async fn operator_event(
        &self,
        id: &ExecutionId,
        event: Event,
    ) -> Result<Result<Execution, Answer>, EngineError> {
        let applied = match self.store.apply(id, event, self.now()).await {
            Ok(applied) => applied,
            Err(StoreError::Rejected(rejected)) => {
                return Ok(Err(Answer::refused(format!("execution {id}: {rejected}"))));
            }
            Err(e) => return Err(e.into()),
        };
        let after = applied.execution;
        let mut work = self.release_finished(&after).await?;
        work.extend(applied.commands.into_iter().map(|c| (after.clone(), c)));
        self.run_all(work).await?;
        Ok(Ok(self.store.load(id).await?.unwrap_or(after)))
    }

    async fn status_of(&self, id: &ExecutionId) -> Result<String, EngineError> {
        Ok(match self.store.load(id).await? {
            Some(e) => describe(&e),
            None => "gone".to_owned(),
        })
    }

    /// The execution `id` names, or the answer saying there is none.
    async fn find(&self, id: &ExecutionId) -> Result<Result<Execution, Answer>, EngineError> {
        let pipeline = &self.config.pipeline.name;
        Ok(match self.store.load(id).await? {
            Some(execution) => Ok(execution),
            None => Err(Answer::refused(format!(
                "pipeline {pipeline} has no execution {id}; `sluice status` lists them"
            ))),
        })
    }

    /// The execution `id` names and the stage at its gate (the one `named`, else the
    /// one waiting), or the answer saying why there is none; logged as `action`.
    async fn find_at_gate(
        &self,
        id: &ExecutionId,
        named: Option<&StageName>,
        action: &str,
        caller: &str,
    ) -> Result<Result<(Execution, StageName), Answer>, EngineError> {
        let execution = match self.find(id).await? {
            Ok(execution) => execution,
            Err(refused) => return Ok(Err(refused)),
        };
        Ok(match at_gate(&execution, named) {
            Ok(stage) => {
                info!(execution = %id, %stage, action, %caller, "operator command");
                Ok((execution, stage))
            }
            Err(refused) => Err(refused),
        })
    }
}

/// Where an execution stands, in a few words.
fn describe(execution: &Execution) -> String {
    match (execution.status, execution.current_stage()) {
        (Status::Deploying, Some(stage)) => {
            format!("deploying: {} is {}", stage.name, stage.status)
        }
        (status, _) if status.is_terminal() => match &execution.reason {
            Some(reason) => format!("{status}: {reason}"),
            None => status.to_string(),
        },
        (status, _) => status.to_string(),
    }
}

/// The stage a decision or a resend is about: the one named, else the one waiting at
/// its gate (else the gate decided last, so that the answer says who and when). The
/// CLI resolves it before it signs, so a signed command always names its stage.
pub fn at_gate(execution: &Execution, named: Option<&StageName>) -> Result<StageName, Answer> {
    let id = &execution.id;
    if let Some(name) = named {
        let known = execution.stages.iter().find(|s| &s.name == name);
        return match known {
            Some(s) => Ok(s.name.clone()),
            None => Err(Answer::refused(format!(
                "execution {id} has no stage {:?}; its stages are {}",
                name.as_str(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_further_than_fifteen_minutes_from_the_wall_clock_is_stale() {
        let given = chrono::DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let command = OperatorCommand::with_nonce(
            "hello",
            Action::Cancel(Cancel {
                execution: ExecutionId::parse("1765015200000-0123456789ab").expect("an id"),
            }),
            given,
            &[7; 16],
        );
        assert_eq!(command.stale(given + chrono::Duration::minutes(14)), None);
        assert_eq!(command.stale(given - chrono::Duration::minutes(14)), None);
        let why = command
            .stale(given + chrono::Duration::minutes(16))
            .expect("stale");
        assert!(why.contains("more than 15 minutes apart"), "{why}");
        assert!(
            command
                .stale(given - chrono::Duration::minutes(16))
                .is_some()
        );
    }

    #[test]
    fn a_command_on_the_wire_names_real_ids_or_does_not_parse() {
        let sent = r#"{"pipeline":"hello","nonce":"07070707070707070707070707070707",
            "issued_at":"2026-12-06T10:00:00Z","action":"approve",
            "execution":"1765015200000-0123456789ab","stage":"production","comment":"ok"}"#;
        let command: OperatorCommand = serde_json::from_str(sent).expect("a command");
        let Action::Approve(decide) = &command.action else {
            panic!("{command:?}")
        };
        assert_eq!(
            decide.stage.as_ref().map(StageName::as_str),
            Some("production")
        );
        // The CLI sends exactly what the function reads back.
        let again = serde_json::to_string(&command).expect("serialises");
        assert_eq!(
            serde_json::from_str::<OperatorCommand>(&again).ok(),
            Some(command)
        );

        let refused = |json: &str| {
            serde_json::from_str::<OperatorCommand>(json)
                .expect_err(json)
                .to_string()
        };
        let with = |fields: &str| {
            format!(
                r#"{{"pipeline":"hello","nonce":"07070707070707070707070707070707",
                "issued_at":"2026-12-06T10:00:00Z",{fields}}}"#
            )
        };
        let why = refused(&with(r#""action":"cancel","execution":"../other""#));
        assert!(why.contains("invalid execution id"), "{why}");
        let why = refused(&with(r#""action":"release","commit":"HEAD~1""#));
        assert!(why.contains("invalid commit id"), "{why}");
        let why = refused(&with(r#""action":"rollback","stage":"Prod!""#));
        assert!(why.contains("invalid stage name"), "{why}");
        let why = refused(&with(
            r#""action":"resend","execution":"1765015200000-0123456789ab","comment":"x""#,
        ));
        assert!(why.contains("unknown field `comment`"), "{why}");
        let why = refused(&with(r#""action":"deploy""#));
        assert!(why.contains("unknown variant `deploy`"), "{why}");
    }
}
