//! The built-in smoke check: after a stack stage's deploy, where the stage has no
//! post-deploy test of its own, one call to each web address among the stack's
//! outputs, so that an approver later sees whether the application answered at all
//! (a `502` from an API whose function cannot start is the case it exists for).
//!
//! Which addresses are called, what counts as a bad answer and how much of it is
//! kept are decided here; the call itself is the shell's.

use serde::{Deserialize, Serialize};

use crate::ids::Timestamp;
use crate::text;

/// At most this many of a stack's addresses are called.
pub const ADDRESSES_MAX: usize = 5;
/// An output's name is kept to this many characters, an address to [`URL_MAX`].
pub const OUTPUT_MAX: usize = 255;
pub const URL_MAX: usize = 500;
/// A reason an address gave no answer is kept to this many characters.
pub const REASON_MAX: usize = 200;

/// What one call to an address came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answer {
    /// The address answered with this HTTP status (redirects are not followed).
    Status { code: u16 },
    /// Nothing answered: the name did not resolve, the connection or TLS failed, or
    /// no answer came in time.
    NoAnswer { reason: String },
    /// It was not called: the address is not one the check may call (a private or
    /// loopback network, say), and the reason says which.
    NotCalled { reason: String },
}

impl Answer {
    /// Whether the answer says the application is not working: a server error, or
    /// no answer at all. A 4xx is an answer (an API that wants a key, a path that
    /// needs a parameter); an address not called proves nothing either way.
    pub fn is_bad(&self) -> bool {
        match self {
            Answer::Status { code } => *code >= 500,
            Answer::NoAnswer { .. } => true,
            Answer::NotCalled { .. } => false,
        }
    }

    /// The answer as a person reads it: "answered 200", "gave no answer (timed out)".
    pub fn describe(&self) -> String {
        match self {
            Answer::Status { code } => format!("answered {code}"),
            Answer::NoAnswer { reason } => format!("gave no answer ({reason})"),
            Answer::NotCalled { reason } => format!("not called ({reason})"),
        }
    }

    fn bounded(self) -> Self {
        match self {
            Answer::Status { code } => Answer::Status { code },
            Answer::NoAnswer { reason } => Answer::NoAnswer {
                reason: text::line(&reason, REASON_MAX),
            },
            Answer::NotCalled { reason } => Answer::NotCalled {
                reason: text::line(&reason, REASON_MAX),
            },
        }
    }
}

/// One address the check called, and what it got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// The stack output that holds the address.
    pub output: String,
    pub url: String,
    pub answer: Answer,
}

impl Probe {
    /// The host the address names (with its port, if any): what an approver needs to
    /// tell the application's own address from another's.
    pub fn host(&self) -> &str {
        let rest = self.url.split_once("://").map_or(&*self.url, |(_, r)| r);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host)
    }

    /// `output` named `url`, which answered `answer`; bounded to be stored and shown.
    pub fn new(output: &str, url: &str, answer: Answer) -> Self {
        Self {
            output: text::line(output, OUTPUT_MAX),
            url: text::line(url, URL_MAX),
            answer: answer.bounded(),
        }
    }
}

/// What the smoke check found, as the shell reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Findings {
    /// Each address called, in the order of its output's name.
    pub probes: Vec<Probe>,
    /// How many addresses there were beyond the [`ADDRESSES_MAX`] called.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_called: u32,
    /// Why nothing could be called, if the stack's outputs could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Findings {
    /// The findings kept to the bounds above.
    pub fn bounded(mut self) -> Self {
        self.probes.truncate(ADDRESSES_MAX);
        self.problem = self.problem.map(|p| text::line(&p, REASON_MAX));
        self
    }

    /// Why the findings fail a stage whose smoke check gates it, if they do: an
    /// address that answered badly, or nothing checked at all.
    pub fn failure(&self, stack: &str) -> Option<String> {
        if let Some(bad) = self.probes.iter().find(|p| p.answer.is_bad()) {
            return Some(format!(
                "smoke check failed: {} ({}) {}",
                bad.output,
                bad.url,
                bad.answer.describe()
            ));
        }
        if let Some(problem) = &self.problem {
            return Some(format!("smoke check failed: {problem}"));
        }
        if !self
            .probes
            .iter()
            .any(|p| matches!(p.answer, Answer::Status { .. }))
        {
            return Some(format!(
                "smoke check failed: stack {stack} has no output with an http(s) address \
                 the check may call"
            ));
        }
        None
    }

    /// The findings in one line, such as "ApiUrl answered 200; AdminUrl answered 502".
    pub fn summary(&self) -> String {
        if let Some(problem) = &self.problem {
            return problem.clone();
        }
        if self.probes.is_empty() {
            return "no web address among the stack's outputs".into();
        }
        let mut parts: Vec<String> = self
            .probes
            .iter()
            .map(|p| format!("{} ({}) {}", p.output, p.host(), p.answer.describe()))
            .collect();
        if self.not_called > 0 {
            parts.push(format!("{} more not called", self.not_called));
        }
        parts.join("; ")
    }

    /// Whether an approver should be warned: an address answered badly, some were
    /// left out, or nothing could be read.
    pub fn warns(&self) -> bool {
        self.problem.is_some()
            || self.not_called > 0
            || self.probes.iter().any(|p| p.answer.is_bad())
    }
}

