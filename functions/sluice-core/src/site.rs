//! A static website's deploy, planned: which files of a build's site folder are new,
//! changed or gone from the bucket that serves the site, what each is served as, and
//! the order that never leaves the site half-done.
//!
//! The order: every new and changed file except the pages, then the pages, then the
//! entry document, then deletions. While it runs, the old entry document still points
//! at files that are all still there; once it is replaced, everything it points at is
//! already up. A failure part-way leaves the old site serving (new files nobody links
//! to yet, at worst).
//!
//! A site stage ([`SiteTarget`]) deploys the files of one folder of the build's
//! artifact to one bucket, named in the pipeline's configuration or read from a
//! stack's output.

mod plan;
mod record;
mod serve;
mod target;

pub use plan::{
    FileAction, FileChange, LiveObject, SITE_FILES_MAX, SiteError, SiteFile, SitePlan, Upload, plan,
};
pub use record::{Placed, SiteRecord};
pub use serve::{cache_control, content_type};
pub use target::{
    STAGE_PLACEHOLDER, SiteBucket, SiteDistribution, SiteTarget, is_bucket_name, is_distribution_id,
};
