//! Pinning the build's artifact: every object a stage deploys copied into the
//! release prefix by content, and a manifest of them.

use std::collections::BTreeMap;

use sluice_adapters::caller::dns_suffix;
use sluice_adapters::{Condition, ObjectError, ObjectStore, Version, sha256_hex};
use sluice_core::site::SITE_FILES_MAX;
use sluice_core::{Artifact, ArtifactObject, Execution, SiteObject};

use crate::config::Config;
use crate::release;

use super::boundary::put_boundary;
use super::configurations::pin_configurations;
use super::identities::identity_names_fit;
use super::layout::{Upload, template_path};
use super::template;
use super::{ArtifactError, TEMPLATE_MAX, s3_url, unusable};

/// More objects than any template points to; bounds the work of one pin.
const CODE_OBJECTS_MAX: usize = 200;

/// Makes the release of the artifact the build of `execution` left: copies the
/// packaged template from where the definition's `build.template` says (its code
/// locations rewritten to the copies, its IAM roles and users put under the stage's
/// permissions boundary), each stack stage's configuration from where
/// `build.configuration` says, every object the template points to and every file
/// of the site stages' folders into the release prefix, by content, and records a
/// manifest. Nothing is read from the build's upload after this: it stays writable
/// by builds, and no stage deploys from it. A pipeline of site stages only needs no
/// template.
pub async fn pin<O: ObjectStore>(
    objects: &O,
    config: &Config,
    execution: &Execution,
) -> Result<Artifact, ArtifactError> {
    let prefix = config.artifact_prefix(execution);
    let releases = Releases { objects, config };
    let site = pin_site(&releases, &prefix).await?;
    let sites = site_folders(config).map(|f| format!("{f}/")).collect();
    let mut upload = Upload::new(objects, &prefix, sites);
    let path = template_path(config);
    let template_key = format!("{prefix}{path}");
    let stacks = config.pipeline.stages.iter().any(|s| s.site.is_none());
    let Some(version) = objects.head(&template_key).await? else {
        if stacks {
            let at = s3_url(config, &template_key);
            return Err(unusable(
                match upload.elsewhere(&path, &[]).await?.first() {
                    Some(found) => format!(
                        "the build left {found} but no {path} ({at}), where the definition's \
                     build.template puts the packaged template. List it in the buildspec's \
                     artifacts with `discard-paths: yes` (or a base-directory that leaves it at \
                     {path}), or set build.template: {found} in the definition"
                    ),
                    None => format!(
                        "the build left no {path} ({at}), where the definition's build.template \
                     puts the packaged template; the buildspec must package the template to \
                     {path} (`sam package --output-template-file {path}`) and list it as an \
                     artifact"
                    ),
                },
            ));
        }
        let mut artifact = Artifact {
            template: None,
            configurations: Vec::new(),
            code: Vec::new(),
            site,
            manifest: None,
            functions: Vec::new(),
        };
        artifact.manifest = Some(releases.manifest(execution, &prefix, &artifact).await?);
        return Ok(artifact);
    };
    let Some((body, _)) = objects
        .read(&template_key, version.id.as_deref(), TEMPLATE_MAX)
        .await?
    else {
        return Err(gone(config, &template_key));
    };
    if body.len() > TEMPLATE_MAX {
        return Err(unusable(format!(
            "{path} is larger than {} KB, CloudFormation's limit for a template",
            TEMPLATE_MAX / 1024
        )));
    }
    let text =
        String::from_utf8(body).map_err(|_| unusable(format!("{path} is not UTF-8 text")))?;
    let (mut parsed, format) =
        template::parse(&text).map_err(|why| unusable(format!("{path} {why}")))?;
    let stacks: Vec<&str> = execution
        .stages
        .iter()
        .filter(|s| s.site.is_none())
        .map(|s| s.stack_name.as_str())
        .collect();
    identity_names_fit(&parsed, &stacks).map_err(unusable)?;
    let boundaries: Vec<_> = execution
        .stages
        .iter()
        .filter(|s| s.site.is_none())
        .map(|s| (&s.name, s.boundary_arn.as_deref()))
        .collect();
    let bounded = put_boundary(&mut parsed, &boundaries).map_err(unusable)?;
    // Before any code is copied: a configuration missing or refused stops the pin.
    let configurations = pin_configurations(&releases, &mut upload, execution, &prefix).await?;
    let bucket = release::Bucket {
        name: &config.bucket,
        upload: &prefix,
        region: &config.region,
        dns_suffix: dns_suffix(&config.region),
    };
    let found = release::locations(&parsed, &bucket)
        .map_err(|why| unusable(format!("{path} cannot be pinned: {why}")))?;
    let mut keys: Vec<&str> = found.iter().filter_map(|f| f.key.as_deref()).collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.len() > CODE_OBJECTS_MAX {
        return Err(unusable(format!(
            "{path} points to {} objects in the bucket; at most {CODE_OBJECTS_MAX} are deployed",
            keys.len()
        )));
    }
    let mut copies = BTreeMap::new();
    let mut code = Vec::new();
    for key in keys {
        let Some(copy) = releases.copy(key).await? else {
            return Err(unusable(format!(
                "{path} points to {}, which does not exist",
                s3_url(config, key)
            )));
        };
        copies.insert(
            key.to_owned(),
            release::Copy {
                key: copy.key.clone(),
                version: copy.version.clone(),
                sha256: copy.sha256.clone().unwrap_or_default(),
            },
        );
        code.push(copy);
    }
    let functions = found
        .iter()
        .filter(|f| f.function_code)
        .filter_map(|f| {
            let copy = copies.get(f.key.as_deref()?)?;
            Some((f.resource.clone(), copy.sha256.clone()))
        })
        .collect();
    let template = if copies.is_empty() && !bounded {
        // Nothing to pin or bound in it: the template goes into the release as written.
        releases
            .copy_version(&template_key, &version)
            .await?
            .ok_or_else(|| gone(config, &template_key))?
    } else {
        let rewritten = release::rewrite(&parsed, &bucket, &copies)
            .map_err(|why| unusable(format!("{path} cannot be pinned: {why}")))?;
        let pinned = template::write(&rewritten, format, &text).map_err(unusable)?;
        if pinned.len() > TEMPLATE_MAX {
            return Err(unusable(format!(
                "{path}, pinned to the release, is larger than {} KB, CloudFormation's \
                 limit for a template",
                TEMPLATE_MAX / 1024
            )));
        }
        releases.write(pinned.into_bytes()).await?
    };
    let mut artifact = Artifact {
        template: Some(template),
        configurations,
        code,
        site,
        manifest: None,
        functions,
    };
    artifact.manifest = Some(releases.manifest(execution, &prefix, &artifact).await?);
    Ok(artifact)
}

