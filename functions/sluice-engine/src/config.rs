//! The orchestrator's configuration, read once from the environment that
//! `template.yaml` sets. A missing or malformed variable is an error naming it.

use std::time::Duration;

use sluice_core::site::SiteTarget;
use sluice_core::{
    ConfigError, DEFAULT_TEST_BUILDSPEC, DeployWindows, Pipeline, PostDeployTest, RetryPolicy,
    StageConfig,
};

use crate::paths::PathFilter;

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

/// The stages in order, from the template's stage parameters:
///
/// - `SLUICE_STAGES`: the names, in order; stage `s` deploys stack `<application>-<s>`.
/// - `SLUICE_APPROVAL_STAGES`: the names of the stages that wait for approval.
/// - `SLUICE_SELF_APPROVAL_STAGES`: those of them where whoever started an execution
///   may approve it with their own identity (none by default).
/// - `SLUICE_REMOTE_STAGES` and `SLUICE_REMOTE_ACCOUNTS`: stages in other accounts and,
///   in the same order, their accounts, where `templates/deploy-target.yaml` created
///   the roles (`role/sluice/<stack>-sluice-deploy`, `…-sluice-execution`) and the
///   boundary (`policy/sluice/<stack>-boundary`).
/// - `SLUICE_STAGE_ROLE_PREFIX` and `SLUICE_STAGE_BOUNDARY_PREFIX`: the ARNs, up to the
///   stage's name, of the execution roles and boundaries the Sluice stack creates for
///   its stages in this account (`<prefix><stage>-execution`, `<prefix><stage>-boundary`).
///   Without them a stage deploys with the deploying function's own permissions, which
///   only the tests do.
/// - `SLUICE_SITE_STAGES`: the stages that deploy a static website instead of a stack,
///   to `SLUICE_SITE_BUCKET` (a bucket name, or `<stack>:<Output>`; `*` stands for the
///   stage), the files of the artifact's `SLUICE_SITE_FOLDER` (default `site`), entry
///   document `SLUICE_SITE_ENTRY_DOCUMENT` (default `index.html`), clearing the caches
///   of CloudFront distribution `SLUICE_SITE_DISTRIBUTION` (an id, or `<stack>:<Output>`)
///   after each deploy, if set.
fn stages(
    get: &impl Fn(&str) -> Option<String>,
    application: &str,
    names: &str,
) -> Result<Vec<StageConfig>, ConfigProblem> {
    let optional = |name: &str| get(name).unwrap_or_default();
    let names = list(names);
    let approval = optional("SLUICE_APPROVAL_STAGES");
    let approval = list(&approval);
    let remote_stages = optional("SLUICE_REMOTE_STAGES");
    let remote_stages = list(&remote_stages);
    let remote_accounts = optional("SLUICE_REMOTE_ACCOUNTS");
    let remote_accounts = account_ids("SLUICE_REMOTE_ACCOUNTS", &remote_accounts)?;
    // The names first, so that a bad one is reported as itself.
    if names.is_empty() {
        return Err(ConfigProblem::Pipeline(ConfigError::NoStages));
    }
    for (i, name) in names.iter().enumerate() {
        StageConfig::new(name, &format!("{application}-{name}"), None, false)
            .map_err(ConfigProblem::Pipeline)?;
        if names[..i].contains(name) {
            return Err(ConfigProblem::Pipeline(ConfigError::DuplicateStage(
                (*name).to_owned(),
            )));
        }
    }
    let unknown = |variable: &'static str, listed: &[&str]| match listed
        .iter()
        .find(|s| !names.contains(s))
    {
        Some(stage) => Err(ConfigProblem::Invalid {
            name: variable,
            reason: format!(
                "{stage:?} is not one of the stages ({}); list only stages of SLUICE_STAGES",
                names.join(", ")
            ),
        }),
        None => Ok(()),
    };
    unknown("SLUICE_APPROVAL_STAGES", &approval)?;
    unknown("SLUICE_REMOTE_STAGES", &remote_stages)?;
    let self_approval = optional("SLUICE_SELF_APPROVAL_STAGES");
    let self_approval = list(&self_approval);
    unknown("SLUICE_SELF_APPROVAL_STAGES", &self_approval)?;
    if let Some(stage) = self_approval.iter().find(|s| !approval.contains(s)) {
        return Err(ConfigProblem::Invalid {
            name: "SLUICE_SELF_APPROVAL_STAGES",
            reason: format!(
                "{stage:?} waits for no approval (SLUICE_APPROVAL_STAGES), so no one approves \
                 there, themselves or not; list only stages that wait for approval"
            ),
        });
    }
    let site_stages = optional("SLUICE_SITE_STAGES");
    let site_stages = list(&site_stages);
    unknown("SLUICE_SITE_STAGES", &site_stages)?;
    let site_bucket = optional("SLUICE_SITE_BUCKET");
    if !site_stages.is_empty() && site_bucket.trim().is_empty() {
        return Err(ConfigProblem::Invalid {
            name: "SLUICE_SITE_BUCKET",
            reason: format!(
                "the site stages ({}) need a bucket: a name such as hello-web-*, or a stack's \
                 output such as hello-api-*:WebsiteBucket ('*' stands for the stage)",
                site_stages.join(", ")
            ),
        });
    }
    let site_folder = get("SLUICE_SITE_FOLDER")
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "site".to_owned());
    let site_distribution = optional("SLUICE_SITE_DISTRIBUTION");
    let site_entry = get("SLUICE_SITE_ENTRY_DOCUMENT")
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "index.html".to_owned());
    if let Some((_, twice)) = remote_stages
        .iter()
        .enumerate()
        .find(|(i, s)| remote_stages[..*i].contains(s))
    {
        return Err(ConfigProblem::Invalid {
            name: "SLUICE_REMOTE_STAGES",
            reason: format!("{twice:?} is listed twice; a stage is in one account"),
        });
    }
    if remote_stages.len() != remote_accounts.len() {
        return Err(ConfigProblem::Invalid {
            name: "SLUICE_REMOTE_ACCOUNTS",
            reason: format!(
                "{} accounts for {} remote stages ({}); give one account ID per remote stage, in the same order",
                remote_accounts.len(),
                remote_stages.len(),
                remote_stages.join(", ")
            ),
        });
    }
    let role_prefix = optional("SLUICE_STAGE_ROLE_PREFIX");
    let boundary_prefix = optional("SLUICE_STAGE_BOUNDARY_PREFIX");
    // The partition of this deployment, which the remote stages share.
    let partition = role_prefix
        .strip_prefix("arn:")
        .and_then(|rest| rest.split(':').next())
        .filter(|p| !p.is_empty())
        .unwrap_or("aws");
    let mut stages = Vec::new();
    for name in &names {
        let stack = format!("{application}-{name}");
        let remote = remote_stages
            .iter()
            .position(|s| s == name)
            .map(|i| remote_accounts[i]);
        let deploy_role = remote.map(|account| {
            format!("arn:{partition}:iam::{account}:role/sluice/{stack}-sluice-deploy")
        });
        let mut stage = StageConfig::new(
            name,
            &stack,
            deploy_role.as_deref(),
            approval.contains(name),
        )
        .map_err(ConfigProblem::Pipeline)?;
        stage.self_approval = self_approval.contains(name);
        let (execution_role, boundary) = match remote {
            Some(account) => (
                Some(format!(
                    "arn:{partition}:iam::{account}:role/sluice/{stack}-sluice-execution"
                )),
                Some(format!(
                    "arn:{partition}:iam::{account}:policy/sluice/{stack}-boundary"
                )),
            ),
            None => (
                (!role_prefix.is_empty()).then(|| format!("{role_prefix}{name}-execution")),
                (!boundary_prefix.is_empty()).then(|| format!("{boundary_prefix}{name}-boundary")),
            ),
        };
        if let Some(role) = execution_role {
            stage = stage
                .with_execution_role(&role)
                .map_err(ConfigProblem::Pipeline)?;
        }
        if let Some(boundary) = boundary {
            stage = stage
                .with_boundary(&boundary)
                .map_err(ConfigProblem::Pipeline)?;
        }
        if site_stages.contains(name) {
            let mut site =
                SiteTarget::for_stage(&stage.name, &site_bucket, &site_folder, &site_entry)
                    .map_err(|e| ConfigProblem::Pipeline(e.into()))?;
            if !site_distribution.trim().is_empty() {
                site = site
                    .with_distribution(&stage.name, &site_distribution)
                    .map_err(|e| ConfigProblem::Pipeline(e.into()))?;
            }
            stage = stage.with_site(site);
        }
        stages.push(stage);
    }
    Ok(stages)
}

