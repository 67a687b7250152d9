//! `sluice local`: the whole pipeline on this machine, no AWS account.
//!
//! The emulator (MiniStack) runs S3, CloudFormation, SNS, EventBridge and Lambda; the
//! orchestrator's own `template.yaml` is deployed into it, so the functions run there
//! as Lambdas. What the emulator lacks this driver provides over the real protocols:
//! CodeCommit (a bare git repository), CodeBuild (the buildspec run on this machine),
//! the delivery of `aws.*` events, an outbox for the topic's emails, and the approval
//! page on 127.0.0.1.

pub mod buildspec;
pub mod bus;
pub mod codebuild;
pub mod console;
pub mod demo;
pub mod emulator;
pub mod faults;
mod front;
pub mod git;
pub mod server;
pub mod stack;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use sluice_adapters::{ExecutionStore, S3Objects};
use tokio::task::JoinHandle;

pub use console::Console;
use emulator::Emulator;
use git::Repository;
use server::{Outbox, Shared};

pub const REGION: &str = "us-east-1";

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The Sluice workspace: where `template.yaml` and the functions' crates are.
    pub workspace: PathBuf,
    /// Where local mode keeps its files: repositories, build logs, outbox, emulator.
    pub state: PathBuf,
    /// What builds keep between runs, as a warm build machine would: compiled
    /// dependencies (`CARGO_TARGET_DIR`).
    pub cache: PathBuf,
    /// An emulator already running; `None` starts the pinned one.
    pub endpoint: Option<String>,
    pub emulator_binary: PathBuf,
    /// The orchestrator stack's name, which is also the pipeline's.
    pub stack: String,
    /// The application's repository in the local CodeCommit, and its name: stage
    /// `s` deploys the stack `<repository>-<s>`.
    pub repository: String,
    pub branch: String,
    /// The stages, in order.
    pub stages: Vec<String>,
    /// The stages that wait for approval.
    pub approval_stages: Vec<String>,
    /// How the functions are built before they are deployed into the emulator.
    pub function_build: stack::FunctionBuild,
    /// Put first on the builds' `PATH`, where they exist: the AWS CLI and the SAM CLI
    /// that `make` installs, as CodeBuild's standard image has them.
    pub build_tools: Vec<PathBuf>,
    /// Events delivered more than once and out of order (the soak suite); `None`
    /// delivers each once, at once.
    pub redelivery: Option<bus::Redelivery>,
    /// A share of the functions' AWS requests throttled or failed (the soak suite,
    /// `sluice local --faults`); `None` fails none.
    pub faults: Option<faults::Faults>,
    /// The pipeline's path filters (the stack's `IncludePaths` and `ExcludePaths`):
    /// which changed files start an execution. Empty for every file.
    pub include_paths: Vec<String>,
    pub exclude_paths: Vec<String>,
    /// The buildspec's path in the repository (the stack's `BuildSpec`).
    pub buildspec: String,
    /// More pipelines fed by the same repository, each its own Sluice stack.
    pub siblings: Vec<Sibling>,
    /// The stages whose deploys are tested (the stack's `TestStages`), by the
    /// buildspec `test_buildspec` (`TestBuildspec`).
    pub test_stages: Vec<String>,
    pub test_buildspec: String,
    /// The stages' automatic retries (`Retries`: a count, or `stage=count,...`) and
    /// the first retry's wait (`RetryBackoffSeconds`).
    pub retries: String,
    pub retry_seconds: u32,
    /// The watched stages (`AlarmStages`), their alarms (`AlarmNames`, `*` for the
    /// stage) and the watch time (`AlarmWatchMinutes`).
    pub alarm_stages: Vec<String>,
    pub alarm_names: Vec<String>,
    pub watch_minutes: u32,
    /// The stages that deploy only in windows (`WindowStages`), the windows
    /// (`DeployWindows`) and their time zone (`WindowTimeZone`).
    pub window_stages: Vec<String>,
    pub windows: String,
    pub window_time_zone: String,
    /// Where the functions' clock starts, if not now: it runs from there, ahead of
    /// this machine's by as much (the clock file [`stack::Wiring`] names). See
    /// [`Local::set_clock`].
    pub clock: Option<sluice_core::Timestamp>,
    /// Whether the emulator evaluates IAM (MiniStack's `AUTH`): every request is
    /// allowed or refused by the caller's policies, the functions call as their
    /// execution roles, and builds run as the project's service role
    /// (on unless `SLUICE_LOCAL_IAM=false`).
    pub iam: bool,
}

/// Another pipeline fed by the same repository and branch, as a second Sluice stack:
/// a repository that holds several applications, told apart by path filters (a
/// back-end under `api/`, a front-end under `web/`).
#[derive(Clone, Debug)]
pub struct Sibling {
    /// Its Sluice stack's name, which is also the pipeline's. It must not begin with
    /// the first pipeline's stack name and a '-': log groups are found by that prefix.
    pub stack: String,
    /// Its application: stage `s` deploys the stack `<application>-<s>`.
    pub application: String,
    /// Its stages, in order; none waits for approval.
    pub stages: Vec<String>,
    pub include_paths: Vec<String>,
    pub exclude_paths: Vec<String>,
    /// Its buildspec's path in the repository.
    pub buildspec: String,
    /// Its stages that wait for approval.
    pub approval_stages: Vec<String>,
    /// Its stages that deploy a static website (the stack's `SiteStages`), to
    /// `site_bucket` (`SiteBucket`), the artifact's folder `site_folder` (`SiteFolder`).
    pub site_stages: Vec<String>,
    pub site_bucket: String,
    pub site_folder: String,
    /// The CloudFront distribution whose caches each site deploy clears
    /// (`SiteDistribution`); empty for none.
    pub site_distribution: String,
    /// Its stages whose deploys are tested (`TestStages`), by `test_buildspec`.
    pub test_stages: Vec<String>,
    pub test_buildspec: String,
}

