//! The pipeline as the orchestrator's deployment defines it: which repository and
//! branch it watches and which stages a commit goes through, in order.

use serde::{Deserialize, Serialize};

use crate::ids::{InvalidId, StageName};
use crate::site::SiteTarget;
use crate::window::DeployWindows;

/// A pipeline definition that does not hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    InvalidName(#[from] InvalidId),
    #[error("invalid {what} {value:?}: expected {expected}")]
    Invalid {
        what: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("a pipeline needs at least one stage")]
    NoStages,
    #[error(
        "{0} stages: a pipeline has at most {STAGES_MAX}. Each stage adds its permissions to \
         the functions' roles, and past {STAGES_MAX} (with the longest names) they would exceed \
         IAM's 10,240 characters of inline policy per role; split the pipeline, or deploy \
         several stages' worth of environments from one stage's stack"
    )]
    TooManyStages(usize),
    #[error("stage {0:?} is listed twice; stage names must be unique")]
    DuplicateStage(String),
    #[error("stack {0:?} is used by two stages; each stage deploys its own stack")]
    DuplicateStack(String),
    #[error(
        "stage {longer:?}'s stack {longer_stack:?} begins with stage {shorter:?}'s stack \
         {shorter_stack:?} and a '-': a stage's permissions cover its stack's name followed by \
         '-' (nested stacks, roles), so they would reach the other stage; rename one of them"
    )]
    OverlappingStacks {
        longer: String,
        longer_stack: String,
        shorter: String,
        shorter_stack: String,
    },
    #[error(
        "the pipeline {pipeline:?} is named like the {stage} stage's stack {stack:?}: a stage's \
         permissions cover its stack's name followed by '-', so that stage could change the \
         pipeline's own resources; name the Sluice stack so that it does not begin with \
         {stack:?} (such as sluice-{stack})"
    )]
    PipelineNamedLikeStage {
        pipeline: String,
        stage: String,
        stack: String,
    },
}

fn invalid(what: &'static str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::Invalid {
        what,
        value: value.chars().take(140).collect(),
        expected,
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Names that are safe as one segment of an S3 key.
fn key_safe(s: &str) -> bool {
    (1..=100).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s != "."
        && s != ".."
}

/// One stage: the stack it deploys, optionally through a role, and whether a person
/// must approve the change first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageConfig {
    pub name: StageName,
    pub stack_name: String,
    /// A role in the target account that Sluice assumes to deploy (cross-account).
    pub role_arn: Option<String>,
    /// The role CloudFormation itself uses to change the stack's resources.
    pub execution_role_arn: Option<String>,
    /// The permissions boundary the execution role requires on every IAM role or user
    /// it creates; Sluice passes it to the template as `PermissionsBoundary`.
    #[serde(default)]
    pub boundary_arn: Option<String>,
    pub requires_approval: bool,
    /// Whether whoever started an execution (pushed its commit, or released it) may
    /// approve it here with their own identity. Off unless the stack lists the stage
    /// in SelfApprovalStages.
    #[serde(default)]
    pub self_approval: bool,
    /// Set for a stage that deploys a static website to a bucket instead of a stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteTarget>,
    /// Set for a stage whose deploy is tested before the next stage starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<PostDeployTest>,
    /// Whether the built-in smoke check (run after each deploy of a stack stage with
    /// no `test`) fails the stage when an address answers badly; else it only warns.
    #[serde(default, skip_serializing_if = "is_false")]
    pub smoke_gates: bool,
    /// Set for a stage that retries its transient failures on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Set for a stage whose deploy is watched through CloudWatch alarms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<AlarmWatch>,
    /// Set for a stage that deploys only in these windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<DeployWindows>,
}

/// A stage's watch after its deploy (and test): for `minutes`, none of `alarms` may
/// go into `ALARM`, or the stage is rolled back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmWatch {
    pub alarms: Vec<String>,
    pub minutes: u32,
}

impl AlarmWatch {
    /// A watch of `alarms` (CloudWatch alarm names, at most 100) for `minutes` (1 to
    /// 1,440).
    pub fn new(alarms: Vec<String>, minutes: u32) -> Result<Self, ConfigError> {
        if alarms.is_empty() || alarms.len() > 100 {
            return Err(invalid(
                "alarm list",
                &alarms.join(","),
                "1 to 100 CloudWatch alarm names",
            ));
        }
        if let Some(bad) = alarms.iter().find(|a| {
            !(1..=255).contains(&a.len()) || a.chars().any(|c| c.is_control() || c == ',')
        }) {
            return Err(invalid(
                "alarm name",
                bad,
                "a CloudWatch alarm name: 1 to 255 characters, no control characters or commas",
            ));
        }
        if !(1..=1440).contains(&minutes) {
            return Err(invalid(
                "watch time",
                &minutes.to_string(),
                "a whole number of minutes from 1 to 1440",
            ));
        }
        Ok(Self { alarms, minutes })
    }
}

