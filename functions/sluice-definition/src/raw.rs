//! The definition as its file says it: every field a person may write, with its
//! default, and nothing checked beyond its shape; lowering makes the core's
//! `Pipeline` of it. The JSON Schema the project publishes is derived from these
//! types, their doc comments its descriptions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A Sluice pipeline: where its commits come from, how they are built, and the
/// stages they go through, in order.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// The name of the Sluice stack that runs this pipeline (its functions are
    /// `sluice-<name>-<function>`); whatever the stack is named, if left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The application delivered: stage `s` deploys the stack `<application>-<s>`.
    pub application: String,
    pub source: Source,
    #[serde(default)]
    pub build: Build,
    /// The stages a commit goes through, in order (at most eight).
    pub stages: Vec<Stage>,
    #[serde(default)]
    pub approval: Approval,
    #[serde(default)]
    pub retention: Retention,
    #[serde(default)]
    pub alarms: Alarms,
    /// AWS accounts whose people may run the `sluice` command against this pipeline
    /// (twelve digits each); this account's always may.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operator_accounts: Vec<String>,
}

/// The CodeCommit repository and branch a pipeline delivers.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The CodeCommit repository's name.
    pub repository: String,
    /// The branch whose pushes are delivered.
    #[serde(default = "master")]
    pub branch: String,
    /// Whether the Sluice stack creates the repository (else it must exist).
    #[serde(default)]
    pub create: bool,
    /// Which changed files make a push worth delivering (every push, without them).
    #[serde(default)]
    pub paths: Paths,
}

fn master() -> String {
    "master".to_owned()
}

/// Globs over a push's changed files (`api/**`, `*.md`): a push is delivered when
/// it changed a file that matches `include` (any file, if empty) and not `exclude`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Paths {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

/// How a commit is built: one CodeBuild build per push, whose artifact every stage
/// deploys.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// The buildspec, a path inside the repository.
    #[serde(default = "buildspec")]
    pub buildspec: String,
    /// CodeBuild's compute: `small`, `medium` or `large` (a build machine), or
    /// `lambda` (CodeBuild's Lambda compute, which starts without provisioning, for
    /// builds that need no Docker).
    #[serde(default)]
    pub compute: Compute,
    /// The build image; CodeBuild's Amazon Linux arm64 standard image by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The longest a build may run, in minutes (5 to 480).
    #[serde(default = "build_minutes")]
    pub timeout_minutes: u32,
    /// Where in the artifact the build leaves the packaged template (CodePipeline's
    /// `TemplatePath`).
    #[serde(default = "packaged")]
    pub template: String,
    /// Where in the artifact the build leaves each stage's template configuration
    /// (CodePipeline's `TemplateConfiguration`), `{stage}` standing for the stage.
    #[serde(default = "configuration")]
    pub configuration: String,
}

impl Default for Build {
    fn default() -> Self {
        Build {
            buildspec: buildspec(),
            compute: Compute::default(),
            image: None,
            timeout_minutes: build_minutes(),
            template: packaged(),
            configuration: configuration(),
        }
    }
}

fn buildspec() -> String {
    "buildspec.yml".to_owned()
}
fn build_minutes() -> u32 {
    crate::BUILD_MINUTES
}
fn packaged() -> String {
    "packaged.yaml".to_owned()
}
fn configuration() -> String {
    "{stage}.json".to_owned()
}

/// CodeBuild's compute for a build.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compute {
    #[default]
    Small,
    Medium,
    Large,
    /// CodeBuild's Lambda compute (arm64, 2 GB): no Docker, no provisioning wait.
    Lambda,
}

/// One stage: the stack it deploys (or the bucket, for a site) and what happens
/// before and after its deploy.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// The stage's name: lower-case letters, digits and '-'.
    pub name: String,
    /// Whether a person approves each change before it deploys here (the approval
    /// page, or `sluice approve`).
    #[serde(default)]
    pub approval: bool,
    /// Whether whoever started an execution (pushed, or released) may approve it
    /// here themselves. Only on a stage with `approval`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub self_approval: bool,
    /// Another AWS account the stage deploys into (twelve digits), where
    /// `templates/deploy-target.yaml` made its roles; Sluice's own account if unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// A test run after each deploy, before the next stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Test>,
    /// How many times the stage retries a failure of the moment on its own (0 to 10),
    /// and how long the first retry waits; each next waits twice as long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<Retries>,
    /// CloudWatch alarms watched after the deploy; one going off rolls it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<Watch>,
    /// When the stage may deploy; outside them a change waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<Windows>,
    /// A static website: the stage uploads the artifact's files to a bucket instead
    /// of deploying a stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<Site>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The test after a stage's deploy: a build of the same commit running
