//! A whole pipeline in memory: the engine over the in-memory fakes of every AWS
//! service, a clock the test moves, and the events EventBridge would deliver, built
//! from the real fixtures. Fast enough for thousands of runs.

#![allow(dead_code)]

use sluice_engine::operator::{Action, Answer, OperatorCommand};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{Duration, TimeZone, Utc};
use lambda_http::http::StatusCode;
use serde_json::Value;
use sluice_adapters::memory::{
    Faults, MemoryBuilder, MemoryCommits, MemoryDeployer, MemoryNotifier, MemoryProber,
};
use sluice_adapters::notifier::Message;
use sluice_adapters::{Condition, MemoryObjects, ObjectStore};
use sluice_core::{Execution, ExecutionId, Timestamp};
use sluice_engine::{Adapters, Config, Engine, EngineError, Parts, WaitPolicy};

/// The in-memory fakes of every service, over the object store `O`.
pub struct InMemory<O = MemoryObjects>(std::marker::PhantomData<O>);

impl<O: ObjectStore> Adapters for InMemory<O> {
    type Objects = O;
    type Builder = MemoryBuilder;
    type Deployer = MemoryDeployer;
    type Notifier = MemoryNotifier;
    type Commits = MemoryCommits;
    type Prober = MemoryProber;
}

/// The engine over the fakes.
pub type MemoryEngine = Engine<InMemory>;

pub const STAGING: &str = "hello-staging";
pub const PRODUCTION: &str = "hello-production";
/// The operator who gives commands in the tests.
pub const OPS: &str = "arn:aws:sts::123456789012:assumed-role/operators/olga";

/// One test's pipeline.
pub struct World {
    pub engine: MemoryEngine,
    pub objects: MemoryObjects,
    pub builder: MemoryBuilder,
    pub deployer: MemoryDeployer,
    pub notifier: MemoryNotifier,
    pub commits: MemoryCommits,
    pub prober: MemoryProber,
    pub faults: Faults,
    clock: Arc<Mutex<Timestamp>>,
}

/// The pipeline's configuration: staging, then production behind an approval.
pub fn config() -> Config {
    config_with(&[])
}

