//! The test harness: a real (emulated) AWS for each test, on this offline machine.
//!
//! [`Emulator::start`] runs the pinned MiniStack on a free port of 127.0.0.1 with its
//! own temporary directory, waits until it answers, and stops it (with everything it
//! started) when dropped, which also happens when the test panics.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};

pub mod fakes;
pub mod world;
use aws_sdk_s3::config::Credentials;

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A running MiniStack, owned by one test.
pub struct Emulator {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

/// Where the pinned emulator lives: `$SLUICE_MINISTACK`, or the project's `.venv/emulator`.
fn ministack_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SLUICE_MINISTACK") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/emulator/bin/ministack")
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("cannot bind a port on 127.0.0.1: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("cannot read the bound port: {e}"))
        .port()
}

impl Emulator {
    /// Starts a fresh emulator, or panics saying what to do.
    pub fn start() -> Self {
        let binary = ministack_binary();
        if !binary.exists() {
            panic!(
                "the AWS emulator is not installed at {}.\n\
                 Run `make test` (it creates .venv/emulator with the pinned MiniStack), \
                 or set SLUICE_MINISTACK to a ministack executable.",
                binary.display()
            );
        }
        // The port is free when chosen but could be taken before MiniStack binds it;
        // a second try with another port settles that race.
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::try_start(&binary) {
                Ok(emulator) => return emulator,
                Err(e) => last_error = e,
            }
        }
        panic!("MiniStack did not start: {last_error}");
    }

    fn try_start(binary: &PathBuf) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("sluice-ministack-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let log = File::create(dir.path().join("ministack.log"))
            .map_err(|e| format!("cannot create the emulator's log: {e}"))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cannot share the emulator's log: {e}"))?;
        let port = free_port();
        let mut command = Command::new(binary);
        command
            .env("GATEWAY_PORT", port.to_string())
            .env("BIND_HOST", "127.0.0.1")
            .env("TMPDIR", dir.path())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Its own process group, so stopping it also stops what it started.
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; this only asks the kernel to kill the
        // emulator if the test process dies without running destructors.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let mut emulator = Self { child, port, dir };
        emulator.wait_until_ready()?;
        Ok(emulator)
    }

    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "it exited ({status}) before answering; its log says:\n{}",
                    self.log_tail()
                ));
            }
            if self
                .health()
                .is_some_and(|body| body.contains("\"services\""))
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "no answer on port {} within {READY_TIMEOUT:?}; its log says:\n{}",
            self.port,
            self.log_tail()
        ))
    }

    fn health(&self) -> Option<String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let request = "GET /_ministack/health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        response.starts_with("HTTP/1.").then_some(response)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("ministack.log"))
            .unwrap_or_else(|e| format!("(no log: {e})"));
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// The emulator's base URL, e.g. `http://127.0.0.1:45123`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An SDK configuration aimed at this emulator, with dummy credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "sluice-tests"))
            .endpoint_url(self.endpoint())
            .load()
            .await
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
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let group = -(self.child.id() as i32);
        // SAFETY: signalling our own child's process group.
        unsafe {
            libc::kill(group, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Whatever is left of the group (the emulator, or Lambda workers it spawned).
        unsafe {
            libc::kill(group, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}