/// How a stage retries a failure worth retrying (throttling, a stack busy with
/// another update, a test build that faulted on infrastructure): up to `max` times,
/// waiting `base_seconds`, then twice that, and so on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub max: u32,
    pub base_seconds: u32,
}

/// The most automatic retries a stage may have.
pub const RETRIES_MAX: u32 = 10;
/// The longest a stage waits between two automatic retries.
pub const RETRY_WAIT_MAX_SECONDS: i64 = 30 * 60;

impl RetryPolicy {
    /// A policy of `max` retries (1 to 10) from a first wait of `base_seconds` (1 to
    /// 3,600).
    pub fn new(max: u32, base_seconds: u32) -> Result<Self, ConfigError> {
        if !(1..=RETRIES_MAX).contains(&max) {
            return Err(invalid(
                "retry count",
                &max.to_string(),
                "a whole number of retries from 1 to 10",
            ));
        }
        if !(1..=3600).contains(&base_seconds) {
            return Err(invalid(
                "retry wait",
                &base_seconds.to_string(),
                "a whole number of seconds from 1 to 3600",
            ));
        }
        Ok(Self { max, base_seconds })
    }

    /// How long to wait before retry number `n` (1 for the first): the base, doubled
    /// for each retry before it, at most 30 minutes.
    pub fn wait(&self, n: u32) -> chrono::Duration {
        let doubled = i64::from(self.base_seconds) << n.saturating_sub(1).min(20);
        chrono::Duration::seconds(doubled.min(RETRY_WAIT_MAX_SECONDS))
    }
}

/// A stage's post-deploy test: a build of the commit being delivered that runs the
/// application's test buildspec against the stage's updated stack. Its failure rolls
/// the stage back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostDeployTest {
    /// The buildspec's path in the repository, such as `buildspec-test.yml`.
    pub buildspec: String,
}

/// The buildspec a post-deploy test runs when none is named.
pub const DEFAULT_TEST_BUILDSPEC: &str = "buildspec-test.yml";

impl PostDeployTest {
    /// A test running `buildspec`, a relative path inside the repository.
    pub fn new(buildspec: &str) -> Result<Self, ConfigError> {
        let ok = (1..=200).contains(&buildspec.len())
            && (buildspec.ends_with(".yml") || buildspec.ends_with(".yaml"))
            && !buildspec.starts_with('/')
            && buildspec.split('/').all(|part| {
                !part.is_empty()
                    && part != "."
                    && part != ".."
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            });
        if ok {
            Ok(Self {
                buildspec: buildspec.to_owned(),
            })
        } else {
            Err(invalid(
                "test buildspec",
                buildspec,
                "a .yml or .yaml file's path inside the repository, such as buildspec-test.yml \
                 or tests/smoke.yml (letters, digits, '-', '_', '.' and '/', no '..')",
            ))
        }
    }
}

fn check_role_arn(arn: &str) -> Result<(), ConfigError> {
    let ok = arn.starts_with("arn:aws") && arn.contains(":iam::") && arn.contains(":role/");
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "role ARN",
            arn,
            "an IAM role ARN such as arn:aws:iam::123456789012:role/sluice-deployer",
        ))
    }
}

impl StageConfig {
    /// A validated stage definition.
    pub fn new(
        name: &str,
        stack_name: &str,
        role_arn: Option<&str>,
        requires_approval: bool,
    ) -> Result<Self, ConfigError> {
        let name = StageName::parse(name)?;
        let stack_ok = (1..=128).contains(&stack_name.len())
            && stack_name.starts_with(|c: char| c.is_ascii_alphabetic())
            && stack_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !stack_ok {
            return Err(invalid(
                "stack name",
                stack_name,
                "1-128 characters of A-Z, a-z, 0-9 and '-', starting with a letter",
            ));
        }
        if let Some(arn) = role_arn {
            check_role_arn(arn)?;
        }
        Ok(Self {
            name,
            stack_name: stack_name.to_owned(),
            role_arn: role_arn.map(str::to_owned),
            execution_role_arn: None,
            boundary_arn: None,
            requires_approval,
            self_approval: false,
            site: None,
            test: None,
            smoke_gates: false,
            retry: None,
            watch: None,
            window: None,
        })
    }

