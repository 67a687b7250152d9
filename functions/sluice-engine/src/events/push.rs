//! CodeCommit's pushes: a branch Sluice watches moved, or why it is not one.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_core::{CommitId, Pipeline, Timestamp};

use super::{BadEvent, bad, check_origin};

/// The `detail` of a `CodeCommit Repository State Change` event. The events crate
/// has no type for it (its CodeCommit type is the older trigger payload).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeCommitDetail {
    pub event: String,
    pub repository_name: String,
    pub reference_type: String,
    pub reference_name: String,
    /// Absent on `referenceDeleted`.
    pub commit_id: Option<String>,
    /// Absent on `referenceCreated`.
    pub old_commit_id: Option<String>,
    /// The identity that pushed (an IAM user's or a role session's ARN).
    #[serde(default)]
    pub caller_user_arn: Option<String>,
}

/// A push, or why it is not one Sluice delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Push {
    Watched {
        repository: String,
        branch: String,
        commit: CommitId,
        /// The event's time: when the branch moved.
        pushed_at: Timestamp,
        /// Where the branch pointed before, if it existed.
        old_commit: Option<CommitId>,
        /// EventBridge's id of the event: the same in every delivery of one push,
        /// different for two pushes, even of one commit from one commit in one second.
        event_id: Option<String>,
        /// Who pushed, if the event says and it reads as an ARN.
        pushed_by: Option<String>,
    },
    Ignored(String),
}

/// Decodes a CodeCommit state change for `pipeline`.
pub fn decode_push(value: Value, pipeline: &Pipeline) -> Result<Push, BadEvent> {
    const KIND: &str = "CodeCommit Repository State Change";
    let event: EventBridgeEvent<CodeCommitDetail> =
        serde_json::from_value(value).map_err(|e| bad(KIND, e))?;
    check_origin(KIND, "aws.codecommit", &event.source, &event.detail_type)?;
    let d = event.detail;
    if d.repository_name != pipeline.repository {
        return Ok(Push::Ignored(format!(
            "repository {} is not {}",
            d.repository_name, pipeline.repository
        )));
    }
    if d.reference_type != "branch" {
        return Ok(Push::Ignored(format!(
            "{} {} is not a branch",
            d.reference_type, d.reference_name
        )));
    }
    if d.reference_name != pipeline.branch {
        return Ok(Push::Ignored(format!(
            "branch {} is not the watched branch {}",
            d.reference_name, pipeline.branch
        )));
    }
    match d.event.as_str() {
        "referenceCreated" | "referenceUpdated" => {}
        other => {
            return Ok(Push::Ignored(format!(
                "{other} on {} needs no delivery",
                d.reference_name
            )));
        }
    }
    let commit = d
        .commit_id
        .as_deref()
        .ok_or_else(|| bad(KIND, format!("{} has no commitId", d.event)))
        .and_then(|c| CommitId::parse(c).map_err(|e| bad(KIND, e)))?;
    let old_commit = d
        .old_commit_id
        .as_deref()
        .map(CommitId::parse)
        .transpose()
        .map_err(|e| bad(KIND, e))?;
    Ok(Push::Watched {
        repository: d.repository_name,
        branch: d.reference_name,
        commit,
        pushed_at: event
            .time
            .ok_or_else(|| bad(KIND, "the event has no time"))?,
        old_commit,
        // Bounded and plain, since it is kept in the commit's marker.
        event_id: event
            .id
            .filter(|id| (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())),
        pushed_by: d.caller_user_arn.filter(|arn| {
            arn.starts_with("arn:")
                && arn.len() <= 2048
                && arn.bytes().all(|b| b.is_ascii_graphic())
        }),
    })
}
