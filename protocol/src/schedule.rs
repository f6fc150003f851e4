//! Schedules (patch policies): a cron line in a time zone that starts a fleet run at
//! each firing. This module holds what a schedule *is* (its name, its five-field cron
//! line, its zone's name, the view the API and dashboard show); the zone database
//! and the firing arithmetic live on the server (`homelab_core::firing`), so the
//! WebAssembly bundle carries no zone tables.
//!
//! Cron lines are Vixie cron's five fields (`crontab(5)`, what Debian runs):
//! `minute hour day-of-month month day-of-week`, each `*`, a number, a name (`JAN`,
//! `SUN`), a range `a-b`, a step `*/n`, `a-b/n` or `a/n`, or a list of those; day of
//! week 0 or 7 is Sunday; when both day fields are restricted a day matching
//! *either* fires (Vixie's rule). The `@hourly` ... `@yearly` shorthands are read
//! too. `L`, `W`, `#`, `?` and a seconds field are not cron's, and are refused.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{ActionType, Millis, RunId, RunStatus, ScheduleId, ServerId, Tag};

/// Why a text is not a schedule's cron line: the field at fault and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct CronError {
    /// `cron` for the line as a whole, or `cron (minute)`, `cron (hour)`, ...
    pub field: String,
    pub message: String,
}

impl CronError {
    fn line(message: impl Into<String>) -> Self {
        CronError {
            field: "cron".into(),
            message: message.into(),
        }
    }

    fn field(field: Field, message: impl Into<String>) -> Self {
        CronError {
            field: format!("cron ({})", field.name),
            message: message.into(),
        }
    }
}

/// One of the five fields: its name and the values it takes.
#[derive(Debug, Clone, Copy)]
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: Field = Field {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
};
/// Day of week takes 0-7 (both ends Sunday); names map to 0-6.
const DAY_OF_WEEK: Field = Field {
    name: "day of week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};

/// A schedule's cron line, parsed: which minutes, hours, days, months and weekdays
/// fire. Two schedules firing closer together than [`CronLine::MIN_INTERVAL_MINUTES`]
/// are refused (see there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CronLine {
    /// The line as given, its fields separated by single spaces.
    text: String,
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// Vixie's rule: a day field starting with `*` does not restrict, so the other
    /// one alone decides.
    days_star: bool,
    weekdays_star: bool,
}

impl CronLine {
    /// The longest line accepted, in bytes: room for long lists, not for a megabyte.
    pub const MAX_LEN: usize = 120;

    /// The shortest time between two firings, in minutes. Each firing starts a fleet
    /// run, kept in the history for good, and an apt run on even one machine takes
    /// minutes: a line firing every minute would pile up runs whose servers are all
    /// skipped as busy. Every 15 minutes is as often as a patch policy needs.
    pub const MIN_INTERVAL_MINUTES: u32 = 15;