/// `SLUICE_TEST_STAGES` read: the stages tested by a build (`staging`), and those
/// whose built-in smoke check gates them (`staging=smoke`). A stage is listed once.
fn test_kinds(value: &str) -> Result<(Vec<&str>, Vec<&str>), ConfigProblem> {
    let bad = |reason: String| ConfigProblem::Invalid {
        name: "SLUICE_TEST_STAGES",
        reason,
    };
    let (mut tested, mut smoked) = (Vec::new(), Vec::new());
    for entry in list(value) {
        let (stage, smoke) = match entry.split_once('=') {
            None => (entry, false),
            Some((stage, "smoke")) => (stage.trim(), true),
            Some((stage, other)) => {
                return Err(bad(format!(
                    "{entry:?}: a stage is listed as {stage} (tested by a build of \
                     TestBuildspec) or as {stage}=smoke (its smoke check gates it), not \
                     ={other}"
                )));
            }
        };
        if tested.contains(&stage) || smoked.contains(&stage) {
            return Err(bad(format!("{stage} is listed more than once")));
        }
        if smoke {
            smoked.push(stage);
        } else {
            tested.push(stage);
        }
    }
    Ok((tested, smoked))
}

/// What happens after each stage's deploy, from the template's parameters:
///
/// - `SLUICE_TEST_STAGES`: the stages whose deploy is tested by a build of the same
///   commit running `SLUICE_TEST_BUILDSPEC` (default `buildspec-test.yml`), with the
///   stack's outputs in its environment; a failed test rolls the stage back. A stage
///   listed as `stage=smoke` is instead gated by the built-in smoke check, which every
///   other untested stack stage runs too, only to warn: an address among the stack's
///   outputs answering 5xx, or not at all, rolls it back.
/// - `SLUICE_RETRIES`: how many times a stage retries a failure worth retrying, on
///   its own: `2` for every stage, or per stage (`staging=3,production=1`); none when
///   empty. The first retry waits `SLUICE_RETRY_SECONDS` (default 60), each next one
///   twice as long as the one before.
fn after_deploy(
    get: &impl Fn(&str) -> Option<String>,
    stages: &mut [StageConfig],
) -> Result<(), ConfigProblem> {
    let names: Vec<String> = stages.iter().map(|s| s.name.to_string()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let listed = get("SLUICE_TEST_STAGES").unwrap_or_default();
    let (tested, smoked) = test_kinds(&listed)?;
    stages_named("SLUICE_TEST_STAGES", &tested.join(","), stages)?;
    stages_named("SLUICE_TEST_STAGES", &smoked.join(","), stages)?;
    let buildspec = get("SLUICE_TEST_BUILDSPEC")
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_TEST_BUILDSPEC.to_owned());
    let test = PostDeployTest::new(buildspec.trim()).map_err(|e| ConfigProblem::Invalid {
        name: "SLUICE_TEST_BUILDSPEC",
        reason: e.to_string(),
    })?;
    for stage in stages.iter_mut() {
        if !tested.contains(&stage.name.as_str()) {
            continue;
        }
        if stage.site.is_some() {
            return Err(ConfigProblem::Invalid {
                name: "SLUICE_TEST_STAGES",
                reason: format!(
                    "{} is a site stage (SLUICE_SITE_STAGES); post-deploy tests and their \
                     rollbacks are for stack stages only, for now",
                    stage.name
                ),
            });
        }
        stage.test = Some(test.clone());
    }
    for stage in stages.iter_mut() {
        if !smoked.contains(&stage.name.as_str()) {
            continue;
        }
        if stage.site.is_some() {
            return Err(ConfigProblem::Invalid {
                name: "SLUICE_TEST_STAGES",
                reason: format!(
                    "{}=smoke: {} is a site stage (SLUICE_SITE_STAGES), and the smoke check \
                     calls a stack's outputs",
                    stage.name, stage.name
                ),
            });
        }
        stage.smoke_gates = true;
    }
    let retries = get("SLUICE_RETRIES").unwrap_or_default();
    let base = whole_number::<u32>(
        &get,
        "SLUICE_RETRY_SECONDS",
        1..=3600,
        "seconds",
        DEFAULT_RETRY_SECONDS,
    )?;
    let bad_retries = |reason: String| ConfigProblem::Invalid {
        name: "SLUICE_RETRIES",
        reason,
    };
    let count = |n: &str| {
        n.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= sluice_core::RETRIES_MAX)
            .ok_or_else(|| {
                bad_retries(format!(
                    "{n:?} is not a number of retries from 0 to {}",
                    sluice_core::RETRIES_MAX
                ))
            })
    };
    let mut per_stage: Vec<(String, u32)> = Vec::new();
    match list(&retries).as_slice() {
        [] => {}
        [all] if !all.contains('=') => {
            let n = count(all)?;
            per_stage = names.iter().map(|s| ((*s).to_owned(), n)).collect();
        }
        items => {
            for item in items {
                let Some((stage, n)) = item.split_once('=') else {
                    return Err(bad_retries(format!(
                        "{item:?} is not STAGE=COUNT; give one number for every stage (2), or \
                         STAGE=COUNT for each (staging=3,production=1)"
                    )));
                };
                let stage = stage.trim();
                if !names.contains(&stage) {
                    return Err(bad_retries(format!(
                        "{stage:?} is not one of the stages ({})",
                        names.join(", ")
                    )));
                }
                if per_stage.iter().any(|(s, _)| s == stage) {
                    return Err(bad_retries(format!("{stage:?} is listed twice")));
                }
                per_stage.push((stage.to_owned(), count(n)?));
            }
        }
    }
    for stage in stages.iter_mut() {
        if let Some((_, n)) = per_stage.iter().find(|(s, _)| s == stage.name.as_str())
            && *n > 0
        {
            stage.retry = Some(RetryPolicy::new(*n, base).map_err(ConfigProblem::Pipeline)?);
        }
    }
    Ok(())
}

