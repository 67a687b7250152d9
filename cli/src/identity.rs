//! Who is calling AWS, as AWS knows them.

use anyhow::{Context, Result, anyhow};

/// The caller's ARN, as `aws sts get-caller-identity` prints it.
pub async fn caller(sdk: &aws_config::SdkConfig) -> Result<String> {
    sluice_adapters::aws::caller_arn(sdk)
        .await
        .map_err(|e| anyhow!(sluice_adapters::aws::chain(&e)))
        .context("cannot tell who you are (STS GetCallerIdentity); check your AWS credentials")
}
