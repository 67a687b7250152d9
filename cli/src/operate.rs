//! Sending an operator command (`sluice approve`, `reject`, `resend`, `release`,
//! `retry`, `cancel`) to the pipeline's operator function, with a proof of who you
//! are that STS checks there.

use std::time::SystemTime;

use anyhow::{Context, Result, anyhow, bail};
use aws_credential_types::provider::ProvideCredentials;
use sluice_adapters::caller::{sign_proof, sts_endpoint};
use sluice_engine::operator::{Action, Answer, OperatorCommand};

/// The function that takes `action` for `pipeline`: approvals go to the approvers'
/// function (which operators may call too), everything else to the operators'.
pub fn function_for(pipeline: &str, action: &Action) -> String {
    match action {
        Action::Approve { .. } | Action::Reject { .. } => format!("sluice-{pipeline}-approver"),
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
