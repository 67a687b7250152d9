//! What `sluice local` runs: the pipeline's settings (`Options`) and each sibling
//! pipeline fed by the same repository (`Sibling`), checked as the functions will
//! check them before anything starts.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::{bus, faults, stack};

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The Sluice workspace: where `template.yaml` and the functions' crates are.
    pub workspace: PathBuf,
    /// Where local mode keeps its files: repositories, build logs, outbox, emulator.
    pub state: PathBuf,
    /// What builds keep between runs, as a warm build machine would: compiled
    /// dependencies (`CARGO_TARGET_DIR`).
    pub cache: PathBuf,
    /// An emulator already running; `None` starts the pinned one.
    pub endpoint: Option<String>,
    pub emulator_binary: PathBuf,
    /// The orchestrator stack's name, which is also the pipeline's.
    pub stack: String,
    /// The application's repository in the local CodeCommit, and its name: stage
    /// `s` deploys the stack `<repository>-<s>`.
    pub repository: String,
    pub branch: String,
    /// The stages, in order.
    pub stages: Vec<String>,
    /// The stages that wait for approval.
    pub approval_stages: Vec<String>,
    /// How the functions are built before they are deployed into the emulator.
    pub function_build: stack::FunctionBuild,
    /// Put first on the builds' `PATH`, where they exist: the AWS CLI and the SAM CLI
    /// that `make` installs, as CodeBuild's standard image has them.
    pub build_tools: Vec<PathBuf>,
    /// Events delivered more than once and out of order (the soak suite); `None`
    /// delivers each once, at once.
    pub redelivery: Option<bus::Redelivery>,
    /// A share of the functions' AWS requests throttled or failed (the soak suite,
    /// `sluice local --faults`); `None` fails none.
    pub faults: Option<faults::Faults>,
    /// The pipeline's path filters (the stack's `IncludePaths` and `ExcludePaths`):
    /// which changed files start an execution. Empty for every file.
    pub include_paths: Vec<String>,
    pub exclude_paths: Vec<String>,
    /// The buildspec's path in the repository (the stack's `BuildSpec`).
    pub buildspec: String,
    /// More pipelines fed by the same repository, each its own Sluice stack.
    pub siblings: Vec<Sibling>,
    /// The stages whose deploys are tested (the stack's `TestStages`), by the
    /// buildspec `test_buildspec` (`TestBuildspec`).
    pub test_stages: Vec<String>,
    pub test_buildspec: String,
    /// The stages' automatic retries (`Retries`: a count, or `stage=count,...`) and
    /// the first retry's wait (`RetryBackoffSeconds`).
    pub retries: String,
    pub retry_seconds: u32,
    /// The watched stages (`AlarmStages`), their alarms (`AlarmNames`, `*` for the
    /// stage) and the watch time (`AlarmWatchMinutes`).
    pub alarm_stages: Vec<String>,
    pub alarm_names: Vec<String>,
    pub watch_minutes: u32,
    /// The stages that deploy only in windows (`WindowStages`), the windows
    /// (`DeployWindows`) and their time zone (`WindowTimeZone`).
    pub window_stages: Vec<String>,
    pub windows: String,
    pub window_time_zone: String,
    /// The application the first pipeline delivers, where it is not named like its
    /// repository (a definition's `application`).
    pub application: Option<String>,
    /// The first pipeline's definition, read from `--definition`; when set, it is the
    /// pipeline, and the flags above that describe one are not used.
    pub definition: Option<sluice_definition::Raw>,
    /// Where the functions' clock starts, if not now: it runs from there, ahead of
    /// this machine's by as much (the clock file [`stack::Wiring`] names). See
    /// [`Local::set_clock`].
    pub clock: Option<sluice_core::Timestamp>,
    /// Whether the emulator evaluates IAM (MiniStack's `AUTH`): every request is
    /// allowed or refused by the caller's policies, the functions call as their
    /// execution roles, and builds run as the project's service role
    /// (on unless `SLUICE_LOCAL_IAM=false`).
    pub iam: bool,
}

/// Another pipeline fed by the same repository and branch, as a second Sluice stack:
/// a repository that holds several applications, told apart by path filters (a
/// back-end under `api/`, a front-end under `web/`).
#[derive(Clone, Debug)]
pub struct Sibling {
    /// Its Sluice stack's name, which is also the pipeline's. It must not begin with
    /// the first pipeline's stack name and a '-': log groups are found by that prefix.
    pub stack: String,
    /// Its application: stage `s` deploys the stack `<application>-<s>`.
    pub application: String,
    /// Its stages, in order; none waits for approval.
    pub stages: Vec<String>,
    pub include_paths: Vec<String>,
    pub exclude_paths: Vec<String>,
    /// Its buildspec's path in the repository.
    pub buildspec: String,
    /// Its stages that wait for approval.
    pub approval_stages: Vec<String>,
    /// Its stages that deploy a static website (the stack's `SiteStages`), to
    /// `site_bucket` (`SiteBucket`), the artifact's folder `site_folder` (`SiteFolder`).
    pub site_stages: Vec<String>,
    pub site_bucket: String,
    pub site_folder: String,
    /// The CloudFront distribution whose caches each site deploy clears
    /// (`SiteDistribution`); empty for none.
    pub site_distribution: String,
    /// Its stages whose deploys are tested (`TestStages`), by `test_buildspec`.
    pub test_stages: Vec<String>,
    pub test_buildspec: String,
}

