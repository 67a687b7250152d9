//! Conditional object storage: the one capability the execution store needs, with an
//! S3 implementation and an in-memory fake that keeps the same compare-and-swap rules.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;

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

/// Objects in one S3 bucket.
#[derive(Clone, Debug)]
pub struct S3Objects {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Objects {
    /// Objects in `bucket`, reached through `client`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    fn backend<E>(
        &self,
        operation: &'static str,
        key: &str,
        err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> ObjectError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        ObjectError::Backend {
            operation,
            key: format!("s3://{}/{}", self.bucket, key),
            retryable: crate::aws::is_transient(&err),
            source: Box::new(err),
        }
    }
}

impl S3Objects {
    /// The object at `key` (of version `version`, or the current one), its body not
    /// read yet; `None` if there is none.
    async fn get_object(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> Result<Option<aws_sdk_s3::operation::get_object::GetObjectOutput>, ObjectError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version.map(str::to_owned))
            .send()
            .await
        {
            Ok(output) => Ok(Some(output)),
            Err(err)
                if err.as_service_error().is_some_and(|e| e.is_no_such_key())
                    || status(&err) == Some(404) =>
            {
                Ok(None)
            }
            Err(err) => Err(self.backend("GetObject", key, err)),
        }
    }

    /// Reads `body` of the object at `key` chunk by chunk, each to `each`, until it
    /// ends or `each` says it wants no more.
    async fn each_chunk(
        &self,
        key: &str,
        mut body: ByteStream,
        mut each: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), ObjectError> {
        while let Some(chunk) = body.try_next().await.map_err(|e| ObjectError::Backend {
            operation: "GetObject (reading the body)",
            key: format!("s3://{}/{}", self.bucket, key),
            retryable: true,
            source: Box::new(e),
        })? {
            if !each(&chunk) {
                break;
            }
        }
        Ok(())
    }
}

