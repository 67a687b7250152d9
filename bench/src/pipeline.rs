//! Whole executions under `sluice local`, the functions built for release: the time
//! Sluice adds between steps, the AWS requests each handler sends, and what an
//! execution costs next to CodePipeline.
//!
//! Each execution is a commit pushed, built, deployed to staging, approved through
//! its emailed link and deployed to production, one after another. The functions'
//! own metrics (their CloudWatch Embedded Metric Format lines) say, per invocation,
//! how long after its event the handler started, sent the request that moved the
//! delivery on (`StepDelayMilliseconds`), and how many requests it sent.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sluice_core::{Execution, Status};
use sluice_local::demo::{self, Checkout};
use sluice_local::stack::FunctionBuild;
use sluice_local::{Console, Local, LogLine, Options};

use crate::stats::Summary;

/// The application delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum App {
    /// `tests/fixtures/quick-app`: a template and a test; builds in a second.
    Quick,
    /// `examples/hello-api`: the Rust example, compiled and tested by each build.
    Example,
}

impl App {
    fn dir(self, workspace: &Path) -> PathBuf {
        match self {
            Self::Quick => workspace.join("tests/fixtures/quick-app"),
            Self::Example => workspace.join("examples/hello-api"),
        }
    }

    /// The file each execution changes, the text it replaces there, and the
    /// replacement for execution `i`: a change every stage has to deploy.
    fn change(self, i: usize) -> (&'static str, &'static str, String) {
        match self {
            Self::Quick => (
                "template.yaml",
                "    Default: hello\n",
                format!("    Default: bench-{i}\n"),
            ),
            Self::Example => (
                "src/main.rs",
                "delivered by Sluice\"",
                format!("delivered by Sluice (bench {i})\""),
            ),
        }
    }
}

/// Published us-east-1 prices, as of [`PRICES_AS_OF`].
pub mod prices {
    /// Lambda on arm64, per GB-second (the first 7.5 billion a month).
    pub const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
    /// Lambda, per request.
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    /// S3 PUT, COPY, POST or LIST, per request: the dearest request Sluice sends, so
    /// every AWS request is priced at it (CloudFormation's and CodeBuild's APIs cost
    /// nothing; S3 GET is $0.0004 per 1,000).
    pub const S3_WRITE_REQUEST: f64 = 0.005 / 1000.0;
    /// SNS: a publish ($0.50 per million) and its delivery to one email address
    /// ($2.00 per 100,000).
    pub const APPROVAL_EMAIL: f64 = 0.50 / 1e6 + 2.00 / 100_000.0;
    /// CloudWatch Logs ingestion, per byte ($0.50 per GB).
    pub const LOG_BYTE: f64 = 0.50 / 1e9;
    /// CodePipeline V2, per action execution minute (each action rounded up to a
    /// whole minute; manual approval actions are free).
    pub const CODEPIPELINE_V2_ACTION_MINUTE: f64 = 0.002;
    /// CodePipeline V1, per active pipeline and month.
    pub const CODEPIPELINE_V1_MONTH: f64 = 1.0;
}

/// When the prices in [`prices`] were read off the AWS pricing pages.
pub const PRICES_AS_OF: &str = "2026-11-24";

/// One handler's figures, per invocation.
#[derive(Debug, Serialize)]
pub struct Handler {
    pub function: String,
    pub invocations_per_execution: f64,
    pub aws_requests: Summary,
    /// From the event's time to the handler starting: delivery and start-up.
    pub event_to_handler_ms: Summary,
    /// From the event's time to the first request that moved the delivery on; only
    /// invocations that sent one.
    pub event_to_step_ms: Summary,
    pub handler_ms: Summary,
}

/// What one execution cost, on average, at [`prices`].
#[derive(Debug, Serialize)]
pub struct Cost {
    pub prices_as_of: &'static str,
    pub lambda_invocations: f64,
    /// Billed duration summed over the invocations, as the emulator reports it
    /// (which includes its own overhead: an upper bound).
    pub lambda_billed_ms: f64,
    pub memory_mb: f64,
    pub aws_requests: f64,
    pub approval_emails: f64,
    pub log_bytes: f64,
    pub sluice_usd: f64,
    /// The same run as a CodePipeline V2 pipeline: source, build, and per stage a
    /// change set created and executed, each rounded up to a whole minute.
    pub codepipeline_v2_action_minutes: f64,
    pub codepipeline_v2_usd: f64,
    pub codepipeline_v1_usd_per_month: f64,
}

