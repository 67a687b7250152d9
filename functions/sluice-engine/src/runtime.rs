//! What every function's `main` shares: the AWS-backed engine, built once, and how a
//! handler's result becomes Lambda's answer.

use std::sync::Arc;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use sluice_adapters::aws::{CountCalls, chain, s3_client};
use sluice_adapters::builder::{Builder, CodeBuild};
use sluice_adapters::commits::{CodeCommit, CommitReader};
use sluice_adapters::deployer::{CloudFormation, Deployer};
use sluice_adapters::notifier::Sns;
use sluice_adapters::probe::HttpProber;
use sluice_adapters::{S3Objects, Unavailable};

use crate::config::{Config, ConfigProblem};
use crate::engine::{Adapters, Clock, Engine, Parts};
use crate::error::EngineError;

/// A capability built from the SDK's configuration, or left out (`Unavailable`).
pub trait FromSdk {
    fn from_sdk(sdk: &aws_config::SdkConfig) -> Self;
}

impl FromSdk for CodeBuild {
    fn from_sdk(sdk: &aws_config::SdkConfig) -> Self {
        CodeBuild::new(aws_sdk_codebuild::Client::from_conf(
            aws_sdk_codebuild::config::Builder::from(sdk)
                .interceptor(CountCalls)
                .build(),
        ))
    }
}

impl FromSdk for CloudFormation {
    fn from_sdk(sdk: &aws_config::SdkConfig) -> Self {
        CloudFormation::new(sdk)
    }
}

impl FromSdk for CodeCommit {
    fn from_sdk(sdk: &aws_config::SdkConfig) -> Self {
        CodeCommit::new(aws_sdk_codecommit::Client::from_conf(
            aws_sdk_codecommit::config::Builder::from(sdk)
                .interceptor(CountCalls)
                .build(),
        ))
    }
}

impl FromSdk for Unavailable {
    fn from_sdk(_: &aws_config::SdkConfig) -> Self {
        Unavailable
    }
}

/// The real AWS services, with the builder `B`, deployer `D` and commit reader `C` a
/// function needs; each of them may be `Unavailable`.
pub struct Aws<B, D, C>(std::marker::PhantomData<(B, D, C)>);

impl<B: Builder, D: Deployer, C: CommitReader> Adapters for Aws<B, D, C> {
    type Objects = S3Objects;
    type Builder = B;
    type Deployer = D;
    type Notifier = Sns;
    type Commits = C;
    type Prober = HttpProber;
}

/// The engine over the real AWS services (see [`Aws`]).
pub type AwsEngine<B, D, C> = Engine<Aws<B, D, C>>;

/// The source function's: it reads the branch and starts builds; it deploys nothing.
pub type SourceEngine = AwsEngine<CodeBuild, Unavailable, CodeCommit>;

/// The build, deploy and approval functions': they deploy and notify, and read the
/// commits a gate lists for its approver; they start no build.
pub type StageEngine = AwsEngine<Unavailable, CloudFormation, CodeCommit>;

/// The sweeper's: it asks again for anything that was lost, builds and gates included.
pub type SweeperEngine = AwsEngine<CodeBuild, CloudFormation, CodeCommit>;

/// The operator function's: a release or retry starts a build, a cancel stops one, a
/// release reads the branch; decisions deploy.
pub type OperatorEngine = AwsEngine<CodeBuild, CloudFormation, CodeCommit>;

/// The approval function's engine, built on its first request.
pub type LazyStageEngine = LazyEngine<Unavailable, CloudFormation, CodeCommit>;

/// The sweeper's engine, built on its first run.
pub type LazySweeperEngine = LazyEngine<CodeBuild, CloudFormation, CodeCommit>;

/// A function's engine: its configuration, read and checked when the function starts,
/// and its AWS clients, built on the first event and kept for every later one.
///
/// Building the clients means loading the SDK's configuration and the trusted CA
/// certificates; left to the first event, that work is no longer between the process
/// starting and Lambda's first poll, and the operator function refuses a request that
/// is not a signed command before it builds them. `make bench` shows both times.
pub struct LazyEngine<B: Builder, D: Deployer, C: CommitReader> {
    config: Config,
    /// Local mode's clock, if it set one (see [`clock_from_env`]).
    clock: Option<Clock>,
    /// Local mode's smoke check, if it set one (see [`prober_from_env`]).
    prober: Option<HttpProber>,
    engine: tokio::sync::OnceCell<AwsEngine<B, D, C>>,
}

