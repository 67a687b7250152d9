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

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::InvalidId;
use crate::ids::StageName;

/// A file of the site as the build left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteFile {
    /// Its path in the site, such as `assets/app.js`.
    pub path: String,
    pub size: u64,
    /// The MD5 of its content, in hex: what S3 gives as the ETag of a single-part upload.
    pub md5: String,
    /// The SHA-256 of its content, in hex, as the release recorded it.
    pub sha256: Option<String>,
}

/// An object the site's bucket holds now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveObject {
    /// Its key, under the site's prefix.
    pub key: String,
    pub size: u64,
    /// Its ETag, quoted or not.
    pub etag: String,
    /// The SHA-256 of its content, when it is known: Sluice put it there (see
    /// [`Placed`]) and its ETag is still the one S3 gave that copy. An ETag is the
    /// content's MD5 only for a single-part, unencrypted or SSE-S3 object; in a
    /// bucket encrypted with a KMS key it says nothing about the content.
    pub sha256: Option<String>,
}

/// What Sluice put at one key of a site's bucket: the ETag S3 gave the copy, and the
/// SHA-256 of the content copied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placed {
    pub etag: String,
    pub sha256: String,
}

/// What Sluice put in a stage's site bucket, kept in the state after each deploy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteRecord {
    pub bucket: String,
    /// By key.
    pub objects: BTreeMap<String, Placed>,
}

impl SiteRecord {
    /// `live` with the SHA-256 of each object this record knows, where the object's
    /// ETag is still the one its copy got (anything else was changed by someone).
    pub fn know(&self, bucket: &str, live: &mut [LiveObject]) {
        if self.bucket != bucket {
            return;
        }
        for object in live {
            if let Some(placed) = self.objects.get(&object.key)
                && same_etag(&placed.etag, &object.etag)
            {
                object.sha256 = Some(placed.sha256.clone());
            }
        }
    }

    /// The record after a deploy to `bucket` that copied `uploaded` (key, the ETag S3
    /// gave it, the SHA-256 of its content) and deleted `deleted`.
    pub fn after(
        &self,
        bucket: &str,
        uploaded: &[(String, String, String)],
        deleted: &[String],
    ) -> SiteRecord {
        let mut objects = if self.bucket == bucket {
            self.objects.clone()
        } else {
            BTreeMap::new()
        };
        for key in deleted {
            objects.remove(key);
        }
        for (key, etag, sha256) in uploaded {
            objects.insert(
                key.clone(),
                Placed {
                    etag: etag.clone(),
                    sha256: sha256.clone(),
                },
            );
        }
        SiteRecord {
            bucket: bucket.to_owned(),
            objects,
        }
    }
}

fn same_etag(a: &str, b: &str) -> bool {
    !a.is_empty()
        && a.trim_matches('"')
            .eq_ignore_ascii_case(b.trim_matches('"'))
}

/// What happens to one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FileAction {
    Add,
    Change,
    Remove,
}

impl FileAction {
    /// The action in words, as approvers read it.
    pub fn as_str(self) -> &'static str {
        match self {
            FileAction::Add => "Add",
            FileAction::Change => "Change",
            FileAction::Remove => "Remove",
        }
    }
}

/// One line of "what will change": a file added, changed or removed, with its size
/// (the new size; for a removal, the size it had).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    pub path: String,
    pub action: FileAction,
    pub size: u64,
}

/// One upload: the file, its key, and the headers it is served with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    pub path: String,
    pub key: String,
    pub content_type: String,
    pub cache_control: &'static str,
}

/// The deploy of a site, in the order it must run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SitePlan {
    /// Uploads, in order: assets, pages, the entry document last.
    pub uploads: Vec<Upload>,
    /// Keys to delete once every upload succeeded.
    pub deletions: Vec<String>,
    /// Every change, sorted by path, for the approval page and email.
    pub changes: Vec<FileChange>,
}

