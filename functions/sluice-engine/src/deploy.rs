//! Deploying a stage: its build, its change set created from the pinned artifact
//! and awaited, executed once, and its outcome read from its own change set.

use sluice_adapters::aws::{AwsError, chain};
use sluice_adapters::builder::{BuildRequest, Builder, Upload};
use sluice_adapters::deployer::{ChangeSetState, Deployer, ExecutionOutcome, StackStatus, Target};
use sluice_core::{Acquired, Cause, Command, Event, Execution, ExecutionId, Stage, StageName};
use tracing::{info, warn};

use crate::artifacts::{self, ArtifactError};
use crate::config::Config;
use crate::engine::{Adapters, Engine};
use crate::error::EngineError;

/// How long CodeBuild matches a StartBuild's idempotency token, less a margin.
/// https://docs.aws.amazon.com/codebuild/latest/APIReference/API_StartBuild.html
const TOKEN_KEPT: chrono::TimeDelta = chrono::TimeDelta::minutes(4);

impl<A: Adapters> Engine<A> {
    /// The core event for a deploying stage whose change set is in `state`: done when
    /// its own execution completed, failed (quoting the first failed resource) when
    /// it failed or can never run, `None` while it is still running or not started.
    pub(crate) async fn deploy_settled(
        &self,
        stage: &Stage,
        state: ChangeSetState,
    ) -> Result<Option<Event>, EngineError> {
        let failed = match state {
            ChangeSetState::Executed {
                outcome: ExecutionOutcome::Succeeded,
                ..
            } => {
                return Ok(Some(Event::StackUpdateCompleted {
                    stage: stage.name.clone(),
                }));
            }
            ChangeSetState::Executed {
                outcome: ExecutionOutcome::Running,
                ..
            }
            | ChangeSetState::Ready { .. }
            | ChangeSetState::Pending => return Ok(None),
            ChangeSetState::Executed {
                outcome: ExecutionOutcome::Failed,
                ..
            } => None,
            ChangeSetState::Executed {
                outcome: ExecutionOutcome::Obsolete,
                ..
            }
            | ChangeSetState::Missing
            | ChangeSetState::Empty { .. }
            | ChangeSetState::Failed { .. } => Some(
                "its change set can no longer be executed (deleted, or replaced by another \
                 deployment of the stack); nothing of this commit was deployed"
                    .to_owned(),
            ),
        };
        let (reason, cause) = match failed {
            Some(reason) => (
                format!("stack {}: {reason}", stage.stack_name),
                Cause::Change,
            ),
            None => self.failure(stage).await?,
        };
        Ok(Some(Event::StackUpdateFailed {
            stage: stage.name.clone(),
            reason,
            cause,
        }))
    }

    /// Why the stage's stack failed: its status, and the first failed resource (else
    /// CloudFormation's own reason), with that resource's cause as the deployer read
    /// it. A read that may work when tried again is tried again (the event, or the
    /// sweeper's next pass): the cause decides whether the failure is retried, so it
    /// must not be lost to a throttled read.
    pub(crate) async fn failure(&self, stage: &Stage) -> Result<(String, Cause), EngineError> {
        let target = Target::from(stage);
        let (status, reason) = match self.deployer.stack(target).await {
            Ok(Some(info)) => (info.status.as_str().to_owned(), info.reason),
            Ok(None) => ("gone".to_owned(), None),
            Err(e) if e.retryable => return Err(e.into()),
            Err(e) => {
                warn!(error = %chain(&e), "could not read the stack");
                ("failed".to_owned(), None)
            }
        };
        let first = match self.deployer.first_failure(target).await {
            Ok(first) => first,
            Err(e) if e.retryable => return Err(e.into()),
            Err(e) => {
                warn!(error = %chain(&e), "could not read the stack's events");
                None
            }
        };
        let (detail, cause) = match first {
            Some(first) => (Some(first.reason), first.cause),
            None => (reason.filter(|r| !r.is_empty()), Cause::Change),
        };
        let reason = match detail {
            Some(r) => format!("stack {} is {status}: {r}", stage.stack_name),
            None => format!("stack {} is {status}", stage.stack_name),
        };
        Ok((reason, cause))
    }