/// The alarm watch of each stage, from the template's parameters:
///
/// - `SLUICE_ALARM_STAGES`: the stages whose deploys are watched, after their test.
/// - `SLUICE_ALARM_NAMES`: the CloudWatch alarms (in Sluice's account) they watch,
///   comma-separated, `*` standing for the stage (`hello-api-*-errors`).
/// - `SLUICE_ALARM_WATCH_MINUTES`: how long (default 10).
fn alarm_watch(
    get: &impl Fn(&str) -> Option<String>,
    stages: &mut [StageConfig],
) -> Result<(), ConfigProblem> {
    let watched = get("SLUICE_ALARM_STAGES").unwrap_or_default();
    let watched = stages_named("SLUICE_ALARM_STAGES", &watched, stages)?;
    if watched.is_empty() {
        return Ok(());
    }
    let invalid = |name: &'static str, reason: String| ConfigProblem::Invalid { name, reason };
    let alarms = get("SLUICE_ALARM_NAMES").unwrap_or_default();
    let alarms = list(&alarms);
    if alarms.is_empty() {
        return Err(invalid(
            "SLUICE_ALARM_NAMES",
            format!(
                "the watched stages ({}) need alarms to watch: CloudWatch alarm names, '*' \
                 standing for the stage, such as hello-api-*-errors",
                watched.join(", ")
            ),
        ));
    }
    let minutes = match get("SLUICE_ALARM_WATCH_MINUTES").filter(|v| !v.trim().is_empty()) {
        None => DEFAULT_WATCH_MINUTES,
        Some(v) => v.trim().parse::<u32>().map_err(|_| {
            invalid(
                "SLUICE_ALARM_WATCH_MINUTES",
                format!("{v:?} is not a whole number of minutes from 1 to 1440"),
            )
        })?,
    };
    for stage in stages
        .iter_mut()
        .filter(|s| watched.contains(&s.name.as_str()))
    {
        let why_not = match (&stage.site, &stage.role_arn) {
            (Some(_), _) => Some("a site stage (SLUICE_SITE_STAGES)"),
            (_, Some(_)) => Some("in another account (SLUICE_REMOTE_STAGES)"),
            _ => None,
        };
        if let Some(why) = why_not {
            return Err(invalid(
                "SLUICE_ALARM_STAGES",
                format!(
                    "{} is {why}; alarm watches are for stack stages in Sluice's account, for now",
                    stage.name
                ),
            ));
        }
        let named = alarms
            .iter()
            .map(|a| a.replace('*', stage.name.as_str()))
            .collect();
        let watch = sluice_core::AlarmWatch::new(named, minutes).map_err(|e| {
            invalid(
                if e.to_string().contains("watch time") {
                    "SLUICE_ALARM_WATCH_MINUTES"
                } else {
                    "SLUICE_ALARM_NAMES"
                },
                e.to_string(),
            )
        })?;
        stage.watch = Some(watch);
    }
    Ok(())
}