/// A comma-separated list, blanks dropped.
fn split_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Checks tested stages as the functions will check them: stages of the pipeline,
/// none a site stage, and a buildspec path inside the repository.
fn check_tests(
    tested: &[String],
    stages: &[String],
    sites: &[String],
    buildspec: &str,
) -> Result<()> {
    // `stage=smoke`: the stage's built-in smoke check gates it, checked the same way.
    let names: Vec<String> = tested
        .iter()
        .map(|t| t.strip_suffix("=smoke").unwrap_or(t).trim().to_owned())
        .collect();
    let tested = &names;
    if let Some(odd) = tested.iter().find(|s| s.contains('=')) {
        bail!("{odd:?}: list a stage as STAGE (tested by a build) or STAGE=smoke");
    }
    if let Some(unknown) = tested.iter().find(|s| !stages.contains(s)) {
        bail!(
            "{unknown:?} is not one of the stages ({}); list only stages of the pipeline",
            stages.join(", ")
        );
    }
    if let Some(site) = tested.iter().find(|s| sites.contains(s)) {
        bail!("{site} is a site stage; post-deploy tests are for stack stages only, for now");
    }
    sluice_core::PostDeployTest::new(buildspec)?;
    Ok(())
}

/// Checks path filters as the functions will check them.
fn check_paths(
    include: &[String],
    exclude: &[String],
) -> Result<(), sluice_engine::paths::BadPattern> {
    sluice_engine::paths::PathFilter::new(include, exclude).map(|_| ())
}

impl Sibling {
    /// A sibling from `sluice local --sibling`'s words: `stack=NAME application=NAME
    /// [stages=LIST] [approval=LIST] [include=GLOBS] [exclude=GLOBS] [buildspec=PATH]
    /// [sites=LIST bucket=PATTERN [folder=PATH] [distribution=ID]]`, lists comma-separated. Stages
    /// default to `staging,production` with no approval, the buildspec to
    /// `buildspec.yml`, the site folder to `site`.
    pub fn parse(spec: &str) -> Result<Self> {
        let list = split_list;
        let mut sibling = Sibling {
            stack: String::new(),
            application: String::new(),
            stages: vec!["staging".into(), "production".into()],
            include_paths: Vec::new(),
            exclude_paths: Vec::new(),
            buildspec: "buildspec.yml".into(),
            approval_stages: Vec::new(),
            site_stages: Vec::new(),
            site_bucket: String::new(),
            site_folder: "site".into(),
            site_distribution: String::new(),
            test_stages: Vec::new(),
            test_buildspec: sluice_core::DEFAULT_TEST_BUILDSPEC.into(),
        };
        for word in spec.split_whitespace() {
            let Some((key, value)) = word.split_once('=') else {
                bail!("{word:?} in --sibling {spec:?} is not KEY=VALUE");
            };
            match key {
                "stack" => sibling.stack = value.to_owned(),
                "application" => sibling.application = value.to_owned(),
                "stages" => sibling.stages = list(value),
                "include" => sibling.include_paths = list(value),
                "exclude" => sibling.exclude_paths = list(value),
                "buildspec" => sibling.buildspec = value.to_owned(),
                "approval" => sibling.approval_stages = list(value),
                "sites" => sibling.site_stages = list(value),
                "bucket" => sibling.site_bucket = value.to_owned(),
                "folder" => sibling.site_folder = value.to_owned(),
                "distribution" => sibling.site_distribution = value.to_owned(),
                "tests" => sibling.test_stages = list(value),
                "test-buildspec" => sibling.test_buildspec = value.to_owned(),
                other => bail!(
                    "--sibling has no key {other:?}; use stack, application, stages, approval, \
                     include, exclude, buildspec, sites, bucket, folder, distribution, tests \
                     and test-buildspec"
                ),
            }
        }
        if sibling.stack.is_empty() || sibling.application.is_empty() {
            bail!(
                "--sibling {spec:?} needs stack=NAME and application=NAME, such as \
                 \"stack=web-pipeline application=hello-web include=web/ buildspec=web/buildspec.yml\""
            );
        }
        Ok(sibling)
    }
}

