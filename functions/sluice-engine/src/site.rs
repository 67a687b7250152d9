//! A site stage: its deploy planned against what the bucket serves (the approver's
//! "what will change"), and carried out from the build's pinned files, in the order
//! that leaves the old site serving if anything fails.
//!
//! The stage's `change_set_id` is the bucket it deploys to ([`ChangeSetId::Site`]),
//! fixed when it was planned: a bucket read from a stack output is not read again
//! between the approval and the deploy.

use std::collections::HashMap;

use sluice_adapters::ObjectStore;
use sluice_adapters::aws::chain;
use sluice_adapters::deployer::{Deployer, Target};
use sluice_adapters::objects::{Condition, ObjectError};
use sluice_adapters::site::{SiteDeployed, SiteSource};
use sluice_core::site::{
    FileChange, SiteBucket, SiteDistribution, SiteFile, SitePlan, SiteRecord, SiteTarget,
    is_bucket_name, is_distribution_id, plan,
};
use sluice_core::{Cause, ChangeSetId, Command, Event, Execution, Stage, StageName};
use tracing::{info, warn};

use crate::engine::{Adapters, Engine};
use crate::error::EngineError;

/// The largest site record read: one entry per file, at most `SITE_FILES_MAX`.
const SITE_RECORD_MAX: usize = 8 * 1024 * 1024;

/// Most paths one invalidation names before it names everything (`/*`) instead:
/// CloudFront charges by path, and `/*` is one.
const INVALIDATION_PATHS_MAX: usize = 15;

/// The paths to clear from a distribution's caches after a deploy that made
/// `files`' changes: each file, and `/` when the entry document changed; everything
/// (`/*`) for many files or a path that would need encoding.
pub fn invalidation_paths(files: &[FileChange], entry_document: &str) -> Vec<String> {
    let plain = |p: &str| {
        p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/'))
    };
    let mut paths: Vec<String> = files.iter().map(|f| format!("/{}", f.path)).collect();
    if files.iter().any(|f| f.path == entry_document) {
        paths.insert(0, "/".to_owned());
    }
    if paths.len() > INVALIDATION_PATHS_MAX || !files.iter().all(|f| plain(&f.path)) {
        return vec!["/*".to_owned()];
    }
    paths
}

/// The site's plan, or why there is none.
enum Planned {
    Plan(SitePlan),
    Unusable(String),
}

