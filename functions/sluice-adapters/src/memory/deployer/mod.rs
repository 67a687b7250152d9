//! The CloudFormation fake: its stacks, change sets and sites, and the deployer over them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use sluice_core::ResourceChange;

use super::Faults;
use crate::deployer::{ChangeSetSpec, ChangeSetState, ExecutionOutcome, Template};

/// A template containing this fails as a change set.
pub const FAIL_CHANGE_SET: &str = "SLUICE_FAKE_FAIL_CHANGE_SET";
/// A template containing this rolls back when deployed.
pub const FAIL_DEPLOY: &str = "SLUICE_FAKE_FAIL_DEPLOY";

#[derive(Clone, Debug)]
struct FakeStack {
    id: String,
    status: String,
    template: Option<String>,
    /// The change set whose execution is running, if one is.
    executing: Option<String>,
}

#[derive(Clone, Debug)]
struct FakeChangeSet {
    id: String,
    name: String,
    stack: String,
    template: String,
    /// What the change set turns out to be, once worked out.
    state: ChangeSetState,
    /// Whether CloudFormation has worked it out yet (else it reads as `Pending`).
    worked_out: bool,
    /// `None` until executed.
    execution: Option<ExecutionOutcome>,
}

#[derive(Default)]
struct Cfn {
    stacks: BTreeMap<String, FakeStack>,
    /// Stacks deleted, with the role CloudFormation was given for it.
    deleted: Vec<(String, Option<String>)>,
    change_sets: Vec<FakeChangeSet>,
    executed: Vec<String>,
    next: u64,
    /// New change sets stay `Pending` until [`MemoryDeployer::work_out`].
    slow: bool,
    /// Stack outputs set by a test, by stack.
    outputs: BTreeMap<String, BTreeMap<String, String>>,
    /// Sites' buckets: key to the object served.
    sites: BTreeMap<String, BTreeMap<String, SiteFake>>,
    /// Every upload to a site's bucket: the bucket, and the artifact key copied.
    site_uploads: Vec<(String, String)>,
    /// Sites' buckets encrypted with a KMS key: their copies' ETags are not MD5s.
    kms_sites: std::collections::BTreeSet<String>,
    /// Every invalidation, by caller reference: the distribution and the paths.
    invalidations: BTreeMap<String, (String, Vec<String>)>,
    /// Stacks whose next deployment fails as throttled, however good its template.
    throttled: BTreeSet<String>,
    /// Stacks being updated by someone else, which refuse change sets meanwhile.
    other_operations: BTreeSet<String>,
    /// CloudWatch alarms: name to state and reason.
    alarms: BTreeMap<String, (String, String)>,
    /// Why each stack's last deployment failed.
    failures: BTreeMap<String, String>,
    /// The code each stack's functions run, by logical id.
    running: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    /// What CloudFormation reports inside each stack's nested stacks, by stack.
    nested: BTreeMap<String, Vec<ResourceChange>>,
    /// Every fetch of code: the stack, the template that named it, the code.
    fetched: Vec<(String, String, BTreeMap<String, Vec<u8>>)>,
}

/// The code of each function `template` names, read as Lambda reads it: by bucket
/// key, and by version where the template gives one.
fn fetch_code(objects: &crate::MemoryObjects, template: &str) -> BTreeMap<String, Vec<u8>> {
    use serde_yaml_ng::Value;
    let mut code = BTreeMap::new();
    let Ok(parsed) = serde_yaml_ng::from_str::<Value>(template) else {
        return code;
    };
    let Some(Value::Mapping(resources)) = parsed.get("Resources") else {
        return code;
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    for (id, resource) in resources {
        let Some(props) = resource.get("Properties") else {
            continue;
        };
        let location = match (props.get("CodeUri"), props.get("Code")) {
            (Some(Value::String(uri)), _) => uri
                .strip_prefix("s3://")
                .and_then(|r| r.split_once('/'))
                .map(|(_, key)| (key.to_owned(), None)),
            (Some(uri @ Value::Mapping(_)), _) => {
                text(uri.get("Key")).map(|k| (k, text(uri.get("Version"))))
            }
            (None, Some(c)) => text(c.get("S3Key")).map(|k| (k, text(c.get("S3ObjectVersion")))),
            _ => None,
        };
        if let (Some(id), Some((key, version))) = (id.as_str(), location)
            && let Some(body) = objects.body(&key, version.as_deref())
        {
            code.insert(id.to_owned(), body);
        }
    }
    code
}

/// Why a deployment the fake was told to fail failed.
const TOLD_TO_FAIL: &str = "HelloFunction (AWS::Lambda::Function): the fake was told to fail";
/// Why a deployment the fake throttled failed.
pub const THROTTLED: &str =
    "HelloFunction (AWS::Lambda::Function): Rate exceeded (Service: Lambda, Status Code: 429)";

/// An object of a site's bucket, and where it was copied from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteFake {
    pub etag: String,
    pub size: u64,
    pub content_type: String,
    pub cache_control: String,
    /// The artifact object it was copied from, if Sluice put it there.
    pub source: Option<String>,
}

impl Cfn {
    fn change_set(&mut self, stack: &str, name: &str) -> Option<&mut FakeChangeSet> {
        self.change_sets
            .iter_mut()
            .find(|c| c.stack == stack && (c.name == name || c.id == name))
    }
}

/// How a stack's running deployment ended, as EventBridge would report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackSettled {
    pub stack_id: String,
    pub status: String,
}

/// CloudFormation: stacks and their change sets. Deployments run until
/// [`MemoryDeployer::settle`] ends them, as the stack's events would.
#[derive(Clone, Default)]
pub struct MemoryDeployer {
    cfn: Arc<Mutex<Cfn>>,
    faults: Faults,
    /// Where Lambda fetches the code a template names, if the test watches code.
    code: Option<crate::MemoryObjects>,
}

fn template_text(spec: &ChangeSetSpec) -> String {
    match &spec.template {
        Template::Body(body) => body.clone(),
        Template::Url(url) => url.clone(),
    }
}

mod capability;
mod controls;
