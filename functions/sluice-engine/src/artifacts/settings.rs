//! The parameters and tags a deploy changes, from each release's configuration of
//! the stage.

use std::collections::BTreeMap;

use serde_yaml_ng::Value as Yaml;
use sluice_adapters::ObjectStore;
use sluice_core::{Execution, SettingChange, SettingKind, StageName};

use crate::config::Config;

use super::layout::configuration_path;
use super::{ArtifactError, CONFIGURATION_MAX, TEMPLATE_MAX, TemplateConfiguration, read_pinned};

/// The configuration of `stage` in `execution`'s release: empty if it has none.
async fn stage_configuration<O: ObjectStore>(
    objects: &O,
    config: &Config,
    execution: &Execution,
    stage: &StageName,
) -> Result<TemplateConfiguration, ArtifactError> {
    let Some(object) = execution
        .artifact
        .as_ref()
        .and_then(|a| a.configuration(stage))
    else {
        return Ok(TemplateConfiguration::default());
    };
    let body = read_pinned(objects, config, object, CONFIGURATION_MAX).await?;
    TemplateConfiguration::parse(&body, &configuration_path(config, stage))
}

/// The parameters and tags of `stage` that deploying `execution` changes, from the
/// stage's configuration in the release `live` there now (none: every value is new)
/// to `execution`'s. A parameter the template marks `NoEcho` shows whether it changes,
/// never its values.
pub async fn settings_changes<O: ObjectStore>(
    objects: &O,
    config: &Config,
    execution: &Execution,
    live: Option<&Execution>,
    stage: &StageName,
) -> Result<Vec<SettingChange>, ArtifactError> {
    let new = stage_configuration(objects, config, execution, stage).await?;
    let old = match live {
        Some(live) => stage_configuration(objects, config, live, stage).await?,
        None => TemplateConfiguration::default(),
    };
    let secret = match execution
        .artifact
        .as_ref()
        .and_then(|a| a.template.as_ref())
    {
        Some(template) => {
            let body = read_pinned(objects, config, template, TEMPLATE_MAX).await?;
            no_echo_parameters(&String::from_utf8_lossy(&body))
        }
        None => Vec::new(),
    };
    let mut changes = diff(SettingKind::Parameter, &old.parameters, &new.parameters);
    for change in &mut changes {
        if secret.contains(&change.key) {
            change.old = change.old.as_ref().map(|_| "(NoEcho)".to_owned());
            change.new = change.new.as_ref().map(|_| "(NoEcho)".to_owned());
        }
    }
    changes.extend(diff(SettingKind::Tag, &old.tags, &new.tags));
    Ok(changes)
}

/// The keys whose values differ between `old` and `new`, in key order.
fn diff(
    kind: SettingKind,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Vec<SettingChange> {
    let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .map(|k| SettingChange {
            kind,
            key: k.clone(),
            old: old.get(k).cloned(),
            new: new.get(k).cloned(),
        })
        .collect()
}

/// The template's parameters marked `NoEcho: true`.
fn no_echo_parameters(template: &str) -> Vec<String> {
    let Ok(parsed) = serde_yaml_ng::from_str::<Yaml>(template) else {
        return Vec::new();
    };
    let Some(parameters) = parsed.get("Parameters").and_then(Yaml::as_mapping) else {
        return Vec::new();
    };
    parameters
        .iter()
        .filter(|(_, p)| {
            let flag = p.get("NoEcho");
            flag.and_then(Yaml::as_bool) == Some(true)
                || flag
                    .and_then(Yaml::as_str)
                    .is_some_and(|s| s.eq_ignore_ascii_case("true"))
        })
        .filter_map(|(k, _)| k.as_str().map(str::to_owned))
        .collect()
}