impl Options {
    /// Defaults for the workspace at `workspace`, state under `state`.
    pub fn new(workspace: PathBuf, state: PathBuf) -> Self {
        let emulator_binary = std::env::var_os("SLUICE_MINISTACK")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join(".venv/emulator/bin/ministack"));
        let build_tools = vec![
            workspace.join(".venv/awscli/bin"),
            workspace.join(".venv/tools/bin"),
        ];
        Self {
            cache: workspace.join("target/local-build-cache"),
            workspace,
            state,
            endpoint: None,
            emulator_binary,
            stack: "sluice".into(),
            repository: "hello-api".into(),
            branch: "master".into(),
            stages: vec!["staging".into(), "production".into()],
            approval_stages: vec!["production".into()],
            function_build: stack::FunctionBuild::default(),
            build_tools,
            redelivery: None,
            faults: None,
            include_paths: Vec::new(),
            exclude_paths: Vec::new(),
            buildspec: "buildspec.yml".into(),
            siblings: Vec::new(),
            test_stages: Vec::new(),
            test_buildspec: sluice_core::DEFAULT_TEST_BUILDSPEC.into(),
            retries: String::new(),
            retry_seconds: 60,
            alarm_stages: Vec::new(),
            alarm_names: Vec::new(),
            watch_minutes: 10,
            window_stages: Vec::new(),
            windows: String::new(),
            window_time_zone: "UTC".into(),
            clock: None,
            iam: std::env::var("SLUICE_LOCAL_IAM").map_or(true, |v| v != "false"),
        }
    }

    /// Sets the stages' automatic retries (`--retries`, `--retry-seconds`), checked
    /// as the functions will check them.
    pub fn set_retries(&mut self, retries: &str, seconds: u32) -> Result<()> {
        let seconds_text = seconds.to_string();
        self.check_as_functions(&[
            ("SLUICE_RETRIES", retries),
            ("SLUICE_RETRY_SECONDS", seconds_text.as_str()),
        ])
        .context("--retries or --retry-seconds")?;
        self.retries = retries.to_owned();
        self.retry_seconds = seconds;
        Ok(())
    }

    /// Sets the watched stages, their alarms (`*` for the stage) and the watch time
    /// (`--alarm-stages`, `--alarm-names`, `--watch-minutes`), checked as the
    /// functions will check them.
    pub fn set_watch(&mut self, stages: &str, alarms: &str, minutes: u32) -> Result<()> {
        let minutes_text = minutes.to_string();
        self.check_as_functions(&[
            ("SLUICE_ALARM_STAGES", stages),
            ("SLUICE_ALARM_NAMES", alarms),
            ("SLUICE_ALARM_WATCH_MINUTES", minutes_text.as_str()),
        ])
        .context("--alarm-stages, --alarm-names or --watch-minutes")?;
        self.alarm_stages = split_list(stages);
        self.alarm_names = split_list(alarms);
        self.watch_minutes = minutes;
        Ok(())
    }

    /// Sets the stages that deploy only in windows, the windows and their time zone
    /// (`--window-stages`, `--windows`, `--window-time-zone`), checked as the
    /// functions will check them.
    pub fn set_windows(&mut self, stages: &str, windows: &str, time_zone: &str) -> Result<()> {
        self.check_as_functions(&[
            ("SLUICE_WINDOW_STAGES", stages),
            ("SLUICE_WINDOWS", windows),
            ("SLUICE_WINDOW_TIME_ZONE", time_zone),
        ])
        .context("--window-stages, --windows or --window-time-zone")?;
        self.window_stages = split_list(stages);
        self.windows = windows.to_owned();
        self.window_time_zone = time_zone.to_owned();
        Ok(())
    }

    /// Reads the first pipeline's configuration with `extra` variables as its
    /// functions will, so that what they would refuse at start is refused now.
    fn check_as_functions(&self, extra: &[(&str, &str)]) -> Result<()> {
        let stages = self.stages.join(",");
        let mut vars = vec![
            ("SLUICE_PIPELINE", self.stack.as_str()),
            ("SLUICE_REPOSITORY", self.repository.as_str()),
            ("SLUICE_APPLICATION", self.repository.as_str()),
            ("SLUICE_STAGES", stages.as_str()),
            ("SLUICE_BUCKET", "local"),
            ("SLUICE_TOPIC_ARN", "local"),
            ("SLUICE_BUILD_PROJECT", "local"),
        ];
        vars.extend_from_slice(extra);
        sluice_engine::Config::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .map(|_| ())
        .map_err(|e| anyhow!(sluice_adapters::aws::chain(&e)))
    }

    /// Sets the tested stages and their buildspec (`--test-stages`,
    /// `--test-buildspec`), checked as the functions will check them.
    pub fn set_tests(&mut self, stages: &str, buildspec: &str) -> Result<()> {
        let stages = split_list(stages);
        check_tests(&stages, &self.stages, &[], buildspec).context("--test-stages")?;
        self.test_stages = stages;
        self.test_buildspec = buildspec.to_owned();
        Ok(())
    }

    /// The stack stage `stage` deploys.
    pub fn stack_of(&self, stage: &str) -> String {
        format!("{}-{stage}", self.repository)
    }

    /// Sets the stages from `--stages` and `--approval`, checked as the functions
    /// will check them, so that a bad list is refused before anything starts.
    /// Without `approval`, `production` waits for approval if it is a stage.
    pub fn set_stages(&mut self, stages: &str, approval: Option<&str>) -> Result<()> {
        let split = split_list;
        let names = split(stages);
        let approval = match approval {
            Some(list) => split(list),
            None => names
                .iter()
                .filter(|s| *s == "production")
                .cloned()
                .collect(),
        };
        if let Some(unknown) = approval.iter().find(|a| !names.contains(a)) {
            bail!(
                "--approval names {unknown:?}, which is not one of the stages ({}); \
                 list stages of --stages, or none",
                names.join(", ")
            );
        }
        let configs = names
            .iter()
            .map(|name| {
                sluice_core::StageConfig::new(
                    name,
                    &self.stack_of(name),
                    None,
                    approval.contains(name),
                )
            })
            .collect::<Result<Vec<_>, _>>()
            .context("--stages is not a valid list of stages")?;
        sluice_core::Pipeline::new(&self.stack, &self.repository, &self.branch, configs)
            .context("--stages is not a valid list of stages")?;
        self.stages = names;
        self.approval_stages = approval;
        Ok(())
    }

    /// Adds a pipeline fed by the same repository, checked as its functions will
    /// check it and against the pipelines already here.
    pub fn add_sibling(&mut self, sibling: Sibling) -> Result<()> {
        let mut taken = vec![self.stack.as_str()];
        taken.extend(self.siblings.iter().map(|s| s.stack.as_str()));
        if let Some(clash) = taken.iter().find(|t| {
            **t == sibling.stack
                || sibling.stack.starts_with(&format!("{t}-"))
                || t.starts_with(&format!("{}-", sibling.stack))
        }) {
            bail!(
                "pipeline {:?} clashes with pipeline {clash:?}: each needs its own stack name, \
                 neither the other's followed by '-' (their log groups are found by prefix)",
                sibling.stack
            );
        }
        let mut applications = vec![self.repository.as_str()];
        applications.extend(self.siblings.iter().map(|s| s.application.as_str()));
        if applications.contains(&sibling.application.as_str()) {
            bail!(
                "application {:?} is already delivered by another pipeline: each deploys its own stacks",
                sibling.application
            );
        }
        for (what, listed) in [
            ("approval", &sibling.approval_stages),
            ("sites", &sibling.site_stages),
        ] {
            if let Some(unknown) = listed.iter().find(|s| !sibling.stages.contains(s)) {
                bail!(
                    "pipeline {:?}: {what}= names {unknown:?}, which is not one of its stages ({})",
                    sibling.stack,
                    sibling.stages.join(", ")
                );
            }
        }
        check_tests(
            &sibling.test_stages,
            &sibling.stages,
            &sibling.site_stages,
            &sibling.test_buildspec,
        )
        .with_context(|| format!("pipeline {:?}: tests=", sibling.stack))?;
        if !sibling.site_stages.is_empty() && sibling.site_bucket.is_empty() {
            bail!(
                "pipeline {:?} has site stages but no bucket=, such as bucket=hello-web-* \
                 ('*' stands for the stage)",
                sibling.stack
            );
        }
        let configs = sibling
            .stages
            .iter()
            .map(|name| {
                let stage = sluice_core::StageConfig::new(
                    name,
                    &format!("{}-{name}", sibling.application),
                    None,
                    sibling.approval_stages.contains(name),
                )?;
                if !sibling.site_stages.contains(name) {
                    return Ok(stage);
                }
                let mut site = sluice_core::site::SiteTarget::for_stage(
                    &stage.name,
                    &sibling.site_bucket,
                    &sibling.site_folder,
                    "index.html",
                )?;
                if !sibling.site_distribution.is_empty() {
                    site = site.with_distribution(&stage.name, &sibling.site_distribution)?;
                }
                Ok(stage.with_site(site))
            })
            .collect::<Result<Vec<_>, sluice_core::ConfigError>>()
            .with_context(|| format!("pipeline {:?} has an invalid stage list", sibling.stack))?;
        sluice_core::Pipeline::new(&sibling.stack, &self.repository, &self.branch, configs)
            .with_context(|| format!("pipeline {:?} is invalid", sibling.stack))?;
        check_paths(&sibling.include_paths, &sibling.exclude_paths)
            .with_context(|| format!("pipeline {:?} has invalid path filters", sibling.stack))?;
        self.siblings.push(sibling);
        Ok(())
    }

    /// The first pipeline, described as its siblings are: it delivers the repository
    /// as the application of the same name, and has no site stages.
    pub fn first_pipeline(&self) -> Sibling {
        Sibling {
            stack: self.stack.clone(),
            application: self.repository.clone(),
            stages: self.stages.clone(),
            include_paths: self.include_paths.clone(),
            exclude_paths: self.exclude_paths.clone(),
            buildspec: self.buildspec.clone(),
            approval_stages: self.approval_stages.clone(),
            site_stages: Vec::new(),
            site_bucket: String::new(),
            site_folder: "site".into(),
            site_distribution: String::new(),
            test_stages: self.test_stages.clone(),
            test_buildspec: self.test_buildspec.clone(),
        }
    }

    /// Sets the path filters from comma-separated glob lists (`--include-paths`,
    /// `--exclude-paths`), checked as the functions will check them.
    pub fn set_paths(&mut self, include: &str, exclude: &str) -> Result<()> {
        let (include, exclude) = (split_list(include), split_list(exclude));
        check_paths(&include, &exclude)
            .context("--include-paths or --exclude-paths is not a valid list of globs")?;
        self.include_paths = include;
        self.exclude_paths = exclude;
        Ok(())
    }
}