impl SitePlan {
    /// Whether the bucket already serves exactly this site.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// A site that cannot be deployed, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SiteError {
    #[error("the site has no {0}, its entry document; the build must leave it in the site folder")]
    NoEntryDocument(String),
    #[error("the site's file {0:?} has a path that is not a plain relative path")]
    BadPath(String),
    #[error("the site has {0} files; at most {SITE_FILES_MAX} are deployed")]
    TooManyFiles(usize),
}

/// Most files a site may have: each is one request per deploy.
pub const SITE_FILES_MAX: usize = 10_000;

/// The bucket a site stage deploys to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SiteBucket {
    /// A bucket by name.
    Named { name: String },
    /// The bucket a stack's output names, read when the stage is prepared: a bucket
    /// the back-end's stack creates (`hello-api-staging:WebsiteBucket`).
    Output { stack: String, output: String },
}

impl std::fmt::Display for SiteBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SiteBucket::Named { name } => write!(f, "bucket {name}"),
            SiteBucket::Output { stack, output } => {
                write!(f, "the bucket of stack {stack}'s output {output}")
            }
        }
    }
}

/// The CloudFront distribution in front of a site, whose caches a deploy clears.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SiteDistribution {
    /// A distribution by id (`E2QWRUHAPOMQZL`).
    Id { id: String },
    /// The distribution a stack's output names (`hello-api-staging:DistributionId`).
    Output { stack: String, output: String },
}

impl std::fmt::Display for SiteDistribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SiteDistribution::Id { id } => write!(f, "distribution {id}"),
            SiteDistribution::Output { stack, output } => {
                write!(f, "the distribution of stack {stack}'s output {output}")
            }
        }
    }
}

/// Whether `id` looks like a CloudFront distribution id.
pub fn is_distribution_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// What a site stage deploys, and where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteTarget {
    pub bucket: SiteBucket,
    /// The distribution whose caches are cleared of the changed files, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<SiteDistribution>,
    /// The artifact's folder that holds the site, such as `site` or `site/staging`.
    pub folder: String,
    /// The page served for the site's root, such as `index.html`; uploaded last.
    pub entry_document: String,
}

/// How a configuration names the stage in a pattern.
pub const STAGE_PLACEHOLDER: char = '*';

fn config_error(what: &'static str, value: &str, expected: &'static str) -> InvalidId {
    InvalidId {
        what,
        value: value.chars().take(140).collect(),
        expected,
    }
}

/// How a site stage's target is recorded: `s3://<bucket>/`.
pub fn target_of(bucket: &str) -> String {
    format!("s3://{bucket}/")
}

/// The bucket of a recorded target, if it is one.
pub fn bucket_of(target: &str) -> Option<&str> {
    target
        .strip_prefix("s3://")?
        .strip_suffix('/')
        .filter(|b| is_bucket_name(b))
}

/// Whether `name` is an S3 bucket name (the rules for new buckets).
pub fn is_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
        && !b.iter().all(|c| c.is_ascii_digit() || *c == b'.')
}

