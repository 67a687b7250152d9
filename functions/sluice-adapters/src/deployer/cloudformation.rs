//! The CloudFormation implementation of [`Deployer`]: per-account clients, and each call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, ExecutionStatus, Parameter, Tag,
};
use sluice_core::ChangeSetId;
use sluice_core::site::{LiveObject, SitePlan};

use super::changes::to_change;
use super::{
    AlarmState, ChangeSetSpec, ChangeSetState, Deployer, ExecutionOutcome, FirstFailure,
    ResourceFailure, StackInfo, StackStatus, Target, Template, means_no_changes, with_nested,
};
use crate::aws::AwsError;
use crate::site::{S3Site, SiteDeployFailed, SiteDeployed, SiteSource};

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
                .cloned()
                .unwrap_or_else(|| StackStatus::from("")),
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
            let id = ChangeSetId::stack(output.change_set_id().unwrap_or(name));
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

    async fn first_failure(&self, target: Target<'_>) -> Result<Option<ResourceFailure>, AwsError> {
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
        Ok(scan.first.map(ResourceFailure::from_reason))
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
