//! The state, as the functions reach it.

use aws_config::SdkConfig;
use sluice_engine::operator::Action;

use super::finding::{Finding, NEEDS_OPERATOR_POLICY};

/// A write and a read of a missing key under `pipelines/`, made by the operator
/// function as its own role: S3 answers such a read 403, not 404, to a role that may
/// not list the bucket, and every function finds missing objects this way.
pub(super) async fn state_probe(sdk: &SdkConfig, pipeline: &str) -> Finding {
    let function = crate::operate::function_for(pipeline, &Action::Check);
    match crate::operate::send(sdk, pipeline, &function, Action::Check).await {
        Ok(answer) if answer.ok => Finding::ok("state", format!("{function} {}", answer.message)),
        Ok(answer) => Finding::problem(
            "state",
            format!("{function}: {}", answer.message),
            "give the functions' roles s3:ListBucket on the artifact bucket, and remove what \
             denies it",
        ),
        Err(e) => Finding::problem("state", format!("{e:#}"), NEEDS_OPERATOR_POLICY),
    }
}