fn is_stack_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl SiteTarget {
    /// The site target of `stage` from the configuration's patterns, where `*`
    /// stands for the stage's name: `bucket` is a bucket name (`hello-web-*`) or a
    /// stack and its output (`hello-api-*:WebsiteBucket`); `folder` is the artifact's
    /// folder (`site`, or `site/*` for a site built per stage).
    pub fn for_stage(
        stage: &StageName,
        bucket: &str,
        folder: &str,
        entry_document: &str,
    ) -> Result<Self, InvalidId> {
        let fill = |pattern: &str| pattern.replace(STAGE_PLACEHOLDER, stage.as_str());
        let bucket = match bucket.split_once(':') {
            Some((stack, output)) => {
                let (stack, output) = stack_output(
                    stage,
                    stack,
                    output,
                    ("site bucket's stack", "site bucket's stack output"),
                )?;
                SiteBucket::Output { stack, output }
            }
            None => {
                let name = fill(bucket.trim());
                if !is_bucket_name(&name) {
                    return Err(config_error(
                        "site bucket",
                        &name,
                        "a bucket name (3-63 characters of a-z, 0-9, '-' and '.'), or                          <stack>:<Output> for the bucket a stack's output names; '*' stands for the stage",
                    ));
                }
                SiteBucket::Named { name }
            }
        };
        let folder = fill(folder.trim().trim_end_matches('/'));
        if !plain_relative(&folder) || folder.len() > 200 {
            return Err(config_error(
                "site folder",
                &folder,
                "a relative folder of the build's artifact, such as site or site/*",
            ));
        }
        let entry_document = entry_document.trim();
        if !plain_relative(entry_document) || entry_document.len() > 200 {
            return Err(config_error(
                "site entry document",
                entry_document,
                "a file of the site, such as index.html",
            ));
        }
        Ok(Self {
            bucket,
            distribution: None,
            folder,
            entry_document: entry_document.to_owned(),
        })
    }

    /// The same target, clearing the caches of the CloudFront distribution
    /// `distribution` names after each deploy: an id (`E2QWRUHAPOMQZL`), or
    /// `<stack>:<Output>` with `*` standing for the stage.
    pub fn with_distribution(
        mut self,
        stage: &StageName,
        distribution: &str,
    ) -> Result<Self, InvalidId> {
        let distribution = distribution.trim();
        self.distribution = Some(match distribution.split_once(':') {
            Some((stack, output)) => {
                let (stack, output) = stack_output(
                    stage,
                    stack,
                    output,
                    (
                        "site distribution's stack",
                        "site distribution's stack output",
                    ),
                )?;
                SiteDistribution::Output { stack, output }
            }
            None if is_distribution_id(distribution) => SiteDistribution::Id {
                id: distribution.to_owned(),
            },
            None => {
                return Err(config_error(
                    "site distribution",
                    distribution,
                    "a CloudFront distribution id (capital letters and digits), or \
                     <stack>:<Output> for the one a stack's output names; '*' stands for the stage",
                ));
            }
        });
        Ok(self)
    }
}

/// A stack (its pattern filled in with the stage) and one of its outputs; the labels
/// name each in an error.
fn stack_output(
    stage: &StageName,
    stack: &str,
    output: &str,
    (stack_label, output_label): (&'static str, &'static str),
) -> Result<(String, String), InvalidId> {
    let stack = stack.trim().replace(STAGE_PLACEHOLDER, stage.as_str());
    let output = output.trim();
    if !is_stack_name(&stack) {
        return Err(config_error(
            stack_label,
            &stack,
            "a stack name: 1-128 characters of A-Z, a-z, 0-9 and '-', starting with a letter",
        ));
    }
    let output_ok =
        (1..=255).contains(&output.len()) && output.bytes().all(|b| b.is_ascii_alphanumeric());
    if !output_ok {
        return Err(config_error(
            output_label,
            output,
            "an output's logical name, letters and digits, such as WebsiteBucket",
        ));
    }
    Ok((stack, output.to_owned()))
}

/// Served fresh every time: pages, whose names never change.
const REVALIDATE: &str = "no-cache";
/// Safe to keep forever: the name holds a hash of the content (`app.3f9a2b1c.js`).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Anything else: kept a few minutes.
const SHORT: &str = "public, max-age=300";

fn is_page(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".html") || lower.ends_with(".htm")
}

