//! The orchestrator's configuration, read once from the environment that
//! `template.yaml` sets: the pipeline's definition (`SLUICE_DEFINITION`, the
//! deflated JSON form of `sluice.yaml`), and what the Sluice stack made (its bucket, topic, build
//! project, approval page and stage roles). A missing or malformed variable is an
//! error naming it.

use std::time::Duration;

use sluice_core::{ConfigError, Pipeline};
use sluice_definition::{Definition, Deployment};

use crate::paths::PathFilter;

/// A variable that is missing or malformed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigProblem {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("the pipeline (SLUICE_DEFINITION) does not hold together")]
    Pipeline(#[source] ConfigError),
}

/// `SLUICE_APPROVAL_URL`'s value for a pipeline without an approval page.
pub const NO_APPROVAL_PAGE: &str = "none";

/// Where the functions of the Sluice stack `pipeline` log: Lambda's log groups of its
/// functions, each named `sluice-<pipeline>-<function>`.
pub fn log_group_prefix(pipeline: &str) -> String {
    format!("/aws/lambda/sluice-{pipeline}-")
}

/// Everything the functions need to know about their deployment.
#[derive(Clone, Debug)]
pub struct Config {
    pub pipeline: Pipeline,
    /// Bucket for build artifacts and execution state.
    pub bucket: String,
    pub topic_arn: String,
    pub build_project: String,
    /// Base URL of the approval function, such as `https://abc.lambda-url.eu-west-1.on.aws`.
    /// Every function that can send an approval link has it; the approval function
    /// itself cannot be given its own URL (the template would be circular).
    pub approval_url: Option<String>,
    /// Whether the pipeline has an approval page at all: `SLUICE_APPROVAL_URL=none`
    /// (the definition's `approval.page: none`) says it has not, and approvals are
    /// given from a terminal only.
    pub approval_page: bool,
    pub approval_timeout: Duration,
    /// The AWS region, for console links.
    pub region: String,
    /// Which changed files a push must touch to be delivered (the definition's
    /// `source.paths`); every push, without them.
    pub paths: PathFilter,
    /// How many releases of each stage stay rollback targets, the live one among them
    /// (`retention.releases_kept`); older ones expire once past `retention`.
    pub releases_kept: usize,
    /// How long an upload, and a release no stage needs, is kept
    /// (`retention.artifact_days`).
    pub retention: chrono::TimeDelta,
    /// The definition the pipeline was made of.
    pub definition: Definition,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigProblem> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `get`, which returns a variable's value.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigProblem> {
        let required = |name: &'static str| {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigProblem::Missing(name))
        };
        let optional = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let invalid = |reason: String| ConfigProblem::Invalid {
            name: "SLUICE_DEFINITION",
            reason,
        };
        let definition = Definition::from_encoded(&required("SLUICE_DEFINITION")?)
            .map_err(|e| invalid(e.to_string()))?;
        let deployment = Deployment {
            stack: Some(required("SLUICE_PIPELINE")?),
            role_prefix: optional("SLUICE_STAGE_ROLE_PREFIX"),
            boundary_prefix: optional("SLUICE_STAGE_BOUNDARY_PREFIX"),
        };
        let pipeline = definition
            .pipeline(&deployment)
            .map_err(|p| invalid(format!("{}: {}", p.field, p.message)))?;
        let raw = definition.raw();
        let paths = PathFilter::new(&raw.source.paths.include, &raw.source.paths.exclude)
            .map_err(|e| invalid(format!("source.paths: {e}")))?;
        let approval_url = optional("SLUICE_APPROVAL_URL");
        // "none": the stack has no approval page (the definition's approval.page: none).
        let approval_page = approval_url.as_deref().map(str::trim) != Some(NO_APPROVAL_PAGE);
        let approval_url = approval_url.filter(|_| approval_page);
        if let Some(url) = &approval_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(ConfigProblem::Invalid {
                name: "SLUICE_APPROVAL_URL",
                reason: format!("{url:?} is not an http(s) URL"),
            });
        }
        Ok(Self {
            pipeline,
            paths,
            bucket: required("SLUICE_BUCKET")?,
            topic_arn: required("SLUICE_TOPIC_ARN")?,
            build_project: required("SLUICE_BUILD_PROJECT")?,
            approval_url: approval_url.map(|u| u.trim().trim_end_matches('/').to_owned()),
            approval_page,
            approval_timeout: Duration::from_secs(raw.approval.timeout_hours * 3600),
            region: get("AWS_REGION").unwrap_or_else(|| "us-east-1".to_owned()),
            releases_kept: raw.retention.releases_kept,
            retention: chrono::TimeDelta::days(raw.retention.artifact_days),
            definition,
        })
    }

    /// What the pipeline's builds and tests run on, where its definition asks for
    /// other than the build project's own: a small arm64 machine with CodeBuild's
    /// standard image, for 30 minutes at most.
    pub fn machine(&self) -> Option<sluice_adapters::builder::Machine> {
        use sluice_definition::raw::Compute;
        let build = &self.definition.raw().build;
        let unchanged = build.compute == Compute::Small
            && build.image.is_none()
            && build.timeout_minutes == sluice_definition::BUILD_MINUTES;
        if unchanged {
            return None;
        }
        let (compute_type, environment_type) = match build.compute {
            Compute::Small => ("BUILD_GENERAL1_SMALL", "ARM_CONTAINER"),
            Compute::Medium => ("BUILD_GENERAL1_MEDIUM", "ARM_CONTAINER"),
            Compute::Large => ("BUILD_GENERAL1_LARGE", "ARM_CONTAINER"),
            Compute::Lambda => ("BUILD_LAMBDA_2GB", "ARM_LAMBDA_CONTAINER"),
        };
        Some(sluice_adapters::builder::Machine {
            compute_type: compute_type.to_owned(),
            environment_type: environment_type.to_owned(),
            image: build
                .image
                .clone()
                .unwrap_or_else(|| sluice_definition::STANDARD_IMAGE.to_owned()),
            timeout_minutes: build.timeout_minutes,
        })
    }

    /// Where the build of `execution` uploads its artifact: a folder named by the
    /// execution and its secret upload token, which no other build can find (the
    /// build role may not list the bucket).
    pub fn artifact_prefix(&self, execution: &sluice_core::Execution) -> String {
        format!("{}/{}/", self.upload_path(), Self::upload_name(execution))
    }

    /// The folder of all uploads of this pipeline's builds.
    pub fn upload_path(&self) -> String {
        format!("artifacts/{}", self.pipeline.name)
    }

    /// The name of `execution`'s upload folder in `upload_path`.
    pub fn upload_name(execution: &sluice_core::Execution) -> String {
        match &execution.build.upload {
            Some(upload) => format!("{}-{upload}", execution.id),
            None => execution.id.to_string(),
        }
    }

    /// Where releases live: copies of what builds uploaded, by content, written only
    /// by Sluice's functions, and the only objects any stage deploys.
    pub fn release_prefix(&self) -> String {
        format!("releases/{}/", self.pipeline.name)
    }
}
#[cfg(test)]
mod tests;
