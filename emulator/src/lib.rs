//! The AWS emulator (MiniStack) that `sluice local` and the tests start and stop,
//! and the SDK configuration that reaches it.

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A MiniStack process listening on a loopback port, stopped (with every Lambda
/// worker it started) when dropped.
pub struct Emulator {
    child: Child,
    port: u16,
    log: PathBuf,
}

/// A port of 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot bind a port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// MiniStack with `aws:PrincipalArn` as AWS gives it for role sessions.
const IAM_SCRIPT: &str = include_str!("../../scripts/ministack-iam.py");

impl Emulator {
    /// Starts `binary` with its files under `dir`, and waits until it answers. The
    /// Lambdas it runs send their AWS requests to `lambda_endpoint`, or to it when
    /// `None` (a fault-injecting proxy in front of it is the other choice).
    /// With `iam`, it evaluates every request's IAM policies (MiniStack's `AUTH`).
    pub fn start(
        binary: &Path,
        dir: &Path,
        lambda_endpoint: Option<&str>,
        iam: bool,
    ) -> Result<Self> {
        if !binary.exists() {
            bail!(
                "the AWS emulator is not installed at {}: run `make demo` or `make test` \
                 (they create .venv/emulator with the pinned MiniStack), or set \
                 SLUICE_MINISTACK to a ministack executable",
                binary.display()
            );
        }
        // A port free when chosen can be taken before MiniStack binds it: try again.
        let mut last = None;
        for _ in 0..3 {
            match Self::try_start(binary, dir, lambda_endpoint, iam) {
                Ok(emulator) => return Ok(emulator),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no attempt made")))
            .context("the AWS emulator did not start")
    }

    fn try_start(
        binary: &Path,
        dir: &Path,
        lambda_endpoint: Option<&str>,
        iam: bool,
    ) -> Result<Self> {
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        let log = dir.join("emulator.log");
        let port = free_port()?;
        let endpoint = format!("http://127.0.0.1:{port}");
        // Evaluating IAM, it runs with aws:PrincipalArn put right (see the script);
        // by the Python of the environment it is installed in.
        let mut command = match iam {
            true => {
                let script = dir.join("ministack-iam.py");
                std::fs::write(&script, IAM_SCRIPT)
                    .with_context(|| format!("cannot write {}", script.display()))?;
                let python = binary.with_file_name("python");
                if !python.exists() {
                    bail!(
                        "no python beside {} to run MiniStack with IAM evaluation: point \
                         SLUICE_MINISTACK at the ministack of a Python environment (as \
                         `make` installs it), or set SLUICE_LOCAL_IAM=false",
                        binary.display()
                    );
                }
                let mut command = Command::new(python);
                command.arg(script);
                command
            }
            false => Command::new(binary),
        };
        command
            .env("GATEWAY_PORT", port.to_string())
            .env("BIND_HOST", "127.0.0.1")
            .env("TMPDIR", &tmp)
            // Passed on to the Lambdas it runs, so their SDK calls come back here.
            .env("AWS_ENDPOINT_URL", lambda_endpoint.unwrap_or(&endpoint))
            .env("AUTH", if iam { "true" } else { "false" })
            .current_dir(dir);
        // Its own process group: stopping it also stops the Lambda workers it starts.
        let child = spawn_supervised(command, &log)?;
        let mut emulator = Self { child, port, log };
        emulator.wait_until_ready()?;
        Ok(emulator)
    }

    fn wait_until_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "it exited ({status}) before answering; its log says:\n{}",
                    self.log_tail()
                );
            }
            if answers(self.port, "/_ministack/health", "\"services\"") {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "no answer on port {} within {READY_TIMEOUT:?}; its log says:\n{}",
            self.port,
            self.log_tail()
        )
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_else(|e| format!("(no log: {e})"));
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Its base URL, e.g. `http://127.0.0.1:45123`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where its log is.
    pub fn log(&self) -> &Path {
        &self.log
    }
}

/// Whether a server on `port` answers `GET path` with a body containing `needle`.
pub fn answers(port: u16, path: &str, needle: &str) -> bool {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.") && response.contains(needle)
}

/// Spawns `command` with its output in `log`, in its own process group (so that
/// [`stop_group`] also stops what it starts), killed by the kernel if this process
/// dies without stopping it.
pub fn spawn_supervised(mut command: Command, log: &Path) -> Result<Child> {
    let out = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let err = out.try_clone()?;
    command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    // SAFETY: prctl is async-signal-safe; it asks the kernel to kill the child if this
    // process dies without running destructors.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command
        .spawn()
        .with_context(|| format!("cannot run {}", command.get_program().to_string_lossy()))
}

impl Drop for Emulator {
    fn drop(&mut self) {
        stop_group(&mut self.child);
    }
}

/// Stops a child started in its own process group, and whatever it started: SIGTERM,
/// a grace period, then SIGKILL to what is left of the group.
pub fn stop_group(child: &mut Child) {
    let group = -(child.id() as i32);
    // SAFETY: signalling our own child's process group.
    unsafe {
        libc::kill(group, libc::SIGTERM);
    }
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Whatever is left of the group: the process, or workers it spawned.
    // SAFETY: as above.
    unsafe {
        libc::kill(group, libc::SIGKILL);
    }
    let _ = child.wait();
}

/// The region local mode and the tests give every SDK client and the emulator.
pub const REGION: &str = "us-east-1";

/// An SDK configuration for the emulator at `endpoint`, with its test credentials.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    use aws_config::{BehaviorVersion, Region};
    use aws_credential_types::Credentials;
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "sluice-local"))
        .endpoint_url(endpoint)
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluating_iam_needs_the_python_of_the_emulators_environment() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let binary = dir.path().join("ministack");
        std::fs::write(&binary, "#!/bin/sh\n").expect("a stand-in executable");
        let err = Emulator::start(&binary, dir.path(), None, true)
            .err()
            .expect("refused");
        let said = format!("{err:#}");
        assert!(said.contains("no python beside"), "{said}");
        assert!(said.contains("SLUICE_LOCAL_IAM=false"), "{said}");
    }
}
