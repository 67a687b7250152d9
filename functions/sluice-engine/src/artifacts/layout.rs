//! Where the build leaves what the stages deploy: the paths inside the artifact that
//! the pipeline's definition names (`build.template` and `build.configuration`,
//! CodePipeline's `TemplatePath` and `TemplateConfiguration`), and, when a file is
//! not there, where else the build left one of its name.

use sluice_adapters::ObjectStore;
use sluice_core::StageName;

use crate::config::Config;

use super::ArtifactError;

/// What stands for the stage's name in `build.configuration`.
pub(super) const STAGE: &str = "{stage}";
/// `build.configuration` when the definition names none.
const DEFAULT_CONFIGURATION: &str = "{stage}.json";
/// Most keys of an upload read when looking for a file left elsewhere: more than a
/// build of a stack leaves, and a bound on the pin's work when it leaves more.
const LISTED_MAX: usize = 10_000;

/// The packaged template's path in the artifact.
pub(super) fn template_path(config: &Config) -> String {
    normal(&config.definition.raw().build.template)
}

/// The path in the artifact of `stage`'s template configuration: what a message
/// about it names.
pub fn configuration_path(config: &Config, stage: &StageName) -> String {
    normal(&configuration_pattern(config).replace(STAGE, stage.as_str()))
}

/// `build.configuration` as the definition writes it, `{stage}` and all.
pub(super) fn configuration_pattern(config: &Config) -> &str {
    &config.definition.raw().build.configuration
}

/// Whether every stage that deploys a stack must have a configuration: the
/// definition names where they are, which says there is one for each.
pub(super) fn configurations_required(config: &Config) -> bool {
    normal(configuration_pattern(config)) != DEFAULT_CONFIGURATION
}

/// `path` as S3 keys spell it: no `./`, no empty folder name.
fn normal(path: &str) -> String {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// The file name of `path`, after its last folder.
pub(super) fn file_name(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, name)| name)
}

/// `build.configuration` for configurations in the folder of `found`, when the
/// stage's name is in the file's name: what the definition would say to find them.
pub(super) fn pattern_for(config: &Config, found: &str) -> Option<String> {
    let name = file_name(configuration_pattern(config));
    if !name.contains(STAGE) {
        return None;
    }
    Some(match found.rsplit_once('/') {
        Some((folder, _)) => format!("{folder}/{name}"),
        None => name.to_owned(),
    })
}

/// The files one build uploaded, listed once, the first time a file is missing.
pub(super) struct Upload<'a, O> {
    objects: &'a O,
    prefix: &'a str,
    /// Folders not searched: the site stages', whose files are the site's own.
    skipped: Vec<String>,
    listed: Option<Vec<String>>,
}

impl<'a, O: ObjectStore> Upload<'a, O> {
    pub(super) fn new(objects: &'a O, prefix: &'a str, skipped: Vec<String>) -> Self {
        Upload {
            objects,
            prefix,
            skipped,
            listed: None,
        }
    }

    /// The upload's prefix in the bucket.
    pub(super) fn prefix(&self) -> &str {
        self.prefix
    }

    /// The paths in the artifact of files named as `path`'s is but elsewhere, in key
    /// order, other than any of `taken`.
    pub(super) async fn elsewhere(
        &mut self,
        path: &str,
        taken: &[String],
    ) -> Result<Vec<String>, ArtifactError> {
        let name = file_name(path);
        let found = self.paths().await?.iter().filter(|p| {
            file_name(p) == name && p.as_str() != path && !taken.iter().any(|t| t == *p)
        });
        Ok(found.cloned().collect())
    }

    /// Every path in the artifact, up to [`LISTED_MAX`], besides the skipped folders'.
    async fn paths(&mut self) -> Result<&[String], ArtifactError> {
        if self.listed.is_none() {
            let mut paths = Vec::new();
            let mut after: Option<String> = None;
            let mut seen = 0;
            while seen < LISTED_MAX {
                let page = self
                    .objects
                    .list(self.prefix, after.as_deref(), 1000)
                    .await?;
                let Some(last) = page.last().cloned() else {
                    break;
                };
                seen += page.len();
                paths.extend(
                    page.iter()
                        .filter_map(|key| key.strip_prefix(self.prefix))
                        .filter(|p| !self.skipped.iter().any(|s| p.starts_with(s.as_str())))
                        .map(str::to_owned),
                );
                after = Some(last);
            }
            self.listed = Some(paths);
        }
        Ok(self.listed.as_deref().unwrap_or_default())
    }
}