    /// Executes the change set the execution recorded. One that is already executing
    /// or executed (an overlapping sweep, a retried handler, the SDK's own retry) is
    /// the same deployment, not a failure.
    pub(crate) async fn execute_change_set(
        &self,
        execution: &Execution,
        stage: &StageName,
        change_set_id: &sluice_core::ChangeSetId,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        let Some(s) = execution.stage(stage) else {
            return Ok(Vec::new());
        };
        if s.site.is_some() {
            return self.deploy_site(execution, stage, change_set_id).await;
        }
        let target = Target::from(s);
        match artifacts::verify(&self.objects, &self.config, execution).await {
            Ok(_) => {}
            Err(ArtifactError::Unusable(reason)) => {
                let event = Event::StackUpdateFailed {
                    stage: stage.clone(),
                    reason,
                    cause: Cause::Change,
                };
                return self.apply(&execution.id, event).await;
            }
            Err(ArtifactError::Failed(e)) => return Err(e),
        }
        let refused = match self
            .deployer
            .execute_change_set(target, &change_set_id.to_string())
            .await
        {
            Ok(()) => {
                info!(%stage, "change set executing");
                return Ok(Vec::new());
            }
            Err(e) if e.retryable => return Err(e.into()),
            Err(e) => e,
        };
        if let ChangeSetState::Executed { outcome, .. } = self
            .deployer
            .change_set(target, &change_set_id.to_string())
            .await?
            && outcome != ExecutionOutcome::Obsolete
        {
            info!(%stage, ?outcome, "change set already executed; nothing to do");
            return Ok(Vec::new());
        }
        let reason = format!(
            "could not execute change set {}: {}",
            execution.change_set_name(stage),
            chain(&refused)
        );
        let cause = self.refusal_cause(target).await;
        self.apply(
            &execution.id,
            Event::StackUpdateFailed {
                stage: stage.clone(),
                reason,
                cause,
            },
        )
        .await
    }