/// Local mode, running. Dropping it stops everything it started.
pub struct Local {
    pub options: Options,
    pub console: Console,
    pub sdk: SdkConfig,
    pub endpoint: String,
    pub driver_url: String,
    pub repository: Repository,
    pub outbox: Outbox,
    pub outputs: HashMap<String, String>,
    /// The outputs of each sibling's Sluice stack, by stack name.
    pub sibling_outputs: HashMap<String, HashMap<String, String>>,
    /// Where each pipeline's approval links point (its own listener), by stack name:
    /// pipelines fed by one repository give one push the same execution id.
    pub approval_bases: HashMap<String, String>,
    tasks: Vec<JoinHandle<()>>,
    builds: codebuild::Builds,
    bus: bus::Bus,
    faults: Option<faults::FaultProxy>,
    // Declared last: dropped after the tasks that talk to it.
    _emulator: Option<Emulator>,
}

/// One line a function logged.
#[derive(Clone, Debug)]
pub struct LogLine {
    /// The function's name in the stack, such as `source`.
    pub function: String,
    /// When it was logged, in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    pub message: String,
}

/// The approvers' address a local pipeline is deployed with.
pub const LOCAL_APPROVERS: &str = "approvers@example.com";

/// The host of stack `stack`'s approval function URL (its `outputs`' `ApprovalUrl`),
/// which the emulator routes on.
fn approval_function_host(outputs: &HashMap<String, String>, stack: &str) -> Result<String> {
    let url = outputs
        .get("ApprovalUrl")
        .ok_or_else(|| anyhow!("the {stack} stack has no output ApprovalUrl"))?;
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .and_then(|rest| rest.split('/').next())
        .filter(|h| !h.is_empty())
        .with_context(|| format!("the ApprovalUrl output {url:?} has no host"))?;
    Ok(host.to_owned())
}

/// An SDK configuration aimed at the emulator at `endpoint`.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "sluice-local"))
        .endpoint_url(endpoint)
        .load()
        .await
}

