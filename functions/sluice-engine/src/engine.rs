//! The command runner. A handler turns an AWS event into a core event, applies it
//! through the store, and runs the commands the core returns here; results of those
//! commands (a build started, a change set ready) are applied in turn, until nothing
//! is left to do. State is always saved before a command runs, so a crash loses at
//! most a command, which the sweeper notices and asks for again.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use sluice_adapters::aws::chain;
use sluice_adapters::builder::Builder;
use sluice_adapters::commits::CommitReader;
use sluice_adapters::deployer::{Deployer, Target};
use sluice_adapters::lanes::Lanes;
use sluice_adapters::notifier::{Message, Notifier};
use sluice_adapters::probe::Prober;
use sluice_adapters::{ExecutionStore, ObjectStore, StoreError};
use sluice_core::{
    Command, Event, Execution, ExecutionId, Outcome, Rejected, StageName, StageStatus, Timestamp,
};
use tracing::{Instrument, Span, error, info, warn};

use crate::artifacts::{self, ArtifactError};
use crate::config::Config;
use crate::error::EngineError;
use crate::events::BadEvent;
use crate::messages;

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

/// Runs a handler's work inside its span, and logs how it ended and how long it took
/// there, so the line that says what went wrong carries the execution id.
pub(crate) async fn traced<T>(
    span: Span,
    work: impl Future<Output = Result<T, EngineError>>,
) -> Result<T, EngineError> {
    // Boxed: the SDK's futures are large, and handlers nest several of them.
    let work = Box::pin(work);
    async {
        let began = std::time::Instant::now();
        let result = work.await;
        // took_ms: for the saved query of the slowest transitions.
        let took_ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &result {
            Ok(_) => info!(took_ms, "handler finished"),
            Err(e) => {
                error!(error = %chain(e), retryable = e.is_retryable(), took_ms, "handler failed")
            }
        }
        result
    }
    .instrument(span)
    .await
}

/// Logs an event that cannot be understood, before it is refused.
pub(crate) fn refuse(e: BadEvent) -> EngineError {
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

/// The services an engine works through, one type per capability: the AWS-backed
/// ones in functions, in-memory fakes in tests, `Unavailable` where a function has no
/// use for one.
pub trait Adapters: 'static {
    type Objects: ObjectStore;
    type Builder: Builder;
    type Deployer: Deployer;
    type Notifier: Notifier;
    type Commits: CommitReader;
    type Prober: Prober;
}

/// One of each adapter, as an engine is built from them.
pub struct Parts<A: Adapters> {
    pub objects: A::Objects,
    pub builder: A::Builder,
    pub deployer: A::Deployer,
    pub notifier: A::Notifier,
    pub commits: A::Commits,
    pub prober: A::Prober,
}

/// Everything a function needs to move executions along.
pub struct Engine<A: Adapters> {
    pub config: Arc<Config>,
    pub store: ExecutionStore<A::Objects>,
    pub lanes: Lanes<A::Objects>,
    pub(crate) objects: A::Objects,
    pub builder: A::Builder,
    pub deployer: A::Deployer,
    pub notifier: A::Notifier,
    pub commits: A::Commits,
    pub prober: A::Prober,
    clock: Clock,
    pub(crate) wait: WaitPolicy,
}

impl<A: Adapters> Clone for Engine<A> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            store: self.store.clone(),
            lanes: self.lanes.clone(),
            objects: self.objects.clone(),
            builder: self.builder.clone(),
            deployer: self.deployer.clone(),
            notifier: self.notifier.clone(),
            commits: self.commits.clone(),
            prober: self.prober.clone(),
            clock: self.clock.clone(),
            wait: self.wait,
        }
    }
}

/// What applying one event came to.
enum Applying {
    /// The work it created (none for an event that does not apply).
    Work(Vec<(Execution, Command)>),
    /// Nothing: the execution already had it.
    Unchanged(Box<Execution>),
}