#[derive(Debug, Serialize)]
pub struct Figures {
    pub app: String,
    pub executions: usize,
    /// Push to production updated, approval wait included (the bench approves at
    /// once).
    pub push_to_production_s: Summary,
    /// Per execution: the sum of every handler's event-to-step time, the time Sluice
    /// itself adds on the critical path between steps.
    pub added_per_execution_ms: Summary,
    /// The approver opening the link and approving, to the page's answer: two
    /// requests, the page and the decision (recorded, and production's change set
    /// executed).
    pub approval_click_ms: Summary,
    pub handlers: Vec<Handler>,
    pub cost: Cost,
}

/// One execution as the bench saw it.
struct Run {
    pushed: DateTime<Utc>,
    execution: Execution,
    click_ms: f64,
}

/// Delivers `executions` changes of `app` through a local pipeline and measures them.
pub async fn measure(
    workspace: &Path,
    ministack: &Path,
    app: App,
    executions: usize,
) -> anyhow::Result<Figures> {
    let state = tempfile::Builder::new()
        .prefix("sluice-bench-pipeline-")
        .tempdir()?;
    let mut options = Options::new(workspace.to_path_buf(), state.path().join("state"));
    options.emulator_binary = ministack
        .canonicalize()
        .with_context(|| format!("no emulator at {}", ministack.display()))?;
    options.function_build = FunctionBuild::Release;
    options.repository = match app {
        App::Quick => "quick-app".into(),
        App::Example => "hello-api".into(),
    };
    options.set_stages("staging,production", Some("production"))?;
    let console = Console::new();
    console.hide_build_logs();
    let local = Local::start(options, console).await?;
    let source = app.dir(workspace);
    let checkout = Checkout::from_example(&local, &source, &state.path().join("app")).await?;

    let mut runs = Vec::new();
    for i in 0..executions {
        let (file, from, to) = app.change(i);
        let original = std::fs::read_to_string(source.join(file))?;
        if !original.contains(from) {
            bail!(
                "{} no longer holds {from:?}: the bench's change needs it",
                source.join(file).display()
            );
        }
        std::fs::write(checkout.dir.join(file), original.replace(from, &to))?;
        let commit = checkout.commit(&format!("bench: change {i}")).await?;
        println!("execution {}/{executions}: {commit}", i + 1);
        let pushed = Utc::now();
        checkout.push().await?;
        let at_gate = demo::follow(&local, &commit, demo::BUILD_TIMEOUT, |e| {
            e.status.is_terminal() || demo::awaits_approval(e, "production")
        })
        .await?;
        if !demo::awaits_approval(&at_gate, "production") {
            bail!(
                "execution {} ended {:?} before the gate: {:?}",
                at_gate.id,
                at_gate.status,
                at_gate.reason
            );
        }
        let link = demo::approval_email(
            &local,
            at_gate.id.as_str(),
            "production",
            Duration::from_secs(60),
        )
        .await?
        .approval_link()
        .context("the approval email has no link")?;
        let clicked = Instant::now();
        let status = demo::decide(&link, "approve", "bench").await?;
        let click_ms = clicked.elapsed().as_secs_f64() * 1000.0;
        if status != 200 {
            bail!("approving {} answered HTTP {status}", at_gate.id);
        }
        let done = demo::follow(&local, &commit, Duration::from_secs(300), |e| {
            e.status.is_terminal()
        })
        .await?;
        if done.status != Status::Succeeded {
            bail!(
                "execution {} ended {:?}: {:?}",
                done.id,
                done.status,
                done.reason
            );
        }
        runs.push(Run {
            pushed,
            execution: done,
            click_ms,
        });
    }
    let logs = local.function_logs().await?;
    let memory_mb = memory_size(workspace)?;
    Ok(figures(app, &runs, &logs, memory_mb))
}