    /// Reads a five-field line (or an `@` shorthand), naming the field at fault.
    pub fn parse(s: impl AsRef<str>) -> Result<Self, CronError> {
        let s = s.as_ref().trim();
        if s.is_empty() {
            return Err(CronError::line(
                "empty: give five fields, minute hour day-of-month month day-of-week (`0 3 * * SUN`)",
            ));
        }
        if s.len() > Self::MAX_LEN {
            return Err(CronError::line(format!(
                "at most {} characters, got {}",
                Self::MAX_LEN,
                s.len()
            )));
        }
        let expanded = match s.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => Some("0 0 1 1 *"),
            "@monthly" => Some("0 0 1 * *"),
            "@weekly" => Some("0 0 * * 0"),
            "@daily" | "@midnight" => Some("0 0 * * *"),
            "@hourly" => Some("0 * * * *"),
            other if other.starts_with('@') => {
                return Err(CronError::line(format!(
                    "unknown shorthand `{}`: use @hourly, @daily, @weekly, @monthly or @yearly",
                    cut(s)
                )));
            }
            _ => None,
        };
        let fields: Vec<&str> = expanded.unwrap_or(s).split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields[..] else {
            return Err(CronError::line(format!(
                "five fields are needed (minute hour day-of-month month day-of-week), got {}",
                fields.len()
            )));
        };
        let weekdays = parse_field(dow, DAY_OF_WEEK)?;
        // 7 is Sunday too.
        let weekdays = ((weekdays & 0x7f) | (weekdays >> 7)) as u8;
        let line = CronLine {
            text: fields.join(" "),
            minutes: parse_field(minute, MINUTE)?,
            hours: parse_field(hour, HOUR)? as u32,
            days: parse_field(dom, DAY_OF_MONTH)? as u32,
            months: parse_field(month, MONTH)? as u16,
            weekdays,
            days_star: dom.starts_with('*'),
            weekdays_star: dow.starts_with('*'),
        };
        let gap = line.shortest_gap_minutes();
        if gap < Self::MIN_INTERVAL_MINUTES {
            let field = if line.minutes.count_ones() > 1 {
                MINUTE
            } else {
                HOUR
            };
            return Err(CronError::field(
                field,
                format!(
                    "fires {gap} minute{} apart; a schedule fires at most every {} minutes",
                    if gap == 1 { "" } else { "s" },
                    Self::MIN_INTERVAL_MINUTES
                ),
            ));
        }
        Ok(line)
    }

    /// The line as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the line fires on this date (`weekday` 0 = Sunday).
    pub fn fires_on(&self, month: u32, day: u32, weekday: u32) -> bool {
        if self.months & (1 << month) == 0 {
            return false;
        }
        let dom = self.days & (1 << day) != 0;
        let dow = self.weekdays & (1 << weekday) != 0;
        if self.days_star || self.weekdays_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The times of day it fires at, as (hour, minute), in order.
    pub fn times(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        (0..24u32)
            .filter(|h| self.hours & (1 << h) != 0)
            .flat_map(move |h| {
                (0..60u32)
                    .filter(move |m| self.minutes & (1 << m) != 0)
                    .map(move |m| (h, m))
            })
    }

    /// Whether the hour field fires every hour (`*`): such a line is about elapsed
    /// time, so an hour that a daylight-saving change repeats fires again.
    pub fn every_hour(&self) -> bool {
        self.hours == (1 << 24) - 1
    }

    /// The shortest wall-clock gap between two firings within a day, or from the
    /// day's last to the next day's first, in minutes.
    fn shortest_gap_minutes(&self) -> u32 {
        let times: Vec<u32> = self.times().map(|(h, m)| h * 60 + m).collect();
        let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
            return u32::MAX;
        };
        let within = times.windows(2).map(|w| w[1] - w[0]).min();
        let wrap = first + 24 * 60 - last;
        within.map_or(wrap, |w| w.min(wrap))
    }

    /// The line in words, for the simple lines people mostly write (`at 03:00 on
    /// Sunday`); `None` for the others, which the page shows as written.
    pub fn describe(&self) -> Option<String> {
        let times: Vec<(u32, u32)> = self.times().collect();
        let &[(h, m)] = &times[..] else {
            return None;
        };
        let at = format!("at {h:02}:{m:02}");
        let all_months = self.months == 0b1_1111_1111_1110;
        if !all_months {
            return None;
        }
        const DAYS: [&str; 7] = [
            "Sunday",
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
        ];
        match (self.days_star, self.weekdays_star) {
            (true, true) => Some(format!("every day {at}")),
            (true, false) => {
                let days: Vec<&str> = (0..7)
                    .filter(|d| self.weekdays & (1 << d) != 0)
                    .map(|d| DAYS[d])
                    .collect();
                Some(format!("{at} on {}", days.join(", ")))
            }
            (false, true) if self.days.count_ones() == 1 => Some(format!(
                "{at} on day {} of each month",
                self.days.trailing_zeros()
            )),
            _ => None,
        }
    }
}

/// The first 40 characters of `s`: an error repeats what was sent, cut.
fn cut(s: &str) -> String {
    s.chars().take(40).collect()
}

/// One field's values as a bit set (bit `n` set: value `n` fires).
fn parse_field(text: &str, field: Field) -> Result<u64, CronError> {
    let mut set = 0u64;
    for item in text.split(',') {
        if item.is_empty() {
            return Err(CronError::field(
                field,
                format!("`{}` has an empty list entry", cut(text)),
            ));
        }
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().map_err(|_| {
                    CronError::field(field, format!("`{}`: the step must be a number", cut(item)))
                })?;
                if step == 0 || step > field.max {
                    return Err(CronError::field(
                        field,
                        format!("`{}`: the step must be 1 to {}", cut(item), field.max),
                    ));
                }
                (range, Some(step))
            }
            None => (item, None),
        };
        let (low, high) = if range == "*" {
            (field.min, field.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a, field)?, value(b, field)?);
            if a > b {
                return Err(CronError::field(
                    field,
                    format!("`{}`: a range runs from low to high", cut(item)),
                ));
            }
            (a, b)
        } else {
            let a = value(range, field)?;
            // `a/n` is `a-max/n`.
            (a, if step.is_some() { field.max } else { a })
        };
        let mut v = low;
        while v <= high {
            set |= 1 << v;
            v += step.unwrap_or(1);
        }
    }
    Ok(set)
}

