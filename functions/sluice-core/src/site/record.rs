//! What Sluice put in a site's bucket, so that the next deploy knows its copies even
//! where an ETag says nothing about the content.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::plan::{LiveObject, same_etag};

/// What Sluice put at one key of a site's bucket: the ETag S3 gave the copy, and the
/// SHA-256 of the content copied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placed {
    pub etag: String,
    pub sha256: String,
}

/// What Sluice put in a stage's site bucket, kept in the state after each deploy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteRecord {
    pub bucket: String,
    /// By key.
    pub objects: BTreeMap<String, Placed>,
}

impl SiteRecord {
    /// `live` with the SHA-256 of each object this record knows, where the object's
    /// ETag is still the one its copy got (anything else was changed by someone).
    pub fn know(&self, bucket: &str, live: &mut [LiveObject]) {
        if self.bucket != bucket {
            return;
        }
        for object in live {
            if let Some(placed) = self.objects.get(&object.key)
                && same_etag(&placed.etag, &object.etag)
            {
                object.sha256 = Some(placed.sha256.clone());
            }
        }
    }

    /// The record after a deploy to `bucket` that copied `uploaded` (key, the ETag S3
    /// gave it, the SHA-256 of its content) and deleted `deleted`.
    pub fn after(
        &self,
        bucket: &str,
        uploaded: &[(String, String, String)],
        deleted: &[String],
    ) -> SiteRecord {
        let mut objects = if self.bucket == bucket {
            self.objects.clone()
        } else {
            BTreeMap::new()
        };
        for key in deleted {
            objects.remove(key);
        }
        for (key, etag, sha256) in uploaded {
            objects.insert(
                key.clone(),
                Placed {
                    etag: etag.clone(),
                    sha256: sha256.clone(),
                },
            );
        }
        SiteRecord {
            bucket: bucket.to_owned(),
            objects,
        }
    }
}
