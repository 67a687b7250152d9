//! Approval tokens: 256 random bits from the operating system, URL-safe.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A fresh token. Only its SHA-256 is ever stored; the token travels in the email.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    // The OS random source failing leaves no safe way to issue a link at all.
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A build's upload secret: 128 random bits as 32 lowercase hex digits, which no
/// other build can guess (see `Build::upload`).
pub fn upload() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `text` has the shape of a token (43 URL-safe base64 characters).
pub fn is_well_formed(text: &str) -> bool {
    text.len() == 43
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_url_safe_and_distinct() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(is_well_formed(&a), "{a}");
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert!(!is_well_formed("short"));
        assert!(!is_well_formed(&format!("{}+", &a[..42])));
    }
}
