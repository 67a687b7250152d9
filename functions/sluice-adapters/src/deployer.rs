//! Deployments: change sets and stacks (CloudFormation), optionally in another
//! account through an assumed role.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, ExecutionStatus, Parameter, Tag,
};
use sluice_core::site::{LiveObject, SitePlan};
use sluice_core::{ChangeAction, Replacement, ResourceChange, Stage};

use crate::aws::AwsError;
use crate::site::{S3Site, SiteDeployFailed, SiteDeployed, SiteSource};

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
        id: String,
        changes: Vec<ResourceChange>,
    },
    /// Nothing to change: the stack already matches.
    Empty {
        id: String,
    },
    Failed {
        id: String,
        reason: String,
    },
    /// Executing or executed already.
    Executed {
        id: String,
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

/// A stack's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackInfo {
    pub id: String,
    pub status: String,
    pub reason: Option<String>,
    pub outputs: BTreeMap<String, String>,
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
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;

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

/// The clients of one account: CloudFormation for stacks, S3 for sites' buckets.
#[derive(Clone, Debug)]
struct Clients {
    cloudformation: aws_sdk_cloudformation::Client,
    site: S3Site,
    cloudfront: aws_sdk_cloudfront::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
}

impl Clients {
    fn new(config: &SdkConfig) -> Self {
        Self {
            cloudformation: aws_sdk_cloudformation::Client::from_conf(
                aws_sdk_cloudformation::config::Builder::from(config)
                    .interceptor(crate::aws::CountCalls)
                    .build(),
            ),
            site: S3Site::new(crate::aws::s3_client(config)),
            cloudfront: aws_sdk_cloudfront::Client::from_conf(
                aws_sdk_cloudfront::config::Builder::from(config)
                    .interceptor(crate::aws::CountCalls)
                    .build(),
            ),
            cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(config)
                    .interceptor(crate::aws::CountCalls)
                    .build(),
            ),
        }
    }
}

/// CloudFormation (and S3 for site stages), through Sluice's own credentials or an
/// assumed role per target.
#[derive(Clone, Debug)]
pub struct CloudFormation {
    config: SdkConfig,
    own: Clients,
    assumed: Arc<Mutex<HashMap<String, Clients>>>,
}

