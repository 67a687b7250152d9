//! The engine under a deterministic simulation, in the spirit of quinn-proto's test
//! harness: the real handlers over in-memory AWS, a simulated clock, and a scheduler
//! that pushes commits, delivers events late, out of order, twice or three times or
//! never, retries failed handlers as Lambda does, fails AWS calls before or after
//! they act (a crash between "state saved" and "command run", and the reverse),
//! runs overlapping sweeps, and has approvers click links, old ones included.
//! After each run, the promises of the issue "Delivery you can trust" must hold, and
//! in the runs whose staging deploys are tested, those of the post-deploy tests.
//!
//! `SLUICE_SIM_RUNS` sets the number of runs (default 10,000); a failure prints its
//! seed, and `SLUICE_SIM_SEED=<seed>` replays that one run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use chrono::Duration;
use serde_json::Value;
use sluice_adapters::builder::BuildOutcome;
use sluice_adapters::memory::{
    FAIL_CHANGE_SET, FAIL_DEPLOY, Faults, MemoryBuilder, MemoryCommits, MemoryDeployer,
    MemoryNotifier,
};
use sluice_adapters::{
    AwsError, Condition, MemoryObjects, Object, ObjectError, ObjectStore, Version,
};
use sluice_core::{Execution, ExecutionId, StageName, Timestamp};
use sluice_engine::operator::{Answer, OperatorCommand};
use sluice_engine::{Engine, WaitPolicy};
use sluice_tests::world::{
    Fakes, PRODUCTION, STAGING, World, build_event, commit, test_build_event,
};

mod invariants;
use invariants::check;

/// S3 as the simulation sees it: every call may yield to another handler, fail
/// before it acts, or (for writes) lose its answer after it acted.
#[derive(Clone)]
struct SimObjects {
    inner: MemoryObjects,
    faults: Faults,
}

fn object_error(key: &str, err: AwsError) -> ObjectError {
    ObjectError::Backend {
        operation: err.operation,
        key: key.to_owned(),
        retryable: err.retryable,
        source: Box::new(err),
    }
}

impl SimObjects {
    async fn before(&self, operation: &'static str, key: &str) -> Result<(), ObjectError> {
        tokio::task::yield_now().await;
        self.faults
            .check(operation)
            .map_err(|e| object_error(key, e))
    }
}

impl ObjectStore for SimObjects {
    async fn get(&self, key: &str) -> Result<Option<Object>, ObjectError> {
        self.before("GetObject", key).await?;
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, body: Vec<u8>, condition: Condition) -> Result<(), ObjectError> {
        self.before("PutObject", key).await?;
        self.inner.put(key, body, condition).await?;
        self.faults
            .check_after("PutObject")
            .map_err(|e| object_error(key, e))
    }
    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        max: usize,
    ) -> Result<Vec<String>, ObjectError> {
        self.before("ListObjectsV2", prefix).await?;
        self.inner.list(prefix, after, max).await
    }
    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        self.before("DeleteObject", key).await?;
        self.inner.delete(key).await
    }
    async fn head(&self, key: &str) -> Result<Option<Version>, ObjectError> {
        self.before("HeadObject", key).await?;
        self.inner.head(key).await
    }
    async fn read(
        &self,
        key: &str,
        version: Option<&str>,
        max: usize,
    ) -> Result<Option<(Vec<u8>, Version)>, ObjectError> {
        self.before("GetObject", key).await?;
        self.inner.read(key, version, max).await
    }
}

type SimEngine = Engine<sluice_tests::world::InMemory<SimObjects>>;

/// Which function an event goes to.
#[derive(Clone, Copy, Debug)]
enum Function {
    Source,
    Build,
    Deploy,
    /// The deploy function, for an alarm's state change.
    Alarm,
}

/// An event on its way to a function.
#[derive(Clone, Debug)]
struct Delivery {
    function: Function,
    event: Value,
    /// Lambda's attempts so far (it makes three).
    attempt: u32,
    /// Copies EventBridge has delivered so far (it may deliver up to three).
    copies: u32,
    /// For a push event, which push it is (1 for the first).
    push: Option<u32>,
}

