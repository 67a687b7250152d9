//! The CloudFormation fake's [`Deployer`] calls.

use std::collections::HashMap;

use sluice_core::site::{LiveObject, SitePlan};
use sluice_core::{ChangeAction, ChangeSetId, Replacement, ResourceChange};

use crate::aws::AwsError;
use crate::deployer::{
    ChangeSetSpec, ChangeSetState, Deployer, ExecutionOutcome, ResourceFailure, StackInfo,
    StackStatus, Target,
};
use crate::memory::lock;
use crate::site::{SiteDeployFailed, SiteDeployed, SiteSource};

use super::{
    FAIL_CHANGE_SET, FakeChangeSet, FakeStack, MemoryDeployer, SiteFake, TOLD_TO_FAIL,
    template_text,
};

impl Deployer for MemoryDeployer {
    async fn stack(&self, target: Target<'_>) -> Result<Option<StackInfo>, AwsError> {
        self.faults.check("DescribeStacks")?;
        let cfn = lock(&self.cfn);
        let outputs = cfn.outputs.get(target.stack_name);
        let info = match cfn.stacks.get(target.stack_name) {
            Some(s) => StackInfo {
                id: s.id.clone(),
                status: StackStatus::from(s.status.as_str()),
                reason: None,
                outputs: outputs.cloned().unwrap_or_default(),
            },
            // A stack a test gave outputs exists, deployed by someone else.
            None => match outputs {
                Some(outputs) => StackInfo {
                    id: format!("stack/{}", target.stack_name),
                    status: StackStatus::UpdateComplete,
                    reason: None,
                    outputs: outputs.clone(),
                },
                None => return Ok(None),
            },
        };
        Ok(Some(info))
    }

    async fn create_change_set(
        &self,
        target: Target<'_>,
        spec: &ChangeSetSpec,
    ) -> Result<String, AwsError> {
        self.faults.check("CreateChangeSet")?;
        let mut cfn = lock(&self.cfn);
        let stack = target.stack_name.to_owned();
        if let Some(existing) = cfn.change_set(&stack, &spec.change_set_name) {
            return Ok(existing.id.clone());
        }
        // As CloudFormation: a stack whose creation rolled back takes no change set,
        // UPDATE or CREATE, until it is deleted; nor does one busy with an update.
        // https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/troubleshooting.html#troubleshooting-errors-update-rollback-failed
        if let Some(s) = cfn.stacks.get(&stack)
            && (s.status == "ROLLBACK_COMPLETE" || cfn.other_operations.contains(&stack))
        {
            return Err(AwsError::service(
                "CreateChangeSet",
                "ValidationError",
                &format!(
                    "Stack:{} is in {} state and can not be updated.",
                    s.id, s.status
                ),
                false,
            ));
        }
        cfn.next += 1;
        let n = cfn.next;
        let stack_id = format!("arn:aws:cloudformation:us-east-1:123456789012:stack/{stack}/{n}");
        let current = cfn
            .stacks
            .entry(stack.clone())
            .or_insert_with(|| FakeStack {
                id: stack_id,
                status: "REVIEW_IN_PROGRESS".into(),
                template: None,
                executing: None,
            })
            .template
            .clone();
        let template = template_text(spec);
        let id = ChangeSetId::stack(format!(
            "arn:aws:cloudformation:us-east-1:123456789012:changeSet/{}/{n}",
            spec.change_set_name
        ));
        let state = if template.contains(FAIL_CHANGE_SET) {
            ChangeSetState::Failed {
                id: id.clone(),
                reason: "Template format error: the fake was told to fail".into(),
            }
        } else if current.as_deref() == Some(template.as_str()) {
            ChangeSetState::Empty { id: id.clone() }
        } else {
            ChangeSetState::Ready {
                id: id.clone(),
                changes: std::iter::once(ResourceChange {
                    logical_id: "HelloFunction".into(),
                    resource_type: "AWS::Lambda::Function".into(),
                    action: if current.is_some() {
                        ChangeAction::Modify
                    } else {
                        ChangeAction::Add
                    },
                    replacement: Replacement::Never,
                    stack: None,
                })
                .chain(cfn.nested.get(&stack).cloned().unwrap_or_default())
                .collect(),
            }
        };
        let worked_out = !cfn.slow;
        cfn.change_sets.push(FakeChangeSet {
            id: id.to_string(),
            name: spec.change_set_name.clone(),
            stack,
            template,
            state,
            worked_out,
            execution: None,
        });
        drop(cfn);
        self.faults.check_after("CreateChangeSet")?;
        Ok(id.to_string())
    }

