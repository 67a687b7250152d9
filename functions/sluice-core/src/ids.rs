//! Validated identifiers. Each is parsed once at the boundary and trusted afterwards.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use chrono::{DateTime, Utc};

/// A point in time. The core never reads a clock; callers pass `now` in. (Here
/// because execution ids are made from one.)
pub type Timestamp = DateTime<Utc>;

/// An identifier that failed validation: what it was meant to be, and what it must look like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: expected {expected}")]
pub struct InvalidId {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

fn invalid(what: &'static str, value: &str, expected: &'static str) -> InvalidId {
    // Keep error messages bounded whatever was sent to us.
    let value: String = value.chars().take(80).collect();
    InvalidId {
        what,
        value,
        expected,
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A git commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommitId(String);

impl CommitId {
    /// Parses a full commit id, accepting upper case hex and normalising it to lower case.
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        let lower = value.to_ascii_lowercase();
        if (lower.len() == 40 || lower.len() == 64) && is_lower_hex(&lower) {
            Ok(Self(lower))
        } else {
            Err(invalid("commit id", value, "40 or 64 hexadecimal digits"))
        }
    }

    /// The whole id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The abbreviated form people read: the first 12 digits.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl TryFrom<String> for CommitId {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CommitId> for String {
    fn from(id: CommitId) -> Self {
        id.0
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Milliseconds subtracted from this give a 13-digit number that shrinks as time grows,
/// so ids (and the S3 keys built from them) sort newest first. Good until the year 2286.
const INVERTED_EPOCH_MS: i64 = 9_999_999_999_999;

/// One execution's id: `<inverted creation millis, 13 digits>-<commit, 12 hex digits>`.
///
/// Lexical order is newest first, which lets one `ListObjectsV2` call return the
/// newest executions however long the history is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExecutionId(String);

impl ExecutionId {
    /// The id of the execution created at `created_at` for `commit`.
    pub fn new(created_at: Timestamp, commit: &CommitId) -> Self {
        let millis = created_at.timestamp_millis().clamp(0, INVERTED_EPOCH_MS);
        Self(format!(
            "{:013}-{}",
            INVERTED_EPOCH_MS - millis,
            commit.short()
        ))
    }

    /// The time the id was made from: when the push happened.
    pub fn time(&self) -> Timestamp {
        let inverted: i64 = self.0[..13].parse().unwrap_or(INVERTED_EPOCH_MS);
        chrono::DateTime::from_timestamp_millis(INVERTED_EPOCH_MS - inverted).unwrap_or_default()
    }

    /// Parses an id received from outside (a URL, a CLI argument, an S3 key).
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        const EXPECTED: &str =
            "13 digits, '-', 12 hexadecimal digits (as shown by `sluice status`)";
        match value.split_once('-') {
            Some((time, commit))
                if time.len() == 13
                    && time.bytes().all(|b| b.is_ascii_digit())
                    && commit.len() == 12
                    && is_lower_hex(commit) =>
            {
                Ok(Self(value.to_owned()))
            }
            _ => Err(invalid("execution id", value, EXPECTED)),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ExecutionId {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ExecutionId> for String {
    fn from(id: ExecutionId) -> Self {
        id.0
    }
}

impl fmt::Display for ExecutionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stage's name: 1–32 characters of `a-z`, `0-9` and `-`, starting with a letter.
///
/// Stage names end up in S3 keys, change set names and URLs, hence the narrow alphabet.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StageName(String);

impl StageName {
    /// Parses a stage name from configuration or a request.
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        let ok = (1..=32).contains(&value.len())
            && value.starts_with(|c: char| c.is_ascii_lowercase())
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(invalid(
                "stage name",
                value,
                "1-32 characters of a-z, 0-9 and '-', starting with a letter",
            ))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for StageName {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<StageName> for String {
    fn from(name: StageName) -> Self {
        name.0
    }
}

impl fmt::Display for StageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// The SHA-256 of an approval token. Only this is ever stored; the token itself lives
/// in the approver's email.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes a token as presented by an approver.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Compares in constant time, so response timing reveals nothing about a stored hash.
    pub fn matches(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for TokenHash {
    // Hashes are not secrets, but nobody needs them in a log line either.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

impl TryFrom<String> for TokenHash {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let expected = "64 hexadecimal digits";
        if value.len() != 64 || !is_lower_hex(&value) {
            return Err(invalid("token hash", &value, expected));
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&value[2 * i..2 * i + 2], 16)
                .map_err(|_| invalid("token hash", &value, expected))?;
        }
        Ok(Self(bytes))
    }
}

impl From<TokenHash> for String {
    fn from(hash: TokenHash) -> Self {
        hash.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn commit_ids_are_validated_and_normalised() {
        assert_eq!(
            CommitId::parse(&COMMIT.to_uppercase()).unwrap().as_str(),
            COMMIT
        );
        for bad in ["", "abc", &COMMIT[..39], &format!("{}g", &COMMIT[..39])] {
            let err = CommitId::parse(bad).unwrap_err();
            assert_eq!(err.what, "commit id");
        }
    }

    #[test]
    fn execution_ids_sort_newest_first_and_round_trip() {
        let commit = CommitId::parse(COMMIT).unwrap();
        let older = ExecutionId::new(Utc.timestamp_millis_opt(1_000).unwrap(), &commit);
        let newer = ExecutionId::new(Utc.timestamp_millis_opt(2_000).unwrap(), &commit);
        assert!(newer < older);
        assert_eq!(ExecutionId::parse(newer.as_str()).unwrap(), newer);
        assert_eq!(newer.as_str(), "9999999997999-0123456789ab");
    }

    #[test]
    fn execution_ids_reject_path_tricks() {
        for bad in [
            "../../etc/passwd",
            "9999999997999-0123456789ab/..",
            "9999999997999-0123456789AB",
            "999999999799-0123456789ab",
            "",
        ] {
            assert!(ExecutionId::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn stage_names_are_narrow() {
        assert!(StageName::parse("production").is_ok());
        assert!(StageName::parse("eu-west-1b").is_ok());
        for bad in ["", "Prod", "1st", "a/b", "a b", &"x".repeat(33)] {
            assert!(StageName::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn token_hashes_match_only_their_token_and_round_trip_as_hex() {
        let hash = TokenHash::of("secret-token");
        assert!(hash.matches(&TokenHash::of("secret-token")));
        assert!(!hash.matches(&TokenHash::of("secret-tokeN")));
        let text = String::from(hash);
        assert_eq!(text.len(), 64);
        assert!(TokenHash::try_from(text).unwrap().matches(&hash));
        assert!(TokenHash::try_from("zz".repeat(32)).is_err());
        assert_eq!(format!("{hash:?}"), "TokenHash(..)");
    }
}
