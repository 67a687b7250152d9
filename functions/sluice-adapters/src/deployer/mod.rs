//! Deployments: change sets and stacks (CloudFormation), optionally in another
//! account through an assumed role.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use sluice_core::site::{LiveObject, SitePlan};
use sluice_core::{Cause, ChangeSetId, ResourceChange, Stage};

use crate::aws::AwsError;
use crate::site::{SiteDeployFailed, SiteDeployed, SiteSource};

/// The stack a call is about, and the role to assume in its account, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target<'a> {
    pub stack_name: &'a str,
    pub role_arn: Option<&'a str>,
}

impl<'a> From<&'a Stage> for Target<'a> {
    /// The stack a stage deploys, through the stage's role.
    fn from(stage: &'a Stage) -> Self {
        Self {
            stack_name: &stage.stack_name,
            role_arn: stage.role_arn.as_deref(),
        }
    }
}

/// Where CloudFormation reads the template from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Template {
    Body(String),
    Url(String),
}

/// A change set to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeSetSpec {
    pub change_set_name: String,
    pub template: Template,
    pub parameters: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// The role CloudFormation uses to change resources.
    pub execution_role_arn: Option<String>,
    pub description: String,
}

/// Where a change set stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeSetState {
    /// CloudFormation is still working out the changes.
    Pending,
    Ready {
        id: ChangeSetId,
        changes: Vec<ResourceChange>,
    },
    /// Nothing to change: the stack already matches.
    Empty {
        id: ChangeSetId,
    },
    Failed {
        id: ChangeSetId,
        reason: String,
    },
    /// Executing or executed already.
    Executed {
        id: ChangeSetId,
        outcome: ExecutionOutcome,
    },
    Missing,
}

/// How the execution of a change set went, as far as CloudFormation knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecutionOutcome {
    /// The stack is being updated from it.
    Running,
    /// The stack operation it started completed.
    Succeeded,
    /// The stack operation failed or rolled back.
    Failed,
    /// Another change set of the stack was executed, so this one never will be.
    Obsolete,
}

pub use aws_sdk_cloudformation::types::StackStatus;

/// A stack's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackInfo {
    pub id: String,
    pub status: StackStatus,
    pub reason: Option<String>,
    pub outputs: BTreeMap<String, String>,
}

impl StackInfo {
    /// Whether the stack is busy with an operation, and refuses another until it
    /// ends. A stack in `REVIEW_IN_PROGRESS` (created by a change set never
    /// executed) is not: it takes change sets.
    pub fn busy(&self) -> bool {
        self.status.as_str().ends_with("_IN_PROGRESS")
            && self.status != StackStatus::ReviewInProgress
    }
}

