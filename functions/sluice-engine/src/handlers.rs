//! The event handlers: a push, a build's state change, a stack's status change,
//! each decoded and checked, then turned into a core event for its execution.

use serde_json::Value;
use sluice_adapters::aws::chain;
use sluice_adapters::builder::Builder;
use sluice_adapters::commits::{ChangedFiles, CommitInfo, CommitReader, SAMPLE_MAX};
use sluice_adapters::deployer::Deployer;
use sluice_core::decide::{self, PathsChanged};
use sluice_core::{Command, Commit, CommitId, Delivery, Push, StageStatus, Status, Timestamp};
use tracing::{info, warn};

use crate::engine::{Adapters, Engine, refuse, traced};
use crate::error::EngineError;
use crate::events;
use crate::events::{BuildChange, Push as PushEvent, StackChange};

impl<A: Adapters> Engine<A> {
    /// A push event: create the execution for the commit and start its build.
    pub async fn on_push(&self, value: Value) -> Result<(), EngineError> {
        let (repository, branch, commit, pushed_at, old_commit, event_id, pushed_by) =
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
                    event_id,
                    pushed_by,
                } => (
                    repository, branch, commit, pushed_at, old_commit, event_id, pushed_by,
                ),
            };
        let span = tracing::info_span!("push", %repository, commit = %commit);
        traced(span, async {
            // A new branch has no old commit to compare with: it is always delivered.
            let since_old = match &old_commit {
                Some(old) => Some(self.changed_paths(&repository, old, &commit).await?),
                None => None,
            };
            if !decide::push_is_delivered(since_old.as_ref().map(|(verdict, _)| *verdict)) {
                let reason = format!(
                    "none of the files it changed ({}) is in the pipeline's paths ({})",
                    since_old
                        .as_ref()
                        .and_then(|(_, files)| files.as_ref())
                        .map(listed)
                        .unwrap_or_default(),
                    self.config.paths.describe()
                );
                info!(%reason, "push ignored");
                return Ok(());
            }
            let info = self.commit_info(&repository, &commit).await?;
            let head = self.branch_head(&repository, &branch).await?;
            let filtered = !self.config.paths.is_everything();
            let since_commit = match &head {
                Some(h) if filtered && h != &commit => {
                    self.changed_paths(&repository, &commit, h).await?.0
                }
                _ => decide::PathsChanged::Unknown,
            };
            let superseding =
                decide::superseding_head(&commit, head.clone(), filtered, since_commit);
            if let Some(h) = head
                .as_ref()
                .filter(|h| *h != &commit && superseding.is_none())
            {
                info!(
                    head = %h,
                    "the branch has moved on, but not (as far as CodeCommit says) in the \
                     pipeline's paths; delivering this commit"
                );
            }
            let head = superseding;
            let delivery = Delivery::of(pushed_at, old_commit.as_ref(), event_id.as_deref());
            // A delivery again of a push that already has its execution keeps that
            // execution's time, so it finds the same execution; a first delivery is
            // ordered after the commit it replaced.
            let pushed_at = match self.store.delivered(&commit, &delivery).await? {
                Some(first) => first.time(),
                None => self.after_previous(pushed_at, old_commit.as_ref()).await?,
            };
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
                released_by: None,
                pushed_by,
                delivery: Some(delivery),
                upload: Some(crate::token::upload()),
            };
            let created = self
                .store
                .create(&self.config.pipeline, push, self.now())
                .await?;
            let execution = created.execution;
            if created.created {
                info!(execution = %execution.id, "execution created");
                crate::measure::notices(&created.commands);
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
    pub(crate) async fn branch_head(
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
    pub(crate) async fn after_previous(
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

    /// What going from `before` to `after` changed, as far as the pipeline's paths
    /// go, and the files read to tell (until one in the paths). Unknown when every
    /// file counts, or when CodeCommit cannot say.
    async fn changed_paths(
        &self,
        repository: &str,
        before: &CommitId,
        after: &CommitId,
    ) -> Result<(PathsChanged, Option<ChangedFiles>), EngineError> {
        let paths = &self.config.paths;
        if paths.is_everything() {
            return Ok((PathsChanged::Unknown, None));
        }
        let wanted = |path: &str| paths.counts(path);
        match self
            .commits
            .find_changed_file(repository, before.as_str(), after.as_str(), &wanted)
            .await
        {
            Ok(changed) => {
                let verdict = match changed.found {
                    Some(_) => PathsChanged::Yes,
                    None => PathsChanged::No,
                };
                Ok((verdict, Some(changed)))
            }
            Err(e) if e.retryable => Err(e.into()),
            Err(e) => {
                warn!(
                    error = %chain(&e),
                    before = %before,
                    "changed files unavailable; delivering the push whatever it changed"
                );
                Ok((PathsChanged::Unknown, None))
            }
        }
    }

    pub(crate) async fn commit_info(
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
                    parents: Vec::new(),
                })
            }
        }
    }

    /// A build state change.
    pub async fn on_build(&self, value: Value) -> Result<(), EngineError> {
        let (execution, event) =
            match events::decode_build(value, &self.config.build_project).map_err(refuse)? {
                BuildChange::Ours { execution, event } => (execution, *event),
                BuildChange::Unnamed { build_id } => {
                    let reports = self.builder.builds(vec![build_id.clone()]).await?;
                    let report = reports.into_iter().find(|r| r.id == build_id);
                    match report
                        .map(events::from_report)
                        .transpose()
                        .map_err(refuse)?
                    {
                        Some(Some(found)) => found,
                        _ => {
                            info!(%build_id, "build event ignored: not a build Sluice started");
                            return Ok(());
                        }
                    }
                }
                BuildChange::Ignored(reason) => {
                    info!(%reason, "build event ignored");
                    return Ok(());
                }
            };
        let span = tracing::info_span!(
            "build",
            %execution,
            repository = %self.config.pipeline.repository,
        );
        traced(span, async {
            let work = self.apply_build_event(&execution, event).await?;
            self.run_all(work).await
        })
        .await
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
            // The change set whose execution the event may be about: the stage's own,
            // or its rollback's.
            let change_set = match s.status {
                StageStatus::Deploying => s.change_set_id.as_ref(),
                StageStatus::RollingBack => {
                    s.rollback.as_ref().and_then(|r| r.change_set_id.as_ref())
                }
                _ => {
                    info!(stage = %stage, status = %s.status, "stage is not deploying; stack event ignored");
                    return Ok(());
                }
            };
            let Some(change_set) = change_set else {
                info!(stage = %stage, status = %s.status, "no change set of the stage is executing yet");
                return Ok(());
            };
            let state = self
                .deployer
                .change_set(s.into(), &change_set.to_string())
                .await?;
            let Some(event) = self.deploy_settled(s, state).await? else {
                info!(stage = %stage, "the stage's own change set has not finished deploying");
                return Ok(());
            };
            let work = self.apply(&id, event).await?;
            self.run_all(work).await
        })
        .await
    }
}

/// The changed files a log line names: the first few, and how many more.
fn listed(changed: &ChangedFiles) -> String {
    if changed.examined == 0 {
        return "none: the commits hold the same files".to_owned();
    }
    let mut text = changed.sample.join(", ");
    if changed.examined > SAMPLE_MAX {
        text.push_str(&format!(" and {} more", changed.examined - SAMPLE_MAX));
    }
    text
}
