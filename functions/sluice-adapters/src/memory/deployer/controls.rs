//! What a test does to the CloudFormation fake beyond the deployer's calls: setting it up,
//! ending its deployments, and looking at what was deployed.

use std::collections::BTreeMap;

use sluice_core::ResourceChange;

use crate::deployer::ExecutionOutcome;
use crate::memory::{Faults, lock};

use super::{
    FAIL_DEPLOY, MemoryDeployer, SiteFake, StackSettled, THROTTLED, TOLD_TO_FAIL, fetch_code,
};

impl MemoryDeployer {
    /// A deployer whose calls fail as `faults` says.
    pub fn with_faults(faults: Faults) -> Self {
        Self {
            faults,
            ..Self::default()
        }
    }

    /// A deployer whose functions fetch their code from `objects` when a deployment
    /// reaches them (when it settles), by the key and version the template names,
    /// and fetch it again when CloudFormation rolls a failed update back: as Lambda
    /// and CloudFormation do, minutes after any check Sluice made.
    pub fn fetching_code_from(mut self, objects: crate::MemoryObjects) -> Self {
        self.code = Some(objects);
        self
    }

    /// The next change sets of `stack` also list `changes`, as CloudFormation lists
    /// the changes inside nested stacks (`IncludeNestedStacks`).
    pub fn set_nested_changes(&self, stack: &str, changes: Vec<ResourceChange>) {
        lock(&self.cfn).nested.insert(stack.to_owned(), changes);
    }

    /// The code each function of `stack` runs now, by logical id.
    pub fn code(&self, stack: &str) -> BTreeMap<String, Vec<u8>> {
        lock(&self.cfn)
            .running
            .get(stack)
            .cloned()
            .unwrap_or_default()
    }

    /// Every time a stack's functions fetched their code (a deployment, or
    /// CloudFormation's rollback of one): the stack, the template, the code.
    pub fn fetched_code(&self) -> Vec<(String, String, BTreeMap<String, Vec<u8>>)> {
        lock(&self.cfn).fetched.clone()
    }

    /// Stack `stack` has output `key` = `value`.
    pub fn set_output(&self, stack: &str, key: &str, value: &str) {
        lock(&self.cfn)
            .outputs
            .entry(stack.to_owned())
            .or_default()
            .insert(key.to_owned(), value.to_owned());
    }

    /// Puts an object into a site's bucket, as someone other than Sluice would.
    pub fn put_site_object(&self, bucket: &str, key: &str, etag: &str, size: u64) {
        let object = SiteFake {
            etag: format!("\"{}\"", etag.trim_matches('"')),
            size,
            content_type: "application/octet-stream".into(),
            cache_control: String::new(),
            source: None,
        };
        lock(&self.cfn)
            .sites
            .entry(bucket.to_owned())
            .or_default()
            .insert(key.to_owned(), object);
    }

    /// Encrypts `bucket` with a KMS key: as S3 does, each copy into it gets an ETag
    /// that is not the MD5 of its content (and differs from copy to copy).
    pub fn encrypt_site_with_kms(&self, bucket: &str) {
        lock(&self.cfn).kms_sites.insert(bucket.to_owned());
    }

    /// What a site's bucket holds, by key.
    pub fn site(&self, bucket: &str) -> BTreeMap<String, SiteFake> {
        lock(&self.cfn)
            .sites
            .get(bucket)
            .cloned()
            .unwrap_or_default()
    }

    /// Every invalidation asked for (once per caller reference): the distribution,
    /// and the paths.
    pub fn invalidations(&self) -> Vec<(String, Vec<String>)> {
        lock(&self.cfn).invalidations.values().cloned().collect()
    }

    /// Every upload to a site's bucket, in order: the bucket and the artifact key.
    pub fn site_uploads(&self) -> Vec<(String, String)> {
        lock(&self.cfn).site_uploads.clone()
    }

    /// While slow, new change sets stay `Pending` until [`Self::work_out`] is called.
    pub fn set_slow(&self, slow: bool) {
        lock(&self.cfn).slow = slow;
    }

    /// Creates or sets the CloudWatch alarm `name` to `state` (`OK`, `ALARM`).
    pub fn set_alarm(&self, name: &str, state: &str, reason: &str) {
        lock(&self.cfn)
            .alarms
            .insert(name.to_owned(), (state.to_owned(), reason.to_owned()));
    }

    /// The next deployment of `stack` fails as AWS fails one when throttled.
    pub fn throttle_next_deploy(&self, stack: &str) {
        lock(&self.cfn).throttled.insert(stack.to_owned());
    }

