//! A pipeline's path filters: which files a push must change for the pipeline to
//! deliver it, so that one repository can feed several pipelines (a back-end under
//! `api/`, a front-end under `web/`) and a push of documentation deploys nothing.
//!
//! Patterns are globs over the file's path from the repository's root, as git prints
//! it (`api/src/main.rs`): `*` and `?` stay within one folder, `**` crosses folders,
//! `[abc]` is a class, and a pattern ending in `/` means everything below that folder.
//! A file counts when it matches an include pattern (any file, if there are none) and
//! no exclude pattern; a push is delivered when it changes at least one file that
//! counts, a rename counting under both its names.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// Longest pattern accepted, and most patterns in one list: bounds on configuration
/// that is matched against every changed file.
const PATTERN_MAX: usize = 255;
const PATTERNS_MAX: usize = 50;

/// A pattern list that cannot be used, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("path pattern {pattern:?} {problem}")]
pub struct BadPattern {
    pub pattern: String,
    pub problem: String,
    /// Whether it is in the exclude list (else the include list).
    pub excluded: bool,
}

/// Which changed files start an execution.
#[derive(Clone, Debug)]
pub struct PathFilter {
    include: Vec<String>,
    exclude: Vec<String>,
    include_set: GlobSet,
    exclude_set: GlobSet,
}

impl Default for PathFilter {
    fn default() -> Self {
        Self {
            include: Vec::new(),
            exclude: Vec::new(),
            include_set: GlobSet::empty(),
            exclude_set: GlobSet::empty(),
        }
    }
}

fn bad(pattern: &str, problem: impl Into<String>) -> BadPattern {
    BadPattern {
        pattern: pattern.chars().take(PATTERN_MAX + 1).collect(),
        problem: problem.into(),
        excluded: false,
    }
}

/// The patterns, checked and compiled, as written (with a folder's trailing `/` kept).
fn compile<S: AsRef<str>>(patterns: &[S]) -> Result<(Vec<String>, GlobSet), BadPattern> {
    if patterns.len() > PATTERNS_MAX {
        return Err(bad(
            patterns.get(PATTERNS_MAX).map_or("", AsRef::as_ref),
            format!("is one too many: a list holds at most {PATTERNS_MAX} patterns"),
        ));
    }
    let mut set = GlobSetBuilder::new();
    let mut kept = Vec::new();
    for pattern in patterns {
        let pattern = pattern.as_ref();
        if pattern.len() > PATTERN_MAX {
            return Err(bad(
                pattern,
                format!("is longer than {PATTERN_MAX} characters"),
            ));
        }
        if pattern.chars().any(char::is_control) {
            return Err(bad(pattern, "holds a control character"));
        }
        if pattern.starts_with('/') || pattern.starts_with("./") {
            return Err(bad(
                pattern,
                "starts with '/' or './': write paths from the repository's root without \
                 it, such as api/** or docs/",
            ));
        }
        if pattern.split('/').any(|part| part == "..") {
            return Err(bad(
                pattern,
                "holds '..': a path never leaves the repository",
            ));
        }
        if pattern.contains(['{', '}']) {
            return Err(bad(
                pattern,
                "holds '{' or '}': alternatives are not supported (the list is \
                 comma-separated); list each pattern on its own",
            ));
        }
        // `web/` is everything below the folder `web`.
        let glob = match pattern.strip_suffix('/') {
            Some(folder) if !folder.is_empty() => format!("{folder}/**"),
            _ => pattern.to_owned(),
        };
        let compiled = GlobBuilder::new(&glob)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| bad(pattern, format!("is not a glob pattern: {}", e.kind())))?;
        set.add(compiled);
        kept.push(pattern.to_owned());
    }
    let set = set
        .build()
        .map_err(|e| bad(&kept.join(","), format!("cannot be compiled: {e}")))?;
    Ok((kept, set))
}