/// The functions' memory size, from `template.yaml`'s `Globals`.
fn memory_size(workspace: &Path) -> anyhow::Result<f64> {
    let template = std::fs::read_to_string(workspace.join("template.yaml"))?;
    template
        .lines()
        .find_map(|l| l.trim().strip_prefix("MemorySize:"))
        .and_then(|m| m.trim().parse().ok())
        .context("template.yaml sets no MemorySize")
}

/// Which run a log line belongs to: the last pushed before it was logged.
fn run_of(runs: &[Run], timestamp_ms: i64) -> Option<usize> {
    runs.iter()
        .rposition(|r| r.pushed.timestamp_millis() <= timestamp_ms)
}

/// A metric's values in an EMF document: one number, or a list.
fn values(document: &Value, metric: &str) -> Vec<f64> {
    match &document[metric] {
        Value::Array(a) => a.iter().filter_map(Value::as_f64).collect(),
        other => other.as_f64().into_iter().collect(),
    }
}

/// The billed duration in a Lambda `REPORT` line.
fn billed_ms(message: &str) -> Option<f64> {
    let rest = message.split_once("Billed Duration: ")?.1;
    let number = rest.split_whitespace().next()?;
    number.parse::<f64>().ok().map(f64::ceil)
}

fn figures(app: App, runs: &[Run], logs: &[LogLine], memory_mb: f64) -> Figures {
    let executions = runs.len().max(1);
    let mut handlers: std::collections::BTreeMap<String, [Vec<f64>; 4]> = Default::default();
    let mut added = vec![0.0; runs.len()];
    let (mut invocations, mut billed, mut requests, mut log_bytes) = (0.0, 0.0, 0.0, 0.0);
    for line in logs {
        let Some(run) = run_of(runs, line.timestamp_ms) else {
            continue;
        };
        log_bytes += line.message.len() as f64;
        if line.message.starts_with("REPORT ") {
            invocations += 1.0;
            billed += billed_ms(&line.message).unwrap_or(0.0);
            continue;
        }
        if !line.message.contains("\"CloudWatchMetrics\"") {
            continue;
        }
        let Ok(document) = serde_json::from_str::<Value>(line.message.trim()) else {
            continue;
        };
        let Some(function) = document["function"].as_str() else {
            continue;
        };
        let entry = handlers.entry(function.to_owned()).or_default();
        let calls = values(&document, "AwsCalls");
        requests += calls.iter().sum::<f64>();
        let steps = values(&document, "StepDelayMilliseconds");
        added[run] += steps.iter().sum::<f64>();
        entry[0].extend(calls);
        entry[1].extend(values(&document, "EventDelayMilliseconds"));
        entry[2].extend(steps);
        entry[3].extend(values(&document, "HandlerMilliseconds"));
    }
    let handlers = handlers
        .into_iter()
        .map(|(function, [calls, delay, step, ms])| Handler {
            function,
            invocations_per_execution: ms.len() as f64 / executions as f64,
            aws_requests: Summary::of(&calls),
            event_to_handler_ms: Summary::of(&delay),
            event_to_step_ms: Summary::of(&step),
            handler_ms: Summary::of(&ms),
        })
        .collect();
    let per = |total: f64| total / executions as f64;
    let emails: f64 = runs
        .iter()
        .map(|r| {
            r.execution
                .stages
                .iter()
                .filter(|s| s.approval.as_ref().is_some_and(|a| a.sent_at.is_some()))
                .count() as f64
        })
        .sum();
    let lambda_usd = per(billed) / 1000.0 * memory_mb / 1024.0 * prices::LAMBDA_GB_SECOND
        + per(invocations) * prices::LAMBDA_REQUEST;
    let sluice_usd = lambda_usd
        + per(requests) * prices::S3_WRITE_REQUEST
        + per(emails) * prices::APPROVAL_EMAIL
        + per(log_bytes) * prices::LOG_BYTE;
    let minutes: Vec<f64> = runs
        .iter()
        .map(|r| codepipeline_minutes(&r.execution))
        .collect();
    let v2_minutes = minutes.iter().sum::<f64>() / executions as f64;
    Figures {
        app: format!("{app:?}").to_lowercase(),
        executions: runs.len(),
        push_to_production_s: Summary::of(
            &runs
                .iter()
                .filter_map(|r| {
                    Some((r.execution.finished_at? - r.pushed).num_milliseconds() as f64 / 1000.0)
                })
                .collect::<Vec<_>>(),
        ),
        added_per_execution_ms: Summary::of(&added),
        approval_click_ms: Summary::of(&runs.iter().map(|r| r.click_ms).collect::<Vec<_>>()),
        handlers,
        cost: Cost {
            prices_as_of: PRICES_AS_OF,
            lambda_invocations: per(invocations),
            lambda_billed_ms: per(billed),
            memory_mb,
            aws_requests: per(requests),
            approval_emails: per(emails),
            log_bytes: per(log_bytes),
            sluice_usd,
            codepipeline_v2_action_minutes: v2_minutes,
            codepipeline_v2_usd: v2_minutes * prices::CODEPIPELINE_V2_ACTION_MINUTE,
            codepipeline_v1_usd_per_month: prices::CODEPIPELINE_V1_MONTH,
        },
    }
}