    /// Someone else starts updating `stack` (a deploy outside Sluice): until
    /// [`MemoryDeployer::end_other_operation`], it is `UPDATE_IN_PROGRESS` and refuses
    /// change sets, as CloudFormation does. `false` if there is no such stack.
    pub fn start_other_operation(&self, stack: &str) -> bool {
        let mut cfn = lock(&self.cfn);
        let Some(s) = cfn.stacks.get_mut(stack) else {
            return false;
        };
        s.status = "UPDATE_IN_PROGRESS".into();
        cfn.other_operations.insert(stack.to_owned());
        true
    }

    /// The update [`MemoryDeployer::start_other_operation`] started completes.
    pub fn end_other_operation(&self, stack: &str) {
        let mut cfn = lock(&self.cfn);
        if cfn.other_operations.remove(stack)
            && let Some(s) = cfn.stacks.get_mut(stack)
        {
            s.status = "UPDATE_COMPLETE".into();
        }
    }

    /// CloudFormation finishes working out every pending change set.
    pub fn work_out(&self) {
        for c in &mut lock(&self.cfn).change_sets {
            c.worked_out = true;
        }
    }

    /// Ends the running deployment of `stack`: complete, or rolled back when its
    /// template asks for it. `None` when nothing is deploying there.
    pub fn settle(&self, stack: &str) -> Option<StackSettled> {
        let mut cfn = lock(&self.cfn);
        let name = cfn.stacks.get(stack)?.executing.clone()?;
        let throttled = cfn.throttled.remove(stack);
        let change_set = cfn.change_set(stack, &name)?;
        let fails = change_set.template.contains(FAIL_DEPLOY) || throttled;
        change_set.execution = Some(if fails {
            ExecutionOutcome::Failed
        } else {
            ExecutionOutcome::Succeeded
        });
        let template = change_set.template.clone();
        if fails {
            let why = if throttled { THROTTLED } else { TOLD_TO_FAIL };
            cfn.failures.insert(stack.to_owned(), why.to_owned());
        }
        if let Some(objects) = &self.code {
            // What runs after: the new release's code, or, rolled back, the code the
            // old template names, fetched again.
            let running = if fails {
                cfn.stacks.get(stack)?.template.clone()
            } else {
                Some(template.clone())
            };
            if let Some(running) = running {
                let code = fetch_code(objects, &running);
                cfn.fetched
                    .push((stack.to_owned(), running.clone(), code.clone()));
                cfn.running.insert(stack.to_owned(), code);
            }
        }
        let s = cfn.stacks.get_mut(stack)?;
        let creating = s.template.is_none();
        s.executing = None;
        s.status = match (creating, fails) {
            (true, false) => "CREATE_COMPLETE",
            (false, false) => "UPDATE_COMPLETE",
            (true, true) => "ROLLBACK_COMPLETE",
            (false, true) => "UPDATE_ROLLBACK_COMPLETE",
        }
        .to_owned();
        if !fails {
            s.template = Some(template);
        }
        Some(StackSettled {
            stack_id: s.id.clone(),
            status: s.status.clone(),
        })
    }

    /// The stacks deleted, each with the role CloudFormation deleted it through.
    pub fn deleted(&self) -> Vec<(String, Option<String>)> {
        lock(&self.cfn).deleted.clone()
    }

    /// The stacks deploying a change set now.
    pub fn deploying(&self) -> Vec<String> {
        lock(&self.cfn)
            .stacks
            .iter()
            .filter(|(_, s)| s.executing.is_some())
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Every change set executed: its id, name, stack, and how its execution went.
    pub fn executed_change_sets(&self) -> Vec<(String, String, String, ExecutionOutcome)> {
        let cfn = lock(&self.cfn);
        cfn.executed
            .iter()
            .filter_map(|id| {
                let c = cfn.change_sets.iter().find(|c| &c.id == id)?;
                Some((c.id.clone(), c.name.clone(), c.stack.clone(), c.execution?))
            })
            .collect()
    }

    /// The template of the change set `id`.
    pub fn change_set_template(&self, id: &str) -> Option<String> {
        let cfn = lock(&self.cfn);
        Some(
            cfn.change_sets
                .iter()
                .find(|c| c.id == id)?
                .template
                .clone(),
        )
    }

    /// Every change set id `ExecuteChangeSet` accepted, in order.
    pub fn executed(&self) -> Vec<String> {
        lock(&self.cfn).executed.clone()
    }

    /// The template `stack` runs now, if it was ever deployed.
    pub fn template(&self, stack: &str) -> Option<String> {
        lock(&self.cfn).stacks.get(stack)?.template.clone()
    }

    /// The stack's id, if it exists.
    pub fn stack_id(&self, stack: &str) -> Option<String> {
        Some(lock(&self.cfn).stacks.get(stack)?.id.clone())
    }

    /// The stack's status, if it exists.
    pub fn status(&self, stack: &str) -> Option<String> {
        Some(lock(&self.cfn).stacks.get(stack)?.status.clone())
    }
}