/// What an approver saw after deciding, checked against what was saved.
struct Decision {
    execution: ExecutionId,
    stage: StageName,
    name: String,
    status: u16,
    page: String,
}

/// An operator command given during the run, and what it answered.
struct OperatorCall {
    /// The execution it names; a release names a commit instead.
    execution: Option<ExecutionId>,
    commit: Option<String>,
    caller: String,
    action: &'static str,
    answer: Result<Answer, String>,
}

/// The pushes a run makes, at most.
const PUSHES: u32 = 4;
/// Production's bucket, in the runs where production is a site.
const SITE: &str = "hello-web-production";
/// Staging's errors alarm, which the tested runs watch.
const ALARM: &str = "hello-staging-errors";
/// The windows of the windowed runs: half an hour each hour, but none in the evening.
const WINDOWS: &str = "daily 00:00-00:30, daily 01:00-01:30, daily 02:00-02:30, \
     daily 03:00-03:30, daily 04:00-04:30, daily 05:00-05:30, daily 06:00-06:30, \
     daily 07:00-07:30, daily 08:00-08:30, daily 09:00-09:30, daily 10:00-10:30, \
     daily 11:00-11:30, daily 12:00-12:30, daily 13:00-13:30, daily 14:00-14:30, \
     daily 15:00-15:30, daily 16:00-16:30, daily 17:00-17:30, daily 18:00-18:30";
/// Steps of the chaotic phase of a run.
const STEPS: usize = 160;

