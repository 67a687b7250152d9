//! The build's artifact: pinned object by object when the build succeeds, and the
//! only thing any stage deploys. Every object is read with a size bound, by the
//! version that was pinned, and checked again before each stage: an object that
//! changed since the build fails the stage closed, never deploys.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use sluice_adapters::{ObjectError, ObjectStore, StoreError};
use sluice_core::{Artifact, ArtifactObject, Execution};

use crate::config::Config;
use crate::error::EngineError;

mod boundary;
mod change_set;
mod configurations;
mod identities;
mod layout;
mod pin;
mod settings;
mod template;

pub use boundary::BOUNDARY_PARAMETER;
pub use change_set::change_set_spec;
pub use layout::configuration_path;
pub use pin::pin;
pub use settings::settings_changes;

/// CloudFormation's limit for a template read from S3.
pub const TEMPLATE_MAX: usize = 1024 * 1024;
/// A stage's template configuration is a few parameters and tags.
pub const CONFIGURATION_MAX: usize = 64 * 1024;

/// Why an artifact cannot be used: a reason for people, or a failure to find out.
#[derive(Debug)]
pub enum ArtifactError {
    /// Permanent: the artifact is missing, too large, malformed or changed.
    Unusable(String),
    Failed(EngineError),
}

impl From<ObjectError> for ArtifactError {
    fn from(e: ObjectError) -> Self {
        ArtifactError::Failed(EngineError::Store(StoreError::from(e)))
    }
}

fn unusable(reason: impl Into<String>) -> ArtifactError {
    ArtifactError::Unusable(reason.into())
}

/// A stage's template configuration, as CodePipeline defines it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateConfiguration {
    #[serde(rename = "Parameters", default)]
    parameters: BTreeMap<String, String>,
    #[serde(rename = "Tags", default)]
    tags: BTreeMap<String, String>,
    /// Refused by [`TemplateConfiguration::deployable`]: Sluice cannot apply it.
    #[serde(rename = "StackPolicy", default)]
    stack_policy: Option<Value>,
}

impl TemplateConfiguration {
    /// The configuration `body`, the file at `path` in the artifact.
    fn parse(body: &[u8], path: &str) -> Result<Self, ArtifactError> {
        serde_json::from_slice(body).map_err(|e| {
            unusable(format!(
                "{path} is not a template configuration \
                 ({{\"Parameters\": {{...}}, \"Tags\": {{...}}}} with string values): {e}"
            ))
        })
    }

    /// The configuration, if it says nothing a deploy of `stack` would leave out.
    /// A stack policy would be left out: Sluice deploys by change set, and neither
    /// CreateChangeSet nor ExecuteChangeSet takes one.
    fn deployable(self, path: &str, stack: &str) -> Result<Self, ArtifactError> {
        if self.stack_policy.is_none() {
            return Ok(self);
        }
        Err(unusable(format!(
            "{path} has a StackPolicy, which Sluice does not apply: it deploys every stack \
             by change set, and a change set cannot carry a stack policy (CloudFormation \
             takes one only from CreateStack, UpdateStack or SetStackPolicy). Remove \
             StackPolicy from {path}. To keep resources from being replaced or deleted, \
             give them DeletionPolicy and UpdateReplacePolicy in the template, or set the \
             policy on {stack} yourself, once, with `aws cloudformation set-stack-policy \
             --stack-name {stack}`: every change set executed there obeys it"
        )))
    }
}

fn s3_url(config: &Config, key: &str) -> String {
    format!("s3://{}/{key}", config.bucket)
}

/// Reads the pinned object `object`, at most `max` bytes, and checks it is still the
/// version that was pinned.
async fn read_pinned<O: ObjectStore>(
    objects: &O,
    config: &Config,
    object: &ArtifactObject,
    max: usize,
) -> Result<Vec<u8>, ArtifactError> {
    let Some((body, version)) = objects
        .read(&object.key, object.version.as_deref(), max)
        .await?
    else {
        return Err(changed(config, object));
    };
    if version.etag != object.etag || body.len() > max {
        return Err(changed(config, object));
    }
    Ok(body)
}

fn changed(config: &Config, object: &ArtifactObject) -> ArtifactError {
    if object.sha256.is_some() {
        return unusable(format!(
            "its copy {} is no longer kept: a release expires after ArtifactRetentionDays \
             unless it is among the ReleasesKept newest of a stage",
            s3_url(config, &object.key)
        ));
    }
    unusable(format!(
        "{} changed or disappeared since the build (it was {}); refusing to deploy what was \
         not built and approved. Push again to build it anew",
        s3_url(config, &object.key),
        object.version.as_deref().unwrap_or(&object.etag)
    ))
}

/// Checks that the objects the template points to are still the ones the build
/// left: CloudFormation reads them only when it creates or executes a change set.
pub async fn verify<'a, O: ObjectStore>(
    objects: &O,
    config: &Config,
    execution: &'a Execution,
) -> Result<&'a Artifact, ArtifactError> {
    let Some(artifact) = &execution.artifact else {
        return Err(unusable("the execution has no recorded artifact"));
    };
    for object in &artifact.code {
        let current = objects.head(&object.key).await?;
        if current.is_none_or(|v| v.etag != object.etag || v.id != object.version) {
            return Err(changed(config, object));
        }
    }
    Ok(artifact)
}

#[cfg(test)]
mod tests;
