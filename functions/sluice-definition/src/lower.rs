//! From the file's shape to the core's [`Pipeline`]: every rule a definition must
//! keep, each broken one reported at the field that breaks it.

use sluice_core::site::SiteTarget;
use sluice_core::{
    AlarmWatch, DeployWindows, Pipeline, PostDeployTest, RETRIES_MAX, RetryPolicy, StageConfig,
};

use crate::raw::{Compute, Raw, Stage, Test};

/// A rule the definition breaks: the field (`stages[1].windows.when`) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

fn problem(field: impl Into<String>, message: impl std::fmt::Display) -> Problem {
    Problem {
        field: field.into(),
        message: message.to_string(),
    }
}

/// The Sluice stack a definition is deployed as, where it is known: its name (the
/// pipeline's, when the definition gives none), and where it puts each stage's roles
/// in its own account, the ARNs up to the stage's name (`<role_prefix><stage>-execution`,
/// `<boundary_prefix><stage>-boundary`). Without them a stage deploys with the
/// deploying function's own permissions, which only tests do.
#[derive(Clone, Debug, Default)]
pub struct Deployment {
    pub stack: Option<String>,
    pub role_prefix: Option<String>,
    pub boundary_prefix: Option<String>,
}

impl Deployment {
    /// The partition the deployment is in (`aws`, `aws-cn`, ...), which the stages in
    /// other accounts share.
    fn partition(&self) -> &str {
        self.role_prefix
            .as_deref()
            .and_then(|p| p.strip_prefix("arn:"))
            .and_then(|rest| rest.split(':').next())
            .filter(|p| !p.is_empty())
            .unwrap_or("aws")
    }
}

/// Twelve digits.
fn account_id(value: &str) -> bool {
    value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())
}

/// CloudWatch Logs' retention periods, in days.
const LOG_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// Checks the settings outside the stages.
pub(crate) fn check_settings(raw: &Raw) -> Result<(), Problem> {
    if let Some(name) = &raw.name {
        Pipeline::check_name(name).map_err(|e| problem("name", e))?;
    }
    let paths = &raw.source.paths;
    if let Err(e) = crate::paths::PathFilter::new(&paths.include, &paths.exclude) {
        let (list, name) = match e.excluded {
            true => (&paths.exclude, "exclude"),
            false => (&paths.include, "include"),
        };
        let field = match list.iter().position(|p| *p == e.pattern) {
            Some(i) => format!("source.paths.{name}[{i}]"),
            None => format!("source.paths.{name}"),
        };
        return Err(problem(field, e));
    }
    let build = &raw.build;
    if !(5..=480).contains(&build.timeout_minutes) {
        return Err(problem(
            "build.timeout_minutes",
            format!(
                "{} is not a number of minutes from 5 to 480 (CodeBuild's limits)",
                build.timeout_minutes
            ),
        ));
    }
    for (field, path) in [
        ("build.buildspec", &build.buildspec),
        ("build.template", &build.template),
        ("build.configuration", &build.configuration),
    ] {
        relative_path(path).map_err(|why| problem(field, why))?;
    }
    if !build.configuration.contains("{stage}") {
        return Err(problem(
            "build.configuration",
            format!(
                "{:?} does not name the stage: write {{stage}} where the stage's name goes, \
                 such as {{stage}}.json or config/{{stage}}-configuration.json",
                build.configuration
            ),
        ));
    }
    if let Some(image) = &build.image
        && image.trim().is_empty()
    {
        return Err(problem(
            "build.image",
            "is empty: leave it out for the default image",
        ));
    }
    if build.compute == Compute::Lambda {
        if build.image.is_none() {
            return Err(problem(
                "build.compute",
                "lambda needs an image: CodeBuild's Lambda compute runs one of its Lambda \
                 images, named for the runtime (build.image: \
                 aws/codebuild/amazonlinux-aarch64-lambda-standard:python3.12, :nodejs20, \
                 :go1.21, :corretto21, ...)",
            ));
        }
        if build.timeout_minutes > 15 {
            return Err(problem(
                "build.timeout_minutes",
                format!(
                    "{} minutes is longer than CodeBuild's Lambda compute runs a build (15)",
                    build.timeout_minutes
                ),
            ));
        }
    }
    let approval = &raw.approval;
    if !(1..=24 * 365).contains(&approval.timeout_hours) {
        return Err(problem(
            "approval.timeout_hours",
            format!(
                "{} is not a number of hours from 1 to 8760",
                approval.timeout_hours
            ),
        ));
    }
    if approval.alarm_minutes < 10 {
        return Err(problem(
            "approval.alarm_minutes",
            format!("{} is under the least, 10 minutes", approval.alarm_minutes),
        ));
    }
    for (i, email) in approval.emails.iter().enumerate() {
        let ok = email
            .split_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'))
            && !email.contains(char::is_whitespace);
        if !ok {
            return Err(problem(
                format!("approval.emails[{i}]"),
                format!("{email:?} is not an email address"),
            ));
        }
    }
    if approval.emails.is_empty()
        && let Some(i) = raw.stages.iter().position(|s| s.approval)
    {
        return Err(problem(
            format!("stages[{i}].approval"),
            format!(
                "{} waits for approval, but approval.emails names no one to tell: add \
                 approval.emails (a team address will do), with or without the approval page",
                raw.stages[i].name
            ),
        ));
    }
    let retention = &raw.retention;
    if !(1..=3650).contains(&retention.artifact_days) {
        return Err(problem(
            "retention.artifact_days",
            format!(
                "{} is not a number of days from 1 to 3650",
                retention.artifact_days
            ),
        ));
    }
    if !(1..=100).contains(&retention.releases_kept) {
        return Err(problem(
            "retention.releases_kept",
            format!(
                "{} is not a number of releases from 1 to 100",
                retention.releases_kept
            ),
        ));
    }
    if !LOG_DAYS.contains(&retention.log_days) {
        return Err(problem(
            "retention.log_days",
            format!(
                "{} is not one of CloudWatch Logs' retention periods ({})",
                retention.log_days,
                LOG_DAYS.map(|d| d.to_string()).join(", ")
            ),
        ));
    }
    if raw.alarms.stuck_minutes < 10 {
        return Err(problem(
            "alarms.stuck_minutes",
            format!(
                "{} is under the least, 10 minutes",
                raw.alarms.stuck_minutes
            ),
        ));
    }
    for (i, account) in raw.operator_accounts.iter().enumerate() {
        if !account_id(account) {
            return Err(problem(
                format!("operator_accounts[{i}]"),
                format!("{account:?} is not a 12-digit AWS account ID"),
            ));
        }
    }
    Ok(())
}

