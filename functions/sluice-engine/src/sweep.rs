//! The sweeper: asks AWS what really happened to every execution in flight and feeds
//! its findings through the core, so a lost event or a lost command delays an
//! execution but never strands it. Each run does bounded work and resumes where the
//! previous one stopped.

use sluice_adapters::aws::chain;
use sluice_adapters::builder::{BuildOutcome, Builder};
use sluice_adapters::deployer::{ChangeSetState, Deployer, Target};
use sluice_core::{BuildStatus, Event, Execution, Marked, Outcome, StageStatus, Status, deadlines};
use tracing::{Instrument, info, warn};

use crate::deploy::change_set_event;
use crate::engine::{Adapters, Engine};
use crate::error::EngineError;

/// Longer than any function runs (the longest timeout in template.yaml is 10 minutes).
const SITE_QUIET: chrono::TimeDelta = chrono::TimeDelta::minutes(11);

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub examined: usize,
    /// Findings fed to executions.
    pub findings: usize,
    /// Whether the sweep reached the end of the in-flight list.
    pub finished_pass: bool,
}

impl<A: Adapters> Engine<A> {
    /// Examines up to `max` in-flight executions, from where the last sweep stopped.
    pub async fn sweep(&self, max: usize) -> Result<SweepReport, EngineError> {
        let after = self.store.sweep_cursor().await?;
        let (ids, cursor) = self.store.in_flight(after.as_ref(), max).await?;
        let mut report = SweepReport {
            finished_pass: cursor.is_none(),
            ..SweepReport::default()
        };
        for id in ids {
            report.examined += 1;
            let span = tracing::info_span!("sweep", execution = %id);
            let outcome = async {
                let Some(execution) = self.store.load(&id).await? else {
                    return Ok::<usize, EngineError>(0);
                };
                if execution.status.is_terminal() {
                    self.store.clear_in_flight(&id).await?;
                    return Ok(0);
                }
                crate::measure::in_flight(&execution, self.now());
                let Some(event) = self.finding(&execution).await? else {
                    return Ok(0);
                };
                info!(?event, "sweeper finding");
                let work = self.apply_finding(&execution, event).await?;
                self.run_all(work).await?;
                Ok(1)
            }
            .instrument(span)
            .await;
            match outcome {
                Ok(n) => report.findings += n,
                // One execution's trouble must not stop the sweep of the others.
                Err(e) => warn!(execution = %id, error = %chain(&e), "could not reconcile"),
            }
        }
        self.store.save_sweep_cursor(cursor).await?;
        Ok(report)
    }

    /// Whether no function can still be planning or deploying `execution`'s site
    /// stage: nothing changed it for longer than a function runs.
    fn site_quiet(&self, execution: &Execution) -> bool {
        self.now() - execution.updated_at > SITE_QUIET
    }

    /// How build `build_id` ended, as its `BuildSucceeded`/`BuildFailed` event would
    /// have said; `None` while it runs or if CodeBuild does not know it.
    async fn build_finding(
        &self,
        build_id: &sluice_core::BuildId,
    ) -> Result<Option<Event>, EngineError> {
        let reports = self.builder.builds(vec![build_id.clone()]).await?;
        let Some(r) = reports.into_iter().find(|r| &r.id == build_id) else {
            return Ok(None);
        };
        Ok((r.outcome != BuildOutcome::InProgress)
            .then(|| crate::events::outcome_event(build_id.to_owned(), r.outcome, r.log_url)))
    }