    async fn change_set(&self, target: Target<'_>, name: &str) -> Result<ChangeSetState, AwsError> {
        self.faults.check("DescribeChangeSet")?;
        let mut cfn = lock(&self.cfn);
        let Some(c) = cfn.change_set(target.stack_name, name) else {
            return Ok(ChangeSetState::Missing);
        };
        if !c.worked_out {
            return Ok(ChangeSetState::Pending);
        }
        Ok(match c.execution {
            None => c.state.clone(),
            Some(outcome) => ChangeSetState::Executed {
                id: ChangeSetId::stack(c.id.clone()),
                outcome,
            },
        })
    }

    async fn execute_change_set(&self, target: Target<'_>, name: &str) -> Result<(), AwsError> {
        self.faults.check("ExecuteChangeSet")?;
        let mut cfn = lock(&self.cfn);
        let stack = target.stack_name.to_owned();
        let Some(c) = cfn.change_set(&stack, name) else {
            return Err(AwsError::service(
                "ExecuteChangeSet",
                "ChangeSetNotFound",
                &format!("ChangeSet [{name}] does not exist"),
                false,
            ));
        };
        let ready = c.worked_out && matches!(c.state, ChangeSetState::Ready { .. });
        if !ready || c.execution.is_some() {
            let status = match c.execution {
                None => "UNAVAILABLE",
                Some(ExecutionOutcome::Running) => "EXECUTE_IN_PROGRESS",
                Some(ExecutionOutcome::Succeeded) => "EXECUTE_COMPLETE",
                Some(ExecutionOutcome::Failed) => "EXECUTE_FAILED",
                Some(ExecutionOutcome::Obsolete) => "OBSOLETE",
            };
            return Err(AwsError::service(
                "ExecuteChangeSet",
                "InvalidChangeSetStatus",
                &format!("ChangeSet [{name}] is in {status} status"),
                false,
            ));
        }
        c.execution = Some(ExecutionOutcome::Running);
        let id = c.id.clone();
        // The stack's other change sets can no longer be executed.
        for other in &mut cfn.change_sets {
            if other.stack == stack && other.id != id && other.execution.is_none() {
                other.execution = Some(ExecutionOutcome::Obsolete);
            }
        }
        cfn.executed.push(id.clone());
        if let Some(s) = cfn.stacks.get_mut(&stack) {
            s.status = if s.template.is_none() {
                "CREATE_IN_PROGRESS"
            } else {
                "UPDATE_IN_PROGRESS"
            }
            .into();
            s.executing = Some(id);
        }
        drop(cfn);
        self.faults.check_after("ExecuteChangeSet")
    }

    async fn delete_stack(
        &self,
        target: Target<'_>,
        role_arn: Option<&str>,
    ) -> Result<(), AwsError> {
        self.faults.check("DeleteStack")?;
        let mut cfn = lock(&self.cfn);
        if cfn.stacks.remove(target.stack_name).is_some() {
            let stack = target.stack_name.to_owned();
            cfn.change_sets.retain(|c| c.stack != stack);
            cfn.deleted.push((stack, role_arn.map(str::to_owned)));
        }
        Ok(())
    }

    async fn delete_change_set(&self, target: Target<'_>, name: &str) -> Result<(), AwsError> {
        self.faults.check("DeleteChangeSet")?;
        let mut cfn = lock(&self.cfn);
        // An executed change set stays, as the record of what the stack runs.
        cfn.change_sets.retain(|c| {
            c.stack != target.stack_name
                || (c.name != name && c.id != name)
                || c.execution.is_some()
        });
        Ok(())
    }

    async fn first_failure(&self, target: Target<'_>) -> Result<Option<ResourceFailure>, AwsError> {
        self.faults.check("DescribeStackEvents")?;
        let cfn = lock(&self.cfn);
        Ok(cfn
            .stacks
            .get(target.stack_name)
            .filter(|s| s.status.contains("ROLLBACK"))
            .map(|_| {
                cfn.failures
                    .get(target.stack_name)
                    .cloned()
                    .unwrap_or_else(|| TOLD_TO_FAIL.to_owned())
            })
            .map(ResourceFailure::from_reason))
    }

