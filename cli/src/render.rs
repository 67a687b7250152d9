//! What `sluice status` and `sluice show` print: plain text, aligned for a terminal.
//!
//! One module per thing printed: `sluice status`'s table (`table`), `sluice show`'s
//! execution (`details`) and its stages' window and after-deploy lines (`stage`),
//! `sluice watch`'s lines (`progress`); `words` holds the words and times they share.

mod details;
mod progress;
mod stage;
mod table;
mod words;

pub use details::details;
pub use progress::watched;
pub use table::status_table;
pub use words::{counted, duration, to_the_second};
