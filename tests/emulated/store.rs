//! The execution store against the emulated S3: conditional writes, contention,
//! idempotent creation and listing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use chrono::{TimeZone, Utc};
use sluice_adapters::{
    Condition, ExecutionStore, Object, ObjectError, ObjectStore, RetryPolicy, S3Objects,
    StoreError, Version,
};
use sluice_core::{Commit, CommitId, Event, Execution, Pipeline, Push, Timestamp, step};
use sluice_tests::Emulator;
use tokio::sync::Barrier;

const WRITERS: usize = 16;
const EVENTS_PER_WRITER: usize = 50;

fn push(n: u32, at: Timestamp) -> Push {
    Push::new("hello-api", "master", commit(n), at)
}

fn t(secs: i64) -> Timestamp {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

fn pipeline() -> Pipeline {
    Pipeline::with_default_stages("hello", "hello-api", "master", "hello").unwrap()
}

fn commit(n: u32) -> Commit {
    Commit {
        id: CommitId::parse(&format!("{n:08x}").repeat(5)).unwrap(),
        author: Some("Ada".into()),
        message: Some("change".into()),
    }
}

/// Patient enough for 16 writers hammering one document.
fn patient() -> RetryPolicy {
    RetryPolicy {
        attempts: 2_000,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(40),
    }
}

/// Makes the first `n` conditional updates wait for each other, so that all of them
/// have read the same version before any writes: a guaranteed collision.
#[derive(Clone)]
struct Collide<O> {
    inner: O,
    barrier: Arc<Barrier>,
    arrived: Arc<AtomicUsize>,
    n: usize,
}

impl<O> Collide<O> {
    fn new(inner: O, n: usize) -> Self {
        Self {
            inner,
            barrier: Arc::new(Barrier::new(n)),
            arrived: Arc::new(AtomicUsize::new(0)),
            n,
        }
    }
}

impl<O: ObjectStore> ObjectStore for Collide<O> {
    async fn get(&self, key: &str) -> Result<Option<Object>, ObjectError> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, body: Vec<u8>, condition: Condition) -> Result<(), ObjectError> {
        if matches!(condition, Condition::Matches(_))
            && self.arrived.fetch_add(1, Ordering::SeqCst) < self.n
        {
            self.barrier.wait().await;
        }
        self.inner.put(key, body, condition).await
    }
    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        max: usize,
    ) -> Result<Vec<String>, ObjectError> {
        self.inner.list(prefix, after, max).await
    }
    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        self.inner.delete(key).await
    }
    async fn head(&self, key: &str) -> Result<Option<Version>, ObjectError> {
        self.inner.head(key).await
    }
    async fn read(
        &self,
        key: &str,
        version: Option<&str>,
        max: usize,
    ) -> Result<Option<(Vec<u8>, Version)>, ObjectError> {
        self.inner.read(key, version, max).await
    }
}

/// S3 without preconditions on updates: what a naive read-modify-write store does.
#[derive(Clone)]
struct Unguarded {
    s3: S3Objects,
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl ObjectStore for Unguarded {
    async fn get(&self, key: &str) -> Result<Option<Object>, ObjectError> {
        self.s3.get(key).await
    }
    async fn put(&self, key: &str, body: Vec<u8>, condition: Condition) -> Result<(), ObjectError> {
        if condition == Condition::Absent {
            return self.s3.put(key, body, condition).await;
        }
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| ObjectError::Backend {
                operation: "PutObject",
                key: key.into(),
                retryable: false,
                source: Box::new(e),
            })
    }
    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        max: usize,
    ) -> Result<Vec<String>, ObjectError> {
        self.s3.list(prefix, after, max).await
    }
    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        self.s3.delete(key).await
    }
    async fn head(&self, key: &str) -> Result<Option<Version>, ObjectError> {
        self.s3.head(key).await
    }
    async fn read(
        &self,
        key: &str,
        version: Option<&str>,
        max: usize,
    ) -> Result<Option<(Vec<u8>, Version)>, ObjectError> {
        self.s3.read(key, version, max).await
    }
}

/// Counts listing calls.
#[derive(Clone)]
struct CountLists {
    inner: S3Objects,
    lists: Arc<AtomicUsize>,
}