/// The deployment windows, from the template's parameters:
///
/// - `SLUICE_WINDOW_STAGES`: the stages that deploy only inside the windows.
/// - `SLUICE_WINDOWS`: the windows, such as `Mon-Thu 09:00-16:00, Fri 09:00-12:00`.
/// - `SLUICE_WINDOW_TIME_ZONE`: the IANA time zone they are in (default `UTC`).
fn deploy_windows(
    get: &impl Fn(&str) -> Option<String>,
    stages: &mut [StageConfig],
) -> Result<(), ConfigProblem> {
    let listed = get("SLUICE_WINDOW_STAGES").unwrap_or_default();
    let listed = stages_named("SLUICE_WINDOW_STAGES", &listed, stages)?;
    if listed.is_empty() {
        return Ok(());
    }
    let invalid = |name: &'static str, reason: String| ConfigProblem::Invalid { name, reason };
    let spans = get("SLUICE_WINDOWS").unwrap_or_default();
    if spans.trim().is_empty() {
        return Err(invalid(
            "SLUICE_WINDOWS",
            format!(
                "the stages with windows ({}) need their windows, such as `Mon-Fri 09:00-17:00`",
                listed.join(", ")
            ),
        ));
    }
    let zone = get("SLUICE_WINDOW_TIME_ZONE")
        .filter(|z| !z.trim().is_empty())
        .unwrap_or_else(|| "UTC".to_owned());
    let window = DeployWindows::parse(&spans, &zone).map_err(|e| {
        invalid(
            if e.to_string().contains("time zone") {
                "SLUICE_WINDOW_TIME_ZONE"
            } else {
                "SLUICE_WINDOWS"
            },
            e.to_string(),
        )
    })?;
    for stage in stages
        .iter_mut()
        .filter(|s| listed.contains(&s.name.as_str()))
    {
        stage.window = Some(window.clone());
    }
    Ok(())
}

