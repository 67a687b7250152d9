//! After a stage's deploy: its post-deploy test, a build of the same commit running
//! the application's test buildspec with the stack's outputs in its environment; its
//! alarm watch; and when either finds the deploy bad, the automatic rollback to the
//! release that was live before.

use sluice_adapters::aws::chain;
use sluice_adapters::builder::{BuildRequest, Builder};
use sluice_adapters::deployer::{ChangeSetState, Deployer, ExecutionOutcome, Target};
use sluice_core::{Cause, Command, Event, Execution, StageName};
use tracing::{info, warn};

use crate::artifacts::{self, ArtifactError};
use crate::engine::{Adapters, Engine};
use crate::error::EngineError;

/// How many executions back a rollback looks for the release live before.
const HISTORY: usize = sluice_core::history::RECENT;

/// The environment variable that carries a stack output, if its key makes a name.
fn output_variable(key: &str) -> Option<String> {
    let ok = (1..=200).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    ok.then(|| format!("SLUICE_OUTPUT_{key}"))
}

impl<A: Adapters> Engine<A> {
    /// Starts the stage's post-deploy test.
    pub(crate) async fn start_test(
        &self,
        execution: &Execution,
        stage: &StageName,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        let Some(s) = execution.stage(stage) else {
            return Ok(Vec::new());
        };
        let Some(test) = &s.test else {
            return Ok(Vec::new());
        };
        let outputs = match self.deployer.stack(Target::from(s)).await {
            Ok(info) => info.map(|i| i.outputs).unwrap_or_default(),
            Err(e) if e.retryable => return Err(e.into()),
            Err(e) => {
                warn!(%stage, error = %chain(&e), "could not read the stack's outputs; testing without them");
                Default::default()
            }
        };
        let mut environment = vec![
            ("SLUICE_EXECUTION_ID".to_owned(), execution.id.to_string()),
            (
                crate::events::TEST_STAGE_VARIABLE.to_owned(),
                stage.to_string(),
            ),
            ("SLUICE_STAGE".to_owned(), stage.to_string()),
            ("SLUICE_STACK_NAME".to_owned(), s.stack_name.clone()),
            (
                "SLUICE_COMMIT_ID".to_owned(),
                execution.commit.id.to_string(),
            ),
        ];
        environment.extend(
            outputs
                .into_iter()
                .filter_map(|(key, value)| Some((output_variable(&key)?, value))),
        );
        let request = BuildRequest {
            project: self.config.build_project.clone(),
            source_version: execution.commit.id.to_string(),
            idempotency_token: execution.test_token(stage),
            environment,
            buildspec: Some(test.buildspec.clone()),
            upload: None,
            machine: self.config.machine(),
        };
        let event = match self.builder.start_build(request).await {
            Ok(build) => {
                info!(%stage, build = %build.id, "post-deploy test started");
                Event::TestStarted {
                    stage: stage.clone(),
                    build_id: build.id,
                    log_url: build.log_url,
                }
            }
            Err(e) if e.retryable => return Err(e.into()),
            Err(e) => Event::TestFailed {
                stage: stage.clone(),
                build_id: None,
                reason: format!("could not start it: {}", chain(&e)),
                log_url: None,
                cause: Cause::Change,
            },
        };
        self.apply(&execution.id, event).await
    }

    /// The newest other execution whose release went live on `stage` (deployed, or
    /// found already there): what was live before `execution` deployed.
    async fn live_before(
        &self,
        execution: &Execution,
        stage: &StageName,
    ) -> Result<Option<Execution>, EngineError> {
        let recent = self.store.recent(HISTORY).await?;
        Ok(sluice_core::history::releases_on(&recent, stage)
            .into_iter()
            .find(|e| e.id != execution.id)
            .cloned())
    }

