//! The plan of a deploy: the site's files against what the bucket holds, in the
//! order that never leaves the site half-done.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::serve::{cache_control, content_type, is_page};

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
    ///
    /// [`Placed`]: super::Placed
    pub sha256: Option<String>,
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

pub(super) fn same_etag(a: &str, b: &str) -> bool {
    !a.is_empty()
        && a.trim_matches('"')
            .eq_ignore_ascii_case(b.trim_matches('"'))
}

pub(super) fn plain_relative(path: &str) -> bool {
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
}