/// Whether the file name carries a content hash, after its first part: 8 to 64 hex
/// digits with at least one digit (`main.3f9a2b1c.js`, webpack's), or exactly 8
/// letters and digits mixing upper case, lower case and digits (`index-B2xk9Qf4.css`,
/// Vite's). A wrong yes would cache a changing file for a year, so words with a
/// year in them (`report2024.pdf`) are no.
fn is_fingerprinted(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let Some((stem, _extension)) = name.rsplit_once('.') else {
        return false;
    };
    stem.split(['.', '-', '_']).skip(1).any(|part| {
        let bytes = part.as_bytes();
        let has = |f: fn(&u8) -> bool| bytes.iter().any(f);
        let hex = (8..=64).contains(&bytes.len())
            && bytes.iter().all(u8::is_ascii_hexdigit)
            && has(u8::is_ascii_digit);
        let vite = bytes.len() == 8
            && bytes.iter().all(u8::is_ascii_alphanumeric)
            && has(u8::is_ascii_digit)
            && has(u8::is_ascii_uppercase)
            && has(u8::is_ascii_lowercase);
        hex || vite
    })
}

/// The `Content-Type` a file is served with: from its extension, text as UTF-8,
/// `application/octet-stream` when unknown.
pub fn content_type(path: &str) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let text = mime.type_() == mime_guess::mime::TEXT
        || matches!(mime.subtype().as_str(), "javascript" | "json" | "xml")
        || mime.suffix().is_some_and(|s| s == "xml" || s == "json");
    if text {
        format!("{}; charset=utf-8", mime.essence_str())
    } else {
        mime.essence_str().to_owned()
    }
}

/// The `Cache-Control` a file is served with.
pub fn cache_control(path: &str, entry_document: &str) -> &'static str {
    if path == entry_document || is_page(path) {
        REVALIDATE
    } else if is_fingerprinted(path) {
        IMMUTABLE
    } else {
        SHORT
    }
}

fn plain_relative(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 1024
        && !path.starts_with('/')
        && !path.ends_with('/')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && !path.chars().any(char::is_control)
}

