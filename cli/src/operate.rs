//! Sending an operator command (`sluice approve`, `reject`, `resend`, `release`,
//! `retry`, `cancel`) to the pipeline's operator function, with a proof of who you
//! are that STS checks there.

use std::time::SystemTime;

use anyhow::{Context, Result, anyhow, bail};
use aws_credential_types::provider::ProvideCredentials;
use sluice_adapters::caller::{sign_proof, sts_endpoint};
use sluice_adapters::commits::{CodeCommit, CommitReader};
use sluice_adapters::{ExecutionStore, S3Objects};
use sluice_core::history;
use sluice_engine::operator::{Action, Answer, Decide, OperatorCommand, Release, Resend, Rollback};

/// The function that takes `action` for `pipeline`: approvals go to the approvers'
/// function (which operators may call too), everything else to the operators'.
pub fn function_for(pipeline: &str, action: &Action) -> String {
    match action {
        Action::Approve(_) | Action::Reject(_) => format!("sluice-{pipeline}-approver"),
        _ => format!("sluice-{pipeline}-operator"),
    }
}

/// Signs `action` as the caller of `sdk`'s credentials and has `function` carry it out.
pub async fn send(
    sdk: &aws_config::SdkConfig,
    pipeline: &str,
    function: &str,
    action: Action,
) -> Result<Answer> {
    let command =
        serde_json::to_string(&OperatorCommand::new(pipeline, action, chrono::Utc::now()))?;
    let region = sdk
        .region()
        .context("no AWS region: set AWS_REGION (the Sluice stack's region)")?
        .to_string();
    let credentials = sdk
        .credentials_provider()
        .context("no AWS credentials: configure them as for the AWS CLI")?
        .provide_credentials()
        .await
        .context("cannot read your AWS credentials")?;
    // The function sends the proof to the STS it is configured for; sign for the same.
    let endpoint = match sdk.endpoint_url() {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => sts_endpoint(&region, |k| std::env::var(k).ok()),
    };
    let proof = sign_proof(
        credentials,
        &region,
        &endpoint,
        command.as_bytes(),
        SystemTime::now(),
    )?;
    let payload = serde_json::json!({ "command": command, "proof": proof });
    let lambda = aws_sdk_lambda::Client::new(sdk);
    let out = lambda
        .invoke()
        .function_name(function)
        .payload(aws_sdk_lambda::primitives::Blob::new(serde_json::to_vec(
            &payload,
        )?))
        .send()
        .await
        .map_err(|e| anyhow!(sluice_adapters::aws::chain(&e)))
        .with_context(|| {
            format!(
                "cannot call Sluice's function {function}: check that SLUICE_PIPELINE names the \
                 Sluice stack and that you hold its OperatorPolicy or ApproverPolicy"
            )
        })?;
    let body = out.payload().map(|b| b.as_ref()).unwrap_or_default();
    if let Some(error) = out.function_error() {
        let message = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                v.get("errorMessage")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
        bail!("Sluice's function {function} failed ({error}): {message}");
    }
    serde_json::from_slice(body).with_context(|| {
        format!(
            "Sluice's function {function} answered something else than a command's outcome: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        )
    })
}

/// What `action` leaves for [`explicit_targets`] to find in the pipeline's state, if
/// anything, and how to name it instead: "the stage at its gate, or name it with --stage".
pub fn needs_state(action: &Action) -> Option<&'static str> {
    match action {
        Action::Approve(Decide { stage: None, .. })
        | Action::Reject(Decide { stage: None, .. })
        | Action::Resend(Resend { stage: None, .. }) => {
            Some("the stage waiting at its gate (or name it with --stage)")
        }
        Action::Rollback(Rollback { to: None, .. }) => {
            Some("the release to roll back to (or name it with --to EXECUTION)")
        }
        _ => None,
    }
}

/// Names what a command given without it is about, as the state and CodeCommit say
/// now: the stage waiting at its gate (approve, reject, resend), the release to roll
/// back to, the commit to release. Signed with it, a command cannot come to mean
/// something else when it arrives (a later gate, a newer release, a newer head).
pub async fn explicit_targets(
    action: &mut Action,
    store: impl FnOnce() -> Result<ExecutionStore<S3Objects>>,
    pipeline: &str,
    sdk: &aws_config::SdkConfig,
) -> Result<()> {
    match action {
        Action::Approve(Decide {
            execution,
            stage: stage @ None,
            ..
        })
        | Action::Reject(Decide {
            execution,
            stage: stage @ None,
            ..
        })
        | Action::Resend(Resend {
            execution,
            stage: stage @ None,
        }) => {
            let found = store()
                .context("or name the stage with --stage")?
                .load(execution)
                .await?
                .with_context(|| format!("pipeline {pipeline} has no execution {execution}"))?;
            match sluice_engine::operator::at_gate(&found, None) {
                Ok(name) => *stage = Some(name),
                Err(refused) => bail!("{}", refused.message),
            }
        }
        Action::Rollback(Rollback {
            stage,
            to: to @ None,
        }) => {
            let recent = store()
                .context("or name the release with --to EXECUTION")?
                .recent(history::RECENT)
                .await?;
            let target = history::rollback_target(&recent, stage)?;
            *to = Some(target.id.clone());
        }
        Action::Release(Release {
            commit: commit @ None,
        }) => {
            let (repository, branch) = followed_branch(sdk, pipeline).await?;
            let head = CodeCommit::new(aws_sdk_codecommit::Client::new(sdk))
                .branch_head(&repository, &branch)
                .await
                .map_err(|e| anyhow!(sluice_adapters::aws::chain(&e)))
                .with_context(|| {
                    format!(
                        "cannot read where branch {branch} of {repository} points (CodeCommit \
                         GetBranch); or name the commit: `sluice release $(git rev-parse HEAD)`"
                    )
                })?
                .with_context(|| {
                    format!("branch {branch} of {repository} has no commits yet; push to it first")
                })?;
            let head = sluice_core::CommitId::parse(&head).with_context(|| {
                format!("CodeCommit named {head:?} the head of {branch}, which is not a commit id")
            })?;
            *commit = Some(head);
        }
        _ => {}
    }
    Ok(())
}

/// The repository and branch the Sluice stack named `pipeline` delivers, from its
/// parameters.
async fn followed_branch(sdk: &aws_config::SdkConfig, pipeline: &str) -> Result<(String, String)> {
    let stacks = aws_sdk_cloudformation::Client::new(sdk)
        .describe_stacks()
        .stack_name(pipeline)
        .send()
        .await
        .map_err(|e| anyhow!(sluice_adapters::aws::chain(&e)))
        .with_context(|| {
            format!(
                "cannot read the Sluice stack {pipeline}'s parameters to find the branch it \
                 delivers; check SLUICE_PIPELINE, or name the commit: `sluice release COMMIT`"
            )
        })?;
    let parameter = |key: &str| {
        stacks
            .stacks()
            .first()
            .into_iter()
            .flat_map(|s| s.parameters())
            .find(|p| p.parameter_key() == Some(key))
            .and_then(|p| p.parameter_value())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .with_context(|| {
                format!("the Sluice stack {pipeline} has no parameter {key}; is it a Sluice stack?")
            })
    };
    Ok((parameter("RepositoryName")?, parameter("BranchName")?))
}
