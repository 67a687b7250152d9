//! The Sluice stack and the configuration its functions run with.

use anyhow::{Context, Result, anyhow};
use aws_config::SdkConfig;
use sluice_adapters::aws::chain;
use sluice_engine::config::Config;

use super::finding::Finding;

/// The Sluice stack, as CloudFormation describes it.
pub(super) struct Stack {
    name: String,
    status: String,
    pub(super) topic: Option<String>,
    pub(super) stages: Vec<String>,
    pub(super) remote: Vec<String>,
}

impl Stack {
    pub(super) async fn read(sdk: &SdkConfig, pipeline: &str) -> Result<Self> {
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "(no region)".into());
        let out = aws_sdk_cloudformation::Client::new(sdk)
            .describe_stacks()
            .stack_name(pipeline)
            .send()
            .await
            .map_err(|e| anyhow!(chain(&e)))
            .with_context(|| {
                format!(
                    "cannot read the Sluice stack {pipeline} in {region}: check SLUICE_PIPELINE \
                     (the stack's name), AWS_REGION, and that your credentials hold the \
                     stack's OperatorPolicy"
                )
            })?;
        let stack = out
            .stacks()
            .first()
            .with_context(|| format!("there is no stack {pipeline} in {region}"))?;
        let parameter = |key: &str| {
            stack
                .parameters()
                .iter()
                .find(|p| p.parameter_key() == Some(key))
                .and_then(|p| p.parameter_value())
                .unwrap_or_default()
                .to_owned()
        };
        let list = |key: &str| -> Vec<String> {
            parameter(key)
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        Ok(Self {
            name: pipeline.to_owned(),
            status: stack
                .stack_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            topic: stack
                .outputs()
                .iter()
                .find(|o| o.output_key() == Some("NotificationTopicArn"))
                .and_then(|o| o.output_value())
                .map(str::to_owned),
            stages: list("Stages"),
            remote: list("RemoteStages")
                .into_iter()
                .filter_map(|s| s.split_once('=').map(|(stage, _)| stage.to_owned()))
                .collect(),
        })
    }

    pub(super) fn finding(&self) -> Finding {
        let settled = self.status.ends_with("_COMPLETE")
            && !self.status.contains("ROLLBACK")
            && !self.status.starts_with("DELETE");
        if settled {
            Finding::ok("stack", format!("{} is {}", self.name, self.status))
        } else {
            Finding::problem(
                "stack",
                format!("{} is {}", self.name, self.status),
                "read its events (aws cloudformation describe-stack-events --stack-name \
                 <name>) for the first failure, fix it, and deploy again",
            )
        }
    }
}

/// The configuration the functions run with, from the deploy function's environment,
/// read and checked as the functions read it.
pub(super) async fn function_config(sdk: &SdkConfig, pipeline: &str) -> Result<Config> {
    let function = format!("sluice-{pipeline}-deploy");
    let out = aws_sdk_lambda::Client::new(sdk)
        .get_function_configuration()
        .function_name(&function)
        .send()
        .await
        .map_err(|e| anyhow!(chain(&e)))
        .with_context(|| format!("cannot read the configuration of {function}"))?;
    let variables = out
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default();
    Config::from_lookup(|name| variables.get(name).cloned())
        .map_err(|e| anyhow!(chain(&e)))
        .with_context(|| format!("{function}'s environment"))
}