/// `buildspec`, with the stack's outputs in its environment; or `smoke`: the
/// built-in check of the stack's addresses, gating the stage instead of warning.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Test {
    /// `smoke`.
    Smoke(SmokeOnly),
    Build {
        /// The test's buildspec, a path inside the repository.
        buildspec: String,
    },
}

/// The word `smoke`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SmokeOnly {
    Smoke,
}

/// A stage's retries of failures of the moment.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retries {
    pub max: u32,
    /// The first retry's wait, in seconds (1 to 3600).
    #[serde(default = "retry_seconds")]
    pub backoff_seconds: u32,
}

fn retry_seconds() -> u32 {
    60
}

/// The alarms watched after a stage's deploy.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Watch {
    /// CloudWatch alarm names.
    pub names: Vec<String>,
    /// How long they are watched, in minutes (1 to 1440).
    #[serde(default = "watch_minutes")]
    pub minutes: u32,
}

fn watch_minutes() -> u32 {
    10
}

/// A stage's deployment windows.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Windows {
    /// Days and hours, such as `Mon-Fri 09:00-17:00` (several separated by `,`).
    pub when: String,
    /// An IANA time zone such as `Europe/Paris`.
    #[serde(default = "utc")]
    pub time_zone: String,
}

fn utc() -> String {
    "UTC".to_owned()
}

/// Where a site stage uploads its files.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// The bucket: a name, or a stack's output as `<stack>:<Output>`.
    pub bucket: String,
    /// The artifact's folder whose files are the site.
    #[serde(default = "site_folder")]
    pub folder: String,
    /// The page a folder's address serves.
    #[serde(default = "entry_document")]
    pub entry_document: String,
    /// A CloudFront distribution whose caches are cleared after each upload: an id,
    /// or a stack's output as `<stack>:<Output>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<String>,
}

fn site_folder() -> String {
    "site".to_owned()
}
fn entry_document() -> String {
    "index.html".to_owned()
}

/// Who approves, and how.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Who receives approval requests and status messages (each confirms the
    /// subscription email SNS sends). Required while any stage has `approval`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
    /// `link`: emails carry a link to the approval page. `none`: no page; people
    /// decide with `sluice approve` / `sluice reject`.
    #[serde(default)]
    pub page: Page,
    /// How long an approval link stays valid, in hours (1 to 8760).
    #[serde(default = "approval_hours")]
    pub timeout_hours: u64,
    /// A request left undecided longer than this, in minutes, sets the stage's
    /// approval alarm.
    #[serde(default = "approval_alarm_minutes")]
    pub alarm_minutes: u32,
}

impl Default for Approval {
    fn default() -> Self {
        Approval {
            emails: Vec::new(),
            page: Page::default(),
            timeout_hours: approval_hours(),
            alarm_minutes: approval_alarm_minutes(),
        }
    }
}

fn approval_hours() -> u64 {
    7 * 24
}
fn approval_alarm_minutes() -> u32 {
    1440
}

/// Whether approval emails carry a link to the approval page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Page {
    #[default]
    Link,
    None,
}

/// How long what Sluice keeps is kept.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// How long an upload, and a release no stage needs, is kept, in days.
    #[serde(default = "artifact_days")]
    pub artifact_days: i64,
    /// How many releases of each stage stay rollback targets, the live one among them.
    #[serde(default = "releases_kept")]
    pub releases_kept: usize,
    /// How long the functions' logs are kept, in days (one of CloudWatch's values).
    #[serde(default = "log_days")]
    pub log_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            artifact_days: artifact_days(),
            releases_kept: releases_kept(),
            log_days: log_days(),
        }
    }
}

fn artifact_days() -> i64 {
    30
}
fn releases_kept() -> usize {
    5
}
fn log_days() -> u32 {
    90
}

/// The pipeline's own alarms.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alarms {
    /// An execution in flight longer than this, in minutes (at least 10), sets the
    /// stuck alarm.
    #[serde(default = "stuck_minutes")]
    pub stuck_minutes: u32,
}

impl Default for Alarms {
    fn default() -> Self {
        Alarms {
            stuck_minutes: stuck_minutes(),
        }
    }
}

fn stuck_minutes() -> u32 {
    60
}