    /// Puts the release that was live before `execution` back on `stage`: creates
    /// (or finds) the rollback's change set from that release's pinned artifact and
    /// executes it. Safe to run again: the change set's name is derived.
    pub(crate) async fn roll_back(
        &self,
        execution: &Execution,
        stage: &StageName,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        let id = &execution.id;
        let Some(s) = execution.stage(stage) else {
            return Ok(Vec::new());
        };
        let impossible = |reason: String| Event::RollbackImpossible {
            stage: stage.clone(),
            reason,
        };
        let Some(source) = self.live_before(execution, stage).await? else {
            let event = impossible(format!(
                "no earlier release of {stage} is known (none among the newest {HISTORY} \
                 executions went live there), so there is nothing to go back to"
            ));
            return self.apply(id, event).await;
        };
        let release = format!(
            "commit {} (execution {})",
            source.commit.id.short(),
            source.id
        );
        let target = Target::from(s);
        let name = execution.rollback_change_set_name(stage);
        if self.deployer.change_set(target, &name).await? == ChangeSetState::Missing {
            let mut spec = match Box::pin(artifacts::change_set_spec(
                &self.objects,
                &self.config,
                &source,
                stage,
            ))
            .await
            {
                Ok(spec) => spec,
                Err(ArtifactError::Unusable(reason)) => {
                    let event = impossible(format!(
                        "the release live before, {release}, cannot be deployed again: {reason}"
                    ));
                    return self.apply(id, event).await;
                }
                Err(ArtifactError::Failed(e)) => return Err(e),
            };
            spec.change_set_name = name.clone();
            spec.execution_role_arn = s.execution_role_arn.clone();
            spec.description = format!("Sluice {id}: rollback of {stage} to {release}")
                .chars()
                .take(1024)
                .collect();
            if let Err(e) = self.deployer.create_change_set(target, &spec).await {
                if e.retryable {
                    return Err(e.into());
                }
                let reason = e.message.clone().unwrap_or_else(|| chain(&e));
                let event = impossible(format!("its change set could not be created: {reason}"));
                return self.apply(id, event).await;
            }
        }
        let settled = |state: &ChangeSetState| {
            !matches!(state, ChangeSetState::Pending | ChangeSetState::Missing)
        };
        let Some(state) = self.settled_change_set(target, &name, settled).await? else {
            return Ok(Vec::new());
        };
        let started = |change_set_id: sluice_core::ChangeSetId| Event::RollbackStarted {
            stage: stage.clone(),
            to: source.id.clone(),
            commit: source.commit.id.clone(),
            change_set_id,
        };
        let mut work = Vec::new();
        match state {
            ChangeSetState::Ready { id: change_set, .. } => {
                if let Err(e) = self
                    .deployer
                    .execute_change_set(target, &change_set.to_string())
                    .await
                {
                    if e.retryable {
                        return Err(e.into());
                    }
                    // Executed meanwhile by an overlapping run: the same rollback.
                    let again = self.deployer.change_set(target, &name).await?;
                    if !matches!(again, ChangeSetState::Executed { outcome, .. } if outcome != ExecutionOutcome::Obsolete)
                    {
                        let event = impossible(format!(
                            "its change set could not be executed: {}",
                            chain(&e)
                        ));
                        return self.apply(id, event).await;
                    }
                }
                info!(%stage, to = %source.id, "rolling back");
                work.extend(self.apply(id, started(change_set)).await?);
            }
            ChangeSetState::Executed {
                id: change_set,
                outcome,
            } => {
                work.extend(self.apply(id, started(change_set.clone())).await?);
                // Executed by an earlier run: its outcome may be known already.
                if outcome != ExecutionOutcome::Running
                    && let Some(s) = execution.stage(stage)
                    && let Some(event) = self
                        .deploy_settled(
                            s,
                            ChangeSetState::Executed {
                                id: change_set,
                                outcome,
                            },
                        )
                        .await?
                {
                    work.extend(self.apply(id, event).await?);
                }
            }
            ChangeSetState::Empty { id: change_set } => {
                // The stack already runs the earlier release: nothing to put back.
                work.extend(self.apply(id, started(change_set)).await?);
                let done = Event::StackUpdateCompleted {
                    stage: stage.clone(),
                };
                work.extend(self.apply(id, done).await?);
            }
            ChangeSetState::Failed { reason, .. } => {
                let event = impossible(format!("its change set failed: {reason}"));
                work.extend(self.apply(id, event).await?);
            }
            ChangeSetState::Pending | ChangeSetState::Missing => {}
        }
        Ok(work)
    }
}

