//! Deployment windows: the days and hours, in a time zone, when a stage may deploy.
//! Outside them an execution waits at the stage with its change set ready (and
//! approved, if it needs approval), and deploys when the next window opens.

use chrono::{Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::ids::InvalidId;
use crate::ids::Timestamp;

/// The most spans one set of windows may have.
pub const WINDOW_SPANS_MAX: usize = 20;

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MINUTES_PER_DAY: u32 = 24 * 60;

/// One span: on each of `days` (bit 0 Monday), from `start` to `end`, in minutes
/// after midnight. A span whose end is before its start runs past midnight into the
/// next day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    days: u8,
    start: u32,
    end: u32,
}

impl Span {
    fn on(&self, weekday: u32) -> bool {
        self.days & (1 << weekday) != 0
    }

    /// Whether the span holds the local `minute` of a day that is `weekday`.
    fn holds(&self, weekday: u32, minute: u32) -> bool {
        if self.start < self.end {
            self.on(weekday) && (self.start..self.end).contains(&minute)
        } else {
            (self.on(weekday) && minute >= self.start)
                || (self.on((weekday + 6) % 7) && minute < self.end)
        }
    }
}

/// When a stage may deploy: spans of days and hours in one time zone, such as
/// `Mon-Thu 09:00-16:00, Fri 09:00-12:00` in `Europe/London`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WindowsText", into = "WindowsText")]
pub struct DeployWindows {
    spans: Vec<Span>,
    zone: Tz,
    /// The spans as written, for people.
    text: String,
}

/// How windows are stored and configured: as people write them.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct WindowsText {
    spans: String,
    time_zone: String,
}

impl TryFrom<WindowsText> for DeployWindows {
    type Error = InvalidId;
    fn try_from(t: WindowsText) -> Result<Self, InvalidId> {
        DeployWindows::parse(&t.spans, &t.time_zone)
    }
}

impl From<DeployWindows> for WindowsText {
    fn from(w: DeployWindows) -> Self {
        WindowsText {
            spans: w.text,
            time_zone: w.zone.name().to_owned(),
        }
    }
}

fn invalid(what: &'static str, value: &str, expected: &'static str) -> InvalidId {
    InvalidId {
        what,
        value: value.chars().take(140).collect(),
        expected,
    }
}

const SPAN_FORMAT: &str = "spans like `Mon-Fri 09:00-17:00`, separated by commas: days (Mon, \
     Tue, Wed, Thu, Fri, Sat, Sun, a range such as Mon-Fri, several joined by '+', or daily), \
     then hours as HH:MM-HH:MM (24:00 for midnight; an end before the start runs past \
     midnight)";

fn day(name: &str) -> Option<u32> {
    DAYS.iter()
        .position(|d| d.eq_ignore_ascii_case(name))
        .and_then(|i| u32::try_from(i).ok())
}