struct Sim {
    rng: fastrand::Rng,
    /// Set in runs with a hostile build: its random source.
    hostile: Option<fastrand::Rng>,
    engine: SimEngine,
    objects: MemoryObjects,
    builder: MemoryBuilder,
    deployer: MemoryDeployer,
    notifier: MemoryNotifier,
    commits: MemoryCommits,
    faults: Faults,
    clock: Arc<Mutex<Timestamp>>,
    pending: Vec<Delivery>,
    /// Every stack event ever sent, to redeliver stale ones.
    stack_events: Vec<Value>,
    pushed: u32,
    /// Pushes per commit.
    pushes: BTreeMap<String, u32>,
    /// Where the branch points: the next push moves it from there.
    head: Option<String>,
    /// Whether the pipeline has path filters (`api/`); the pushes the pipeline must
    /// deliver per commit (with filters, those that changed a file in them or came
    /// without an old commit; without, all), and the last of them.
    filtered: bool,
    /// Whether production is a site stage (bucket [`SITE`]) instead of a stack.
    site: bool,
    /// Whether staging's deploys are tested; a [`bad`] commit's test fails.
    tested: bool,
    relevant: BTreeMap<String, u32>,
    last_relevant: Option<(u32, String)>,
    /// The pushes whose event a function handled (at least one copy).
    handled_pushes: BTreeSet<u32>,
    /// Every commit made, oldest first, and whether it changed the API.
    history: Vec<(String, bool)>,
    finished_builds: BTreeSet<String>,
    used_links: BTreeSet<String>,
    decisions: Vec<Decision>,
    operator_calls: Vec<OperatorCall>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether `commit`'s release is broken in a way only its post-deploy test sees: one
/// commit in three (by the number [`commit`] made it from).
fn bad(commit: &str) -> bool {
    u32::from_str_radix(&commit[..8], 16).is_ok_and(|n| n % 3 == 0)
}

/// The template a commit's build leaves: sometimes one that CloudFormation refuses,
/// or one whose deployment rolls back.
/// The template a build of `commit` leaves, its function's code uploaded under
/// `prefix`; now and then one whose change set or deployment fails.
fn template_of(commit: &str, prefix: &str, rng: &mut fastrand::Rng) -> String {
    let description = match rng.u32(0..100) {
        0..4 => format!("template of {commit} {FAIL_CHANGE_SET}"),
        4..9 => format!("template of {commit} {FAIL_DEPLOY}"),
        _ => format!("template of {commit}"),
    };
    template_with_code(&description, &format!("{prefix}code/fn.zip"))
}

fn template_with_code(description: &str, code: &str) -> String {
    format!(
        "Description: {description}\nResources:\n  HelloFunction:\n    \
         Type: AWS::Serverless::Function\n    Properties:\n      \
         CodeUri: s3://sluice-artifacts/{code}\n"
    )
}

/// What a hostile build writes over code it can reach.
const FORGED: &[u8] = b"forged code";

impl Sim {
    fn new(seed: u64) -> Self {
        let mut fakes = Fakes::new();
        let objects = MemoryObjects::new();
        fakes.deployer = fakes.deployer.fetching_code_from(objects.clone());
        let mut rng = fastrand::Rng::with_seed(seed);
        // A third of the runs: a hostile build loops beside the pipeline, writing
        // over every upload it can reach (its own random source, so that the runs
        // of every other seed stay as they were).
        let hostile = seed
            .is_multiple_of(3)
            .then(|| fastrand::Rng::with_seed(seed ^ 0x0bad_b01d));
        // A third of the runs: a pipeline fed by part of its repository.
        let filtered = rng.u32(0..3) == 0;
        // A quarter: production is a static site, deployed to its bucket.
        let site = rng.u32(0..4) == 0;
        // A third of the others: staging's deploys are tested.
        let tested = !site && rng.u32(0..3) == 0;
        let mut vars = if site {
            vec![
                ("SLUICE_SITE_STAGES", "production"),
                ("SLUICE_SITE_BUCKET", SITE),
            ]
        } else if tested {
            // Tested runs also retry staging's throttled deploys, twice, and watch its
            // errors alarm, which goes off now and then.
            vec![
                ("SLUICE_TEST_STAGES", "staging"),
                ("SLUICE_RETRIES", "staging=2"),
                ("SLUICE_ALARM_STAGES", "staging"),
                ("SLUICE_ALARM_NAMES", "hello-*-errors"),
            ]
        } else {
            Vec::new()
        };
        // A third of all runs: production, or every stage, deploys only in windows.
        // Drawn apart, so that the other runs of a seed stay as they were.
        let mut draw = fastrand::Rng::with_seed(seed ^ 0x77_1d_0e);
        let windowed = match draw.u32(0..6) {
            0 => Some("production"),
            1 => Some("staging,production"),
            _ => None,
        };
        if let Some(stages) = windowed {
            vars.push(("SLUICE_WINDOW_STAGES", stages));
            vars.push(("SLUICE_WINDOWS", WINDOWS));
            vars.push(("SLUICE_WINDOW_TIME_ZONE", "Europe/Paris"));
        }
        let mut config = sluice_tests::world::config_with(&vars);
        fakes.deployer.set_alarm(ALARM, "OK", "quiet");
        if site {
            // What production served before Sluice.
            fakes
                .deployer
                .put_site_object(SITE, "index.html", "before", 6);
        }
        if filtered {
            config.paths = sluice_engine::paths::PathFilter::new(&["api/"], &["**/*.md"])
                .expect("valid patterns");
        }
        let engine = fakes.engine_of(
            config,
            SimObjects {
                inner: objects.clone(),
                faults: fakes.faults.clone(),
            },
            WaitPolicy {
                first: std::time::Duration::from_millis(10),
                max_interval: std::time::Duration::from_millis(50),
                budget: std::time::Duration::from_millis(200),
            },
        );
        Self {
            rng,
            hostile,
            engine,
            objects,
            builder: fakes.builder,
            deployer: fakes.deployer,
            notifier: fakes.notifier,
            commits: fakes.commits,
            faults: fakes.faults,
            clock: fakes.clock,
            pending: Vec::new(),
            stack_events: Vec::new(),
            pushed: 0,
            pushes: BTreeMap::new(),
            head: None,
            filtered,
            site,
            tested,
            relevant: BTreeMap::new(),
            last_relevant: None,
            handled_pushes: BTreeSet::new(),
            history: Vec::new(),
            finished_builds: BTreeSet::new(),
            used_links: BTreeSet::new(),
            decisions: Vec::new(),
            operator_calls: Vec::new(),
        }
    }