/// The HTTP status S3 answered with, if it answered.
fn status<E>(err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

impl ObjectStore for S3Objects {
    async fn get(&self, key: &str) -> Result<Option<Object>, ObjectError> {
        let Some(output) = self.get_object(key, None).await? else {
            return Ok(None);
        };
        let etag = output.e_tag().map(str::to_owned);
        let body = output
            .body
            .collect()
            .await
            .map_err(|e| ObjectError::Backend {
                operation: "GetObject (reading the body)",
                key: format!("s3://{}/{}", self.bucket, key),
                retryable: true,
                source: Box::new(e),
            })?
            .into_bytes()
            .to_vec();
        let etag = etag.ok_or_else(|| ObjectError::Backend {
            operation: "GetObject",
            key: format!("s3://{}/{}", self.bucket, key),
            retryable: false,
            source: "the response carried no ETag, so the object cannot be updated safely".into(),
        })?;
        Ok(Some(Object { body, etag }))
    }

    async fn put(&self, key: &str, body: Vec<u8>, condition: Condition) -> Result<(), ObjectError> {
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        let request = match condition {
            Condition::Absent => request.if_none_match("*"),
            Condition::Matches(etag) => request.if_match(etag),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            // 409 is S3's answer when two conditional writes to one key race.
            Err(err) if matches!(status(&err), Some(412 | 409)) => {
                Err(ObjectError::PreconditionFailed {
                    key: key.to_owned(),
                })
            }
            Err(err) => Err(self.backend("PutObject", key, err)),
        }
    }

    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        max: usize,
    ) -> Result<Vec<String>, ObjectError> {
        let max_keys = i32::try_from(max.min(1000)).unwrap_or(1000);
        let output = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_start_after(after.map(str::to_owned))
            .max_keys(max_keys)
            .send()
            .await
            .map_err(|err| self.backend("ListObjectsV2", prefix, err))?;
        let mut keys: Vec<String> = output
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect();
        keys.truncate(max);
        Ok(keys)
    }

    async fn head(&self, key: &str) -> Result<Option<Version>, ObjectError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => Ok(Some(Version::answered(
                output.e_tag(),
                output.version_id(),
                output.content_length(),
            ))),
            Err(err)
                if err.as_service_error().is_some_and(|e| e.is_not_found())
                    || status(&err) == Some(404) =>
            {
                Ok(None)
            }
            Err(err) => Err(self.backend("HeadObject", key, err)),
        }
    }

    async fn read(
        &self,
        key: &str,
        version: Option<&str>,
        max: usize,
    ) -> Result<Option<(Vec<u8>, Version)>, ObjectError> {
        let request = || {
            self.client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .set_version_id(version.map(str::to_owned))
        };
        let output = match request().range(format!("bytes=0-{max}")).send().await {
            Ok(output) => output,
            // An empty object has no byte 0 to start a range at.
            Err(err) if status(&err) == Some(416) => request()
                .send()
                .await
                .map_err(|err| self.backend("GetObject", key, err))?,
            Err(err)
                if err.as_service_error().is_some_and(|e| e.is_no_such_key())
                    || status(&err) == Some(404) =>
            {
                return Ok(None);
            }
            Err(err) => return Err(self.backend("GetObject", key, err)),
        };
        // A ranged read says the whole size after the range: `bytes 0-99/1234`.
        let size = output
            .content_range()
            .and_then(|r| r.rsplit_once('/'))
            .and_then(|(_, total)| total.parse().ok())
            .or_else(|| output.content_length().and_then(|n| u64::try_from(n).ok()))
            .unwrap_or(0);
        let read = Version {
            etag: output.e_tag().unwrap_or_default().to_owned(),
            id: version_id(output.version_id()),
            size,
        };
        let mut body = Vec::new();
        self.each_chunk(key, output.body, |chunk| {
            body.extend_from_slice(chunk);
            let more = body.len() <= max;
            body.truncate(max + 1);
            more
        })
        .await?;
        Ok(Some((body, read)))
    }

    async fn digest(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> Result<Option<(String, Version)>, ObjectError> {
        use sha2::Digest as _;
        let Some(output) = self.get_object(key, version).await? else {
            return Ok(None);
        };
        let read = Version::answered(output.e_tag(), output.version_id(), output.content_length());
        let mut hasher = sha2::Sha256::new();
        self.each_chunk(key, output.body, |chunk| {
            hasher.update(chunk);
            true
        })
        .await?;
        Ok(Some((hex_of(&hasher.finalize()), read)))
    }

    async fn copy(
        &self,
        from: &str,
        version: Option<&str>,
        to: &str,
    ) -> Result<Version, ObjectError> {
        // The copy source is `bucket/key?versionId=v`, the key URL-encoded.
        let encoded: String = from
            .split('/')
            .map(|part| urlencoding::encode(part).into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let source = match version {
            Some(v) => format!(
                "{}/{encoded}?versionId={}",
                self.bucket,
                urlencoding::encode(v)
            ),
            None => format!("{}/{encoded}", self.bucket),
        };
        let output = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(source)
            .send()
            .await
            .map_err(|err| self.backend("CopyObject", to, err))?;
        let etag = output
            .copy_object_result()
            .and_then(|r| r.e_tag())
            .unwrap_or_default()
            .to_owned();
        let id = version_id(output.version_id());
        match self.head(to).await? {
            Some(written) if id.is_none() || written.id == id => Ok(written),
            // Another copy of the same bytes landed after ours: ours is still a
            // version of the key, with the same content.
            Some(written) => Ok(Version {
                etag,
                id,
                size: written.size,
            }),
            None => Err(ObjectError::Backend {
                operation: "CopyObject",
                key: to.to_owned(),
                retryable: true,
                source: "the copy is not there after it was written".into(),
            }),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| self.backend("DeleteObject", key, err))
    }
}

/// An in-memory object store with S3's conditional-write rules, for unit tests.
#[derive(Clone, Debug, Default)]
pub struct MemoryObjects {
    inner: Arc<Mutex<MemoryInner>>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    objects: BTreeMap<String, Object>,
    versions: u64,
    /// Every version ever written, as a versioned bucket keeps them.
    history: BTreeMap<(String, String), Vec<u8>>,
}

impl MemoryObjects {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// What S3's lifecycle leaves under `prefix` once its objects are older than the
    /// rule's days: every object gone, with every older version.
    pub fn expire(&self, prefix: &str) {
        let mut inner = self.lock();
        inner.objects.retain(|k, _| !k.starts_with(prefix));
        inner.history.retain(|(k, _), _| !k.starts_with(prefix));
    }

    /// Writes `body` at `key` whatever is there, as any principal allowed to write
    /// the key may (a build, in its upload area).
    pub fn overwrite(&self, key: &str, body: Vec<u8>) {
        let mut inner = self.lock();
        inner.versions += 1;
        let etag = format!("\"v{}\"", inner.versions);
        inner
            .history
            .insert((key.to_owned(), memory_version(&etag)), body.clone());
        inner.objects.insert(key.to_owned(), Object { body, etag });
    }

    /// The bytes of version `version` of `key` (the current one if `None`), as a
    /// service reading the bucket by key and version sees them.
    pub fn body(&self, key: &str, version: Option<&str>) -> Option<Vec<u8>> {
        let inner = self.lock();
        match version {
            None => inner.objects.get(key).map(|o| o.body.clone()),
            Some(v) => inner.history.get(&(key.to_owned(), v.to_owned())).cloned(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        // A panic elsewhere while holding the lock leaves plain data behind; keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ObjectStore for MemoryObjects {
    async fn get(&self, key: &str) -> Result<Option<Object>, ObjectError> {
        Ok(self.lock().objects.get(key).cloned())
    }

    async fn put(&self, key: &str, body: Vec<u8>, condition: Condition) -> Result<(), ObjectError> {
        let mut inner = self.lock();
        let current = inner.objects.get(key).map(|o| o.etag.as_str());
        let holds = match (&condition, current) {
            (Condition::Absent, None) => true,
            (Condition::Matches(want), Some(have)) => want == have,
            _ => false,
        };
        if !holds {
            return Err(ObjectError::PreconditionFailed {
                key: key.to_owned(),
            });
        }
        inner.versions += 1;
        let etag = format!("\"v{}\"", inner.versions);
        inner
            .history
            .insert((key.to_owned(), memory_version(&etag)), body.clone());
        inner.objects.insert(key.to_owned(), Object { body, etag });
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        max: usize,
    ) -> Result<Vec<String>, ObjectError> {
        Ok(self
            .lock()
            .objects
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(k, _)| after.is_none_or(|a| k.as_str() > a))
            .take(max)
            .map(|(k, _)| k.clone())
            .collect())
    }

    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        self.lock().objects.remove(key);
        Ok(())
    }

    async fn head(&self, key: &str) -> Result<Option<Version>, ObjectError> {
        Ok(self.lock().objects.get(key).map(|o| Version {
            etag: o.etag.clone(),
            id: Some(memory_version(&o.etag)),
            size: o.body.len() as u64,
        }))
    }

    async fn read(
        &self,
        key: &str,
        version: Option<&str>,
        max: usize,
    ) -> Result<Option<(Vec<u8>, Version)>, ObjectError> {
        let inner = self.lock();
        let found = match version {
            None => inner
                .objects
                .get(key)
                .map(|o| (o.body.clone(), memory_version(&o.etag))),
            Some(v) => inner
                .history
                .get(&(key.to_owned(), v.to_owned()))
                .map(|body| (body.clone(), v.to_owned())),
        };
        Ok(found.map(|(mut body, v)| {
            let size = body.len() as u64;
            body.truncate(max + 1);
            let version = Version {
                etag: format!("\"{v}\""),
                id: Some(v),
                size,
            };
            (body, version)
        }))
    }
}

/// The version id the in-memory store gives the write that made `etag`.
fn memory_version(etag: &str) -> String {
    etag.trim_matches('"').to_owned()
}
