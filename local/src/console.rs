//! Progress lines on the terminal: `HH:MM:SS topic  message`.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Where `sluice local` says what it is doing. Cloning shares it.
#[derive(Clone, Default)]
pub struct Console {
    quiet_builds: Arc<AtomicBool>,
}

impl Console {
    /// A console that prints everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops echoing build log lines (they still go to the build's log file).
    pub fn hide_build_logs(&self) {
        self.quiet_builds.store(true, Ordering::Relaxed);
    }

    /// One line under `topic`.
    pub fn say(&self, topic: &str, message: impl AsRef<str>) {
        let now = chrono::Local::now().format("%H:%M:%S");
        let mut out = std::io::stdout().lock();
        for line in message.as_ref().lines() {
            let _ = writeln!(out, "{now} {topic:<8} {line}");
        }
        let _ = out.flush();
    }

    /// One line of a build's log.
    pub fn build_line(&self, line: &str) {
        if !self.quiet_builds.load(Ordering::Relaxed) {
            self.say("build", format!("│ {line}"));
        }
    }
}