impl Local {
    /// Starts the emulator (unless given one), the driver's endpoint, deploys the
    /// orchestrator and begins delivering events.
    pub async fn start(options: Options, console: Console) -> Result<Self> {
        std::fs::create_dir_all(&options.state)
            .with_context(|| format!("cannot create {}", options.state.display()))?;
        let state = options.state.canonicalize()?;
        if options.faults.is_some() && options.iam {
            bail!(
                "faults cannot be injected while the emulator evaluates IAM: the fault proxy \
                 re-addresses requests, and the emulator then refuses their signatures; \
                 set SLUICE_LOCAL_IAM=false to inject faults"
            );
        }
        if options.faults.is_some() && options.endpoint.is_some() {
            bail!(
                "faults can be injected only into the emulator sluice local starts: \
                 drop --endpoint, or drop --faults"
            );
        }
        // The functions' requests go through the fault-injecting proxy, if any.
        let proxy_port = match &options.faults {
            Some(_) => Some(faults::FaultProxy::reserve_port()?),
            None => None,
        };
        // With IAM evaluated, everything reaches the emulator through its front door,
        // which says the request came over TLS, as every request to AWS does.
        let front = match options.iam {
            true => Some(
                tokio::net::TcpListener::bind(("127.0.0.1", 0))
                    .await
                    .context("cannot listen on 127.0.0.1")?,
            ),
            false => None,
        };
        let front_url = match &front {
            Some(listener) => Some(format!(
                "http://127.0.0.1:{}",
                listener.local_addr()?.port()
            )),
            None => None,
        };
        let lambda_endpoint = proxy_port
            .map(|port| format!("http://127.0.0.1:{port}"))
            .or_else(|| front_url.clone());
        let emulator = match &options.endpoint {
            Some(_) => None,
            None => {
                console.say("local", "starting the AWS emulator (MiniStack)…");
                let dir = state.join("emulator");
                std::fs::create_dir_all(&dir)?;
                Some(Emulator::start(
                    &options.emulator_binary,
                    &dir,
                    lambda_endpoint.as_deref(),
                    options.iam,
                )?)
            }
        };
        let mut endpoint = match (&options.endpoint, &emulator) {
            (Some(e), _) => e.trim_end_matches('/').to_owned(),
            (None, Some(e)) => e.endpoint(),
            (None, None) => unreachable!("an emulator is started when no endpoint is given"),
        };
        let mut front_task = None;
        if let (Some(listener), Some(url)) = (front, front_url) {
            front_task = Some(front::serve(listener, &endpoint)?);
            endpoint = url;
        }
        if !endpoint.starts_with("http://127.0.0.1:") && !endpoint.starts_with("http://localhost:")
        {
            bail!(
                "--endpoint must be a loopback address like http://127.0.0.1:4566, not {endpoint}"
            );
        }
        console.say("local", format!("emulator at {endpoint}"));
        let fault_proxy = match (&options.faults, proxy_port) {
            (Some(faults), Some(port)) => {
                let proxy =
                    faults::FaultProxy::start(faults, &state.join("faults"), &endpoint, port)?;
                console.say(
                    "local",
                    format!(
                        "failing {:.0}% of the functions' AWS requests (throttled or 500) at {}",
                        faults.share * 100.0,
                        proxy.endpoint()
                    ),
                );
                Some(proxy)
            }
            _ => None,
        };
        let sdk = sdk_config(&endpoint).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("cannot listen on 127.0.0.1")?;
        let driver_url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());