/// A comma-separated list, blanks dropped.
fn split_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Sibling {
    /// A sibling from `sluice local --sibling`'s words: `stack=NAME application=NAME
    /// [stages=LIST] [approval=LIST] [include=GLOBS] [exclude=GLOBS] [buildspec=PATH]
    /// [sites=LIST bucket=PATTERN [folder=PATH] [distribution=ID]]`, lists comma-separated. Stages
    /// default to `staging,production` with no approval, the buildspec to
    /// `buildspec.yml`, the site folder to `site`.
    pub fn parse(spec: &str) -> Result<Self> {
        let list = split_list;
        let mut sibling = Sibling {
            stack: String::new(),
            application: String::new(),
            stages: vec!["staging".into(), "production".into()],
            include_paths: Vec::new(),
            exclude_paths: Vec::new(),
            buildspec: "buildspec.yml".into(),
            approval_stages: Vec::new(),
            site_stages: Vec::new(),
            site_bucket: String::new(),
            site_folder: "site".into(),
            site_distribution: String::new(),
            test_stages: Vec::new(),
            test_buildspec: sluice_core::DEFAULT_TEST_BUILDSPEC.into(),
        };
        for word in spec.split_whitespace() {
            let Some((key, value)) = word.split_once('=') else {
                bail!("{word:?} in --sibling {spec:?} is not KEY=VALUE");
            };
            match key {
                "stack" => sibling.stack = value.to_owned(),
                "application" => sibling.application = value.to_owned(),
                "stages" => sibling.stages = list(value),
                "include" => sibling.include_paths = list(value),
                "exclude" => sibling.exclude_paths = list(value),
                "buildspec" => sibling.buildspec = value.to_owned(),
                "approval" => sibling.approval_stages = list(value),
                "sites" => sibling.site_stages = list(value),
                "bucket" => sibling.site_bucket = value.to_owned(),
                "folder" => sibling.site_folder = value.to_owned(),
                "distribution" => sibling.site_distribution = value.to_owned(),
                "tests" => sibling.test_stages = list(value),
                "test-buildspec" => sibling.test_buildspec = value.to_owned(),
                other => bail!(
                    "--sibling has no key {other:?}; use stack, application, stages, approval, \
                     include, exclude, buildspec, sites, bucket, folder, distribution, tests \
                     and test-buildspec"
                ),
            }
        }
        if sibling.stack.is_empty() || sibling.application.is_empty() {
            bail!(
                "--sibling {spec:?} needs stack=NAME and application=NAME, such as \
                 \"stack=web-pipeline application=hello-web include=web/ buildspec=web/buildspec.yml\""
            );
        }
        Ok(sibling)
    }
}

