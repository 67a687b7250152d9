//! Who is calling AWS, as AWS knows them.

use anyhow::{Context, Result, anyhow};

/// The caller's ARN, as `aws sts get-caller-identity` prints it.
pub async fn caller(sdk: &aws_config::SdkConfig) -> Result<String> {
    let identity = aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| anyhow!(sluice_adapters::aws::chain(&e)))
        .context("cannot tell who you are (STS GetCallerIdentity); check your AWS credentials")?;
    identity
        .arn
        .context("STS GetCallerIdentity answered without an ARN")
}
