//! The world over the in-memory fakes of every AWS service: no process, no network,
//! faults the test injects, and deployments that end when the test says.

use std::sync::{Arc, Mutex};

use lambda_http::http::StatusCode;
use serde_json::Value;
use sluice_adapters::memory::{
    Faults, MemoryBuilder, MemoryCommits, MemoryDeployer, MemoryNotifier, MemoryProber,
};
use sluice_adapters::notifier::Message;
use sluice_adapters::{MemoryObjects, ObjectStore};
use sluice_core::{Execution, ExecutionId, Timestamp};
use sluice_engine::{Adapters, Config, Engine, Parts, WaitPolicy};

use super::events::path_and_token;
use super::{DEFINITION, STAGING, Setting, World, config, config_of, on_clock, start_time};

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

impl<O: ObjectStore> Setting for InMemory<O> {
    /// The faults every fake shares.
    type Extra = Faults;
    const TAGS: &'static str = "";
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

impl Default for Fakes {
    fn default() -> Self {
        Self::new()
    }
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
        let engine = Engine::new(
            config,
            Parts {
                objects,
                builder: self.builder.clone(),
                deployer: self.deployer.clone(),
                notifier: self.notifier.clone(),
                commits: self.commits.clone(),
                prober: self.prober.clone(),
            },
        );
        on_clock(engine, &self.clock).with_wait(wait)
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
        Self::of(config_of(
            &(DEFINITION.replace(
                "  - name: production\n",
                "    site: {bucket: hello-web-*}\n  - name: production\n",
            ) + "    site: {bucket: hello-web-*}\n"),
            &[],
        ))
    }

    /// The pipeline `config`.
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
            clock: fakes.clock,
            extra: fakes.faults,
        }
    }

    /// The faults every fake shares: AWS calls the test fails.
    pub fn faults(&self) -> &Faults {
        &self.extra
    }

    /// Ends `stack`'s running deployment; returns the event EventBridge would deliver.
    pub fn settle(&self, stack: &str) -> Value {
        let settled = self
            .deployer
            .settle(stack)
            .unwrap_or_else(|| panic!("nothing is deploying {stack}"));
        Self::stack_event(&settled.stack_id, &settled.status)
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
                    .map(path_and_token)
            })
            .unwrap_or_else(|| panic!("no approval link sent for {execution}"))
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
