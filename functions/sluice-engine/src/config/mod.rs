//! The orchestrator's configuration, read once from the environment that
//! `template.yaml` sets. A missing or malformed variable is an error naming it.

use std::time::Duration;

use sluice_core::{ConfigError, Pipeline, StageConfig};

use crate::paths::PathFilter;

use after_deploy::{after_deploy, alarm_watch, deploy_windows};
use stages::stages;

/// A variable that is missing or malformed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigProblem {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("the stages (SLUICE_STAGES and the variables beside it) describe an invalid pipeline")]
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
    /// (the stack's ApprovalPage=none) says it has not, and approvals are given
    /// from a terminal only.
    pub approval_page: bool,
    pub approval_timeout: Duration,
    /// The AWS region, for console links.
    pub region: String,
    /// Which changed files a push must touch to be delivered (`SLUICE_INCLUDE_PATHS`,
    /// `SLUICE_EXCLUDE_PATHS`); every push, without them.
    pub paths: PathFilter,
    /// How many releases of each stage stay rollback targets, the live one among them
    /// (`SLUICE_RELEASES_KEPT`); older ones expire once past `retention`.
    pub releases_kept: usize,
    /// How long an upload, and a release no stage needs, is kept
    /// (`SLUICE_ARTIFACT_RETENTION_DAYS`, the stack's `ArtifactRetentionDays`).
    pub retention: chrono::TimeDelta,
}

const DEFAULT_APPROVAL_HOURS: u64 = 7 * 24;
const DEFAULT_RELEASES_KEPT: usize = 5;
const DEFAULT_RETENTION_DAYS: i64 = 30;

/// A whole number from the variable `name`, within `range` (of `unit`s, for the
/// message), or `default` when it is unset or blank.
fn whole_number<T>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    range: std::ops::RangeInclusive<T>,
    unit: &str,
    default: T,
) -> Result<T, ConfigProblem>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    let Some(v) = get(name).filter(|v| !v.trim().is_empty()) else {
        return Ok(default);
    };
    v.trim()
        .parse::<T>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| ConfigProblem::Invalid {
            name,
            reason: format!(
                "{v:?} is not a whole number of {unit} from {} to {}",
                range.start(),
                range.end()
            ),
        })
}

/// A comma-separated list, blanks dropped: how `template.yaml` passes a
/// `CommaDelimitedList` parameter (`!Join`), where an empty list is "".
fn list(value: &str) -> Vec<&str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// The AWS account ids listed in variable `name`, whose `value` is a comma-separated
/// list: each must be twelve digits.
pub(crate) fn account_ids<'a>(
    name: &'static str,
    value: &'a str,
) -> Result<Vec<&'a str>, ConfigProblem> {
    let accounts = list(value);
    if let Some(bad) = accounts
        .iter()
        .find(|a| a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ConfigProblem::Invalid {
            name,
            reason: format!("{bad:?} is not a 12-digit AWS account ID"),
        });
    }
    Ok(accounts)
}

/// The stages listed in variable `name`, whose `value` is a comma-separated list:
/// each must be one of `stages`.
fn stages_named<'a>(
    name: &'static str,
    value: &'a str,
    stages: &[StageConfig],
) -> Result<Vec<&'a str>, ConfigProblem> {
    let listed = list(value);
    if let Some(stage) = listed
        .iter()
        .find(|l| !stages.iter().any(|s| s.name.as_str() == **l))
    {
        let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
        return Err(ConfigProblem::Invalid {
            name,
            reason: format!(
                "{stage:?} is not one of the stages ({}); list only stages of SLUICE_STAGES",
                names.join(", ")
            ),
        });
    }
    Ok(listed)
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
        let mut stages = stages(
            &get,
            &required("SLUICE_APPLICATION")?,
            &required("SLUICE_STAGES")?,
        )?;
        after_deploy(&get, &mut stages)?;
        alarm_watch(&get, &mut stages)?;
        deploy_windows(&get, &mut stages)?;
        let branch = get("SLUICE_BRANCH")
            .filter(|b| !b.trim().is_empty())
            .unwrap_or_else(|| "master".to_owned());
        let pipeline = Pipeline::new(
            &required("SLUICE_PIPELINE")?,
            &required("SLUICE_REPOSITORY")?,
            &branch,
            stages,
        )
        .map_err(ConfigProblem::Pipeline)?;

        let hours = whole_number::<u64>(
            &get,
            "SLUICE_APPROVAL_TIMEOUT_HOURS",
            1..=24 * 365,
            "hours",
            DEFAULT_APPROVAL_HOURS,
        )?;
        let releases_kept = whole_number::<usize>(
            &get,
            "SLUICE_RELEASES_KEPT",
            1..=100,
            "releases",
            DEFAULT_RELEASES_KEPT,
        )?;
        let retention_days = whole_number::<i64>(
            &get,
            "SLUICE_ARTIFACT_RETENTION_DAYS",
            1..=3650,
            "days",
            DEFAULT_RETENTION_DAYS,
        )?;
        let approval_url = get("SLUICE_APPROVAL_URL").filter(|v| !v.trim().is_empty());
        // "none": the stack has no approval page (ApprovalPage=none).
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
        let include = get("SLUICE_INCLUDE_PATHS").unwrap_or_default();
        let exclude = get("SLUICE_EXCLUDE_PATHS").unwrap_or_default();
        let paths = PathFilter::new(&list(&include), &list(&exclude)).map_err(|e| {
            ConfigProblem::Invalid {
                name: if e.excluded {
                    "SLUICE_EXCLUDE_PATHS"
                } else {
                    "SLUICE_INCLUDE_PATHS"
                },
                reason: e.to_string(),
            }
        })?;
        Ok(Self {
            pipeline,
            paths,
            bucket: required("SLUICE_BUCKET")?,
            topic_arn: required("SLUICE_TOPIC_ARN")?,
            build_project: required("SLUICE_BUILD_PROJECT")?,
            approval_url: approval_url.map(|u| u.trim().trim_end_matches('/').to_owned()),
            approval_page,
            approval_timeout: Duration::from_secs(hours * 3600),
            region: get("AWS_REGION").unwrap_or_else(|| "us-east-1".to_owned()),
            releases_kept,
            retention: chrono::TimeDelta::days(retention_days),
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
mod after_deploy;
mod stages;
#[cfg(test)]
mod tests;