/// The release prefix: objects by content, written only by Sluice.
pub(super) struct Releases<'a, O> {
    pub(super) objects: &'a O,
    pub(super) config: &'a Config,
}

impl<O: ObjectStore> Releases<'_, O> {
    fn key_of(&self, sha256: &str) -> String {
        format!("{}sha256/{sha256}", self.config.release_prefix())
    }

    /// Copies the current version of the upload `key` into the release, by its
    /// digest; `None` if there is no such object. A copy of the same bytes made
    /// before (another release, a pin run again) is kept, not made again.
    async fn copy(&self, key: &str) -> Result<Option<ArtifactObject>, ArtifactError> {
        let Some(version) = self.objects.head(key).await? else {
            return Ok(None);
        };
        self.copy_version(key, &version).await
    }

    /// Copies version `version` of the upload `key` into the release, by its digest.
    async fn copy_version(
        &self,
        key: &str,
        version: &Version,
    ) -> Result<Option<ArtifactObject>, ArtifactError> {
        // Every read from here on names the version just seen: what is hashed is
        // what is copied, whatever the build writes meanwhile.
        let Some((sha256, _)) = self.objects.digest(key, version.id.as_deref()).await? else {
            return Ok(None);
        };
        let release = self.key_of(&sha256);
        let copied = match self.objects.head(&release).await? {
            Some(existing) => existing,
            None => match self
                .objects
                .copy(key, version.id.as_deref(), &release)
                .await
            {
                Ok(copied) => copied,
                // Copied meanwhile by an overlapping pin: the same bytes.
                Err(ObjectError::PreconditionFailed { .. }) => {
                    self.objects
                        .head(&release)
                        .await?
                        .ok_or_else(|| gone(self.config, &release))?
                }
                Err(e) => return Err(e.into()),
            },
        };
        Ok(Some(ArtifactObject {
            key: release,
            etag: copied.etag,
            version: copied.id,
            sha256: Some(sha256),
        }))
    }

    /// Writes `body`, made or checked by Sluice, into the release by its digest.
    pub(super) async fn write(&self, body: Vec<u8>) -> Result<ArtifactObject, ArtifactError> {
        let sha256 = sha256_hex(&body);
        let key = self.key_of(&sha256);
        if self.objects.head(&key).await?.is_none() {
            match self.objects.put(&key, body, Condition::Absent).await {
                Ok(()) | Err(ObjectError::PreconditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let Some(written) = self.objects.head(&key).await? else {
            return Err(gone(self.config, &key));
        };
        Ok(ArtifactObject {
            key,
            etag: written.etag,
            version: written.id,
            sha256: Some(sha256),
        })
    }

    /// Records the release's manifest, written by content like every object of the
    /// release: the commit, the build, and every object by digest and version.
    async fn manifest(
        &self,
        execution: &Execution,
        upload: &str,
        artifact: &Artifact,
    ) -> Result<ArtifactObject, ArtifactError> {
        let manifest = serde_json::json!({
            "pipeline": self.config.pipeline.name,
            "execution": execution.id,
            "commit": execution.commit.id,
            "build": execution.build.id,
            "upload": upload,
            "artifact": artifact,
        });
        let body = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| unusable(format!("the release's manifest cannot be written: {e}")))?;
        self.write(body).await
    }
}

/// Every file of the folders the site stages deploy, copied into the release.
async fn pin_site<O: ObjectStore>(
    releases: &Releases<'_, O>,
    prefix: &str,
) -> Result<Vec<SiteObject>, ArtifactError> {
    let (objects, config) = (releases.objects, releases.config);
    let mut site = Vec::new();
    for folder in site_folders(config) {
        let under = format!("{prefix}{folder}/");
        let mut keys = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = objects.list(&under, after.as_deref(), 1000).await?;
            let last = page.last().cloned();
            keys.extend(page);
            if keys.len() > SITE_FILES_MAX {
                return Err(unusable(format!(
                    "the build left more than {SITE_FILES_MAX} files in {folder}/; at most \
                     {SITE_FILES_MAX} are deployed"
                )));
            }
            match last {
                Some(last) => after = Some(last),
                None => break,
            }
        }
        if keys.is_empty() {
            return Err(unusable(format!(
                "the build left no files in {folder}/ ({}), the folder a site stage deploys; \
                 the buildspec must list the site's files as artifacts under {folder}/",
                s3_url(config, &under)
            )));
        }
        for key in keys {
            // Gone between the listing and now: the build's files are still being
            // written or were removed; either way this is not what was built.
            let Some(size) = objects.head(&key).await?.map(|v| v.size) else {
                return Err(gone(config, &key));
            };
            let Some(object) = releases.copy(&key).await? else {
                return Err(gone(config, &key));
            };
            site.push(SiteObject {
                path: key[prefix.len()..].to_owned(),
                size,
                object,
            });
        }
    }
    Ok(site)
}

/// The folders the site stages deploy, each once.
fn site_folders(config: &Config) -> impl Iterator<Item = &str> {
    let mut folders: Vec<&str> = config
        .pipeline
        .stages
        .iter()
        .filter_map(|s| s.site.as_ref().map(|t| t.folder.as_str()))
        .collect();
    folders.sort_unstable();
    folders.dedup();
    folders.into_iter()
}

fn gone(config: &Config, key: &str) -> ArtifactError {
    unusable(format!(
        "{} disappeared while the artifact was recorded",
        s3_url(config, key)
    ))
}
