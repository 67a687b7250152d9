//! The command runner. A handler turns an AWS event into a core event, applies it
//! through the store, and runs the commands the core returns here; results of those
//! commands (a build started, a change set ready) are applied in turn, until nothing
//! is left to do. State is always saved before a command runs, so a crash loses at
//! most a command, which the sweeper notices and asks for again.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sluice_adapters::aws::chain;
use sluice_adapters::builder::{BuildRequest, Builder};
use sluice_adapters::commits::{CommitInfo, CommitReader};
use sluice_adapters::deployer::{ChangeSetState, Deployer, ExecutionOutcome, Target};
use sluice_adapters::lanes::Lanes;
use sluice_adapters::notifier::{Message, Notifier};
use sluice_adapters::{AwsError, ExecutionStore, ObjectStore, StoreError};
use sluice_core::lane::is_newer;
use sluice_core::{
    Acquired, Command, Commit, CommitId, Event, Execution, ExecutionId, Marked, Push, Rejected,
    Stage, StageName, StageStatus, Status, Timestamp, TokenHash, step,
};
use tracing::{Instrument, Span, error, info, warn};

use crate::artifacts::{self, ArtifactError};
use crate::config::Config;
use crate::events::{BadEvent, BuildChange, Push as PushEvent, StackChange};
use crate::{events, messages, token};

/// Where "now" comes from: the system clock in functions, a chosen one in tests.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(chrono::Utc::now)
}

/// How long to wait for CloudFormation to work out a change set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitPolicy {
    pub first: Duration,
    pub max_interval: Duration,
    /// After this, leave the change set to the sweeper rather than wait on.
    pub budget: Duration,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        Self {
            first: Duration::from_millis(500),
            max_interval: Duration::from_secs(5),
            budget: Duration::from_secs(120),
        }
    }
}

/// Why handling an event failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    BadEvent(#[from] BadEvent),
}

impl EngineError {
    /// Whether delivering the same event again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            EngineError::Store(e) => e.is_retryable(),
            EngineError::Aws(e) => e.retryable,
            EngineError::BadEvent(_) => false,
        }
    }
}

/// Runs a handler's work inside its span, and logs its failure there, so the line
/// that says what went wrong carries the execution id.
pub(crate) async fn traced<T>(
    span: Span,
    work: impl Future<Output = Result<T, EngineError>>,
) -> Result<T, EngineError> {
    // Boxed: the SDK's futures are large, and handlers nest several of them.
    let work = Box::pin(work);
    async {
        let result = work.await;
        if let Err(e) = &result {
            error!(error = %chain(e), retryable = e.is_retryable(), "handler failed");
        }
        result
    }
    .instrument(span)
    .await
}

/// Logs an event that cannot be understood, before it is refused.
fn refuse(e: BadEvent) -> EngineError {
    error!(error = %e, "event refused");
    e.into()
}

/// The outcome of an approver's decision.
#[derive(Debug)]
pub enum Decided {
    /// Recorded; the execution as it now is, and whether everything the decision
    /// led to was done (else the sweeper finishes it).
    Done {
        execution: Box<Execution>,
        acted: bool,
    },
    /// Not possible; why, and the execution as it is.
    Refused(Rejected, Box<Execution>),
    NotFound,
}

/// Everything a function needs to move executions along.
#[derive(Clone)]
pub struct Engine<O, B, D, N, C> {
    pub config: Arc<Config>,
    pub store: ExecutionStore<O>,
    pub lanes: Lanes<O>,
    objects: O,
    pub builder: B,
    pub deployer: D,
    pub notifier: N,
    pub commits: C,
    clock: Clock,
    wait: WaitPolicy,
}

