//! What the tests and the benchmarks read of a running local pipeline: the
//! functions' logs and metrics, the bus's invocations, the fault proxy's counts,
//! the builds, the stored executions, and the application's address as the
//! emulator serves it.

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use sluice_adapters::{ExecutionStore, S3Objects};

use crate::{Local, faults, stack};

/// One line a function logged.
#[derive(Clone, Debug)]
pub struct LogLine {
    /// The function's name in the stack, such as `source`.
    pub function: String,
    /// When it was logged, in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    pub message: String,
}

impl Local {
    /// Lambda invocations the event bus has made, every copy of an event counted.
    pub fn invocations(&self) -> u64 {
        self.bus.invocations()
    }

    /// What the fault-injecting proxy passed and failed, when faults are injected.
    pub async fn fault_stats(&self) -> Result<Option<faults::FaultStats>> {
        match &self.faults {
            Some(proxy) => Ok(Some(proxy.stats().await?)),
            None => Ok(None),
        }
    }

    /// Every line the orchestrator's functions logged, oldest first, as the
    /// emulator's CloudWatch Logs keeps them.
    pub async fn function_logs(&self) -> Result<Vec<LogLine>> {
        self.function_logs_of(&self.options.stack).await
    }

    /// The same, of pipeline `stack` (the first or a sibling).
    pub async fn function_logs_of(&self, stack: &str) -> Result<Vec<LogLine>> {
        let logs = aws_sdk_cloudwatchlogs::Client::new(&self.sdk);
        let prefix = sluice_engine::config::log_group_prefix(stack);
        let groups = logs
            .describe_log_groups()
            .log_group_name_prefix(&prefix)
            .send()
            .await
            .context("cannot list the functions' log groups")?;
        let mut lines = Vec::new();
        for group in groups
            .log_groups()
            .iter()
            .filter_map(|g| g.log_group_name())
        {
            let function = group.strip_prefix(&prefix).unwrap_or(group).to_owned();
            let mut pages = logs
                .filter_log_events()
                .log_group_name(group)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.with_context(|| format!("cannot read the log group {group}"))?;
                lines.extend(page.events().iter().map(|e| LogLine {
                    function: function.clone(),
                    timestamp_ms: e.timestamp().unwrap_or_default(),
                    message: e.message().unwrap_or_default().to_owned(),
                }));
            }
        }
        lines.sort_by_key(|l| l.timestamp_ms);
        Ok(lines)
    }

    /// The CloudWatch Embedded Metric Format documents among the functions' logs: one
    /// or more per invocation.
    pub async fn emf_documents(&self) -> Result<Vec<serde_json::Value>> {
        Ok(self
            .function_logs()
            .await?
            .iter()
            .filter(|l| l.message.contains("\"CloudWatchMetrics\""))
            .filter_map(|l| serde_json::from_str(l.message.trim()).ok())
            .collect())
    }

    /// How many builds the local CodeBuild started for each execution.
    pub fn builds_per_execution(&self) -> HashMap<String, usize> {
        self.builds.per_execution()
    }

    /// The pipeline's state, as `sluice status` reads it.
    pub fn store(&self) -> Result<ExecutionStore<S3Objects>> {
        self.store_of(&self.options.stack)
    }

    /// The application's address in a stage stack, as the emulator serves it: the
    /// stack's one output whose value is an API Gateway or function URL (the first by
    /// name if there are several). Returns the output's name and the address.
    pub async fn application_url(&self, stack: &str) -> Result<(String, String)> {
        let cloudformation = aws_sdk_cloudformation::Client::new(&self.sdk);
        let described = stack::describe(&cloudformation, stack)
            .await?
            .with_context(|| format!("there is no stack {stack}"))?;
        let mut urls: Vec<(String, String)> = described
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .filter(|(_, v)| v.contains(".execute-api.") && v.starts_with("https://"))
            .collect();
        urls.sort();
        let (key, url) = urls.into_iter().next().with_context(|| {
            format!("stack {stack} has no output whose value is an API's https:// address")
        })?;
        Ok((key, emulated_api_url(&url, &self.endpoint)?))
    }
}

/// `https://<api>.execute-api.<region>.amazonaws.com/<stage>/<path>` as the emulator
/// serves it: `<endpoint>/_aws/execute-api/<api>/<stage>/<path>` (as the functions'
/// smoke check calls it).
pub fn emulated_api_url(url: &str, endpoint: &str) -> Result<String> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    if parsed.scheme() != "https" {
        bail!("{url:?} is not an https URL");
    }
    let endpoint = reqwest::Url::parse(endpoint)
        .with_context(|| format!("{endpoint:?} is not the emulator's URL"))?;
    sluice_adapters::probe::emulated_api_url(&parsed, &endpoint)
        .map(String::from)
        .with_context(|| format!("{url:?} is not an API Gateway URL"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_gateway_urls_map_to_the_emulator() {
        let url = emulated_api_url(
            "https://abc123.execute-api.us-east-1.amazonaws.com/Prod/hello",
            "http://127.0.0.1:4566",
        )
        .expect("maps");
        assert_eq!(
            url,
            "http://127.0.0.1:4566/_aws/execute-api/abc123/Prod/hello"
        );
        assert!(emulated_api_url("http://x/y", "http://127.0.0.1:1").is_err());
    }
}
