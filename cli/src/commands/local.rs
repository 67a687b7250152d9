//! `sluice local`, and what it shares with `sluice demo`: the whole pipeline on this
//! machine, through the `sluice-local` crate (the `local` feature, on by default).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use sluice_local::{self as local, Console, Local, Options};

use super::Global;

/// Run the whole pipeline on this machine until Ctrl-C: the emulator, the
/// orchestrator deployed into it, a local CodeCommit and CodeBuild.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    local: LocalArgs,
}

/// How local mode runs, for `sluice local` and `sluice demo` alike.
#[derive(clap::Args)]
pub struct LocalArgs {
    /// Use the emulator already listening here instead of starting one.
    #[arg(long)]
    endpoint: Option<String>,
    /// The Sluice checkout (where template.yaml is).
    #[arg(long, default_value = ".")]
    workspace: PathBuf,
    /// Where local mode keeps repositories, build logs and the outbox.
    #[arg(long, default_value = ".sluice-local")]
    state: PathBuf,
    /// The SAM application to deliver (a directory with template.yaml and
    /// buildspec.yml). The local repository and the stacks are named after the
    /// directory: stage s deploys <name>-<s>. The demo's default is the example.
    #[arg(long, alias = "example")]
    app: Option<PathBuf>,
    /// The pipeline's definition (sluice.yaml; `sluice definition check` checks
    /// one): its stages and their options. The flags that describe a pipeline
    /// (--stages, --approval, --test-stages, --retries, --alarm-stages,
    /// --window-stages, --include-paths, --exclude-paths, --buildspec), given beside
    /// it, replace what it says of the same thing.
    #[arg(long, value_name = "FILE")]
    definition: Option<PathBuf>,
    /// The stages, in order, comma-separated.
    #[arg(long, default_value = "staging,production")]
    stages: String,
    /// The stages that wait for approval, comma-separated; "" for none. By default
    /// production, if it is one of the stages.
    #[arg(long)]
    approval: Option<String>,
    /// Throttle or fail this share of the functions' AWS requests (0.1 is one in
    /// ten), as AWS does on a bad day, through a fault-injecting proxy.
    #[arg(long, value_name = "SHARE")]
    faults: Option<f64>,
    /// Path filters: a push starts an execution only if it changes a file matching
    /// one of these globs, comma-separated, from the repository's root (api/, *.yaml).
    #[arg(long, value_name = "GLOBS", default_value = "")]
    include_paths: String,
    /// Changed files matching one of these globs never start an execution (docs/).
    #[arg(long, value_name = "GLOBS", default_value = "")]
    exclude_paths: String,
    /// The buildspec's path in the repository.
    #[arg(long, value_name = "PATH", default_value = "buildspec.yml")]
    buildspec: String,
    /// Another pipeline fed by the same repository, as its own Sluice stack:
    /// "stack=NAME application=NAME [stages=LIST] [include=GLOBS] [exclude=GLOBS]
    /// [buildspec=PATH]". Repeat for more. Its stages wait for no approval.
    #[arg(long = "sibling", value_name = "SPEC")]
    siblings: Vec<String>,
    /// The stages whose every deploy is tested by a build of the same commit running
    /// --test-buildspec; a failed test rolls the stage back. Comma-separated.
    #[arg(long, value_name = "STAGES", default_value = "")]
    test_stages: String,
    /// The post-deploy test's buildspec, a path in the application's repository.
    #[arg(long, value_name = "PATH", default_value = sluice_core::DEFAULT_TEST_BUILDSPEC)]
    test_buildspec: String,
    /// How many times a stage retries a failure of the moment on its own: one count
    /// for every stage (2), or STAGE=COUNT for each (staging=3,production=1).
    #[arg(long, value_name = "COUNTS", default_value = "")]
    retries: String,
    /// The wait before a stage's first automatic retry, in seconds; each next one
    /// waits twice as long.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    retry_seconds: u32,
    /// The stages whose deploys are watched through CloudWatch alarms after their
    /// test; an alarm in ALARM rolls the stage back. Comma-separated.
    #[arg(long, value_name = "STAGES", default_value = "")]
    alarm_stages: String,
    /// The alarms the watched stages watch, '*' standing for the stage
    /// (hello-api-*-errors). Comma-separated.
    #[arg(long, value_name = "NAMES", default_value = "")]
    alarm_names: String,
    /// How long a watched stage's alarms are watched after each deploy.
    #[arg(long, value_name = "MINUTES", default_value_t = 10)]
    watch_minutes: u32,
    /// The stages that deploy only inside --windows; outside them a ready (and
    /// approved) change set waits for the next window. Comma-separated.
    #[arg(long, value_name = "STAGES", default_value = "")]
    window_stages: String,
    /// When the --window-stages may deploy: "Mon-Thu 09:00-16:00, Fri 09:00-12:00".
    #[arg(long, value_name = "SPANS", default_value = "")]
    windows: String,
    /// The IANA time zone of --windows, such as Europe/London.
    #[arg(long, value_name = "ZONE", default_value = "UTC")]
    window_time_zone: String,
}

