//! The orchestrator deployed into the emulator: packaged, wired to local mode by the
//! overlay ([`stack::Wiring`]: its endpoints, its approval page and its clock) and
//! created or updated through CloudFormation, one stack per pipeline.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};

use crate::{Local, Sibling, stack};

impl Local {
    /// Packages the orchestrator and deploys the first pipeline's stack; returns the
    /// packaged template, for the siblings, and who deployed it.
    pub(crate) async fn deploy(&mut self) -> Result<(serde_yaml_ng::Value, String)> {
        let template_path = self.options.workspace.join("template.yaml");
        let text = std::fs::read_to_string(&template_path)
            .with_context(|| format!("cannot read {}", template_path.display()))?;
        let s3 = sluice_adapters::aws::s3_client(&self.sdk);
        let packaged = stack::package(
            &text,
            &self.options.workspace,
            self.options.function_build,
            &s3,
            &self.console,
        )
        .await?;
        // Whoever deploys the stack is the one principal that may change its bucket's policy.
        let administrator = sluice_adapters::aws::caller_arn(&self.sdk)
            .await
            .map_err(|e| anyhow!(sluice_adapters::aws::chain(&e)))
            .context("the emulator's STS cannot say who deploys the stack")?;
        let first = self.options.first_pipeline();
        let driver_url = self.driver_url.clone();
        self.outputs = self
            .deploy_pipeline(&first, &driver_url, &packaged, &administrator)
            .await?;
        Ok((packaged, administrator))
    }

    /// Deploys pipeline `pipeline`'s Sluice stack from the packaged template, its
    /// functions calling the driver at `driver_url`; returns the stack's outputs.
    pub(crate) async fn deploy_pipeline(
        &self,
        pipeline: &Sibling,
        driver_url: &str,
        packaged: &serde_yaml_ng::Value,
        administrator: &str,
    ) -> Result<HashMap<String, String>> {
        let cloudformation = aws_sdk_cloudformation::Client::new(&self.sdk);
        // The pipeline as its definition says it: the stack's parameters are the
        // definition's, as `sluice definition parameters` writes them for AWS.
        let definition = self.options.definition_of(pipeline)?;
        let mut parameters = definition
            .parameters()
            .with_context(|| format!("pipeline {} cannot be deployed", pipeline.stack))?;
        parameters.push(("AdministratorArn", administrator.to_owned()));
        let clock_file = self.clock_file();
        let wiring = stack::Wiring {
            driver_url,
            clock_file: &clock_file,
            api_endpoint: &self.endpoint,
        };
        let s3 = sluice_adapters::aws::s3_client(&self.sdk);
        let template_url = wiring.upload(packaged, &s3).await?;
        stack::deploy(
            &cloudformation,
            &pipeline.stack,
            &template_url,
            &parameters,
            &self.console,
        )
        .await
    }

    /// The file the functions' clock reads how far ahead it runs from.
    pub(crate) fn clock_file(&self) -> PathBuf {
        self.options.state.join("clock")
    }

    /// Moves the functions' clock to `at`: from now on they read the time as if this
    /// machine's clock had been at `at` now. Local mode's way to reach a deployment
    /// window; the emulator and the builds keep this machine's time.
    pub fn set_clock(&self, at: sluice_core::Timestamp) -> Result<()> {
        let ahead = (at - chrono::Utc::now()).num_seconds();
        let path = self.clock_file();
        std::fs::write(&path, format!("{ahead}\n"))
            .with_context(|| format!("cannot write {}", path.display()))?;
        self.console.say(
            "local",
            format!(
                "the functions' clock now reads {}",
                at.format("%a %Y-%m-%d %H:%M UTC")
            ),
        );
        Ok(())
    }
}