/// Creates, inspects and executes change sets.
pub trait Deployer: Clone + Send + Sync + 'static {
    fn stack(
        &self,
        target: Target<'_>,
    ) -> impl Future<Output = Result<Option<StackInfo>, AwsError>> + Send;

    /// Creates the change set (CREATE for a new stack, or one left in
    /// `REVIEW_IN_PROGRESS`, else UPDATE) and returns its id. An existing change
    /// set of the same name is taken as already created.
    fn create_change_set(
        &self,
        target: Target<'_>,
        spec: &ChangeSetSpec,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// The change set's state, with every page of its changes.
    fn change_set(
        &self,
        target: Target<'_>,
        name: &str,
    ) -> impl Future<Output = Result<ChangeSetState, AwsError>> + Send;

    fn execute_change_set(
        &self,
        target: Target<'_>,
        name: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Deletes the stack, through CloudFormation's role `role_arn` if given; one that
    /// is already gone is fine. Sluice deletes only a stack its failed first deploy
    /// left in `ROLLBACK_COMPLETE`, which takes no change set until it is gone.
    fn delete_stack(
        &self,
        target: Target<'_>,
        role_arn: Option<&str>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Deletes the change set; one that is already gone is fine.
    fn delete_change_set(
        &self,
        target: Target<'_>,
        name: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// The first resource that failed in the stack's latest operation, with reason.
    fn first_failure(
        &self,
        target: Target<'_>,
    ) -> impl Future<Output = Result<Option<ResourceFailure>, AwsError>> + Send;

    /// Every object a site stage's `bucket` holds, read through `role_arn`.
    fn site_objects(
        &self,
        role_arn: Option<&str>,
        bucket: &str,
    ) -> impl Future<Output = Result<Vec<LiveObject>, AwsError>> + Send;

    /// Carries out a site stage's `plan` on `bucket` through `role_arn`, copying each
    /// file from `sources`, in the plan's order, stopping at the first failure.
    fn deploy_site(
        &self,
        role_arn: Option<&str>,
        bucket: &str,
        plan: &SitePlan,
        sources: &HashMap<String, SiteSource>,
    ) -> impl Future<Output = Result<SiteDeployed, SiteDeployFailed>> + Send;

    /// Asks CloudFront to drop `paths` from `distribution`'s caches; the same
    /// `caller_reference` again is the same request. Returns the invalidation's id.
    fn invalidate(
        &self,
        role_arn: Option<&str>,
        distribution: &str,
        paths: &[String],
        caller_reference: &str,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// The states of the CloudWatch alarms `names` that exist (in Sluice's account).
    fn alarm_states(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<AlarmState>, AwsError>> + Send;
}

/// One CloudWatch alarm's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmState {
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    /// CloudWatch's reason for the state.
    pub reason: Option<String>,
}

impl AlarmState {
    /// Whether the alarm is in `ALARM`.
    pub fn firing(&self) -> bool {
        self.state == "ALARM"
    }
}

/// A resource's failure as CloudFormation recorded it, and its cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceFailure {
    /// `<logical id> (<type>): <CloudFormation's reason>`.
    pub reason: String,
    pub cause: Cause,
}

/// CloudFormation's `HandlerErrorCode`s that say the service, not the request, failed
/// (the resource provider contract's codes).
const HANDLER_CODES_OF_THE_MOMENT: [&str; 4] = [
    "Throttling",
    "ServiceInternalError",
    "NetworkFailure",
    "InternalFailure",
];

impl ResourceFailure {
    /// The failure `reason` records, with the cause read from the fields CloudFormation
    /// puts in it: the resource handler's `HandlerErrorCode` and the called service's
    /// `Status Code` (429 or 5xx is the moment's); without either, it is the change's.
    pub fn from_reason(reason: String) -> Self {
        let field = |name: &str| {
            let at = reason.find(name)? + name.len();
            let value = &reason[at..];
            let end = value
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(value.len());
            Some(&value[..end])
        };
        let handler = field("HandlerErrorCode: ")
            .is_some_and(|code| HANDLER_CODES_OF_THE_MOMENT.contains(&code));
        let status = field("Status Code: ")
            .and_then(|code| code.parse::<u16>().ok())
            .is_some_and(|code| code == 429 || (500..=599).contains(&code));
        let cause = if handler || status {
            Cause::Moment
        } else {
            Cause::Change
        };
        Self { reason, cause }
    }
}

/// The first failure of a stack's latest operation, found over pages of its events,
/// newest first: the oldest failed event (not a cancellation) after the stack's own
/// `*_IN_PROGRESS` event that began the operation.
#[derive(Default)]
struct FirstFailure {
    first: Option<String>,
}

impl FirstFailure {
    /// Reads one page; true once the operation's beginning was found.
    fn page(&mut self, events: &[aws_sdk_cloudformation::types::StackEvent], stack: &str) -> bool {
        for event in events {
            let status = event
                .resource_status()
                .map(|s| s.as_str())
                .unwrap_or_default();
            let logical = event.logical_resource_id().unwrap_or_default();
            let is_stack = logical == stack;
            if is_stack && matches!(status, "CREATE_IN_PROGRESS" | "UPDATE_IN_PROGRESS") {
                return true;
            }
            if !is_stack && status.ends_with("_FAILED") {
                let reason = event.resource_status_reason().unwrap_or("no reason given");
                if !reason.contains("Resource creation cancelled")
                    && !reason.contains("Resource update cancelled")
                {
                    self.first = Some(format!(
                        "{logical} ({}): {reason}",
                        event.resource_type().unwrap_or("resource")
                    ));
                }
            }
        }
        false
    }
}

mod changes;
mod cloudformation;
#[cfg(test)]
mod tests;

pub use changes::{Described, NestedChangeSets, means_no_changes, with_nested};
pub use cloudformation::CloudFormation;
