//! Cold start: how long a function takes from `exec` to its first poll of the Lambda
//! runtime API, and to its answer to a first event that needs no AWS call, with its
//! peak memory by then. The runtime API is a stub on loopback.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::stats::Summary;

/// How long a function may take to answer before the run is called a failure.
const GIVE_UP: Duration = Duration::from_secs(10);

/// One binary's figures over all runs.
#[derive(Debug, Serialize)]
pub struct Figures {
    pub binary: String,
    pub runs: usize,
    /// Milliseconds from spawn to the first poll.
    pub start_ms: Summary,
    /// Milliseconds from spawn to the answer to the first event; `None` for a function
    /// that has no event it answers without calling AWS (the sweeper).
    pub first_event_ms: Option<Summary>,
    /// Peak resident memory by that answer, in KiB.
    pub peak_rss_kib: Summary,
    /// Size of the binary on disk, in bytes.
    pub size_bytes: u64,
}

/// The environment Lambda gives a function, and the configuration Sluice's functions
/// read, with placeholder values: nothing is called before the first event.
fn lambda_environment(api: &str, name: &str) -> Vec<(String, String)> {
    // The default pipeline, as the stack gives it to its functions.
    let definition = sluice_definition::Definition::from_yaml(
        "sluice.yaml",
        "name: sluice\napplication: hello\nsource: {repository: hello-api}\n\
         approval: {emails: [approvers@example.com]}\n\
         stages: [{name: staging}, {name: production, approval: true}]\n",
    )
    .map(|d| d.encoded())
    .unwrap_or_default();
    let fixed = [
        ("AWS_LAMBDA_RUNTIME_API", api),
        ("AWS_LAMBDA_FUNCTION_NAME", name),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDBENCHBENCHBENCH0"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_SESSION_TOKEN", "bench"),
        ("LANG", "en_US.UTF-8"),
        ("TZ", ":UTC"),
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("SLUICE_PIPELINE", "sluice"),
        ("SLUICE_DEFINITION", definition.as_str()),
        ("SLUICE_BUCKET", "sluice-artifacts"),
        (
            "SLUICE_TOPIC_ARN",
            "arn:aws:sns:us-east-1:000000000000:sluice-approvals",
        ),
        ("SLUICE_BUILD_PROJECT", "sluice-build"),
        ("SLUICE_APPROVAL_URL", "https://approve.example.com/"),
    ];
    fixed
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// What the stub runtime API saw, and when.
enum Seen {
    /// The first `GET …/invocation/next`.
    Polled(Instant),
    /// The answer to the first event (`…/response` or `…/error`).
    Answered(Instant),
    /// A request the runtime API does not take there.
    Unexpected(String),
}

/// The event each function is sent first: one it refuses or ignores without calling
/// AWS, so that what is measured is its own work plus whatever it builds first. The
/// sweeper has none (every run reads S3), so it is measured to its first poll only.
fn first_event(binary: &str) -> Option<serde_json::Value> {
    if binary.contains("sweeper") {
        return None;
    }
    Some(if binary.contains("approval") {
        // A Function URL request for a page that does not exist.
        serde_json::json!({
            "version": "2.0",
            "rawPath": "/favicon.ico",
            "rawQueryString": "",
            "headers": {"host": "approve.example.com"},
            "requestContext": {
                "http": {"method": "GET", "path": "/favicon.ico", "protocol": "HTTP/1.1",
                          "sourceIp": "127.0.0.1", "userAgent": "bench"},
                "domainName": "approve.example.com", "requestId": "bench",
                "routeKey": "$default", "stage": "$default", "time": "24/Nov/2026:00:00:00 +0000",
                "timeEpoch": 0, "accountId": "000000000000", "apiId": "bench"
            },
            "isBase64Encoded": false
        })
    } else {
        // Not an event any of them takes: refused with a clear error, no AWS call.
        serde_json::json!({"bench": "an event no function takes"})
    })
}

/// Serves one HTTP connection of the runtime API: the first poll gets `event`, later
/// polls are held (the function is killed meanwhile), answers are acknowledged.
fn serve_connection(
    mut stream: TcpStream,
    event: Option<&[u8]>,
    seen: &Sender<Seen>,
    polls: &AtomicBool,
) {
    let _ = stream.set_nonblocking(false);
    let mut buffer = Vec::new();
    loop {
        let Some((head, body_len)) = read_head(&mut stream, &mut buffer) else {
            return;
        };
        let at = Instant::now();
        // Drop the body, however it arrived.
        let mut body = vec![0u8; body_len.saturating_sub(buffer.len())];
        if stream.read_exact(&mut body).is_err() {
            return;
        }
        buffer.drain(..body_len.min(buffer.len()));
        let line = head.lines().next().unwrap_or("").to_owned();
        if line.starts_with("GET /2018-06-01/runtime/invocation/next") {
            if polls.swap(true, Ordering::SeqCst) {
                return; // the second poll: hold it until the function is killed
            }
            let _ = seen.send(Seen::Polled(at));
            let Some(event) = event else {
                return; // nothing to send: hold the poll
            };
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 lambda-runtime-aws-request-id: bench-1\r\nlambda-runtime-deadline-ms: {}\r\n\
                 lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:000000000000:function:bench\r\n\
                 lambda-runtime-trace-id: Root=1-00000000-000000000000000000000000\r\n\r\n",
                event.len(),
                deadline_ms()
            );
            if stream
                .write_all(reply.as_bytes())
                .and_then(|_| stream.write_all(event))
                .is_err()
            {
                return;
            }
        } else if line.starts_with("POST /2018-06-01/runtime/invocation/bench-1/") {
            let _ = seen.send(Seen::Answered(at));
            let _ = stream.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n");
        } else {
            let _ = seen.send(Seen::Unexpected(line));
            return;
        }
    }
}

