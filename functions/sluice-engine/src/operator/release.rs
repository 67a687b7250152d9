//! `sluice release`: starts an execution for the branch head, or a commit on it.

use serde::{Deserialize, Serialize};
use sluice_adapters::commits::CommitReader;
use sluice_core::{Commit, CommitId, Push};
use tracing::info;

use crate::engine::{Adapters, Engine};
use crate::error::EngineError;

use super::Answer;

/// Delivers `commit`, or the branch's head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    #[serde(default)]
    pub commit: Option<CommitId>,
}

impl<A: Adapters> Engine<A> {
    /// Starts an execution for the branch head, or for `commit` if it is on the branch.
    pub(super) async fn release(
        &self,
        caller: &str,
        release: Release,
    ) -> Result<Answer, EngineError> {
        let pipeline = &self.config.pipeline;
        let (repository, branch) = (&pipeline.repository, &pipeline.branch);
        let Some(head) = self.branch_head(repository, branch).await? else {
            return Ok(Answer::refused(format!(
                "branch {branch} of {repository} has no commits yet (or CodeCommit would not say \
                 where it points); push to it first"
            )));
        };
        let commit = match release.commit {
            None => head.clone(),
            Some(commit) => {
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
}
