//! The smoke check's fake: what each address answers, and which were called.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::lock;

/// The smoke check's calls: what each address answers (as a test set it; an address
/// not set gives no answer), and which addresses were called.
#[derive(Clone, Default)]
pub struct MemoryProber {
    answers: Arc<Mutex<HashMap<String, sluice_core::smoke::Answer>>>,
    calls: Arc<Mutex<Vec<String>>>,
}

impl MemoryProber {
    /// `url` answers `answer` from now on.
    pub fn answer(&self, url: &str, answer: sluice_core::smoke::Answer) {
        lock(&self.answers).insert(url.to_owned(), answer);
    }

    /// The addresses called, in order.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.calls).clone()
    }
}

impl crate::probe::Prober for MemoryProber {
    async fn probe(&self, url: &str) -> sluice_core::smoke::Answer {
        lock(&self.calls).push(url.to_owned());
        lock(&self.answers).get(url).cloned().unwrap_or_else(|| {
            sluice_core::smoke::Answer::NoAnswer {
                reason: "nothing serves this address in the test".into(),
            }
        })
    }
}