impl<B, D, C> LazyEngine<B, D, C>
where
    B: Builder + FromSdk,
    D: Deployer + FromSdk,
    C: CommitReader + FromSdk,
{
    /// Reads and checks the configuration (the function's environment), and installs
    /// the metrics recorder: a function that cannot work fails at start, saying why.
    pub fn from_env() -> Result<Self, ConfigProblem> {
        let config = Config::from_env()?;
        let clock = clock_from_env(|name| std::env::var(name).ok())?;
        let prober = prober_from_env(|name| std::env::var(name).ok())?;
        crate::measure::install(&config.pipeline.name);
        Ok(Self {
            config,
            clock,
            prober,
            engine: tokio::sync::OnceCell::new(),
        })
    }

    /// The engine, with its clients built the first time (logged with the time it took).
    pub async fn get(&self) -> &AwsEngine<B, D, C> {
        self.engine
            .get_or_init(|| async {
                let began = std::time::Instant::now();
                let engine = aws_engine(self.config.clone(), self.prober.clone()).await;
                let engine = match &self.clock {
                    Some(clock) => engine.with_clock(clock.clone()),
                    None => engine,
                };
                tracing::info!(
                    took_us = began.elapsed().as_micros() as u64,
                    "AWS clients built"
                );
                engine
            })
            .await
    }
}

/// The engine for `config` over the real AWS services, its clients sharing one HTTPS
/// client. `AWS_ENDPOINT_URL` (and the per-service variants) point them at the local
/// emulator when set.
pub async fn aws_engine<B, D, C>(config: Config, prober: Option<HttpProber>) -> AwsEngine<B, D, C>
where
    B: Builder + FromSdk,
    D: Deployer + FromSdk,
    C: CommitReader + FromSdk,
{
    let sdk = sluice_adapters::aws::sdk_config().await;
    let prober = prober.unwrap_or_default();
    let objects = S3Objects::new(s3_client(&sdk), config.bucket.clone());
    let sns = aws_sdk_sns::config::Builder::from(&sdk)
        .interceptor(CountCalls)
        .build();
    let notifier = Sns::new(
        aws_sdk_sns::Client::from_conf(sns),
        config.topic_arn.clone(),
    );
    Engine::new(
        config,
        Parts {
            objects,
            builder: B::from_sdk(&sdk),
            deployer: D::from_sdk(&sdk),
            notifier,
            commits: C::from_sdk(&sdk),
            prober,
        },
    )
}

/// A seam for `sluice local` only, kept here at the function's edge (the engine takes
/// any [`Clock`]): `SLUICE_LOCAL_CLOCK_FILE`, which local mode's copy of the template
/// sets, names a file holding how many whole seconds the clock runs ahead of the
/// system's, read at each look so that its tests can reach a deployment window. Unset
/// (as in AWS), the engine keeps the system clock.
pub fn clock_from_env(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<Clock>, ConfigProblem> {
    const NAME: &str = "SLUICE_LOCAL_CLOCK_FILE";
    let Some(file) = get(NAME)
        .filter(|v| !v.trim().is_empty())
        .map(std::path::PathBuf::from)
    else {
        return Ok(None);
    };
    if !file.is_absolute() {
        return Err(ConfigProblem::Invalid {
            name: NAME,
            reason: format!("{} is not an absolute path", file.display()),
        });
    }
    Ok(Some(Arc::new(move || {
        let ahead = std::fs::read_to_string(&file)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .and_then(chrono::Duration::try_seconds)
            .unwrap_or_default();
        let now = chrono::Utc::now();
        now.checked_add_signed(ahead).unwrap_or(now)
    })))
}

/// The other seam for `sluice local`: `SLUICE_LOCAL_API_ENDPOINT`, which local mode's
/// copy of the template sets, names where the emulator serves API Gateway's
/// addresses, so that the smoke check reaches a stage's API there (see
/// [`HttpProber::serving_apis_at`]). Unset (as in AWS), addresses are called as they
/// are, and only public ones.
pub fn prober_from_env(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<HttpProber>, ConfigProblem> {
    const NAME: &str = "SLUICE_LOCAL_API_ENDPOINT";
    let Some(endpoint) = get(NAME).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    HttpProber::serving_apis_at(endpoint.trim())
        .map(Some)
        .map_err(|reason| ConfigProblem::Invalid { name: NAME, reason })
}

/// A handler failure, as Lambda is told it. Lambda retries the event (twice, as the
/// template sets it) and then hands it, with this message, to the failed-events queue,
/// whose alarm tells the operators. The type says whether a retry could help.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct HandlerFailure {
    pub retryable: bool,
    pub message: String,
}

impl From<HandlerFailure> for Diagnostic {
    fn from(err: HandlerFailure) -> Self {
        Diagnostic {
            error_type: if err.retryable {
                "Sluice.Retryable"
            } else {
                "Sluice.NotRetryable"
            }
            .into(),
            error_message: err.message,
        }
    }
}

/// Maps a handler's result to Lambda's answer. Nothing is acknowledged that was not
/// handled: an event a retry cannot fix still fails, so that it reaches the
/// failed-events queue with its reason instead of vanishing.
pub fn outcome(result: Result<(), EngineError>) -> Result<(), HandlerFailure> {
    result.map_err(|e| HandlerFailure {
        retryable: e.is_retryable(),
        message: chain(&e),
    })
}

/// Which EventBridge events a function handles.
#[derive(Clone, Copy, Debug)]
enum Events {
    /// `CodeCommit Repository State Change`.
    Push,
    /// `CodeBuild Build State Change`.
    Build,
    /// `CloudFormation Stack Status Change`.
    Stack,
}

impl Events {
    /// The function's name in its metrics' `function` dimension.
    fn function(self) -> &'static str {
        match self {
            Events::Push => "source",
            Events::Build => "build",
            Events::Stack => "deploy",
        }
    }
}