    /// The same stage, deploying only in `window`.
    pub fn with_window(mut self, window: DeployWindows) -> Self {
        self.window = Some(window);
        self
    }

    /// The same stage, deploying a static website to `site` instead of its stack.
    pub fn with_site(mut self, site: SiteTarget) -> Self {
        self.site = Some(site);
        self
    }

    /// The same stage, with the stack's IAM roles and users bounded by the managed
    /// policy `arn`.
    pub fn with_boundary(mut self, arn: &str) -> Result<Self, ConfigError> {
        let ok = arn.starts_with("arn:aws") && arn.contains(":iam::") && arn.contains(":policy/");
        if !ok {
            return Err(invalid(
                "permissions boundary ARN",
                arn,
                "an IAM managed policy ARN such as arn:aws:iam::123456789012:policy/app-boundary",
            ));
        }
        self.boundary_arn = Some(arn.to_owned());
        Ok(self)
    }

    /// The same stage, with CloudFormation using `arn` to change resources.
    pub fn with_execution_role(mut self, arn: &str) -> Result<Self, ConfigError> {
        check_role_arn(arn)?;
        self.execution_role_arn = Some(arn.to_owned());
        Ok(self)
    }
}

/// The most stages a pipeline has: the largest configuration whose roles and
/// environments `tests/policy` proves fit IAM's and Lambda's quotas.
pub const STAGES_MAX: usize = 8;

/// What one orchestrator deployment delivers: a repository's branch through stages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pipeline {
    pub name: String,
    pub repository: String,
    pub branch: String,
    pub stages: Vec<StageConfig>,
}

impl Pipeline {
    /// A validated pipeline. `name` becomes part of S3 keys.
    pub fn new(
        name: &str,
        repository: &str,
        branch: &str,
        stages: Vec<StageConfig>,
    ) -> Result<Self, ConfigError> {
        Self::check_name(name)?;
        if !key_safe(repository) {
            return Err(invalid(
                "repository name",
                repository,
                "a CodeCommit repository name: 1-100 characters of A-Z, a-z, 0-9, '-', '_' and '.'",
            ));
        }
        let branch_ok = (1..=256).contains(&branch.len())
            && !branch.contains("..")
            && !branch.starts_with('/')
            && !branch.ends_with('/')
            && branch
                .chars()
                .all(|c| !c.is_control() && !c.is_whitespace() && !"~^:?*[\\".contains(c));
        if !branch_ok {
            return Err(invalid(
                "branch name",
                branch,
                "a git branch name such as master",
            ));
        }
        if stages.is_empty() {
            return Err(ConfigError::NoStages);
        }
        if stages.len() > STAGES_MAX {
            return Err(ConfigError::TooManyStages(stages.len()));
        }
        for (i, stage) in stages.iter().enumerate() {
            let earlier = &stages[..i];
            if earlier.iter().any(|s| s.name == stage.name) {
                return Err(ConfigError::DuplicateStage(stage.name.to_string()));
            }
            if earlier.iter().any(|s| s.stack_name == stage.stack_name) {
                return Err(ConfigError::DuplicateStack(stage.stack_name.clone()));
            }
        }
        for a in &stages {
            for b in &stages {
                if a.stack_name.starts_with(&format!("{}-", b.stack_name)) {
                    return Err(ConfigError::OverlappingStacks {
                        longer: a.name.to_string(),
                        longer_stack: a.stack_name.clone(),
                        shorter: b.name.to_string(),
                        shorter_stack: b.stack_name.clone(),
                    });
                }
            }
        }
        if let Some(stage) = stages
            .iter()
            .find(|s| name == s.stack_name || name.starts_with(&format!("{}-", s.stack_name)))
        {
            return Err(ConfigError::PipelineNamedLikeStage {
                pipeline: name.to_owned(),
                stage: stage.name.to_string(),
                stack: stage.stack_name.clone(),
            });
        }
        Ok(Self {
            name: name.to_owned(),
            repository: repository.to_owned(),
            branch: branch.to_owned(),
            stages,
        })
    }