impl LocalArgs {
    /// The flags that describe a pipeline, given beside --definition: each replaces
    /// what the definition says of the same thing.
    fn overrides(&self) -> local::Overrides {
        let split = |text: &str| -> Vec<String> {
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let given = |text: &str| (!text.trim().is_empty()).then(|| split(text));
        local::Overrides {
            stages: (self.stages != "staging,production").then(|| split(&self.stages)),
            approval: self.approval.as_deref().map(split),
            include_paths: given(&self.include_paths),
            exclude_paths: given(&self.exclude_paths),
            buildspec: (self.buildspec != "buildspec.yml").then(|| self.buildspec.clone()),
            tests: given(&self.test_stages).map(|s| (s, self.test_buildspec.clone())),
            retries: (!self.retries.trim().is_empty())
                .then(|| (self.retries.clone(), self.retry_seconds)),
            watch: given(&self.alarm_stages)
                .map(|s| (s, split(&self.alarm_names), self.watch_minutes)),
            windows: given(&self.window_stages)
                .map(|s| (s, self.windows.clone(), self.window_time_zone.clone())),
        }
    }

    pub(super) fn options(&self) -> Result<Options> {
        let workspace = self
            .workspace
            .canonicalize()
            .with_context(|| format!("no workspace at {}", self.workspace.display()))?;
        if !workspace.join("template.yaml").is_file() {
            bail!(
                "{} has no template.yaml: run from the Sluice checkout or pass --workspace",
                workspace.display()
            );
        }
        let state = if self.state.is_absolute() {
            self.state.clone()
        } else {
            workspace.join(&self.state)
        };
        let mut options = Options::new(workspace.clone(), state);
        options.endpoint = self.endpoint.clone();
        options.faults = self
            .faults
            .map(|share| local::faults::Faults::new(share, &workspace))
            .transpose()
            .context("--faults")?;
        // The fault proxy breaks signatures the emulator would check under IAM.
        if options.faults.is_some() {
            options.iam = false;
        }
        if let Some(app) = self.app()? {
            options.repository = application_name(&app)?;
        }
        if let Some(file) = &self.definition {
            let mut raw = super::definition::load(file)?.raw().clone();
            self.overrides()
                .apply(&mut raw)
                .with_context(|| format!("the flags beside --definition {}", file.display()))?;
            options.use_definition(raw)?;
        } else {
            options.set_stages(&self.stages, self.approval.as_deref())?;
            options.set_paths(&self.include_paths, &self.exclude_paths)?;
            options.buildspec = self.buildspec.clone();
            options.set_tests(&self.test_stages, &self.test_buildspec)?;
            options.set_retries(&self.retries, self.retry_seconds)?;
            options.set_watch(&self.alarm_stages, &self.alarm_names, self.watch_minutes)?;
            options.set_windows(&self.window_stages, &self.windows, &self.window_time_zone)?;
        }
        for spec in &self.siblings {
            options.add_sibling(local::Sibling::parse(spec)?)?;
        }
        Ok(options)
    }

    /// The application directory, checked; relative to the current directory.
    pub(super) fn app(&self) -> Result<Option<PathBuf>> {
        let Some(app) = &self.app else {
            return Ok(None);
        };
        let dir = app
            .canonicalize()
            .with_context(|| format!("--app: there is no directory {}", app.display()))?;
        // What CodeBuild needs: the buildspec, where --buildspec or the definition's
        // build.buildspec says (the template is wherever the buildspec finds it: in a
        // folder, for a repository of several).
        let buildspec = match &self.definition {
            Some(file) if self.buildspec == "buildspec.yml" => {
                super::definition::load(file)?.raw().build.buildspec.clone()
            }
            _ => self.buildspec.clone(),
        };
        if !dir.join(&buildspec).is_file() {
            let fix = match self.definition {
                Some(_) => "say where its buildspec is with the definition's build.buildspec",
                None => "say where its buildspec is with --buildspec",
            };
            bail!(
                "--app: {} has no {buildspec}; give the directory of a SAM application that \
                 CodeBuild can build (its buildspec, and the template it packages), or {fix}",
                dir.display(),
            );
        }
        Ok(Some(dir))
    }
}

/// The name local mode gives an application: its directory's, which must also make
/// a repository and stack names.
fn application_name(dir: &std::path::Path) -> Result<String> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    let ok = (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !ok {
        bail!(
            "--app: the directory name {name:?} names the repository and the stacks, so it \
             must be 1-40 letters, digits and '-', starting with a letter; rename or copy it"
        );
    }
    Ok(name)
}

/// Waits for Ctrl-C or SIGTERM, so that either stops what local mode started.
pub(super) async fn stopped() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot watch for Ctrl-C"),
        _ = terminate.recv() => Ok(()),
    }
}

/// Runs local mode until Ctrl-C.
pub async fn run(_: &Global, args: Args) -> Result<ExitCode> {
    let args = args.local;
    let app = args.app()?;
    let local = Local::start(args.options()?, Console::new()).await?;
    if let Some(app) = app {
        local.console.say(
            "local",
            format!(
                "deliver {} with: git -C {} push {} HEAD:{}",
                local.options.repository,
                app.display(),
                local.repository.path.display(),
                local.options.branch
            ),
        );
    }
    local.console.say("local", "press Ctrl-C to stop");
    stopped().await?;
    local.console.say("local", "stopping");
    drop(local);
    Ok(ExitCode::SUCCESS)
}
