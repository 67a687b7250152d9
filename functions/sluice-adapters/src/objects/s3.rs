//! Objects in an S3 bucket, written with S3's conditional writes.

use super::{Condition, Object, ObjectError, ObjectStore, Version, hex_of, version_id};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;

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
