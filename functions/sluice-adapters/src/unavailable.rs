//! A capability a function was not given.
//!
//! Each Lambda function gets the clients its own events need and no others (and its
//! role only those calls). Where a function has no use for a capability, its engine
//! holds `Unavailable` instead: a call through it is a bug in Sluice, and it fails
//! with a reason that says so, before any request leaves the function, rather than
//! with an `AccessDenied` from AWS.

use std::collections::HashMap;

use sluice_core::BuildId;
use sluice_core::site::{LiveObject, SitePlan};

use crate::aws::AwsError;
use crate::builder::{BuildReport, BuildRequest, Builder, StartedBuild};
use crate::commits::{ChangedFiles, CommitInfo, CommitReader};
use crate::deployer::{
    ChangeSetSpec, ChangeSetState, Deployer, ResourceFailure, StackInfo, Target,
};
use crate::site::{SiteDeployFailed, SiteDeployed, SiteSource};

/// Stands in for a client this function was not given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unavailable;

/// The error code of a call through [`Unavailable`].
pub const NOT_GIVEN: &str = "Sluice.CapabilityNotGiven";

fn refused(operation: &'static str) -> AwsError {
    AwsError::service(
        operation,
        NOT_GIVEN,
        "this function was not given this capability, because none of its events should \
         need it; this is a bug in Sluice: report it with the event from the failed-events queue",
        false,
    )
}

impl Builder for Unavailable {
    async fn start_build(&self, _: BuildRequest) -> Result<StartedBuild, AwsError> {
        Err(refused("CodeBuild StartBuild"))
    }

    async fn builds(&self, _: Vec<BuildId>) -> Result<Vec<BuildReport>, AwsError> {
        Err(refused("CodeBuild BatchGetBuilds"))
    }

    async fn stop_build(&self, _: &BuildId) -> Result<(), AwsError> {
        Err(refused("CodeBuild StopBuild"))
    }

    async fn find_build(&self, _: &str, _: &str) -> Result<Option<StartedBuild>, AwsError> {
        Err(refused("CodeBuild ListBuildsForProject"))
    }
}

impl Deployer for Unavailable {
    async fn stack(&self, _: Target<'_>) -> Result<Option<StackInfo>, AwsError> {
        Err(refused("CloudFormation DescribeStacks"))
    }

    async fn create_change_set(
        &self,
        _: Target<'_>,
        _: &ChangeSetSpec,
    ) -> Result<String, AwsError> {
        Err(refused("CloudFormation CreateChangeSet"))
    }

    async fn change_set(&self, _: Target<'_>, _: &str) -> Result<ChangeSetState, AwsError> {
        Err(refused("CloudFormation DescribeChangeSet"))
    }

    async fn execute_change_set(&self, _: Target<'_>, _: &str) -> Result<(), AwsError> {
        Err(refused("CloudFormation ExecuteChangeSet"))
    }

    async fn delete_stack(&self, _: Target<'_>, _: Option<&str>) -> Result<(), AwsError> {
        Err(refused("CloudFormation DeleteStack"))
    }

    async fn delete_change_set(&self, _: Target<'_>, _: &str) -> Result<(), AwsError> {
        Err(refused("CloudFormation DeleteChangeSet"))
    }

    async fn first_failure(&self, _: Target<'_>) -> Result<Option<ResourceFailure>, AwsError> {
        Err(refused("CloudFormation DescribeStackEvents"))
    }

    async fn site_objects(&self, _: Option<&str>, _: &str) -> Result<Vec<LiveObject>, AwsError> {
        Err(refused("S3 ListObjectsV2"))
    }

    async fn deploy_site(
        &self,
        _: Option<&str>,
        _: &str,
        _: &SitePlan,
        _: &HashMap<String, SiteSource>,
    ) -> Result<SiteDeployed, SiteDeployFailed> {
        Err(SiteDeployFailed {
            step: "the first upload".into(),
            uploaded: 0,
            deleted: 0,
            source: refused("S3 CopyObject"),
        })
    }

    async fn invalidate(
        &self,
        _: Option<&str>,
        _: &str,
        _: &[String],
        _: &str,
    ) -> Result<String, AwsError> {
        Err(refused("CloudFront CreateInvalidation"))
    }

    async fn alarm_states(
        &self,
        _: &[String],
    ) -> Result<Vec<crate::deployer::AlarmState>, AwsError> {
        Err(refused("CloudWatch DescribeAlarms"))
    }
}

impl CommitReader for Unavailable {
    async fn commit(&self, _: &str, _: &str) -> Result<CommitInfo, AwsError> {
        Err(refused("CodeCommit GetCommit"))
    }

    async fn branch_head(&self, _: &str, _: &str) -> Result<Option<String>, AwsError> {
        Err(refused("CodeCommit GetBranch"))
    }

    async fn merge_base(&self, _: &str, _: &str, _: &str) -> Result<Option<String>, AwsError> {
        Err(refused("CodeCommit GetMergeCommit"))
    }

    async fn find_changed_file(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: &(dyn Fn(&str) -> bool + Send + Sync),
    ) -> Result<ChangedFiles, AwsError> {
        Err(refused("CodeCommit GetDifferences"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_without_the_capability_fails_at_once_and_says_why() {
        let target = Target {
            stack_name: "app-staging",
            role_arn: None,
        };
        let err = Unavailable
            .execute_change_set(target, "sluice-1")
            .await
            .expect_err("no deployer was given");
        assert!(!err.retryable, "a retry cannot give the function a client");
        assert_eq!(err.code.as_deref(), Some(NOT_GIVEN));
        assert!(err.to_string().contains("ExecuteChangeSet"), "{err}");
        assert!(err.to_string().contains("bug in Sluice"), "{err}");
    }
}
