//! CodeBuild's API: `StartBuild`, `BatchGetBuilds` and `StopBuild`, answered over its
//! JSON protocol from the build records, and the project a build runs in.

use anyhow::Result;
use aws_sdk_codebuild::types::{ArtifactNamespace, ArtifactPackaging};
use serde_json::{Value, json};

use crate::bus::uuid;

use super::records::BuildRecord;
use super::{ApiError, Builds, Project, STOP_GRACE, api, lock, now};

impl Builds {
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

    pub(super) async fn project(&self, name: &str) -> Result<Project, ApiError> {
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
            artifacts_in_build_folder: artifacts.and_then(|a| a.namespace_type())
                == Some(&ArtifactNamespace::BuildId),
            artifacts_zipped: artifacts.and_then(|a| a.packaging())
                == Some(&ArtifactPackaging::Zip),
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

    pub(super) async fn start(&self, body: &Value) -> Result<Value, ApiError> {
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
                project.artifacts_in_build_folder = artifacts["namespaceType"] == "BUILD_ID";
                project.artifacts_zipped = artifacts["packaging"] == "ZIP";
            }
            Some(other) => {
                return Err(api(
                    "InvalidInputException",
                    format!("sluice local keeps artifacts in S3 or not at all, not as {other}"),
                ));
            }
        }
        if project.artifacts_bucket.is_some() && project.artifacts_zipped {
            return Err(api(
                "InvalidInputException",
                "sluice local uploads a build's artifacts as files, not zipped: give the \
                 project's artifacts (or artifactsOverride) packaging NONE",
            ));
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
}
