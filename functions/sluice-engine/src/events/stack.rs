//! CloudFormation's stack status changes, mapped to the stage whose stack changed.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_core::{Pipeline, StageName};

use super::{BadEvent, bad, check_origin};

/// The `detail` of a `CloudFormation Stack Status Change` event.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct StackStatusDetail {
    #[serde(rename = "stack-id")]
    pub stack_id: String,
    #[serde(rename = "status-details")]
    pub status_details: StatusDetails,
}

/// The status part of a stack status change.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct StatusDetails {
    pub status: String,
    #[serde(rename = "status-reason", default)]
    pub status_reason: Option<String>,
}

/// A stack status change of one of the pipeline's stages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StackChange {
    Ours {
        stage: StageName,
        stack_name: String,
        status: String,
        reason: Option<String>,
    },
    Ignored(String),
}

/// The stack name inside a stack ARN (`arn:aws:cloudformation:r:a:stack/<name>/<uuid>`).
pub fn stack_name_of(stack_id: &str) -> Option<&str> {
    stack_id.split(":stack/").nth(1)?.split('/').next()
}

/// Decodes a CloudFormation stack status change for `pipeline`'s stacks.
pub fn decode_stack(value: Value, pipeline: &Pipeline) -> Result<StackChange, BadEvent> {
    const KIND: &str = "CloudFormation Stack Status Change";
    let event: EventBridgeEvent<StackStatusDetail> =
        serde_json::from_value(value).map_err(|e| bad(KIND, e))?;
    check_origin(
        KIND,
        "aws.cloudformation",
        &event.source,
        &event.detail_type,
    )?;
    let d = event.detail;
    let stack_name = stack_name_of(&d.stack_id).ok_or_else(|| {
        bad(
            KIND,
            format!("stack-id {:?} is not a stack ARN", d.stack_id),
        )
    })?;
    let Some(stage) = pipeline.stages.iter().find(|s| s.stack_name == stack_name) else {
        return Ok(StackChange::Ignored(format!(
            "stack {stack_name} belongs to no stage"
        )));
    };
    Ok(StackChange::Ours {
        stage: stage.name.clone(),
        stack_name: stack_name.to_owned(),
        status: d.status_details.status,
        reason: d.status_details.status_reason.filter(|r| !r.is_empty()),
    })
}