/// One value of a field: a number in its range, or one of its names.
fn value(text: &str, field: Field) -> Result<u32, CronError> {
    if let Some(n) = field
        .names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
    {
        // Months count from 1, weekdays from 0 (Sunday).
        return Ok(n as u32 + u32::from(field.min == 1));
    }
    let names = if field.names.is_empty() {
        String::new()
    } else {
        format!(
            " or {}-{}",
            field.names[0],
            field.names[field.names.len() - 1]
        )
    };
    match text.parse::<u32>() {
        Ok(n) if (field.min..=field.max).contains(&n) => Ok(n),
        _ => Err(CronError::field(
            field,
            format!(
                "`{}` is not a {} ({}-{}{names})",
                cut(text),
                field.name,
                field.min,
                field.max
            ),
        )),
    }
}

impl TryFrom<String> for CronLine {
    type Error = CronError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        CronLine::parse(s)
    }
}

impl From<CronLine> for String {
    fn from(line: CronLine) -> Self {
        line.text
    }
}

text_schema!(
    CronLine,
    "A cron line: five fields, minute hour day-of-month month day-of-week (names \
     such as `SUN` or `JAN` allowed), or `@hourly`, `@daily`, `@weekly`, `@monthly`, \
     `@yearly`. Firings closer together than 15 minutes are refused.",
    length = 1..=CronLine::MAX_LEN,
    example = "0 3 * * SUN",
);

impl fmt::Display for CronLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why a text is not a schedule name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleNameError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters, got {0}", max = ScheduleName::MAX_CHARS)]
    TooLong(usize),
    #[error("must not contain control characters or text-direction overrides")]
    ControlCharacter,
}

/// A schedule's name (unique): trimmed, 1 to [`ScheduleName::MAX_CHARS`] displayable
/// characters. Runs it starts are recorded as started by `schedule:<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScheduleName(String);

impl ScheduleName {
    /// The longest name accepted, in characters.
    pub const MAX_CHARS: usize = 64;

