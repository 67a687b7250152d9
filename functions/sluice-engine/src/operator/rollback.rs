//! `sluice rollback`: deploys a stage's earlier release again.

use serde::{Deserialize, Serialize};
use sluice_core::{ExecutionId, StageName, StageStatus};
use tracing::info;

use crate::engine::{Adapters, Engine};
use crate::error::EngineError;

use super::{Answer, describe};

/// Deploys to `stage` again the artifact of its previous successful execution, or
/// of execution `to`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    pub stage: StageName,
    #[serde(default)]
    pub to: Option<ExecutionId>,
}

impl<A: Adapters> Engine<A> {
    /// Creates a rollback of `stage` to the artifact of its previous successful
    /// execution (or of `to`), prepares its change set and says what it will change.
    pub(super) async fn rollback(
        &self,
        caller: &str,
        rollback: Rollback,
    ) -> Result<Answer, EngineError> {
        let Rollback { stage, to } = rollback;
        let pipeline = &self.config.pipeline;
        let names = || {
            let names: Vec<_> = pipeline.stages.iter().map(|s| s.name.as_str()).collect();
            names.join(", ")
        };
        if !pipeline.stages.iter().any(|c| c.name == stage) {
            return Ok(Answer::refused(format!(
                "pipeline {} has no stage {:?}; its stages are {}",
                pipeline.name,
                stage.as_str(),
                names()
            )));
        }
        let recent = self.store.recent(sluice_core::history::RECENT).await?;
        let live = sluice_core::history::live_on(&recent, &stage);
        let source = match to {
            Some(to) => match self.find(&to).await? {
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
                message.push_str(&format!(
                    "\nIt will change {}:",
                    sluice_core::text::counted(changes.len(), "resource")
                ));
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
}
