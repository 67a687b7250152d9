//! Injected AWS faults: a fault-injecting proxy (microburst, pinned in
//! `requirements/faults.txt`) between the functions and the emulator, which throttles
//! or fails a share of their requests the way AWS does, in each service's own error
//! format, so that the SDK's retries and Sluice's own recovery both run for real.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use super::emulator::{answers, free_port, spawn_supervised, stop_group};

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// What share of the functions' AWS requests fail, and the proxy that fails them.
#[derive(Clone, Debug, PartialEq)]
pub struct Faults {
    /// Above 0 and at most 0.5: half of it is answered with throttling, half with a
    /// server error, each in the service's own code ([`FAULTED`]).
    pub share: f64,
    /// The microburst executable.
    pub binary: PathBuf,
}

impl Faults {
    /// `share` of the requests failed by the microburst `make` installs (or the one
    /// `SLUICE_MICROBURST` names).
    pub fn new(share: f64, workspace: &Path) -> Result<Self> {
        if !(share > 0.0 && share <= 0.5) {
            bail!(
                "the share of AWS requests to fail must be above 0 and at most 0.5 \
                 (0.1 fails one in ten), not {share}"
            );
        }
        let binary = std::env::var_os("SLUICE_MICROBURST")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join(".venv/faults/bin/microburst"));
        Ok(Self { share, binary })
    }

    /// The proxy's rules: for each service the functions call, throttling and a
    /// server error, each `share / 2` of its requests, in the code and status that
    /// service uses (S3 throttles with `SlowDown` and 503, the others with
    /// `Throttling` and 400). The proxy tries rules in order and one that does not
    /// fire passes the request on to the next, so the second one's chance is raised.
    fn rules(&self, upstream: &str, port: u16) -> String {
        let throttled = self.share / 2.0;
        let failed = throttled / (1.0 - throttled);
        let mut rules = format!("upstream: {upstream}\nport: {port}\nhost: 127.0.0.1\nrules:\n");
        for (service, throttle, throttle_status, error) in FAULTED {
            rules.push_str(&format!(
                "  - service: {service}\n    probability: {throttled}\n    \
                 error: {{code: {throttle}, status: {throttle_status}, message: \"Rate exceeded (injected by sluice local)\"}}\n\
                 \x20 - service: {service}\n    probability: {failed}\n    \
                 error: {{code: {error}, status: 500, message: \"Internal error (injected by sluice local)\"}}\n"
            ));
        }
        rules
    }
}

/// The services whose requests are failed, each with its throttling code and status
/// and its server error's code: every AWS service the functions call through the
/// emulator. (CodeCommit and CodeBuild are `sluice local`'s own, not the emulator's.)
const FAULTED: [(&str, &str, u16, &str); 4] = [
    ("s3", "SlowDown", 503, "InternalError"),
    ("cloudformation", "Throttling", 400, "InternalFailure"),
    ("sns", "Throttling", 400, "InternalFailure"),
    ("sts", "Throttling", 400, "InternalFailure"),
];

/// The proxy, listening on a loopback port; stopped when dropped.
pub struct FaultProxy {
    child: Child,
    port: u16,
    log: PathBuf,
}

/// What the proxy saw and did, per AWS service.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct FaultStats {
    pub requests: Requests,
    pub by_service: Vec<ServiceFaults>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Requests {
    pub total: u64,
    pub faulted: u64,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ServiceFaults {
    pub service: String,
    pub requests: u64,
    pub faulted: u64,
}

impl FaultProxy {
    /// A free loopback port for the proxy: the emulator must know it before it
    /// starts, to send its Lambdas' requests there.
    pub fn reserve_port() -> Result<u16> {
        free_port()
    }

    /// Starts the proxy on `port`, in front of `upstream`, keeping its files in `dir`,
    /// and waits until it answers.
    pub fn start(faults: &Faults, dir: &Path, upstream: &str, port: u16) -> Result<Self> {
        if !faults.binary.exists() {
            bail!(
                "the fault-injecting proxy is not installed at {}: run `make test` or \
                 `make soak` (they create .venv/faults with the pinned microburst), or set \
                 SLUICE_MICROBURST to a microburst executable",
                faults.binary.display()
            );
        }
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let config = dir.join("faults.yaml");
        std::fs::write(&config, faults.rules(upstream, port))
            .with_context(|| format!("cannot write {}", config.display()))?;
        let log = dir.join("faults.log");
        let mut command = Command::new(&faults.binary);
        command
            .arg("--config")
            .arg(&config)
            // The emulator takes any signature; nothing is signed again.
            .arg("--no-resign")
            .current_dir(dir);
        let child = spawn_supervised(command, &log)?;
        let mut proxy = Self { child, port, log };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                bail!(
                    "the fault-injecting proxy exited ({status}) before answering; see {}",
                    proxy.log.display()
                );
            }
            if answers(port, "/_microburst/health", "\"ok\"") {
                return Ok(proxy);
            }
            if Instant::now() > deadline {
                bail!(
                    "the fault-injecting proxy did not answer on port {port} within \
                     {READY_TIMEOUT:?}; see {}",
                    proxy.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its address, e.g. `http://127.0.0.1:45123`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The requests it passed or failed so far, per service.
    pub async fn stats(&self) -> Result<FaultStats> {
        let url = format!("{}/_microburst/stats", self.endpoint());
        let response = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()?
            .get(&url)
            .send()
            .await
            .with_context(|| format!("cannot reach the fault-injecting proxy at {url}"))?
            .error_for_status()?;
        response
            .json()
            .await
            .context("the fault-injecting proxy's statistics are not what microburst 0.10 sends")
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        stop_group(&mut self.child);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_outside_what_makes_sense_is_refused_with_the_range() {
        for share in [0.0, -0.1, 0.6, f64::NAN] {
            let err = Faults::new(share, Path::new("/w")).expect_err("refused");
            assert!(err.to_string().contains("at most 0.5"), "{err}");
        }
        assert_eq!(Faults::new(0.1, Path::new("/w")).expect("valid").share, 0.1);
    }

    #[test]
    fn each_kind_of_fault_is_half_the_share_of_each_services_requests() {
        let faults = Faults {
            share: 0.1,
            binary: PathBuf::from("microburst"),
        };
        let rules = faults.rules("http://127.0.0.1:1", 2);
        let config: serde_json::Value = serde_yaml_ng::from_str(&rules).expect("YAML");
        let rules = config["rules"].as_array().expect("rules");
        assert_eq!(rules.len(), 2 * FAULTED.len());
        for pair in rules.chunks(2) {
            let service = &pair[0]["service"];
            assert_eq!(service, &pair[1]["service"], "a pair per service");
            let throttled = pair[0]["probability"].as_f64().expect("a chance");
            let failed = pair[1]["probability"].as_f64().expect("a chance");
            // The second rule only sees what the first let through.
            assert!((throttled - 0.05).abs() < 1e-12, "{service}");
            assert!(
                ((1.0 - throttled) * failed - 0.05).abs() < 1e-12,
                "{service}"
            );
            assert_eq!(pair[1]["error"]["status"], 500);
        }
        let s3 = &rules[0];
        assert_eq!(s3["service"], "s3");
        assert_eq!(s3["error"]["code"], "SlowDown");
        assert_eq!(s3["error"]["status"], 503, "S3 throttles with a 503");
    }
}