/// Milliseconds since the epoch, a minute from now: the event's deadline.
fn deadline_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() + 60_000)
}

/// Reads one request's head from `stream` (keeping what follows it in `buffer`) and
/// returns it with the body's length; `None` when the connection closes.
fn read_head(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<(String, usize)> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            buffer.drain(..end + 4);
            let length = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0);
            return Some((head, length));
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// One start of `binary`: its times to the first poll and to the first answer, and its
/// peak memory by then.
fn start_once(binary: &Path) -> anyhow::Result<Sample> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding the stub runtime API")?;
    let api = listener.local_addr()?.to_string();
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let event = first_event(&name)
        .map(|e| serde_json::to_vec(&e))
        .transpose()?;
    let answers = event.is_some();
    let (tell, seen) = channel();
    std::thread::spawn(move || {
        let polls = Arc::new(AtomicBool::new(false));
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (event, tell, polls) = (event.clone(), tell.clone(), polls.clone());
            std::thread::spawn(move || serve_connection(stream, event.as_deref(), &tell, &polls));
        }
    });
    let mut command = Command::new(binary);
    command
        .env_clear()
        .envs(lambda_environment(&api, &name))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let began = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let pid = child.id() as libc::pid_t;
    let mut polled = None;
    let outcome = loop {
        match seen.recv_timeout(Duration::from_millis(20)) {
            Ok(Seen::Polled(at)) => {
                polled = Some(at - began);
                if !answers {
                    break Ok(None);
                }
            }
            Ok(Seen::Answered(at)) => break Ok(Some(at - began)),
            Ok(Seen::Unexpected(line)) => {
                break Err(anyhow::anyhow!(
                    "unexpected request to the runtime API: {line:?}"
                ));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                break Err(anyhow::anyhow!("the stub runtime API stopped"));
            }
        }
        if began.elapsed() > GIVE_UP {
            break Err(anyhow::anyhow!("it did not answer within {GIVE_UP:?}"));
        }
        if let Some(code) = exited(pid) {
            let mut stderr = String::new();
            if let Some(mut err) = child.stderr.take() {
                let _ = err.read_to_string(&mut stderr);
            }
            break Err(anyhow::anyhow!("it exited ({code}): {}", stderr.trim()));
        }
    };
    // Whatever happened, the child goes, and its peak memory is read as it is reaped.
    let _ = child.kill();
    let rss = reap(pid);
    let answered =
        outcome.with_context(|| format!("{} under the stub runtime API", binary.display()))?;
    let polled = polled.context("it answered an event it was never sent")?;
    Ok(Sample {
        polled_ms: polled.as_secs_f64() * 1000.0,
        answered_ms: answered.map(|a| a.as_secs_f64() * 1000.0),
        peak_rss_kib: rss?,
    })
}

/// One start's figures.
struct Sample {
    polled_ms: f64,
    /// `None` for a function sent no event.
    answered_ms: Option<f64>,
    peak_rss_kib: u64,
}

/// The exit status of `pid`, if it has exited (it is not reaped).
fn exited(pid: libc::pid_t) -> Option<i32> {
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid siginfo_t; WNOWAIT leaves the child to be reaped later.
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: waitid filled `info` in when it returned 0 with a pid set.
    (r == 0 && unsafe { info.si_pid() } == pid).then(|| unsafe { info.si_status() })
}

/// Reaps `pid` and returns its peak resident memory in KiB.
fn reap(pid: libc::pid_t) -> anyhow::Result<u64> {
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to a status and a rusage for the call's duration.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r != pid {
        bail!(
            "could not reap process {pid}: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(usage.ru_maxrss as u64)
}

/// Starts each binary `runs` times, interleaved so that the machine's state affects
/// them alike, after one unmeasured start each (the page cache warm, as Lambda's is).
pub fn measure(binaries: &[PathBuf], runs: usize) -> anyhow::Result<Vec<Figures>> {
    let mut samples: Vec<Vec<Sample>> = binaries.iter().map(|_| Vec::new()).collect();
    for binary in binaries {
        start_once(binary)?;
    }
    for _ in 0..runs {
        for (binary, samples) in binaries.iter().zip(&mut samples) {
            samples.push(start_once(binary)?);
        }
    }
    binaries
        .iter()
        .zip(samples)
        .map(|(binary, samples)| {
            let of =
                |f: fn(&Sample) -> f64| Summary::of(&samples.iter().map(f).collect::<Vec<_>>());
            Ok(Figures {
                binary: binary
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                runs,
                start_ms: of(|s| s.polled_ms),
                first_event_ms: samples
                    .iter()
                    .map(|s| s.answered_ms)
                    .collect::<Option<Vec<_>>>()
                    .map(|ms| Summary::of(&ms)),
                peak_rss_kib: of(|s| s.peak_rss_kib as f64),
                size_bytes: std::fs::metadata(binary)
                    .with_context(|| format!("reading {}", binary.display()))?
                    .len(),
            })
        })
        .collect()
}