/// Whether an event the deploy function receives is an alarm's state change (else a
/// stack's).
pub fn handles_alarm(event: &Value) -> bool {
    event["detail-type"] == "CloudWatch Alarm State Change"
}

/// The source function: pushes start executions.
pub async fn serve_pushes() -> Result<(), lambda_runtime::Error> {
    serve::<CodeBuild, Unavailable, CodeCommit>(Events::Push).await
}

/// The build function: finished builds move executions to their first stage. It asks
/// CodeBuild about a build whose event does not name its execution.
pub async fn serve_builds() -> Result<(), lambda_runtime::Error> {
    serve::<CodeBuild, CloudFormation, CodeCommit>(Events::Build).await
}

/// The deploy function: finished stack updates finish stages, or start their
/// post-deploy tests (builds of the project, which template.yaml lets it start only
/// when there are TestStages).
pub async fn serve_stacks() -> Result<(), lambda_runtime::Error> {
    serve::<CodeBuild, CloudFormation, CodeCommit>(Events::Stack).await
}

/// What `sluice` sends the operator function: the command as the exact text the
/// caller signed, and the proof of who the caller is.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorRequest {
    command: String,
    proof: sluice_adapters::caller::CallerProof,
}

/// The actions an operator function takes, from `SLUICE_OPERATOR_ACTIONS`
/// (comma-separated; every action when unset or empty).
fn allowed_actions(value: Option<&str>) -> Result<Vec<String>, ConfigProblem> {
    use crate::operator::Action;
    let allowed: Vec<String> = match value {
        Some(list) if !list.trim().is_empty() => {
            list.split(',').map(|a| a.trim().to_owned()).collect()
        }
        _ => Action::ALL.iter().map(|a| a.to_string()).collect(),
    };
    if let Some(bad) = allowed.iter().find(|a| !Action::ALL.contains(&a.as_str())) {
        return Err(ConfigProblem::Invalid {
            name: "SLUICE_OPERATOR_ACTIONS",
            reason: format!("{bad:?} is not one of {}", Action::ALL.join(", ")),
        });
    }
    Ok(allowed)
}

/// Whether `caller` (an ARN as STS answers it) belongs to one of `accounts`; if not,
/// what to tell them. STS vouches for any account's identity: only the pipeline's own
/// (and those named in the definition's operator_accounts) may decide here.
fn permitted_caller(caller: &str, accounts: &[&str]) -> Result<(), String> {
    let account = caller.split(':').nth(4).unwrap_or_default();
    if !account.is_empty() && accounts.contains(&account) {
        return Ok(());
    }
    Err(format!(
        "{caller} is an identity of account {account}, and this pipeline takes commands \
         only from account {}; use credentials of that account, or have the administrator \
         add yours to the pipeline definition's operator_accounts",
        accounts.join(" or ")
    ))
}

