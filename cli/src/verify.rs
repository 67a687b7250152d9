//! `sluice verify STAGE`: whether what a stage runs now is byte for byte the release
//! Sluice says is live there: the stack's template is the release's, and each Lambda
//! function's code has the digest the release's manifest recorded for it.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use sluice_adapters::{ObjectStore, S3Objects};
use sluice_core::{Execution, StageName};

/// What the stage runs, resource by resource, against its release.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Each check that held: what was compared.
    pub held: Vec<String>,
    /// Each resource or object that differs, and how.
    pub differs: Vec<String>,
}

/// What a Lambda function runs: `CodeSha256` is the base64 of the SHA-256 of the
/// deployment package; the manifest records it in hex.
pub fn code_sha256_hex(code_sha256: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(code_sha256)
        .ok()?;
    (bytes.len() == 32).then(|| bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compares stage `stage` with its live release.
pub async fn verify(
    sdk: &aws_config::SdkConfig,
    objects: &S3Objects,
    executions: &[Execution],
    stage: &StageName,
) -> Result<(Execution, Report)> {
    let Some(release) = sluice_core::history::live_on(executions, stage) else {
        bail!(
            "no release went live on {stage} among the newest {} executions, so there \
             is nothing to compare it with (`sluice status` shows where each execution got to)",
            sluice_core::history::RECENT
        );
    };
    let artifact = release
        .artifact
        .as_ref()
        .context("the release has no artifact")?;
    let Some(s) = release.stage(stage) else {
        bail!("execution {} has no stage {stage}", release.id);
    };
    if s.site.is_some() {
        bail!("{stage} is a site stage; `sluice verify` compares a stack's template and functions");
    }
    if s.role_arn.is_some() {
        bail!(
            "{stage} deploys into another account; run `sluice verify` with that account's \
             credentials (its deploy role) for now"
        );
    }
    if artifact.manifest.is_none() {
        bail!(
            "the release live on {stage} (execution {}) was built before Sluice made releases \
             with manifests; deliver a newer commit to verify it",
            release.id
        );
    }
    let mut report = Report::default();
    // The release's own copies: still the bytes recorded when it was made.
    for object in artifact.objects().chain(artifact.manifest.iter()) {
        let Some(want) = &object.sha256 else { continue };
        match objects
            .digest(&object.key, object.version.as_deref())
            .await?
        {
            Some((have, _)) if &have == want => {}
            Some((have, _)) => report.differs.push(format!(
                "the release's copy {} is {have}, not the {want} it was made with",
                object.key
            )),
            None => report.differs.push(format!(
                "the release's copy {} (version {}) is gone",
                object.key,
                object.version.as_deref().unwrap_or("-")
            )),
        }
    }
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    let stack = &s.stack_name;
    // The template, as CloudFormation keeps it (before transforms).
    if let Some(template) = &artifact.template {
        let deployed = cfn
            .get_template()
            .stack_name(stack)
            .template_stage(aws_sdk_cloudformation::types::TemplateStage::Original)
            .send()
            .await
            .with_context(|| format!("cannot read the template of stack {stack}"))?;
        let deployed = deployed.template_body().unwrap_or_default();
        let released = objects
            .read(&template.key, template.version.as_deref(), 1024 * 1024)
            .await?
            .map(|(body, _)| String::from_utf8_lossy(&body).into_owned())
            .unwrap_or_default();
        if same_template(deployed, &released) {
            report
                .held
                .push(format!("the template of {stack} is the release's"));
        } else {
            report.differs.push(format!(
                "the template of {stack} is not the release's (updated outside Sluice?)"
            ));
        }
    }
    // Every Lambda function of the stack, by the code it runs.
    let functions: BTreeMap<&str, &str> = artifact
        .functions
        .iter()
        .map(|(id, sha)| (id.as_str(), sha.as_str()))
        .collect();
    let lambda = aws_sdk_lambda::Client::new(sdk);
    let mut pages = cfn
        .list_stack_resources()
        .stack_name(stack)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.with_context(|| format!("cannot list the resources of stack {stack}"))?;
        for resource in page.stack_resource_summaries() {
            if resource.resource_type() != Some("AWS::Lambda::Function") {
                continue;
            }
            let id = resource.logical_resource_id().unwrap_or_default();
            let name = resource.physical_resource_id().unwrap_or_default();
            let got = lambda
                .get_function()
                .function_name(name)
                .send()
                .await
                .with_context(|| format!("cannot read function {name} ({id})"))?;
            let have = got
                .configuration()
                .and_then(|c| c.code_sha256())
                .and_then(code_sha256_hex);
            match (functions.get(id), have) {
                (Some(want), Some(have)) if *want == have => report.held.push(format!(
                    "{id} ({name}) runs the release's code, sha256 {have}"
                )),
                (Some(want), have) => report.differs.push(format!(
                    "{id} ({name}) runs code with sha256 {}, the release has {want}: changed by \
                     hand, or by something other than Sluice",
                    have.as_deref().unwrap_or("unknown")
                )),
                (None, _) => report.differs.push(format!(
                    "{id} ({name}) is not a function of the release: it did not come from Sluice"
                )),
            }
        }
    }
    Ok((release.clone(), report))
}

/// Whether two templates say the same: the same text, or the same document.
fn same_template(deployed: &str, released: &str) -> bool {
    if deployed.trim() == released.trim() {
        return true;
    }
    let parse = |t: &str| serde_yaml_ng::from_str::<serde_yaml_ng::Value>(t).ok();
    matches!((parse(deployed), parse(released)), (Some(a), Some(b)) if a == b)
}

/// The report as a person reads it.
pub fn render(stage: &StageName, release: &Execution, report: &Report) -> String {
    let manifest = release
        .artifact
        .as_ref()
        .and_then(|a| a.manifest.as_ref())
        .and_then(|m| m.sha256.as_deref())
        .unwrap_or("-");
    let mut out = format!(
        "{stage}: release of commit {} (execution {}), manifest sha256 {manifest}\n",
        release.commit.id.short(),
        release.id
    );
    for stage in &release.stages {
        if let Some(d) = stage.approval.as_ref().and_then(|a| a.decision.as_ref())
            && d.approved
        {
            out.push_str(&format!(
                "  approved for {} by {} at {}\n",
                stage.name,
                d.by,
                d.at.format("%Y-%m-%d %H:%M UTC")
            ));
        }
    }
    for held in &report.held {
        out.push_str(&format!("  ok       {held}\n"));
    }
    for differs in &report.differs {
        out.push_str(&format!("  DIFFERS  {differs}\n"));
    }
    if report.differs.is_empty() {
        out.push_str(&format!(
            "verified: {stage} runs exactly the release that was approved\n"
        ));
    } else {
        out.push_str(&format!(
            "NOT VERIFIED: {} between what {stage} runs and its release\n",
            crate::render::counted(report.differs.len(), "difference")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambdas_code_digest_is_read_from_base64() {
        // SHA-256 of the empty string.
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            code_sha256_hex("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=").as_deref(),
            Some(hex)
        );
        assert_eq!(code_sha256_hex("not base64"), None);
        assert_eq!(code_sha256_hex("AAAA"), None);
    }

    #[test]
    fn templates_that_say_the_same_match() {
        assert!(same_template("A: 1\n", "A: 1"));
        assert!(same_template("{\"A\": 1}", "A: 1\n"));
        assert!(!same_template("A: 1\n", "A: 2\n"));
    }
}
