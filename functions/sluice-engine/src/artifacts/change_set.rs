//! The change set that deploys a pinned artifact to a stage.

use sluice_adapters::ObjectStore;
use sluice_adapters::caller::dns_suffix;
use sluice_adapters::deployer::{ChangeSetSpec, Template};
use sluice_core::{Execution, StageName};

use crate::config::Config;

use super::boundary::boundary_parameter;
use super::layout::{configuration_path, template_path};
use super::{
    ArtifactError, CONFIGURATION_MAX, TEMPLATE_MAX, TemplateConfiguration, read_pinned, unusable,
    verify,
};

/// CloudFormation's limit for an inline template body.
const TEMPLATE_BODY_MAX: usize = 51_200;

/// The change set that deploys `execution`'s pinned artifact to `stage`, after
/// checking that no object of it changed since the build.
pub async fn change_set_spec<O: ObjectStore>(
    objects: &O,
    config: &Config,
    execution: &Execution,
    stage: &StageName,
) -> Result<ChangeSetSpec, ArtifactError> {
    let artifact = verify(objects, config, execution).await?;
    let path = template_path(config);
    let Some(template) = &artifact.template else {
        return Err(unusable(format!(
            "the build left no {path}, and this stage deploys a stack; the buildspec must \
             package the template to {path} (the definition's build.template) and list it \
             as an artifact"
        )));
    };
    let body = read_pinned(objects, config, template, TEMPLATE_MAX).await?;
    let text = String::from_utf8(body)
        .map_err(|_| unusable(format!("the release's {path} is not UTF-8 text")))?;
    let boundary = execution
        .stage(stage)
        .and_then(|s| s.boundary_arn.as_deref());
    let boundary = boundary_parameter(&text, stage, boundary)?;
    let template = if text.len() <= TEMPLATE_BODY_MAX {
        Template::Body(text)
    } else {
        Template::Url(crate::release::object_url(
            &config.bucket,
            &config.region,
            dns_suffix(&config.region),
            &template.key,
            template.version.as_deref(),
        ))
    };
    let configuration = match artifact.configuration(stage) {
        None => TemplateConfiguration::default(),
        Some(object) => {
            let body = read_pinned(objects, config, object, CONFIGURATION_MAX).await?;
            let path = configuration_path(config, stage);
            let stack = execution.stage(stage).map_or("", |s| s.stack_name.as_str());
            TemplateConfiguration::parse(&body, &path)?.deployable(&path, stack)?
        }
    };
    let summary = execution
        .commit
        .message
        .as_deref()
        .and_then(|m| m.lines().next())
        .unwrap_or_default();
    let description: String = format!(
        "Sluice {} {}: {summary}",
        execution.id,
        execution.commit.id.short()
    )
    .chars()
    .take(1024)
    .collect();
    let mut parameters = configuration.parameters;
    // The stage's boundary, not whatever the configuration says: the execution role
    // creates roles under no other.
    parameters.extend(boundary);
    Ok(ChangeSetSpec {
        change_set_name: execution.change_set_name(stage),
        template,
        parameters,
        tags: configuration.tags,
        execution_role_arn: execution
            .stage(stage)
            .and_then(|s| s.execution_role_arn.clone()),
        description,
    })
}
