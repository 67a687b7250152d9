//! One file per command, as `sluice --help` lists them: each holds its arguments
//! (whose doc comment is the command's help) and its `run`, which prints what it has
//! to say and returns the process's exit status. What is shared lives here.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use sluice_adapters::aws::s3_client;
use sluice_adapters::{ExecutionStore, S3Objects};
use sluice_core::{CommitId, ExecutionId, StageName};
use sluice_engine::operator::{Action, Answer, Decide};

pub mod approve;
pub mod cancel;
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

/// What every command is about: the pipeline, and the bucket its state is kept in.
#[derive(clap::Args)]
pub struct Global {
    /// The bucket holding Sluice's state: the stack's ArtifactBucketName output.
    #[arg(long, env = "SLUICE_BUCKET", global = true)]
    pub bucket: Option<String>,
    /// The pipeline: the name of the Sluice stack.
    #[arg(long, env = "SLUICE_PIPELINE", global = true, default_value = "sluice")]
    pub pipeline: String,
}

impl Global {
    /// The pipeline's state, read with the caller's credentials.
    pub fn store(&self, sdk: &aws_config::SdkConfig) -> Result<ExecutionStore<S3Objects>> {
        let bucket = self.bucket.clone().context(
            "no state bucket: pass --bucket or set SLUICE_BUCKET \
             (the Sluice stack's ArtifactBucketName output)",
        )?;
        Ok(ExecutionStore::for_name(
            S3Objects::new(s3_client(sdk), bucket),
            &self.pipeline,
        )?)
    }

    /// The answer for an execution id this pipeline does not have.
    pub fn no_execution(&self, id: &sluice_core::ExecutionId) -> anyhow::Error {
        anyhow::anyhow!(
            "pipeline {} has no execution {id}; `sluice status` lists the newest",
            self.pipeline
        )
    }
}

/// The caller's AWS configuration, as the AWS CLI would find it.
pub async fn sdk() -> aws_config::SdkConfig {
    sluice_adapters::aws::sdk_config().await
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
/// come to mean something else; its refusal is an error.
pub async fn operate(
    global: &Global,
    sdk: &aws_config::SdkConfig,
    mut action: Action,
) -> Result<Answer> {
    let store = || {
        global
            .store(sdk)
            .context("to name what the command is about before it is signed")
    };
    sluice::operate::explicit_targets(&mut action, store, &global.pipeline, sdk).await?;
    give(sdk, &global.pipeline, action).await
}

/// Carries out `action` as [`operate`] does, and prints the function's answer.
pub async fn operated(global: &Global, action: Action) -> Result<ExitCode> {
    let answer = operate(global, &sdk().await, action).await?;
    printed(format!("{}\n", answer.message))
}

/// `sluice approve` (`approve` true) or `sluice reject`: the decision, signed and sent.
pub async fn decide(global: &Global, decision: Decision, approve: bool) -> Result<ExitCode> {
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
    operated(global, action).await
}

/// Has the function that takes `action` carry it out; its refusal is an error.
pub async fn give(sdk: &aws_config::SdkConfig, pipeline: &str, action: Action) -> Result<Answer> {
    let function = sluice::operate::function_for(pipeline, &action);
    let answer = sluice::operate::send(sdk, pipeline, &function, action).await?;
    if !answer.ok {
        bail!("{}", answer.message);
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

/// A commit id argument, or what is wrong with it.
pub fn commit_id(given: &str) -> Result<CommitId, String> {
    CommitId::parse(given.trim()).map_err(|_| {
        format!(
            "{given:?} is not a full commit id (40 hexadecimal digits); `git rev-parse` gives it"
        )
    })
}
