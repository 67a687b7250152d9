//! What the driver-level tests share: a local repository with one pushed commit,
//! and the driver's endpoint serving it.

use std::path::Path;

use sluice_local::Console;
use sluice_local::bus::Bus;
use sluice_local::codebuild::{Builds, Settings};
use sluice_local::demo::Checkout;
use sluice_local::git::Repository;
use sluice_local::server::{Outbox, Shared, router};

/// The driver's endpoint on a loopback port, stopped when dropped.
pub struct Driver {
    pub url: String,
    pub builds: Builds,
    /// The commit pushed to the repository.
    pub commit: String,
    pub dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Repository `name` with `files` in one commit saying `message`, served by a
/// driver whose own AWS calls go to `endpoint` through `sdk`.
pub async fn driver(
    sdk: &aws_config::SdkConfig,
    endpoint: &str,
    name: &str,
    files: &[(&str, &str)],
    message: &str,
) -> Driver {
    let dir = tempfile::tempdir().expect("temporary directory");
    let repository = Repository::create(&dir.path().join("repos"), name, "master")
        .await
        .expect("repository");
    let source = dir.path().join("source");
    for (path, text) in files {
        let path = source.join(path);
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).expect("directory");
        std::fs::write(&path, text).expect("file");
    }
    let checkout = Checkout::create(
        &repository,
        "master",
        &source,
        &dir.path().join("work"),
        message,
    )
    .await
    .expect("checkout");
    let commit = checkout.push().await.expect("push");

    let console = Console::new();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let url = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let state = dir.path().join("state");
    let builds = Builds::new(
        Settings {
            endpoint: endpoint.to_owned(),
            region: "us-east-1".into(),
            account: "000000000000".into(),
            driver_url: url.clone(),
            state: state.clone(),
            cache: dir.path().join("cache"),
            // As `sluice local` gives them: the CLIs `make` installs.
            tools: sluice_local::Options::new(
                std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/..")),
                state.clone(),
            )
            .build_tools,
            iam: false,
        },
        sdk,
        vec![repository.clone()],
        Bus::new(sdk, "000000000000", console.clone()),
        console.clone(),
    );
    let shared = Shared {
        repositories: vec![repository],
        builds: builds.clone(),
        outbox: Outbox::new(
            dir.path().join("outbox"),
            aws_sdk_sns::Client::new(sdk),
            console,
        ),
        state,
        emulator: endpoint.to_owned(),
        approval_host: Default::default(),
        http: reqwest::Client::new(),
        s3: sluice_adapters::aws::s3_client(sdk),
    };
    let app = router(shared);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Driver {
        url,
        builds,
        commit,
        dir,
        task,
    }
}
