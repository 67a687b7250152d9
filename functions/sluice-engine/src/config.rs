//! The orchestrator's configuration, read once from the environment that
//! `template.yaml` sets. A missing or malformed variable is an error naming it.

use std::time::Duration;

use serde::Deserialize;
use sluice_core::{ConfigError, Pipeline, StageConfig};

/// A variable that is missing or malformed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigProblem {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("environment variable SLUICE_STAGES describes an invalid pipeline")]
    Pipeline(#[source] ConfigError),
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
    pub approval_timeout: Duration,
    /// The AWS region, for console links.
    pub region: String,
}

/// One stage as `SLUICE_STAGES` lists it; empty role strings mean none.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StageVar {
    name: String,
    stack: String,
    #[serde(default)]
    approval: bool,
    #[serde(default)]
    role: String,
    #[serde(default)]
    execution_role: String,
    #[serde(default)]
    boundary: String,
}

const DEFAULT_APPROVAL_HOURS: u64 = 7 * 24;

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
        let stages_json = required("SLUICE_STAGES")?;
        let vars: Vec<StageVar> =
            serde_json::from_str(&stages_json).map_err(|e| ConfigProblem::Invalid {
                name: "SLUICE_STAGES",
                reason: format!(
                    "expected a JSON list like [{{\"name\":\"staging\",\"stack\":\"app-staging\"}}, \
                     {{\"name\":\"production\",\"stack\":\"app-production\",\"approval\":true}}]: {e}"
                ),
            })?;
        let none_if_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        let mut stages = Vec::new();
        for var in &vars {
            let mut stage = StageConfig::new(
                &var.name,
                &var.stack,
                none_if_empty(&var.role).as_deref(),
                var.approval,
            )
            .map_err(ConfigProblem::Pipeline)?;
            if let Some(role) = none_if_empty(&var.execution_role) {
                stage = stage
                    .with_execution_role(&role)
                    .map_err(ConfigProblem::Pipeline)?;
            }
            if let Some(boundary) = none_if_empty(&var.boundary) {
                stage = stage
                    .with_boundary(&boundary)
                    .map_err(ConfigProblem::Pipeline)?;
            }
            stages.push(stage);
        }
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

        let hours = match get("SLUICE_APPROVAL_TIMEOUT_HOURS").filter(|v| !v.trim().is_empty()) {
            None => DEFAULT_APPROVAL_HOURS,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|h| (1..=24 * 365).contains(h))
                .ok_or_else(|| ConfigProblem::Invalid {
                    name: "SLUICE_APPROVAL_TIMEOUT_HOURS",
                    reason: format!("{v:?} is not a whole number of hours from 1 to 8760"),
                })?,
        };
        let approval_url = get("SLUICE_APPROVAL_URL").filter(|v| !v.trim().is_empty());
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
            bucket: required("SLUICE_BUCKET")?,
            topic_arn: required("SLUICE_TOPIC_ARN")?,
            build_project: required("SLUICE_BUILD_PROJECT")?,
            approval_url: approval_url.map(|u| u.trim().trim_end_matches('/').to_owned()),
            approval_timeout: Duration::from_secs(hours * 3600),
            region: get("AWS_REGION").unwrap_or_else(|| "us-east-1".to_owned()),
        })
    }

    /// Where the build of execution `id` leaves its artifacts.
    pub fn artifact_prefix(&self, id: &sluice_core::ExecutionId) -> String {
        format!("artifacts/{}/{id}/", self.pipeline.name)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const STAGES: &str = r#"[{"name":"staging","stack":"hello-staging",
         "boundary":"arn:aws:iam::123456789012:policy/sluice/hello/hello-staging-boundary"},
        {"name":"production","stack":"hello-production","approval":true,
         "role":"arn:aws:iam::123456789012:role/deployer","execution_role":""}]"#;

    fn complete() -> Vec<(&'static str, &'static str)> {
        vec![
            ("SLUICE_PIPELINE", "hello"),
            ("SLUICE_REPOSITORY", "hello-api"),
            ("SLUICE_STAGES", STAGES),
            ("SLUICE_BUCKET", "bucket"),
            (
                "SLUICE_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:sluice",
            ),
            ("SLUICE_BUILD_PROJECT", "hello-build"),
            (
                "SLUICE_APPROVAL_URL",
                "https://x.lambda-url.us-east-1.on.aws/",
            ),
        ]
    }

    #[test]
    fn a_complete_environment_gives_defaults_where_silent() {
        let config = Config::from_lookup(env(&complete())).unwrap();
        assert_eq!(config.pipeline.branch, "master");
        assert_eq!(config.approval_timeout, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(
            config.approval_url.as_deref(),
            Some("https://x.lambda-url.us-east-1.on.aws")
        );
        let prod = &config.pipeline.stages[1];
        assert!(prod.requires_approval);
        assert_eq!(
            prod.role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/deployer")
        );
        assert_eq!(prod.execution_role_arn, None);
        assert_eq!(prod.boundary_arn, None);
        assert_eq!(
            config.pipeline.stages[0].boundary_arn.as_deref(),
            Some("arn:aws:iam::123456789012:policy/sluice/hello/hello-staging-boundary")
        );
    }

    #[test]
    fn each_problem_names_its_variable() {
        for missing in [
            "SLUICE_PIPELINE",
            "SLUICE_STAGES",
            "SLUICE_BUCKET",
            "SLUICE_TOPIC_ARN",
        ] {
            let vars: Vec<_> = complete()
                .into_iter()
                .filter(|(k, _)| *k != missing)
                .collect();
            let err = Config::from_lookup(env(&vars)).unwrap_err();
            assert!(err.to_string().contains(missing), "{err}");
        }
        let mut vars = complete();
        vars[6] = ("SLUICE_APPROVAL_URL", "lambda-url.example");
        let err = Config::from_lookup(env(&vars)).unwrap_err();
        assert!(err.to_string().contains("SLUICE_APPROVAL_URL"), "{err}");

        let mut vars = complete();
        vars.push(("SLUICE_APPROVAL_TIMEOUT_HOURS", "soon"));
        let err = Config::from_lookup(env(&vars)).unwrap_err();
        assert!(
            err.to_string().contains("SLUICE_APPROVAL_TIMEOUT_HOURS"),
            "{err}"
        );

        let mut vars = complete();
        vars[2] = ("SLUICE_STAGES", r#"[{"name":"Prod","stack":"x"}]"#);
        let err = Config::from_lookup(env(&vars)).unwrap_err();
        assert!(err.to_string().contains("SLUICE_STAGES"), "{err}");
        vars[2] = (
            "SLUICE_STAGES",
            r#"[{"name":"staging","stack":"x","boundary":"arn:aws:iam::1:role/not-a-policy"}]"#,
        );
        let err = Config::from_lookup(env(&vars)).unwrap_err();
        let said = sluice_adapters::aws::chain(&err);
        assert!(said.contains("permissions boundary ARN"), "{said}");
        vars[2] = ("SLUICE_STAGES", "staging,production");
        let err = Config::from_lookup(env(&vars)).unwrap_err();
        assert!(err.to_string().contains("expected a JSON list"), "{err}");
    }
}