        let repository =
            Repository::create(&state.join("repos"), &options.repository, &options.branch).await?;
        let bus = bus::Bus::new(&sdk, "000000000000", console.clone())
            .with_redelivery(options.redelivery);
        let builds = codebuild::Builds::new(
            codebuild::Settings {
                endpoint: endpoint.clone(),
                region: REGION.into(),
                account: "000000000000".into(),
                driver_url: driver_url.clone(),
                state: state.clone(),
                cache: options.cache.clone(),
                tools: options.build_tools.clone(),
                iam: options.iam,
            },
            &sdk,
            vec![repository.clone()],
            bus.clone(),
            console.clone(),
        );
        let sns = aws_sdk_sns::Client::new(&sdk);
        let outbox = Outbox::new(state.join("outbox"), sns.clone(), console.clone());
        let approval_host = Arc::new(Mutex::new(None));
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(120))
            .build()?;
        let shared = Shared {
            repositories: vec![repository.clone()],
            builds: builds.clone(),
            outbox: outbox.clone(),
            state: state.clone(),
            emulator: endpoint.clone(),
            approval_host: approval_host.clone(),
            http,
            s3: sluice_adapters::aws::s3_client(&sdk),
        };
        let mut tasks = Vec::new();
        tasks.extend(front_task);
        // Each sibling gets its own listener, the same services but its own approval
        // function behind `/approvals/`, so that its links reach its own page.
        let mut sibling_drivers = Vec::new();
        for sibling in &options.siblings {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
                .await
                .context("cannot listen on 127.0.0.1")?;
            let url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
            let host = Arc::new(Mutex::new(None));
            let app = server::router(Shared {
                approval_host: host.clone(),
                ..shared.clone()
            });
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }));
            sibling_drivers.push((sibling.clone(), url, host));
        }
        let app = server::router(shared);
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
        let options = Options {
            state: state.clone(),
            ..options
        };
        let mut local = Self {
            bus: bus.clone(),
            options,
            console: console.clone(),
            sdk,
            endpoint,
            driver_url,
            repository,
            outbox,
            outputs: HashMap::new(),
            sibling_outputs: HashMap::new(),
            approval_bases: HashMap::new(),
            tasks,
            builds,
            faults: fault_proxy,
            _emulator: emulator,
        };
        // The functions' clock: where the options start it, else this machine's (a
        // state directory used before may hold an old move).
        match local.options.clock {
            Some(at) => local.set_clock(at)?,
            None => std::fs::write(local.clock_file(), "0\n")?,
        }
        let (packaged, administrator) = local.deploy().await?;
        let approval = approval_function_host(&local.outputs, &local.options.stack)?;
        *approval_host.lock().unwrap_or_else(|e| e.into_inner()) = Some(approval);
        local
            .subscribe_outbox(&local.output("NotificationTopicArn")?)
            .await?;
        let first = local.options.stack.clone();
        local.approval_bases.insert(first, local.driver_url.clone());
        for (sibling, url, host) in sibling_drivers {
            let outputs = local
                .deploy_pipeline(&sibling, &url, &packaged, &administrator)
                .await?;
            local.approval_bases.insert(sibling.stack.clone(), url);
            let approval = approval_function_host(&outputs, &sibling.stack)?;
            *host.lock().unwrap_or_else(|e| e.into_inner()) = Some(approval);
            let topic = outputs
                .get("NotificationTopicArn")
                .cloned()
                .ok_or_else(|| {
                    anyhow!(
                        "the {} stack has no output NotificationTopicArn",
                        sibling.stack
                    )
                })?;
            local.subscribe_outbox(&topic).await?;
            local.sibling_outputs.insert(sibling.stack.clone(), outputs);
        }
        let cloudformation = aws_sdk_cloudformation::Client::new(&local.sdk);
        let mut orchestrators = vec![local.options.stack.clone()];
        orchestrators.extend(local.options.siblings.iter().map(|s| s.stack.clone()));
        local.tasks.push(tokio::spawn(bus::watch_stacks(
            bus.clone(),
            cloudformation,
            orchestrators,
        )));
        local
            .tasks
            .push(tokio::spawn(watch_pushes(local.repository.clone(), bus)));
        console.say(
            "local",
            format!(
                "ready. Push {} to {} to deliver.\n                 State: AWS_ENDPOINT_URL={} AWS_ENDPOINT_URL_CODECOMMIT={} SLUICE_BUCKET={} SLUICE_PIPELINE={} sluice status",
                local.options.branch,
                local.repository.path.display(),
                local.endpoint,
                local.driver_url,
                local.output("ArtifactBucketName").unwrap_or_default(),
                local.options.stack,
            ),
        );
        for sibling in &local.options.siblings {
            let bucket = local
                .sibling_outputs
                .get(&sibling.stack)
                .and_then(|o| o.get("ArtifactBucketName"))
                .cloned()
                .unwrap_or_default();
            console.say(
                "local",
                format!(
                    "and pipeline {}: SLUICE_BUCKET={bucket} SLUICE_PIPELINE={} sluice status",
                    sibling.stack, sibling.stack
                ),
            );
        }
        Ok(local)
    }

    /// Packages the orchestrator and deploys the first pipeline's stack; returns the
    /// packaged template, for the siblings, and who deployed it.
    async fn deploy(&mut self) -> Result<(serde_yaml_ng::Value, String)> {
        let template_path = self.options.workspace.join("template.yaml");
        let text = std::fs::read_to_string(&template_path)
            .with_context(|| format!("cannot read {}", template_path.display()))?;
        let s3 = sluice_adapters::aws::s3_client(&self.sdk);
        let packaged = stack::package(
            &text,
            &self.options.workspace,
            self.options.function_build,
            &s3,
            &self.console,
        )
        .await?;
        // Whoever deploys the stack is the one principal that may change its bucket's policy.
        let administrator = sluice_adapters::aws::caller_arn(&self.sdk)
            .await
            .map_err(|e| anyhow!(sluice_adapters::aws::chain(&e)))
            .context("the emulator's STS cannot say who deploys the stack")?;
        let first = self.options.first_pipeline();
        let driver_url = self.driver_url.clone();
        self.outputs = self
            .deploy_pipeline(&first, &driver_url, &packaged, &administrator)
            .await?;
        Ok((packaged, administrator))
    }

    /// Deploys pipeline `pipeline`'s Sluice stack from the packaged template, its
    /// functions calling the driver at `driver_url`; returns the stack's outputs.
    async fn deploy_pipeline(
        &self,
        pipeline: &Sibling,
        driver_url: &str,
        packaged: &serde_yaml_ng::Value,
        administrator: &str,
    ) -> Result<HashMap<String, String>> {
        let cloudformation = aws_sdk_cloudformation::Client::new(&self.sdk);
        let parameters = [
            ("AdministratorArn", administrator.to_owned()),
            ("RepositoryName", self.options.repository.clone()),
            ("BranchName", self.options.branch.clone()),
            ("ApplicationName", pipeline.application.clone()),
            ("Stages", pipeline.stages.join(",")),
            ("ApprovalStages", pipeline.approval_stages.join(",")),
            // The outbox reads the topic over HTTP; an address is what the stack
            // requires of a pipeline with a gate (its email goes nowhere here).
            ("ApprovalEmails", LOCAL_APPROVERS.to_owned()),
            ("IncludePaths", pipeline.include_paths.join(",")),
            ("ExcludePaths", pipeline.exclude_paths.join(",")),
            ("BuildSpec", pipeline.buildspec.clone()),
            ("SiteStages", pipeline.site_stages.join(",")),
            ("SiteBucket", pipeline.site_bucket.clone()),
            ("SiteFolder", pipeline.site_folder.clone()),
            ("SiteDistribution", pipeline.site_distribution.clone()),
            ("TestStages", pipeline.test_stages.join(",")),
            ("TestBuildspec", pipeline.test_buildspec.clone()),
            // The retries name the first pipeline's stages (`--retries`).
            (
                "Retries",
                match pipeline.stack == self.options.stack {
                    true => self.options.retries.clone(),
                    false => String::new(),
                },
            ),
            (
                "RetryBackoffSeconds",
                self.options.retry_seconds.to_string(),
            ),
            // So do the watches (`--alarm-stages`).
            (
                "AlarmStages",
                match pipeline.stack == self.options.stack {
                    true => self.options.alarm_stages.join(","),
                    false => String::new(),
                },
            ),
            ("AlarmNames", self.options.alarm_names.join(",")),
            ("AlarmWatchMinutes", self.options.watch_minutes.to_string()),
            // And the windows (`--window-stages`).
            (
                "WindowStages",
                match pipeline.stack == self.options.stack {
                    true => self.options.window_stages.join(","),
                    false => String::new(),
                },
            ),
            ("DeployWindows", self.options.windows.clone()),
            ("WindowTimeZone", self.options.window_time_zone.clone()),
        ];
        let clock_file = self.clock_file();
        let wiring = stack::Wiring {
            driver_url,
            clock_file: &clock_file,
            api_endpoint: &self.endpoint,
        };
        let s3 = sluice_adapters::aws::s3_client(&self.sdk);
        let template_url = wiring.upload(packaged, &s3).await?;
        stack::deploy(
            &cloudformation,
            &pipeline.stack,
            &template_url,
            &parameters,
            &self.console,
        )
        .await
    }

    /// The file the functions' clock reads how far ahead it runs from.
    fn clock_file(&self) -> PathBuf {
        self.options.state.join("clock")
    }

    /// Moves the functions' clock to `at`: from now on they read the time as if this
    /// machine's clock had been at `at` now. Local mode's way to reach a deployment
    /// window; the emulator and the builds keep this machine's time.
    pub fn set_clock(&self, at: sluice_core::Timestamp) -> Result<()> {
        let ahead = (at - chrono::Utc::now()).num_seconds();
        let path = self.clock_file();
        std::fs::write(&path, format!("{ahead}\n"))
            .with_context(|| format!("cannot write {}", path.display()))?;
        self.console.say(
            "local",
            format!(
                "the functions' clock now reads {}",
                at.format("%a %Y-%m-%d %H:%M UTC")
            ),
        );
        Ok(())
    }

    /// One output of the orchestrator stack.
    pub fn output(&self, key: &str) -> Result<String> {
        self.outputs
            .get(key)
            .cloned()
            .ok_or_else(|| anyhow!("the {} stack has no output {key}", self.options.stack))
    }

    /// The stages of sibling pipeline `stack`.
    pub fn sibling_stages(&self, stack: &str) -> Result<Vec<String>> {
        self.options
            .siblings
            .iter()
            .find(|s| s.stack == stack)
            .map(|s| s.stages.clone())
            .ok_or_else(|| anyhow!("local mode runs no pipeline {stack}"))
    }

    /// Creates bucket `name` serving a static website (`index.html`), as whoever runs
    /// a site's hosting would; local mode's driver serves it at `/sites/<name>/`.
    pub async fn create_site_bucket(&self, name: &str) -> Result<()> {
        let s3 = sluice_adapters::aws::s3_client(&self.sdk);
        s3.create_bucket().bucket(name).send().await.map_err(|e| {
            anyhow!(
                "cannot create bucket {name}: {}",
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )
        })?;
        let index = aws_sdk_s3::types::IndexDocument::builder()
            .suffix("index.html")
            .build()?;
        let website = aws_sdk_s3::types::WebsiteConfiguration::builder()
            .index_document(index)
            .build();
        s3.put_bucket_website()
            .bucket(name)
            .website_configuration(website)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "cannot make {name} a website: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            })?;
        Ok(())
    }

    /// Where pipeline `stack` (the first or a sibling) keeps its executions.
    pub fn store_of(&self, stack: &str) -> Result<ExecutionStore<S3Objects>> {
        let outputs = if stack == self.options.stack {
            &self.outputs
        } else {
            self.sibling_outputs
                .get(stack)
                .ok_or_else(|| anyhow!("local mode runs no pipeline {stack}"))?
        };
        let bucket = outputs
            .get("ArtifactBucketName")
            .cloned()
            .ok_or_else(|| anyhow!("the {stack} stack has no output ArtifactBucketName"))?;
        Ok(ExecutionStore::for_name(
            S3Objects::new(sluice_adapters::aws::s3_client(&self.sdk), bucket),
            stack,
        )?)
    }

    /// Saves the messages of `topic` in the outbox.
    async fn subscribe_outbox(&self, topic: &str) -> Result<()> {
        let topic = topic.to_owned();
        self.outbox.accept_topic(&topic);
        let sns = aws_sdk_sns::Client::new(&self.sdk);
        let endpoint = format!("{}/outbox", self.driver_url);
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("http")
            .endpoint(&endpoint)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "cannot subscribe the outbox to {topic}: {}",
                    aws_sdk_sns::error::DisplayErrorContext(&e)
                )
            })?;
        Ok(())
    }

    /// Lambda invocations the event bus has made, every copy of an event counted.
    pub fn invocations(&self) -> u64 {
        self.bus.invocations()
    }

    /// What the fault-injecting proxy passed and failed, when faults are injected.
    pub async fn fault_stats(&self) -> Result<Option<faults::FaultStats>> {
        match &self.faults {
            Some(proxy) => Ok(Some(proxy.stats().await?)),
            None => Ok(None),
        }
    }

    /// The next `count` builds of `buildspec` fail to get a build machine, as
    /// CodeBuild's do on a bad day: for the tests of what is retried.
    pub fn fail_build_provisioning(&self, buildspec: &str, count: u32) {
        self.builds.fail_provisioning(buildspec, count);
    }

    /// Runs the sweeper once, now, as its five-minute schedule would, and waits until
    /// it has finished its pass.
    pub async fn sweep(&self) -> Result<()> {
        let cloudformation = aws_sdk_cloudformation::Client::new(&self.sdk);
        let resource = cloudformation
            .describe_stack_resource()
            .stack_name(&self.options.stack)
            .logical_resource_id("SweeperFunction")
            .send()
            .await
            .context("cannot find the sweeper function in the orchestrator stack")?;
        let function = resource
            .stack_resource_detail()
            .and_then(|r| r.physical_resource_id())
            .context("the sweeper function has no name yet")?;
        let event = bus::envelope(
            "aws.scheduler",
            "Scheduled Event",
            REGION,
            "000000000000",
            Vec::new(),
            serde_json::json!({}),
        );
        let answer = aws_sdk_lambda::Client::new(&self.sdk)
            .invoke()
            .function_name(function)
            .payload(aws_sdk_lambda::primitives::Blob::new(serde_json::to_vec(
                &event,
            )?))
            .send()
            .await
            .with_context(|| format!("cannot invoke the sweeper {function}"))?;
        if let Some(error) = answer.function_error() {
            let payload = answer
                .payload()
                .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned())
                .unwrap_or_default();
            bail!("the sweeper failed ({error}): {payload}");
        }
        Ok(())
    }

    /// Every line the orchestrator's functions logged, oldest first, as the
    /// emulator's CloudWatch Logs keeps them.
    pub async fn function_logs(&self) -> Result<Vec<LogLine>> {
        self.function_logs_of(&self.options.stack).await
    }

    /// The same, of pipeline `stack` (the first or a sibling).
    pub async fn function_logs_of(&self, stack: &str) -> Result<Vec<LogLine>> {
        let logs = aws_sdk_cloudwatchlogs::Client::new(&self.sdk);
        let prefix = sluice_engine::config::log_group_prefix(stack);
        let groups = logs
            .describe_log_groups()
            .log_group_name_prefix(&prefix)
            .send()
            .await
            .context("cannot list the functions' log groups")?;
        let mut lines = Vec::new();
        for group in groups
            .log_groups()
            .iter()
            .filter_map(|g| g.log_group_name())
        {
            let function = group.strip_prefix(&prefix).unwrap_or(group).to_owned();
            let mut pages = logs
                .filter_log_events()
                .log_group_name(group)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.with_context(|| format!("cannot read the log group {group}"))?;
                lines.extend(page.events().iter().map(|e| LogLine {
                    function: function.clone(),
                    timestamp_ms: e.timestamp().unwrap_or_default(),
                    message: e.message().unwrap_or_default().to_owned(),
                }));
            }
        }
        lines.sort_by_key(|l| l.timestamp_ms);
        Ok(lines)
    }

    /// The CloudWatch Embedded Metric Format documents among the functions' logs: one
    /// or more per invocation.
    pub async fn emf_documents(&self) -> Result<Vec<serde_json::Value>> {
        Ok(self
            .function_logs()
            .await?
            .iter()
            .filter(|l| l.message.contains("\"CloudWatchMetrics\""))
            .filter_map(|l| serde_json::from_str(l.message.trim()).ok())
            .collect())
    }

    /// How many builds the local CodeBuild started for each execution.
    pub fn builds_per_execution(&self) -> HashMap<String, usize> {
        self.builds.per_execution()
    }

    /// The pipeline's state, as `sluice status` reads it.
    pub fn store(&self) -> Result<ExecutionStore<S3Objects>> {
        self.store_of(&self.options.stack)
    }

    /// The application's address in a stage stack, as the emulator serves it: the
    /// stack's one output whose value is an API Gateway or function URL (the first by
    /// name if there are several). Returns the output's name and the address.
    pub async fn application_url(&self, stack: &str) -> Result<(String, String)> {
        let cloudformation = aws_sdk_cloudformation::Client::new(&self.sdk);
        let described = stack::describe(&cloudformation, stack)
            .await?
            .with_context(|| format!("there is no stack {stack}"))?;
        let mut urls: Vec<(String, String)> = described
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .filter(|(_, v)| v.contains(".execute-api.") && v.starts_with("https://"))
            .collect();
        urls.sort();
        let (key, url) = urls.into_iter().next().with_context(|| {
            format!("stack {stack} has no output whose value is an API's https:// address")
        })?;
        Ok((key, emulated_api_url(&url, &self.endpoint)?))
    }
}

