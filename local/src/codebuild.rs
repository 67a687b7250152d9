//! The local CodeBuild: `StartBuild`, `BatchGetBuilds` and `StopBuild`, answered
//! over CodeBuild's JSON protocol. A build clones the commit from the local
//! CodeCommit, runs the buildspec's phases on this machine, streams its log, uploads
//! the declared artifacts and sends `CodeBuild Build State Change` events.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::buildspec::{Buildspec, PhaseName, expand};
use super::bus::{Bus, envelope, uuid};
use super::console::Console;
use super::git::Repository;

/// A phase's outcome, as CodeBuild reports it.
#[derive(Clone, Debug)]
struct PhaseRecord {
    phase_type: String,
    status: Option<String>,
    start: f64,
    end: Option<f64>,
    contexts: Vec<(String, String)>,
}

/// One build, as `BatchGetBuilds` returns it.
#[derive(Clone, Debug)]
struct BuildRecord {
    id: String,
    arn: String,
    number: u64,
    project: String,
    source_version: String,
    source_location: String,
    buildspec: String,
    status: String,
    current_phase: String,
    phases: Vec<PhaseRecord>,
    start: f64,
    end: Option<f64>,
    environment: Vec<(String, String)>,
    artifact_location: Option<String>,
    log_url: String,
    initiator: String,
    timeout_minutes: i32,
}

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
    /// Directories put first on each build's `PATH`: the tools CodeBuild's standard
    /// image has and this machine may not (`aws`, `sam`).
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

    /// Answers one CodeBuild API call.
    pub async fn call(&self, operation: &str, body: &Value) -> Result<Value, ApiError> {
        match operation {
            "StartBuild" => self.start(body).await,
            "BatchGetBuilds" => {
                let ids: Vec<String> = body["ids"]
                    .as_array()
                    .ok_or_else(|| api("InvalidInputException", "ids must be a list of build ids"))?
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect();
                let builds = lock(&self.inner.builds);
                let (found, missing): (Vec<_>, Vec<_>) =
                    ids.iter().partition(|id| builds.contains_key(*id));
                Ok(json!({
                    "builds": found.iter().filter_map(|id| builds.get(*id)).map(BuildRecord::to_json).collect::<Vec<_>>(),
                    "buildsNotFound": missing,
                }))
            }
            "ListBuildsForProject" => {
                let project = body["projectName"]
                    .as_str()
                    .ok_or_else(|| api("InvalidInputException", "projectName is required"))?;
                let ascending = body["sortOrder"].as_str() == Some("ASCENDING");
                let builds = lock(&self.inner.builds);
                let mut mine: Vec<&BuildRecord> =
                    builds.values().filter(|b| b.project == project).collect();
                // Newest first unless asked otherwise, as CodeBuild answers.
                mine.sort_by_key(|b| std::cmp::Reverse(b.number));
                if ascending {
                    mine.reverse();
                }
                Ok(json!({"ids": mine.iter().take(100).map(|b| b.id.clone()).collect::<Vec<_>>()}))
            }
            "StopBuild" => {
                let id = body["id"]
                    .as_str()
                    .ok_or_else(|| api("InvalidInputException", "id is required"))?;
                if !lock(&self.inner.builds).contains_key(id) {
                    return Err(api(
                        "ResourceNotFoundException",
                        format!("Build {id} does not exist"),
                    ));
                }
                // Stopped first, then signalled: a command the runner starts meanwhile
                // either sees the build stopped once its process is recorded (and
                // kills it), or is the process found here. Signalling first, the
                // runner could record a new command between the two, and see the build
                // still running: that command ran on (seen in CI, 2026-12-07).
                let answer = {
                    let mut builds = lock(&self.inner.builds);
                    let build = builds.get_mut(id).ok_or_else(|| {
                        api(
                            "ResourceNotFoundException",
                            format!("Build {id} does not exist"),
                        )
                    })?;
                    if build.status == "IN_PROGRESS" {
                        build.status = "STOPPED".into();
                    }
                    json!({"build": build.to_json()})
                };
                let signalled = lock(&self.inner.processes).get(id).copied();
                if let Some(pid) = signalled {
                    // SAFETY: signalling the process group of a command we started.
                    unsafe {
                        libc::kill(-(pid as i32), libc::SIGTERM);
                    }
                    // What ignores SIGTERM (a disposition inherited from whatever
                    // started this machine's processes) is killed after a grace period.
                    let builds = self.clone();
                    let id = id.to_owned();
                    tokio::spawn(async move {
                        tokio::time::sleep(STOP_GRACE).await;
                        if lock(&builds.inner.processes).get(&id) == Some(&pid) {
                            builds.kill(&id);
                        }
                    });
                }
                Ok(answer)
            }
            other => Err(api(
                "UnknownOperationException",
                format!("the local CodeBuild does not implement {other}"),
            )),
        }
    }

    async fn project(&self, name: &str) -> Result<Project, ApiError> {
        let out = self
            .inner
            .codebuild
            .batch_get_projects()
            .names(name)
            .send()
            .await
            .map_err(|e| {
                api(
                    "InternalFailure",
                    format!("cannot read project {name}: {e}"),
                )
            })?;
        let project = out.projects().first().ok_or_else(|| {
            api(
                "ResourceNotFoundException",
                format!("Project cannot be found: {name}"),
            )
        })?;
        let source = project.source().ok_or_else(|| {
            api(
                "InvalidInputException",
                format!("project {name} has no source"),
            )
        })?;
        let location = source.location().unwrap_or_default().to_owned();
        let repository = location.rsplit('/').next().unwrap_or_default().to_owned();
        let artifacts = project.artifacts();
        Ok(Project {
            name: project.name().unwrap_or(name).to_owned(),
            repository,
            source_location: location,
            buildspec: source
                .buildspec()
                .filter(|b| !b.trim().is_empty())
                .unwrap_or("buildspec.yml")
                .to_owned(),
            artifacts_bucket: artifacts.and_then(|a| a.location()).map(str::to_owned),
            artifacts_path: artifacts
                .and_then(|a| a.path())
                .unwrap_or_default()
                .to_owned(),
            artifacts_name: artifacts
                .and_then(|a| a.name())
                .filter(|n| !n.is_empty())
                .map(str::to_owned),
            override_name: artifacts
                .and_then(|a| a.override_artifact_name())
                .unwrap_or(false),
            service_role: project.service_role().map(str::to_owned),
            timeout_minutes: project.timeout_in_minutes().unwrap_or(60),
            environment: project
                .environment()
                .map(|e| {
                    e.environment_variables()
                        .iter()
                        .map(|v| (v.name().to_owned(), v.value().to_owned()))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    async fn start(&self, body: &Value) -> Result<Value, ApiError> {
        let project_name = body["projectName"]
            .as_str()
            .ok_or_else(|| api("InvalidInputException", "projectName is required"))?;
        let _starting = self.inner.starting.lock().await;
        if let Some(token) = body["idempotencyToken"].as_str()
            && let Some(id) = lock(&self.inner.tokens).get(token)
            && let Some(build) = lock(&self.inner.builds).get(id)
        {
            // As CodeBuild: the same token with other parameters is a mismatch, not
            // the other request's build.
            if build.project != project_name {
                return Err(api(
                    "InvalidInputException",
                    format!(
                        "idempotency token {token:?} was used for a build of project {}, not {project_name}",
                        build.project
                    ),
                ));
            }
            return Ok(json!({"build": build.to_json()}));
        }
        let mut project = self.project(project_name).await?;
        if let Some(buildspec) = body["buildspecOverride"].as_str() {
            // CodeBuild also takes a buildspec's text here; Sluice names files only.
            if buildspec.contains('\n') || buildspec.starts_with("arn:") {
                return Err(api(
                    "InvalidInputException",
                    "sluice local runs buildspec files of the repository only: give \
                     buildspecOverride as a path such as buildspec-test.yml",
                ));
            }
            project.buildspec = buildspec.to_owned();
        }
        let artifacts = &body["artifactsOverride"];
        match artifacts["type"].as_str() {
            None => {}
            Some("NO_ARTIFACTS") => project.artifacts_bucket = None,
            // As CodeBuild: the override replaces the project's artifact settings.
            Some("S3") => {
                let Some(bucket) = artifacts["location"].as_str().filter(|b| !b.is_empty()) else {
                    return Err(api(
                        "InvalidInputException",
                        "artifactsOverride of type S3 needs a location (the bucket)",
                    ));
                };
                project.artifacts_bucket = Some(bucket.to_owned());
                project.artifacts_path = artifacts["path"].as_str().unwrap_or_default().to_owned();
                project.artifacts_name = artifacts["name"].as_str().map(str::to_owned);
                project.override_name =
                    artifacts["overrideArtifactName"].as_bool().unwrap_or(false);
            }
            Some(other) => {
                return Err(api(
                    "InvalidInputException",
                    format!("sluice local keeps artifacts in S3 or not at all, not as {other}"),
                ));
            }
        }
        let Some(repository) = self.inner.repositories.get(&project.repository).cloned() else {
            return Err(api(
                "InvalidInputException",
                format!(
                    "the local CodeCommit has no repository {:?}",
                    project.repository
                ),
            ));
        };
        let source_version = body["sourceVersion"]
            .as_str()
            .unwrap_or("refs/heads/master")
            .to_owned();
        let mut environment = project.environment.clone();
        if let Some(overrides) = body["environmentVariablesOverride"].as_array() {
            for v in overrides {
                let (Some(name), Some(value)) = (v["name"].as_str(), v["value"].as_str()) else {
                    return Err(api(
                        "InvalidInputException",
                        "each environment variable needs a name and a value",
                    ));
                };
                environment.retain(|(n, _)| n != name);
                environment.push((name.to_owned(), value.to_owned()));
            }
        }
        let number = {
            let mut n = lock(&self.inner.numbers);
            *n += 1;
            *n
        };
        let uuid = uuid();
        let id = format!("{}:{uuid}", project.name);
        let s = &self.inner.settings;
        let record = BuildRecord {
            arn: format!("arn:aws:codebuild:{}:{}:build/{id}", s.region, s.account),
            id: id.clone(),
            number,
            project: project.name.clone(),
            source_version: source_version.clone(),
            source_location: project.source_location.clone(),
            buildspec: project.buildspec.clone(),
            status: "IN_PROGRESS".into(),
            current_phase: "SUBMITTED".into(),
            phases: vec![],
            start: now(),
            end: None,
            environment,
            artifact_location: project.artifacts_bucket.as_ref().map(|bucket| {
                format!(
                    "arn:aws:s3:::{bucket}/{}",
                    project.artifacts_path.trim_matches('/')
                )
            }),
            log_url: format!("{}/builds/{uuid}/log", s.driver_url),
            initiator: "sluice".into(),
            timeout_minutes: project.timeout_minutes,
        };
        if let Some(token) = body["idempotencyToken"].as_str() {
            lock(&self.inner.tokens).insert(token.to_owned(), id.clone());
        }
        lock(&self.inner.builds).insert(id.clone(), record.clone());
        let answer = json!({"build": record.to_json()});
        let this = self.clone();
        tokio::spawn(async move {
            this.run(id, uuid, project, repository).await;
        });
        Ok(answer)
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut BuildRecord)) -> Option<BuildRecord> {
        let mut builds = lock(&self.inner.builds);
        let build = builds.get_mut(id)?;
        f(build);
        Some(build.clone())
    }

    fn begin_phase(&self, id: &str, phase: &str) {
        self.update(id, |b| {
            if let Some(last) = b.phases.last_mut()
                && last.end.is_none()
            {
                last.end = Some(now());
                last.status.get_or_insert_with(|| "SUCCEEDED".into());
            }
            b.current_phase = phase.to_owned();
            b.phases.push(PhaseRecord {
                phase_type: phase.to_owned(),
                status: None,
                start: now(),
                end: None,
                contexts: vec![],
            });
        });
    }

    fn end_phase(&self, id: &str, failure: Option<(String, String)>) {
        self.update(id, |b| {
            if let Some(last) = b.phases.last_mut() {
                last.end = Some(now());
                match failure {
                    Some(context) => {
                        last.status = Some("FAILED".into());
                        last.contexts.push(context);
                    }
                    None => last.status = Some("SUCCEEDED".into()),
                }
            }
        });
    }

    async fn emit(&self, id: &str) {
        let Some(build) = lock(&self.inner.builds).get(id).cloned() else {
            return;
        };
        let event = envelope(
            "aws.codebuild",
            "CodeBuild Build State Change",
            &self.inner.settings.region,
            &self.inner.settings.account,
            vec![build.arn.clone()],
            build.event_detail(),
        );
        self.inner.bus.deliver_or_warn(&event).await;
    }

    async fn run(&self, id: String, uuid: String, project: Project, repository: Repository) {
        self.emit(&id).await;
        let console = self.inner.console.clone();
        let short = uuid.chars().take(8).collect::<String>();
        console.say(
            "build",
            format!(
                "{} #{short} started for {}",
                project.name,
                lock(&self.inner.builds)
                    .get(&id)
                    .map(|b| b.source_version.clone())
                    .unwrap_or_default()
            ),
        );
        let timeout =
            Duration::from_secs(u64::try_from(project.timeout_minutes.max(1)).unwrap_or(60) * 60);
        let outcome =
            tokio::time::timeout(timeout, self.phases(&id, &uuid, &project, &repository)).await;
        let status = match outcome {
            Ok(Ok(true)) => "SUCCEEDED",
            Ok(Ok(false)) => "FAILED",
            Ok(Err(e)) => {
                console.say("build", format!("#{short} could not run: {e:#}"));
                self.end_phase(&id, Some(("CLIENT_ERROR".into(), format!("{e:#}"))));
                "FAULT"
            }
            Err(_) => {
                self.kill(&id);
                self.end_phase(
                    &id,
                    Some(("BUILD_TIMED_OUT".into(), "Build has timed out.".into())),
                );
                "TIMED_OUT"
            }
        };
        lock(&self.inner.processes).remove(&id);
        self.begin_phase(&id, "FINALIZING");
        self.end_phase(&id, None);
        self.begin_phase(&id, "COMPLETED");
        self.update(&id, |b| {
            if b.status == "IN_PROGRESS" {
                b.status = status.to_owned();
            }
            b.end = Some(now());
        });
        let final_status = lock(&self.inner.builds)
            .get(&id)
            .map(|b| b.status.clone())
            .unwrap_or_default();
        console.say("build", format!("{} #{short} {final_status}", project.name));
        self.emit(&id).await;
        let workdir = self
            .inner
            .settings
            .state
            .join("builds")
            .join(&uuid)
            .join("src");
        let _ = tokio::fs::remove_dir_all(&workdir).await;
    }

    /// Whether StopBuild was called for the build.
    fn stopped(&self, id: &str) -> bool {
        lock(&self.inner.builds)
            .get(id)
            .is_some_and(|b| b.status == "STOPPED")
    }

    /// Stops every running build with everything it started, as when the build
    /// machine goes away.
    pub fn stop_all(&self) {
        for pid in lock(&self.inner.processes).values() {
            // SAFETY: signalling the process group of a command we started.
            unsafe {
                libc::kill(-(*pid as i32), libc::SIGKILL);
            }
        }
    }

    fn kill(&self, id: &str) {
        if let Some(pid) = lock(&self.inner.processes).get(id) {
            // SAFETY: signalling the process group of a command we started.
            unsafe {
                libc::kill(-(*pid as i32), libc::SIGKILL);
            }
        }
    }

    /// Runs the phases; `Ok(false)` when a phase failed.
    async fn phases(
        &self,
        id: &str,
        uuid: &str,
        project: &Project,
        repository: &Repository,
    ) -> Result<bool> {
        let dir = self.inner.settings.state.join("builds").join(uuid);
        let src = dir.join("src");
        tokio::fs::create_dir_all(&dir).await?;
        let log_path = dir.join("build.log");
        let mut log = Log {
            file: tokio::fs::File::create(&log_path)
                .await
                .with_context(|| format!("cannot create {}", log_path.display()))?,
            console: self.inner.console.clone(),
        };
        self.begin_phase(id, "QUEUED");
        let _machine = self.acquire_machine().await?;
        self.begin_phase(id, "PROVISIONING");
        let fault = match lock(&self.inner.provisioning_faults).get_mut(&project.buildspec) {
            Some(left) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        };
        if fault {
            let message =
                "the build machine's image could not be pulled (a fault injected by sluice local)";
            log.line(&format!("[Container] {message}")).await;
            self.end_phase(
                id,
                Some((
                    "BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE".into(),
                    message.into(),
                )),
            );
            return Ok(false);
        }
        self.begin_phase(id, "DOWNLOAD_SOURCE");
        let version = lock(&self.inner.builds)
            .get(id)
            .map(|b| b.source_version.clone())
            .unwrap_or_default();
        log.line(&format!(
            "[Container] Cloning {} at {version}",
            repository.name
        ))
        .await;
        if let Err(e) = checkout(&repository.path, &version, &src).await {
            log.line(&format!("[Container] {e:#}")).await;
            self.end_phase(id, Some(("CLIENT_ERROR".into(), format!("{e:#}"))));
            return Ok(false);
        }
        self.end_phase(id, None);
        let spec_path = src.join(&project.buildspec);
        let inside = std::path::Path::new(&project.buildspec)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        let text = if inside {
            tokio::fs::read_to_string(&spec_path)
                .await
                .with_context(|| format!("the commit has no {}", project.buildspec))
        } else {
            Err(anyhow!(
                "the project's buildspec {:?} is not a path inside the repository",
                project.buildspec
            ))
        };
        let spec = match text.and_then(|t| Buildspec::parse(&t)) {
            Ok(spec) => spec,
            Err(e) => {
                self.begin_phase(id, "INSTALL");
                log.line(&format!("[Container] YAML_FILE_ERROR: {e:#}"))
                    .await;
                self.end_phase(id, Some(("YAML_FILE_ERROR".into(), format!("{e:#}"))));
                return Ok(false);
            }
        };
        let mut env = self.environment(id, &spec, &src, &project.name, uuid);
        let session = match self.service_role_session(project, uuid).await {
            Ok(session) => session,
            Err(e) => {
                log.line(&format!("[Container] {e:#}")).await;
                self.end_phase(id, Some(("ACCESS_DENIED".into(), format!("{e:#}"))));
                return Ok(false);
            }
        };
        let s3 = match &session {
            Some(credentials) => {
                for (name, value) in [
                    ("AWS_ACCESS_KEY_ID", credentials.access_key_id()),
                    ("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key()),
                    (
                        "AWS_SESSION_TOKEN",
                        credentials.session_token().unwrap_or_default(),
                    ),
                ] {
                    env.retain(|(n, _)| n != name);
                    env.push((name.to_owned(), value.to_owned()));
                }
                let sdk = self
                    .inner
                    .sdk
                    .to_builder()
                    .credentials_provider(
                        aws_credential_types::provider::SharedCredentialsProvider::new(
                            credentials.clone(),
                        ),
                    )
                    .build();
                sluice_adapters::aws::s3_client(&sdk)
            }
            None => self.inner.s3.clone(),
        };
        let state_env = dir.join("env.sh");
        let state_dir = dir.join("cwd");
        tokio::fs::write(&state_dir, src.to_string_lossy().as_bytes()).await?;
        tokio::fs::write(&state_env, "").await?;
        let mut succeeding = true;
        for (name, phase) in &spec.phases {
            if self.stopped(id) {
                log.line("[Container] Build stopped").await;
                return Ok(false);
            }
            self.begin_phase(id, name.phase_type());
            log.line(&format!("[Container] Entering phase {}", name.phase_type()))
                .await;
            let mut failure = None;
            for command in &phase.commands {
                log.line(&format!("[Container] Running command {command}"))
                    .await;
                let code = self
                    .command(
                        id, command, &env, succeeding, &state_env, &state_dir, &mut log,
                    )
                    .await?;
                if code != 0 {
                    failure = Some((
                        "COMMAND_EXECUTION_ERROR".to_owned(),
                        format!(
                            "Error while executing command: {command}. Reason: exit status {code}"
                        ),
                    ));
                    break;
                }
            }
            for command in &phase.finally {
                log.line(&format!("[Container] Running command {command}"))
                    .await;
                let code = self
                    .command(
                        id,
                        command,
                        &env,
                        succeeding && failure.is_none(),
                        &state_env,
                        &state_dir,
                        &mut log,
                    )
                    .await?;
                if code != 0 && failure.is_none() {
                    failure = Some((
                        "COMMAND_EXECUTION_ERROR".to_owned(),
                        format!(
                            "Error while executing command: {command}. Reason: exit status {code}"
                        ),
                    ));
                }
            }
            let failed = failure.is_some();
            if let Some((_, message)) = &failure {
                log.line(&format!(
                    "[Container] Phase complete: {} State: FAILED",
                    name.phase_type()
                ))
                .await;
                log.line(&format!("[Container] Phase context status code: COMMAND_EXECUTION_ERROR Message: {message}")).await;
            } else {
                log.line(&format!(
                    "[Container] Phase complete: {} State: SUCCEEDED",
                    name.phase_type()
                ))
                .await;
            }
            self.end_phase(id, failure);
            if failed {
                succeeding = false;
                // A failed install or pre_build ends the build unless it says CONTINUE;
                // post_build still runs after a failed build, as on CodeBuild.
                if !phase.continues_on_failure()
                    && matches!(name, PhaseName::Install | PhaseName::PreBuild)
                {
                    break;
                }
            }
        }
        if !succeeding {
            return Ok(false);
        }
        // A build without an artifacts location (NO_ARTIFACTS) uploads nothing, as in
        // CodeBuild, whatever its buildspec lists.
        if let Some(artifacts) = spec
            .artifacts
            .as_ref()
            .filter(|_| project.artifacts_bucket.is_some())
        {
            self.begin_phase(id, "UPLOAD_ARTIFACTS");
            match self.upload(&s3, artifacts, project, &src, &env).await {
                Ok(location) => {
                    log.line(&format!("[Container] Uploaded artifacts to {location}"))
                        .await;
                    self.update(id, |b| b.artifact_location = Some(location));
                    self.end_phase(id, None);
                }
                Err(e) => {
                    log.line(&format!("[Container] UPLOAD_ARTIFACTS failed: {e:#}"))
                        .await;
                    self.end_phase(id, Some(("CLIENT_ERROR".into(), format!("{e:#}"))));
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Waits for the build machine. Builds run one at a time because they share a
    /// warm cargo target directory, and cargo tells a stale artifact by comparing
    /// modification times: a checkout made while another build compiles could
    /// otherwise look older than that build's output and not be compiled at all.
    /// The lock is a file lock, so separate `sluice local` processes take turns too.
    async fn acquire_machine(&self) -> Result<std::fs::File> {
        let cache = self.inner.settings.cache.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&cache)
                .with_context(|| format!("cannot create {}", cache.display()))?;
            let path = cache.join("build-machine.lock");
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            use std::os::fd::AsRawFd;
            // SAFETY: flock on a descriptor this closure owns; released when it closes.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc != 0 {
                bail!(
                    "cannot lock {}: {}",
                    path.display(),
                    std::io::Error::last_os_error()
                );
            }
            Ok(file)
        })
        .await
        .context("the build queue stopped")?
    }

    fn environment(
        &self,
        id: &str,
        spec: &Buildspec,
        src: &Path,
        project: &str,
        uuid: &str,
    ) -> Vec<(String, String)> {
        let s = &self.inner.settings;
        let build = lock(&self.inner.builds).get(id).cloned();
        let mut env: Vec<(String, String)> = spec.variables.clone();
        // Project variables and StartBuild overrides win over the buildspec's.
        if let Some(b) = &build {
            for (n, v) in &b.environment {
                env.retain(|(name, _)| name != n);
                // An API's AWS address (a stack output given to a post-deploy test)
                // is reached here where the emulator serves the API.
                let v = match v.contains(".execute-api.") {
                    true => super::emulated_api_url(v, &s.endpoint).unwrap_or_else(|_| v.clone()),
                    false => v.clone(),
                };
                env.push((n.clone(), v));
            }
        }
        let version = build
            .as_ref()
            .map(|b| b.source_version.clone())
            .unwrap_or_default();
        let standard = [
            ("AWS_REGION", s.region.clone()),
            ("AWS_DEFAULT_REGION", s.region.clone()),
            ("AWS_ENDPOINT_URL", s.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("CODEBUILD_BUILD_ID", id.to_owned()),
            (
                "CODEBUILD_BUILD_ARN",
                build.as_ref().map(|b| b.arn.clone()).unwrap_or_default(),
            ),
            (
                "CODEBUILD_BUILD_NUMBER",
                build
                    .as_ref()
                    .map(|b| b.number.to_string())
                    .unwrap_or_default(),
            ),
            ("CODEBUILD_BUILD_IMAGE", "local".into()),
            ("CODEBUILD_INITIATOR", "sluice".into()),
            ("CODEBUILD_PROJECT", project.to_owned()),
            ("CODEBUILD_SOURCE_VERSION", version.clone()),
            ("CODEBUILD_RESOLVED_SOURCE_VERSION", version),
            (
                "CODEBUILD_SOURCE_REPO_URL",
                build.map(|b| b.source_location).unwrap_or_default(),
            ),
            ("CODEBUILD_SRC_DIR", src.to_string_lossy().into_owned()),
            ("CODEBUILD_LOG_PATH", uuid.to_owned()),
            (
                "CODEBUILD_START_TIME",
                chrono::Utc::now().timestamp_millis().to_string(),
            ),
            ("CI", "true".into()),
            ("PATH", build_path(&s.tools)),
            // A warm build machine: compiled dependencies survive between builds.
            (
                "CARGO_TARGET_DIR",
                s.cache.join("cargo-target").to_string_lossy().into_owned(),
            ),
        ];
        for (n, v) in standard {
            env.retain(|(name, _)| name != n);
            env.push((n.to_owned(), v));
        }
        env
    }

    #[allow(clippy::too_many_arguments)]
    async fn command(
        &self,
        id: &str,
        command: &str,
        env: &[(String, String)],
        succeeding: bool,
        state_env: &Path,
        state_dir: &Path,
        log: &mut Log,
    ) -> Result<i32> {
        // One shell per command, but exports and the working directory carry over,
        // as in one CodeBuild shell session.
        let script = format!(
            "exec 2>&1\n. {env_file} 2>/dev/null\nexport CODEBUILD_BUILD_SUCCEEDING={succeeding}\n\
             cd \"$(cat {dir_file})\" || exit 1\n\
             trap '__rc=$?; export -p > {env_file}; pwd > {dir_file}; exit $__rc' EXIT\n{command}\n",
            env_file = shell_quote(&state_env.to_string_lossy()),
            dir_file = shell_quote(&state_dir.to_string_lossy()),
            succeeding = u8::from(succeeding),
        );
        let mut cmd = tokio::process::Command::new("bash");
        cmd.arg("-c")
            .arg(script)
            .env_remove("AWS_PROFILE")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(
                "CODEBUILD_BUILD_SUCCEEDING",
                if succeeding { "1" } else { "0" },
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        // SAFETY: setsid is async-signal-safe; the command gets its own process group,
        // so StopBuild and timeouts stop everything it started.
        unsafe {
            cmd.as_std_mut().pre_exec(|| {
                libc::setsid();
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        if self.stopped(id) {
            return Ok(STOPPED_EXIT);
        }
        let mut child = cmd.spawn().context("cannot run bash")?;
        if let Some(pid) = child.id() {
            lock(&self.inner.processes).insert(id.to_owned(), pid);
        }
        // A StopBuild between the check above and the insert found nothing to stop.
        if self.stopped(id) {
            self.kill(id);
        }
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no output pipe"))?;
        let mut lines = BufReader::new(stdout).lines();
        while let Some(line) = lines.next_line().await.unwrap_or(None) {
            log.line(&line).await;
        }
        let status = child.wait().await?;
        lock(&self.inner.processes).remove(id);
        Ok(status.code().unwrap_or(-1))
    }

    /// With IAM evaluated, a session of the project's service role, assumed as
    /// CodeBuild assumes it; else `None` (builds run as the emulator's root).
    async fn service_role_session(
        &self,
        project: &Project,
        uuid: &str,
    ) -> Result<Option<aws_credential_types::Credentials>> {
        if !self.inner.settings.iam {
            return Ok(None);
        }
        let role = project.service_role.as_deref().with_context(|| {
            format!(
                "project {} has no service role to run its builds as",
                project.name
            )
        })?;
        let assumed = aws_sdk_sts::Client::new(&self.inner.sdk)
            .assume_role()
            .role_arn(role)
            .role_session_name(format!("codebuild-{}", &uuid[..uuid.len().min(32)]))
            .send()
            .await
            .map_err(|e| anyhow!(sluice_adapters::aws::chain(&e)))
            .with_context(|| format!("CodeBuild could not assume the service role {role}"))?;
        let c = assumed
            .credentials()
            .with_context(|| format!("assuming {role} gave no credentials"))?;
        Ok(Some(aws_credential_types::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "codebuild-service-role",
        )))
    }

    async fn upload(
        &self,
        s3: &aws_sdk_s3::Client,
        artifacts: &super::buildspec::Artifacts,
        project: &Project,
        src: &Path,
        env: &[(String, String)],
    ) -> Result<String> {
        let bucket = project
            .artifacts_bucket
            .clone()
            .context("the project has no S3 artifacts location")?;
        let lookup = |name: &str| {
            env.iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let name = match (&artifacts.name, project.override_name) {
            (Some(name), true) => expand(name, lookup),
            _ => project
                .artifacts_name
                .clone()
                .unwrap_or_else(|| project.name.clone()),
        };
        if name.is_empty() || name.contains("..") {
            bail!("the artifact name {name:?} is empty or unsafe");
        }
        let base = match &artifacts.base_directory {
            Some(b) => src.join(expand(b, lookup)),
            None => src.to_path_buf(),
        };
        let mut files = Vec::new();
        for pattern in &artifacts.files {
            let full = base.join(pattern);
            let matches = glob::glob(&full.to_string_lossy())
                .with_context(|| format!("bad artifact pattern {pattern}"))?;
            let before = files.len();
            for path in matches.flatten() {
                if path.is_file() {
                    files.push(path);
                }
            }
            if files.len() == before {
                bail!("no file matches the artifact pattern {pattern}");
            }
        }
        let prefix = [project.artifacts_path.trim_matches('/'), name.as_str()]
            .iter()
            .filter(|p| !p.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join("/");
        for path in files {
            let relative = if artifacts.discard_paths {
                PathBuf::from(path.file_name().unwrap_or_default())
            } else {
                path.strip_prefix(&base).unwrap_or(&path).to_path_buf()
            };
            let key = format!("{prefix}/{}", relative.to_string_lossy());
            let body = tokio::fs::read(&path).await?;
            s3.put_object()
                .bucket(&bucket)
                .key(&key)
                .body(body.into())
                .send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "cannot upload s3://{bucket}/{key}: {}",
                        aws_sdk_s3::error::DisplayErrorContext(&e)
                    )
                })?;
        }
        Ok(format!("arn:aws:s3:::{bucket}/{prefix}"))
    }
}

/// The exit status a command gets when its build was stopped before it ran.
const STOPPED_EXIT: i32 = 143;

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn checkout(repository: &Path, version: &str, dest: &Path) -> Result<()> {
    if version.starts_with('-') {
        bail!("{version:?} is not a commit or ref");
    }
    let run = |args: Vec<std::ffi::OsString>| async move {
        let out = tokio::process::Command::new("git")
            .args(&args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .await
            .context("cannot run git")?;
        if out.status.success() {
            Ok(())
        } else {
            Err(anyhow!(
                "git failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    run(vec![
        "clone".into(),
        "--quiet".into(),
        "--no-checkout".into(),
        repository.into(),
        dest.into(),
    ])
    .await?;
    run(vec![
        "-C".into(),
        dest.into(),
        "checkout".into(),
        "--quiet".into(),
        "--detach".into(),
        version.into(),
    ])
    .await
    .with_context(|| format!("cannot check out {version}"))
}

struct Log {
    file: tokio::fs::File,
    console: Console,
}

impl Log {
    async fn line(&mut self, line: &str) {
        let _ = self.file.write_all(line.as_bytes()).await;
        let _ = self.file.write_all(b"\n").await;
        self.console.build_line(line);
    }
}

impl BuildRecord {
    fn to_json(&self) -> Value {
        let mut build = json!({
            "id": self.id,
            "arn": self.arn,
            "buildNumber": self.number,
            "startTime": self.start,
            "currentPhase": self.current_phase,
            "buildStatus": self.status,
            "sourceVersion": self.source_version,
            "resolvedSourceVersion": self.source_version,
            "projectName": self.project,
            "buildComplete": self.end.is_some(),
            "initiator": self.initiator,
            "timeoutInMinutes": self.timeout_minutes,
            "source": {"type": "CODECOMMIT", "location": self.source_location, "buildspec": self.buildspec},
            "logs": {"groupName": format!("/aws/codebuild/{}", self.project), "streamName": self.id.rsplit(':').next().unwrap_or_default(), "deepLink": self.log_url},
            "environment": {
                "type": "LINUX_CONTAINER", "image": "local", "computeType": "BUILD_GENERAL1_SMALL",
                "environmentVariables": self.environment.iter().map(|(n, v)| json!({"name": n, "value": v, "type": "PLAINTEXT"})).collect::<Vec<_>>(),
            },
            "phases": self.phases.iter().map(|p| {
                let mut phase = json!({"phaseType": p.phase_type, "startTime": p.start});
                if let Some(s) = &p.status { phase["phaseStatus"] = json!(s); }
                if let Some(e) = p.end {
                    phase["endTime"] = json!(e);
                    phase["durationInSeconds"] = json!((e - p.start).round() as i64);
                }
                phase["contexts"] = json!(p.contexts.iter().map(|(c, m)| json!({"statusCode": c, "message": m})).collect::<Vec<_>>());
                phase
            }).collect::<Vec<_>>(),
        });
        if let Some(end) = self.end {
            build["endTime"] = json!(end);
        }
        if let Some(location) = &self.artifact_location {
            build["artifacts"] = json!({"location": location});
        }
        build
    }

    fn event_detail(&self) -> Value {
        let phases: Vec<Value> = self
            .phases
            .iter()
            .map(|p| {
                let mut phase = json!({
                    "phase-context": p.contexts.iter().map(|(c, m)| format!("{c}: {m}")).collect::<Vec<_>>(),
                    "start-time": event_time(p.start),
                    "phase-type": p.phase_type,
                });
                if let Some(end) = p.end {
                    phase["end-time"] = json!(event_time(end));
                    phase["duration-in-seconds"] = json!((end - p.start).round() as i64);
                }
                if let Some(s) = &p.status {
                    phase["phase-status"] = json!(s);
                }
                phase
            })
            .collect();
        let mut info = json!({
            "environment": {
                "image": "local", "privileged-mode": false, "compute-type": "BUILD_GENERAL1_SMALL", "type": "LINUX_CONTAINER",
                "environment-variables": self.environment.iter().map(|(n, v)| json!({"name": n, "type": "PLAINTEXT", "value": v})).collect::<Vec<_>>(),
            },
            "timeout-in-minutes": self.timeout_minutes,
            "build-complete": self.end.is_some(),
            "initiator": self.initiator,
            "build-start-time": event_time(self.start),
            "source": {"location": self.source_location, "type": "CODECOMMIT", "buildspec": self.buildspec},
            "source-version": self.source_version,
            "logs": {
                "group-name": format!("/aws/codebuild/{}", self.project),
                "stream-name": self.id.rsplit(':').next().unwrap_or_default(),
                "deep-link": self.log_url,
            },
            "phases": phases,
            "queued-timeout-in-minutes": 480,
            "build-number": self.number,
        });
        // CodeBuild names the artifact location in every event, failed builds too.
        info["artifact"] = json!({"location": self.artifact_location.clone().unwrap_or_default()});
        json!({
            "build-status": self.status,
            "project-name": self.project,
            "build-id": self.arn,
            "additional-information": info,
            "current-phase": self.current_phase,
            "current-phase-context": "[: ]",
            "version": "1",
        })
    }
}

/// `PATH` for a build: `tools` that exist, then this process's own `PATH`.
fn build_path(tools: &[PathBuf]) -> String {
    let own = std::env::var_os("PATH").unwrap_or_default();
    let dirs = tools
        .iter()
        .filter(|d| d.is_dir())
        .cloned()
        .chain(std::env::split_paths(&own));
    std::env::join_paths(dirs)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| own.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::Event;
    use sluice_engine::events::{BuildChange, decode_build};

    #[test]
    fn a_builds_path_starts_with_the_tools_that_exist() {
        let tools = tempfile::tempdir().expect("a directory");
        let missing = tools.path().join("not-installed");
        let path = build_path(&[missing.clone(), tools.path().to_owned()]);
        let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
        assert_eq!(dirs.first(), Some(&tools.path().to_owned()), "{path}");
        assert!(!dirs.contains(&missing), "{path}");
        let own = std::env::var_os("PATH").unwrap_or_default();
        assert!(path.ends_with(&*own.to_string_lossy()), "{path}");
    }

    fn record(status: &str, phases: Vec<PhaseRecord>) -> BuildRecord {
        BuildRecord {
            id: "proj:0b8c6f0e-1111-4222-8333-444455556666".into(),
            arn: "arn:aws:codebuild:us-east-1:000000000000:build/proj:0b8c6f0e-1111-4222-8333-444455556666".into(),
            number: 1,
            project: "proj".into(),
            source_version: "a".repeat(40),
            source_location: "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/app".into(),
            buildspec: "buildspec.yml".into(),
            status: status.into(),
            current_phase: "BUILD".into(),
            phases,
            start: 1_800_000_000.0,
            end: None,
            environment: vec![("SLUICE_EXECUTION_ID".into(), "8204670692466-ae188c6dc706".into())],
            artifact_location: None,
            log_url: "http://127.0.0.1:1/builds/0b8c6f0e/log".into(),
            initiator: "sluice".into(),
            timeout_minutes: 30,
        }
    }

    fn decode(build: &BuildRecord) -> Event {
        let event = envelope(
            "aws.codebuild",
            "CodeBuild Build State Change",
            "us-east-1",
            "000000000000",
            vec![build.arn.clone()],
            build.event_detail(),
        );
        match decode_build(event, "proj").expect("Sluice decodes the local build event") {
            BuildChange::Ours { event, .. } => *event,
            other => panic!("not ours: {other:?}"),
        }
    }

    #[test]
    fn the_events_of_a_local_build_decode_as_the_functions_read_them() {
        let started = decode(&record("IN_PROGRESS", vec![]));
        assert!(
            matches!(&started, Event::BuildStarted { build_id, .. } if build_id == "proj:0b8c6f0e-1111-4222-8333-444455556666"),
            "{started:?}"
        );
        let failed = record(
            "FAILED",
            vec![PhaseRecord {
                phase_type: "PRE_BUILD".into(),
                status: Some("FAILED".into()),
                start: 1_800_000_001.0,
                end: Some(1_800_000_002.0),
                contexts: vec![(
                    "COMMAND_EXECUTION_ERROR".into(),
                    "Error while executing command: cargo test. Reason: exit status 101".into(),
                )],
            }],
        );
        match decode(&failed) {
            Event::BuildFailed {
                reason, log_url, ..
            } => {
                assert!(
                    reason.contains("PRE_BUILD") && reason.contains("cargo test"),
                    "{reason}"
                );
                assert_eq!(
                    log_url.as_deref(),
                    Some("http://127.0.0.1:1/builds/0b8c6f0e/log")
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