    async fn site_objects(
        &self,
        _role_arn: Option<&str>,
        bucket: &str,
    ) -> Result<Vec<LiveObject>, AwsError> {
        self.faults.check("ListObjectsV2")?;
        let cfn = lock(&self.cfn);
        let Some(site) = cfn.sites.get(bucket) else {
            return Err(AwsError::service(
                "ListObjectsV2",
                "NoSuchBucket",
                &format!("the bucket {bucket} does not exist"),
                false,
            ));
        };
        Ok(site
            .iter()
            .map(|(key, o)| LiveObject {
                key: key.clone(),
                size: o.size,
                etag: o.etag.clone(),
                sha256: None,
            })
            .collect())
    }

    async fn deploy_site(
        &self,
        _role_arn: Option<&str>,
        bucket: &str,
        plan: &SitePlan,
        sources: &HashMap<String, SiteSource>,
    ) -> Result<SiteDeployed, SiteDeployFailed> {
        let mut done = SiteDeployed::default();
        for upload in &plan.uploads {
            let uploaded = done.uploaded.len();
            let failed = |source| SiteDeployFailed {
                step: format!("upload of {}", upload.path),
                uploaded,
                deleted: 0,
                source,
            };
            self.faults.check("CopyObject").map_err(failed)?;
            let source = sources.get(&upload.path).ok_or_else(|| {
                failed(AwsError::invalid_response(
                    "CopyObject",
                    format!("the artifact has no file {}", upload.path),
                ))
            })?;
            let mut cfn = lock(&self.cfn);
            let etag = if cfn.kms_sites.contains(bucket) {
                cfn.next += 1;
                format!("\"kms{:029x}\"", cfn.next)
            } else {
                format!("\"{}\"", source.etag.trim_matches('"'))
            };
            done.uploaded.push((upload.key.clone(), etag.clone()));
            let object = SiteFake {
                etag,
                size: source.size,
                content_type: upload.content_type.clone(),
                cache_control: upload.cache_control.to_owned(),
                source: Some(source.key.clone()),
            };
            cfn.site_uploads
                .push((bucket.to_owned(), source.key.clone()));
            cfn.sites
                .entry(bucket.to_owned())
                .or_default()
                .insert(upload.key.clone(), object);
        }
        if !plan.deletions.is_empty() {
            self.faults
                .check("DeleteObjects")
                .map_err(|source| SiteDeployFailed {
                    step: format!(
                        "deletion of {}",
                        sluice_core::text::counted(plan.deletions.len(), "file")
                    ),
                    uploaded: done.uploaded.len(),
                    deleted: 0,
                    source,
                })?;
            let mut cfn = lock(&self.cfn);
            let site = cfn.sites.entry(bucket.to_owned()).or_default();
            for key in &plan.deletions {
                site.remove(key);
            }
        }
        done.deleted = plan.deletions.len();
        Ok(done)
    }

    async fn invalidate(
        &self,
        _role_arn: Option<&str>,
        distribution: &str,
        paths: &[String],
        caller_reference: &str,
    ) -> Result<String, AwsError> {
        self.faults.check("CreateInvalidation")?;
        let mut cfn = lock(&self.cfn);
        let asked = (distribution.to_owned(), paths.to_vec());
        match cfn.invalidations.get(caller_reference) {
            // CloudFront's rule: one caller reference, one batch.
            Some(earlier) if *earlier != asked => Err(AwsError::service(
                "CreateInvalidation",
                "InvalidationBatchAlreadyExists",
                "another batch was sent with this caller reference",
                false,
            )),
            _ => {
                cfn.invalidations.insert(caller_reference.to_owned(), asked);
                self.faults.check_after("CreateInvalidation")?;
                Ok(format!("I{}", cfn.invalidations.len()))
            }
        }
    }

    async fn alarm_states(
        &self,
        names: &[String],
    ) -> Result<Vec<crate::deployer::AlarmState>, AwsError> {
        self.faults.check("DescribeAlarms")?;
        let cfn = lock(&self.cfn);
        Ok(names
            .iter()
            .filter_map(|name| {
                let (state, reason) = cfn.alarms.get(name)?;
                Some(crate::deployer::AlarmState {
                    name: name.clone(),
                    state: state.clone(),
                    reason: Some(reason.clone()),
                })
            })
            .collect())
    }
}