/// A path inside the repository or artifact: relative, with no `..`.
fn relative_path(path: &str) -> Result<(), String> {
    if path.trim().is_empty() {
        return Err("is empty".to_owned());
    }
    if path.starts_with('/') || path.split('/').any(|part| part == "..") {
        return Err(format!(
            "{path:?} leaves the repository: give a path inside it, without a leading / or .."
        ));
    }
    Ok(())
}

/// The pipeline `raw` defines, its stages' roles where `roles` puts them.
pub(crate) fn pipeline(raw: &Raw, roles: &Deployment) -> Result<Pipeline, Problem> {
    check_settings(raw)?;
    let name = match (&raw.name, &roles.stack) {
        (Some(name), Some(stack)) if name != stack => {
            return Err(problem(
                "name",
                format!(
                    "names the pipeline {name:?}, but the Sluice stack running it is {stack:?}: \
                     leave name out, or deploy the stack as {name}"
                ),
            ));
        }
        (Some(name), _) | (None, Some(name)) => name.as_str(),
        // Checked before it is deployed: the stack's name is not known yet.
        (None, None) => "sluice",
    };
    if raw.stages.is_empty() {
        return Err(problem(
            "stages",
            "is empty: a pipeline needs at least one stage",
        ));
    }
    let mut stages = Vec::new();
    for (i, stage) in raw.stages.iter().enumerate() {
        let at = format!("stages[{i}]");
        if let Some(first) = raw.stages[..i].iter().position(|s| s.name == stage.name) {
            return Err(problem(
                format!("{at}.name"),
                format!(
                    "{:?} is already the name of stages[{first}]; stage names are unique",
                    stage.name
                ),
            ));
        }
        stages.push(lower_stage(raw, roles, stage, &at)?);
    }
    let pipeline = Pipeline::new(name, &raw.source.repository, &raw.source.branch, stages);
    pipeline.map_err(|e| {
        let field = match &e {
            sluice_core::ConfigError::TooManyStages(_) => "stages",
            sluice_core::ConfigError::PipelineNamedLikeStage { .. } => "name",
            sluice_core::ConfigError::Invalid { what, .. } if what.contains("branch") => {
                "source.branch"
            }
            sluice_core::ConfigError::Invalid { what, .. } if what.contains("repository") => {
                "source.repository"
            }
            _ => "stages",
        };
        problem(field, e)
    })
}