impl CloudFormation {
    /// Clients built from `config`.
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            config: config.clone(),
            own: Clients::new(config),
            assumed: Arc::default(),
        }
    }

    async fn clients(&self, role_arn: Option<&str>) -> Clients {
        let Some(role) = role_arn else {
            return self.own.clone();
        };
        if let Some(clients) = self.lock().get(role) {
            return clients.clone();
        }
        let provider = aws_config::sts::AssumeRoleProvider::builder(role)
            .session_name("sluice")
            .configure(&self.config)
            .build()
            .await;
        let config = self
            .config
            .to_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(provider),
            )
            .build();
        let clients = Clients::new(&config);
        self.lock().insert(role.to_owned(), clients.clone());
        clients
    }

    async fn client(&self, role_arn: Option<&str>) -> aws_sdk_cloudformation::Client {
        self.clients(role_arn).await.cloudformation
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Clients>> {
        self.assumed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How many pages of a stack's events are read back to find its latest operation's
/// first failure: enough for hundreds of resources, bounded for a stack with a long
/// history whose operation began further back than that.
const STACK_EVENT_PAGES: usize = 10;

fn is_missing_stack(err: &AwsError) -> bool {
    err.code.as_deref() == Some("ValidationError")
        && err
            .message
            .as_deref()
            .is_some_and(|m| m.contains("does not exist"))
}

fn is_missing_change_set(err: &AwsError) -> bool {
    matches!(
        err.code.as_deref(),
        Some("ChangeSetNotFound" | "ChangeSetNotFoundException")
    ) || is_missing_stack(err)
}

/// CloudFormation's way of saying a change set is empty.
pub fn means_no_changes(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

/// How deep nested stacks are followed, and how many changes are kept in all: a
/// stack holds at most 500 resources, and the approval lists every change.
const NESTED_DEPTH: usize = 5;
const CHANGES_MAX: usize = 2_000;

/// A change, and the change set of the nested stack it is, if it is one.
pub type Described = (ResourceChange, Option<String>);

/// Where a nested stack's change set is described: CloudFormation, or a test's map.
pub trait NestedChangeSets: Sync {
    /// The changes of the nested stack's change set `id`.
    fn describe(&self, id: &str) -> impl Future<Output = Result<Vec<Described>, AwsError>> + Send;
}

/// Every change of a change set, each nested stack's changes right after the stack's
/// own, at most `NESTED_DEPTH` stacks deep and `CHANGES_MAX` changes in all.
pub async fn with_nested<N: NestedChangeSets>(
    top: Vec<Described>,
    nested: &N,
) -> Result<Vec<ResourceChange>, AwsError> {
    let mut out = Vec::new();
    // Depth first, in CloudFormation's order: a stack of what is left to list.
    let mut pending: Vec<(Described, Option<String>, usize)> =
        top.into_iter().rev().map(|d| (d, None, 0)).collect();
    while let Some(((mut change, inner), stack, depth)) = pending.pop() {
        if out.len() >= CHANGES_MAX {
            break;
        }
        change.stack = stack;
        if let Some(id) = inner.filter(|_| depth < NESTED_DEPTH) {
            let path = change.path();
            let inner = nested.describe(&id).await?;
            pending.extend(
                inner
                    .into_iter()
                    .rev()
                    .map(|d| (d, Some(path.clone()), depth + 1)),
            );
        }
        out.push(change);
    }
    Ok(out)
}

fn to_change(change: &aws_sdk_cloudformation::types::Change) -> Option<Described> {
    use aws_sdk_cloudformation::types::{ChangeAction as A, Replacement as R};
    let rc = change.resource_change()?;
    let action = match rc.action()? {
        A::Add => ChangeAction::Add,
        A::Modify => ChangeAction::Modify,
        A::Remove => ChangeAction::Remove,
        A::Import => ChangeAction::Import,
        _ => ChangeAction::Dynamic,
    };
    let replacement = match rc.replacement() {
        Some(R::True) => Replacement::Always,
        Some(R::Conditional) => Replacement::Conditional,
        _ => Replacement::Never,
    };
    let nested = rc
        .change_set_id()
        .filter(|_| rc.resource_type() == Some("AWS::CloudFormation::Stack"))
        .map(str::to_owned);
    let change = ResourceChange {
        logical_id: rc.logical_resource_id().unwrap_or("?").to_owned(),
        resource_type: rc.resource_type().unwrap_or("?").to_owned(),
        action,
        replacement,
        stack: None,
    };
    Some((change, nested))
}

impl NestedChangeSets for aws_sdk_cloudformation::Client {
    async fn describe(&self, id: &str) -> Result<Vec<Described>, AwsError> {
        nested_changes(self, id).await
    }
}

/// The changes of a nested stack's change set, named by its id.
async fn nested_changes(
    client: &aws_sdk_cloudformation::Client,
    id: &str,
) -> Result<Vec<Described>, AwsError> {
    let mut changes = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let output = client
            .describe_change_set()
            .change_set_name(id)
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeChangeSet", e))?;
        changes.extend(output.changes().iter().filter_map(to_change));
        match output.next_token() {
            Some(token) if !token.is_empty() && changes.len() < CHANGES_MAX => {
                next_token = Some(token.to_owned());
            }
            _ => return Ok(changes),
        }
    }
}

impl Deployer for CloudFormation {
    async fn stack(&self, target: Target<'_>) -> Result<Option<StackInfo>, AwsError> {
        let client = self.client(target.role_arn).await;
        let output = match client
            .describe_stacks()
            .stack_name(target.stack_name)
            .send()
            .await
        {
            Ok(output) => output,
            Err(e) => {
                let err = AwsError::from_sdk("DescribeStacks", e);
                return if is_missing_stack(&err) {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        Ok(output.stacks().first().map(|s| StackInfo {
            id: s.stack_id().unwrap_or_default().to_owned(),
            status: s
                .stack_status()
                .map(|x| x.as_str().to_owned())
                .unwrap_or_default(),
            reason: s.stack_status_reason().map(str::to_owned),
            outputs: s
                .outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
                .collect(),
        }))
    }

    async fn create_change_set(
        &self,
        target: Target<'_>,
        spec: &ChangeSetSpec,
    ) -> Result<String, AwsError> {
        let kind = match self.stack(target).await? {
            None => ChangeSetType::Create,
            // A stack deleted (as one a failed first deploy left behind is) is created
            // anew; AWS no longer finds it by name, the emulator may.
            Some(s) if matches!(s.status.as_str(), "REVIEW_IN_PROGRESS" | "DELETE_COMPLETE") => {
                ChangeSetType::Create
            }
            Some(_) => ChangeSetType::Update,
        };
        let client = self.client(target.role_arn).await;
        let mut call = client
            .create_change_set()
            .stack_name(target.stack_name)
            .change_set_name(&spec.change_set_name)
            .change_set_type(kind)
            .description(&spec.description)
            .capabilities(Capability::CapabilityIam)
            .capabilities(Capability::CapabilityNamedIam)
            .capabilities(Capability::CapabilityAutoExpand)
            // Each nested stack gets its change set, so the approval shows what
            // changes inside it, not only that the stack does.
            .include_nested_stacks(true)
            .set_role_arn(spec.execution_role_arn.clone());
        call = match &spec.template {
            Template::Body(body) => call.template_body(body),
            Template::Url(url) => call.template_url(url),
        };
        for (key, value) in &spec.parameters {
            call = call.parameters(
                Parameter::builder()
                    .parameter_key(key)
                    .parameter_value(value)
                    .build(),
            );
        }
        for (key, value) in &spec.tags {
            call = call.tags(Tag::builder().key(key).value(value).build());
        }
        match call.send().await {
            Ok(output) => Ok(output.id().unwrap_or(&spec.change_set_name).to_owned()),
            Err(e) => {
                let err = AwsError::from_sdk("CreateChangeSet", e);
                if matches!(
                    err.code.as_deref(),
                    Some("AlreadyExistsException" | "AlreadyExists")
                ) {
                    Ok(spec.change_set_name.clone())
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn change_set(&self, target: Target<'_>, name: &str) -> Result<ChangeSetState, AwsError> {
        let client = self.client(target.role_arn).await;
        let mut changes = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let output = match client
                .describe_change_set()
                .stack_name(target.stack_name)
                .change_set_name(name)
                .set_next_token(next_token.take())
                .send()
                .await
            {
                Ok(output) => output,
                Err(e) => {
                    let err = AwsError::from_sdk("DescribeChangeSet", e);
                    return if is_missing_change_set(&err) {
                        Ok(ChangeSetState::Missing)
                    } else {
                        Err(err)
                    };
                }
            };
            changes.extend(output.changes().iter().filter_map(to_change));
            let id = output.change_set_id().unwrap_or(name).to_owned();
            match output.status() {
                Some(ChangeSetStatus::CreatePending | ChangeSetStatus::CreateInProgress) | None => {
                    return Ok(ChangeSetState::Pending);
                }
                Some(ChangeSetStatus::Failed) => {
                    let reason = output
                        .status_reason()
                        .unwrap_or("no reason given")
                        .to_owned();
                    return Ok(if means_no_changes(&reason) {
                        ChangeSetState::Empty { id }
                    } else {
                        ChangeSetState::Failed { id, reason }
                    });
                }
                Some(ChangeSetStatus::DeleteComplete | ChangeSetStatus::DeletePending) => {
                    return Ok(ChangeSetState::Missing);
                }
                _ => {}
            }
            let outcome = match output.execution_status() {
                Some(ExecutionStatus::Available) | None => None,
                Some(ExecutionStatus::ExecuteComplete) => Some(ExecutionOutcome::Succeeded),
                Some(ExecutionStatus::ExecuteFailed) => Some(ExecutionOutcome::Failed),
                Some(ExecutionStatus::Obsolete) => Some(ExecutionOutcome::Obsolete),
                Some(_) => Some(ExecutionOutcome::Running),
            };
            if let Some(outcome) = outcome {
                return Ok(ChangeSetState::Executed { id, outcome });
            }
            match output.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
                _ => {
                    // Boxed: described nested change sets make a large future.
                    let changes = Box::pin(with_nested(changes, &client)).await?;
                    return Ok(ChangeSetState::Ready { id, changes });
                }
            }
        }
    }

    async fn execute_change_set(&self, target: Target<'_>, name: &str) -> Result<(), AwsError> {
        self.client(target.role_arn)
            .await
            .execute_change_set()
            .stack_name(target.stack_name)
            .change_set_name(name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("ExecuteChangeSet", e))
    }

    async fn delete_stack(
        &self,
        target: Target<'_>,
        role_arn: Option<&str>,
    ) -> Result<(), AwsError> {
        match self
            .client(target.role_arn)
            .await
            .delete_stack()
            .stack_name(target.stack_name)
            .set_role_arn(role_arn.map(str::to_owned))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = AwsError::from_sdk("DeleteStack", e);
                if is_missing_stack(&err) {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn delete_change_set(&self, target: Target<'_>, name: &str) -> Result<(), AwsError> {
        match self
            .client(target.role_arn)
            .await
            .delete_change_set()
            .stack_name(target.stack_name)
            .change_set_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = AwsError::from_sdk("DeleteChangeSet", e);
                if is_missing_change_set(&err) {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn first_failure(&self, target: Target<'_>) -> Result<Option<String>, AwsError> {
        let client = self.client(target.role_arn).await;
        // Events come newest first, a page at a time (a large stack's failed update
        // fills several). The latest operation began at the stack's own *_IN_PROGRESS
        // event; its first failure is the oldest failed event after it.
        let mut pages = client
            .describe_stack_events()
            .stack_name(target.stack_name)
            .into_paginator()
            .send();
        let mut scan = FirstFailure::default();
        for _ in 0..STACK_EVENT_PAGES {
            let Some(page) = pages.next().await else {
                break;
            };
            let page = page.map_err(|e| AwsError::from_sdk("DescribeStackEvents", e))?;
            if scan.page(page.stack_events(), target.stack_name) {
                break;
            }
        }
        Ok(scan.first)
    }

    async fn site_objects(
        &self,
        role_arn: Option<&str>,
        bucket: &str,
    ) -> Result<Vec<LiveObject>, AwsError> {
        self.clients(role_arn)
            .await
            .site
            .live_objects(bucket, "")
            .await
    }

    async fn deploy_site(
        &self,
        role_arn: Option<&str>,
        bucket: &str,
        plan: &SitePlan,
        sources: &HashMap<String, SiteSource>,
    ) -> Result<SiteDeployed, SiteDeployFailed> {
        self.clients(role_arn)
            .await
            .site
            .deploy(bucket, plan, sources)
            .await
    }

    async fn invalidate(
        &self,
        role_arn: Option<&str>,
        distribution: &str,
        paths: &[String],
        caller_reference: &str,
    ) -> Result<String, AwsError> {
        use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
        let invalid = |e: aws_sdk_cloudfront::error::BuildError| {
            AwsError::invalid_response("CreateInvalidation", e.to_string())
        };
        let count = i32::try_from(paths.len()).unwrap_or(i32::MAX);
        let batch = InvalidationBatch::builder()
            .paths(
                Paths::builder()
                    .quantity(count)
                    .set_items(Some(paths.to_vec()))
                    .build()
                    .map_err(invalid)?,
            )
            .caller_reference(caller_reference)
            .build()
            .map_err(invalid)?;
        let out = self
            .clients(role_arn)
            .await
            .cloudfront
            .create_invalidation()
            .distribution_id(distribution)
            .invalidation_batch(batch)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("CreateInvalidation", e))?;
        Ok(out
            .invalidation()
            .map(|i| i.id().to_owned())
            .unwrap_or_default())
    }

    async fn alarm_states(&self, names: &[String]) -> Result<Vec<AlarmState>, AwsError> {
        let mut states = Vec::new();
        // DescribeAlarms takes at most 100 names a call.
        for chunk in names.chunks(100) {
            let out = self
                .own
                .cloudwatch
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .alarm_types(aws_sdk_cloudwatch::types::AlarmType::MetricAlarm)
                .alarm_types(aws_sdk_cloudwatch::types::AlarmType::CompositeAlarm)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DescribeAlarms", e))?;
            let metric = out
                .metric_alarms()
                .iter()
                .map(|a| (a.alarm_name(), a.state_value(), a.state_reason()));
            let composite = out
                .composite_alarms()
                .iter()
                .map(|a| (a.alarm_name(), a.state_value(), a.state_reason()));
            states.extend(metric.chain(composite).filter_map(|(name, state, reason)| {
                Some(AlarmState {
                    name: name?.to_owned(),
                    state: state?.as_str().to_owned(),
                    reason: reason.map(str::to_owned),
                })
            }));
        }
        Ok(states)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A large stack's failed update fills more than one page of events: the first
    /// failure is on a later page than the newest ones (issue 35, finding 10).
    #[test]
    fn the_first_failure_is_found_on_a_later_page_of_stack_events() {
        use aws_sdk_cloudformation::types::{ResourceStatus, StackEvent};
        let event = |logical: &str, status: ResourceStatus, reason: &str| {
            StackEvent::builder()
                .logical_resource_id(logical)
                .resource_type("AWS::Lambda::Function")
                .resource_status(status)
                .resource_status_reason(reason)
                .build()
        };
        let newest = [
            event(
                "hello-production",
                ResourceStatus::UpdateRollbackInProgress,
                "",
            ),
            event(
                "B",
                ResourceStatus::UpdateFailed,
                "Resource update cancelled",
            ),
            event("A", ResourceStatus::UpdateFailed, "a later failure"),
        ];
        let older = [
            event("C", ResourceStatus::UpdateFailed, "the first failure"),
            event("C", ResourceStatus::UpdateInProgress, ""),
            event("hello-production", ResourceStatus::UpdateInProgress, ""),
            event(
                "D",
                ResourceStatus::UpdateFailed,
                "a failure of an earlier update",
            ),
        ];
        let mut scan = FirstFailure::default();
        assert!(!scan.page(&newest, "hello-production"));
        // One page only would say A.
        assert_eq!(
            scan.first.as_deref(),
            Some("A (AWS::Lambda::Function): a later failure")
        );
        assert!(scan.page(&older, "hello-production"));
        assert_eq!(
            scan.first.as_deref(),
            Some("C (AWS::Lambda::Function): the first failure")
        );
    }

    fn change(id: &str, kind: &str, action: ChangeAction) -> ResourceChange {
        ResourceChange {
            logical_id: id.into(),
            resource_type: kind.into(),
            action,
            replacement: Replacement::Never,
            stack: None,
        }
    }

    /// Nested change sets by id, as CloudFormation describes them.
    struct Nested(BTreeMap<&'static str, Vec<Described>>);

    impl NestedChangeSets for Nested {
        async fn describe(&self, id: &str) -> Result<Vec<Described>, AwsError> {
            self.0.get(id).cloned().ok_or_else(|| {
                AwsError::service("DescribeChangeSet", "ChangeSetNotFound", id, false)
            })
        }
    }

    #[tokio::test]
    async fn a_nested_stacks_changes_are_listed_under_it_in_order() {
        const STACK: &str = "AWS::CloudFormation::Stack";
        let top = vec![
            (
                change("Api", STACK, ChangeAction::Modify),
                Some("cs-api".to_owned()),
            ),
            (
                change("Table", "AWS::DynamoDB::Table", ChangeAction::Add),
                None,
            ),
        ];
        let mut replaced = change("Fn", "AWS::Lambda::Function", ChangeAction::Modify);
        replaced.replacement = Replacement::Always;
        let nested = Nested(BTreeMap::from([
            (
                "cs-api",
                vec![
                    (replaced, None),
                    (
                        change("Inner", STACK, ChangeAction::Add),
                        Some("cs-inner".into()),
                    ),
                ],
            ),
            (
                "cs-inner",
                vec![(change("Queue", "AWS::SQS::Queue", ChangeAction::Add), None)],
            ),
        ]));
        let listed = with_nested(top, &nested).await.unwrap();
        let paths: Vec<String> = listed.iter().map(ResourceChange::path).collect();
        assert_eq!(
            paths,
            ["Api", "Api/Fn", "Api/Inner", "Api/Inner/Queue", "Table"]
        );
        assert_eq!(listed[1].replacement, Replacement::Always);
        assert_eq!(listed[1].stack.as_deref(), Some("Api"));
        // A nested change set that cannot be described is not silently left out.
        let missing = vec![(
            change("Api", STACK, ChangeAction::Modify),
            Some("gone".into()),
        )];
        assert!(with_nested(missing, &nested).await.is_err());
    }
}
