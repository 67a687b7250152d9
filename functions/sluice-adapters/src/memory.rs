//! In-memory stand-ins for CodeBuild, CloudFormation, SNS and CodeCommit, keeping the
//! rules Sluice depends on: a build per idempotency token, change sets that execute
//! once (`InvalidChangeSetStatus` after that) and record how their execution ended,
//! publishes that can fail. They serve the engine's fast tests and its simulation;
//! the AWS implementations are tested against the emulator instead.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use sluice_core::site::{LiveObject, SitePlan};
use sluice_core::{ChangeAction, Replacement, ResourceChange};

use crate::aws::AwsError;
use crate::builder::{BuildOutcome, BuildReport, BuildRequest, Builder, StartedBuild};
use crate::commits::{ChangedFiles, CommitInfo, CommitReader};
use crate::deployer::{
    ChangeSetSpec, ChangeSetState, Deployer, ExecutionOutcome, StackInfo, Target, Template,
};
use crate::notifier::{Message, Notifier, SNS_MESSAGE_MAX, Subscription, sns_payload};
use crate::site::{SiteDeployFailed, SiteDeployed, SiteSource};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Which calls fail, decided per call: the operation's name in, an error out.
type FaultRule = dyn FnMut(&'static str) -> Option<AwsError> + Send;

/// Injected failures shared by the fakes: every call asks `before` whether to fail
/// instead of acting, and every call that changed something asks `after` whether
/// its answer is lost (it took effect, the caller sees an error).
#[derive(Clone, Default)]
pub struct Faults {
    rule: Arc<Mutex<Option<Box<FaultRule>>>>,
    after: Arc<Mutex<Option<Box<FaultRule>>>>,
}

impl Faults {
    /// From now on, `rule` decides which calls fail.
    pub fn set(&self, rule: impl FnMut(&'static str) -> Option<AwsError> + Send + 'static) {
        *lock(&self.rule) = Some(Box::new(rule));
    }

    /// From now on, `rule` decides which calls lose their answer after acting.
    pub fn set_after(&self, rule: impl FnMut(&'static str) -> Option<AwsError> + Send + 'static) {
        *lock(&self.after) = Some(Box::new(rule));
    }

    /// No call fails any more.
    pub fn clear(&self) {
        *lock(&self.rule) = None;
        *lock(&self.after) = None;
    }

    /// Whether `operation` fails before it acts.
    pub fn check(&self, operation: &'static str) -> Result<(), AwsError> {
        match lock(&self.rule).as_mut().and_then(|rule| rule(operation)) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// Whether `operation`, which acted, loses its answer.
    pub fn check_after(&self, operation: &'static str) -> Result<(), AwsError> {
        match lock(&self.after).as_mut().and_then(|rule| rule(operation)) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

/// CodeBuild: builds start once per idempotency token and run until told how they end.
#[derive(Clone, Default)]
pub struct MemoryBuilder {
    requests: Arc<Mutex<Vec<BuildRequest>>>,
    /// How many of `requests` CodeBuild no longer matches by token: it keeps an
    /// idempotency token five minutes only.
    forgotten: Arc<Mutex<usize>>,
    outcomes: Arc<Mutex<HashMap<String, BuildOutcome>>>,
    stopped: Arc<Mutex<Vec<String>>>,
    faults: Faults,
}

impl MemoryBuilder {
    /// A builder whose calls fail as `faults` says.
    pub fn with_faults(faults: Faults) -> Self {
        Self {
            faults,
            ..Self::default()
        }
    }

    /// Every build started, in order (one per idempotency token).
    pub fn requests(&self) -> Vec<BuildRequest> {
        lock(&self.requests).clone()
    }

    /// What `BatchGetBuilds` says about `build_id` from now on.
    pub fn set_outcome(&self, build_id: &str, outcome: BuildOutcome) {
        lock(&self.outcomes).insert(build_id.to_owned(), outcome);
    }

    /// Every build stopped, in order.
    pub fn stopped(&self) -> Vec<String> {
        lock(&self.stopped).clone()
    }

    /// Five minutes pass for CodeBuild: it forgets every idempotency token so far, and
    /// a start with one of them starts another build.
    /// https://docs.aws.amazon.com/codebuild/latest/APIReference/API_StartBuild.html
    pub fn forget_tokens(&self) {
        *lock(&self.forgotten) = lock(&self.requests).len();
    }

    /// The id of the build started for `token`, if one was.
    pub fn build_for(&self, token: &str) -> Option<String> {
        lock(&self.requests)
            .iter()
            .position(|r| r.idempotency_token == token)
            .map(|i| build_id(i + 1))
    }
}

fn build_id(n: usize) -> String {
    format!("sluice-build:{n:08}")
}

impl Builder for MemoryBuilder {
    async fn start_build(&self, request: BuildRequest) -> Result<StartedBuild, AwsError> {
        self.faults.check("StartBuild")?;
        let n = {
            let forgotten = *lock(&self.forgotten);
            let mut requests = lock(&self.requests);
            match requests
                .iter()
                .enumerate()
                .skip(forgotten)
                .position(|(_, r)| r.idempotency_token == request.idempotency_token)
            {
                Some(i) => forgotten + i + 1,
                None => {
                    requests.push(request);
                    requests.len()
                }
            }
        };
        self.faults.check_after("StartBuild")?;
        Ok(StartedBuild {
            id: build_id(n),
            log_url: Some(format!("https://logs.example/{}", build_id(n))),
        })
    }

    async fn builds(&self, ids: Vec<String>) -> Result<Vec<BuildReport>, AwsError> {
        self.faults.check("BatchGetBuilds")?;
        let requests = lock(&self.requests);
        let outcomes = lock(&self.outcomes);
        Ok(ids
            .into_iter()
            .filter_map(|id| {
                let n = (1..=requests.len()).find(|n| build_id(*n) == id)?;
                Some(BuildReport {
                    outcome: outcomes
                        .get(&id)
                        .cloned()
                        .unwrap_or(BuildOutcome::InProgress),
                    log_url: Some(format!("https://logs.example/{id}")),
                    environment: requests[n - 1].environment.clone(),
                    id,
                })
            })
            .collect())
    }

    async fn find_build(
        &self,
        _project: &str,
        execution: &str,
    ) -> Result<Option<StartedBuild>, AwsError> {
        self.faults.check("ListBuildsForProject")?;
        let ids: Vec<String> = (1..=lock(&self.requests).len())
            .rev()
            .map(build_id)
            .collect();
        let reports = self.builds(ids).await?;
        Ok(crate::builder::build_of(&reports, execution))
    }

    async fn stop_build(&self, id: &str) -> Result<(), AwsError> {
        self.faults.check("StopBuild")?;
        let mut outcomes = lock(&self.outcomes);
        if !outcomes.contains_key(id) {
            outcomes.insert(
                id.to_owned(),
                BuildOutcome::Failed {
                    reason: "build STOPPED".into(),
                },
            );
        }
        lock(&self.stopped).push(id.to_owned());
        Ok(())
    }
}

/// Two commits, before and after.
type CommitPair = (String, String);
/// A commit and the files it changed.
type CommitFiles = (String, Vec<String>);

/// CodeCommit: commit details by id, with a default for commits not described, and
/// the watched branch's head.
#[derive(Clone, Default)]
pub struct MemoryCommits {
    commits: Arc<Mutex<HashMap<String, CommitInfo>>>,
    head: Arc<Mutex<Option<String>>>,
    /// Commits not on the branch (every other commit is an ancestor of its head).
    elsewhere: Arc<Mutex<Vec<String>>>,
    /// The files changed between two commits, by (before, after); a pair not
    /// described changed `template.yaml`.
    changes: Arc<Mutex<HashMap<CommitPair, Vec<String>>>>,
    /// How many times the changes between two commits were asked for.
    difference_calls: Arc<Mutex<usize>>,
    /// The error code `GetDifferences` answers instead, while set, and whether a
    /// retry may help.
    differences_fail: Arc<Mutex<Option<(String, bool)>>>,
    /// Calls answered before `GetDifferences` fails, and the error code then.
    differences_fail_after: Arc<Mutex<Option<(usize, String)>>>,
    /// A linear history, oldest first: each commit and the files it changed from
    /// the one before. Between two of its commits, the changes are those of every
    /// commit after the older one, up to the newer one.
    history: Arc<Mutex<Vec<CommitFiles>>>,
    /// Each commit's parents, where known: from the linear history, or set.
    parents: Arc<Mutex<HashMap<String, Vec<String>>>>,
}

impl MemoryCommits {
    /// CodeCommit no longer says where the branch points.
    pub fn clear_head(&self) {
        *lock(&self.head) = None;
    }

    /// Points the branch at `commit_id`, as a push does.
    pub fn set_head(&self, commit_id: &str) {
        *lock(&self.head) = Some(commit_id.to_owned());
    }

    /// Puts `commit_id` on another branch only: it is no ancestor of the watched one.
    pub fn off_branch(&self, commit_id: &str) {
        lock(&self.elsewhere).push(commit_id.to_owned());
    }

    /// Says that going from `before` to `after` changed `paths`.
    pub fn set_changes(&self, before: &str, after: &str, paths: &[&str]) {
        lock(&self.changes).insert(
            (before.to_owned(), after.to_owned()),
            paths.iter().map(|p| (*p).to_owned()).collect(),
        );
    }

    /// `GetDifferences` fails with error `code` from now on, a retry helping or not
    /// as `retryable` says (`None`: it answers again).
    pub fn fail_differences(&self, failure: Option<(&str, bool)>) {
        *lock(&self.differences_fail) =
            failure.map(|(code, retryable)| (code.to_owned(), retryable));
    }

    /// Adds `commit` to the linear history, changing `paths` from the commit before.
    pub fn append_history(&self, commit: &str, paths: &[&str]) {
        let mut history = lock(&self.history);
        let parents = history
            .last()
            .map(|(p, _)| vec![p.clone()])
            .unwrap_or_default();
        lock(&self.parents).insert(commit.to_owned(), parents);
        history.push((
            commit.to_owned(),
            paths.iter().map(|p| (*p).to_owned()).collect(),
        ));
    }

    /// Makes `commit` a commit on `parents` (two or more: a merge).
    pub fn set_parents(&self, commit: &str, parents: &[&str]) {
        lock(&self.parents).insert(
            commit.to_owned(),
            parents.iter().map(|p| (*p).to_owned()).collect(),
        );
    }

    /// `commit` and every commit it descends from, as far as parents are known,
    /// nearest first.
    fn ancestry(&self, commit: &str) -> Vec<String> {
        let parents = lock(&self.parents);
        let mut found = vec![commit.to_owned()];
        let mut at = 0;
        while let Some(c) = found.get(at).cloned() {
            for p in parents.get(&c).into_iter().flatten() {
                if !found.contains(p) {
                    found.push(p.clone());
                }
            }
            at += 1;
        }
        found
    }

    /// `GetDifferences` answers `calls` more times, then fails with `code` (no
    /// retry helps).
    pub fn fail_differences_after(&self, calls: usize, code: &str) {
        *lock(&self.differences_fail_after) = Some((calls, code.to_owned()));
    }

    /// How many times `GetDifferences` was called.
    pub fn difference_calls(&self) -> usize {
        *lock(&self.difference_calls)
    }

    /// Describes a commit.
    pub fn insert(&self, commit_id: &str, author: &str, message: &str) {
        lock(&self.commits).insert(
            commit_id.to_owned(),
            CommitInfo {
                author: Some(author.to_owned()),
                message: Some(message.to_owned()),
                parents: Vec::new(),
            },
        );
    }
}

impl CommitReader for MemoryCommits {
    async fn commit(&self, _repository: &str, commit_id: &str) -> Result<CommitInfo, AwsError> {
        let mut info = lock(&self.commits)
            .get(commit_id)
            .cloned()
            .unwrap_or(CommitInfo {
                author: Some("Ada Lovelace <ada@example.com>".into()),
                message: Some("Say hello".into()),
                parents: Vec::new(),
            });
        info.parents = lock(&self.parents)
            .get(commit_id)
            .cloned()
            .unwrap_or_default();
        Ok(info)
    }

    async fn branch_head(
        &self,
        _repository: &str,
        _branch: &str,
    ) -> Result<Option<String>, AwsError> {
        Ok(lock(&self.head).clone())
    }

    async fn merge_base(
        &self,
        _repository: &str,
        a: &str,
        b: &str,
    ) -> Result<Option<String>, AwsError> {
        let known = {
            let parents = lock(&self.parents);
            parents.contains_key(a) && parents.contains_key(b)
        };
        if known {
            // The nearest of a's ancestors that is also one of b's.
            let of_b = self.ancestry(b);
            return Ok(self.ancestry(a).into_iter().find(|c| of_b.contains(c)));
        }
        let elsewhere = lock(&self.elsewhere);
        let on_branch = |c: &str| !elsewhere.iter().any(|e| e == c);
        Ok(match (on_branch(a), on_branch(b)) {
            (true, true) => Some(a.to_owned()),
            _ => None,
        })
    }

    async fn find_changed_file(
        &self,
        _repository: &str,
        before: &str,
        after: &str,
        wanted: &(dyn Fn(&str) -> bool + Send + Sync),
    ) -> Result<ChangedFiles, AwsError> {
        *lock(&self.difference_calls) += 1;
        if let Some((left, code)) = lock(&self.differences_fail_after).as_mut() {
            if *left == 0 {
                return Err(AwsError::service(
                    "GetDifferences",
                    code,
                    "injected failure",
                    false,
                ));
            }
            *left -= 1;
        }
        if let Some((code, retryable)) = lock(&self.differences_fail).clone() {
            return Err(AwsError::service(
                "GetDifferences",
                &code,
                "injected failure",
                retryable,
            ));
        }
        let history = lock(&self.history);
        let at = |c: &str| history.iter().position(|(h, _)| h == c);
        let paths = match (at(before), at(after)) {
            (Some(a), Some(b)) => {
                let mut paths: Vec<String> = history[a.min(b) + 1..=a.max(b)]
                    .iter()
                    .flat_map(|(_, p)| p.iter().cloned())
                    .collect();
                paths.sort();
                paths.dedup();
                paths
            }
            _ => lock(&self.changes)
                .get(&(before.to_owned(), after.to_owned()))
                .cloned()
                .unwrap_or_else(|| vec!["template.yaml".to_owned()]),
        };
        drop(history);
        let mut changed = ChangedFiles::default();
        for path in paths {
            if changed.look_at(&path, wanted) {
                break;
            }
        }
        Ok(changed)
    }
}

/// SNS: every message published, and publishes that fail while `faults` says so.
#[derive(Clone, Default)]
pub struct MemoryNotifier {
    sent: Arc<Mutex<Vec<Message>>>,
    subscriptions: Arc<Mutex<Vec<Subscription>>>,
    faults: Faults,
}

impl MemoryNotifier {
    /// A notifier whose publishes fail as `faults` says.
    pub fn with_faults(faults: Faults) -> Self {
        Self {
            faults,
            ..Self::default()
        }
    }

    /// Every message published so far, oldest first.
    pub fn sent(&self) -> Vec<Message> {
        lock(&self.sent).clone()
    }

    /// The subscriber at `endpoint` confirms (or, `false`, is asked to confirm).
    pub fn set_subscribed(&self, protocol: &str, endpoint: &str, confirmed: bool) {
        let mut subscriptions = lock(&self.subscriptions);
        subscriptions.retain(|s| s.endpoint != endpoint);
        subscriptions.push(Subscription {
            protocol: protocol.to_owned(),
            endpoint: endpoint.to_owned(),
            confirmed,
        });
    }

    /// The subscriber at `endpoint` unsubscribes (the link in every SNS email).
    pub fn unsubscribe(&self, endpoint: &str) {
        lock(&self.subscriptions).retain(|s| s.endpoint != endpoint);
    }
}

impl Notifier for MemoryNotifier {
    async fn publish(&self, message: &Message) -> Result<(), AwsError> {
        self.faults.check("Publish")?;
        if sns_payload(message).len() > SNS_MESSAGE_MAX {
            return Err(AwsError::service(
                "Publish",
                "InvalidParameter",
                "Invalid parameter: Message too long",
                false,
            ));
        }
        lock(&self.sent).push(message.clone());
        self.faults.check_after("Publish")
    }

    async fn subscriptions(&self) -> Result<Vec<Subscription>, AwsError> {
        self.faults.check("ListSubscriptionsByTopic")?;
        Ok(lock(&self.subscriptions).clone())
    }
}

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

fn template_text(spec: &ChangeSetSpec) -> String {
    match &spec.template {
        Template::Body(body) => body.clone(),
        Template::Url(url) => url.clone(),
    }
}

impl Deployer for MemoryDeployer {
    async fn stack(&self, target: Target<'_>) -> Result<Option<StackInfo>, AwsError> {
        self.faults.check("DescribeStacks")?;
        let cfn = lock(&self.cfn);
        let outputs = cfn.outputs.get(target.stack_name);
        let info = match cfn.stacks.get(target.stack_name) {
            Some(s) => StackInfo {
                id: s.id.clone(),
                status: s.status.clone(),
                reason: None,
                outputs: outputs.cloned().unwrap_or_default(),
            },
            // A stack a test gave outputs exists, deployed by someone else.
            None => match outputs {
                Some(outputs) => StackInfo {
                    id: format!("stack/{}", target.stack_name),
                    status: "UPDATE_COMPLETE".into(),
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
        // UPDATE or CREATE, until it is deleted.
        // https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/troubleshooting.html#troubleshooting-errors-update-rollback-failed
        if let Some(s) = cfn.stacks.get(&stack)
            && s.status == "ROLLBACK_COMPLETE"
        {
            return Err(AwsError::service(
                "CreateChangeSet",
                "ValidationError",
                &format!(
                    "Stack:{} is in ROLLBACK_COMPLETE state and can not be updated.",
                    s.id
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
        let id = format!(
            "arn:aws:cloudformation:us-east-1:123456789012:changeSet/{}/{n}",
            spec.change_set_name
        );
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
            id: id.clone(),
            name: spec.change_set_name.clone(),
            stack,
            template,
            state,
            worked_out,
            execution: None,
        });
        drop(cfn);
        self.faults.check_after("CreateChangeSet")?;
        Ok(id)
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
                id: c.id.clone(),
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

    async fn first_failure(&self, target: Target<'_>) -> Result<Option<String>, AwsError> {
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
            }))
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
                    step: format!("deletion of {} files", plan.deletions.len()),
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

/// The smoke check's calls: what each address answers (as a test set it; an address
/// not set gives no answer), and which addresses were called.
#[derive(Clone, Default)]
pub struct MemoryProber {
    answers: Arc<Mutex<HashMap<String, sluice_core::smoke::Answer>>>,
    calls: Arc<Mutex<Vec<String>>>,
}

impl MemoryProber {
    /// `url` answers `answer` from now on.
    pub fn answer(&self, url: &str, answer: sluice_core::smoke::Answer) {
        lock(&self.answers).insert(url.to_owned(), answer);
    }

    /// The addresses called, in order.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.calls).clone()
    }
}

impl crate::probe::Prober for MemoryProber {
    async fn probe(&self, url: &str) -> sluice_core::smoke::Answer {
        lock(&self.calls).push(url.to_owned());
        lock(&self.answers).get(url).cloned().unwrap_or_else(|| {
            sluice_core::smoke::Answer::NoAnswer {
                reason: "nothing serves this address in the test".into(),
            }
        })
    }
}