/// `Mon`, `Mon-Fri` (wrapping: `Fri-Mon`), several joined by `+`, or `daily`.
fn parse_days(text: &str) -> Option<u8> {
    if text.eq_ignore_ascii_case("daily") {
        return Some(0x7f);
    }
    let mut days = 0u8;
    for item in text.split('+') {
        match item.split_once('-') {
            None => days |= 1 << day(item)?,
            Some((from, to)) => {
                let (from, to) = (day(from)?, day(to)?);
                let mut d = from;
                loop {
                    days |= 1 << d;
                    if d == to {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
        }
    }
    Some(days)
}

/// `HH:MM`, from `00:00` to `24:00`, as minutes after midnight.
fn parse_time(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let minute = h * 60 + m;
    (m < 60 && minute <= MINUTES_PER_DAY).then_some(minute)
}

fn parse_span(text: &str) -> Option<Span> {
    let (days, hours) = text.trim().split_once(' ')?;
    let (start, end) = hours.trim().split_once('-')?;
    let (start, end) = (parse_time(start)?, parse_time(end)?);
    // 24:00 ends a day; it starts nothing. An end before the start (00:00 among
    // them) runs past midnight.
    if start == MINUTES_PER_DAY || start == end {
        return None;
    }
    Some(Span {
        days: parse_days(days.trim())?,
        start,
        end,
    })
}

impl DeployWindows {
    /// Windows from `spans` (see the error for the form) in `time_zone`, an IANA
    /// name such as `Europe/London` or `UTC`.
    pub fn parse(spans: &str, time_zone: &str) -> Result<Self, InvalidId> {
        let zone: Tz = time_zone.trim().parse().map_err(|_| {
            invalid(
                "time zone",
                time_zone,
                "an IANA time zone name such as UTC, Europe/London or America/New_York",
            )
        })?;
        let parts: Vec<&str> = spans
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if parts.is_empty() || parts.len() > WINDOW_SPANS_MAX {
            return Err(invalid(
                "deployment windows",
                spans,
                "1 to 20 spans like `Mon-Fri 09:00-17:00`, separated by commas",
            ));
        }
        let spans = parts
            .iter()
            .map(|p| parse_span(p).ok_or_else(|| invalid("deployment window", p, SPAN_FORMAT)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            spans,
            zone,
            text: parts.join(", "),
        })
    }

    /// The windows in words: `Mon-Fri 09:00-17:00 (Europe/London)`.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.text, self.zone.name())
    }

    /// Whether a deploy may start at `at`.
    pub fn is_open(&self, at: Timestamp) -> bool {
        let local = at.with_timezone(&self.zone);
        let weekday = local.weekday().num_days_from_monday();
        let minute = local.hour() * 60 + local.minute();
        self.spans.iter().any(|s| s.holds(weekday, minute))
    }

    /// The first instant from `at` on when a deploy may start: `at` itself if a
    /// window is open. `None` only if no window opens within two weeks, which the
    /// shortest span (a minute, once a week) rules out but for a change of clocks.
    pub fn next_open(&self, at: Timestamp) -> Option<Timestamp> {
        if self.is_open(at) {
            return Some(at);
        }
        let today = at.with_timezone(&self.zone).date_naive();
        (0..=14)
            .filter_map(|d| today.checked_add_signed(Duration::days(d)))
            .flat_map(|date| self.openings_on(date))
            .filter(|t| *t > at && self.is_open(*t))
            .min()
    }

    /// The instants windows open on the local `date`.
    fn openings_on(&self, date: NaiveDate) -> impl Iterator<Item = Timestamp> + '_ {
        let weekday = date.weekday().num_days_from_monday();
        self.spans
            .iter()
            .filter(move |s| s.on(weekday))
            .filter_map(move |s| {
                let start = date.and_hms_opt(s.start / 60, s.start % 60, 0)?;
                self.instant(start)
            })
    }

    /// The instant of a local time; one skipped by a change of clocks is taken at
    /// the first local time that exists after it.
    fn instant(&self, local: NaiveDateTime) -> Option<Timestamp> {
        (0..=12).find_map(|quarter| {
            match self
                .zone
                .from_local_datetime(&(local + Duration::minutes(15 * quarter)))
            {
                LocalResult::Single(t) => Some(t.to_utc()),
                LocalResult::Ambiguous(earliest, _) => Some(earliest.to_utc()),
                LocalResult::None => None,
            }
        })
    }

    /// `at` as people in the windows' time zone read it: `Mon 30 Nov 09:00 GMT`,
    /// with the UTC time too unless the zone is UTC.
    pub fn local_time(&self, at: Timestamp) -> String {
        let local = at.with_timezone(&self.zone);
        let shown = local.format("%a %-d %b %Y %H:%M %Z").to_string();
        if self.zone.name().ends_with("UTC") {
            shown
        } else {
            format!("{shown} ({} UTC)", at.format("%H:%M"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn at(s: &str) -> Timestamp {
        s.parse::<chrono::DateTime<Utc>>().expect("a timestamp")
    }

    #[test]
    fn a_weekday_window_is_open_inside_its_hours_only() {
        let w = DeployWindows::parse("Mon-Fri 09:00-17:00", "UTC").expect("valid");
        // 2026-11-23 is a Monday.
        assert!(w.is_open(at("2026-11-23T09:00:00Z")));
        assert!(w.is_open(at("2026-11-27T16:59:00Z")));
        assert!(!w.is_open(at("2026-11-23T17:00:00Z")));
        assert!(!w.is_open(at("2026-11-28T12:00:00Z")), "Saturday");
        assert_eq!(
            w.next_open(at("2026-11-27T17:30:00Z")),
            Some(at("2026-11-30T09:00:00Z")),
            "Friday evening waits for Monday morning"
        );
        assert_eq!(
            w.next_open(at("2026-11-24T10:00:00Z")),
            Some(at("2026-11-24T10:00:00Z")),
            "open now"
        );
    }

    #[test]
    fn a_window_past_midnight_belongs_to_the_day_it_starts() {
        let w = DeployWindows::parse("Fri 22:00-02:00", "UTC").expect("valid");
        assert!(w.is_open(at("2026-11-27T23:00:00Z")));
        assert!(w.is_open(at("2026-11-28T01:59:00Z")), "early Saturday");
        assert!(!w.is_open(at("2026-11-28T02:00:00Z")));
        assert!(
            !w.is_open(at("2026-11-27T01:00:00Z")),
            "early Friday is Thursday's night"
        );
        assert_eq!(
            w.next_open(at("2026-11-28T03:00:00Z")),
            Some(at("2026-12-04T22:00:00Z"))
        );
    }

    #[test]
    fn hours_are_read_in_the_windows_time_zone_across_a_change_of_clocks() {
        let w = DeployWindows::parse("daily 09:00-10:00", "Europe/London").expect("valid");
        // Summer time (UTC+1) ends on 25 October 2026.
        assert!(w.is_open(at("2026-10-24T08:30:00Z")));
        assert!(!w.is_open(at("2026-10-24T09:30:00Z")));
        assert!(w.is_open(at("2026-10-26T09:30:00Z")));
        assert_eq!(
            w.next_open(at("2026-10-24T10:00:00Z")),
            Some(at("2026-10-25T09:00:00Z"))
        );
        assert_eq!(
            w.local_time(at("2026-10-26T09:00:00Z")),
            "Mon 26 Oct 2026 09:00 GMT (09:00 UTC)"
        );
    }

    #[test]
    fn a_window_in_an_hour_the_clocks_skip_opens_when_the_day_goes_on() {
        // Clocks go from 01:00 to 02:00 GMT on 29 March 2026 in London.
        let w = DeployWindows::parse("Sun 01:00-03:00", "Europe/London").expect("valid");
        assert_eq!(
            w.next_open(at("2026-03-28T12:00:00Z")),
            Some(at("2026-03-29T01:00:00Z")),
            "02:00 BST, the first local time after 01:00 that exists"
        );
    }

    #[test]
    fn several_spans_days_joined_and_wrapped_ranges_are_understood() {
        let w =
            DeployWindows::parse("Mon+Wed 09:00-12:00, Sat-Sun 10:00-24:00", "UTC").expect("valid");
        assert!(w.is_open(at("2026-11-25T11:00:00Z")), "Wednesday");
        assert!(!w.is_open(at("2026-11-24T11:00:00Z")), "Tuesday");
        assert!(w.is_open(at("2026-11-29T23:59:00Z")), "Sunday night");
        assert!(!w.is_open(at("2026-11-30T00:00:00Z")));
        let wrapped = DeployWindows::parse("Fri-Mon 00:00-24:00", "UTC").expect("valid");
        assert!(wrapped.is_open(at("2026-11-30T08:00:00Z")), "Monday");
        assert!(!wrapped.is_open(at("2026-11-24T08:00:00Z")), "Tuesday");
        assert_eq!(
            w.describe(),
            "Mon+Wed 09:00-12:00, Sat-Sun 10:00-24:00 (UTC)"
        );
    }

    #[test]
    fn bad_windows_are_refused_saying_what_is_expected() {
        for (spans, zone) in [
            ("", "UTC"),
            ("Mon-Fri", "UTC"),
            ("Mon-Fri 9-17", "UTC"),
            ("Monday 09:00-17:00", "UTC"),
            ("Mon 09:00-09:00", "UTC"),
            ("Mon 24:00-02:00", "UTC"),
            ("Mon 09:60-10:00", "UTC"),
            ("Mon 09:00-25:00", "UTC"),
            ("Mon 09:00-17:00", "Mars/Olympus"),
        ] {
            let err = DeployWindows::parse(spans, zone)
                .expect_err(spans)
                .to_string();
            assert!(
                err.contains("expected"),
                "{spans:?} {zone:?} gave an unhelpful error: {err}"
            );
        }
        let many = vec!["Mon 09:00-10:00"; 21].join(",");
        assert!(DeployWindows::parse(&many, "UTC").is_err());
    }

    #[test]
    fn windows_are_stored_as_written_and_read_back_the_same() {
        let w = DeployWindows::parse(" Mon-Fri 09:00-17:00 ,Sat 10:00-12:00", "America/New_York")
            .expect("valid");
        let json = serde_json::to_string(&w).expect("serialises");
        assert_eq!(
            json,
            r#"{"spans":"Mon-Fri 09:00-17:00, Sat 10:00-12:00","time_zone":"America/New_York"}"#
        );
        let back: DeployWindows = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(back, w);
        assert!(
            serde_json::from_str::<DeployWindows>(r#"{"spans":"x","time_zone":"UTC"}"#).is_err()
        );
    }
}