    /// Trims `s` and checks it.
    pub fn parse(s: impl AsRef<str>) -> Result<Self, ScheduleNameError> {
        let name = s.as_ref().trim();
        if name.is_empty() {
            return Err(ScheduleNameError::Empty);
        }
        let len = name.chars().count();
        if len > Self::MAX_CHARS {
            return Err(ScheduleNameError::TooLong(len));
        }
        if !crate::text::displayable(name) {
            return Err(ScheduleNameError::ControlCharacter);
        }
        Ok(ScheduleName(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Who the runs it starts are recorded as started by.
    pub fn actor(&self) -> String {
        format!("schedule:{}", self.0)
    }
}

text_newtype!(ScheduleName, ScheduleNameError);
text_schema!(
    ScheduleName,
    "A schedule's name: trimmed, no control characters or text-direction overrides.",
    length = 1..=ScheduleName::MAX_CHARS,
    example = "Nightly security",
);

/// Why a text is not a time zone's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a time zone: use an IANA name such as Europe/London or UTC")]
pub struct ZoneNameError(pub String);

/// The name of an IANA time zone (`Europe/London`, `UTC`), as far as its spelling
/// goes: the server checks it names a zone it knows before storing it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ZoneName(String);

impl ZoneName {
    /// The longest name accepted (the longest IANA name is 32).
    pub const MAX_LEN: usize = 64;

    /// Checks the spelling of `s` (trimmed): letters, digits, `_+-/`, no `..`.
    pub fn parse(s: impl AsRef<str>) -> Result<Self, ZoneNameError> {
        let s = s.as_ref().trim();
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && !s.starts_with('/')
            && !s.contains("..")
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_+-/".contains(&b));
        if ok {
            Ok(ZoneName(s.to_owned()))
        } else {
            Err(ZoneNameError(cut(s)))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_newtype!(ZoneName, ZoneNameError);
text_schema!(
    ZoneName,
    "An IANA time zone name, such as `Europe/London` or `UTC`.",
    length = 1..=ZoneName::MAX_LEN,
    pattern = "^[A-Za-z0-9_+-][A-Za-z0-9_+/-]*$",
    example = "Europe/London",
);

/// The last run a schedule started, in short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleRun {
    pub id: RunId,
    pub status: RunStatus,
    /// Started at start-up for a firing missed while the dashboard was down.
    pub late: bool,
    pub created_at_ms: Millis,
}

/// A schedule as the API and the dashboard show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Schedule {
    pub id: ScheduleId,
    pub name: ScheduleName,
    pub cron: CronLine,
    pub timezone: ZoneName,
    /// The cron line in words, when it is a simple one.
    pub description: Option<String>,
    pub action_type: ActionType,
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = crate::params::parameters_schema)
    )]
    pub parameters: Option<serde_json::Value>,
    /// The tag whose servers each run works on (or `servers`).
    pub tag: Option<Tag>,
    /// The servers each run works on, in order (or `tag`).
    pub servers: Option<Vec<ServerId>>,
    pub batch_size: u32,
    pub max_failures: u32,
    pub reboot_if_required: bool,
    /// The next firing; null once the line fires no more.
    pub next_fire_at_ms: Option<Millis>,
    /// The next firing on the wall clock of the schedule's zone
    /// (`Sun 2026-11-29 03:00 GMT`).
    pub next_fire_local: Option<String>,
    /// The last firing handled, whether or not it started a run.
    pub last_fired_at_ms: Option<Millis>,
    /// Why the last firing started no run (no server carries the tag...), if so.
    pub last_skipped: Option<String>,
    /// The last run it started.
    pub last_run: Option<ScheduleRun>,
    pub created_at_ms: Millis,
    pub created_by: String,
    pub updated_at_ms: Millis,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn err(line: &str) -> CronError {
        CronLine::parse(line).expect_err(line)
    }

    #[test]
    fn the_five_fields_read_numbers_names_ranges_steps_and_lists() {
        let line = CronLine::parse("  0   3 * *   SUN ").unwrap();
        assert_eq!(line.as_str(), "0 3 * * SUN");
        assert_eq!(line.times().collect::<Vec<_>>(), [(3, 0)]);
        assert!(line.fires_on(11, 29, 0));
        assert!(!line.fires_on(11, 30, 1));
        let line = CronLine::parse("*/15 1-3,22 * jan-mar mon-fri").unwrap();
        assert_eq!(line.times().count(), 4 * 4);
        assert!(line.fires_on(2, 3, 2));
        assert!(!line.fires_on(4, 3, 2));
        assert!(!line.fires_on(2, 3, 6));
        // Sunday is 0 and 7.
        let seven = CronLine::parse("0 4 * * 7").unwrap();
        assert!(seven.fires_on(1, 5, 0));
        // `a/n` runs from a to the field's end.
        let line = CronLine::parse("30/15 */6 * * *").unwrap();
        assert_eq!(
            line.times().take(3).collect::<Vec<_>>(),
            [(0, 30), (0, 45), (6, 30)]
        );
    }

    #[test]
    fn both_day_fields_restricted_fire_on_either_as_vixie_cron_does() {
        let line = CronLine::parse("0 3 1 * MON").unwrap();
        assert!(line.fires_on(6, 1, 3), "the 1st, a Wednesday");
        assert!(line.fires_on(6, 8, 1), "a Monday");
        assert!(!line.fires_on(6, 9, 2));
        let starred = CronLine::parse("0 3 */2 * MON").unwrap();
        assert!(!starred.fires_on(6, 1, 3), "`*/2` restricts with AND");
        assert!(starred.fires_on(6, 1, 1));
    }

    #[test]
    fn shorthands_expand() {
        assert_eq!(
            CronLine::parse("@weekly").unwrap(),
            CronLine::parse("0 0 * * 0").unwrap()
        );
        assert!(CronLine::parse("@HOURLY").is_ok());
        assert_eq!(err("@reboot").field, "cron");
    }

    #[test]
    fn garbage_is_refused_naming_the_field() {
        for (line, field) in [
            ("", "cron"),
            ("0 3 * *", "cron"),
            ("0 3 * * * *", "cron"),
            ("60 3 * * *", "cron (minute)"),
            ("x 3 * * *", "cron (minute)"),
            ("0 24 * * *", "cron (hour)"),
            ("0 3 0 * *", "cron (day of month)"),
            ("0 3 32 * *", "cron (day of month)"),
            ("0 3 * 13 *", "cron (month)"),
            ("0 3 * FOO *", "cron (month)"),
            ("0 3 * * 8", "cron (day of week)"),
            ("0 3 * * SUNDAY", "cron (day of week)"),
            ("0 3 L * *", "cron (day of month)"),
            ("0 3 ? * *", "cron (day of month)"),
            ("0 3 * * 1#2", "cron (day of week)"),
            ("0 5-3 * * *", "cron (hour)"),
            ("0 */0 * * *", "cron (hour)"),
            ("0 */x * * *", "cron (hour)"),
            ("0 1,,2 * * *", "cron (hour)"),
            ("0 -1 * * *", "cron (hour)"),
        ] {
            assert_eq!(err(line).field, field, "{line:?}: {}", err(line));
        }
        let long = format!("0 3 * * {}", "1,".repeat(100_000));
        let e = err(&long);
        assert_eq!(e.field, "cron");
        assert!(e.to_string().len() < 100, "{e}");
    }

    #[test]
    fn lines_firing_more_often_than_every_15_minutes_are_refused() {
        assert_eq!(err("* * * * *").field, "cron (minute)");
        assert_eq!(err("*/10 * * * *").field, "cron (minute)");
        assert_eq!(err("0,5 3 * * *").field, "cron (minute)");
        // 23:55 and 00:05 are ten minutes apart across midnight.
        assert!(CronLine::parse("5,55 0,23 * * *").is_err());
        assert!(CronLine::parse("*/15 * * * *").is_ok());
        assert!(CronLine::parse("0 * * * *").is_ok());
        assert!(CronLine::parse("0,30 3 * * *").is_ok());
    }

    #[test]
    fn simple_lines_read_in_words() {
        let words = |l: &str| CronLine::parse(l).unwrap().describe();
        assert_eq!(words("0 3 * * SUN").as_deref(), Some("at 03:00 on Sunday"));
        assert_eq!(words("30 1 * * *").as_deref(), Some("every day at 01:30"));
        assert_eq!(
            words("0 4 1 * *").as_deref(),
            Some("at 04:00 on day 1 of each month")
        );
        assert_eq!(
            words("0 2 * * 1-5").as_deref(),
            Some("at 02:00 on Monday, Tuesday, Wednesday, Thursday, Friday")
        );
        assert_eq!(words("0 */6 * * *"), None);
        assert_eq!(words("0 3 * 1 *"), None);
    }

    #[test]
    fn names_and_zones_are_checked() {
        assert_eq!(
            ScheduleName::parse(" Sunday patch ").unwrap().actor(),
            "schedule:Sunday patch"
        );
        assert_eq!(ScheduleName::parse("  "), Err(ScheduleNameError::Empty));
        assert!(ScheduleName::parse("a\u{7}b").is_err());
        assert!(ScheduleName::parse("nas\u{202E}txt").is_err());
        assert!(ScheduleName::parse("x".repeat(65)).is_err());
        for ok in [
            "Europe/London",
            "UTC",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT+5",
        ] {
            assert_eq!(ZoneName::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "/etc/passwd", "Europe/../x", "Europe London", "Zürich"] {
            assert!(ZoneName::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn any_text_is_a_line_or_a_short_error(s in any::<String>()) {
            if let Err(e) = CronLine::parse(&s) {
                prop_assert!(e.to_string().len() < 200, "{}", e);
            }
        }

        #[test]
        fn a_parsed_line_reads_back_the_same(
            m in 0u32..60, h in 0u32..24, d in 1u32..29, mo in 1u32..13, w in 0u32..7
        ) {
            let line = CronLine::parse(format!("{m} {h} {d} {mo} {w}")).unwrap();
            prop_assert_eq!(CronLine::parse(line.as_str()).unwrap(), line.clone());
            prop_assert!(line.fires_on(mo, d, (w + 1) % 7));
            prop_assert!(line.fires_on(mo, (d % 28) + 1, w));
        }
    }
}
