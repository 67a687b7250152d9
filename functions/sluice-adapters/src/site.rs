//! A static website's bucket (S3): what it serves now, and a planned deploy
//! ([`sluice_core::site::plan`]) carried out in the plan's order, copying each file
//! from the build's pinned artifact.
//!
//! A deploy stops at the first failure: nothing after it runs, so the entry document
//! is replaced only once every file it may point at is up, and nothing is deleted
//! before every upload succeeded. This is the bucket side of a site stage; the
//! deployer (`Deployer::deploy_site`) calls it through the stage's role.

use std::collections::HashMap;

use aws_sdk_s3::types::{Delete, MetadataDirective, ObjectIdentifier};
use sluice_core::site::{LiveObject, SitePlan};

use crate::aws::AwsError;

/// Most keys one `DeleteObjects` request takes.
const DELETE_BATCH: usize = 1000;

/// Where a file of the site comes from: an object of the build's artifact, pinned
/// to the version the build left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteSource {
    pub bucket: String,
    pub key: String,
    pub version: Option<String>,
    /// The ETag the build left: a copy of anything else fails.
    pub etag: String,
    /// Its size, as the copy will have it.
    pub size: u64,
}

/// What a deploy did: each upload's key with the ETag S3 gave the copy (empty if it
/// gave none), and how many objects it deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SiteDeployed {
    pub uploaded: Vec<(String, String)>,
    pub deleted: usize,
}

/// How far a deploy got before it failed, and why.
#[derive(Debug, thiserror::Error)]
#[error(
    "the site deploy stopped at {step}, after {uploaded} uploads and {deleted} deletions: {source}"
)]
pub struct SiteDeployFailed {
    /// What was being done: `upload of index.html`, `deletion of 12 files`.
    pub step: String,
    pub uploaded: usize,
    pub deleted: usize,
    #[source]
    pub source: AwsError,
}

/// A site's bucket in S3.
#[derive(Clone, Debug)]
pub struct S3Site {
    client: aws_sdk_s3::Client,
}

impl S3Site {
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        Self { client }
    }

    /// Every object of `bucket` under `prefix`, with its size and ETag.
    pub async fn live_objects(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<LiveObject>, AwsError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut objects = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("ListObjectsV2", e))?;
            for o in page.contents() {
                let (Some(key), Some(etag)) = (o.key(), o.e_tag()) else {
                    continue;
                };
                objects.push(LiveObject {
                    key: key.to_owned(),
                    size: o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                    etag: etag.to_owned(),
                    sha256: None,
                });
            }
        }
        Ok(objects)
    }

    /// Carries out `plan` on `bucket`: each upload copies its file from `sources`
    /// (by the file's path) with the plan's `Content-Type` and `Cache-Control`, in
    /// order, then the deletions. Returns the ETag of each upload, and how many
    /// deletions were made.
    pub async fn deploy(
        &self,
        bucket: &str,
        plan: &SitePlan,
        sources: &HashMap<String, SiteSource>,
    ) -> Result<SiteDeployed, SiteDeployFailed> {
        let mut done = SiteDeployed::default();
        for upload in &plan.uploads {
            let uploaded = done.uploaded.len();
            let failed = |source: AwsError| SiteDeployFailed {
                step: format!("upload of {}", upload.path),
                uploaded,
                deleted: 0,
                source,
            };
            let source = sources.get(&upload.path).ok_or_else(|| {
                failed(AwsError::invalid_response(
                    "CopyObject",
                    format!("the artifact has no file {}", upload.path),
                ))
            })?;
            let mut copy_source = format!("{}/{}", source.bucket, encode_key(&source.key));
            if let Some(version) = &source.version {
                copy_source.push_str(&format!("?versionId={}", encode_key(version)));
            }
            let out = self
                .client
                .copy_object()
                .bucket(bucket)
                .key(&upload.key)
                .copy_source(copy_source)
                .copy_source_if_match(&source.etag)
                .metadata_directive(MetadataDirective::Replace)
                .content_type(&upload.content_type)
                .cache_control(upload.cache_control)
                .send()
                .await
                .map_err(|e| failed(AwsError::from_sdk("CopyObject", e)))?;
            let etag = out
                .copy_object_result()
                .and_then(|r| r.e_tag())
                .unwrap_or_default();
            done.uploaded.push((upload.key.clone(), etag.to_owned()));
        }
        let uploaded = done.uploaded.len();
        let mut deleted = 0;
        for batch in plan.deletions.chunks(DELETE_BATCH) {
            let failed = |source: AwsError| SiteDeployFailed {
                step: format!(
                    "deletion of {}",
                    sluice_core::text::counted(batch.len(), "file")
                ),
                uploaded,
                deleted,
                source,
            };
            let identifiers = batch
                .iter()
                .map(|key| ObjectIdentifier::builder().key(key).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| failed(AwsError::invalid_response("DeleteObjects", e.to_string())))?;
            let delete = Delete::builder()
                .set_objects(Some(identifiers))
                .quiet(true)
                .build()
                .map_err(|e| failed(AwsError::invalid_response("DeleteObjects", e.to_string())))?;
            let out = self
                .client
                .delete_objects()
                .bucket(bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| failed(AwsError::from_sdk("DeleteObjects", e)))?;
            if let Some(error) = out.errors().first() {
                return Err(failed(AwsError::service(
                    "DeleteObjects",
                    error.code().unwrap_or("Unknown"),
                    &format!(
                        "{} not deleted: {}",
                        error.key().unwrap_or("a file"),
                        error.message().unwrap_or("no reason given")
                    ),
                    false,
                )));
            }
            deleted += batch.len();
        }
        done.deleted = deleted;
        Ok(done)
    }
}

/// A key as `x-amz-copy-source` takes it: URL-encoded, slashes kept.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_are_url_encoded_but_keep_their_folders() {
        assert_eq!(encode_key("site/a b+c.html"), "site/a%20b%2Bc.html");
        assert_eq!(encode_key("été/ü.css"), "%C3%A9t%C3%A9/%C3%BC.css");
    }
}