impl Options {
    /// Defaults for the workspace at `workspace`, state under `state`.
    pub fn new(workspace: PathBuf, state: PathBuf) -> Self {
        let emulator_binary = std::env::var_os("SLUICE_MINISTACK")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join(".venv/emulator/bin/ministack"));
        let build_tools = vec![
            workspace.join(".venv/awscli/bin"),
            workspace.join(".venv/tools/bin"),
        ];
        Self {
            cache: workspace.join("target/local-build-cache"),
            workspace,
            state,
            endpoint: None,
            emulator_binary,
            stack: "sluice".into(),
            repository: "hello-api".into(),
            branch: "master".into(),
            stages: vec!["staging".into(), "production".into()],
            approval_stages: vec!["production".into()],
            function_build: stack::FunctionBuild::default(),
            build_tools,
            redelivery: None,
            faults: None,
            include_paths: Vec::new(),
            exclude_paths: Vec::new(),
            buildspec: "buildspec.yml".into(),
            siblings: Vec::new(),
            test_stages: Vec::new(),
            test_buildspec: sluice_core::DEFAULT_TEST_BUILDSPEC.into(),
            retries: String::new(),
            retry_seconds: 60,
            alarm_stages: Vec::new(),
            alarm_names: Vec::new(),
            watch_minutes: 10,
            window_stages: Vec::new(),
            windows: String::new(),
            window_time_zone: "UTC".into(),
            application: None,
            definition: None,
            clock: None,
            iam: std::env::var("SLUICE_LOCAL_IAM").map_or(true, |v| v != "false"),
        }
    }

    /// Makes the definition `raw` (`sluice local --definition`) the first pipeline:
    /// its stack, repository, branch, stages and buildspec are the options' too, for
    /// what local mode shows and where it pushes.
    pub fn use_definition(&mut self, raw: sluice_definition::Raw) -> Result<()> {
        let mut next = self.clone();
        if let Some(name) = &raw.name {
            next.stack = name.clone();
        }
        next.repository = raw.source.repository.clone();
        next.application = Some(raw.application.clone());
        next.branch = raw.source.branch.clone();
        next.stages = raw.stages.iter().map(|s| s.name.clone()).collect();
        next.approval_stages = raw
            .stages
            .iter()
            .filter(|s| s.approval)
            .map(|s| s.name.clone())
            .collect();
        next.buildspec = raw.build.buildspec.clone();
        next.include_paths = raw.source.paths.include.clone();
        next.exclude_paths = raw.source.paths.exclude.clone();
        next.definition = Some(raw);
        next.definition_of(&next.first_pipeline())?;
        *self = next;
        Ok(())
    }

    /// Changes the options by `change` if the first pipeline's definition they then
    /// make holds together; else says what is wrong, in terms of `flags`.
    fn change(&mut self, flags: &str, change: impl FnOnce(&mut Options)) -> Result<()> {
        let mut next = self.clone();
        change(&mut next);
        next.definition_of(&next.first_pipeline())
            .with_context(|| format!("{flags} would make an invalid pipeline"))?;
        *self = next;
        Ok(())
    }

    /// Sets the stages' automatic retries (`--retries`, `--retry-seconds`).
    pub fn set_retries(&mut self, retries: &str, seconds: u32) -> Result<()> {
        self.change("--retries or --retry-seconds", |o| {
            o.retries = retries.to_owned();
            o.retry_seconds = seconds;
        })
    }

    /// Sets the watched stages, their alarms (`*` for the stage) and the watch time
    /// (`--alarm-stages`, `--alarm-names`, `--watch-minutes`).
    pub fn set_watch(&mut self, stages: &str, alarms: &str, minutes: u32) -> Result<()> {
        if !split_list(stages).is_empty() && split_list(alarms).is_empty() {
            bail!(
                "--alarm-stages needs --alarm-names: the CloudWatch alarms to watch, '*' \
                 standing for the stage, such as hello-api-*-errors"
            );
        }
        self.change("--alarm-stages, --alarm-names or --watch-minutes", |o| {
            o.alarm_stages = split_list(stages);
            o.alarm_names = split_list(alarms);
            o.watch_minutes = minutes;
        })
    }

    /// Sets the stages that deploy only in windows, the windows and their time zone
    /// (`--window-stages`, `--windows`, `--window-time-zone`).
    pub fn set_windows(&mut self, stages: &str, windows: &str, time_zone: &str) -> Result<()> {
        self.change("--window-stages, --windows or --window-time-zone", |o| {
            o.window_stages = split_list(stages);
            o.windows = windows.to_owned();
            o.window_time_zone = time_zone.to_owned();
        })
    }

    /// Sets the tested stages and their buildspec (`--test-stages`,
    /// `--test-buildspec`).
    pub fn set_tests(&mut self, stages: &str, buildspec: &str) -> Result<()> {
        self.change("--test-stages or --test-buildspec", |o| {
            o.test_stages = split_list(stages);
            o.test_buildspec = buildspec.to_owned();
        })
    }

    /// The stack stage `stage` deploys.
    pub fn stack_of(&self, stage: &str) -> String {
        format!("{}-{stage}", self.application_name())
    }

    /// The application the first pipeline delivers.
    pub fn application_name(&self) -> &str {
        self.application.as_deref().unwrap_or(&self.repository)
    }

    /// Sets the stages from `--stages` and `--approval`, checked as the functions
    /// will check them, so that a bad list is refused before anything starts.
    /// Without `approval`, `production` waits for approval if it is a stage.
    pub fn set_stages(&mut self, stages: &str, approval: Option<&str>) -> Result<()> {
        let split = split_list;
        let names = split(stages);
        let approval = match approval {
            Some(list) => split(list),
            None => names
                .iter()
                .filter(|s| *s == "production")
                .cloned()
                .collect(),
        };
        if let Some(unknown) = approval.iter().find(|a| !names.contains(a)) {
            bail!(
                "--approval names {unknown:?}, which is not one of the stages ({}); \
                 list stages of --stages, or none",
                names.join(", ")
            );
        }
        let configs = names
            .iter()
            .map(|name| {
                sluice_core::StageConfig::new(
                    name,
                    &self.stack_of(name),
                    None,
                    approval.contains(name),
                )
            })
            .collect::<Result<Vec<_>, _>>()
            .context("--stages is not a valid list of stages")?;
        sluice_core::Pipeline::new(&self.stack, &self.repository, &self.branch, configs)
            .context("--stages is not a valid list of stages")?;
        self.stages = names;
        self.approval_stages = approval;
        Ok(())
    }

    /// Adds a pipeline fed by the same repository, checked as its functions will
    /// check it and against the pipelines already here.
    pub fn add_sibling(&mut self, sibling: Sibling) -> Result<()> {
        let mut taken = vec![self.stack.as_str()];
        taken.extend(self.siblings.iter().map(|s| s.stack.as_str()));
        if let Some(clash) = taken.iter().find(|t| {
            **t == sibling.stack
                || sibling.stack.starts_with(&format!("{t}-"))
                || t.starts_with(&format!("{}-", sibling.stack))
        }) {
            bail!(
                "pipeline {:?} clashes with pipeline {clash:?}: each needs its own stack name, \
                 neither the other's followed by '-' (their log groups are found by prefix)",
                sibling.stack
            );
        }
        let mut applications = vec![self.repository.as_str()];
        applications.extend(self.siblings.iter().map(|s| s.application.as_str()));
        if applications.contains(&sibling.application.as_str()) {
            bail!(
                "application {:?} is already delivered by another pipeline: each deploys its own stacks",
                sibling.application
            );
        }
        if !sibling.site_stages.is_empty() && sibling.site_bucket.is_empty() {
            bail!(
                "pipeline {:?} has site stages but no bucket=, such as bucket=hello-web-* \
                 ('*' stands for the stage)",
                sibling.stack
            );
        }
        self.definition_of(&sibling)
            .with_context(|| format!("pipeline {:?} is invalid", sibling.stack))?;
        self.siblings.push(sibling);
        Ok(())
    }

    /// The first pipeline, described as its siblings are: it delivers the repository
    /// as the application of the same name, and has no site stages.
    pub fn first_pipeline(&self) -> Sibling {
        Sibling {
            stack: self.stack.clone(),
            application: self.application_name().to_owned(),
            stages: self.stages.clone(),
            include_paths: self.include_paths.clone(),
            exclude_paths: self.exclude_paths.clone(),
            buildspec: self.buildspec.clone(),
            approval_stages: self.approval_stages.clone(),
            site_stages: Vec::new(),
            site_bucket: String::new(),
            site_folder: "site".into(),
            site_distribution: String::new(),
            test_stages: self.test_stages.clone(),
            test_buildspec: self.test_buildspec.clone(),
        }
    }

    /// Sets the path filters from comma-separated glob lists (`--include-paths`,
    /// `--exclude-paths`), checked as the functions will check them.
    pub fn set_paths(&mut self, include: &str, exclude: &str) -> Result<()> {
        self.change("--include-paths or --exclude-paths", |o| {
            o.include_paths = split_list(include);
            o.exclude_paths = split_list(exclude);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn a_second_pipeline_is_read_from_its_words_and_checked_against_the_first() {
        let web = Sibling::parse(
            "stack=web-pipeline application=hello-web stages=staging include=web/,*.json \
             exclude=**/*.md buildspec=web/buildspec.yml",
        )
        .expect("valid");
        assert_eq!(web.stages, ["staging"]);
        assert_eq!(web.include_paths, ["web/", "*.json"]);
        assert_eq!(web.buildspec, "web/buildspec.yml");
        let defaults = Sibling::parse("stack=w application=a").expect("valid");
        assert_eq!(defaults.stages, ["staging", "production"]);
        assert_eq!(defaults.buildspec, "buildspec.yml");

        let problem = |spec: &str| Sibling::parse(spec).unwrap_err().to_string();
        assert!(problem("stack=w").contains("needs stack=NAME and application=NAME"));
        assert!(problem("stack=w application=a colour=blue").contains("no key \"colour\""));
        assert!(problem("stack=w application").contains("not KEY=VALUE"));

        let mut options = Options::new(PathBuf::from("."), PathBuf::from("state"));
        let sibling = |spec: &str| Sibling::parse(spec).expect("valid words");
        let clash = |options: &mut Options, spec: &str| {
            format!("{:#}", options.add_sibling(sibling(spec)).unwrap_err())
        };
        assert!(clash(&mut options, "stack=sluice-web application=w").contains("clashes"));
        assert!(clash(&mut options, "stack=w application=hello-api").contains("already delivered"));
        assert!(
            clash(&mut options, "stack=w application=w stages=Prod").contains("stages[0].name")
        );
        assert!(
            clash(&mut options, "stack=w application=w include=/web")
                .contains("source.paths.include[0]")
        );
        options
            .add_sibling(sibling("stack=web application=hello-web"))
            .expect("a second pipeline");
        assert!(clash(&mut options, "stack=web application=x").contains("clashes"));
    }
}