    /// What the clock or AWS says happened that the execution does not know yet.
    pub async fn finding(&self, execution: &Execution) -> Result<Option<Event>, EngineError> {
        if let Some(event) = deadlines::overdue(execution, self.now()) {
            return Ok(Some(event));
        }
        if execution.status == Status::Building {
            if execution.build.status == BuildStatus::Succeeded {
                return Ok(Some(Event::ArtifactNotPinned));
            }
            let Some(build_id) = execution.build.id.clone() else {
                return Ok(None);
            };
            let event = self.build_finding(&build_id).await?;
            return Ok(event);
        }
        let Some(stage) = execution.current_stage() else {
            return Ok(None);
        };
        let name = execution.change_set_name(&stage.name);
        let target = Target::from(stage);
        match stage.status {
            StageStatus::Preparing => {
                let lane = self.lanes.get(&stage.name).await?;
                let holds = lane
                    .holder
                    .as_ref()
                    .is_some_and(|h| h.execution == execution.id);
                if !holds {
                    let queued = lane.next.as_ref() == Some(&execution.id);
                    if let Some(h) = &lane.holder {
                        let holder = self.store.load(&h.execution).await?;
                        let at_stage = holder.as_ref().and_then(|o| o.stage(&stage.name));
                        // A holder that has moved on without letting go frees the stage.
                        let gone = at_stage.is_none_or(|s| s.status.is_finished());
                        // Waiting at its gate undecided, or for its window.
                        let waits_undecided = at_stage.is_some_and(|s| {
                            (s.status == StageStatus::AwaitingApproval
                                && s.approval.as_ref().is_none_or(|a| a.decision.is_none()))
                                || s.status == StageStatus::AwaitingWindow
                        });
                        if gone {
                            let outcome = match (&holder, at_stage) {
                                (Some(o), Some(s)) => {
                                    Outcome::of(s.status, o.rollback_of.is_some())
                                }
                                _ => Outcome::Left,
                            };
                            self.release_stage(&stage.name, &h.execution, outcome)
                                .await?;
                        } else if lane.claim_abandoned(waits_undecided, self.now()) {
                            // A decision that claimed the stage and was never saved
                            // (or a stage waiting for its window that never told the
                            // lane): the holder waits again, and a newer execution
                            // queued behind it takes over. Judged again on the stored
                            // lane: the claim may have been made anew meanwhile.
                            warn!(holder = %h.execution, stage = %stage.name, "abandoned claim on the stage");
                            if let Some(Marked::Superseded { by }) = self
                                .lanes
                                .give_up_abandoned_claim(
                                    &stage.name,
                                    &h.execution,
                                    waits_undecided,
                                    self.now(),
                                )
                                .await?
                            {
                                let work = self.hand_over(&h.execution, &stage.name, &by).await?;
                                self.run_all(work).await?;
                            }
                            return Ok(None);
                        } else if queued {
                            return Ok(None);
                        }
                    }
                    // Neither holding nor queued (a decision about it was lost):
                    // ask the lane again, which grants, queues or supersedes it.
                    return Ok(Some(Event::ChangeSetMissing {
                        stage: stage.name.clone(),
                    }));
                }
                if stage.site.is_some() {
                    // Planned in one function run: one that ended without a plan
                    // was cut short, and planning again is safe.
                    return Ok(self.site_quiet(execution).then(|| Event::ChangeSetMissing {
                        stage: stage.name.clone(),
                    }));
                }
                Ok(match self.deployer.change_set(target, &name).await? {
                    ChangeSetState::Missing => Some(Event::ChangeSetMissing {
                        stage: stage.name.clone(),
                    }),
                    state => change_set_event(&stage.name, state),
                })
            }
            StageStatus::Deploying if stage.site.is_some() => {
                // Deployed in one function run: one that ended without an outcome
                // was cut short; deploying again finishes what is left of the plan.
                Ok(self
                    .site_quiet(execution)
                    .then(|| Event::ChangeSetNotExecuted {
                        stage: stage.name.clone(),
                    }))
            }
            StageStatus::Testing => {
                let Some(build_id) = stage.test_run.as_ref().and_then(|r| r.build_id.clone())
                else {
                    return Ok(None);
                };
                // The test's build, as its own events would have said how it ended.
                let event = self.build_finding(&build_id).await?;
                Ok(event.map(|e| crate::events::test_event(stage.name.clone(), e)))
            }
            StageStatus::Verifying => self.watch_finding(execution, stage).await,
            StageStatus::RollingBack => {
                let Some(id) = stage
                    .rollback
                    .as_ref()
                    .and_then(|r| r.change_set_id.clone())
                else {
                    return Ok(None);
                };
                let state = self.deployer.change_set(target, &id.to_string()).await?;
                self.deploy_settled(stage, state).await
            }
            StageStatus::Deploying => {
                let recorded = stage
                    .change_set_id
                    .as_ref()
                    .map_or(name.clone(), ToString::to_string);
                let state = self.deployer.change_set(target, &recorded).await?;
                Ok(match state {
                    ChangeSetState::Ready { .. } => Some(Event::ChangeSetNotExecuted {
                        stage: stage.name.clone(),
                    }),
                    state => self.deploy_settled(stage, state).await?,
                })
            }
            _ => Ok(None),
        }
    }
}
