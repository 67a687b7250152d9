//! Each stack stage's template configuration, pinned with the release: found where
//! the definition says, read and checked, or the pin fails naming the path it
//! looked for, where the build meant the stage to have one.
//!
//! The pin expects a stage's configuration when the definition names where the
//! configurations are (`build.configuration` other than `{stage}.json`), or when the
//! build left a template configuration of its file name elsewhere in the artifact
//! (listed without `discard-paths`). Otherwise a stage without one deploys with the
//! template's defaults, as an application without configurations means it to.

use sluice_adapters::ObjectStore;
use sluice_core::{ArtifactObject, Execution, StageName};

use super::layout::{
    STAGE, Upload, configuration_path, configuration_pattern, configurations_required, file_name,
    pattern_for,
};
use super::pin::Releases;
use super::{ArtifactError, CONFIGURATION_MAX, TemplateConfiguration, s3_url, unusable};

/// Most files of a configuration's name read to find one left elsewhere.
const CANDIDATES_MAX: usize = 5;

/// The configuration of each stage of `execution` that deploys a stack, from the
/// build's upload at `prefix` into the release: checked to be one Sluice deploys as
/// it says, and copied as it was read.
pub(super) async fn pin_configurations<O: ObjectStore>(
    releases: &Releases<'_, O>,
    upload: &mut Upload<'_, O>,
    execution: &Execution,
    prefix: &str,
) -> Result<Vec<(StageName, ArtifactObject)>, ArtifactError> {
    let (objects, config) = (releases.objects, releases.config);
    let stacks: Vec<_> = execution
        .stages
        .iter()
        .filter(|s| s.site.is_none())
        .collect();
    let paths: Vec<String> = stacks
        .iter()
        .map(|s| configuration_path(config, &s.name))
        .collect();
    let mut pinned = Vec::new();
    for (stage, path) in stacks.iter().zip(&paths) {
        let key = format!("{prefix}{path}");
        let Some(version) = objects.head(&key).await? else {
            missing(releases, upload, &stage.name, path, &key, &paths).await?;
            continue;
        };
        let Some((body, _)) = objects
            .read(&key, version.id.as_deref(), CONFIGURATION_MAX)
            .await?
        else {
            return Err(unusable(format!(
                "{} disappeared while the artifact was recorded",
                s3_url(config, &key)
            )));
        };
        if body.len() > CONFIGURATION_MAX {
            return Err(unusable(format!(
                "{path} is larger than {} KB; a template configuration is a few parameters \
                 and tags",
                CONFIGURATION_MAX / 1024
            )));
        }
        TemplateConfiguration::parse(&body, path)?.deployable(path, &stage.stack_name)?;
        // The bytes just checked, not whatever the upload holds by now.
        pinned.push((stage.name.clone(), releases.write(body).await?));
    }
    Ok(pinned)
}

/// Fails when the build left no configuration of `stage` at `path` (its `key`) but
/// was expected to: the definition names where they are, or a template
/// configuration of its file name is elsewhere in the artifact, other than another
/// stage's of `paths`.
async fn missing<O: ObjectStore>(
    releases: &Releases<'_, O>,
    upload: &mut Upload<'_, O>,
    stage: &StageName,
    path: &str,
    key: &str,
    paths: &[String],
) -> Result<(), ArtifactError> {
    let config = releases.config;
    let pattern = configuration_pattern(config);
    // A file name without the stage's (`{stage}/config.json`) could be any stage's.
    let elsewhere = if file_name(pattern).contains(STAGE) {
        let candidates = upload.elsewhere(path, paths).await?;
        configuration_among(releases, upload.prefix(), &candidates).await?
    } else {
        None
    };
    let at = s3_url(config, key);
    match elsewhere {
        Some(found) => {
            let suggested = pattern_for(config, &found)
                .map(|p| format!(", or set build.configuration: {p} in the definition"))
                .unwrap_or_default();
            Err(unusable(format!(
                "the build left {found} but no {path} ({at}), where the definition's \
                 build.configuration ({pattern}) puts the {stage} stage's template \
                 configuration, and Sluice does not deploy {stage} without it. List it in the buildspec's artifacts with `discard-paths: yes` (or a \
                 base-directory that leaves it at {path}){suggested}"
            )))
        }
        None if configurations_required(config) => Err(unusable(format!(
            "the build left no {path} ({at}): the definition's build.configuration \
             ({pattern}) names where each stage's template configuration is, so every stage \
             that deploys a stack needs one, and the {stage} stage has none. The buildspec \
             must leave it and list it in its artifacts"
        ))),
        None => Ok(()),
    }
}

/// The first of `candidates` (paths in the upload at `prefix`) that is a template
/// configuration: a file of the same name that the application reads itself (Node's
/// `config` package reads `config/production.json`) is none, and does not stop the
/// pin.
async fn configuration_among<O: ObjectStore>(
    releases: &Releases<'_, O>,
    prefix: &str,
    candidates: &[String],
) -> Result<Option<String>, ArtifactError> {
    for path in candidates.iter().take(CANDIDATES_MAX) {
        let key = format!("{prefix}{path}");
        let Some((body, _)) = releases.objects.read(&key, None, CONFIGURATION_MAX).await? else {
            continue;
        };
        if body.len() <= CONFIGURATION_MAX && TemplateConfiguration::parse(&body, path).is_ok() {
            return Ok(Some(path.clone()));
        }
    }
    Ok(None)
}
