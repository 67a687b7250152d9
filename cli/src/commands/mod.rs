//! One file per command, as `sluice --help` lists them: each holds its arguments
//! (whose doc comment is the command's help) and its `run`, which prints what it has
//! to say and returns the process's exit status. What is shared lives here.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use sluice::render::to_the_second;
use sluice_adapters::aws::s3_client;
use sluice_adapters::{ExecutionStore, S3Objects};
use sluice_core::{CommitId, ExecutionId, StageName};
use sluice_engine::operator::{Action, Answer, Decide};

pub mod approve;
pub mod cancel;
pub mod completions;
pub mod definition;
#[cfg(feature = "local")]
pub mod demo;
pub mod doctor;
#[cfg(feature = "local")]
pub mod local;
pub mod logs;
pub mod metrics;
pub mod note;
pub mod reject;
pub mod release;
pub mod report;
pub mod resend;
pub mod retry;
pub mod rollback;
pub mod show;
pub mod status;
pub mod verify;
pub mod watch;

/// The pipeline is the default Sluice stack's name.
pub const DEFAULT_PIPELINE: &str = "sluice";

/// What every command that talks to AWS needs: the pipeline, and whether to show the
/// SDK's requests.
#[derive(clap::Args)]
#[command(next_help_heading = "Pipeline options")]
pub struct Global {
    /// The pipeline: the name of its Sluice stack.
    #[arg(
        long,
        env = "SLUICE_PIPELINE",
        default_value = DEFAULT_PIPELINE,
        hide_env_values = true,
        value_name = "STACK"
    )]
    pub pipeline: String,
    /// Show the AWS SDK's requests on stderr: each call, its retries, and where the
    /// credentials came from.
    #[arg(short, long)]
    pub verbose: bool,
}

impl Default for Global {
    fn default() -> Self {
        Self {
            pipeline: DEFAULT_PIPELINE.to_owned(),
            verbose: false,
        }
    }
}

impl Global {
    /// The caller's AWS configuration, as the AWS CLI would find it, checked: a region,
    /// and credentials that load (else what to run). With `-v`, the SDK's requests are
    /// shown from here on.
    pub async fn sdk(&self) -> Result<aws_config::SdkConfig> {
        if self.verbose {
            show_sdk_requests();
        }
        let sdk = sluice_adapters::aws::sdk_config().await;
        let profile = std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty());
        sluice::access::check(&sdk, profile).await?;
        Ok(sdk)
    }

    /// The answer for an execution id this pipeline does not have.
    pub fn no_execution(&self, id: &sluice_core::ExecutionId) -> anyhow::Error {
        anyhow::anyhow!(
            "pipeline {} has no execution {id}; `sluice status` lists the newest",
            self.pipeline
        )
    }
}

/// What a command that reads the pipeline's state needs: the bucket it is kept in.
#[derive(clap::Args)]
#[command(next_help_heading = "Pipeline options")]
pub struct State {
    /// The bucket holding Sluice's state: the stack's ArtifactBucketName output.
    #[arg(
        long,
        env = "SLUICE_BUCKET",
        hide_env_values = true,
        value_name = "BUCKET"
    )]
    pub bucket: Option<String>,
    #[command(flatten)]
    pub global: Global,
}

impl State {
    /// The state bucket, or what to do without one: checked before AWS is configured.
    pub fn bucket(&self) -> Result<&str> {
        self.bucket.as_deref().context(
            "no state bucket: pass --bucket or set SLUICE_BUCKET \
             (the Sluice stack's ArtifactBucketName output)",
        )
    }

    /// The caller's AWS configuration and the pipeline's state, read with it; the
    /// bucket is checked first.
    pub async fn open(&self) -> Result<(aws_config::SdkConfig, ExecutionStore<S3Objects>)> {
        let bucket = self.bucket()?.to_owned();
        let sdk = self.global.sdk().await?;
        let store = store(&sdk, bucket, &self.global.pipeline)?;
        Ok((sdk, store))
    }
}

/// The state of `pipeline` in `bucket`, read with the caller's credentials.
fn store(
    sdk: &aws_config::SdkConfig,
    bucket: String,
    pipeline: &str,
) -> Result<ExecutionStore<S3Objects>> {
    Ok(ExecutionStore::for_name(
        S3Objects::new(s3_client(sdk), bucket),
        pipeline,
    )?)
}

/// `-v`: the SDK's own debug lines (its requests, retries, endpoint and credential
/// lookups) on stderr; nothing else's.
fn show_sdk_requests() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let sdk = Targets::new()
        .with_target("aws_smithy_runtime", LevelFilter::DEBUG)
        .with_target("aws_sdk", LevelFilter::DEBUG)
        .with_target("aws_config", LevelFilter::DEBUG);
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    // Already set: a second `-v` in the same process changes nothing.
    let _ = tracing_subscriber::registry()
        .with(lines.with_filter(sdk))
        .try_init();
}

/// Prints what went wrong as `sluice: ...`: a configuration problem as one sentence
/// saying what to run, anything else with its causes.
pub fn complain(e: &anyhow::Error) {
    match e
        .chain()
        .find_map(|c| c.downcast_ref::<sluice::access::AccessError>())
    {
        Some(access) => eprintln!("sluice: {access}"),
        None => eprintln!("sluice: {e:#}"),
    }
}

