//! The test harness: a real (emulated) AWS for each test, on this offline machine,
//! and one test's pipeline over it or over the in-memory fakes.
//!
//! [`Emulator::start`] runs the pinned MiniStack on a free port of 127.0.0.1 with its
//! own temporary directory, waits until it answers, and stops it (with everything it
//! started) when dropped, which also happens when the test panics.
//!
//! [`world::World`] is the engine over the fakes (the engine's own tests, with
//! `World::new()`) or over an emulator it starts (`World::emulated()`, the tests of
//! `emulated/`), with the verbs both kinds of test tell their story with.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_config::SdkConfig;

pub mod world;

/// A running MiniStack, owned by one test: `sluice local`'s own launcher, in a
/// temporary directory removed afterwards.
pub struct Emulator {
    inner: sluice_emulator::Emulator,
    _dir: tempfile::TempDir,
}

/// Where the pinned emulator lives: `$SLUICE_MINISTACK`, or the project's `.venv/emulator`.
fn ministack_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SLUICE_MINISTACK") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/emulator/bin/ministack")
}

impl Emulator {
    /// Starts a fresh emulator, or panics saying what to do.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sluice-ministack-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let inner = sluice_emulator::Emulator::start(&ministack_binary(), dir.path(), None, false)
            .unwrap_or_else(|e| panic!("{e:#}"));
        Self { inner, _dir: dir }
    }

    /// The emulator's base URL, e.g. `http://127.0.0.1:45123`.
    pub fn endpoint(&self) -> String {
        self.inner.endpoint()
    }

    /// An SDK configuration aimed at this emulator, with dummy credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        sluice_emulator::sdk_config(&self.endpoint()).await
    }

    /// An S3 client for this emulator (path-style, as Sluice's own clients are).
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        sluice_adapters::aws::s3_client(&self.sdk_config().await)
    }

    /// Creates a bucket no other test uses and returns its name.
    pub async fn fresh_bucket(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "sluice-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.s3()
            .await
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("cannot create bucket {name}: {e:?}"));
        name
    }

    /// A new bucket that keeps every version of its objects, as Sluice's does.
    pub async fn fresh_versioned_bucket(&self) -> String {
        let name = self.fresh_bucket().await;
        self.s3()
            .await
            .put_bucket_versioning()
            .bucket(&name)
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("cannot version bucket {name}: {e:?}"));
        name
    }
}