/// Plans the deploy of `files` to a bucket holding `live` under `prefix` (empty, or
/// a folder ending in `/`), `entry_document` (such as `index.html`) last.
pub fn plan(
    files: &[SiteFile],
    live: &[LiveObject],
    prefix: &str,
    entry_document: &str,
) -> Result<SitePlan, SiteError> {
    if files.len() > SITE_FILES_MAX {
        return Err(SiteError::TooManyFiles(files.len()));
    }
    if let Some(bad) = files.iter().find(|f| !plain_relative(&f.path)) {
        return Err(SiteError::BadPath(bad.path.clone()));
    }
    if !files.iter().any(|f| f.path == entry_document) {
        return Err(SiteError::NoEntryDocument(entry_document.to_owned()));
    }
    let live: BTreeMap<&str, &LiveObject> = live
        .iter()
        .filter_map(|o| o.key.strip_prefix(prefix).map(|path| (path, o)))
        .filter(|(path, _)| !path.is_empty())
        .collect();
    let mut changes = Vec::new();
    let mut uploads = Vec::new();
    for file in files {
        let action = match live.get(file.path.as_str()) {
            None => FileAction::Add,
            Some(o) if same_etag(&o.etag, &file.md5) => continue,
            Some(o) if o.sha256.is_some() && o.sha256 == file.sha256 => continue,
            Some(_) => FileAction::Change,
        };
        changes.push(FileChange {
            path: file.path.clone(),
            action,
            size: file.size,
        });
        uploads.push(Upload {
            path: file.path.clone(),
            key: format!("{prefix}{}", file.path),
            content_type: content_type(&file.path),
            cache_control: cache_control(&file.path, entry_document),
        });
    }
    let kept: std::collections::HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let mut deletions = Vec::new();
    for (path, object) in &live {
        if !kept.contains(path) {
            changes.push(FileChange {
                path: (*path).to_owned(),
                action: FileAction::Remove,
                size: object.size,
            });
            deletions.push(object.key.clone());
        }
    }
    // Assets, then pages, then the entry document; by path within each.
    uploads.sort_by(|a, b| {
        let rank = |u: &Upload| (u.path == entry_document, is_page(&u.path));
        rank(a).cmp(&rank(b)).then_with(|| a.path.cmp(&b.path))
    });
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(SitePlan {
        uploads,
        deletions,
        changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &str) -> SiteFile {
        SiteFile {
            path: path.into(),
            size: content.len() as u64,
            md5: format!("{:032x}", fake_md5(content)),
            sha256: None,
        }
    }

    /// Stands in for MD5: only equality matters to the plan.
    fn fake_md5(content: &str) -> u128 {
        content
            .bytes()
            .fold(0u128, |h, b| h.wrapping_mul(31).wrapping_add(u128::from(b)))
    }

    fn live(key: &str, content: &str) -> LiveObject {
        LiveObject {
            key: key.into(),
            size: content.len() as u64,
            etag: format!("\"{:032x}\"", fake_md5(content)),
            sha256: None,
        }
    }

    #[test]
    fn only_new_and_changed_files_are_uploaded_and_gone_ones_deleted() {
        let files = [
            file("index.html", "<p>new</p>"),
            file("about.html", "<p>about</p>"),
            file("assets/app.3f9a2b1c.js", "js"),
            file("style.css", "css v2"),
        ];
        let now = [
            live("site/index.html", "<p>old</p>"),
            live("site/about.html", "<p>about</p>"),
            live("site/style.css", "css v1"),
            live("site/old.png", "png"),
            live("other/keep.txt", "not ours"),
        ];
        let plan = plan(&files, &now, "site/", "index.html").expect("a plan");
        let order: Vec<&str> = plan.uploads.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(
            order,
            [
                "site/assets/app.3f9a2b1c.js",
                "site/style.css",
                "site/index.html"
            ],
            "assets first, the entry document last, unchanged pages not at all"
        );
        assert_eq!(plan.deletions, ["site/old.png"], "only under the prefix");
        let changes: Vec<(&str, FileAction, u64)> = plan
            .changes
            .iter()
            .map(|c| (c.path.as_str(), c.action, c.size))
            .collect();
        assert_eq!(
            changes,
            [
                ("assets/app.3f9a2b1c.js", FileAction::Add, 2),
                ("index.html", FileAction::Change, 10),
                ("old.png", FileAction::Remove, 3),
                ("style.css", FileAction::Change, 6),
            ]
        );
    }

    #[test]
    fn pages_go_after_assets_and_before_the_entry_document() {
        let files = [
            file("index.html", "i"),
            file("docs/guide.html", "g"),
            file("logo.svg", "s"),
        ];
        let plan = plan(&files, &[], "", "index.html").expect("a plan");
        let order: Vec<&str> = plan.uploads.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(order, ["logo.svg", "docs/guide.html", "index.html"]);
    }

    #[test]
    fn the_same_site_again_changes_nothing() {
        let files = [file("index.html", "i"), file("a.css", "c")];
        let now = [live("index.html", "i"), live("a.css", "c")];
        assert!(
            plan(&files, &now, "", "index.html")
                .expect("a plan")
                .is_empty()
        );
    }

    #[test]
    fn files_are_served_with_their_type_and_a_cache_policy_that_fits() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("a/app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("data.json"), "application/json; charset=utf-8");
        assert_eq!(content_type("logo.svg"), "image/svg+xml; charset=utf-8");
        assert_eq!(content_type("photo.JPG"), "image/jpeg");
        assert_eq!(content_type("font.woff2"), "font/woff2");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");

        assert_eq!(cache_control("index.html", "index.html"), REVALIDATE);
        assert_eq!(cache_control("docs/a.html", "index.html"), REVALIDATE);
        assert_eq!(
            cache_control("assets/main.3f9a2b1c.js", "index.html"),
            IMMUTABLE
        );
        assert_eq!(
            cache_control("assets/index-B2xk9Qf4.css", "index.html"),
            IMMUTABLE
        );
        assert_eq!(cache_control("style.css", "index.html"), SHORT);
        assert_eq!(cache_control("release-notes.txt", "index.html"), SHORT);
        assert_eq!(cache_control("deadbeefcafe.png", "index.html"), SHORT);
        assert_eq!(cache_control("app-dashboard2024.js", "index.html"), SHORT);
        assert_eq!(cache_control("chunk-deadbeef.js", "index.html"), SHORT);
    }

    #[test]
    fn a_site_that_cannot_be_deployed_says_why() {
        assert_eq!(
            plan(&[file("about.html", "a")], &[], "", "index.html"),
            Err(SiteError::NoEntryDocument("index.html".into()))
        );
        for bad in [
            "../etc/passwd",
            "/abs.html",
            "a//b.css",
            "dir/",
            "a/./b",
            "",
        ] {
            let files = [file("index.html", "i"), file(bad, "x")];
            assert_eq!(
                plan(&files, &[], "", "index.html"),
                Err(SiteError::BadPath(bad.into())),
                "{bad:?}"
            );
        }
        let many: Vec<SiteFile> = (0..=SITE_FILES_MAX)
            .map(|i| file(&format!("f{i}.txt"), "x"))
            .collect();
        assert_eq!(
            plan(&many, &[], "", "f0.txt"),
            Err(SiteError::TooManyFiles(SITE_FILES_MAX + 1))
        );
    }

    #[test]
    fn site_targets_name_the_stage_and_refuse_what_is_not_a_bucket() {
        let staging = StageName::parse("staging").unwrap();
        let site = SiteTarget::for_stage(&staging, "hello-web-*", "site/*/", "index.html").unwrap();
        assert_eq!(
            site.bucket,
            SiteBucket::Named {
                name: "hello-web-staging".into()
            }
        );
        assert_eq!(site.folder, "site/staging");
        let site =
            SiteTarget::for_stage(&staging, "hello-api-*:WebsiteBucket", "site", "index.html")
                .unwrap();
        assert_eq!(
            site.bucket,
            SiteBucket::Output {
                stack: "hello-api-staging".into(),
                output: "WebsiteBucket".into()
            }
        );
        for (bucket, folder, entry, says) in [
            ("Hello_Web", "site", "index.html", "site bucket"),
            ("ab", "site", "index.html", "site bucket"),
            ("1stack:Out", "site", "index.html", "site bucket's stack"),
            ("stack:Out-put", "site", "index.html", "stack output"),
            ("web", "../up", "index.html", "site folder"),
            ("web", "/abs", "index.html", "site folder"),
            ("web", "site", "", "entry document"),
        ] {
            let err = SiteTarget::for_stage(&staging, bucket, folder, entry).unwrap_err();
            assert!(
                err.to_string().contains(says),
                "{bucket} {folder} {entry}: {err}"
            );
        }
    }

    #[test]
    fn a_distribution_is_an_id_or_a_stacks_output() {
        let production = StageName::parse("production").unwrap();
        let site = || SiteTarget::for_stage(&production, "web-*", "site", "index.html").unwrap();
        let by_id = site()
            .with_distribution(&production, "E2QWRUHAPOMQZL")
            .unwrap();
        assert_eq!(
            by_id.distribution,
            Some(SiteDistribution::Id {
                id: "E2QWRUHAPOMQZL".into()
            })
        );
        let by_output = site()
            .with_distribution(&production, "hello-api-*:DistributionId")
            .unwrap();
        assert_eq!(
            by_output.distribution.map(|d| d.to_string()).as_deref(),
            Some("the distribution of stack hello-api-production's output DistributionId")
        );
        for bad in ["e2qwru", "E2/../x", "1stack:Out", "stack:"] {
            let err = site().with_distribution(&production, bad).unwrap_err();
            assert!(
                err.to_string().contains("site distribution"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn targets_name_a_bucket_and_nothing_else() {
        assert_eq!(
            bucket_of(&target_of("hello-web-staging")),
            Some("hello-web-staging")
        );
        assert_eq!(bucket_of("arn:aws:cloudformation:changeSet/x"), None);
        assert_eq!(bucket_of("s3://Bad_Bucket/"), None);
        assert_eq!(bucket_of("s3://a/b/"), None);
    }
}
