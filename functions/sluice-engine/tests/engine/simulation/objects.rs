//! The simulation's S3: the in-memory object store, with each call a point where
//! another handler may run and a fault may be injected.

use super::*;

/// S3 as the simulation sees it: every call may yield to another handler, fail
/// before it acts, or (for writes) lose its answer after it acted.
#[derive(Clone)]
pub(super) struct SimObjects {
    pub(super) inner: MemoryObjects,
    pub(super) faults: Faults,
}

fn object_error(key: &str, err: AwsError) -> ObjectError {
    ObjectError::Backend {
        operation: err.operation,
        key: key.to_owned(),
        retryable: err.retryable,
        source: Box::new(err),
    }
}

impl SimObjects {
    async fn before(&self, operation: &'static str, key: &str) -> Result<(), ObjectError> {
        tokio::task::yield_now().await;
        self.faults
            .check(operation)
            .map_err(|e| object_error(key, e))
    }
}

impl ObjectStore for SimObjects {
    async fn get(&self, key: &str) -> Result<Option<Object>, ObjectError> {
        self.before("GetObject", key).await?;
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, body: Vec<u8>, condition: Condition) -> Result<(), ObjectError> {
        self.before("PutObject", key).await?;
        self.inner.put(key, body, condition).await?;
        self.faults
            .check_after("PutObject")
            .map_err(|e| object_error(key, e))
    }
    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        max: usize,
    ) -> Result<Vec<String>, ObjectError> {
        self.before("ListObjectsV2", prefix).await?;
        self.inner.list(prefix, after, max).await
    }
    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        self.before("DeleteObject", key).await?;
        self.inner.delete(key).await
    }
    async fn head(&self, key: &str) -> Result<Option<Version>, ObjectError> {
        self.before("HeadObject", key).await?;
        self.inner.head(key).await
    }
    async fn read(
        &self,
        key: &str,
        version: Option<&str>,
        max: usize,
    ) -> Result<Option<(Vec<u8>, Version)>, ObjectError> {
        self.before("GetObject", key).await?;
        self.inner.read(key, version, max).await
    }
}