/// `value` as pretty JSON, for `--json`.
pub fn json(value: &impl serde::Serialize) -> Result<String> {
    Ok(format!("{}\n", serde_json::to_string_pretty(value)?))
}

/// Prints a command's text and exits 0.
pub fn printed(text: impl AsRef<str>) -> Result<ExitCode> {
    print!("{}", text.as_ref());
    Ok(ExitCode::SUCCESS)
}

/// Stage names as a person reads a list of them: "staging, production".
pub fn stage_list<'a>(stages: impl IntoIterator<Item = &'a sluice_core::StageName>) -> String {
    stages
        .into_iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Has the pipeline's function carry out `action`, first naming in it what it is about
/// (the stage at its gate, the release, the commit), so that the signed command cannot
/// come to mean something else; its refusal is an error. `bucket` is the state's, if
/// known: it names the stage or release when the command does not.
pub async fn operate(
    global: &Global,
    bucket: Option<&str>,
    sdk: &aws_config::SdkConfig,
    mut action: Action,
) -> Result<Answer> {
    let store = || {
        let bucket = bucket.context(
            "no state bucket (pass --bucket or set SLUICE_BUCKET) to name what the \
             command is about before it is signed",
        )?;
        store(sdk, bucket.to_owned(), &global.pipeline)
    };
    sluice::operate::explicit_targets(&mut action, store, &global.pipeline, sdk).await?;
    give(sdk, &global.pipeline, action).await
}

/// Refuses, before AWS is configured, a command that needs the state to name what it
/// is about when there is no bucket to read it from.
pub fn check_state_for(action: &Action, bucket: Option<&str>) -> Result<()> {
    match (sluice::operate::needs_state(action), bucket) {
        (Some(or), None) => bail!(
            "no state bucket to find {or}: pass --bucket or set SLUICE_BUCKET (the Sluice \
             stack's ArtifactBucketName output)"
        ),
        _ => Ok(()),
    }
}

/// Carries out `action` as [`operate`] does, and prints the function's answer.
pub async fn operated(global: &Global, bucket: Option<&str>, action: Action) -> Result<ExitCode> {
    check_state_for(&action, bucket)?;
    let sdk = global.sdk().await?;
    let answer = operate(global, bucket, &sdk, action).await?;
    printed(format!("{}\n", to_the_second(&answer.message)))
}

/// `sluice approve` (`approve` true) or `sluice reject`: the decision, signed and sent.
pub async fn decide(state: &State, decision: Decision, approve: bool) -> Result<ExitCode> {
    let Decision {
        execution,
        stage,
        comment,
    } = decision;
    let decide = Decide {
        execution,
        stage,
        comment,
    };
    let action = if approve {
        Action::Approve(decide)
    } else {
        Action::Reject(decide)
    };
    operated(&state.global, state.bucket.as_deref(), action).await
}

/// Has the function that takes `action` carry it out; its refusal is an error.
pub async fn give(sdk: &aws_config::SdkConfig, pipeline: &str, action: Action) -> Result<Answer> {
    let function = sluice::operate::function_for(pipeline, &action);
    let answer = sluice::operate::send(sdk, pipeline, &function, action).await?;
    if !answer.ok {
        bail!("{}", to_the_second(&answer.message));
    }
    Ok(answer)
}

/// The arguments of a decision at a gate (`sluice approve`, `sluice reject`).
#[derive(clap::Args)]
pub struct Decision {
    /// The execution's id, as `sluice status` prints it.
    #[arg(value_parser = execution_id)]
    pub execution: ExecutionId,
    /// The stage, if not the one waiting for approval.
    #[arg(long, value_parser = stage_name)]
    pub stage: Option<StageName>,
    /// Why, for whoever reads `sluice show` or the email (up to 1,000 characters).
    #[arg(long)]
    pub comment: Option<String>,
}

/// An execution id argument, or what is wrong with it.
pub fn execution_id(given: &str) -> Result<ExecutionId, String> {
    ExecutionId::parse(given.trim())
        .map_err(|_| format!("{given:?} is not an execution id; `sluice status` lists them"))
}

/// A stage name argument, or what is wrong with it.
pub fn stage_name(given: &str) -> Result<StageName, String> {
    StageName::parse(given.trim())
        .map_err(|_| format!("{given:?} is not a stage name (such as staging or production)"))
}

/// A `--since` argument: the window as given (`30d`) and its length.
#[derive(Clone)]
pub struct Since {
    pub text: String,
    pub window: chrono::Duration,
}

/// A `--since` argument, or what is wrong with it.
pub fn since(given: &str) -> Result<Since, String> {
    let window = sluice::metrics::parse_since(given).map_err(|e| e.to_string())?;
    Ok(Since {
        text: given.trim().to_owned(),
        window,
    })
}

/// A commit id argument, or what is wrong with it.
pub fn commit_id(given: &str) -> Result<CommitId, String> {
    CommitId::parse(given.trim()).map_err(|_| {
        format!(
            "{given:?} is not a full commit id (40 hexadecimal digits); `git rev-parse` gives it"
        )
    })
}
