//! The build's artifact: pinned object by object when the build succeeds, and the
//! only thing any stage deploys. Every object is read with a size bound, by the
//! version that was pinned, and checked again before each stage: an object that
//! changed since the build fails the stage closed, never deploys.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use serde_yaml_ng::Value as Yaml;
use sluice_adapters::caller::dns_suffix;
use sluice_adapters::deployer::{ChangeSetSpec, Template};
use sluice_adapters::{Condition, ObjectError, ObjectStore, StoreError, Version, sha256_hex};
use sluice_core::site::SITE_FILES_MAX;
use sluice_core::{
    Artifact, ArtifactObject, Execution, SettingChange, SettingKind, SiteObject, StageName,
};

use crate::config::Config;
use crate::error::EngineError;
use crate::release;

/// CloudFormation's limit for a template read from S3.
pub const TEMPLATE_MAX: usize = 1024 * 1024;
/// CloudFormation's limit for an inline template body.
const TEMPLATE_BODY_MAX: usize = 51_200;
/// A stage's template configuration is a few parameters and tags.
pub const CONFIGURATION_MAX: usize = 64 * 1024;
/// More objects than any template points to; bounds the work of one pin.
const CODE_OBJECTS_MAX: usize = 200;

/// Why an artifact cannot be used: a reason for people, or a failure to find out.
#[derive(Debug)]
pub enum ArtifactError {
    /// Permanent: the artifact is missing, too large, malformed or changed.
    Unusable(String),
    Failed(EngineError),
}

impl From<ObjectError> for ArtifactError {
    fn from(e: ObjectError) -> Self {
        ArtifactError::Failed(EngineError::Store(StoreError::from(e)))
    }
}

fn unusable(reason: impl Into<String>) -> ArtifactError {
    ArtifactError::Unusable(reason.into())
}

/// A stage's template configuration, as CodePipeline defines it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateConfiguration {
    #[serde(rename = "Parameters", default)]
    parameters: BTreeMap<String, String>,
    #[serde(rename = "Tags", default)]
    tags: BTreeMap<String, String>,
    #[serde(rename = "StackPolicy", default)]
    _stack_policy: Option<Value>,
}

fn s3_url(config: &Config, key: &str) -> String {
    format!("s3://{}/{key}", config.bucket)
}

/// Reads the pinned object `object`, at most `max` bytes, and checks it is still the
/// version that was pinned.
async fn read_pinned<O: ObjectStore>(
    objects: &O,
    config: &Config,
    object: &ArtifactObject,
    max: usize,
) -> Result<Vec<u8>, ArtifactError> {
    let Some((body, version)) = objects
        .read(&object.key, object.version.as_deref(), max)
        .await?
    else {
        return Err(changed(config, object));
    };
    if version.etag != object.etag || body.len() > max {
        return Err(changed(config, object));
    }
    Ok(body)
}

fn changed(config: &Config, object: &ArtifactObject) -> ArtifactError {
    if object.sha256.is_some() {
        return unusable(format!(
            "its copy {} is no longer kept: a release expires after ArtifactRetentionDays \
             unless it is among the ReleasesKept newest of a stage",
            s3_url(config, &object.key)
        ));
    }
    unusable(format!(
        "{} changed or disappeared since the build (it was {}); refusing to deploy what was \
         not built and approved. Push again to build it anew",
        s3_url(config, &object.key),
        object.version.as_deref().unwrap_or(&object.etag)
    ))
}

