//! How each file of a site is served: its `Content-Type` and its `Cache-Control`.

/// Served fresh every time: pages, whose names never change.
const REVALIDATE: &str = "no-cache";
/// Safe to keep forever: the name holds a hash of the content (`app.3f9a2b1c.js`).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Anything else: kept a few minutes.
const SHORT: &str = "public, max-age=300";

pub(super) fn is_page(path: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