impl ObjectStore for CountLists {
    async fn get(&self, key: &str) -> Result<Option<Object>, ObjectError> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, body: Vec<u8>, condition: Condition) -> Result<(), ObjectError> {
        self.inner.put(key, body, condition).await
    }
    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        max: usize,
    ) -> Result<Vec<String>, ObjectError> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list(prefix, after, max).await
    }
    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        self.inner.delete(key).await
    }
    async fn head(&self, key: &str) -> Result<Option<Version>, ObjectError> {
        self.inner.head(key).await
    }
    async fn read(
        &self,
        key: &str,
        version: Option<&str>,
        max: usize,
    ) -> Result<Option<(Vec<u8>, Version)>, ObjectError> {
        self.inner.read(key, version, max).await
    }
}

fn note(writer: usize, k: usize) -> (Event, Timestamp) {
    let event = Event::NoteAdded {
        author: format!("writer-{writer:02}"),
        text: format!("event {k:02}"),
    };
    (event, t((writer * 1000 + k) as i64))
}

/// 16 writers apply 50 events each to one execution; returns what was saved and what
/// a serial run of the same events gives.
async fn contend<O: ObjectStore>(objects: O) -> (Execution, Execution, Vec<StoreError>) {
    let store = ExecutionStore::new(objects, &pipeline()).with_retry(patient());
    let created = store
        .create(&pipeline(), push(1, t(0)), t(0))
        .await
        .expect("create the execution");
    let id = created.execution.id.clone();

    let mut writers = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let store = store.clone();
        let id = id.clone();
        writers.spawn(async move {
            let mut errors = Vec::new();
            for k in 0..EVENTS_PER_WRITER {
                let (event, now) = note(w, k);
                if let Err(e) = store.apply(&id, event, now).await {
                    errors.push(e);
                }
            }
            errors
        });
    }
    let mut errors = Vec::new();
    while let Some(done) = writers.join_next().await {
        errors.extend(done.expect("writer task"));
    }

    let mut serial = created.execution;
    for w in 0..WRITERS {
        for k in 0..EVENTS_PER_WRITER {
            let (event, now) = note(w, k);
            serial = step(&serial, event, now).expect("serial step").execution;
        }
    }
    let saved = store.load(&id).await.expect("load").expect("exists");
    (saved, serial, errors)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_writers_lose_no_event() {
    let emulator = Emulator::start();
    let objects = S3Objects::new(emulator.s3().await, emulator.fresh_bucket().await);
    let (saved, serial, errors) = contend(Collide::new(objects, WRITERS)).await;
    assert!(errors.is_empty(), "writers failed: {errors:?}");
    assert_eq!(saved.notes.len(), WRITERS * EVENTS_PER_WRITER);
    assert_eq!(saved, serial);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_preconditions_the_same_writers_lose_updates() {
    let emulator = Emulator::start();
    let client = emulator.s3().await;
    let bucket = emulator.fresh_bucket().await;
    let unguarded = Unguarded {
        s3: S3Objects::new(client.clone(), bucket.clone()),
        client,
        bucket,
    };
    let (saved, serial, errors) = contend(Collide::new(unguarded, WRITERS)).await;
    assert!(errors.is_empty(), "{errors:?}");
    // All 16 first writes read the same version; without If-Match, 15 are overwritten.
    assert!(
        saved.notes.len() <= WRITERS * EVENTS_PER_WRITER - (WRITERS - 1),
        "only {} of {} notes were expected to survive",
        saved.notes.len(),
        WRITERS * EVENTS_PER_WRITER
    );
    assert_ne!(saved, serial);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_delivered_by_many_tasks_creates_exactly_one_execution() {
    let emulator = Emulator::start();
    let objects = S3Objects::new(emulator.s3().await, emulator.fresh_bucket().await);
    let store = ExecutionStore::new(objects, &pipeline());
    let mut deliveries = tokio::task::JoinSet::new();
    for i in 0..24 {
        let store = store.clone();
        deliveries.spawn(async move { store.create(&pipeline(), push(7, t(0)), t(i)).await });
    }
    let mut results = Vec::new();
    while let Some(done) = deliveries.join_next().await {
        results.push(done.expect("task").expect("create"));
    }
    let creators = results.iter().filter(|r| r.created).count();
    assert_eq!(creators, 1, "exactly one delivery must own the build");
    let ids: std::collections::BTreeSet<_> =
        results.iter().map(|r| r.execution.id.clone()).collect();
    assert_eq!(ids.len(), 1);
    assert!(
        results
            .iter()
            .filter(|r| !r.created)
            .all(|r| r.commands.is_empty())
    );
    assert_eq!(store.recent(100).await.expect("list").len(), 1);
}

#[tokio::test]
async fn the_newest_executions_come_first_from_one_listing_call() {
    let emulator = Emulator::start();
    let lists = Arc::new(AtomicUsize::new(0));
    let objects = CountLists {
        inner: S3Objects::new(emulator.s3().await, emulator.fresh_bucket().await),
        lists: lists.clone(),
    };
    let store = ExecutionStore::new(objects, &pipeline());
    // Created out of time order, as pushes to different commits may be.
    for i in [3u32, 0, 7, 1, 9, 4, 8, 2, 6, 5, 11, 10] {
        store
            .create(
                &pipeline(),
                push(i, t(i64::from(i) * 60)),
                t(i64::from(i) * 60),
            )
            .await
            .expect("create");
    }
    let recent = store.recent(4).await.expect("recent");
    let times: Vec<_> = recent.iter().map(|e| e.created_at).collect();
    assert_eq!(times, [t(660), t(600), t(540), t(480)]);
    assert_eq!(lists.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn s3_conditional_writes_refuse_stale_and_duplicate_writes() {
    let emulator = Emulator::start();
    let objects = S3Objects::new(emulator.s3().await, emulator.fresh_bucket().await);
    assert_eq!(objects.get("k").await.expect("get"), None);
    objects
        .put("k", b"one".to_vec(), Condition::Absent)
        .await
        .expect("create");
    let again = objects.put("k", b"two".to_vec(), Condition::Absent).await;
    assert!(matches!(again, Err(ObjectError::PreconditionFailed { .. })));
    let first = objects.get("k").await.expect("get").expect("exists");
    objects
        .put(
            "k",
            b"three".to_vec(),
            Condition::Matches(first.etag.clone()),
        )
        .await
        .expect("update the version read");
    let stale = objects
        .put("k", b"four".to_vec(), Condition::Matches(first.etag))
        .await;
    assert!(matches!(stale, Err(ObjectError::PreconditionFailed { .. })));
    let now = objects.get("k").await.expect("get").expect("exists");
    assert_eq!(now.body, b"three");
}

#[tokio::test]
async fn a_missing_bucket_is_a_clear_error_that_is_not_retried() {
    let emulator = Emulator::start();
    let objects = S3Objects::new(emulator.s3().await, "no-such-bucket-here");
    let store = ExecutionStore::new(objects, &pipeline());
    let err = store
        .create(&pipeline(), push(1, t(0)), t(0))
        .await
        .expect_err("there is no bucket");
    assert!(!err.is_retryable(), "{err:?}");
    assert!(
        err.to_string().contains("s3://no-such-bucket-here/"),
        "the error names the object: {err}"
    );
}

/// A release copies an upload by the version it hashed: S3's digest and copy by
/// version see that version's bytes, whatever is written over the key meanwhile.
#[tokio::test]
async fn an_objects_version_is_hashed_and_copied_whatever_is_written_over_it() {
    let emulator = Emulator::start();
    let client = emulator.s3().await;
    let bucket = emulator.fresh_versioned_bucket().await;
    let objects = S3Objects::new(client, bucket);
    let upload = "artifacts/p/1-secret/code/fn.zip";
    objects
        .put(upload, b"approved".to_vec(), Condition::Absent)
        .await
        .expect("upload");
    let pinned = objects.head(upload).await.expect("head").expect("there");
    let version = pinned.id.as_deref();
    assert!(version.is_some(), "the bucket is versioned");
    let current = objects.get(upload).await.expect("get").expect("there");
    objects
        .put(upload, b"forged".to_vec(), Condition::Matches(current.etag))
        .await
        .expect("overwrite");
    let (sha256, _) = objects
        .digest(upload, version)
        .await
        .expect("digest")
        .expect("the version is there");
    assert_eq!(sha256, sluice_adapters::sha256_hex(b"approved"));
    let release = format!("releases/p/sha256/{sha256}");
    let copied = objects
        .copy(upload, version, &release)
        .await
        .expect("copy by version");
    let (body, _) = objects
        .read(&release, copied.id.as_deref(), 100)
        .await
        .expect("read")
        .expect("the copy is there");
    assert_eq!(body, b"approved");
    // A version that is not there is no digest, not an error.
    assert_eq!(
        objects
            .digest("artifacts/p/none", None)
            .await
            .expect("digest"),
        None
    );
}