    fn now(&self) -> Timestamp {
        *lock(&self.clock)
    }

    fn advance(&self, by: Duration) {
        *lock(&self.clock) += by;
    }

    /// From now on, about `per_mille` of all AWS calls fail before acting, and as
    /// many lose their answer after acting.
    fn chaos(&mut self, per_mille: u32) {
        let mut before = fastrand::Rng::with_seed(self.rng.u64(..));
        let mut after = fastrand::Rng::with_seed(self.rng.u64(..));
        let fail = move |op: &'static str, rng: &mut fastrand::Rng| {
            (rng.u32(0..1000) < per_mille)
                .then(|| AwsError::service(op, "InternalError", "injected by the simulation", true))
        };
        self.faults.set(move |op| fail(op, &mut before));
        self.faults.set_after(move |op| fail(op, &mut after));
    }

    fn send(&mut self, function: Function, event: Value) {
        self.pending.push(Delivery {
            function,
            event,
            attempt: 1,
            copies: 1,
            push: None,
        });
    }

    fn push(&mut self) {
        // Mostly new commits; sometimes a commit pushed before, pushed again.
        let n = if self.pushed > 0 && self.rng.u32(0..5) == 0 {
            self.rng.u32(1..=self.pushed)
        } else {
            self.pushed + 1
        };
        self.pushed += 1;
        let c = commit(n);
        *self.pushes.entry(c.clone()).or_default() += 1;
        if !self.history.iter().any(|(h, _)| *h == c) {
            // A new commit: the API, documents (outside the paths), or both.
            let files: &[&str] = match self.rng.u32(0..10) {
                0..4 => &["api/src/lib.rs"],
                4..8 => &["docs/guide.md", "api/README.md"],
                _ => &["api/src/lib.rs", "docs/guide.md"],
            };
            self.commits.append_history(&c, files);
            self.history
                .push((c.clone(), files.contains(&"api/src/lib.rs")));
        }
        // Whether this push changed the API since the branch's old commit. An event
        // without the old commit (the branch new, or the same commit again, which
        // the events below send as a branch created anew) is always delivered.
        let counts = !self.filtered
            || match self.head.as_deref().filter(|old| *old != c) {
                None => true,
                Some(old) => {
                    let at = |x: &str| self.history.iter().position(|(h, _)| h == x);
                    match (at(old), at(&c)) {
                        (Some(a), Some(b)) => self.history[a.min(b) + 1..=a.max(b)]
                            .iter()
                            .any(|(_, api)| *api),
                        _ => true,
                    }
                }
            };
        if counts {
            *self.relevant.entry(c.clone()).or_default() += 1;
            self.last_relevant = Some((self.pushed, c.clone()));
        }
        self.commits.set_head(&c);
        // As CodeCommit says it: the commit the branch moved from. Pushes between two
        // clock steps share their second, so their order hangs on it.
        let mut event = match self.head.replace(c.clone()) {
            Some(old) if old != c => World::push_from(&c, &old, self.now()),
            _ => World::push_event(&c, self.now()),
        };
        // EventBridge's id: one per push, kept by every copy and retry of it.
        event["id"] = Value::String(format!("push-{}", self.pushed));
        self.pending.push(Delivery {
            function: Function::Source,
            event,
            attempt: 1,
            copies: 1,
            push: Some(self.pushed),
        });
    }

    async fn handle(&self, delivery: &Delivery) -> bool {
        let event = delivery.event.clone();
        let handled = match delivery.function {
            Function::Source => Box::pin(self.engine.on_push(event)).await,
            Function::Build => Box::pin(self.engine.on_build(event)).await,
            Function::Deploy => Box::pin(self.engine.on_stack(event)).await,
            Function::Alarm => Box::pin(self.engine.on_alarm(event)).await,
        };
        handled.is_ok()
    }

