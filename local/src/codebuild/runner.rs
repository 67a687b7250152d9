//! The build runner: a build's source checked out from the local CodeCommit, its
//! buildspec's phases run on this machine with its log streamed, its artifacts
//! uploaded, and a stopped build's commands killed.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use tokio::io::AsyncWriteExt;

use crate::buildspec::{Buildspec, PhaseName, Version};
use crate::console::Console;
use crate::git::Repository;

use super::shell::{Ran, Shell, s3_hint};
use super::{Builds, Project, lock, now};

impl Builds {
    pub(super) async fn run(
        &self,
        id: String,
        uuid: String,
        project: Project,
        repository: Repository,
    ) {
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
    pub(super) fn stopped(&self, id: &str) -> bool {
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

    pub(super) fn kill(&self, id: &str) {
        if let Some(pid) = lock(&self.inner.processes).get(id) {
            // SAFETY: signalling the process group of a command we started.
            unsafe {
                libc::kill(-(*pid as i32), libc::SIGKILL);
            }
        }
    }

    /// Runs the phases; `Ok(false)` when a phase failed.
    pub(super) async fn phases(
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
        let spec = match text.and_then(|t| Buildspec::parse(&project.buildspec, &t)) {
            Ok(spec) => spec,
            Err(e) => {
                self.begin_phase(id, "INSTALL");
                log.line(&format!("[Container] YAML_FILE_ERROR: {e:#}"))
                    .await;
                self.end_phase(id, Some(("YAML_FILE_ERROR".into(), format!("{e:#}"))));
                return Ok(false);
            }
        };
        let bin = dir.join("bin");
        let runtimes =
            match super::tools::prepare(&bin, &self.inner.settings.tools, &spec.runtime_versions)
                .await
            {
                Ok(lines) => lines,
                Err(e) => {
                    log.line(&format!("[Container] {e:#}")).await;
                    self.end_phase(id, Some(("CLIENT_ERROR".into(), format!("{e:#}"))));
                    return Ok(false);
                }
            };
        for line in runtimes {
            log.line(&line).await;
        }
        let mut env = self.environment(id, &spec, &src, &bin, &project.name, uuid);
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
        let shell = Shell::of(spec.version, &src, &state_env, &state_dir);
        if spec.version == Version::V0_1 {
            log.line(
                "[Sluice] Buildspec version 0.1: each command runs in a shell of its own, \
                 from the source directory (a cd or export does not reach the next command)",
            )
            .await;
        }
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
                let ran = self
                    .command(id, command, &env, succeeding, &shell, &mut log)
                    .await?;
                let code = explain(&ran, &env, &mut log).await;
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
                let ran = self
                    .command(
                        id,
                        command,
                        &env,
                        succeeding && failure.is_none(),
                        &shell,
                        &mut log,
                    )
                    .await?;
                let code = explain(&ran, &env, &mut log).await;
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
            match self.upload(&s3, artifacts, project, uuid, &src, &env).await {
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
    pub(super) async fn acquire_machine(&self) -> Result<std::fs::File> {
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
}

/// A failed command's exit status, after the log says where a Sluice build may upload
/// if S3 refused it (CodeBuild's own report says only "exit status 255").
async fn explain(ran: &Ran, env: &[(String, String)], log: &mut Log) -> i32 {
    if ran.code != 0
        && ran.s3_refused
        && let Some(hint) = s3_hint(env)
    {
        log.line(&hint).await;
    }
    ran.code
}

pub(super) async fn checkout(repository: &Path, version: &str, dest: &Path) -> Result<()> {
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

pub(super) struct Log {
    file: tokio::fs::File,
    console: Console,
}

impl Log {
    pub(super) async fn line(&mut self, line: &str) {
        let _ = self.file.write_all(line.as_bytes()).await;
        let _ = self.file.write_all(b"\n").await;
        self.console.build_line(line);
    }
}