impl PathFilter {
    /// A filter from include and exclude patterns; empty lists filter nothing.
    pub fn new<S: AsRef<str>>(include: &[S], exclude: &[S]) -> Result<Self, BadPattern> {
        let (include, include_set) = compile(include)?;
        let (exclude, exclude_set) = compile(exclude).map_err(|e| BadPattern {
            excluded: true,
            ..e
        })?;
        Ok(Self {
            include,
            exclude,
            include_set,
            exclude_set,
        })
    }

    /// Whether every push is delivered, whatever it changed.
    pub fn is_everything(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// Whether a change to the file at `path` starts an execution.
    pub fn counts(&self, path: &str) -> bool {
        let path = path.trim_start_matches('/');
        (self.include.is_empty() || self.include_set.is_match(path))
            && !self.exclude_set.is_match(path)
    }

    /// The patterns in words, for logs and errors: `include api/**, template.yaml;
    /// exclude **/*.md`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.include.is_empty() {
            parts.push(format!("include {}", self.include.join(", ")));
        }
        if !self.exclude.is_empty() {
            parts.push(format!("exclude {}", self.exclude.join(", ")));
        }
        if parts.is_empty() {
            "every file".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(include: &[&str], exclude: &[&str]) -> PathFilter {
        PathFilter::new(include, exclude).expect("valid patterns")
    }

    #[test]
    fn no_patterns_count_every_file() {
        let f = PathFilter::default();
        assert!(f.is_everything());
        assert!(f.counts("README.md"));
        assert!(f.counts("api/src/main.rs"));
        assert_eq!(f.describe(), "every file");
    }

    #[test]
    fn a_folder_pattern_counts_everything_below_it_and_nothing_beside_it() {
        let f = filter(&["api/"], &[]);
        assert!(f.counts("api/template.yaml"));
        assert!(f.counts("api/src/deep/main.rs"));
        assert!(!f.counts("apidocs/index.md"));
        assert!(!f.counts("web/index.html"));
        assert!(!f.counts("api"), "the folder itself is no file below it");
    }

    #[test]
    fn a_star_stays_in_its_folder_and_two_stars_cross_folders() {
        let f = filter(&["*.yaml", "web/**/*.html"], &[]);
        assert!(f.counts("template.yaml"));
        assert!(!f.counts("api/template.yaml"), "* does not cross a '/'");
        assert!(f.counts("web/index.html"));
        assert!(f.counts("web/a/b/page.html"));
        assert!(!f.counts("web/style.css"));
    }

    #[test]
    fn excludes_win_over_includes() {
        let f = filter(&["api/**"], &["**/*.md", "api/docs/"]);
        assert!(f.counts("api/src/main.rs"));
        assert!(!f.counts("api/README.md"));
        assert!(!f.counts("api/docs/diagram.svg"));
        let only_exclude = filter(&[], &["docs/", "*.md"]);
        assert!(!only_exclude.is_everything());
        assert!(only_exclude.counts("api/src/main.rs"));
        assert!(!only_exclude.counts("docs/guide.txt"));
        assert!(!only_exclude.counts("README.md"));
        assert_eq!(
            filter(&["api/", "template.yaml"], &["**/*.md"]).describe(),
            "include api/, template.yaml; exclude **/*.md"
        );
    }

    #[test]
    fn bad_patterns_say_what_is_wrong_and_what_to_write() {
        let problem = |p: &str| PathFilter::new(&[p], &[]).unwrap_err().to_string();
        assert!(problem("/api/**").contains("from the repository's root"));
        assert!(problem("./api").contains("from the repository's root"));
        assert!(problem("api/../web").contains("'..'"));
        assert!(problem("{api").contains("alternatives are not supported"));
        assert!(problem("api/[").contains("is not a glob pattern"));
        assert!(problem("a\nb").contains("control character"));
        let long = "a".repeat(PATTERN_MAX + 1);
        assert!(problem(&long).contains("longer than"));
        let many: Vec<&str> = std::iter::repeat_n("a", PATTERNS_MAX + 1).collect();
        let err = PathFilter::new(&[], &many).unwrap_err();
        assert!(err.to_string().contains("one too many"), "{err}");
        assert!(err.excluded, "the exclude list is the one at fault");
        assert!(!PathFilter::new(&["/a"], &["b/"]).unwrap_err().excluded);
    }
}