    /// Delivers one pending event, chosen at random: maybe lost, maybe duplicated;
    /// a failed handler is retried as Lambda does, then given up.
    async fn deliver(&mut self, lossless: bool) {
        if self.pending.is_empty() {
            return;
        }
        let i = self.rng.usize(..self.pending.len());
        let delivery = self.pending.swap_remove(i);
        let roll = self.rng.u32(0..100);
        if !lossless && roll < 4 {
            return;
        }
        if !lossless && roll < 20 && delivery.copies < 3 {
            self.pending.push(Delivery {
                copies: delivery.copies + 1,
                ..delivery.clone()
            });
        }
        let handled = self.handle(&delivery).await;
        if let (true, Some(push)) = (handled, delivery.push) {
            self.handled_pushes.insert(push);
        }
        if !handled {
            // After its third attempt Lambda gives up (to the failed-events queue):
            // the sweeper must repair whatever the event would have done.
            if delivery.attempt < 3 {
                self.pending.push(Delivery {
                    attempt: delivery.attempt + 1,
                    ..delivery
                });
            }
        }
    }

    /// A build that CodeBuild runs ends: it leaves its artifact and succeeds, or fails.
    async fn finish_build(&mut self, always_succeed: bool) {
        let running: Vec<_> = self
            .builder
            .requests()
            .into_iter()
            .filter_map(|r| {
                let id = self.builder.build_for(&r.idempotency_token)?;
                (!self.finished_builds.contains(&id) && !self.builder.stopped().contains(&id))
                    .then_some((r, id))
            })
            .collect();
        if running.is_empty() {
            return;
        }
        let (request, build_id) = running[self.rng.usize(..running.len())].clone();
        self.finished_builds.insert(build_id.clone());
        let execution = request
            .environment
            .iter()
            .find(|(name, _)| name == "SLUICE_EXECUTION_ID")
            .and_then(|(_, id)| ExecutionId::parse(id).ok())
            .expect("every build names its execution");
        if request.buildspec.is_some() {
            // A post-deploy test: it fails for a bad release, and now and then on
            // its own; it leaves nothing.
            let stage = request
                .environment
                .iter()
                .find(|(name, _)| name == "SLUICE_TEST_STAGE")
                .map(|(_, stage)| stage.clone())
                .expect("a test names its stage");
            let fails =
                bad(&request.source_version) || (!always_succeed && self.rng.u32(0..100) < 5);
            let (outcome, fixture) = match fails {
                true => (
                    BuildOutcome::Failed {
                        reason: "phase BUILD FAILED: smoke test".into(),
                        cause: sluice_core::Cause::Change,
                    },
                    "codebuild-failed.json",
                ),
                false => (BuildOutcome::Succeeded, "codebuild-succeeded.json"),
            };
            self.builder.set_outcome(&build_id, outcome);
            let event = test_build_event(fixture, &execution, &build_id, &stage);
            self.send(Function::Build, event);
            return;
        }
        if !always_succeed && self.rng.u32(0..100) < 10 {
            self.builder.set_outcome(
                &build_id,
                BuildOutcome::Failed {
                    reason: "phase BUILD FAILED".into(),
                    cause: sluice_core::Cause::Change,
                },
            );
            let event = build_event("codebuild-failed.json", &execution, &build_id);
            self.send(Function::Build, event);
            return;
        }
        // Where the build was told to upload, as a real build is.
        let prefix = request
            .environment
            .iter()
            .find(|(name, _)| name == "SLUICE_ARTIFACT_PREFIX")
            .map(|(_, prefix)| prefix.clone())
            .expect("a build is told where to upload");
        let template = template_of(&request.source_version, &prefix, &mut self.rng);
        let commit = &request.source_version;
        let mut files = vec![
            ("packaged.yaml".to_owned(), template),
            ("code/fn.zip".to_owned(), format!("code of {commit}")),
            (
                "production.json".to_owned(),
                r#"{"Parameters": {}}"#.to_owned(),
            ),
        ];
        if self.site {
            // Each commit's page, and a style sheet named after it: every deploy
            // changes one file, adds one and removes the last commit's.
            files.push(("site/index.html".into(), format!("page of {commit}")));
            files.push((format!("site/{}.css", &commit[..8]), "css".into()));
        }
        for (name, body) in files {
            let key = format!("{prefix}{name}");
            let condition = match self.objects.get(&key).await.expect("memory") {
                Some(o) => Condition::Matches(o.etag),
                None => Condition::Absent,
            };
            self.objects
                .put(&key, body.into_bytes(), condition)
                .await
                .expect("memory");
        }
        self.builder.set_outcome(&build_id, BuildOutcome::Succeeded);
        let event = build_event("codebuild-succeeded.json", &execution, &build_id);
        self.send(Function::Build, event);
    }

