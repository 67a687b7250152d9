//! Conditional object storage: the one capability the execution store needs, with an
//! S3 implementation and an in-memory fake that keeps the same compare-and-swap rules.

use std::future::Future;

pub use crate::aws::BoxError;

/// The precondition of a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// Create only: fail if the key exists (`If-None-Match: *`).
    Absent,
    /// Replace only the version that was read (`If-Match: <etag>`).
    Matches(String),
}

/// An object's content and the version tag that a conditional write must quote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    pub body: Vec<u8>,
    pub etag: String,
}

/// Why an object operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("the object at {key} changed since it was read")]
    PreconditionFailed { key: String },
    #[error("{operation} of {key} failed")]
    Backend {
        operation: &'static str,
        key: String,
        retryable: bool,
        #[source]
        source: BoxError,
    },
}

impl ObjectError {
    /// Whether trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ObjectError::PreconditionFailed { .. } => true,
            ObjectError::Backend { retryable, .. } => *retryable,
        }
    }
}

/// Key-value storage with conditional writes: S3, or a fake.
pub trait ObjectStore: Clone + Send + Sync + 'static {
    /// The object at `key`, or `None` if there is none.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Object>, ObjectError>> + Send;

    /// Writes `body` at `key` if `condition` holds.
    fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        condition: Condition,
    ) -> impl Future<Output = Result<(), ObjectError>> + Send;

    /// Up to `max` keys under `prefix`, in ascending order, starting after `after`.
    fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        max: usize,
    ) -> impl Future<Output = Result<Vec<String>, ObjectError>> + Send;

    /// Removes the object at `key`; a missing one is fine.
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), ObjectError>> + Send;

    /// Which version of the object at `key` is current, if there is one.
    fn head(&self, key: &str) -> impl Future<Output = Result<Option<Version>, ObjectError>> + Send;

    /// At most `max + 1` bytes of the object at `key` (of version `version`, or the
    /// current one), so a caller tells a too large object by its length without
    /// ever holding it whole; with the version read.
    fn read(
        &self,
        key: &str,
        version: Option<&str>,
        max: usize,
    ) -> impl Future<Output = Result<Option<(Vec<u8>, Version)>, ObjectError>> + Send;

    /// The SHA-256 (lowercase hex) of version `version` of the object at `key`, read
    /// whole but never held whole; `None` if there is no such version.
    fn digest(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> impl Future<Output = Result<Option<(String, Version)>, ObjectError>> + Send {
        async move {
            let Some((body, version)) = self.read(key, version, COPY_MAX).await? else {
                return Ok(None);
            };
            if body.len() > COPY_MAX {
                return Err(too_large("GetObject", key));
            }
            Ok(Some((sha256_hex(&body), version)))
        }
    }

    /// Copies version `version` of the object at `from` to `to`, which must not
    /// exist yet, and returns the version written. (The default reads and writes the
    /// whole object; S3 copies inside the bucket.)
    fn copy(
        &self,
        from: &str,
        version: Option<&str>,
        to: &str,
    ) -> impl Future<Output = Result<Version, ObjectError>> + Send {
        async move {
            let Some((body, _)) = self.read(from, version, COPY_MAX).await? else {
                return Err(ObjectError::Backend {
                    operation: "CopyObject",
                    key: from.to_owned(),
                    retryable: false,
                    source: "the version to copy does not exist".into(),
                });
            };
            if body.len() > COPY_MAX {
                return Err(too_large("CopyObject", from));
            }
            self.put(to, body, Condition::Absent).await?;
            self.head(to).await?.ok_or_else(|| ObjectError::Backend {
                operation: "CopyObject",
                key: to.to_owned(),
                retryable: true,
                source: "the copy is not there after it was written".into(),
            })
        }
    }
}

/// The largest object the default `digest` and `copy` hold in memory.
pub const COPY_MAX: usize = 256 * 1024 * 1024;

fn too_large(operation: &'static str, key: &str) -> ObjectError {
    ObjectError::Backend {
        operation,
        key: key.to_owned(),
        retryable: false,
        source: format!("the object is larger than {} MB", COPY_MAX / (1024 * 1024)).into(),
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex_of(&sha2::Sha256::digest(bytes))
}

fn hex_of(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// One version of an object: its ETag, and its version id in a versioned bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub etag: String,
    pub id: Option<String>,
    /// The whole object's size in bytes.
    pub size: u64,
}

impl Version {
    /// The version S3 described in an answer's ETag, version id and length.
    fn answered(etag: Option<&str>, id: Option<&str>, length: Option<i64>) -> Self {
        Version {
            etag: etag.unwrap_or_default().to_owned(),
            id: version_id(id),
            size: length.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
        }
    }
}

/// S3 says "null" for the version of an object in an unversioned bucket.
fn version_id(id: Option<&str>) -> Option<String> {
    id.filter(|v| !v.is_empty() && *v != "null")
        .map(str::to_owned)
}

mod memory;
mod s3;

pub use memory::MemoryObjects;
pub use s3::S3Objects;