impl<A: Adapters> Engine<A> {
    /// What the stage's watched alarms say: one in `ALARM` (or missing: a release
    /// nobody can watch is not left live), the watch over, or nothing yet.
    pub(crate) async fn watch_finding(
        &self,
        execution: &Execution,
        stage: &sluice_core::Stage,
    ) -> Result<Option<Event>, EngineError> {
        let (Some(watch), Some(until)) = (&stage.watch, stage.watch_until) else {
            return Ok(None);
        };
        let states = match self.deployer.alarm_states(&watch.alarms).await {
            Ok(states) => states,
            Err(e) if e.retryable => return Err(e.into()),
            Err(e) => {
                let event = Event::AlarmFired {
                    stage: stage.name.clone(),
                    alarm: watch.alarms.join(", "),
                    reason: format!(
                        "cannot be read, so the release cannot be watched: {}",
                        chain(&e)
                    ),
                };
                return Ok(Some(event));
            }
        };
        for alarm in &watch.alarms {
            let fired = match states.iter().find(|s| &s.name == alarm) {
                None => Some(
                    "does not exist, so the release cannot be watched (the stage's alarm names \
                     it; create it, or fix AlarmNames)"
                        .to_owned(),
                ),
                Some(state) if state.firing() => Some(format!(
                    "went into ALARM during the watch: {}",
                    state.reason.as_deref().unwrap_or("no reason given")
                )),
                Some(_) => None,
            };
            if let Some(reason) = fired {
                info!(execution = %execution.id, stage = %stage.name, %alarm, "watched alarm fired");
                return Ok(Some(Event::AlarmFired {
                    stage: stage.name.clone(),
                    alarm: alarm.clone(),
                    reason,
                }));
            }
        }
        Ok((self.now() >= until).then(|| Event::WatchPassed {
            stage: stage.name.clone(),
        }))
    }

    /// A CloudWatch alarm's state change: an alarm in `ALARM` that a stage watches
    /// ends the watch of the execution holding that stage, at once.
    pub async fn on_alarm(&self, value: serde_json::Value) -> Result<(), EngineError> {
        let (alarm, reason) =
            match crate::events::decode_alarm(value).map_err(crate::engine::refuse)? {
                crate::events::AlarmChange::Ignored(why) => {
                    info!(%why, "alarm event ignored");
                    return Ok(());
                }
                crate::events::AlarmChange::Firing { alarm, reason } => (alarm, reason),
            };
        let watching: Vec<StageName> = self
            .config
            .pipeline
            .stages
            .iter()
            .filter(|s| s.watch.as_ref().is_some_and(|w| w.alarms.contains(&alarm)))
            .map(|s| s.name.clone())
            .collect();
        for stage in watching {
            let Some(holder) = self.lanes.get(&stage).await?.holder else {
                continue;
            };
            let span = tracing::info_span!("alarm", execution = %holder.execution, %stage, %alarm);
            let event = Event::AlarmFired {
                stage: stage.clone(),
                alarm: alarm.clone(),
                reason: format!("went into ALARM during the watch: {reason}"),
            };
            crate::engine::traced(span, async {
                let work = self.apply(&holder.execution, event).await?;
                self.run_all(work).await
            })
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_outputs_become_variables_only_when_their_keys_make_names() {
        assert_eq!(
            output_variable("ApiUrl").as_deref(),
            Some("SLUICE_OUTPUT_ApiUrl")
        );
        assert_eq!(output_variable("Api-Url"), None);
        assert_eq!(output_variable(""), None);
    }
}
