//! A real browser for the scenarios: Debian's chromium, driven over WebDriver.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// chromedriver on a free port, stopped when dropped with the browser it started:
/// both are in a process group of their own, so a test that panics before closing
/// its session leaves no browser behind (one was, after a failed CI run).
pub(super) struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    pub(super) fn start() -> Driver {
        let port = sluice_local::emulator::free_port().expect("a free port");
        let child = Command::new("chromedriver")
            .process_group(0)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run chromedriver ({e}); `make test` installs Debian's chromium-driver"
                )
            });
        Driver { child, port }
    }

    pub(super) async fn client(&self) -> fantoccini::Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({"args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--window-size=390,844"
            ]}),
        );
        let url = format!("http://127.0.0.1:{}", self.port);
        // chromedriver needs a moment to listen: connecting is retried, not slept for.
        let mut last = None;
        for _ in 0..100 {
            match fantoccini::ClientBuilder::rustls()
                .expect("TLS setup")
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => return client,
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        panic!("cannot reach chromedriver: {last:?}");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Ok(group) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: a plain signal to the process group chromedriver leads.
            unsafe {
                libc::killpg(group, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Approves on the approval page `browser` shows, as `name`, by a click on Approve
/// (never by Enter); returns the answer page's text and closes the browser.
pub(super) async fn approve_in_browser(browser: fantoccini::Client, name: &str) -> String {
    let field = browser
        .find(fantoccini::Locator::Css("input[name=name]"))
        .await
        .expect("name field");
    field.clear().await.expect("clear the name");
    field.send_keys(name).await.expect("type a name");
    browser
        .find(fantoccini::Locator::Css("button.approve"))
        .await
        .expect("approve button")
        .click()
        .await
        .expect("click approve");
    // The answer page, once it replaced the form: found on the form's page, the body
    // could go stale under the reader (seen in CI on 2026-11-24).
    let answer = browser
        .wait()
        .for_element(fantoccini::Locator::XPath(
            "//body[not(.//button[contains(@class, 'approve')])]",
        ))
        .await
        .expect("answer page")
        .text()
        .await
        .expect("answer text");
    browser.close().await.expect("close the browser");
    answer
}
