//! `sluice`: what the pipeline is doing, read from the same S3 state the functions
//! write, locally (with `AWS_ENDPOINT_URL`) or in AWS; and `sluice local` / `sluice
//! demo`, the whole pipeline on this machine.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use sluice::render;
use sluice_adapters::aws::s3_client;
use sluice_adapters::{ExecutionStore, S3Objects, StoreError};
use sluice_core::{Event, ExecutionId};
use sluice_engine::operator::Action;

#[cfg(feature = "local")]
mod local_commands;
#[cfg(feature = "local")]
use local_commands::LocalArgs;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "What your Sluice pipeline is doing, and what an operator does about it."
)]
struct Cli {
    /// The bucket holding Sluice's state: the stack's ArtifactBucketName output.
    #[arg(long, env = "SLUICE_BUCKET", global = true)]
    bucket: Option<String>,
    /// The pipeline: the name of the Sluice stack.
    #[arg(long, env = "SLUICE_PIPELINE", global = true, default_value = "sluice")]
    pipeline: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The newest executions, one line each: commit, author, each stage, age.
    Status {
        /// How many executions to show.
        #[arg(short = 'n', long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
    },
    /// How well the pipeline delivers: DORA's four keys for one stage (deployment
    /// frequency, lead time, change failure rate, recovery time), plus approval wait
    /// and build time, computed from the execution documents.
    Metrics {
        /// The window: the last 30d, 12h, 2w...
        #[arg(long, default_value = "30d")]
        since: String,
        /// The stage to measure.
        #[arg(long, default_value = "production")]
        stage: String,
        /// `table` (with the definitions) or `json`.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The same figures over time, as one self-contained HTML page of charts (no
    /// network needed to open it): for every stage, or only --stage.
    Report {
        /// Where to write the page.
        #[arg(long, value_name = "FILE")]
        html: PathBuf,
        /// The window: the last 30d, 12h, 2w...
        #[arg(long, default_value = "30d")]
        since: String,
        /// Only this stage.
        #[arg(long)]
        stage: Option<String>,
    },
    /// One execution in full: stages, approvals, links, failure reasons, timeline.
    Show {
        /// The execution's id, as `sluice status` prints it.
        execution: String,
    },
    /// Whether a stage runs exactly its live release: the stack's template, and each
    /// Lambda function's code by SHA-256, against the release's manifest. Exits 1 and
    /// names each resource that differs.
    Verify {
        /// The stage, such as `production`.
        stage: String,
    },
    /// Follow an execution until it ends (the newest if none is named): a line for each
    /// step and each stage's status as it changes. Exits 0 if it was delivered to every
    /// stage, 1 if it failed, was rejected, expired or was cancelled, 2 if a newer
    /// commit superseded it, 3 if it could not be followed (or --timeout passed first).
    Watch {
        /// The execution's id, as `sluice status` prints it; the newest if omitted.
        execution: Option<String>,
        /// Stop following after this many seconds.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        timeout: Option<u64>,
    },
    /// The functions' log lines about an execution, in time order, from CloudWatch
    /// Logs (the emulator's under `sluice local`), and the link to its build's log.
    /// Needs the stack's OperatorPolicy.
    Logs {
        /// The execution's id, as `sluice status` prints it.
        execution: String,
    },
    /// Add a note to an execution for whoever looks at it later (`sluice show` prints
    /// it), signed with your AWS identity.
    Note {
        /// The execution's id, as `sluice status` prints it.
        execution: String,
        /// What to say: up to 2,000 characters; line breaks are kept.
        text: String,
    },
    /// Approve the stage waiting at its gate, as your AWS identity (its ARN from STS is
    /// recorded, not a name). Needs the stack's ApproverPolicy or OperatorPolicy.
    Approve(Decision),
    /// Reject the stage waiting at its gate, as your AWS identity: the execution ends
    /// and nothing is deployed there.
    Reject(Decision),
    /// Email a new approval link for the stage waiting at its gate; the old link stops
    /// working (it answers that it was replaced). Needs the stack's OperatorPolicy.
    Resend {
        /// The execution's id, as `sluice status` prints it.
        execution: String,
        /// The stage, if not the one waiting for approval.
        #[arg(long)]
        stage: Option<String>,
    },
    /// Start an execution for the branch's head, or for an older commit of the branch
    /// (to deliver it again). Needs the stack's OperatorPolicy.
    Release {
        /// The full commit id (`git rev-parse COMMIT`); the branch's head if omitted.
        commit: Option<String>,
    },
    /// Take a failed execution up again where it failed: a new build if its build
    /// failed, else the failed stage again from the same artifact (a gated stage asks
    /// for approval again). Needs the stack's OperatorPolicy.
    Retry {
        /// The execution's id, as `sluice status` prints it.
        execution: String,
    },
    /// Stop an execution in flight: its build is stopped, its pending change set
    /// deleted and its stage freed for the next execution. A stage already deploying
    /// cannot be stopped half-way. Recorded with your AWS identity. Needs the stack's
    /// OperatorPolicy.
    Cancel {
        /// The execution's id, as `sluice status` prints it.
        execution: String,
    },
    /// Deploy to a stage again the artifact of its previous successful execution (or
    /// of the one named), through a change set: prints what it will change, then asks
    /// to confirm (or --yes). Unconfirmed, it waits at a gate like an approval:
    /// `sluice approve` deploys it, `sluice cancel` drops it. Needs the stack's
    /// OperatorPolicy.
    Rollback {
        /// The stage to roll back, e.g. production.
        stage: String,
        /// The execution whose artifact to deploy, as `sluice status` prints it.
        #[arg(long)]
        to: Option<String>,
        /// Deploy without asking.
        #[arg(long)]
        yes: bool,
    },
    /// Check a deployed pipeline the way its first minutes in an account need: the
    /// stack, the functions' configuration, a read of a missing key as the functions'
    /// role (S3 answers 403 without list rights), the failed-events alarm set to ALARM
    /// reaching the topic (its subscribers get one test message), each stage's role
    /// trusting CloudFormation, and one logged event of each kind decoding. Each
    /// problem says its fix; exits 1 if there is one. Needs the stack's OperatorPolicy.
    Doctor {
        /// How long to wait for CloudWatch to record the alarm's action, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=900))]
        alarm_wait: u64,
    },
    /// Run the whole pipeline on this machine until Ctrl-C: the emulator, the
    /// orchestrator deployed into it, a local CodeCommit and CodeBuild.
    #[cfg(feature = "local")]
    Local(LocalArgs),
    /// Deliver the example application through the local pipeline, end to end.
    #[cfg(feature = "local")]
    Demo {
        #[command(flatten)]
        local: LocalArgs,
        /// Approve through the page's form instead of waiting for a click.
        #[arg(long, env = "DEMO_AUTO_APPROVE", value_parser = clap::builder::BoolishValueParser::new(), default_value = "false")]
        auto_approve: bool,
    },
}

/// How `sluice metrics` prints.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(clap::Args)]
struct Decision {
    /// The execution's id, as `sluice status` prints it.
    execution: String,
    /// The stage, if not the one waiting for approval.
    #[arg(long)]
    stage: Option<String>,
    /// Why, for whoever reads `sluice show` or the email (up to 1,000 characters).
    #[arg(long)]
    comment: Option<String>,
}

/// Stage names as a person reads a list of them: "staging, production".
fn stage_list<'a>(stages: impl IntoIterator<Item = &'a sluice_core::StageName>) -> String {
    stages
        .into_iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

async fn run(cli: Cli) -> Result<String> {
    let command = match cli.command {
        #[cfg(feature = "local")]
        Command::Local(args) => return local_commands::serve(args).await,
        #[cfg(feature = "local")]
        Command::Demo {
            local,
            auto_approve,
        } => return local_commands::demo(local, auto_approve).await,
        other => other,
    };
    if let Command::Doctor { alarm_wait } = command {
        let sdk = sluice_adapters::aws::sdk_config().await;
        let findings = sluice::doctor::examine(
            &sdk,
            &cli.pipeline,
            std::time::Duration::from_secs(alarm_wait),
            |step| eprintln!("... {step}"),
        )
        .await?;
        let (text, problems) = sluice::doctor::render(&cli.pipeline, &findings);
        if problems == 0 {
            return Ok(text);
        }
        print!("{text}");
        bail!("pipeline {} needs the fixes above", cli.pipeline);
    }
    if let Some(mut action) = operator_action(&command) {
        let sdk = sluice_adapters::aws::sdk_config().await;
        let store = || {
            state(cli.bucket.clone(), &cli.pipeline, &sdk)
                .context("to name what the command is about before it is signed")
        };
        sluice::operate::explicit_targets(&mut action, store, &cli.pipeline, &sdk).await?;
        let answer = give(&sdk, &cli.pipeline, action).await?;
        if let (Command::Rollback { yes, .. }, Some(execution), Some(stage)) =
            (&command, &answer.execution, &answer.awaiting)
        {
            println!("{}", answer.message);
            return confirm_rollback(&sdk, &cli.pipeline, execution, stage, *yes).await;
        }
        return Ok(format!("{}\n", answer.message));
    }
    let sdk = sluice_adapters::aws::sdk_config().await;
    let bucket = cli.bucket.clone().unwrap_or_default();
    let store = state(cli.bucket, &cli.pipeline, &sdk)?;
    let now = chrono::Utc::now();
    match command {
        Command::Status { limit } => {
            let executions = store.recent(usize::from(limit)).await?;
            Ok(render::status_table(&executions, now))
        }
        Command::Metrics {
            since,
            stage,
            format,
        } => {
            let window = sluice::metrics::parse_since(&since)?;
            let stage = sluice_core::StageName::parse(&stage)
                .with_context(|| format!("--stage {stage:?}"))?;
            let from = now - window;
            let executions = store.since(from - sluice::metrics::LOOKBACK).await?;
            if !executions.is_empty() && !executions.iter().any(|e| e.stage(&stage).is_some()) {
                bail!(
                    "no execution of pipeline {} has a stage {stage}; its stages: {}",
                    cli.pipeline,
                    stage_list(executions[0].stages.iter().map(|s| &s.name))
                );
            }
            let report = sluice_core::metrics::report(&executions, &stage, from, now);
            match format {
                Format::Table => Ok(sluice::metrics::table(&cli.pipeline, &report)),
                Format::Json => Ok(serde_json::to_string_pretty(&report)?),
            }
        }
        Command::Report { html, since, stage } => {
            let window = sluice::metrics::parse_since(&since)?;
            let stage = stage
                .map(|s| {
                    sluice_core::StageName::parse(&s).with_context(|| format!("--stage {s:?}"))
                })
                .transpose()?;
            // Refuse a bad destination before reading anything.
            let parent = match html.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if !parent.is_dir() {
                bail!(
                    "--html {}: the directory {} does not exist",
                    html.display(),
                    parent.display()
                );
            }
            let from = now - window;
            eprintln!(
                "Reading the executions since {} ...",
                (from - sluice::metrics::LOOKBACK).format("%Y-%m-%d")
            );
            let executions = store.since(from - sluice::metrics::LOOKBACK).await?;
            // The stages, in order, of the newest change (a rollback has one stage).
            let known: Vec<sluice_core::StageName> = executions
                .iter()
                .filter(|e| e.rollback_of.is_none())
                .max_by_key(|e| e.created_at)
                .map(|e| e.stages.iter().map(|s| s.name.clone()).collect())
                .unwrap_or_default();
            let stages = match stage {
                Some(stage) if !known.is_empty() && !known.contains(&stage) => bail!(
                    "pipeline {} has no stage {stage}; its stages: {}",
                    cli.pipeline,
                    stage_list(&known)
                ),
                Some(stage) => vec![stage],
                None => known,
            };
            let page = sluice::report::html(&cli.pipeline, &executions, &stages, from, now);
            // Written beside it, then renamed: a failure leaves no half page.
            let partial = parent.join(format!(
                ".{}.partial",
                html.file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("report.html")
            ));
            std::fs::write(&partial, page)
                .with_context(|| format!("cannot write {}", partial.display()))?;
            std::fs::rename(&partial, &html)
                .with_context(|| format!("cannot write {}", html.display()))?;
            Ok(format!(
                "Wrote {}: {} stage(s) ({}), {} executions read, over the last {since}.\n",
                html.display(),
                stages.len(),
                stage_list(&stages),
                executions.len()
            ))
        }
        Command::Show { execution } => {
            let id = ExecutionId::parse(&execution)?;
            match store.load(&id).await? {
                Some(execution) => Ok(render::details(&execution, now)),
                None => bail!(
                    "pipeline {} has no execution {id}; `sluice status` lists the newest",
                    cli.pipeline
                ),
            }
        }
        Command::Verify { stage } => {
            let stage = sluice_core::StageName::parse(&stage).with_context(|| {
                format!("{stage:?} is not a stage name (such as staging or production)")
            })?;
            let executions = store.recent(sluice_core::history::RECENT).await?;
            let objects = S3Objects::new(s3_client(&sdk), bucket);
            let (release, report) =
                sluice::verify::verify(&sdk, &objects, &executions, &stage).await?;
            let text = sluice::verify::render(&stage, &release, &report);
            if report.differs.is_empty() {
                Ok(text)
            } else {
                print!("{text}");
                bail!("{stage} does not run exactly its release")
            }
        }
        Command::Logs { execution } => {
            let id = ExecutionId::parse(&execution)?;
            let Some(execution) = store.load(&id).await? else {
                bail!(
                    "pipeline {} has no execution {id}; `sluice status` lists the newest",
                    cli.pipeline
                );
            };
            let client = aws_sdk_cloudwatchlogs::Client::new(&sdk);
            let lines = sluice::logs::lines(&client, &cli.pipeline, &execution).await?;
            let prefix = sluice::logs::log_group_prefix(&cli.pipeline);
            Ok(sluice::logs::render(&execution, &lines, &prefix))
        }
        Command::Note { execution, text } => {
            let id = ExecutionId::parse(&execution)?;
            note(&sdk, &store, &cli.pipeline, &id, text).await
        }
        #[cfg(feature = "local")]
        Command::Local(_) | Command::Demo { .. } => unreachable!("handled above"),
        Command::Doctor { .. }
        | Command::Watch { .. }
        | Command::Approve(_)
        | Command::Reject(_)
        | Command::Resend { .. }
        | Command::Release { .. }
        | Command::Retry { .. }
        | Command::Cancel { .. }
        | Command::Rollback { .. } => unreachable!("handled above"),
    }
}

/// The pipeline's state, read with the caller's credentials.
fn state(
    bucket: Option<String>,
    pipeline: &str,
    sdk: &aws_config::SdkConfig,
) -> Result<ExecutionStore<S3Objects>> {
    let bucket = bucket.context(
        "no state bucket: pass --bucket or set SLUICE_BUCKET \
         (the Sluice stack's ArtifactBucketName output)",
    )?;
    Ok(ExecutionStore::for_name(
        S3Objects::new(s3_client(sdk), bucket),
        pipeline,
    )?)
}

/// `sluice watch`: lines as they happen, and an exit status that says how it ended.
async fn watch(
    bucket: Option<String>,
    pipeline: &str,
    execution: Option<String>,
    timeout: Option<u64>,
) -> ExitCode {
    let followed = async {
        let id = execution.as_deref().map(ExecutionId::parse).transpose()?;
        let sdk = sluice_adapters::aws::sdk_config().await;
        let store = state(bucket, pipeline, &sdk)?;
        let limit = timeout.map(std::time::Duration::from_secs);
        sluice::watch::follow(&store, id.as_ref(), limit, |line| println!("{line}")).await
    }
    .await;
    match followed {
        Ok(e) => {
            let why = e
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            println!("{} {}{why}", e.id, e.status);
            ExitCode::from(sluice::watch::exit_code(e.status))
        }
        Err(e) => {
            eprintln!("sluice: {e:#}");
            ExitCode::from(3)
        }
    }
}

/// The operator function's action for a command that changes an execution's course.
fn operator_action(command: &Command) -> Option<Action> {
    Some(match command {
        Command::Approve(d) => Action::Approve {
            execution: d.execution.clone(),
            stage: d.stage.clone(),
            comment: d.comment.clone(),
        },
        Command::Reject(d) => Action::Reject {
            execution: d.execution.clone(),
            stage: d.stage.clone(),
            comment: d.comment.clone(),
        },
        Command::Resend { execution, stage } => Action::Resend {
            execution: execution.clone(),
            stage: stage.clone(),
        },
        Command::Release { commit } => Action::Release {
            commit: commit.clone(),
        },
        Command::Retry { execution } => Action::Retry {
            execution: execution.clone(),
        },
        Command::Cancel { execution } => Action::Cancel {
            execution: execution.clone(),
        },
        Command::Rollback { stage, to, .. } => Action::Rollback {
            stage: stage.clone(),
            to: to.clone(),
        },
        _ => return None,
    })
}

/// Deploys a prepared rollback once the operator says so (or `--yes` did).
async fn confirm_rollback(
    sdk: &aws_config::SdkConfig,
    pipeline: &str,
    execution: &str,
    stage: &str,
    yes: bool,
) -> Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    let later = format!(
        "Not deployed. `sluice approve {execution}` deploys it; `sluice cancel {execution}` drops it.\n"
    );
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Ok(later);
        }
        print!("Deploy these changes to {stage}? [y/N] ");
        std::io::stdout().flush()?;
        let mut reply = String::new();
        std::io::stdin().lock().read_line(&mut reply)?;
        if !matches!(reply.trim(), "y" | "Y" | "yes") {
            return Ok(later);
        }
    }
    let action = Action::Approve {
        execution: execution.to_owned(),
        stage: Some(stage.to_owned()),
        comment: Some("rollback confirmed by the operator who asked for it".into()),
    };
    let answer = give(sdk, pipeline, action).await?;
    Ok(format!("{}\n", answer.message))
}

