//! Commands an operator gives from a terminal (`sluice approve`, `reject`, `resend`,
//! `release`, `retry`, `cancel`),
//! taken by the operator function after it has proven who the caller is. They go
//! through the same core rules and conditional writes as everything else.

use serde::{Deserialize, Serialize};
use sluice_adapters::ObjectStore;
use sluice_adapters::StoreError;
use sluice_adapters::builder::BuildOutcome;
use sluice_adapters::builder::Builder;
use sluice_adapters::commits::CommitReader;
use sluice_adapters::objects::{Condition, ObjectError};
use sluice_core::{
    BuildStatus, Commit, CommitId, Event, Execution, ExecutionId, Push, StageName, StageStatus,
    Status, Via,
};
use tracing::info;

use crate::engine::{Adapters, Decided, Engine};
use crate::error::EngineError;

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
    /// Deliver the branch's head, or an older commit of the branch.
    Release {
        #[serde(default)]
        commit: Option<String>,
    },
    /// Take a failed execution up again where it failed.
    Retry { execution: String },
    /// Stop an execution in flight.
    Cancel { execution: String },
    /// Deploy to `stage` again the artifact of its previous successful execution, or
    /// of execution `to`, through a change set that waits for confirmation.
    Rollback {
        stage: String,
        #[serde(default)]
        to: Option<String>,
    },
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
            Action::Approve { .. } => "approve",
            Action::Reject { .. } => "reject",
            Action::Resend { .. } => "resend",
            Action::Release { .. } => "release",
            Action::Retry { .. } => "retry",
            Action::Cancel { .. } => "cancel",
            Action::Rollback { .. } => "rollback",
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
        let action = command.action.name();
        let (execution, stage) = match command.action {
            Action::Release { commit } => return self.release(caller, commit.as_deref()).await,
            Action::Check => return Ok(self.check(caller, &command.nonce).await),
            Action::Rollback { stage, to } => {
                return self.rollback(caller, &stage, to.as_deref()).await;
            }
            Action::Retry { ref execution } | Action::Cancel { ref execution } => {
                let execution = match self.find(execution).await? {
                    Ok(execution) => execution,
                    Err(refused) => return Ok(refused),
                };
                info!(execution = %execution.id, action, %caller, "operator command");
                return match command.action {
                    Action::Retry { .. } => self.retry(caller, &execution).await,
                    _ => self.cancel(caller, &execution).await,
                };
            }
            Action::Approve {
                ref execution,
                ref stage,
                ..
            }
            | Action::Reject {
                ref execution,
                ref stage,
                ..
            }
            | Action::Resend {
                ref execution,
                ref stage,
            } => (execution, stage),
        };
        let execution = match self.find(execution).await? {
            Ok(execution) => execution,
            Err(refused) => return Ok(refused),
        };
        let stage = match at_gate(&execution, stage.as_deref()) {
            Ok(stage) => stage,
            Err(refused) => return Ok(refused),
        };
        info!(execution = %execution.id, %stage, action, %caller, "operator command");
        match command.action {
            Action::Approve { comment, .. } => {
                self.decide_as(caller, &execution, &stage, true, comment)
                    .await
            }
            Action::Reject { comment, .. } => {
                self.decide_as(caller, &execution, &stage, false, comment)
                    .await
            }
            _ => self.resend(caller, &execution, &stage).await,
        }
    }

    /// `sluice doctor`'s probe (see [`Action::Check`]); the command's record, just
    /// written, was its write.
    async fn check(&self, caller: &str, nonce: &str) -> Answer {
        let pipeline = &self.config.pipeline.name;
        let key = format!("pipelines/{pipeline}/doctor/{nonce}.json");
        info!(%caller, "state probe");
        match self.objects.head(&key).await {
            Ok(None) => Answer::done(format!(
                "wrote its record of this command under pipelines/{pipeline}/, and a read of \
                 a key there that does not exist answered \"absent\" (404), as the functions \
                 need to find a missing object"
            )),
            Ok(Some(_)) => Answer::done(format!(
                "wrote under pipelines/{pipeline}/ and read {key} (which should not exist)"
            )),
            Err(e) => Answer::refused(format!(
                "a read of a key that does not exist under pipelines/{pipeline}/ failed: {}. \
                 S3 answers 403 instead of 404 to a role that may not list the bucket: the \
                 functions' roles need s3:ListBucket on it (template.yaml's StateAccessPolicy \
                 grants it, unconditioned); check that no bucket policy, permissions \
                 boundary or service control policy denies it",
                sluice_adapters::aws::chain(&e)
            )),
        }
    }

    /// Starts an execution for the branch head, or for `commit` if it is on the branch.
    async fn release(&self, caller: &str, commit: Option<&str>) -> Result<Answer, EngineError> {
        let pipeline = &self.config.pipeline;
        let (repository, branch) = (&pipeline.repository, &pipeline.branch);
        let Some(head) = self.branch_head(repository, branch).await? else {
            return Ok(Answer::refused(format!(
                "branch {branch} of {repository} has no commits yet (or CodeCommit would not say \
                 where it points); push to it first"
            )));
        };
        let commit = match commit {
            None => head.clone(),
            Some(given) => {
                let Ok(commit) = CommitId::parse(given.trim()) else {
                    return Ok(Answer::refused(format!(
                        "{:?} is not a full commit id (40 hexadecimal digits); `git rev-parse` gives it",
                        given.chars().take(64).collect::<String>()
                    )));
                };
                if commit != head {
                    let base = self
                        .commits
                        .merge_base(repository, commit.as_str(), head.as_str())
                        .await;
                    match base {
                        Ok(Some(base)) if base == commit.as_str() => {}
                        Ok(_) => {
                            return Ok(Answer::refused(format!(
                                "commit {} is not on branch {branch} of {repository}; only the \
                                 branch's own commits are delivered",
                                commit.short()
                            )));
                        }
                        Err(e) if e.retryable => return Err(e.into()),
                        Err(e) => {
                            return Ok(Answer::refused(format!(
                                "cannot find commit {} on branch {branch} of {repository}: {e}",
                                commit.short()
                            )));
                        }
                    }
                }
                commit
            }
        };
        let info = self.commit_info(repository, &commit).await?;
        let push = Push {
            repository: repository.clone(),
            branch: branch.clone(),
            commit: Commit {
                id: commit.clone(),
                author: info.author,
                message: info.message,
            },
            pushed_at: self.now(),
            branch_head: None,
            released_by: Some(caller.to_owned()),
            pushed_by: None,
            delivery: None,
            upload: Some(crate::token::upload()),
        };
        let created = self.store.create(pipeline, push, self.now()).await?;
        let id = created.execution.id.clone();
        if !created.created {
            return Ok(Answer::refused(format!(
                "commit {} is already being delivered by execution {id} ({}); `sluice watch {id}` \
                 follows it",
                commit.short(),
                created.execution.status
            )));
        }
        info!(execution = %id, %commit, %caller, "release asked for");
        crate::measure::notices(&created.commands);
        self.run(created.execution.clone(), created.commands)
            .await?;
        let which = if commit == head {
            format!("the head of {branch}")
        } else {
            format!("an older commit of {branch}")
        };
        let status = self.status_of(&id).await?;
        Ok(Answer::done(format!(
            "released commit {} ({which}) as execution {id}, asked for by {caller}; it is {status}. \
             `sluice watch {id}` follows it",
            commit.short()
        )))
    }

    /// Creates a rollback of `stage` to the artifact of its previous successful
    /// execution (or of `to`), prepares its change set and says what it will change.
    async fn rollback(
        &self,
        caller: &str,
        stage: &str,
        to: Option<&str>,
    ) -> Result<Answer, EngineError> {
        let pipeline = &self.config.pipeline;
        let names = || {
            let names: Vec<_> = pipeline.stages.iter().map(|s| s.name.as_str()).collect();
            names.join(", ")
        };
        let Some(stage) = StageName::parse(stage.trim())
            .ok()
            .filter(|s| pipeline.stages.iter().any(|c| &c.name == s))
        else {
            return Ok(Answer::refused(format!(
                "pipeline {} has no stage {:?}; its stages are {}",
                pipeline.name,
                stage.chars().take(64).collect::<String>(),
                names()
            )));
        };
        let recent = self.store.recent(sluice_core::history::RECENT).await?;
        let live = sluice_core::history::live_on(&recent, &stage);
        let source = match to {
            Some(to) => match self.find(to).await? {
                Ok(source) => source,
                Err(refused) => return Ok(refused),
            },
            None => match sluice_core::history::rollback_target(&recent, &stage) {
                Ok(source) => source.clone(),
                Err(none) => return Ok(Answer::refused(none.to_string())),
            },
        };
        // A release whose copies expired is refused now, before anything is created.
        if source.artifact.is_some() {
            match crate::artifacts::verify(&self.objects, &self.config, &source).await {
                Ok(_) => {}
                Err(crate::artifacts::ArtifactError::Unusable(reason)) => {
                    return Ok(Answer::refused(format!(
                        "the release of execution {} (commit {}) cannot be deployed again: \
                         {reason}",
                        source.id,
                        source.commit.id.short()
                    )));
                }
                Err(crate::artifacts::ArtifactError::Failed(e)) => return Err(e),
            }
        }
        let transition = match sluice_core::rollback(pipeline, &source, &stage, caller, self.now())
        {
            Ok(t) => t,
            Err(rejected) => return Ok(Answer::refused(rejected.to_string())),
        };
        let id = transition.execution.id.clone();
        self.store.insert(&transition.execution).await?;
        info!(execution = %id, %stage, source = %source.id, %caller, "rollback asked for");
        self.run(transition.execution, transition.commands).await?;
        let now = self.store.load(&id).await?;
        let at = now.as_ref().and_then(|e| e.stage(&stage));
        let live = live.map_or_else(
            || "nothing".to_owned(),
            |l| format!("commit {} (execution {})", l.commit.id.short(), l.id),
        );
        let mut message = format!(
            "rollback {id}: {stage} back to commit {} (execution {}); live there now: {live}",
            source.commit.id.short(),
            source.id
        );
        let mut answer = match at.map(|s| s.status) {
            Some(StageStatus::AwaitingApproval) if at.is_some_and(|s| s.site.is_some()) => {
                let s = at.map(|s| (s.files.clone(), crate::messages::site_place(s)));
                let (files, place) = s.unwrap_or_default();
                message.push_str(&format!(
                    "\nIt will change {} in {place}:\n{}",
                    crate::messages::file_counts(&files),
                    crate::messages::file_lines(&files).trim_end()
                ));
                let mut answer = Answer::done(message);
                answer.awaiting = Some(stage.to_string());
                answer
            }
            Some(StageStatus::AwaitingApproval) => {
                let changes = at.map(|s| s.changes.clone()).unwrap_or_default();
                message.push_str(&format!("\nIt will change {} resources:", changes.len()));
                for c in &changes {
                    message.push_str(&format!(
                        "\n  {:?} {} ({}){}",
                        c.action,
                        c.logical_id,
                        c.resource_type,
                        match c.replacement {
                            sluice_core::Replacement::Always => ", replaced",
                            sluice_core::Replacement::Conditional => ", may be replaced",
                            sluice_core::Replacement::Never => "",
                        }
                    ));
                }
                let mut answer = Answer::done(message);
                answer.awaiting = Some(stage.to_string());
                answer
            }
            Some(StageStatus::NoChanges) => Answer::done(format!(
                "{message}\nNothing to change: {stage} already runs what that execution built."
            )),
            Some(StageStatus::Preparing) => Answer::done(format!(
                "{message}\nIts change set is not ready yet (another deploy of {stage} may be \
                 running); `sluice watch {id}` follows it, `sluice approve {id}` confirms it then"
            )),
            _ => Answer::done(format!(
                "{message}\nIt is {}",
                now.as_ref().map_or_else(|| "gone".to_owned(), describe)
            )),
        };
        answer.execution = Some(id.to_string());
        Ok(answer)
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

    async fn retry(&self, caller: &str, execution: &Execution) -> Result<Answer, EngineError> {
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

    async fn cancel(&self, caller: &str, execution: &Execution) -> Result<Answer, EngineError> {
        let id = &execution.id;
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
pub fn at_gate(execution: &Execution, named: Option<&str>) -> Result<StageName, Answer> {
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
            Action::Cancel {
                execution: "x".into(),
            },
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
}