    /// A deployment CloudFormation runs ends, and its event is sent; sometimes an
    /// old stack event is sent again.
    fn settle_stack(&mut self) {
        if !self.stack_events.is_empty() && self.rng.u32(0..4) == 0 {
            let old = self.stack_events[self.rng.usize(..self.stack_events.len())].clone();
            self.send(Function::Deploy, old);
            return;
        }
        let deploying = self.deployer.deploying();
        if deploying.is_empty() {
            return;
        }
        let stack = &deploying[self.rng.usize(..deploying.len())];
        // Staging, which retries, is throttled now and then (a production deploy
        // retried by an operator asks for a new approval, which the checks of
        // decisions below do not follow).
        if self.tested && stack == STAGING && self.rng.u32(0..6) == 0 {
            self.deployer.throttle_next_deploy(stack);
        }
        if let Some(settled) = self.deployer.settle(stack) {
            let event = World::stack_event(&settled.stack_id, &settled.status);
            self.stack_events.push(event.clone());
            self.send(Function::Deploy, event);
        }
    }

    /// An approver opens a link from an email (a fresh one, mostly) and decides.
    async fn decide(&mut self) {
        let links: Vec<String> = self
            .notifier
            .sent()
            .iter()
            .flat_map(|m| {
                m.body
                    .split_whitespace()
                    .filter(|w| w.contains("/approvals/"))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        let fresh: Vec<_> = links
            .iter()
            .filter(|l| !self.used_links.contains(*l))
            .cloned()
            .collect();
        let pool = if fresh.is_empty() || self.rng.u32(0..10) == 0 {
            links
        } else {
            fresh
        };
        if pool.is_empty() {
            return;
        }
        let link = pool[self.rng.usize(..pool.len())].clone();
        self.used_links.insert(link.clone());
        let rest = link.trim_start_matches("https://approve.example");
        let Some((path, query)) = rest.split_once('?') else {
            return;
        };
        let token = query.trim_start_matches("token=");
        let mut parts = path.trim_start_matches("/approvals/").split('/');
        let (Some(id), Some(stage)) = (parts.next(), parts.next()) else {
            return;
        };
        let name = format!("approver-{}", self.decisions.len());
        let decision = if self.rng.u32(0..100) < 80 {
            "approve"
        } else {
            "reject"
        };
        let form = format!("token={token}&decision={decision}&name={name}");
        let request = lambda_http::request::from_str(
            &World::request("POST", path, "", Some(&form)).to_string(),
        )
        .expect("request");
        let response = Box::pin(sluice_engine::approval::handle(&self.engine, request)).await;
        let status = response.status().as_u16();
        let page = match response.into_body() {
            lambda_http::Body::Text(t) => t,
            _ => String::new(),
        };
        self.decisions.push(Decision {
            execution: ExecutionId::parse(id).expect("link id"),
            stage: StageName::parse(stage).expect("link stage"),
            name,
            status,
            page,
        });
    }

    /// An operator approves, rejects, resends, retries or cancels from a terminal, for
    /// any execution, or releases any commit pushed so far.
    async fn operate(&mut self) {
        let executions = self.engine.store.recent(20).await.unwrap_or_default();
        if executions.is_empty() {
            return;
        }
        let execution = executions[self.rng.usize(..executions.len())].id.clone();
        let caller = format!(
            "arn:aws:iam::123456789012:user/op-{}",
            self.operator_calls.len()
        );
        let action = match self.rng.u32(0..12) {
            0..4 => "approve",
            4..6 => "reject",
            6..8 => "resend",
            8..10 => "retry",
            10 => "cancel",
            _ => "release",
        };
        let released = commit(self.rng.u32(1..=self.pushed.max(1)));
        let commit = (action == "release").then_some(released);
        let nonce: [u8; 16] = std::array::from_fn(|_| self.rng.u8(..));
        let command = OperatorCommand::with_nonce(
            &self.engine.config.pipeline.name,
            sluice_tests::world::action(action, &execution, commit.as_deref()),
            self.now(),
            &nonce,
        );
        let answer = Box::pin(self.engine.operate(&caller, command))
            .await
            .map_err(|e| e.to_string());
        self.operator_calls.push(OperatorCall {
            execution: commit.is_none().then_some(execution),
            commit,
            caller,
            action,
            answer,
        });
    }

    /// The hostile build writes over an execution's upload where it can be guessed
    /// to be (from its id), and, as if it had found it, over the real one once the
    /// release is pinned: neither may ever run.
    async fn attack(&mut self) {
        let executions = self.engine.store.recent(20).await.unwrap_or_default();
        let Some(rng) = self.hostile.as_mut() else {
            return;
        };
        if executions.is_empty() {
            return;
        }
        let victim = &executions[rng.usize(..executions.len())];
        let guessed = format!("artifacts/hello/{}/", victim.id);
        let forged = format!("{guessed}code/fn.zip");
        self.objects.overwrite(&forged, FORGED.to_vec());
        let template = template_with_code(&format!("template of {}", victim.commit.id), &forged);
        self.objects
            .overwrite(&format!("{guessed}packaged.yaml"), template.into_bytes());
        if victim.artifact.is_some() {
            let upload = self.engine.config.artifact_prefix(victim);
            self.objects
                .overwrite(&format!("{upload}code/fn.zip"), FORGED.to_vec());
        }
    }

    /// Staging's errors alarm goes off, or quiets down; its state change is sent.
    fn flip_alarm(&mut self) {
        let state = if self.rng.bool() { "ALARM" } else { "OK" };
        self.deployer.set_alarm(ALARM, state, "Threshold Crossed");
        let event = serde_json::json!({
            "version": "0", "id": format!("alarm-{}", self.rng.u32(..)),
            "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
            "account": "123456789012", "time": "2026-11-20T10:00:00Z", "region": "us-east-1",
            "resources": [], "detail": {"alarmName": ALARM, "state": {"value": state, "reason": "Threshold Crossed"}}
        });
        self.send(Function::Alarm, event);
    }

    async fn sweep(&mut self) {
        if self.rng.bool() {
            let _ = Box::pin(self.engine.sweep(50)).await;
        } else {
            let (a, b) = (self.engine.sweep(50), self.engine.sweep(50));
            let _ = Box::pin(async { tokio::join!(a, b) }).await;
        }
    }

    async fn chaotic_phase(&mut self) {
        let rate = self.rng.u32(0..30);
        self.chaos(rate);
        for _ in 0..STEPS {
            if self.hostile.as_mut().is_some_and(|r| r.u32(0..4) == 0) {
                self.attack().await;
            }
            match self.rng.u32(0..100) {
                0..8 if self.pushed < PUSHES => self.push(),
                0..40 => self.deliver(false).await,
                40..52 => self.finish_build(false).await,
                52..64 => self.settle_stack(),
                64..69 => self.decide().await,
                69..72 => self.operate().await,
                72..74 if self.tested => self.flip_alarm(),
                72..84 => self.sweep().await,
                _ => {
                    let minutes = self.rng.i64(1..=10);
                    self.advance(Duration::minutes(minutes));
                }
            }
        }
        self.faults.clear();
    }

    /// Everything still on its way arrives; builds and deployments finish; the
    /// sweeper runs until nothing moves. What is left waits for a person.
    async fn drain(&mut self) -> Result<(), String> {
        // Calm: the alarm quiets down, so that every watch can end.
        self.deployer.set_alarm(ALARM, "OK", "quiet");
        for round in 0..60 {
            while !self.pending.is_empty() {
                self.deliver(true).await;
            }
            let builds_left = self
                .builder
                .requests()
                .iter()
                .filter_map(|r| self.builder.build_for(&r.idempotency_token))
                .any(|id| {
                    !self.finished_builds.contains(&id) && !self.builder.stopped().contains(&id)
                });
            if builds_left {
                self.finish_build(true).await;
                continue;
            }
            if !self.deployer.deploying().is_empty() {
                for stack in self.deployer.deploying() {
                    if let Some(settled) = self.deployer.settle(&stack) {
                        let event = World::stack_event(&settled.stack_id, &settled.status);
                        self.send(Function::Deploy, event);
                    }
                }
                continue;
            }
            self.deployer.work_out();
            self.advance(Duration::minutes(20));
            Box::pin(self.engine.sweep(100))
                .await
                .map_err(|e| format!("sweep failed without faults: {e}"))?;
            if round > 40 {
                break;
            }
        }
        Ok(())
    }

    async fn executions(&self) -> Vec<Execution> {
        self.engine.store.recent(1000).await.expect("list")
    }
}

fn stage_of<'a>(e: &'a Execution, name: &str) -> &'a sluice_core::Stage {
    e.stages
        .iter()
        .find(|s| s.name.as_str() == name)
        .expect("configured stage")
}

