//! `sluice doctor`'s probe of the state bucket: an operator command that only checks.

use sluice_adapters::ObjectStore;
use tracing::info;

use crate::engine::{Adapters, Engine};

use super::Answer;

impl<A: Adapters> Engine<A> {
    /// `sluice doctor`'s probe (see [`Action::Check`](super::Action::Check)); the
    /// command's record, just written, was its write.
    pub(super) async fn check(&self, caller: &str, nonce: &str) -> Answer {
        let pipeline = &self.config.pipeline.name;
        let key = format!("pipelines/{pipeline}/doctor/{nonce}.json");
        info!(%caller, "state probe");
        match self.objects.head(&key).await {
            Ok(None) => Answer::done(format!(
                "wrote its record of this command under pipelines/{pipeline}/, and a read of \
                 a key there that does not exist answered \"absent\" (404), as the functions \
                 need to find a missing object"
            )),
            Ok(Some(_)) => Answer::done(format!(
                "wrote under pipelines/{pipeline}/ and read {key} (which should not exist)"
            )),
            Err(e) => Answer::refused(format!(
                "a read of a key that does not exist under pipelines/{pipeline}/ failed: {}. \
                 S3 answers 403 instead of 404 to a role that may not list the bucket: the \
                 functions' roles need s3:ListBucket on it (template.yaml's StateAccessPolicy \
                 grants it, unconditioned); check that no bucket policy, permissions \
                 boundary or service control policy denies it",
                sluice_adapters::aws::chain(&e)
            )),
        }
    }
}