impl<A: Adapters> Engine<A> {
    /// The value of `stack`'s output `output` (which names a `what`), read through the
    /// stage's role, or why there is none.
    async fn stack_output(
        &self,
        stage: &Stage,
        stack: &str,
        output: &str,
        what: &str,
    ) -> Result<Result<String, String>, EngineError> {
        let target = Target {
            stack_name: stack,
            role_arn: stage.role_arn.as_deref(),
        };
        let Some(info) = self.deployer.stack(target).await? else {
            return Ok(Err(format!(
                "stack {stack} does not exist, so its output {output} names no {what}; \
                 deploy the stack first"
            )));
        };
        let Some(value) = info.outputs.get(output) else {
            let known: Vec<&str> = info.outputs.keys().map(String::as_str).collect();
            return Ok(Err(format!(
                "stack {stack} has no output {output} (its outputs: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        };
        Ok(Ok(value.clone()))
    }

    /// The bucket a site stage deploys to, or why it cannot be known.
    async fn site_bucket(
        &self,
        stage: &Stage,
        site: &SiteTarget,
    ) -> Result<Result<String, String>, EngineError> {
        let (stack, output) = match &site.bucket {
            SiteBucket::Named { name } => return Ok(Ok(name.clone())),
            SiteBucket::Output { stack, output } => (stack, output),
        };
        let bucket = match self.stack_output(stage, stack, output, "bucket").await? {
            Ok(bucket) => bucket,
            Err(reason) => return Ok(Err(reason)),
        };
        // Sluice's role reaches only buckets named after the stack (see template.yaml).
        if !is_bucket_name(&bucket) || !bucket.starts_with(&format!("{stack}-")) {
            return Ok(Err(format!(
                "stack {stack}'s output {output} is {:?}, which is not a bucket whose name \
                 begins with {stack}-; Sluice may deploy only to such buckets",
                bucket.chars().take(80).collect::<String>()
            )));
        }
        Ok(Ok(bucket))
    }

    /// Clears the files the stage's plan changed from its distribution's caches, if
    /// it has one; `Err` says why not, when asking again would not help.
    async fn invalidate_site(
        &self,
        execution: &Execution,
        stage: &Stage,
        site: &SiteTarget,
    ) -> Result<Result<(), String>, EngineError> {
        let Some(distribution) = &site.distribution else {
            return Ok(Ok(()));
        };
        let id = match distribution {
            SiteDistribution::Id { id } => id.clone(),
            SiteDistribution::Output { stack, output } => {
                match self
                    .stack_output(stage, stack, output, "distribution")
                    .await?
                {
                    Ok(id) if is_distribution_id(&id) => id,
                    _ => {
                        return Ok(Err(format!(
                            "{distribution} is not a distribution id, so its caches were not cleared"
                        )));
                    }
                }
            }
        };
        let paths = invalidation_paths(&stage.files, &site.entry_document);
        // The same deploy asks with the same reference: CloudFront counts it once.
        let reference = format!("{}-{}-{}", execution.id, stage.name, stage.attempt);
        match self
            .deployer
            .invalidate(stage.role_arn.as_deref(), &id, &paths, &reference)
            .await
        {
            Ok(invalidation) => {
                info!(stage = %stage.name, distribution = %id, %invalidation, paths = paths.len(), "caches cleared");
                Ok(Ok(()))
            }
            Err(e) if e.retryable => Err(e.into()),
            Err(e) => Ok(Err(format!(
                "clearing distribution {id}'s caches failed: {}",
                chain(&e)
            ))),
        }
    }

    /// Plans the deploy of `execution`'s site files for `stage` to `bucket`.
    async fn plan_site(
        &self,
        execution: &Execution,
        stage: &Stage,
        site: &SiteTarget,
        bucket: &str,
    ) -> Result<Planned, EngineError> {
        let Some(artifact) = &execution.artifact else {
            return Ok(Planned::Unusable(
                "the execution has no recorded artifact".into(),
            ));
        };
        let files: Vec<SiteFile> = artifact
            .site_files(&site.folder)
            .map(|(path, object)| SiteFile {
                path: path.to_owned(),
                size: object.size,
                md5: object.object.etag.trim_matches('"').to_owned(),
                sha256: object.object.sha256.clone(),
            })
            .collect();
        if files.is_empty() {
            return Ok(Planned::Unusable(format!(
                "the build's artifact has no files in {}/, the folder this stage deploys",
                site.folder
            )));
        }
        let mut live = match self
            .deployer
            .site_objects(stage.role_arn.as_deref(), bucket)
            .await
        {
            Ok(live) => live,
            Err(e) if e.retryable => return Err(e.into()),
            Err(e) => {
                return Ok(Planned::Unusable(format!(
                    "could not list bucket {bucket}: {}",
                    chain(&e)
                )));
            }
        };
        self.site_record(&stage.name).await?.know(bucket, &mut live);
        Ok(match plan(&files, &live, "", &site.entry_document) {
            Ok(plan) => Planned::Plan(plan),
            Err(e) => Planned::Unusable(e.to_string()),
        })
    }

    /// Where the record of what Sluice put in `stage`'s site bucket is kept.
    fn site_record_key(&self, stage: &StageName) -> String {
        format!("pipelines/{}/sites/{stage}.json", self.config.pipeline.name)
    }

    /// What Sluice put in `stage`'s site bucket, as its last deploy recorded it; an
    /// empty record if there is none (or it cannot be read as one: it only saves
    /// uploads, so the plan then compares by ETag alone).
    async fn site_record(&self, stage: &StageName) -> Result<SiteRecord, EngineError> {
        Ok(self.site_record_read(stage).await?.0)
    }

    /// The record and the condition that replaces exactly the version read.
    async fn site_record_read(
        &self,
        stage: &StageName,
    ) -> Result<(SiteRecord, Condition), EngineError> {
        let key = self.site_record_key(stage);
        let Some((body, version)) = self
            .objects
            .read(&key, None, SITE_RECORD_MAX)
            .await
            .map_err(sluice_adapters::StoreError::from)?
        else {
            return Ok((SiteRecord::default(), Condition::Absent));
        };
        let record = serde_json::from_slice(&body).unwrap_or_else(|e| {
            warn!(%stage, error = %e, "the site's record is not one; comparing by ETag alone");
            SiteRecord::default()
        });
        Ok((record, Condition::Matches(version.etag)))
    }

    /// Records what a deploy put in `stage`'s site `bucket`: each upload's ETag with
    /// the SHA-256 of its file (`digests`, by key). A record that cannot be written
    /// costs only uploads next time (logged, not failed: the site is deployed).
    async fn record_site(
        &self,
        stage: &StageName,
        bucket: &str,
        deployed: &SiteDeployed,
        deletions: &[String],
        digests: &HashMap<String, Option<String>>,
    ) -> Result<(), EngineError> {
        let uploaded: Vec<(String, String, String)> = deployed
            .uploaded
            .iter()
            .filter(|(_, etag)| !etag.is_empty())
            .filter_map(|(key, etag)| {
                let sha256 = digests.get(key)?.clone()?;
                Some((key.clone(), etag.clone(), sha256))
            })
            .collect();
        let (record, condition) = self.site_record_read(stage).await?;
        let record = record.after(bucket, &uploaded, deletions);
        let body = serde_json::to_vec(&record).unwrap_or_default();
        if let Err(e) = self
            .objects
            .put(&self.site_record_key(stage), body, condition)
            .await
        {
            // A record changed since it was read is another deploy's: it stands.
            if e.is_retryable() && !matches!(e, ObjectError::PreconditionFailed { .. }) {
                return Err(sluice_adapters::StoreError::from(e).into());
            }
            warn!(%stage, error = %chain(&e), "the site's record was not written");
        }
        Ok(())
    }

    /// Plans a site stage: the files the deploy adds, changes and removes.
    pub(crate) async fn prepare_site(
        &self,
        execution: &Execution,
        stage: &Stage,
        site: &SiteTarget,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        let name = stage.name.clone();
        let bucket = match self.site_bucket(stage, site).await? {
            Ok(bucket) => bucket,
            Err(reason) => {
                let id = &execution.id;
                return self
                    .change_set_failed(id, &name, reason, Cause::Change)
                    .await;
            }
        };
        let event = match self.plan_site(execution, stage, site, &bucket).await? {
            Planned::Unusable(reason) => Event::ChangeSetFailed {
                stage: name,
                change_set_id: None,
                reason,
                cause: Cause::Change,
            },
            Planned::Plan(plan) if plan.is_empty() => Event::ChangeSetEmpty {
                stage: name,
                change_set_id: ChangeSetId::site(&bucket),
            },
            Planned::Plan(plan) => {
                info!(stage = %name, %bucket, files = plan.changes.len(), "site deploy planned");
                Event::SitePlanned {
                    stage: name,
                    target: ChangeSetId::site(&bucket),
                    files: plan.changes,
                }
            }
        };
        self.apply(&execution.id, event).await
    }

    /// Deploys a site stage's recorded plan. It plans again first: what is left to do
    /// must be part of what was planned (and approved), so a deploy cut short and
    /// started again finishes the work; a bucket someone else changed since fails
    /// the stage rather than deploy what nobody saw.
    pub(crate) async fn deploy_site(
        &self,
        execution: &Execution,
        stage: &StageName,
        target: &ChangeSetId,
    ) -> Result<Vec<(Execution, Command)>, EngineError> {
        let Some(s) = execution.stage(stage) else {
            return Ok(Vec::new());
        };
        // What fails here is the site's (a changed bucket, a file refused) or an
        // invalidation refused; a throttle or fault returns the error, to be retried.
        let failed = |reason: String| Event::StackUpdateFailed {
            stage: stage.clone(),
            reason,
            cause: Cause::Change,
        };
        let (Some(site), Some(bucket)) = (&s.site, target.site_bucket()) else {
            let reason = format!("{target} is not a site's bucket; nothing was deployed");
            return self.apply(&execution.id, failed(reason)).await;
        };
        let plan = match self.plan_site(execution, s, site, bucket).await? {
            Planned::Plan(plan) => plan,
            Planned::Unusable(reason) => return self.apply(&execution.id, failed(reason)).await,
        };
        if let Some(unplanned) = plan.changes.iter().find(|c| {
            !s.files
                .iter()
                .any(|f| f.path == c.path && f.action == c.action)
        }) {
            let reason = format!(
                "bucket {bucket} changed since the deploy was planned ({}: {}), which the plan \
                 did not list; nothing was deployed. Retry the execution to plan it again",
                unplanned.action.as_str(),
                unplanned.path
            );
            return self.apply(&execution.id, failed(reason)).await;
        }
        let Some(artifact) = &execution.artifact else {
            let reason = "the execution has no recorded artifact".to_owned();
            return self.apply(&execution.id, failed(reason)).await;
        };
        let sources: HashMap<String, SiteSource> = artifact
            .site_files(&site.folder)
            .map(|(path, o)| {
                let source = SiteSource {
                    bucket: self.config.bucket.clone(),
                    key: o.object.key.clone(),
                    version: o.object.version.clone(),
                    etag: o.object.etag.clone(),
                    size: o.size,
                };
                (path.to_owned(), source)
            })
            .collect();
        let event = match self
            .deployer
            .deploy_site(s.role_arn.as_deref(), bucket, &plan, &sources)
            .await
        {
            Ok(deployed) => {
                let (uploaded, deleted) = (deployed.uploaded.len(), deployed.deleted);
                info!(%stage, %bucket, uploaded, deleted, "site deployed");
                // The bucket's keys are the site's paths (the plan's prefix is "").
                let digests: HashMap<String, Option<String>> = artifact
                    .site_files(&site.folder)
                    .map(|(path, o)| (path.to_owned(), o.object.sha256.clone()))
                    .collect();
                self.record_site(stage, bucket, &deployed, &plan.deletions, &digests)
                    .await?;
                match self.invalidate_site(execution, s, site).await? {
                    Ok(()) => Event::StackUpdateCompleted {
                        stage: stage.clone(),
                    },
                    Err(reason) => failed(format!(
                        "bucket {bucket} serves the new site, but {reason}; the distribution's \
                         caches serve the old files until they expire"
                    )),
                }
            }
            // Throttling or a fault: the event is delivered again, and the deploy
            // goes on from where it stopped.
            Err(e) if e.source.retryable => {
                warn!(%stage, %bucket, error = %chain(&e), "site deploy interrupted");
                return Err(e.source.into());
            }
            Err(e) => {
                let entry_changes = plan
                    .uploads
                    .last()
                    .is_some_and(|u| u.path == site.entry_document);
                let serving = if e.uploaded >= plan.uploads.len() {
                    "the new site is served; some files it no longer has are left"
                } else if entry_changes {
                    "the previous site is still served"
                } else {
                    "the entry document is unchanged; some new files are up"
                };
                failed(format!("bucket {bucket}: {}; {serving}", chain(&e)))
            }
        };
        self.apply(&execution.id, event).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalidations_name_the_changed_files_or_everything() {
        use sluice_core::site::FileAction;
        let file = |path: &str| FileChange {
            path: path.into(),
            action: FileAction::Change,
            size: 1,
        };
        assert_eq!(
            invalidation_paths(&[file("index.html"), file("app.css")], "index.html"),
            ["/", "/index.html", "/app.css"]
        );
        assert_eq!(
            invalidation_paths(&[file("docs/a b.html")], "index.html"),
            ["/*"]
        );
        let many: Vec<_> = (0..20).map(|i| file(&format!("f{i}.js"))).collect();
        assert_eq!(invalidation_paths(&many, "index.html"), ["/*"]);
    }
}