impl<O, B, D, N, C> Engine<O, B, D, N, C>
where
    O: ObjectStore,
    B: Builder,
    D: Deployer,
    N: Notifier,
    C: CommitReader,
{
    /// An engine over these adapters.
    pub fn new(
        config: Config,
        objects: O,
        builder: B,
        deployer: D,
        notifier: N,
        commits: C,
    ) -> Self {
        Self {
            store: ExecutionStore::new(objects.clone(), &config.pipeline),
            lanes: Lanes::new(objects.clone(), &config.pipeline.name),
            config: Arc::new(config),
            objects,
            builder,
            deployer,
            notifier,
            commits,
            clock: system_clock(),
            wait: WaitPolicy::default(),
        }
    }

    /// The same engine with another clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The same engine with another change set wait policy.
    pub fn with_wait(mut self, wait: WaitPolicy) -> Self {
        self.wait = wait;
        self
    }

    /// The time now, by this engine's clock.
    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    /// A push event: create the execution for the commit and start its build.
    pub async fn on_push(&self, value: Value) -> Result<(), EngineError> {
        let (repository, branch, commit, pushed_at, old_commit) =
            match events::decode_push(value, &self.config.pipeline).map_err(refuse)? {
                PushEvent::Ignored(reason) => {
                    info!(%reason, "push ignored");
                    return Ok(());
                }
                PushEvent::Watched {
                    repository,
                    branch,
                    commit,
                    pushed_at,
                    old_commit,
                } => (repository, branch, commit, pushed_at, old_commit),
            };
        let span = tracing::info_span!("push", %repository, commit = %commit);
        traced(span, async {
            let info = self.commit_info(&repository, &commit).await?;
            let head = self.branch_head(&repository, &branch).await?;
            let pushed_at = self.after_previous(pushed_at, old_commit.as_ref()).await?;
            let push = Push {
                repository,
                branch,
                commit: Commit {
                    id: commit,
                    author: info.author,
                    message: info.message,
                },
                pushed_at,
                branch_head: head,
            };
            let created = self
                .store
                .create(&self.config.pipeline, push, self.now())
                .await?;
            let execution = created.execution;
            if created.created {
                info!(execution = %execution.id, "execution created");
                self.run(execution, created.commands).await
            } else if execution.status == Status::Building && execution.build.id.is_none() {
                // An earlier delivery created the execution but did not record its
                // build; starting again with the same idempotency token is safe.
                info!(execution = %execution.id, "finishing an interrupted build start");
                self.run(execution, vec![Command::StartBuild]).await
            } else {
                info!(execution = %execution.id, "this commit is already being delivered");
                Ok(())
            }
        })
        .await
    }

    /// Where the branch points now; unknown (`None`) if CodeCommit will not say.
    async fn branch_head(
        &self,
        repository: &str,
        branch: &str,
    ) -> Result<Option<CommitId>, EngineError> {
        match self.commits.branch_head(repository, branch).await {
            Ok(head) => Ok(head.and_then(|h| CommitId::parse(&h).ok())),
            Err(e) if e.retryable => Err(e.into()),
            Err(e) => {
                warn!(error = %chain(&e), "branch head unavailable; going on without it");
                Ok(None)
            }
        }
    }

    /// The push's time, made later than the execution of the commit it replaced on
    /// the branch: event times have whole seconds, and two pushes in one second must
    /// still order as they happened.
    async fn after_previous(
        &self,
        pushed_at: Timestamp,
        old_commit: Option<&CommitId>,
    ) -> Result<Timestamp, EngineError> {
        let Some(old) = old_commit else {
            return Ok(pushed_at);
        };
        Ok(match self.store.delivering(old).await? {
            Some(previous) if previous.time() >= pushed_at => {
                previous.time() + chrono::Duration::milliseconds(1)
            }
            _ => pushed_at,
        })
    }

    async fn commit_info(
        &self,
        repository: &str,
        commit: &CommitId,
    ) -> Result<CommitInfo, EngineError> {
        match self.commits.commit(repository, commit.as_str()).await {
            Ok(info) => Ok(info),
            Err(e) if e.retryable => Err(e.into()),
            Err(e) => {
                warn!(error = %chain(&e), "commit details unavailable; going on without them");
                Ok(CommitInfo {
                    author: None,
                    message: None,
                })
            }
        }
    }

    /// A build state change.
    pub async fn on_build(&self, value: Value) -> Result<(), EngineError> {
        match events::decode_build(value, &self.config.build_project).map_err(refuse)? {
            BuildChange::Ignored(reason) => {
                info!(%reason, "build event ignored");
                Ok(())
            }
            BuildChange::Ours { execution, event } => {
                let span = tracing::info_span!(
                    "build",
                    %execution,
                    repository = %self.config.pipeline.repository,
                );
                traced(span, async {
                    let work = self.apply(&execution, event).await?;
                    self.run_all(work).await
                })
                .await
            }
        }
    }

    /// A stack status change: wakes the execution deploying that stack, which then
    /// asks how its own change set's execution went. The event itself is only a hint:
    /// a stale or redelivered one, or one for another change set of the same stack,
    /// changes nothing.
    pub async fn on_stack(&self, value: Value) -> Result<(), EngineError> {
        let (stage, stack_name, status) =
            match events::decode_stack(value, &self.config.pipeline).map_err(refuse)? {
                StackChange::Ignored(reason) => {
                    info!(%reason, "stack event ignored");
                    return Ok(());
                }
                StackChange::Ours {
                    stage,
                    stack_name,
                    status,
                    ..
                } => (stage, stack_name, status),
            };
        let Some(holder) = self.lanes.get(&stage).await?.holder else {
            info!(%stack_name, %status, "no execution is deploying this stack");
            return Ok(());
        };
        let id = holder.execution;
        let Some(execution) = self.store.load(&id).await? else {
            warn!(execution = %id, "the lane names an execution that does not exist");
            return Ok(());
        };
        let span = tracing::info_span!(
            "stack",
            execution = %id,
            repository = %execution.repository,
            commit = %execution.commit.id.short(),
            %stack_name,
            %status,
        );
        traced(span, async {
            let Some(s) = execution.stage(&stage) else {
                return Ok(());
            };
            if s.status != StageStatus::Deploying {
                info!(stage = %stage, status = %s.status, "stage is not deploying; stack event ignored");
                return Ok(());
            }
            let Some(change_set) = s.change_set_id.as_deref() else {
                warn!(stage = %stage, "a deploying stage without a change set id");
                return Ok(());
            };
            let state = self.deployer.change_set(s.into(), change_set).await?;
            let Some(event) = self.deploy_settled(s, state).await else {
                info!(stage = %stage, "the stage's own change set has not finished deploying");
                return Ok(());
            };
            let work = self.apply(&id, event).await?;
            self.run_all(work).await
        })
        .await
    }

    /// The core event for a deploying stage whose change set is in `state`: done when
    /// its own execution completed, failed (quoting the first failed resource) when
    /// it failed or can never run, `None` while it is still running or not started.
    pub(crate) async fn deploy_settled(
        &self,
        stage: &Stage,
        state: ChangeSetState,
    ) -> Option<Event> {
        let failed = match state {
            ChangeSetState::Executed {
                outcome: ExecutionOutcome::Succeeded,
                ..
            } => {
                return Some(Event::StackUpdateCompleted {
                    stage: stage.name.clone(),
                });
            }
            ChangeSetState::Executed {
                outcome: ExecutionOutcome::Running,
                ..
            }
            | ChangeSetState::Ready { .. }
            | ChangeSetState::Pending => return None,
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
        let reason = match failed {
            Some(reason) => format!("stack {}: {reason}", stage.stack_name),
            None => self.failure_reason(stage).await,
        };
        Some(Event::StackUpdateFailed {
            stage: stage.name.clone(),
            reason,
        })
    }

    /// Why the stage's stack failed: its status, and the first failed resource (else
    /// CloudFormation's own reason).
    async fn failure_reason(&self, stage: &Stage) -> String {
        let target = Target::from(stage);
        let (status, reason) = match self.deployer.stack(target).await {
            Ok(Some(info)) => (info.status, info.reason),
            Ok(None) => ("gone".to_owned(), None),
            Err(e) => {
                warn!(error = %chain(&e), "could not read the stack");
                ("failed".to_owned(), None)
            }
        };
        let first = match self.deployer.first_failure(target).await {
            Ok(first) => first,
            Err(e) => {
                warn!(error = %chain(&e), "could not read the stack's events");
                None
            }
        };
        match first.or(reason.filter(|r| !r.is_empty())) {
            Some(r) => format!("stack {} is {status}: {r}", stage.stack_name),
            None => format!("stack {} is {status}", stage.stack_name),
        }
    }

    /// An approver's decision, taken through the approval page.
    pub async fn decide(
        &self,
        id: &ExecutionId,
        stage: &StageName,
        token: &str,
        approve: bool,
        by: String,
        comment: Option<String>,
    ) -> Result<Decided, EngineError> {
        let Some(execution) = self.store.load(id).await? else {
            return Ok(Decided::NotFound);
        };
        let token_sha256 = TokenHash::of(token);
        let event = if approve {
            Event::ApprovalGranted {
                stage: stage.clone(),
                token_sha256,
                by,
                comment,
            }
        } else {
            Event::ApprovalRejected {
                stage: stage.clone(),
                token_sha256,
                by,
                comment,
            }
        };
        // Check first, without saving, so nothing is claimed for an invalid decision.
        if let Err(rejected) = step(&execution, event.clone(), self.now()) {
            return Ok(Decided::Refused(rejected, Box::new(execution)));
        }
        if approve {
            // Claim the stage for the deploy before saving the decision, so a newer
            // execution cannot take the gate in between.
            if let Marked::NotHolder { holder } = self
                .lanes
                .mark_waiting(stage, id, false, self.now())
                .await?
            {
                if let Some(newer) = holder.filter(|h| is_newer(h, id)) {
                    let work = self.supersede(id, stage, &newer).await?;
                    self.run_all(work).await?;
                }
                let now = self.store.load(id).await?.unwrap_or(execution);
                let rejected = Rejected::Finished {
                    status: now.status,
                    at: now.finished_at.unwrap_or(now.updated_at),
                };
                return Ok(Decided::Refused(rejected, Box::new(now)));
            }
        }
        let decided_at = self.now();
        match self.store.apply(id, event, decided_at).await {
            Ok(applied) => {
                // The decision is saved: whatever happens next, it was taken. What it
                // led to (a deploy started, or not yet) is read back for the page.
                let after = applied.execution.clone();
                let follow_up = async {
                    let mut work = self.release_finished(&after).await?;
                    work.extend(applied.commands.into_iter().map(|c| (after.clone(), c)));
                    self.run_all(work).await
                }
                .await;
                if let Err(e) = &follow_up {
                    error!(error = %chain(e), "decision saved, but acting on it failed; the sweeper retries");
                }
                let latest = match self.store.load(id).await {
                    Ok(Some(latest)) => latest,
                    _ => after,
                };
                Ok(Decided::Done {
                    execution: Box::new(latest),
                    acted: follow_up.is_ok(),
                })
            }
            Err(StoreError::Rejected(rejected)) => {
                let now = self.store.load(id).await?.unwrap_or(execution);
                Ok(Decided::Refused(rejected, Box::new(now)))
            }
            // Whether the write took effect is unknown: look before saying no.
            Err(e) => {
                let saved = self.store.load(id).await?.filter(|now| {
                    now.stage(stage)
                        .and_then(|s| s.approval.as_ref())
                        .and_then(|a| a.decision.as_ref())
                        .is_some_and(|d| d.at == decided_at && d.approved == approve)
                });
                match saved {
                    Some(now) => {
                        error!(error = %chain(&e), "decision saved, but acting on it failed; the sweeper retries");
                        Ok(Decided::Done {
                            execution: Box::new(now),
                            acted: false,
                        })
                    }
                    None => Err(e.into()),
                }
            }
        }
    }

    /// Applies `event` to execution `id`; returns the work it creates. A rejected
    /// event is logged and creates none.
    pub async fn apply(
        &self,
        id: &ExecutionId,
        event: Event,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        let applied = match self.store.apply(id, event, self.now()).await {
            Ok(applied) => applied,
            Err(StoreError::Rejected(rejected)) => {
                warn!(execution = %id, %rejected, "event does not apply");
                return Ok(Vec::new());
            }
            Err(StoreError::NotFound(id)) => {
                warn!(execution = %id, "event for an unknown execution");
                return Ok(Vec::new());
            }
            Err(e) => return Err(e.into()),
        };
        if !applied.changed {
            info!(execution = %id, "event already applied");
            return Ok(Vec::new());
        }
        let after = applied.execution;
        let mut work = self.release_finished(&after).await?;
        work.extend(applied.commands.into_iter().map(|c| (after.clone(), c)));
        Ok(work)
    }

    /// Lets go of the lanes of the execution's finished stages, starting whoever
    /// was queued behind them.
    async fn release_finished(
        &self,
        execution: &Execution,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        let mut work = Vec::new();
        for stage in execution.stages.iter().filter(|s| s.status.is_finished()) {
            let mut next = self
                .lanes
                .release(&stage.name, &execution.id, self.now())
                .await?;
            while let Some(queued) = next {
                match self.start_queued(&stage.name, &queued).await? {
                    Some(start) => {
                        work.push(start);
                        break;
                    }
                    // It moved on meanwhile; free the lane for the next one.
                    None => next = self.lanes.release(&stage.name, &queued, self.now()).await?,
                }
            }
        }
        Ok(work)
    }

    /// The command that starts `queued` on `stage`, now that it holds the stage, or
    /// `None` if it no longer waits for it.
    async fn start_queued(
        &self,
        stage: &StageName,
        queued: &ExecutionId,
    ) -> Result<Option<(Execution, Command)>, EngineError> {
        let Some(execution) = self.store.load(queued).await? else {
            return Ok(None);
        };
        if execution.stage(stage).map(|s| s.status) != Some(StageStatus::Preparing) {
            return Ok(None);
        }
        info!(execution = %queued, %stage, "stage is free; starting the queued execution");
        let command = Command::CreateChangeSet {
            stage: stage.clone(),
        };
        Ok(Some((execution, command)))
    }

    /// `older` is superseded at `stage` by `newer`, which holds the stage now and is
    /// started there.
    pub(crate) async fn hand_over(
        &self,
        older: &ExecutionId,
        stage: &StageName,
        newer: &ExecutionId,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        info!(%stage, %older, %newer, "a newer execution takes over the stage");
        let mut work = self.supersede(older, stage, newer).await?;
        work.extend(self.start_queued(stage, newer).await?);
        Ok(work)
    }

    /// Runs commands, and the commands their results lead to, until none are left.
    pub async fn run(
        &self,
        execution: Execution,
        commands: Vec<Command>,
    ) -> Result<(), EngineError> {
        self.run_all(
            commands
                .into_iter()
                .map(|c| (execution.clone(), c))
                .collect(),
        )
        .await
    }

    pub(crate) async fn run_all(&self, work: Vec<(Execution, Command)>) -> Result<(), EngineError> {
        let mut queue: VecDeque<_> = work.into();
        while let Some((execution, command)) = queue.pop_front() {
            let span = tracing::info_span!(
                "command",
                execution = %execution.id,
                repository = %execution.repository,
                commit = %execution.commit.id.short(),
            );
            // Boxed: one command's future nests all the adapters' futures, deep enough
            // to exceed the compiler's type-layout limits in the binaries otherwise.
            let more = Box::pin(self.execute(&execution, command).instrument(span)).await?;
            queue.extend(more);
        }
        Ok(())
    }

    async fn execute(
        &self,
        execution: &Execution,
        command: Command,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        match command {
            Command::StartBuild => self.start_build(execution).await,
            Command::PinArtifact => {
                let event = match artifacts::pin(&self.objects, &self.config, execution).await {
                    Ok(artifact) => Event::ArtifactPinned { artifact },
                    Err(ArtifactError::Unusable(reason)) => Event::ArtifactRejected { reason },
                    Err(ArtifactError::Failed(e)) => return Err(e),
                };
                self.apply(&execution.id, event).await
            }
            Command::CreateChangeSet { stage } => self.prepare(execution, &stage).await,
            Command::ExecuteChangeSet {
                stage,
                change_set_id,
            } => {
                self.execute_change_set(execution, &stage, &change_set_id)
                    .await
            }
            Command::DeleteChangeSet { stage, .. } => {
                if let Some(s) = execution.stage(&stage) {
                    let target = Target::from(s);
                    let name = execution.change_set_name(&stage);
                    if let Err(e) = self.deployer.delete_change_set(target, &name).await {
                        warn!(%stage, error = %chain(&e), "could not delete change set");
                    }
                }
                Ok(Vec::new())
            }
            Command::RequestApproval { stage } => self.request_approval(execution, &stage).await,
            Command::Notify(notice) => {
                let message = messages::notice(&self.config, execution, &notice);
                self.publish(&message).await;
                Ok(Vec::new())
            }
        }
    }

    /// Executes the change set the execution recorded. One that is already executing
    /// or executed (an overlapping sweep, a retried handler, the SDK's own retry) is
    /// the same deployment, not a failure.
    async fn execute_change_set(
        &self,
        execution: &Execution,
        stage: &StageName,
        change_set_id: &str,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        let Some(s) = execution.stage(stage) else {
            return Ok(Vec::new());
        };
        let target = Target::from(s);
        match artifacts::verify(&self.objects, &self.config, execution).await {
            Ok(_) => {}
            Err(ArtifactError::Unusable(reason)) => {
                let event = Event::StackUpdateFailed {
                    stage: stage.clone(),
                    reason,
                };
                return self.apply(&execution.id, event).await;
            }
            Err(ArtifactError::Failed(e)) => return Err(e),
        }
        let refused = match self
            .deployer
            .execute_change_set(target, change_set_id)
            .await
        {
            Ok(()) => {
                info!(%stage, "change set executing");
                return Ok(Vec::new());
            }
            Err(e) if e.retryable => return Err(e.into()),
            Err(e) => e,
        };
        if let ChangeSetState::Executed { outcome, .. } =
            self.deployer.change_set(target, change_set_id).await?
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
        self.apply(
            &execution.id,
            Event::StackUpdateFailed {
                stage: stage.clone(),
                reason,
            },
        )
        .await
    }

    async fn publish(&self, message: &Message) {
        match self.notifier.publish(message).await {
            Ok(()) => info!(subject = %message.subject, "notification sent"),
            Err(e) => {
                warn!(subject = %message.subject, error = %chain(&e), "notification not sent")
            }
        }
    }

    async fn start_build(
        &self,
        execution: &Execution,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        let request = BuildRequest {
            project: self.config.build_project.clone(),
            source_version: execution.commit.id.to_string(),
            idempotency_token: execution.id.to_string(),
            environment: vec![
                ("SLUICE_EXECUTION_ID".into(), execution.id.to_string()),
                ("SLUICE_ARTIFACT_BUCKET".into(), self.config.bucket.clone()),
                (
                    "SLUICE_ARTIFACT_PREFIX".into(),
                    self.config.artifact_prefix(&execution.id),
                ),
            ],
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
            },
        };
        self.apply(&execution.id, event).await
    }

    /// Takes the stage's lane, creates the change set from the build's artifacts and
    /// waits (boundedly) until CloudFormation has worked it out.
    async fn prepare(
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
        let spec =
            match artifacts::change_set_spec(&self.objects, &self.config, execution, stage).await {
                Ok(spec) => spec,
                Err(ArtifactError::Unusable(reason)) => {
                    work.extend(self.change_set_failed(id, stage, reason).await?);
                    return Ok(work);
                }
                Err(ArtifactError::Failed(e)) => return Err(e),
            };
        let target = Target::from(s);
        if let Err(e) = self.deployer.create_change_set(target, &spec).await {
            if e.retryable {
                return Err(e.into());
            }
            let reason = e.message.clone().unwrap_or_else(|| chain(&e));
            work.extend(self.change_set_failed(id, stage, reason).await?);
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

    async fn supersede(
        &self,
        older: &ExecutionId,
        stage: &StageName,
        by: &ExecutionId,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        let event = Event::Superseded {
            stage: stage.clone(),
            by: by.clone(),
        };
        self.apply(older, event).await
    }

    async fn change_set_failed(
        &self,
        id: &ExecutionId,
        stage: &StageName,
        reason: String,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        let event = Event::ChangeSetFailed {
            stage: stage.clone(),
            change_set_id: None,
            reason,
        };
        self.apply(id, event).await
    }

    /// Polls the change set with growing pauses; `None` if it is still being worked
    /// out when the budget is spent (the sweeper takes over from there).
    pub async fn await_change_set(
        &self,
        target: Target<'_>,
        stage: &StageName,
        name: &str,
    ) -> Result<Option<Event>, EngineError> {
        let started = tokio::time::Instant::now();
        let mut pause = self.wait.first;
        loop {
            let state = self.deployer.change_set(target, name).await?;
            if let Some(event) = change_set_event(stage, state) {
                return Ok(Some(event));
            }
            if started.elapsed() + pause > self.wait.budget {
                warn!(%stage, change_set = name, "change set not ready in time; the sweeper will pick it up");
                return Ok(None);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(self.wait.max_interval);
        }
    }

    async fn request_approval(
        &self,
        execution: &Execution,
        stage: &StageName,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        let Some(approval_url) = self.config.approval_url.as_deref() else {
            // Left for the sweeper, which has the URL, to send (ApprovalNotSent).
            warn!(%stage, "SLUICE_APPROVAL_URL is not set here; the approval link is not sent");
            return Ok(Vec::new());
        };
        // At the gate, the stage may go to a newer execution: decide that first.
        match self
            .lanes
            .mark_waiting(stage, &execution.id, true, self.now())
            .await?
        {
            Marked::Held => {}
            Marked::Superseded { by } => return self.hand_over(&execution.id, stage, &by).await,
            Marked::NotHolder { holder } => {
                if let Some(newer) = holder.filter(|h| is_newer(h, &execution.id)) {
                    return self.supersede(&execution.id, stage, &newer).await;
                }
                warn!(%stage, "asking for approval without holding the stage");
            }
        }
        let token = token::generate();
        let hash = TokenHash::of(&token);
        let timeout = chrono::Duration::from_std(self.config.approval_timeout)
            .unwrap_or(chrono::Duration::days(7));
        let expires_at = self.now() + timeout;
        let event = Event::ApprovalRequested {
            stage: stage.clone(),
            token_sha256: hash,
            expires_at,
        };
        let applied = match self.store.apply(&execution.id, event, self.now()).await {
            Ok(applied) => applied,
            Err(StoreError::Rejected(rejected)) => {
                warn!(%stage, %rejected, "approval not requested");
                return Ok(Vec::new());
            }
            Err(e) => return Err(e.into()),
        };
        let issued = applied
            .execution
            .stage(stage)
            .and_then(|s| s.approval.as_ref())
            .is_some_and(|a| a.token_sha256.matches(&hash));
        if !applied.changed || !issued {
            info!(%stage, "an approval link was already issued");
            return Ok(Vec::new());
        }
        let link = format!(
            "{approval_url}/approvals/{}/{stage}?token={token}",
            execution.id
        );
        let Some(s) = applied.execution.stage(stage) else {
            return Ok(Vec::new());
        };
        let message = messages::approval_request(&applied.execution, s, &link, expires_at);
        if let Err(e) = self.notifier.publish(&message).await {
            // Nobody has the link; the sweeper issues and sends a new one shortly.
            warn!(%stage, error = %chain(&e), "approval request not sent");
            return Ok(Vec::new());
        }
        info!(%stage, subject = %message.subject, "approval request sent");
        let sent = Event::ApprovalSent {
            stage: stage.clone(),
            token_sha256: hash,
        };
        self.apply(&execution.id, sent).await
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
        ChangeSetState::Failed { id, reason } => Some(Event::ChangeSetFailed {
            stage,
            change_set_id: Some(id),
            reason,
        }),
        ChangeSetState::Pending | ChangeSetState::Missing | ChangeSetState::Executed { .. } => None,
    }
}
