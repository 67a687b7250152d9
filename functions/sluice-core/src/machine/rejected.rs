//! Why an event does not apply: every refusal of the state machine, with what to say.

use crate::BuildId;
use crate::ids::{ExecutionId, StageName, Timestamp};
use crate::model::{StageStatus, Status};

/// An event that cannot apply to this execution. The execution is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error(
        "a push to {repository}/{branch} is not watched by pipeline {pipeline}, which delivers {watched}"
    )]
    NotWatched {
        pipeline: String,
        repository: String,
        branch: String,
        watched: String,
    },
    #[error("this execution has no stage named {0}")]
    UnknownStage(StageName),
    #[error("build {got} is not this execution's build, {expected}")]
    ForeignBuild { expected: BuildId, got: BuildId },
    #[error("the approval link is not valid for stage {stage}")]
    WrongToken { stage: StageName },
    #[error(
        "this approval link for stage {stage} was replaced by a newer one; use the newest email"
    )]
    LinkReplaced { stage: StageName },
    #[error(
        "stage {stage} is waiting for its approval request to be issued; try again in a minute"
    )]
    NoApprovalYet { stage: StageName },
    #[error("stage {stage} was already {} by {by} at {at}", if *.approved { "approved" } else { "rejected" })]
    AlreadyDecided {
        stage: StageName,
        approved: bool,
        by: String,
        at: Timestamp,
    },
    #[error("the approval for stage {stage} expired at {at}")]
    ApprovalExpired { stage: StageName, at: Timestamp },
    #[error("the approval for stage {stage} does not expire until {at}")]
    NotYetExpired { stage: StageName, at: Timestamp },
    #[error("this execution already ended ({status}) at {at}")]
    Finished { status: Status, at: Timestamp },
    #[error("stage {stage} is not waiting for approval; it is {status}")]
    NotAwaitingApproval {
        stage: StageName,
        status: StageStatus,
    },
    #[error("a note needs {0}")]
    InvalidNote(&'static str),
    #[error(
        "execution {0} has no recorded artifact (its build never succeeded); nothing to roll back to"
    )]
    NoArtifact(ExecutionId),
    #[error(
        "this execution is {status}; nothing to retry (only a failed execution can be retried)"
    )]
    NothingToRetry { status: Status },
    #[error(
        "stage {stage} is {status}: {}; wait for it to end (`sluice watch`), then roll back if needed",
        match status {
            StageStatus::Testing | StageStatus::Verifying => "its new release is being tested or \
                watched, and only the outcome says whether it stays or is rolled back",
            StageStatus::RollingBack | StageStatus::Retrying => "the previous release is being put \
                back, and stopping half-way would leave the stack neither old nor new",
            _ => "CloudFormation is updating its stack, and stopping half-way would leave it \
                neither old nor new",
        }
    )]
    DeployInProgress {
        stage: StageName,
        status: StageStatus,
    },
}