/// A stage's smoke check: asked for when its deploy went live, done once the shell
/// reported what it found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmokeCheck {
    pub requested_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<Findings>,
}

impl SmokeCheck {
    pub fn requested(now: Timestamp) -> Self {
        Self {
            requested_at: now,
            finished_at: None,
            findings: None,
        }
    }
}

/// The addresses to call among a stack's outputs (name, value): each value that is
/// one `http://` or `https://` address, in the order of the outputs' names, at most
/// [`ADDRESSES_MAX`]; and how many more there were.
pub fn addresses<'a>(
    outputs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> (Vec<(String, String)>, u32) {
    let mut found: Vec<(String, String)> = outputs
        .into_iter()
        .map(|(name, value)| (name, value.trim()))
        .filter(|(_, value)| is_web_address(value))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    found.sort();
    let more = found.len().saturating_sub(ADDRESSES_MAX);
    found.truncate(ADDRESSES_MAX);
    (found, u32::try_from(more).unwrap_or(u32::MAX))
}

/// Whether `value` is one web address: `http://` or `https://`, a host, and no
/// whitespace or control character anywhere (a list of addresses is not one).
fn is_web_address(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    !host.is_empty()
        && value.len() <= URL_MAX
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(output: &str, answer: Answer) -> Probe {
        Probe::new(output, "https://api.example.com/", answer)
    }

    #[test]
    fn only_single_web_addresses_are_called_in_the_order_of_their_outputs() {
        let outputs = [
            ("Zeta", "https://z.example.com/Prod/"),
            ("Bucket", "my-bucket"),
            ("Arn", "arn:aws:lambda:us-east-1:123456789012:function:f"),
            ("Alpha", "http://a.example.com"),
            ("List", "https://a.example.com,https://b.example.com"),
            ("Spaced", "https://a.example.com and more"),
            ("NoHost", "https://"),
            ("Ftp", "ftp://files.example.com/"),
            ("Upper", "HTTPS://UP.EXAMPLE.COM/"),
        ];
        let (found, more) = addresses(outputs.iter().map(|(n, v)| (*n, *v)));
        let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Alpha", "Upper", "Zeta"]);
        assert_eq!(more, 0);
    }

    #[test]
    fn at_most_five_addresses_are_called_and_the_rest_counted() {
        let outputs: Vec<(String, String)> = (0..8)
            .map(|i| (format!("Url{i}"), format!("https://h{i}.example.com/")))
            .collect();
        let (found, more) = addresses(outputs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        assert_eq!(found.len(), ADDRESSES_MAX);
        assert_eq!(found[0].0, "Url0");
        assert_eq!(more, 3);
    }

    #[test]
    fn a_server_error_or_no_answer_is_bad_and_a_client_error_is_not() {
        assert!(Answer::Status { code: 502 }.is_bad());
        assert!(
            Answer::NoAnswer {
                reason: "timed out".into()
            }
            .is_bad()
        );
        assert!(!Answer::Status { code: 403 }.is_bad());
        assert!(!Answer::Status { code: 200 }.is_bad());
        assert!(
            !Answer::NotCalled {
                reason: "private address".into()
            }
            .is_bad()
        );
    }

    #[test]
    fn a_gating_check_fails_on_a_bad_answer_or_on_nothing_checked() {
        let good = Findings {
            probes: vec![probe("Api", Answer::Status { code: 200 })],
            ..Findings::default()
        };
        assert_eq!(good.failure("app-staging"), None);
        let bad = Findings {
            probes: vec![
                probe("Api", Answer::Status { code: 200 }),
                probe("Admin", Answer::Status { code: 502 }),
            ],
            ..Findings::default()
        };
        let reason = bad.failure("app-staging").unwrap();
        assert!(
            reason.contains("Admin") && reason.contains("answered 502"),
            "{reason}"
        );
        assert_eq!(
            bad.summary(),
            "Api (api.example.com) answered 200; Admin (api.example.com) answered 502"
        );
        let left_out = Findings {
            not_called: 2,
            ..good.clone()
        };
        assert!(!good.warns() && left_out.warns());
        assert!(left_out.summary().ends_with("; 2 more not called"));
        let nothing = Findings::default();
        assert!(
            nothing
                .failure("app-staging")
                .unwrap()
                .contains("app-staging")
        );
        let only_private = Findings {
            probes: vec![probe(
                "Api",
                Answer::NotCalled {
                    reason: "private".into(),
                },
            )],
            ..Findings::default()
        };
        assert!(only_private.failure("app-staging").is_some());
    }

    #[test]
    fn what_is_kept_is_bounded_and_one_line() {
        let long = "x".repeat(5000);
        let p = Probe::new(
            &long,
            &format!("https://{long}"),
            Answer::NoAnswer {
                reason: format!("line\nbreak {long}"),
            },
        );
        assert!(p.output.chars().count() <= OUTPUT_MAX + 1);
        assert!(p.url.chars().count() <= URL_MAX + 1);
        let Answer::NoAnswer { reason } = &p.answer else {
            panic!("kind changed");
        };
        assert!(!reason.contains('\n') && reason.chars().count() <= REASON_MAX + 1);
    }
}