/// `https://<api>.execute-api.<region>.amazonaws.com/<stage>/<path>` as the emulator
/// serves it: `<endpoint>/_aws/execute-api/<api>/<stage>/<path>` (as the functions'
/// smoke check calls it).
pub fn emulated_api_url(url: &str, endpoint: &str) -> Result<String> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    if parsed.scheme() != "https" {
        bail!("{url:?} is not an https URL");
    }
    let endpoint = reqwest::Url::parse(endpoint)
        .with_context(|| format!("{endpoint:?} is not the emulator's URL"))?;
    sluice_adapters::probe::emulated_api_url(&parsed, &endpoint)
        .map(String::from)
        .with_context(|| format!("{url:?} is not an API Gateway URL"))
}

/// Turns each push recorded by the repository's hook into a `CodeCommit Repository
/// State Change` event, until the task is dropped.
async fn watch_pushes(repository: Repository, bus: bus::Bus) {
    let mut offset = repository.pushes_offset();
    let arn = format!(
        "arn:aws:codecommit:{}:{}:{}",
        bus.region(),
        bus.account(),
        repository.name
    );
    loop {
        match repository.pushes_since(offset) {
            Ok((updates, next)) => {
                offset = next;
                for update in updates {
                    let detail = update.detail(&repository.name, &repository.name);
                    bus.console_say(&format!(
                        "{} {} → {}",
                        detail["event"].as_str().unwrap_or("push"),
                        detail["referenceName"].as_str().unwrap_or(""),
                        &update.new[..12.min(update.new.len())]
                    ));
                    let event = bus::envelope(
                        "aws.codecommit",
                        "CodeCommit Repository State Change",
                        bus.region(),
                        bus.account(),
                        vec![arn.clone()],
                        detail,
                    );
                    bus.deliver_or_warn(&event).await;
                }
            }
            Err(e) => bus.console_say(&format!("cannot read the push log: {e:#}")),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.builds.stop_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_pipeline_is_read_from_its_words_and_checked_against_the_first() {
        let web = Sibling::parse(
            "stack=web-pipeline application=hello-web stages=staging include=web/,*.json \
             exclude=**/*.md buildspec=web/buildspec.yml",
        )
        .expect("valid");
        assert_eq!(web.stages, ["staging"]);
        assert_eq!(web.include_paths, ["web/", "*.json"]);
        assert_eq!(web.buildspec, "web/buildspec.yml");
        let defaults = Sibling::parse("stack=w application=a").expect("valid");
        assert_eq!(defaults.stages, ["staging", "production"]);
        assert_eq!(defaults.buildspec, "buildspec.yml");

        let problem = |spec: &str| Sibling::parse(spec).unwrap_err().to_string();
        assert!(problem("stack=w").contains("needs stack=NAME and application=NAME"));
        assert!(problem("stack=w application=a colour=blue").contains("no key \"colour\""));
        assert!(problem("stack=w application").contains("not KEY=VALUE"));

        let mut options = Options::new(PathBuf::from("."), PathBuf::from("state"));
        let sibling = |spec: &str| Sibling::parse(spec).expect("valid words");
        let clash = |options: &mut Options, spec: &str| {
            options.add_sibling(sibling(spec)).unwrap_err().to_string()
        };
        assert!(clash(&mut options, "stack=sluice-web application=w").contains("clashes"));
        assert!(clash(&mut options, "stack=w application=hello-api").contains("already delivered"));
        assert!(clash(&mut options, "stack=w application=w stages=Prod").contains("stage list"));
        assert!(clash(&mut options, "stack=w application=w include=/web").contains("path filters"));
        options
            .add_sibling(sibling("stack=web application=hello-web"))
            .expect("a second pipeline");
        assert!(clash(&mut options, "stack=web application=x").contains("clashes"));
    }

    #[test]
    fn api_gateway_urls_map_to_the_emulator() {
        let url = emulated_api_url(
            "https://abc123.execute-api.us-east-1.amazonaws.com/Prod/hello",
            "http://127.0.0.1:4566",
        )
        .expect("maps");
        assert_eq!(
            url,
            "http://127.0.0.1:4566/_aws/execute-api/abc123/Prod/hello"
        );
        assert!(emulated_api_url("http://x/y", "http://127.0.0.1:1").is_err());
    }
}
