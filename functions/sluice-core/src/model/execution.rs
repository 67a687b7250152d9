//! The execution itself: where it stands, the commit it delivers, its notes and its
//! timeline, and the names and tokens derived from it.

use serde::{Deserialize, Serialize};

use super::build::{Artifact, Build};
use super::stage::{Stage, StageStatus};
use crate::ids::{CommitId, ExecutionId, StageName, Timestamp};

/// Where an execution stands as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created; its build was asked for or is running.
    Building,
    /// Built; moving through its stages.
    Deploying,
    Succeeded,
    Failed,
    /// An approver said no.
    Rejected,
    /// A newer commit reached the gate this one was waiting at.
    Superseded,
    /// Nobody decided before the approval deadline.
    Expired,
    /// An operator stopped it (`sluice cancel`).
    Cancelled,
}

impl Status {
    /// The status in words, as people read it in emails, pages and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Building => "building",
            Status::Deploying => "deploying",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Rejected => "rejected",
            Status::Superseded => "superseded",
            Status::Expired => "expired",
            Status::Cancelled => "cancelled",
        }
    }

    /// Terminal statuses never change again.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Status::Building | Status::Deploying)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The commit being delivered. Author and message are filled in when known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub id: CommitId,
    pub author: Option<String>,
    pub message: Option<String>,
}

/// A remark added to an execution by a person or a tool.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Note {
    pub at: Timestamp,
    pub author: String,
    pub text: String,
}

/// One line of an execution's timeline.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entry {
    pub at: Timestamp,
    pub what: String,
}

/// One commit's way through the pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    pub id: ExecutionId,
    pub pipeline: String,
    pub repository: String,
    pub branch: String,
    pub commit: Commit,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub status: Status,
    /// Why the execution ended the way it did, in a sentence a person can act on.
    pub reason: Option<String>,
    pub build: Build,
    /// What the build produced, pinned when it succeeded.
    #[serde(default)]
    pub artifact: Option<Artifact>,
    pub stages: Vec<Stage>,
    pub superseded_by: Option<ExecutionId>,
    /// Set on a rollback (`sluice rollback`): the execution whose artifact it deploys
    /// again, to its one stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<ExecutionId>,
    /// The AWS identity that started it: the pusher, as CodeCommit's push event names
    /// them (`callerUserArn`), or the operator who released it. No one may approve
    /// their own execution at a stage that does not allow it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    pub notes: Vec<Note>,
    pub timeline: Vec<Entry>,
}

impl Execution {
    /// The stage with this name.
    pub fn stage(&self, name: &StageName) -> Option<&Stage> {
        self.stages.iter().find(|s| &s.name == name)
    }

    /// The stage being worked on: the first one that has not passed, if it has started.
    pub fn current_stage(&self) -> Option<&Stage> {
        self.stages
            .iter()
            .find(|s| !s.status.is_passed())
            .filter(|s| s.status != StageStatus::Pending)
    }

    /// The change set name Sluice uses for a stage of this execution. It is derived,
    /// not random, so a retried or reconciling function finds the same change set.
    /// A retried stage gets a new name: the failed change set may still exist.
    pub fn change_set_name(&self, stage: &StageName) -> String {
        match self.stage(stage).map_or(0, |s| s.attempt) {
            0 => format!("sluice-{}-{}", self.id, stage),
            n => format!("sluice-{}-{}-r{n}", self.id, stage),
        }
    }

    /// The change set that rolls `stage` back, derived like the stage's own.
    pub fn rollback_change_set_name(&self, stage: &StageName) -> String {
        let attempt = self
            .stage(stage)
            .and_then(|s| s.rollback.as_ref())
            .map_or(0, |r| r.attempt);
        match attempt {
            0 => format!("{}-back", self.change_set_name(stage)),
            n => format!("{}-back{n}", self.change_set_name(stage)),
        }
    }

    /// The idempotency token of `stage`'s post-deploy test: each attempt has its own.
    pub fn test_token(&self, stage: &StageName) -> String {
        let s = self.stage(stage);
        let mut token = match s.map_or(0, |s| s.attempt) {
            0 => format!("{}/{}/{stage}/test", self.pipeline, self.id),
            n => format!("{}/{}/{stage}/test-r{n}", self.pipeline, self.id),
        };
        if let Some(n) = s
            .and_then(|s| s.test_run.as_ref())
            .map(|r| r.attempt)
            .filter(|n| *n > 0)
        {
            token.push_str(&format!("-t{n}"));
        }
        token
    }

    /// The idempotency token of this execution's build: a retried build is a new one.
    /// It names the pipeline: pipelines fed by one repository create executions of
    /// the same id for the same push, and CodeBuild holds a token for one project.
    pub fn build_token(&self) -> String {
        match self.build.attempt {
            0 => format!("{}/{}", self.pipeline, self.id),
            n => format!("{}/{}-r{n}", self.pipeline, self.id),
        }
    }
}