    pub(crate) async fn start_build(
        &self,
        execution: &Execution,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        // CodeBuild matches an idempotency token for five minutes only: a start taken
        // up later (its answer lost, the push delivered again) may have started the
        // build already, and must take that one up rather than start a second. Only
        // for the first attempt: a retry's earlier builds carry the execution's id too,
        // and a failed one must not be taken for the retry's.
        let asked = execution.build.requested_at.unwrap_or(execution.created_at);
        if execution.build.attempt == 0 && self.now() - asked >= TOKEN_KEPT {
            let found = self
                .builder
                .find_build(&self.config.build_project, execution.id.as_str())
                .await;
            match found {
                Ok(Some(build)) => {
                    info!(build = %build.id, "build found started, under a token CodeBuild no longer keeps");
                    let event = Event::BuildStarted {
                        build_id: build.id,
                        log_url: build.log_url,
                    };
                    return self.apply(&execution.id, event).await;
                }
                Ok(None) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let request = BuildRequest {
            project: self.config.build_project.clone(),
            source_version: execution.commit.id.to_string(),
            idempotency_token: execution.build_token(),
            environment: vec![
                ("SLUICE_EXECUTION_ID".into(), execution.id.to_string()),
                ("SLUICE_ARTIFACT_BUCKET".into(), self.config.bucket.clone()),
                (
                    "SLUICE_ARTIFACT_PREFIX".into(),
                    self.config.artifact_prefix(execution),
                ),
            ],
            buildspec: None,
            upload: Some(Upload {
                bucket: self.config.bucket.clone(),
                path: self.config.upload_path(),
                name: Config::upload_name(execution),
            }),
            machine: self.config.machine(),
        };
        let event = match self.builder.start_build(request).await {
            Ok(build) => {
                info!(build = %build.id, "build started");
                Event::BuildStarted {
                    build_id: build.id,
                    log_url: build.log_url,
                }
            }
            Err(e) if e.retryable => return Err(e.into()),
            Err(e) => Event::BuildFailed {
                build_id: None,
                reason: format!("could not start the build: {}", chain(&e)),
                log_url: None,
                cause: Cause::Change,
            },
        };
        self.apply(&execution.id, event).await
    }

    /// Takes the stage's lane, creates the change set from the build's artifacts and
    /// waits (boundedly) until CloudFormation has worked it out.
    pub(crate) async fn prepare(
        &self,
        execution: &Execution,
        stage: &StageName,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        let id = &execution.id;
        let Some(s) = execution.stage(stage) else {
            return Ok(Vec::new());
        };
        let mut work = Vec::new();
        match self.lanes.acquire(stage, id, self.now()).await? {
            Acquired::Outdated { by } => {
                info!(%stage, newer = %by, "a newer execution holds this stage");
                return self
                    .apply(
                        id,
                        Event::Superseded {
                            stage: stage.clone(),
                            by,
                        },
                    )
                    .await;
            }
            Acquired::Queued { superseded } => {
                info!(%stage, "queued behind another deployment of this stage");
                if let Some(old) = superseded {
                    work.extend(self.supersede(&old, stage, id).await?);
                }
                return Ok(work);
            }
            Acquired::Granted { superseded } => {
                if let Some(old) = superseded {
                    info!(%stage, older = %old, "superseding the execution waiting at this gate");
                    work.extend(self.supersede(&old, stage, id).await?);
                }
            }
        }
        if let Some(site) = &s.site {
            work.extend(self.prepare_site(execution, s, site).await?);
            return Ok(work);
        }
        let spec = match Box::pin(artifacts::change_set_spec(
            &self.objects,
            &self.config,
            execution,
            stage,
        ))
        .await
        {
            Ok(spec) => spec,
            Err(ArtifactError::Unusable(reason)) => {
                work.extend(
                    self.change_set_failed(id, stage, reason, Cause::Change)
                        .await?,
                );
                return Ok(work);
            }
            Err(ArtifactError::Failed(e)) => return Err(e),
        };
        let target = Target::from(s);
        if let Some(reason) = self
            .clear_failed_first_deploy(target, stage, spec.execution_role_arn.as_deref())
            .await?
        {
            work.extend(
                self.change_set_failed(id, stage, reason, Cause::Change)
                    .await?,
            );
            return Ok(work);
        }
        if let Err(e) = self.deployer.create_change_set(target, &spec).await {
            if e.retryable {
                return Err(e.into());
            }
            let reason = e.message.clone().unwrap_or_else(|| chain(&e));
            let cause = self.refusal_cause(target).await;
            work.extend(self.change_set_failed(id, stage, reason, cause).await?);
            return Ok(work);
        }
        if let Some(event) = self
            .await_change_set(target, stage, &spec.change_set_name)
            .await?
        {
            work.extend(self.apply(id, event).await?);
        }
        Ok(work)
    }

    /// A first deploy that failed leaves its stack in `ROLLBACK_COMPLETE`, holding
    /// nothing, and CloudFormation then refuses every change set on it: deleted here,
    /// through the stage's own execution role, before the stage is prepared again. The
    /// deletion is waited for within the change-set budget; a stack still going after
    /// that is an error worth retrying (the event's retry, or the sweeper's next pass).
    /// A deletion refused for good is the stage's failure, with this reason.
    async fn clear_failed_first_deploy(
        &self,
        target: Target<'_>,
        stage: &StageName,
        role_arn: Option<&str>,
    ) -> Result<Option<String>, EngineError> {
        let started = tokio::time::Instant::now();
        let mut pause = self.wait.first;
        let mut asked = false;
        loop {
            let status = match self.deployer.stack(target).await {
                Ok(info) => info.map(|s| s.status),
                Err(e) if e.retryable => return Err(e.into()),
                // Creating the change set meets the same refusal, and fails with it.
                Err(_) => return Ok(None),
            };
            match status {
                Some(StackStatus::RollbackComplete) if !asked => {
                    info!(
                        %stage,
                        stack = target.stack_name,
                        "the stack's first deploy rolled back; deleting it so that it can be created"
                    );
                    match self.deployer.delete_stack(target, role_arn).await {
                        Ok(()) => asked = true,
                        Err(e) if e.retryable => return Err(e.into()),
                        Err(e) => {
                            return Ok(Some(format!(
                                "stack {} was left in ROLLBACK_COMPLETE by a failed first \
                                 deploy, and deleting it was refused: {}",
                                target.stack_name,
                                chain(&e)
                            )));
                        }
                    }
                }
                Some(StackStatus::RollbackComplete | StackStatus::DeleteInProgress) => {}
                _ => return Ok(None),
            }
            if started.elapsed() + pause > self.wait.budget {
                return Err(AwsError::service(
                    "DeleteStack",
                    "StackBeingDeleted",
                    &format!(
                        "stack {} is being deleted after its first deploy rolled back; it \
                         is created again once it is gone",
                        target.stack_name
                    ),
                    true,
                )
                .into());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(self.wait.max_interval);
        }
    }

    pub(crate) async fn change_set_failed(
        &self,
        id: &ExecutionId,
        stage: &StageName,
        reason: String,
        cause: Cause,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        let event = Event::ChangeSetFailed {
            stage: stage.clone(),
            change_set_id: None,
            reason,
            cause,
        };
        self.apply(id, event).await
    }

    /// The cause of CloudFormation's refusal of a change set for the stage's stack:
    /// the moment's if the stack is busy with another operation (its status is one
    /// of the `*_IN_PROGRESS`), which it refuses until that ends; else the change's.
    /// A stack that cannot be read is taken as not busy.
    async fn refusal_cause(&self, target: Target<'_>) -> Cause {
        match self.deployer.stack(target).await {
            Ok(Some(info)) if info.busy() => Cause::Moment,
            Ok(_) => Cause::Change,
            Err(e) => {
                warn!(error = %chain(&e), "could not read the stack to tell why it refused");
                Cause::Change
            }
        }
    }

    /// Polls the change set with growing pauses; `None` if it is still being worked
    /// out when the budget is spent (the sweeper takes over from there).
    pub async fn await_change_set(
        &self,
        target: Target<'_>,
        stage: &StageName,
        name: &str,
    ) -> Result<Option<Event>, EngineError> {
        let state = self
            .settled_change_set(target, name, |state| {
                change_set_event(stage, state.clone()).is_some()
            })
            .await?;
        Ok(state.and_then(|state| change_set_event(stage, state)))
    }

    /// Polls the change set with growing pauses until `settled` says so of its
    /// state; `None` if the budget is spent first.
    pub(crate) async fn settled_change_set(
        &self,
        target: Target<'_>,
        name: &str,
        settled: impl Fn(&ChangeSetState) -> bool,
    ) -> Result<Option<ChangeSetState>, EngineError> {
        let started = tokio::time::Instant::now();
        let mut pause = self.wait.first;
        loop {
            let state = self.deployer.change_set(target, name).await?;
            if settled(&state) {
                return Ok(Some(state));
            }
            if started.elapsed() + pause > self.wait.budget {
                warn!(
                    change_set = name,
                    "change set not ready in time; the sweeper will pick it up"
                );
                return Ok(None);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(self.wait.max_interval);
        }
    }
}

/// The core event for a change set's state, if it is settled.
pub fn change_set_event(stage: &StageName, state: ChangeSetState) -> Option<Event> {
    let stage = stage.clone();
    match state {
        ChangeSetState::Ready { id, changes } => Some(Event::ChangeSetReady {
            stage,
            change_set_id: id,
            changes,
        }),
        ChangeSetState::Empty { id } => Some(Event::ChangeSetEmpty {
            stage,
            change_set_id: id,
        }),
        // CloudFormation worked the change set out and found it cannot be made:
        // the template's or parameters' fault, whatever the reason says.
        ChangeSetState::Failed { id, reason } => Some(Event::ChangeSetFailed {
            stage,
            change_set_id: Some(id),
            reason,
            cause: Cause::Change,
        }),
        ChangeSetState::Pending | ChangeSetState::Missing | ChangeSetState::Executed { .. } => None,
    }
}