/// Has the function that takes `action` carry it out; its refusal is an error.
async fn give(
    sdk: &aws_config::SdkConfig,
    pipeline: &str,
    action: Action,
) -> Result<sluice_engine::operator::Answer> {
    let function = sluice::operate::function_for(pipeline, &action);
    let answer = sluice::operate::send(sdk, pipeline, &function, action).await?;
    if !answer.ok {
        bail!("{}", answer.message);
    }
    Ok(answer)
}

async fn note(
    sdk: &aws_config::SdkConfig,
    store: &ExecutionStore<S3Objects>,
    pipeline: &str,
    id: &ExecutionId,
    text: String,
) -> Result<String> {
    if text.trim().is_empty() {
        bail!("the note is empty: say what you want others to read");
    }
    let author = sluice::identity::caller(sdk).await?;
    let event = Event::NoteAdded {
        author: author.clone(),
        text,
    };
    match store.apply(id, event, chrono::Utc::now()).await {
        Ok(applied) if applied.changed => Ok(format!("Note added to {id} by {author}.\n")),
        Ok(_) => Ok(format!("{id} already has this note by {author}.\n")),
        Err(StoreError::NotFound(_)) => {
            bail!("pipeline {pipeline} has no execution {id}; `sluice status` lists the newest")
        }
        Err(StoreError::Rejected(why)) => bail!("note not added: {why}"),
        Err(e) => Err(e).context("note not added"),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Watch { execution, timeout } = cli.command {
        return watch(cli.bucket, &cli.pipeline, execution, timeout).await;
    }
    match run(cli).await {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sluice: {e:#}");
            ExitCode::FAILURE
        }
    }
}