impl<A: Adapters> Engine<A> {
    /// An engine over these adapters.
    pub fn new(config: Config, parts: Parts<A>) -> Self {
        let Parts {
            objects,
            builder,
            deployer,
            notifier,
            commits,
            prober,
        } = parts;
        Self {
            store: ExecutionStore::new(objects.clone(), &config.pipeline),
            lanes: Lanes::new(objects.clone(), &config.pipeline.name),
            config: Arc::new(config),
            objects,
            builder,
            deployer,
            notifier,
            commits,
            prober,
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

    /// Applies `event` to execution `id`; returns the work it creates. A rejected
    /// event, or one the execution already has, is logged and creates none.
    pub async fn apply(
        &self,
        id: &ExecutionId,
        event: Event,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        self.apply_catching_up(id, event, |_| false).await
    }

    /// [`Engine::apply`] for a build's own event. If the execution already has it (a
    /// copy, or Lambda's retry of a handler that failed after saving the new state)
    /// while its build's follow-up is still unfinished (the artifact not pinned, the
    /// first stage's change set not asked for or not executed), that follow-up is
    /// finished now, as the sweeper would, rather than on the sweeper's next pass.
    /// Only then: the build function may do that work and no other.
    pub(crate) async fn apply_build_event(
        &self,
        id: &ExecutionId,
        event: Event,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        self.apply_catching_up(id, event, sluice_core::decide::builds_follow_up_unfinished)
            .await
    }

    /// Applies `event`; if the execution already had it and `when` says so of the
    /// execution, finishes what an earlier delivery left undone ([`Engine::catch_up`]).
    async fn apply_catching_up(
        &self,
        id: &ExecutionId,
        event: Event,
        when: fn(&Execution) -> bool,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        match self.apply_once(id, event).await? {
            Applying::Work(work) => Ok(work),
            // Boxed: the sweeper's finding can apply events itself.
            Applying::Unchanged(execution) if when(&execution) => {
                Box::pin(self.catch_up(&execution)).await
            }
            Applying::Unchanged(_) => Ok(Vec::new()),
        }
    }

    async fn apply_once(&self, id: &ExecutionId, event: Event) -> Result<Applying, EngineError> {
        let observed = event.clone();
        let applied = match self.store.apply(id, event, self.now()).await {
            Ok(applied) => applied,
            Err(StoreError::Rejected(rejected)) => {
                warn!(execution = %id, %rejected, "event does not apply");
                return Ok(Applying::Work(Vec::new()));
            }
            Err(StoreError::NotFound(id)) => {
                warn!(execution = %id, "event for an unknown execution");
                return Ok(Applying::Work(Vec::new()));
            }
            Err(e) => return Err(e.into()),
        };
        if !applied.changed {
            info!(execution = %id, "event already applied");
            return Ok(Applying::Unchanged(Box::new(applied.execution)));
        }
        let after = applied.execution;
        crate::measure::transition(&observed, &after, &applied.commands, self.now());
        let mut work = self.release_finished(&after).await?;
        work.extend(applied.commands.into_iter().map(|c| (after.clone(), c)));
        Ok(Applying::Work(work))
    }

    /// What the sweeper would find missing from `execution` (a build's success not
    /// followed by its artifact, a change set not asked for or not executed), fed
    /// through the core now rather than on the sweeper's next pass.
    async fn catch_up(
        &self,
        execution: &Execution,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        let Some(event) = self.finding(execution).await? else {
            return Ok(Vec::new());
        };
        info!(execution = %execution.id, ?event, "finishing what an earlier delivery left undone");
        self.apply_finding(execution, event).await
    }

    /// Lets go of the lanes of the execution's finished stages, starting whoever
    /// was queued behind them.
    pub(crate) async fn release_finished(
        &self,
        execution: &Execution,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        let mut work = Vec::new();
        for stage in execution.stages.iter().filter(|s| s.status.is_finished()) {
            let outcome = Outcome::of(stage.status, execution.rollback_of.is_some());
            let mut next = self
                .release_stage(&stage.name, &execution.id, outcome)
                .await?;
            while let Some(queued) = next {
                match self.start_queued(&stage.name, &queued).await? {
                    Some(start) => {
                        work.push(start);
                        break;
                    }
                    // It moved on meanwhile; free the lane for the next one.
                    None => {
                        next = self
                            .release_stage(&stage.name, &queued, Outcome::Left)
                            .await?
                    }
                }
            }
        }
        Ok(work)
    }

    /// Lets go of `stage`, which `execution` left with `outcome`, and measures what
    /// that did to the stage's health. Returns the queued execution now holding it.
    pub(crate) async fn release_stage(
        &self,
        stage: &StageName,
        execution: &ExecutionId,
        outcome: Outcome,
    ) -> Result<Option<ExecutionId>, EngineError> {
        let released = self
            .lanes
            .release(stage, execution, outcome, self.now())
            .await?;
        crate::measure::released(stage, &released);
        Ok(released.next)
    }

    /// The command that starts `queued` on `stage`, now that it holds the stage, or
    /// `None` if it no longer waits for it.
    pub(crate) async fn start_queued(
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

    pub(crate) async fn execute(
        &self,
        execution: &Execution,
        command: Command,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        match command {
            Command::StartBuild => self.start_build(execution).await,
            Command::StopBuild { build_id } => {
                // Whoever stopped the execution hears whether the build stopped.
                match self.builder.stop_build(&build_id).await {
                    Ok(()) => info!(build = %build_id, "build stopped"),
                    Err(e) => {
                        warn!(build = %build_id, error = %chain(&e), "could not stop the build")
                    }
                }
                Ok(Vec::new())
            }
            Command::PinArtifact => {
                // Boxed: the pin's future is large, and the handlers' stacks are not.
                let pinned = Box::pin(artifacts::pin(&self.objects, &self.config, execution));
                let event = match pinned.await {
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
            Command::DeleteChangeSet {
                stage,
                change_set_id,
            } => {
                // A site stage's "change set" is its bucket: nothing to delete.
                if let Some(s) = execution.stage(&stage).filter(|s| s.site.is_none()) {
                    let target = Target::from(s);
                    if let Err(e) = self
                        .deployer
                        .delete_change_set(target, &change_set_id.to_string())
                        .await
                    {
                        warn!(%stage, error = %chain(&e), "could not delete change set");
                    }
                }
                Ok(Vec::new())
            }
            Command::RequestApproval { stage } => self.request_approval(execution, &stage).await,
            Command::AwaitWindow { stage } => self.await_window(execution, &stage).await,
            Command::StartTest { stage } => self.start_test(execution, &stage).await,
            Command::SmokeCheck { stage } => self.smoke_check(execution, &stage).await,
            Command::RollBack { stage } => self.roll_back(execution, &stage).await,
            Command::Notify(notice) => {
                let message = messages::notice(&self.config, execution, &notice);
                self.publish(&message).await;
                Ok(Vec::new())
            }
        }
    }

    pub(crate) async fn publish(&self, message: &Message) {
        match self.notifier.publish(message).await {
            Ok(()) => info!(subject = %message.subject, "notification sent"),
            Err(e) => {
                warn!(subject = %message.subject, error = %chain(&e), "notification not sent")
            }
        }
    }

    pub(crate) async fn supersede(
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
}
