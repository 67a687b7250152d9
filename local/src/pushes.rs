//! Pushes to the local CodeCommit, as the events AWS would put on the bus.

use std::time::Duration;

use crate::bus;
use crate::git::Repository;

/// Turns each push recorded by the repository's hook into a `CodeCommit Repository
/// State Change` event, until the task is dropped.
pub(crate) async fn watch_pushes(repository: Repository, bus: bus::Bus) {
    let mut offset = repository.pushes_offset();
    let arn = format!(
        "arn:aws:codecommit:{}:{}:{}",
        bus.region(),
        bus.account(),
        repository.name
    );
    loop {
        match repository.pushes_since(offset) {
            Ok((updates, next)) => {
                offset = next;
                for update in updates {
                    let detail = update.detail(&repository.name, &repository.name);
                    bus.console_say(&format!(
                        "{} {} → {}",
                        detail["event"].as_str().unwrap_or("push"),
                        detail["referenceName"].as_str().unwrap_or(""),
                        &update.new[..12.min(update.new.len())]
                    ));
                    let event = bus::envelope(
                        "aws.codecommit",
                        "CodeCommit Repository State Change",
                        bus.region(),
                        bus.account(),
                        vec![arn.clone()],
                        detail,
                    );
                    bus.deliver_or_warn(&event).await;
                }
            }
            Err(e) => bus.console_say(&format!("cannot read the push log: {e:#}")),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