/// Whether a function taking `allowed` takes `action`; if not, what to tell the caller.
fn permits(allowed: &[String], action: &crate::operator::Action) -> Result<(), String> {
    if allowed.iter().any(|a| a == action.name()) {
        return Ok(());
    }
    Err(format!(
        "this function does not take `{}`; it takes {} (use the operators' function)",
        action.name(),
        allowed.join(", ")
    ))
}

/// The operator function: commands from `sluice approve`, `reject`, `resend`,
/// `release`, `retry` and `cancel`, each from a
/// caller STS vouches for. `SLUICE_OPERATOR_ACTIONS` (comma-separated) limits which it
/// takes: the approvers' function takes `approve,reject` only.
pub async fn serve_operator() -> Result<(), lambda_runtime::Error> {
    use crate::operator::{Answer, OperatorCommand};
    use sluice_adapters::caller::{STS_TIMEOUT, sts_endpoint, sts_http_client};

    lambda_runtime::tracing::init_default_subscriber();
    let allowed = allowed_actions(std::env::var("SLUICE_OPERATOR_ACTIONS").ok().as_deref())?;
    let engine = LazyEngine::<CodeBuild, CloudFormation, CodeCommit>::from_env()?;
    // The accounts besides the pipeline's own whose identities may give commands.
    let also = engine.config.definition.raw().operator_accounts.clone();
    let endpoint = sts_endpoint(&engine.config.region, |k| std::env::var(k).ok());
    // Built on the first command, not at start: TLS roots are read only when needed.
    let http = tokio::sync::OnceCell::new();
    let (engine, endpoint, allowed, http, also) = (&engine, &endpoint, &allowed, &http, &also);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let refuse = |message: String| Ok::<_, HandlerFailure>(Answer::refused(message));
        let request: OperatorRequest = match serde_json::from_value(event.payload) {
            Ok(r) => r,
            Err(e) => return refuse(format!("not a Sluice operator request: {e}")),
        };
        let http = match http
            .get_or_try_init(|| async { sts_http_client(STS_TIMEOUT) })
            .await
        {
            Ok(http) => http,
            Err(e) => {
                return Err(HandlerFailure {
                    retryable: true,
                    message: format!("cannot make an HTTPS client: {e}"),
                });
            }
        };
        let caller = match request
            .proof
            .verify(http, request.command.as_bytes(), endpoint)
            .await
        {
            Ok(arn) => arn,
            Err(e) if e.is_retryable() => {
                return Err(HandlerFailure {
                    retryable: true,
                    message: e.to_string(),
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "caller proof refused");
                return refuse(e.to_string());
            }
        };
        // The pipeline's own account is the one this function runs in.
        let own = event
            .context
            .invoked_function_arn
            .split(':')
            .nth(4)
            .unwrap_or_default();
        let accounts: Vec<&str> = std::iter::once(own)
            .chain(also.iter().map(String::as_str))
            .collect();
        if let Err(why) = permitted_caller(&caller, &accounts) {
            tracing::warn!(%caller, "a command from another account was refused");
            return refuse(why);
        }
        let command: OperatorCommand = match serde_json::from_str(&request.command) {
            Ok(c) => c,
            Err(e) => return refuse(format!("not a Sluice command: {e}")),
        };
        if let Err(why) = permits(allowed, &command.action) {
            return refuse(why);
        }
        if let Some(why) = command.stale(chrono::Utc::now()) {
            return refuse(why);
        }
        let began = chrono::Utc::now();
        let answer = Box::pin(engine.get().await.operate(&caller, command)).await;
        finished("operator", None, began, answer.is_ok());
        answer.map_err(|e| HandlerFailure {
            retryable: e.is_retryable(),
            message: chain(&e),
        })
    }))
    .await
}