/// The action minutes CodePipeline V2 would bill for `execution`: a source action
/// (one minute), the build, and per stage a change set created (one minute) and
/// executed; each action rounded up to a whole minute. The approval is free.
fn codepipeline_minutes(execution: &Execution) -> f64 {
    let whole = |seconds: f64| (seconds / 60.0).ceil().max(1.0);
    let asked = execution.build.requested_at.unwrap_or(execution.created_at);
    let built = execution
        .stages
        .first()
        .and_then(|s| s.started_at)
        .unwrap_or(asked);
    let mut minutes = 1.0 + whole((built - asked).num_milliseconds() as f64 / 1000.0);
    for stage in &execution.stages {
        let began = stage
            .approval
            .as_ref()
            .and_then(|a| a.decision.as_ref())
            .map(|d| d.at)
            .or(stage.started_at);
        let deployed = match (began, stage.finished_at) {
            (Some(began), Some(finished)) => (finished - began).num_milliseconds() as f64 / 1000.0,
            _ => 0.0,
        };
        minutes += 1.0 + whole(deployed);
    }
    minutes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_billed_duration_is_read_off_a_report_line_and_rounded_up() {
        let line =
            "REPORT RequestId: 1\tDuration: 12.2 ms\tBilled Duration: 12.2 ms\tMemory Size: 256 MB";
        assert_eq!(billed_ms(line), Some(13.0));
        assert_eq!(billed_ms("START RequestId: 1"), None);
    }

    #[test]
    fn each_codepipeline_action_is_at_least_a_minute_and_the_approval_wait_is_free() {
        let pipeline = sluice_core::Pipeline::with_default_stages("sluice", "app", "master", "app")
            .expect("a pipeline");
        let pushed = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .expect("a time")
            .with_timezone(&Utc);
        let at = |seconds: i64| pushed + chrono::Duration::seconds(seconds);
        let commit = sluice_core::Commit {
            id: sluice_core::CommitId::parse(&"a".repeat(40)).expect("an id"),
            author: None,
            message: None,
        };
        let mut execution = sluice_core::start(
            &pipeline,
            sluice_core::Push::new("app", "master", commit, pushed),
            pushed,
        )
        .expect("started")
        .execution;
        assert_eq!(execution.stages.len(), 2, "staging and production");
        // Built in 90 s: 2 minutes. Staging deployed in 40 s: 1 + 1.
        execution.stages[0].started_at = Some(at(90));
        execution.stages[0].finished_at = Some(at(130));
        // Production: an hour at the gate, then 2½ minutes after the decision: 1 + 3.
        execution.stages[1].started_at = Some(at(130));
        execution.stages[1].approval = Some(sluice_core::Approval {
            token_sha256: sluice_core::TokenHash::of("token"),
            requested_at: at(140),
            expires_at: at(90_000),
            sent_at: Some(at(141)),
            decision: Some(sluice_core::Decision {
                approved: true,
                by: "someone".into(),
                comment: None,
                at: at(3740),
                by_identity: false,
            }),
        });
        execution.stages[1].finished_at = Some(at(3890));
        // And the source action's minute.
        assert_eq!(codepipeline_minutes(&execution), 1.0 + 2.0 + 2.0 + 4.0);
    }
}