fn lower_stage(
    raw: &Raw,
    roles: &Deployment,
    stage: &Stage,
    at: &str,
) -> Result<StageConfig, Problem> {
    let stack = format!("{}-{}", raw.application, stage.name);
    let field = |name: &str| format!("{at}.{name}");
    if let Some(account) = &stage.account
        && !account_id(account)
    {
        return Err(problem(
            field("account"),
            format!("{account:?} is not a 12-digit AWS account ID"),
        ));
    }
    let partition = roles.partition();
    let deploy_role = stage
        .account
        .as_ref()
        .map(|account| format!("arn:{partition}:iam::{account}:role/sluice/{stack}-sluice-deploy"));
    let mut config = StageConfig::new(&stage.name, &stack, deploy_role.as_deref(), stage.approval)
        .map_err(|e| {
            let what = if e.to_string().contains("stack name") {
                "application"
            } else {
                "name"
            };
            match what {
                "application" => problem("application", e),
                _ => problem(field("name"), e),
            }
        })?;
    if stage.self_approval && !stage.approval {
        return Err(problem(
            field("self_approval"),
            format!(
                "{} waits for no approval (approval: false), so no one approves there, \
                 themselves or not; set approval: true, or leave self_approval out",
                stage.name
            ),
        ));
    }
    config.self_approval = stage.self_approval;
    let (execution_role, boundary) = match &stage.account {
        Some(account) => (
            Some(format!(
                "arn:{partition}:iam::{account}:role/sluice/{stack}-sluice-execution"
            )),
            Some(format!(
                "arn:{partition}:iam::{account}:policy/sluice/{stack}-boundary"
            )),
        ),
        None => (
            roles
                .role_prefix
                .as_ref()
                .map(|p| format!("{p}{}-execution", stage.name)),
            roles
                .boundary_prefix
                .as_ref()
                .map(|p| format!("{p}{}-boundary", stage.name)),
        ),
    };
    if let Some(role) = execution_role {
        config = config
            .with_execution_role(&role)
            .map_err(|e| problem(field("account"), e))?;
    }
    if let Some(boundary) = boundary {
        config = config
            .with_boundary(&boundary)
            .map_err(|e| problem(field("account"), e))?;
    }
    if let Some(site) = &stage.site {
        let mut target = SiteTarget::for_stage(
            &config.name,
            &site.bucket,
            &site.folder,
            &site.entry_document,
        )
        .map_err(|e| problem(field("site"), e))?;
        if let Some(distribution) = &site.distribution {
            target = target
                .with_distribution(&config.name, distribution)
                .map_err(|e| problem(field("site.distribution"), e))?;
        }
        config = config.with_site(target);
    }
    match &stage.test {
        None => {}
        Some(Test::Smoke(_)) => {
            if stage.site.is_some() {
                return Err(problem(
                    field("test"),
                    "a site stage has no stack outputs for the smoke check to call; give it \
                     a test buildspec instead",
                ));
            }
            config.smoke_gates = true;
        }
        Some(Test::Build { buildspec }) => {
            let test = PostDeployTest::new(buildspec.trim())
                .map_err(|e| problem(field("test.buildspec"), e))?;
            config.test = Some(test);
        }
    }
    if let Some(retries) = &stage.retries {
        if retries.max > RETRIES_MAX {
            return Err(problem(
                field("retries.max"),
                format!(
                    "{} is not a number of retries from 0 to {RETRIES_MAX}",
                    retries.max
                ),
            ));
        }
        if !(1..=3600).contains(&retries.backoff_seconds) {
            return Err(problem(
                field("retries.backoff_seconds"),
                format!(
                    "{} is not a number of seconds from 1 to 3600",
                    retries.backoff_seconds
                ),
            ));
        }
        if retries.max > 0 {
            config.retry = Some(
                RetryPolicy::new(retries.max, retries.backoff_seconds)
                    .map_err(|e| problem(field("retries"), e))?,
            );
        }
    }
    if let Some(watch) = &stage.alarms {
        let why_not = match (&stage.site, &stage.account) {
            (Some(_), _) => Some("a site stage"),
            (_, Some(_)) => Some("in another account"),
            _ => None,
        };
        if let Some(why) = why_not {
            return Err(problem(
                field("alarms"),
                format!(
                    "{} is {why}; alarm watches are for stack stages in Sluice's account, for now",
                    stage.name
                ),
            ));
        }
        if watch.names.is_empty() {
            return Err(problem(
                field("alarms.names"),
                "is empty: name the CloudWatch alarms to watch, or leave alarms out",
            ));
        }
        let watch = AlarmWatch::new(watch.names.clone(), watch.minutes).map_err(|e| {
            let part = if e.to_string().contains("watch time") {
                "alarms.minutes"
            } else {
                "alarms.names"
            };
            problem(field(part), e)
        })?;
        config.watch = Some(watch);
    }
    if let Some(windows) = &stage.windows {
        let parsed = DeployWindows::parse(&windows.when, &windows.time_zone).map_err(|e| {
            let part = if e.to_string().contains("time zone") {
                "windows.time_zone"
            } else {
                "windows.when"
            };
            problem(field(part), e)
        })?;
        config = config.with_window(parsed);
    }
    Ok(config)
}