/// The whole life of an event-driven function: JSON tracing, configuration and
/// clients built once, then one engine handler per delivered event.
async fn serve<B, D, C>(events: Events) -> Result<(), lambda_runtime::Error>
where
    B: Builder + FromSdk,
    D: Deployer + FromSdk,
    C: CommitReader + FromSdk,
{
    lambda_runtime::tracing::init_default_subscriber();
    let engine = LazyEngine::<B, D, C>::from_env()?;
    let engine = &engine;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let began = chrono::Utc::now();
        let event_time = event_time(&event.payload);
        tracing::info!(
            event = %crate::events::loggable(&event.payload),
            "{}",
            crate::events::RAW_EVENT
        );
        let engine = engine.get().await;
        // Boxed: unboxed, the handler futures nest deeper than rustc's layout limit.
        let handled = match events {
            Events::Push => Box::pin(engine.on_push(event.payload)).await,
            Events::Build => Box::pin(engine.on_build(event.payload)).await,
            // The deploy function also hears watched alarms go into ALARM.
            Events::Stack if handles_alarm(&event.payload) => {
                Box::pin(engine.on_alarm(event.payload)).await
            }
            Events::Stack => Box::pin(engine.on_stack(event.payload)).await,
        };
        let result = outcome(handled);
        finished(events.function(), event_time, began, result.is_ok());
        result
    }))
    .await
}

/// An EventBridge event's own `time`, if it has a valid one.
fn event_time(payload: &Value) -> Option<sluice_core::Timestamp> {
    payload
        .get("time")
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The wall clock, for [`finished`]'s `began`.
pub fn now() -> sluice_core::Timestamp {
    chrono::Utc::now()
}

/// Records one handler run of `function` and writes the invocation's metrics to the
/// log, where CloudWatch reads them.
pub fn finished(
    function: &'static str,
    event_time: Option<sluice_core::Timestamp>,
    began: sluice_core::Timestamp,
    ok: bool,
) {
    crate::measure::handled(function, event_time, began, ok);
    crate::measure::flush(std::io::stdout());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::Action;

    #[test]
    fn local_modes_clock_runs_ahead_by_its_file_and_is_absent_in_aws() {
        assert!(clock_from_env(|_| None).expect("no clock").is_none());
        let relative = clock_from_env(|_| Some("state/clock".into()));
        assert!(matches!(
            relative,
            Err(ConfigProblem::Invalid {
                name: "SLUICE_LOCAL_CLOCK_FILE",
                ..
            })
        ));
        let file = std::env::temp_dir().join(format!("sluice-clock-{}", std::process::id()));
        std::fs::write(&file, "7200\n").expect("write the clock file");
        let path = file.display().to_string();
        let clock = clock_from_env(|_| Some(path.clone()))
            .expect("a clock")
            .expect("set");
        let ahead = clock() - chrono::Utc::now();
        let _ = std::fs::remove_file(&file);
        assert!((7190..=7200).contains(&ahead.num_seconds()), "{ahead:?}");
    }

    #[test]
    fn an_identity_of_another_account_is_refused_unless_the_stack_names_its_account() {
        let ours = "arn:aws:sts::111122223333:assumed-role/ops/olga";
        let theirs = "arn:aws:sts::999988887777:assumed-role/Admin/mallory";
        assert!(permitted_caller(ours, &["111122223333"]).is_ok());
        let why = permitted_caller(theirs, &["111122223333"]).unwrap_err();
        assert!(
            why.contains("account 999988887777") && why.contains("operator_accounts"),
            "{why}"
        );
        assert!(permitted_caller(theirs, &["111122223333", "999988887777"]).is_ok());
        assert!(permitted_caller("not-an-arn", &["111122223333"]).is_err());
        assert!(permitted_caller("not-an-arn", &[""]).is_err());
    }

    #[test]
    fn the_approvers_function_takes_decisions_only_and_a_bad_list_is_named() {
        let approver = allowed_actions(Some("approve, reject")).unwrap();
        let execution = sluice_core::ExecutionId::parse("1765015200000-0123456789ab").unwrap();
        let resend = Action::Resend(crate::operator::Resend {
            execution: execution.clone(),
            stage: None,
        });
        let why = permits(&approver, &resend).unwrap_err();
        assert!(why.contains("does not take `resend`"), "{why}");
        let approve = Action::Approve(crate::operator::Decide {
            execution,
            stage: None,
            comment: None,
        });
        assert!(permits(&approver, &approve).is_ok());
        let operator = allowed_actions(None).unwrap();
        assert!(permits(&operator, &resend).is_ok());
        let err = allowed_actions(Some("approve,deploy")).unwrap_err();
        assert!(err.to_string().contains("SLUICE_OPERATOR_ACTIONS"), "{err}");
    }
}
