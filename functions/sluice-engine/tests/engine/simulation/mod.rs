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
//!
//! By job: `objects` (S3 with its faults), `setup` (a run's pipeline from its seed),
//! `actor` (what happens during a run), `run` (a run, and the test of the seeds) and
//! `invariants` (the promises checked after each run).

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

mod actor;
mod invariants;
mod objects;
mod run;
mod setup;
use invariants::check;
use objects::SimObjects;

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

/// What a hostile build writes over code it can reach.
const FORGED: &[u8] = b"forged code";

fn stage_of<'a>(e: &'a Execution, name: &str) -> &'a sluice_core::Stage {
    e.stages
        .iter()
        .find(|s| s.name.as_str() == name)
        .expect("configured stage")
}