/// How long a stage's alarms are watched, when `SLUICE_ALARM_WATCH_MINUTES` does not say.
const DEFAULT_WATCH_MINUTES: u32 = 10;

/// The first automatic retry's wait, when `SLUICE_RETRY_SECONDS` does not say.
const DEFAULT_RETRY_SECONDS: u32 = 60;

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

    fn complete() -> Vec<(&'static str, &'static str)> {
        vec![
            ("SLUICE_PIPELINE", "sluice"),
            ("SLUICE_REPOSITORY", "hello-api"),
            ("SLUICE_APPLICATION", "hello"),
            ("SLUICE_STAGES", "dev,staging,production"),
            ("SLUICE_APPROVAL_STAGES", "production"),
            ("SLUICE_REMOTE_STAGES", "production"),
            ("SLUICE_REMOTE_ACCOUNTS", "444455556666"),
            (
                "SLUICE_STAGE_ROLE_PREFIX",
                "arn:aws:iam::123456789012:role/sluice/sluice/stages/sluice-",
            ),
            (
                "SLUICE_STAGE_BOUNDARY_PREFIX",
                "arn:aws:iam::123456789012:policy/sluice/sluice/sluice-",
            ),
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

    fn with(var: &'static str, value: &'static str) -> Vec<(&'static str, &'static str)> {
        let mut vars: Vec<_> = complete().into_iter().filter(|(k, _)| *k != var).collect();
        vars.push((var, value));
        vars
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
        let names: Vec<_> = config
            .pipeline
            .stages
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["dev", "staging", "production"]);
        let gated: Vec<_> = config
            .pipeline
            .stages
            .iter()
            .map(|s| s.requires_approval)
            .collect();
        assert_eq!(gated, [false, false, true]);
        let staging = &config.pipeline.stages[1];
        assert_eq!(staging.stack_name, "hello-staging");
        assert_eq!(staging.role_arn, None);
        assert_eq!(
            staging.execution_role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/sluice/sluice/stages/sluice-staging-execution")
        );
        assert_eq!(
            staging.boundary_arn.as_deref(),
            Some("arn:aws:iam::123456789012:policy/sluice/sluice/sluice-staging-boundary")
        );
        // Production is in the account deploy-target.yaml prepared.
        let prod = &config.pipeline.stages[2];
        assert_eq!(
            prod.role_arn.as_deref(),
            Some("arn:aws:iam::444455556666:role/sluice/hello-production-sluice-deploy")
        );
        assert_eq!(
            prod.execution_role_arn.as_deref(),
            Some("arn:aws:iam::444455556666:role/sluice/hello-production-sluice-execution")
        );
        assert_eq!(
            prod.boundary_arn.as_deref(),
            Some("arn:aws:iam::444455556666:policy/sluice/hello-production-boundary")
        );
    }

    #[test]
    fn one_stage_and_no_gate_is_a_pipeline() {
        let mut vars = with("SLUICE_STAGES", "live");
        vars.retain(|(k, _)| !k.contains("APPROVAL_STAGES") && !k.contains("REMOTE"));
        vars.push(("SLUICE_APPROVAL_STAGES", ""));
        let config = Config::from_lookup(env(&vars)).unwrap();
        assert_eq!(config.pipeline.stages.len(), 1);
        assert_eq!(config.pipeline.stages[0].stack_name, "hello-live");
        assert!(!config.pipeline.stages[0].requires_approval);
    }

    #[test]
    fn a_bad_stage_list_says_what_is_wrong() {
        let said = |vars: Vec<(&'static str, &'static str)>| {
            sluice_adapters::aws::chain(&Config::from_lookup(env(&vars)).unwrap_err())
        };
        let err = said(with("SLUICE_STAGES", "staging,Prod"));
        assert!(err.contains(r#"stage name "Prod""#), "{err}");
        let err = said(with("SLUICE_STAGES", "staging,staging"));
        assert!(err.contains(r#""staging" is listed twice"#), "{err}");
        let err = said(with("SLUICE_STAGES", " , "));
        assert!(
            err.contains("no stages") || err.contains("at least one"),
            "{err}"
        );
        let err = said(with("SLUICE_APPROVAL_STAGES", "prod"));
        assert!(
            err.contains(r#"SLUICE_APPROVAL_STAGES is invalid: "prod" is not one of the stages (dev, staging, production)"#),
            "{err}"
        );
        let err = said(with("SLUICE_REMOTE_ACCOUNTS", "444455556666,777788889999"));
        assert!(
            err.contains("2 accounts for 1 remote stages (production)"),
            "{err}"
        );
        let mut vars = with("SLUICE_REMOTE_STAGES", "production,production");
        vars.retain(|(k, _)| *k != "SLUICE_REMOTE_ACCOUNTS");
        vars.push(("SLUICE_REMOTE_ACCOUNTS", "444455556666,777788889999"));
        let err = said(vars);
        assert!(err.contains(r#""production" is listed twice"#), "{err}");
        let err = said(with("SLUICE_REMOTE_ACCOUNTS", "4444-5555"));
        assert!(
            err.contains(r#""4444-5555" is not a 12-digit AWS account ID"#),
            "{err}"
        );
        let mut vars = with("SLUICE_STAGES", "prod,prod-eu");
        vars.retain(|(k, _)| !k.contains("APPROVAL_STAGES") && !k.contains("REMOTE"));
        let err = said(vars);
        assert!(err.contains("begins with stage"), "{err}");
    }

    #[test]
    fn site_stages_deploy_their_bucket_and_bad_site_settings_are_refused() {
        let said = |vars: Vec<(&'static str, &'static str)>| {
            sluice_adapters::aws::chain(&Config::from_lookup(env(&vars)).unwrap_err())
        };
        let mut vars = with("SLUICE_SITE_STAGES", "staging,production");
        vars.push(("SLUICE_SITE_BUCKET", "hello-api-*:WebsiteBucket"));
        vars.push(("SLUICE_SITE_FOLDER", "site/*"));
        let config = Config::from_lookup(env(&vars)).unwrap();
        let sites: Vec<_> = config
            .pipeline
            .stages
            .iter()
            .map(|s| {
                s.site
                    .as_ref()
                    .map(|t| (t.bucket.to_string(), t.folder.clone()))
            })
            .collect();
        assert_eq!(
            sites,
            [
                None,
                Some((
                    "the bucket of stack hello-api-staging's output WebsiteBucket".into(),
                    "site/staging".into()
                )),
                Some((
                    "the bucket of stack hello-api-production's output WebsiteBucket".into(),
                    "site/production".into()
                )),
            ]
        );
        let err = said(with("SLUICE_SITE_STAGES", "staging"));
        assert!(
            err.contains("SLUICE_SITE_BUCKET is invalid: the site stages (staging) need a bucket"),
            "{err}"
        );
        let err = said(with("SLUICE_SITE_STAGES", "web"));
        assert!(
            err.contains(r#"SLUICE_SITE_STAGES is invalid: "web" is not one of"#),
            "{err}"
        );
        let mut vars = with("SLUICE_SITE_STAGES", "staging");
        vars.push(("SLUICE_SITE_BUCKET", "Hello_Web"));
        let err = said(vars);
        assert!(err.contains(r#"invalid site bucket "Hello_Web""#), "{err}");
    }

    #[test]
    fn tested_stages_run_the_test_buildspec_and_bad_test_settings_are_refused() {
        let said = |vars: Vec<(&'static str, &'static str)>| {
            sluice_adapters::aws::chain(&Config::from_lookup(env(&vars)).unwrap_err())
        };
        let tests = |config: Config| -> Vec<Option<String>> {
            let stages = config.pipeline.stages;
            stages
                .into_iter()
                .map(|s| s.test.map(|t| t.buildspec))
                .collect()
        };
        let config = Config::from_lookup(env(&with("SLUICE_TEST_STAGES", "staging, production")));
        assert_eq!(
            tests(config.unwrap()),
            [
                None,
                Some("buildspec-test.yml".into()),
                Some("buildspec-test.yml".into())
            ]
        );
        let mut vars = with("SLUICE_TEST_STAGES", "dev");
        vars.push(("SLUICE_TEST_BUILDSPEC", "tests/smoke.yaml"));
        let config = Config::from_lookup(env(&vars));
        assert_eq!(
            tests(config.unwrap()),
            [Some("tests/smoke.yaml".into()), None, None]
        );

        let err = said(with("SLUICE_TEST_STAGES", "qa"));
        assert!(
            err.contains(r#"SLUICE_TEST_STAGES is invalid: "qa" is not one of the stages"#),
            "{err}"
        );
        for bad in [
            "../buildspec.yml",
            "/etc/buildspec.yml",
            "buildspec.sh",
            "a b.yml",
        ] {
            let mut vars = with("SLUICE_TEST_STAGES", "dev");
            vars.push(("SLUICE_TEST_BUILDSPEC", bad));
            let err = said(vars);
            assert!(
                err.contains("SLUICE_TEST_BUILDSPEC is invalid: invalid test buildspec"),
                "{bad}: {err}"
            );
        }
        let mut vars = with("SLUICE_TEST_STAGES", "staging");
        vars.push(("SLUICE_SITE_STAGES", "staging"));
        vars.push(("SLUICE_SITE_BUCKET", "hello-web-*"));
        let err = said(vars);
        assert!(err.contains("staging is a site stage"), "{err}");
    }

    #[test]
    fn a_stage_listed_as_smoke_is_gated_by_its_smoke_check_and_bad_entries_are_refused() {
        let said = |vars: Vec<(&'static str, &'static str)>| {
            sluice_adapters::aws::chain(&Config::from_lookup(env(&vars)).unwrap_err())
        };
        let config = Config::from_lookup(env(&with("SLUICE_TEST_STAGES", "dev, staging=smoke")))
            .expect("valid");
        let kinds: Vec<(bool, bool)> = config
            .pipeline
            .stages
            .iter()
            .map(|s| (s.test.is_some(), s.smoke_gates))
            .collect();
        assert_eq!(kinds, [(true, false), (false, true), (false, false)]);
        for (value, expected) in [
            (
                "staging=fast",
                "staging=smoke (its smoke check gates it), not =fast",
            ),
            ("staging,staging=smoke", "staging is listed more than once"),
            ("qa=smoke", r#""qa" is not one of the stages"#),
        ] {
            let err = said(with("SLUICE_TEST_STAGES", value));
            assert!(err.contains(expected), "{value}: {err}");
        }
        let mut vars = with("SLUICE_TEST_STAGES", "staging=smoke");
        vars.push(("SLUICE_SITE_STAGES", "staging"));
        vars.push(("SLUICE_SITE_BUCKET", "hello-web-*"));
        let err = said(vars);
        assert!(err.contains("staging is a site stage"), "{err}");
    }

    #[test]
    fn retries_are_read_for_every_stage_or_each_and_bad_ones_are_refused() {
        let said = |vars: Vec<(&'static str, &'static str)>| {
            sluice_adapters::aws::chain(&Config::from_lookup(env(&vars)).unwrap_err())
        };
        let retries = |vars: Vec<(&'static str, &'static str)>| -> Vec<Option<(u32, u32)>> {
            let config = Config::from_lookup(env(&vars)).expect("valid");
            let stages = config.pipeline.stages;
            stages
                .into_iter()
                .map(|s| s.retry.map(|r| (r.max, r.base_seconds)))
                .collect()
        };
        assert_eq!(retries(complete()), [None, None, None]);
        assert_eq!(
            retries(with("SLUICE_RETRIES", "2")),
            [Some((2, 60)), Some((2, 60)), Some((2, 60))]
        );
        let mut vars = with("SLUICE_RETRIES", "staging=3, production=0");
        vars.push(("SLUICE_RETRY_SECONDS", "5"));
        assert_eq!(retries(vars), [None, Some((3, 5)), None]);
        for (value, says) in [
            ("qa=1", r#""qa" is not one of the stages"#),
            ("staging", r#""staging" is not a number of retries"#),
            ("staging=1,dev", r#""dev" is not STAGE=COUNT"#),
            ("11", "from 0 to 10"),
            ("dev=1,dev=2", "listed twice"),
        ] {
            let err = said(with("SLUICE_RETRIES", value));
            assert!(
                err.contains("SLUICE_RETRIES is invalid") && err.contains(says),
                "{value}: {err}"
            );
        }
        let mut vars = with("SLUICE_RETRIES", "1");
        vars.push(("SLUICE_RETRY_SECONDS", "0"));
        assert!(said(vars).contains("SLUICE_RETRY_SECONDS is invalid"));
    }

    #[test]
    fn watched_stages_name_their_own_alarms_and_bad_watches_are_refused() {
        let said = |vars: Vec<(&'static str, &'static str)>| {
            sluice_adapters::aws::chain(&Config::from_lookup(env(&vars)).unwrap_err())
        };
        let mut vars = with("SLUICE_ALARM_STAGES", "dev,staging");
        vars.push(("SLUICE_ALARM_NAMES", "hello-api-*-errors, shared-latency"));
        let config = Config::from_lookup(env(&vars)).expect("valid");
        let watches: Vec<_> = config
            .pipeline
            .stages
            .iter()
            .map(|s| s.watch.clone().map(|w| (w.alarms, w.minutes)))
            .collect();
        assert_eq!(
            watches,
            [
                Some((
                    vec!["hello-api-dev-errors".into(), "shared-latency".into()],
                    10
                )),
                Some((
                    vec!["hello-api-staging-errors".into(), "shared-latency".into()],
                    10
                )),
                None,
            ]
        );
        let err = said(with("SLUICE_ALARM_STAGES", "staging"));
        assert!(
            err.contains("SLUICE_ALARM_NAMES is invalid: the watched stages (staging) need alarms"),
            "{err}"
        );
        let mut vars = with("SLUICE_ALARM_STAGES", "qa");
        vars.push(("SLUICE_ALARM_NAMES", "x"));
        assert!(said(vars).contains(r#"SLUICE_ALARM_STAGES is invalid: "qa" is not one of"#));
        let mut vars = with("SLUICE_ALARM_STAGES", "dev");
        vars.push(("SLUICE_ALARM_NAMES", "x"));
        vars.push(("SLUICE_ALARM_WATCH_MINUTES", "0"));
        assert!(said(vars).contains("SLUICE_ALARM_WATCH_MINUTES is invalid"));
    }

    #[test]
    fn each_problem_names_its_variable() {
        for missing in [
            "SLUICE_PIPELINE",
            "SLUICE_APPLICATION",
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
        let err = Config::from_lookup(env(&with("SLUICE_APPROVAL_URL", "lambda-url.example")))
            .unwrap_err();
        assert!(err.to_string().contains("SLUICE_APPROVAL_URL"), "{err}");

        let err =
            Config::from_lookup(env(&with("SLUICE_APPROVAL_TIMEOUT_HOURS", "soon"))).unwrap_err();
        assert!(
            err.to_string().contains("SLUICE_APPROVAL_TIMEOUT_HOURS"),
            "{err}"
        );

        // Retention: what is kept, and for how long.
        let config = Config::from_lookup(env(&with("SLUICE_RELEASES_KEPT", "3"))).unwrap();
        assert_eq!(config.releases_kept, 3);
        assert_eq!(config.retention, chrono::TimeDelta::days(30));
        for (name, value) in [
            ("SLUICE_RELEASES_KEPT", "0"),
            ("SLUICE_ARTIFACT_RETENTION_DAYS", "a month"),
        ] {
            let err = Config::from_lookup(env(&with(name, value))).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
            assert!(err.to_string().contains("whole number"), "{err}");
        }
    }

    #[test]
    fn path_filters_are_read_and_a_bad_one_names_its_variable() {
        let config = Config::from_lookup(env(&complete())).expect("valid");
        assert!(config.paths.is_everything());

        let mut vars = with("SLUICE_INCLUDE_PATHS", "api/, template.yaml");
        vars.push(("SLUICE_EXCLUDE_PATHS", "**/*.md"));
        let config = Config::from_lookup(env(&vars)).expect("valid");
        assert!(config.paths.counts("api/src/main.rs"));
        assert!(!config.paths.counts("api/README.md"));
        assert!(!config.paths.counts("web/index.html"));

        let err = Config::from_lookup(env(&with("SLUICE_INCLUDE_PATHS", "api/,/web")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SLUICE_INCLUDE_PATHS"), "{err}");
        assert!(err.contains("\"/web\""), "{err}");
        let err = Config::from_lookup(env(&with("SLUICE_EXCLUDE_PATHS", "docs/[")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SLUICE_EXCLUDE_PATHS"), "{err}");
    }

    #[test]
    fn windowed_stages_share_the_windows_and_bad_windows_are_refused() {
        let said = |vars: Vec<(&'static str, &'static str)>| {
            sluice_adapters::aws::chain(&Config::from_lookup(env(&vars)).unwrap_err())
        };
        let mut vars = with("SLUICE_WINDOW_STAGES", "production");
        vars.push(("SLUICE_WINDOWS", "Mon-Thu 09:00-16:00, Fri 09:00-12:00"));
        vars.push(("SLUICE_WINDOW_TIME_ZONE", "Europe/London"));
        let config = Config::from_lookup(env(&vars)).expect("valid");
        let windows: Vec<_> = config
            .pipeline
            .stages
            .iter()
            .map(|s| s.window.as_ref().map(DeployWindows::describe))
            .collect();
        assert_eq!(
            windows,
            [
                None,
                None,
                Some("Mon-Thu 09:00-16:00, Fri 09:00-12:00 (Europe/London)".to_owned())
            ]
        );
        let mut vars = with("SLUICE_WINDOW_STAGES", "staging");
        vars.push(("SLUICE_WINDOWS", "daily 22:00-06:00"));
        let config = Config::from_lookup(env(&vars)).expect("UTC when no zone is named");
        assert_eq!(
            config.pipeline.stages[1]
                .window
                .as_ref()
                .map(DeployWindows::describe),
            Some("daily 22:00-06:00 (UTC)".to_owned())
        );
        for (extra, says) in [
            (
                vec![],
                "SLUICE_WINDOWS is invalid: the stages with windows (staging) need",
            ),
            (
                vec![("SLUICE_WINDOWS", "weekdays 9-5")],
                "SLUICE_WINDOWS is invalid: invalid deployment window \"weekdays 9-5\"",
            ),
            (
                vec![
                    ("SLUICE_WINDOWS", "Mon 09:00-10:00"),
                    ("SLUICE_WINDOW_TIME_ZONE", "London"),
                ],
                "SLUICE_WINDOW_TIME_ZONE is invalid: invalid time zone \"London\"",
            ),
        ] {
            let mut vars = with("SLUICE_WINDOW_STAGES", "staging");
            vars.extend(extra);
            let err = said(vars);
            assert!(err.contains(says), "{err}");
        }
        let mut vars = with("SLUICE_WINDOW_STAGES", "qa");
        vars.push(("SLUICE_WINDOWS", "Mon 09:00-10:00"));
        assert!(said(vars).contains(r#"SLUICE_WINDOW_STAGES is invalid: "qa" is not one of"#));
    }
}
