//! The local CodeBuild: `StartBuild`, `BatchGetBuilds` and `StopBuild`, answered
//! over CodeBuild's JSON protocol. A build clones the commit from the local
//! CodeCommit, runs the buildspec's phases on this machine, streams its log, uploads
//! the declared artifacts and sends `CodeBuild Build State Change` events.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::bus::Bus;
use crate::console::Console;
use crate::git::Repository;

mod api;
mod records;
mod runner;
mod setup;
mod shell;
mod tools;

use records::BuildRecord;

/// The project settings a build needs, read from the emulator's CodeBuild project.
#[derive(Clone, Debug)]
pub struct Project {
    pub name: String,
    pub repository: String,
    pub source_location: String,
    pub buildspec: String,
    pub artifacts_bucket: Option<String>,
    pub artifacts_path: String,
    /// The artifact's name when the buildspec's does not override it.
    pub artifacts_name: Option<String>,
    pub override_name: bool,
    /// Namespace type `BUILD_ID`: the build's id is a folder between path and name.
    pub artifacts_in_build_folder: bool,
    /// Packaging `ZIP`, which this CodeBuild does not do: it uploads files.
    pub artifacts_zipped: bool,
    /// The role CodeBuild runs the project's builds as.
    pub service_role: Option<String>,
    pub timeout_minutes: i32,
    pub environment: Vec<(String, String)>,
}

/// What every build shares.
pub struct Settings {
    pub endpoint: String,
    pub region: String,
    pub account: String,
    pub driver_url: String,
    pub state: PathBuf,
    pub cache: PathBuf,
    /// Where the tools CodeBuild's standard image has and this machine may not
    /// (`aws`, `sam`, `cargo-lambda`, `zig`) are installed: each build gets links to
    /// those tools alone, not these directories (see `tools`).
    pub tools: Vec<PathBuf>,
    /// Whether the emulator evaluates IAM: then each build runs as its project's
    /// service role, as CodeBuild runs it, and uploads its artifacts as that role.
    pub iam: bool,
}

/// The builds this local CodeBuild has started.
/// How long a stopped build's command has to end on SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct Builds {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    builds: Mutex<HashMap<String, BuildRecord>>,
    tokens: Mutex<HashMap<String, String>>,
    /// Held from looking a token up to recording its build, so simultaneous starts
    /// with one token start one build.
    starting: tokio::sync::Mutex<()>,
    processes: Mutex<HashMap<String, u32>>,
    repositories: HashMap<String, Repository>,
    codebuild: aws_sdk_codebuild::Client,
    s3: aws_sdk_s3::Client,
    /// The emulator's root account: what assumes a project's service role.
    sdk: aws_config::SdkConfig,
    bus: Bus,
    console: Console,
    numbers: Mutex<u64>,
    /// How many of the next builds of each buildspec fail to get a build machine (a
    /// fault the tests inject, as CodeBuild has on a bad day).
    provisioning_faults: Mutex<HashMap<String, u32>>,
}

/// An error in CodeBuild's JSON shape.
#[derive(Debug)]
pub struct ApiError {
    pub code: &'static str,
    pub message: String,
}

fn api(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        code,
        message: message.into(),
    }
}

fn now() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

fn event_time(t: f64) -> String {
    chrono::DateTime::from_timestamp_millis((t * 1000.0) as i64)
        .unwrap_or_default()
        .format("%b %-d, %Y %-I:%M:%S %p")
        .to_string()
}

impl Builds {
    /// The next `count` builds of `buildspec` fail before it runs: no build machine
    /// could be provisioned.
    pub fn fail_provisioning(&self, buildspec: &str, count: u32) {
        *lock(&self.inner.provisioning_faults)
            .entry(buildspec.to_owned())
            .or_default() += count;
    }

    /// How many builds were started for each execution (`SLUICE_EXECUTION_ID`).
    pub fn per_execution(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for build in lock(&self.inner.builds).values() {
            if let Some((_, id)) = build
                .environment
                .iter()
                .find(|(name, _)| name == "SLUICE_EXECUTION_ID")
            {
                *counts.entry(id.clone()).or_insert(0) += 1;
            }
        }
        counts
    }

    pub fn new(
        settings: Settings,
        sdk: &aws_config::SdkConfig,
        repositories: Vec<Repository>,
        bus: Bus,
        console: Console,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings,
                builds: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
                starting: tokio::sync::Mutex::new(()),
                processes: Mutex::new(HashMap::new()),
                repositories: repositories
                    .into_iter()
                    .map(|r| (r.name.clone(), r))
                    .collect(),
                codebuild: aws_sdk_codebuild::Client::new(sdk),
                s3: sluice_adapters::aws::s3_client(sdk),
                sdk: sdk.clone(),
                bus,
                console,
                numbers: Mutex::new(0),
                provisioning_faults: Mutex::new(HashMap::new()),
            }),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests;
