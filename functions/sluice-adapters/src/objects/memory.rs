//! The in-memory object store, keeping S3's conditional-write rules.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::{Condition, Object, ObjectError, ObjectStore, Version};

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