/// Makes the release of the artifact the build of `execution` left: copies
/// `packaged.yaml` (its code locations rewritten to the copies), each stage's
/// configuration, every object the template points to and every file of the site
/// stages' folders into the release prefix, by content, and records a manifest.
/// Nothing is read from the build's upload after this: it stays writable by builds,
/// and no stage deploys from it. A pipeline of site stages only needs no template.
pub async fn pin<O: ObjectStore>(
    objects: &O,
    config: &Config,
    execution: &Execution,
) -> Result<Artifact, ArtifactError> {
    let prefix = config.artifact_prefix(execution);
    let releases = Releases { objects, config };
    let site = pin_site(&releases, &prefix).await?;
    let template_key = format!("{prefix}packaged.yaml");
    let stacks = config.pipeline.stages.iter().any(|s| s.site.is_none());
    let Some(version) = objects.head(&template_key).await? else {
        if stacks {
            return Err(unusable(format!(
                "the build left no packaged.yaml at {}; the buildspec must run `sam package` \
                 and list it as an artifact",
                s3_url(config, &template_key)
            )));
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
            "packaged.yaml is larger than {} KB, CloudFormation's limit for a template",
            TEMPLATE_MAX / 1024
        )));
    }
    let text = String::from_utf8(body).map_err(|_| unusable("packaged.yaml is not UTF-8 text"))?;
    let parsed: Yaml = serde_yaml_ng::from_str(&text)
        .map_err(|e| unusable(format!("packaged.yaml is not a YAML or JSON template: {e}")))?;
    let stacks: Vec<&str> = execution
        .stages
        .iter()
        .filter(|s| s.site.is_none())
        .map(|s| s.stack_name.as_str())
        .collect();
    identity_names_fit(&parsed, &stacks).map_err(unusable)?;
    let bucket = release::Bucket {
        name: &config.bucket,
        upload: &prefix,
        region: &config.region,
        dns_suffix: dns_suffix(&config.region),
    };
    let found = release::locations(&parsed, &bucket)
        .map_err(|why| unusable(format!("packaged.yaml cannot be pinned: {why}")))?;
    let mut keys: Vec<&str> = found.iter().filter_map(|f| f.key.as_deref()).collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.len() > CODE_OBJECTS_MAX {
        return Err(unusable(format!(
            "packaged.yaml points to {} objects in the bucket; at most {CODE_OBJECTS_MAX} are deployed",
            keys.len()
        )));
    }
    let mut copies = BTreeMap::new();
    let mut code = Vec::new();
    for key in keys {
        let Some(copy) = releases.copy(key).await? else {
            return Err(unusable(format!(
                "packaged.yaml points to {}, which does not exist",
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
    let template = if copies.is_empty() {
        // Nothing to pin in it: the template goes into the release as written.
        releases
            .copy_version(&template_key, &version)
            .await?
            .ok_or_else(|| gone(config, &template_key))?
    } else {
        let rewritten = release::rewrite(&parsed, &bucket, &copies)
            .map_err(|why| unusable(format!("packaged.yaml cannot be pinned: {why}")))?;
        let text = serde_yaml_ng::to_string(&rewritten)
            .map_err(|e| unusable(format!("the pinned template cannot be written: {e}")))?;
        if text.len() > TEMPLATE_MAX {
            return Err(unusable(format!(
                "packaged.yaml, pinned to the release, is larger than {} KB, CloudFormation's \
                 limit for a template",
                TEMPLATE_MAX / 1024
            )));
        }
        releases.write(text.into_bytes()).await?
    };
    let mut configurations = Vec::new();
    for stage in &config.pipeline.stages {
        let key = format!("{prefix}{}.json", stage.name);
        if let Some(copy) = releases.copy(&key).await? {
            configurations.push((stage.name.clone(), copy));
        }
    }
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
struct Releases<'a, O> {
    objects: &'a O,
    config: &'a Config,
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

    /// Writes `body`, made by Sluice, into the release by its digest.
    async fn write(&self, body: Vec<u8>) -> Result<ArtifactObject, ArtifactError> {
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
    let mut folders: Vec<&str> = config
        .pipeline
        .stages
        .iter()
        .filter_map(|s| s.site.as_ref().map(|t| t.folder.as_str()))
        .collect();
    folders.sort_unstable();
    folders.dedup();
    let mut site = Vec::new();
    for folder in folders {
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

fn gone(config: &Config, key: &str) -> ArtifactError {
    unusable(format!(
        "{} disappeared while the artifact was recorded",
        s3_url(config, key)
    ))
}

/// Checks that the objects the template points to are still the ones the build
/// left: CloudFormation reads them only when it creates or executes a change set.
pub async fn verify<'a, O: ObjectStore>(
    objects: &O,
    config: &Config,
    execution: &'a Execution,
) -> Result<&'a Artifact, ArtifactError> {
    let Some(artifact) = &execution.artifact else {
        return Err(unusable("the execution has no recorded artifact"));
    };
    for object in &artifact.code {
        let current = objects.head(&object.key).await?;
        if current.is_none_or(|v| v.etag != object.etag || v.id != object.version) {
            return Err(changed(config, object));
        }
    }
    Ok(artifact)
}

/// The template parameter through which an application receives its stage's
/// permissions boundary, for `PermissionsBoundary` under `Globals: Function:`.
pub const BOUNDARY_PARAMETER: &str = "PermissionsBoundary";

/// An IAM role or user a template creates: a role or user resource, or a SAM
/// function or state machine without a role of its own (SAM makes it, `<id>Role`).
struct Identity<'a> {
    id: &'a str,
    kind: &'a str,
    /// The logical id CloudFormation names it after.
    generated: String,
    /// The name the template gives it, if any, and the property that gives it.
    named: Option<&'a Yaml>,
    name_property: &'static str,
    /// The property that would put it under a path, and its value.
    path_property: &'static str,
    path: Option<&'a Yaml>,
}

/// The IAM identities `template` creates.
fn identities(template: &Yaml) -> Vec<Identity<'_>> {
    let Some(resources) = template.get("Resources").and_then(Yaml::as_mapping) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (id, resource) in resources {
        let Some(id) = id.as_str() else { continue };
        let kind = resource
            .get("Type")
            .and_then(Yaml::as_str)
            .unwrap_or_default();
        let property = |name: &str| resource.get("Properties").and_then(|p| p.get(name));
        let (generated, named, name_property, path_property) = match kind {
            "AWS::IAM::Role" => (id.to_owned(), property("RoleName"), "RoleName", "Path"),
            "AWS::IAM::User" => (id.to_owned(), property("UserName"), "UserName", "Path"),
            "AWS::Serverless::Function" | "AWS::Serverless::StateMachine"
                if property("Role").is_none() =>
            {
                (format!("{id}Role"), None, "Role", "RolePath")
            }
            _ => continue,
        };
        found.push(Identity {
            id,
            kind,
            generated,
            named,
            name_property,
            path_property,
            path: property(path_property),
        });
    }
    found
}

/// The resources of `template` that create an IAM role or user.
fn identities_created(template: &Yaml) -> Vec<String> {
    identities(template)
        .into_iter()
        .map(|i| i.id.to_owned())
        .collect()
}

/// IAM's longest role or user name.
const IAM_NAME_MAX: usize = 64;
/// The random part CloudFormation appends to a name it generates, with its '-'.
const GENERATED_SUFFIX: usize = 14;

/// Refuses a template whose IAM roles or users would not be named under each stage's
/// stack (`<application>-<stage>-`), the only names a stage's role may create. An
/// unnamed one is named `<stack>-<logical id>-<random>` by CloudFormation, which
/// shortens a name over IAM's 64 characters and may cut the stack's part (what it
/// keeps is not documented, so any name that needs shortening is refused); SAM names
/// a function's or state machine's own role after it, `<id>Role`. A name the
/// template gives must start with the stack's: literally, or `${AWS::StackName}-`.
fn identity_names_fit(template: &Yaml, stacks: &[&str]) -> Result<(), String> {
    let mut wrong = Vec::new();
    let global_path = template
        .get("Globals")
        .and_then(|g| g.get("Function"))
        .and_then(|f| f.get("RolePath"));
    if global_path.is_some_and(|p| p.as_str() != Some("/")) {
        wrong.push(
            "Globals: Function: RolePath puts the functions' roles under a path; the stage \
             creates IAM identities at the root path only, so leave out RolePath"
                .to_owned(),
        );
    }
    for identity in identities(template) {
        let Identity {
            id,
            kind,
            generated,
            named,
            name_property,
            path_property: path,
            path: path_value,
        } = identity;
        // The stage may create identities at the root path only (its policy names
        // `role/<application>-<stage>-*`): one under a path would be refused.
        if let Some(p) = path_value.filter(|p| p.as_str() != Some("/")) {
            let shown = p.as_str().unwrap_or("an intrinsic function");
            wrong.push(format!(
                "{id} ({kind}): its {path} is {shown}; the stage creates IAM identities at the \
                 root path only, so leave out {path}"
            ));
        }
        for stack in stacks {
            let prefix = format!("{stack}-");
            match named {
                None => {
                    let length = prefix.len() + generated.len() + GENERATED_SUFFIX;
                    if length > IAM_NAME_MAX {
                        let fix = if name_property == "Role" {
                            "give it a Role of its own (an AWS::IAM::Role with \
                             `RoleName: !Sub ${AWS::StackName}-<short>`)"
                                .to_owned()
                        } else {
                            format!("give it `{name_property}: !Sub ${{AWS::StackName}}-<short>`")
                        };
                        wrong.push(format!(
                            "{id} ({kind}): in {stack}, CloudFormation would name its IAM \
                             identity {prefix}{generated}-<13 random>, {length} characters, over \
                             IAM's {IAM_NAME_MAX}; shortened, it may lose the {prefix} prefix \
                             the stage may create identities under. Use a shorter logical id, \
                             or {fix} (RoleName or UserName keeps the prefix)"
                        ));
                    }
                }
                Some(name) => {
                    // (`as_str` would read through a `!Sub` tag: the intrinsic first.)
                    let fits = match (sub_text(name), name) {
                        (Some(text), _) => {
                            text.starts_with("${AWS::StackName}-") || text.starts_with(&prefix)
                        }
                        (None, Yaml::String(literal)) => literal.starts_with(&prefix),
                        // Another intrinsic: its value is not known before the deploy.
                        (None, _) => true,
                    };
                    if !fits {
                        wrong.push(format!(
                            "{id} ({kind}): its {name_property} must start with {prefix}, the \
                             only names the stage may create identities under; write \
                             `{name_property}: !Sub ${{AWS::StackName}}-<name>`"
                        ));
                    }
                }
            }
        }
    }
    wrong.dedup();
    if wrong.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the template's IAM identities would not be named under their stage's stack: {}",
        wrong.join("; ")
    ))
}

/// The text of a `!Sub` / `Fn::Sub` (its first form or the string of its list form);
/// `None` for any other value, whose name cannot be known before the deploy.
fn sub_text(value: &Yaml) -> Option<&str> {
    let inner = match value {
        Yaml::Tagged(tagged) if tagged.tag == "Sub" => &tagged.value,
        Yaml::Mapping(m) => m.get("Fn::Sub")?,
        _ => return None,
    };
    match inner {
        Yaml::String(s) => Some(s),
        Yaml::Sequence(items) => items.first()?.as_str(),
        _ => None,
    }
}

/// The parameter that hands the stage's `boundary` to the template: `None` where the
/// stage has none, or the template neither declares the parameter nor creates IAM
/// identities. A template that creates them without it could not be deployed (the
/// execution role creates roles only under the boundary), so it is refused here,
/// saying what to add.
fn boundary_parameter(
    template: &str,
    stage: &StageName,
    boundary: Option<&str>,
) -> Result<Option<(String, String)>, ArtifactError> {
    let Some(boundary) = boundary else {
        return Ok(None);
    };
    let parsed: Yaml = serde_yaml_ng::from_str(template)
        .map_err(|e| unusable(format!("packaged.yaml is not a YAML or JSON template: {e}")))?;
    let declared = parsed
        .get("Parameters")
        .is_some_and(|p| p.get(BOUNDARY_PARAMETER).is_some());
    if declared {
        return Ok(Some((BOUNDARY_PARAMETER.to_owned(), boundary.to_owned())));
    }
    let identities = identities_created(&parsed);
    if identities.is_empty() {
        return Ok(None);
    }
    Err(unusable(format!(
        "the template creates IAM roles or users ({}) but has no {BOUNDARY_PARAMETER} \
         parameter; the {stage} stage creates them only under its permissions boundary. \
         Add a parameter {BOUNDARY_PARAMETER} (Type: String) and \
         `PermissionsBoundary: !Ref {BOUNDARY_PARAMETER}` under Globals: Function: \
         (see examples/hello-api/template.yaml); Sluice fills in its value",
        identities.join(", ")
    )))
}

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
    serde_json::from_slice::<TemplateConfiguration>(&body)
        .map_err(|e| unusable(format!("{stage}.json is not a template configuration: {e}")))
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

/// The change set that deploys `execution`'s pinned artifact to `stage`, after
/// checking that no object of it changed since the build.
pub async fn change_set_spec<O: ObjectStore>(
    objects: &O,
    config: &Config,
    execution: &Execution,
    stage: &StageName,
) -> Result<ChangeSetSpec, ArtifactError> {
    let artifact = verify(objects, config, execution).await?;
    let Some(template) = &artifact.template else {
        return Err(unusable(
            "the build left no packaged.yaml, and this stage deploys a stack; the buildspec \
             must run `sam package` and list packaged.yaml as an artifact",
        ));
    };
    let body = read_pinned(objects, config, template, TEMPLATE_MAX).await?;
    let text = String::from_utf8(body).map_err(|_| unusable("packaged.yaml is not UTF-8 text"))?;
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
            serde_json::from_slice::<TemplateConfiguration>(&body).map_err(|e| {
                unusable(format!(
                    "{stage}.json is not a template configuration \
                     ({{\"Parameters\": {{...}}, \"Tags\": {{...}}}} with string values): {e}"
                ))
            })?
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

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDARY: &str = "arn:aws:iam::123456789012:policy/sluice/sluice/sluice-staging-boundary";

    fn staging() -> StageName {
        StageName::parse("staging").unwrap()
    }

    #[test]
    fn a_template_that_asks_for_the_boundary_gets_the_stages() {
        let template = "Parameters:\n  PermissionsBoundary:\n    Type: String\n\
                        Globals:\n  Function:\n    PermissionsBoundary: !Ref PermissionsBoundary\n\
                        Resources:\n  Hello:\n    Type: AWS::Serverless::Function\n";
        let parameter = boundary_parameter(template, &staging(), Some(BOUNDARY)).unwrap();
        assert_eq!(
            parameter,
            Some(("PermissionsBoundary".to_owned(), BOUNDARY.to_owned()))
        );
        // No boundary configured (a stage that brings its own role): nothing to pass.
        assert_eq!(
            boundary_parameter(template, &staging(), None).unwrap(),
            None
        );
    }

    #[test]
    fn a_template_that_creates_roles_without_the_boundary_is_refused_with_the_fix() {
        let template = "Resources:\n  Hello:\n    Type: AWS::Serverless::Function\n  \
                        Worker:\n    Type: AWS::IAM::Role\n  Given:\n    \
                        Type: AWS::Serverless::Function\n    Properties:\n      Role: arn:aws:iam::1:role/x\n";
        let Err(ArtifactError::Unusable(reason)) =
            boundary_parameter(template, &staging(), Some(BOUNDARY))
        else {
            panic!("a template that creates roles without the boundary must be refused");
        };
        assert!(reason.contains("(Hello, Worker)"), "{reason}");
        assert!(
            reason.contains("PermissionsBoundary: !Ref PermissionsBoundary"),
            "{reason}"
        );
        assert!(reason.contains("staging stage"), "{reason}");
    }

    #[test]
    fn a_template_without_identities_needs_no_boundary() {
        let template = "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n";
        assert_eq!(
            boundary_parameter(template, &staging(), Some(BOUNDARY)).unwrap(),
            None
        );
    }
}
