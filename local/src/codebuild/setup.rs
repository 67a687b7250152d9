//! What a build runs with: its environment (the project's, the buildspec's, the
//! overrides and CodeBuild's own variables), its service role's session, and the
//! upload of its artifacts.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use crate::buildspec::{Buildspec, expand};

use super::tools::build_path;
use super::{Builds, Project, lock};

impl Builds {
    pub(super) fn environment(
        &self,
        id: &str,
        spec: &Buildspec,
        src: &Path,
        bin: &Path,
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
                    true => crate::emulated_api_url(v, &s.endpoint).unwrap_or_else(|_| v.clone()),
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
            ("PATH", build_path(bin)),
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

    /// With IAM evaluated, a session of the project's service role, assumed as
    /// CodeBuild assumes it; else `None` (builds run as the emulator's root).
    pub(super) async fn service_role_session(
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

    pub(super) async fn upload(
        &self,
        s3: &aws_sdk_s3::Client,
        artifacts: &crate::buildspec::Artifacts,
        project: &Project,
        uuid: &str,
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
        // As CodeBuild: <path>/[<build id>/]<name>, the override's settings where
        // StartBuild gave one (Sluice always does).
        let folder = if project.artifacts_in_build_folder {
            uuid
        } else {
            ""
        };
        let prefix = [
            project.artifacts_path.trim_matches('/'),
            folder,
            name.as_str(),
        ]
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
