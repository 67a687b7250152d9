//! One test's pipeline: the engine over the adapters `A`, a clock the test moves, and
//! the verbs a test tells its story with.
//!
//! Two worlds, one type: [`World::new`] runs the engine over the in-memory fakes of
//! every service (fast enough for thousands of runs: the engine's tests and its
//! simulation), [`World::emulated`] over the emulated S3, CloudFormation and SNS, with
//! fakes for the CodeBuild and CodeCommit the emulator lacks. The verbs either world
//! has are written once, below; those only one has are in `fakes.rs` and
//! `emulated.rs`; the events AWS delivers, built from the real payloads, in `events.rs`.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use lambda_http::http::StatusCode;
use serde_json::Value;
use sluice_adapters::memory::{MemoryBuilder, MemoryCommits};
use sluice_adapters::{Condition, ObjectStore};
use sluice_core::{Execution, ExecutionId, Timestamp};
use sluice_engine::operator::{Answer, OperatorCommand};
use sluice_engine::{Adapters, Engine, EngineError};

mod emulated;
mod events;
mod fakes;
mod pipeline;

pub use emulated::{APP_TEMPLATE, Emulated, Received, failing_template};
pub use events::{approval_link, build_event, fixture, test_build_event};
pub use fakes::{Fakes, InMemory};
pub use pipeline::{
    DEFINITION, OPS, PRODUCTION, STAGING, action, command, commit, config, config_of, config_with,
    start_time,
};

/// The adapters a world runs the engine over. CodeBuild and CodeCommit are always
/// the fakes: no emulator builds, and the tests deliver the events EventBridge would.
pub trait Setting: Adapters<Builder = MemoryBuilder, Commits = MemoryCommits> {
    /// What the world keeps besides the adapters: the faults the fakes share, or the
    /// emulator and the clients that read it back.
    type Extra;
    /// The tags each stage's configuration gives its stack, as the JSON members
    /// that follow its parameters (empty: none).
    const TAGS: &'static str;
}

/// One test's pipeline; over the in-memory fakes unless it says otherwise.
pub struct World<A: Setting = InMemory> {
    pub engine: Engine<A>,
    pub objects: A::Objects,
    pub builder: MemoryBuilder,
    pub deployer: A::Deployer,
    pub notifier: A::Notifier,
    pub commits: MemoryCommits,
    pub prober: A::Prober,
    clock: Arc<Mutex<Timestamp>>,
    extra: A::Extra,
}

/// The engine reads the time from `clock`, which the test moves.
fn on_clock<A: Adapters>(engine: Engine<A>, clock: &Arc<Mutex<Timestamp>>) -> Engine<A> {
    let reader = clock.clone();
    engine.with_clock(Arc::new(move || {
        *reader.lock().unwrap_or_else(|e| e.into_inner())
    }))
}

impl<A: Setting> World<A> {
    /// The time now, by the test's clock.
    pub fn now(&self) -> Timestamp {
        *self.clock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the test clock forward.
    pub fn advance(&self, by: Duration) {
        *self.clock.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }

    /// Pushes `commit` now (the branch points to it) and delivers the event; returns
    /// the execution that delivers it.
    pub async fn push(&self, commit: &str) -> Execution {
        self.commits.set_head(commit);
        let event = World::push_event(commit, self.now());
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
        let event = World::build_event("codebuild-succeeded.json", execution);
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
        self.put(&format!("{prefix}packaged.yaml"), template.as_bytes())
            .await;
        for stage in ["staging", "production"] {
            let configuration =
                format!(r#"{{"Parameters": {{"StageName": "{stage}"}}{}}}"#, A::TAGS);
            self.put(&format!("{prefix}{stage}.json"), configuration.as_bytes())
                .await;
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
        let event = World::build_event("codebuild-succeeded.json", execution);
        self.engine
            .on_build(event)
            .await
            .expect("build event handled");
    }

    /// Delivers a stack event to the deploy function.
    pub async fn deliver_stack(&self, event: Value) -> Result<(), EngineError> {
        self.engine.on_stack(event).await
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

    /// Sends a request (a Function URL payload, see [`World::request`]) to the
    /// approval function; returns the status and the page.
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
}