    /// Checks a pipeline name, which becomes part of S3 keys.
    pub fn check_name(name: &str) -> Result<(), ConfigError> {
        if key_safe(name) {
            Ok(())
        } else {
            Err(invalid(
                "pipeline name",
                name,
                "1-100 characters of A-Z, a-z, 0-9, '-', '_' and '.'",
            ))
        }
    }

    /// The default shape: `staging` deploys at once, `production` waits for approval.
    /// Stacks are named `<application>-staging` and `<application>-production`.
    pub fn with_default_stages(
        name: &str,
        repository: &str,
        branch: &str,
        application: &str,
    ) -> Result<Self, ConfigError> {
        let stages = vec![
            StageConfig::new("staging", &format!("{application}-staging"), None, false)?,
            StageConfig::new(
                "production",
                &format!("{application}-production"),
                None,
                true,
            )?,
        ];
        Self::new(name, repository, branch, stages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pipeline_gates_production_only() {
        let p = Pipeline::with_default_stages("hello", "hello-api", "master", "hello").unwrap();
        let shape: Vec<_> = p
            .stages
            .iter()
            .map(|s| (s.name.as_str(), s.stack_name.as_str(), s.requires_approval))
            .collect();
        assert_eq!(
            shape,
            [
                ("staging", "hello-staging", false),
                ("production", "hello-production", true)
            ]
        );
    }

    #[test]
    fn bad_definitions_say_what_is_wrong() {
        let stage = |n: &str, s: &str| StageConfig::new(n, s, None, false).unwrap();
        assert_eq!(
            Pipeline::new("p", "r", "master", vec![]),
            Err(ConfigError::NoStages)
        );
        assert_eq!(
            Pipeline::new("p", "r", "master", vec![stage("a", "x"), stage("a", "y")]),
            Err(ConfigError::DuplicateStage("a".into()))
        );
        let many = |n: usize| -> Vec<StageConfig> {
            (0..n)
                .map(|i| stage(&format!("s{i}"), &format!("app-s{i}")))
                .collect()
        };
        assert!(Pipeline::new("p", "r", "master", many(STAGES_MAX)).is_ok());
        let too_many = Pipeline::new("p", "r", "master", many(STAGES_MAX + 1)).unwrap_err();
        assert_eq!(too_many, ConfigError::TooManyStages(STAGES_MAX + 1));
        assert!(too_many.to_string().contains("10,240"), "{too_many}");
        assert_eq!(
            Pipeline::new("p", "r", "master", vec![stage("a", "x"), stage("b", "x")]),
            Err(ConfigError::DuplicateStack("x".into()))
        );
        let err = Pipeline::new(
            "p",
            "r",
            "master",
            vec![stage("prod", "app-prod"), stage("prod-eu", "app-prod-eu")],
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains(r#"stage "prod-eu"'s stack "app-prod-eu" begins with stage "prod"'s"#),
            "{err}"
        );
        // A pipeline named like a stage's stack would fall under that stage's
        // permissions (hello-staging-pipeline, with the stack hello-staging).
        for pipeline in ["hello-staging", "hello-staging-pipeline"] {
            let err = Pipeline::new(
                pipeline,
                "r",
                "master",
                vec![
                    stage("staging", "hello-staging"),
                    stage("production", "hello-production"),
                ],
            )
            .unwrap_err();
            assert!(
                err.to_string().contains(&format!(
                    r#"the pipeline "{pipeline}" is named like the staging stage's stack "hello-staging""#
                )),
                "{err}"
            );
        }
        assert!(
            Pipeline::new(
                "hello-pipeline",
                "r",
                "master",
                vec![stage("staging", "hello-staging")]
            )
            .is_ok()
        );
        let err = Pipeline::new("../p", "r", "master", vec![stage("a", "x")]).unwrap_err();
        assert!(err.to_string().contains("pipeline name"), "{err}");
        let err = Pipeline::new("p", "r", "a..b", vec![stage("a", "x")]).unwrap_err();
        assert!(err.to_string().contains("branch name"), "{err}");
        let err = StageConfig::new("a", "1stack", None, false).unwrap_err();
        assert!(err.to_string().contains("stack name"), "{err}");
        let err = StageConfig::new("a", "s", Some("role/deployer"), false).unwrap_err();
        assert!(err.to_string().contains("role ARN"), "{err}");
        assert!(
            StageConfig::new(
                "a",
                "s",
                Some("arn:aws:iam::123456789012:role/deployer"),
                true
            )
            .is_ok()
        );
    }
}