/// The same configuration, with more variables.
pub fn config_with(more: &[(&'static str, &str)]) -> Config {
    let mut vars: HashMap<&str, String> = HashMap::from([
        ("SLUICE_PIPELINE", "hello".to_owned()),
        ("SLUICE_REPOSITORY", "hello-api".to_owned()),
        // Stacks are <application>-<stage>: STAGING and PRODUCTION.
        ("SLUICE_APPLICATION", "hello".to_owned()),
        ("SLUICE_STAGES", "staging,production".to_owned()),
        ("SLUICE_APPROVAL_STAGES", "production".to_owned()),
        ("SLUICE_BUCKET", "sluice-artifacts".to_owned()),
        (
            "SLUICE_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:sluice".to_owned(),
        ),
        ("SLUICE_BUILD_PROJECT", "hello-api-build".to_owned()),
        ("SLUICE_APPROVAL_URL", "https://approve.example".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
    ]);
    vars.extend(more.iter().map(|(k, v)| (*k, (*v).to_owned())));
    Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration")
}

/// The time every test starts at.
pub fn start_time() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap()
}

/// A fixture event, by file name.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The build state change `name` (a fixture) for build `build_id` of `execution`.
pub fn build_event(name: &str, execution: &ExecutionId, build_id: &str) -> Value {
    let mut event = fixture(name);
    event["detail"]["project-name"] = Value::String("hello-api-build".into());
    event["detail"]["build-id"] = Value::String(format!(
        "arn:aws:codebuild:us-east-1:123456789012:build/{build_id}"
    ));
    let vars = event["detail"]["additional-information"]["environment"]["environment-variables"]
        .as_array_mut()
        .expect("fixture has environment variables");
    for var in vars {
        if var["name"] == "SLUICE_EXECUTION_ID" {
            var["value"] = Value::String(execution.to_string());
        }
    }
    event
}

/// The build state change `name` of the post-deploy test `build_id` of `execution`'s
/// stage `stage`: a build event that names the stage it tests.
pub fn test_build_event(name: &str, execution: &ExecutionId, build_id: &str, stage: &str) -> Value {
    let mut event = build_event(name, execution, build_id);
    event["detail"]["additional-information"]["environment"]["environment-variables"]
        .as_array_mut()
        .expect("fixture has environment variables")
        .push(serde_json::json!({
            "name": "SLUICE_TEST_STAGE", "value": stage, "type": "PLAINTEXT"
        }));
    event
}

/// A commit id made from a small number, for readable tests.
pub fn commit(n: u32) -> String {
    format!("{n:08x}{}", "c0ffee00".repeat(4))
}

/// The in-memory AWS services, their shared faults, and the clock an engine reads.
pub struct Fakes {
    pub builder: MemoryBuilder,
    pub deployer: MemoryDeployer,
    pub notifier: MemoryNotifier,
    pub commits: MemoryCommits,
    pub prober: MemoryProber,
    pub faults: Faults,
    pub clock: Arc<Mutex<Timestamp>>,
}

impl Fakes {
    /// Fresh services, no faults, the clock at [`start_time`].
    pub fn new() -> Self {
        let faults = Faults::default();
        Self {
            builder: MemoryBuilder::with_faults(faults.clone()),
            deployer: MemoryDeployer::with_faults(faults.clone()),
            notifier: MemoryNotifier::with_faults(faults.clone()),
            commits: MemoryCommits::default(),
            prober: MemoryProber::default(),
            faults,
            clock: Arc::new(Mutex::new(start_time())),
        }
    }

    /// The engine of [`config`] over these services and `objects`, on this clock.
    pub fn engine<O: ObjectStore>(&self, objects: O, wait: WaitPolicy) -> Engine<InMemory<O>> {
        self.engine_of(config(), objects, wait)
    }

    /// The engine of `config` over these services and `objects`, on this clock.
    pub fn engine_of<O: ObjectStore>(
        &self,
        config: Config,
        objects: O,
        wait: WaitPolicy,
    ) -> Engine<InMemory<O>> {
        let reader = self.clock.clone();
        Engine::new(
            config,
            Parts {
                objects,
                builder: self.builder.clone(),
                deployer: self.deployer.clone(),
                notifier: self.notifier.clone(),
                commits: self.commits.clone(),
                prober: self.prober.clone(),
            },
        )
        .with_clock(Arc::new(move || {
            *reader.lock().unwrap_or_else(|e| e.into_inner())
        }))
        .with_wait(wait)
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    /// A pipeline of staging, then production behind an approval.
    pub fn new() -> Self {
        Self::of(config())
    }

    /// The same pipeline, delivering only pushes that change files `include` and
    /// `exclude` count.
    pub fn with_paths(include: &[&str], exclude: &[&str]) -> Self {
        let mut config = config();
        config.paths =
            sluice_engine::paths::PathFilter::new(include, exclude).expect("valid patterns");
        Self::of(config)
    }

    /// The same pipeline of site stages: each deploys the artifact's `site/` folder
    /// to bucket `hello-web-<stage>`.
    pub fn with_sites() -> Self {
        Self::of(config_with(&[
            ("SLUICE_SITE_STAGES", "staging,production"),
            ("SLUICE_SITE_BUCKET", "hello-web-*"),
        ]))
    }

    pub fn of(config: Config) -> Self {
        let mut fakes = Fakes::new();
        let objects = MemoryObjects::new();
        fakes.deployer = fakes.deployer.fetching_code_from(objects.clone());
        let engine = fakes.engine_of(
            config,
            objects.clone(),
            WaitPolicy {
                first: std::time::Duration::from_millis(1),
                max_interval: std::time::Duration::from_millis(1),
                budget: std::time::Duration::from_millis(3),
            },
        );
        Self {
            engine,
            objects,
            builder: fakes.builder,
            deployer: fakes.deployer,
            notifier: fakes.notifier,
            commits: fakes.commits,
            prober: fakes.prober,
            faults: fakes.faults,
            clock: fakes.clock,
        }
    }

    /// The time now, by the test's clock.
    pub fn now(&self) -> Timestamp {
        *self.clock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the test clock forward.
    pub fn advance(&self, by: Duration) {
        *self.clock.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }

    /// A push of `commit` to master at `at`, as EventBridge delivers it.
    pub fn push_event(commit: &str, at: Timestamp) -> Value {
        let mut event = fixture("codecommit-branch-updated.json");
        event["detail"]["commitId"] = Value::String(commit.to_owned());
        event["detail"]
            .as_object_mut()
            .map(|d| d.remove("oldCommitId"));
        event["time"] = Value::String(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        event["id"] = Value::String(format!("push-{commit}-{}", at.timestamp()));
        event
    }

    /// The same push, moving the branch from `old`.
    pub fn push_from(commit: &str, old: &str, at: Timestamp) -> Value {
        let mut event = Self::push_event(commit, at);
        event["detail"]["oldCommitId"] = Value::String(old.to_owned());
        event
    }

    /// Pushes `commit` now (the branch points to it) and delivers the event; returns
    /// the execution that delivers it.
    pub async fn push(&self, commit: &str) -> Execution {
        self.commits.set_head(commit);
        let event = Self::push_event(commit, self.now());
        self.engine.on_push(event).await.expect("push handled");
        self.execution_of(commit).await
    }

    /// The newest execution of `commit`.
    pub async fn execution_of(&self, commit: &str) -> Execution {
        self.executions()
            .await
            .into_iter()
            .find(|e| e.commit.id.as_str() == commit)
            .unwrap_or_else(|| panic!("no execution of {commit}"))
    }

    /// The build state change `name` (a fixture) for `execution`'s build.
    pub fn build_event(name: &str, execution: &Execution) -> Value {
        let build_id = execution.build.id.clone().expect("build started");
        build_event(name, &execution.id, &build_id)
    }

    /// The build state change `name` (a fixture) of `execution`'s post-deploy test
    /// of `stage`, as CodeBuild reports it.
    pub fn test_event(&self, name: &str, execution: &Execution, stage: &str) -> Value {
        let token = execution.test_token(&sluice_core::StageName::parse(stage).expect("stage"));
        let build_id = self
            .builder
            .build_for(&token)
            .unwrap_or_else(|| panic!("no post-deploy test of {stage} was started"));
        test_build_event(name, &execution.id, &build_id, stage)
    }

    /// The build leaves `template` and both stage configurations, then succeeds.
    pub async fn build_succeeds(&self, execution: &Execution, template: &str) {
        self.upload_artifacts(&execution.id, template).await;
        let event = Self::build_event("codebuild-succeeded.json", execution);
        self.engine
            .on_build(event)
            .await
            .expect("build event handled");
    }

    /// Writes `body` at `key` in the bucket, over whatever is there.
    pub async fn put(&self, key: &str, body: &[u8]) {
        let condition = match self.objects.get(key).await.expect("read") {
            Some(o) => Condition::Matches(o.etag),
            None => Condition::Absent,
        };
        self.objects
            .put(key, body.to_vec(), condition)
            .await
            .expect("write");
    }

    /// What a build leaves behind: the template and the stage configurations.
    pub async fn upload_artifacts(&self, execution: &ExecutionId, template: &str) {
        let execution = self.execution(execution).await;
        let prefix = self.engine.config.artifact_prefix(&execution);
        let files = [
            ("packaged.yaml", template.to_owned()),
            (
                "staging.json",
                r#"{"Parameters": {"StageName": "staging"}}"#.to_owned(),
            ),
            (
                "production.json",
                r#"{"Parameters": {"StageName": "production"}}"#.to_owned(),
            ),
        ];
        for (name, body) in files {
            self.put(&format!("{prefix}{name}"), body.as_bytes()).await;
        }
    }

    /// What the build of a site leaves: `files` (path, content) under `site/`; then
    /// the build succeeds.
    pub async fn site_built(&self, execution: &Execution, files: &[(&str, &str)]) {
        let prefix = self.engine.config.artifact_prefix(execution);
        for (path, body) in files {
            self.put(&format!("{prefix}site/{path}"), body.as_bytes())
                .await;
        }
        let event = Self::build_event("codebuild-succeeded.json", execution);
        self.engine
            .on_build(event)
            .await
            .expect("build event handled");
    }

    /// Ends `stack`'s running deployment; returns the event EventBridge would deliver.
    pub fn settle(&self, stack: &str) -> Value {
        let settled = self
            .deployer
            .settle(stack)
            .unwrap_or_else(|| panic!("nothing is deploying {stack}"));
        Self::stack_event(&settled.stack_id, &settled.status)
    }

    /// A `CloudFormation Stack Status Change` for the stack `stack_id`.
    pub fn stack_event(stack_id: &str, status: &str) -> Value {
        let mut event = fixture("cloudformation-update-complete.json");
        event["detail"]["stack-id"] = Value::String(stack_id.into());
        event["detail"]["status-details"]["status"] = Value::String(status.into());
        event
    }

    /// Delivers a stack event to the deploy function.
    pub async fn deliver_stack(&self, event: Value) -> Result<(), EngineError> {
        self.engine.on_stack(event).await
    }

    /// Takes `commit` from a push to the production gate.
    pub async fn to_the_gate(&self, commit: &str) -> Execution {
        let execution = self.push(commit).await;
        self.build_succeeds(&execution, &format!("template of {commit}"))
            .await;
        let event = self.settle(STAGING);
        self.deliver_stack(event)
            .await
            .expect("stack event handled");
        self.execution(&execution.id).await
    }

    /// Gives `command` now, by the test's clock, as the operators' ARN `OPS`; the
    /// function's answer.
    pub async fn operate(&self, mut command: OperatorCommand) -> Answer {
        command.issued_at = self.now();
        self.engine
            .operate(OPS, command)
            .await
            .expect("the command is carried out or refused")
    }

    /// The execution with this id, as stored.
    pub async fn execution(&self, id: &ExecutionId) -> Execution {
        self.engine
            .store
            .load(id)
            .await
            .expect("load")
            .expect("execution exists")
    }

    /// The executions, newest first.
    pub async fn executions(&self) -> Vec<Execution> {
        self.engine.store.recent(1000).await.expect("list")
    }

    /// Messages whose subject contains `text`.
    pub fn messages_about(&self, text: &str) -> Vec<Message> {
        self.notifier
            .sent()
            .into_iter()
            .filter(|m| m.subject.contains(text))
            .collect()
    }

    /// The path and token of the newest approval link sent for `execution`.
    pub fn approval_link(&self, execution: &ExecutionId) -> (String, String) {
        let marker = format!("/approvals/{execution}/");
        self.notifier
            .sent()
            .iter()
            .rev()
            .find_map(|m| {
                m.body
                    .split_whitespace()
                    .find(|w| w.contains(&marker))
                    .map(str::to_owned)
            })
            .map(|url| {
                let rest = url.trim_start_matches("https://approve.example");
                let (path, query) = rest.split_once('?').expect("link has a query");
                let token = query.strip_prefix("token=").expect("token parameter");
                (path.to_owned(), token.to_owned())
            })
            .unwrap_or_else(|| panic!("no approval link sent for {execution}"))
    }

    /// A Function URL request, built from the real payload shape.
    pub fn request(method: &str, path: &str, query: &str, body: Option<&str>) -> Value {
        let mut event = fixture(if body.is_some() {
            "function-url-post-approval.json"
        } else {
            "function-url-get-approval.json"
        });
        event["rawPath"] = Value::String(path.into());
        event["requestContext"]["http"]["path"] = Value::String(path.into());
        event["requestContext"]["http"]["method"] = Value::String(method.into());
        event["rawQueryString"] = Value::String(query.into());
        let params: serde_json::Map<String, Value> = query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect();
        if params.is_empty() {
            event
                .as_object_mut()
                .map(|o| o.remove("queryStringParameters"));
        } else {
            event["queryStringParameters"] = Value::Object(params);
        }
        if let Some(body) = body {
            event["body"] = Value::String(body.into());
        }
        event
    }

    /// Sends a request to the approval function; returns the status and the page.
    pub async fn http(&self, event: Value) -> (StatusCode, String) {
        let request =
            lambda_http::request::from_str(&event.to_string()).expect("a Function URL payload");
        let response = sluice_engine::approval::handle(&self.engine, request).await;
        let status = response.status();
        let body = match response.into_body() {
            lambda_http::Body::Text(t) => t,
            lambda_http::Body::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            _ => String::new(),
        };
        (status, body)
    }

    /// Opens the newest approval link of `execution`: the review page.
    pub async fn review(&self, execution: &ExecutionId) -> (StatusCode, String) {
        let (path, token) = self.approval_link(execution);
        self.http(Self::request("GET", &path, &format!("token={token}"), None))
            .await
    }

    /// Posts the approval form for the newest link of `execution`.
    pub async fn decide(
        &self,
        execution: &ExecutionId,
        decision: &str,
        name: &str,
    ) -> (StatusCode, String) {
        let (path, token) = self.approval_link(execution);
        let form = format!("token={token}&decision={decision}&name={name}");
        self.http(Self::request("POST", &path, "", Some(&form)))
            .await
    }
}

/// The operator action `name` for `execution` (or, for a release, `commit`).
/// An operator command to `config()`'s pipeline, with a nonce of its own.
pub fn command(action: Action) -> OperatorCommand {
    OperatorCommand::new(&config().pipeline.name, action, start_time())
}

pub fn action(name: &str, execution: &ExecutionId, commit: Option<&str>) -> Action {
    use sluice_engine::operator::{Cancel, Decide, Release, Resend, Retry};
    let execution = execution.clone();
    let decide = || Decide {
        execution: execution.clone(),
        stage: None,
        comment: None,
    };
    match name {
        "approve" => Action::Approve(decide()),
        "reject" => Action::Reject(decide()),
        "resend" => Action::Resend(Resend {
            execution,
            stage: None,
        }),
        "retry" => Action::Retry(Retry { execution }),
        "cancel" => Action::Cancel(Cancel { execution }),
        "release" => Action::Release(Release {
            commit: commit.map(|c| sluice_core::CommitId::parse(c).expect("a commit id")),
        }),
        other => panic!("no operator action {other}"),
    }
}