/// One run: chaos, then calm, then the invariants; then every approval lapses and
/// nothing may be left in flight.
async fn run(seed: u64) -> Result<(), String> {
    fastrand::seed(seed);
    let mut sim = Sim::new(seed);
    sim.chaotic_phase().await;
    sim.drain().await?;
    check(&sim).await?;
    sim.advance(Duration::days(8));
    for _ in 0..3 {
        Box::pin(sim.engine.sweep(100))
            .await
            .map_err(|e| e.to_string())?;
        while !sim.pending.is_empty() {
            sim.deliver(true).await;
        }
    }
    if let Some(e) = sim
        .executions()
        .await
        .iter()
        .find(|e| !e.status.is_terminal())
    {
        return Err(format!(
            "{} never ended: {} {:?}",
            e.id,
            e.status,
            e.timeline.last()
        ));
    }
    Ok(())
}

fn run_blocking(seed: u64) -> Result<(), String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime")
        .block_on(run(seed))
}

/// One run, with a panic in it reported as its failure (a worker that died of it
/// would take its seeds' failures with it).
fn run_caught(seed: u64) -> Result<(), String> {
    std::panic::catch_unwind(|| run_blocking(seed)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(format!("panicked: {message}"))
    })
}

#[test]
fn the_engine_keeps_its_promises_under_chaos() {
    if let Some(seed) = std::env::var("SLUICE_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        if let Err(e) = run_blocking(seed) {
            panic!("seed {seed}: {e}");
        }
        return;
    }
    let runs: u64 = std::env::var("SLUICE_SIM_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let failures: Vec<(u64, String)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (0..runs)
                        .filter(|seed| seed % threads == t)
                        .filter_map(|seed| run_caught(seed).err().map(|e| (seed, e)))
                        .take(3)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    if let Some((seed, first)) = failures.iter().min_by_key(|(s, _)| *s) {
        panic!(
            "{} of {runs} runs broke a promise; the first, seed {seed}: {first}\n\
             replay it with SLUICE_SIM_SEED={seed} cargo test -p sluice-engine --test engine simulation",
            failures.len()
        );
    }
}
