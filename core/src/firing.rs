//! When a schedule fires: its cron line read on the wall clock of its time zone.
//!
//! Daylight-saving changes do what the line says, as Vixie cron (Debian's) does:
//!
//! - **A time the clock skips** (spring forward: Europe/London has no 01:30 on the
//!   last Sunday of March) fires once, at the first moment after the jump (02:00
//!   BST): a firing is never dropped.
//! - **A time the clock repeats** (fall back: 01:30 happens twice on the last Sunday
//!   of October) fires once, at its first occurrence, for a line with fixed hours
//!   (`30 1 * * *`). A line that fires every hour (`*/15 * * * *`, `0 * * * *`) is
//!   about elapsed time and fires in both passes of the repeated hour.
//!
//! The zone database is compiled in (`chrono-tz`), so two replicas on hosts with
//! different tzdata agree on every firing.

use chrono::{DateTime, Datelike as _, Days, LocalResult, NaiveDateTime, TimeZone as _};
use chrono_tz::Tz;
use homelab_protocol::{CronLine, Millis, ZoneName};

use crate::Error;

/// How far ahead a line is searched for its next firing: eight years, so a line
/// for the 29th of February finds one across a century's skipped leap year (2100).
const HORIZON_DAYS: u64 = 8 * 366;

/// A firing handled this long after its time is recorded as late: the dashboard was
/// down (or stopped) when it was due. The job looks every few seconds, far less.
pub const LATE_AFTER_MS: i64 = 2 * 60 * 1000;

/// The zone `name` names, or a refusal naming the `timezone` field.
pub fn zone(name: &ZoneName) -> Result<Tz, Error> {
    name.as_str().parse::<Tz>().map_err(|_| {
        Error::invalid(
            "timezone",
            format!(
                "`{name}` is not a time zone this dashboard knows: use an IANA name such as \
                 Europe/London, America/New_York or UTC"
            ),
        )
    })
}

/// The first firing strictly after `after`, or `None` when the line does not fire
/// within [`HORIZON_DAYS`] (`0 0 30 2 *`: the 30th of February).
pub fn next_after(line: &CronLine, tz: Tz, after: Millis) -> Option<Millis> {
    let after_utc = DateTime::from_timestamp_millis(after.get())?;
    // A day earlier: a skipped time of the previous local day may fire after it.
    let first_day = after_utc
        .with_timezone(&tz)
        .date_naive()
        .checked_sub_days(Days::new(1))?;
    let mut candidates = Vec::new();
    for offset in 0..HORIZON_DAYS {
        let day = first_day.checked_add_days(Days::new(offset))?;
        if !line.fires_on(day.month(), day.day(), day.weekday().num_days_from_sunday()) {
            continue;
        }
        candidates.clear();
        for (hour, minute) in line.times() {
            let Some(local) = day.and_hms_opt(hour, minute, 0) else {
                continue;
            };
            instants(line, tz, local, &mut candidates);
        }
        // A repeated hour puts a day's instants out of wall-clock order.
        candidates.sort_unstable();
        if let Some(&next) = candidates.iter().find(|&&at| at > after.get()) {
            return Some(Millis::new(next));
        }
    }
    None
}

/// The instants (Unix ms) the wall-clock time `local` fires at: see the module.
fn instants(line: &CronLine, tz: Tz, local: NaiveDateTime, out: &mut Vec<i64>) {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => out.push(at.timestamp_millis()),
        LocalResult::Ambiguous(a, b) => {
            let (first, second) = if a <= b { (a, b) } else { (b, a) };
            out.push(first.timestamp_millis());
            if line.every_hour() {
                out.push(second.timestamp_millis());
            }
        }
        LocalResult::None => {
            // Skipped: the first minute the clock shows after the jump. No zone
            // skips more than a day.
            if let Some(at) = (1..=24 * 60)
                .filter_map(|m| local.checked_add_signed(chrono::TimeDelta::minutes(m)))
                .find_map(|later| tz.from_local_datetime(&later).earliest())
            {
                out.push(at.timestamp_millis());
            }
        }
    }
}

/// The latest firing due at `now`, counting from the schedule's stored next firing
/// `next` (itself due): when the dashboard was down across several firings, only the
/// latest runs, once. `None` when `next` is not due yet.
pub fn latest_due(line: &CronLine, tz: Tz, next: Millis, now: Millis) -> Option<Millis> {
    if next > now {
        return None;
    }
    // After a long outage, start near `now`: a line firing every 15 minutes left
    // alone for a year would otherwise be stepped through 35,000 times. Some firing
    // in the last 35 days (any line firing at least monthly) starts the walk there.
    const RECENT_MS: i64 = 35 * 24 * 3_600_000;
    let mut latest = next;
    if now.since(next) > RECENT_MS
        && let Some(recent) = next_after(line, tz, Millis::new(now.get() - RECENT_MS))
        && recent <= now
    {
        latest = recent;
    }
    while let Some(following) = next_after(line, tz, latest) {
        if following > now {
            break;
        }
        latest = following;
    }
    Some(latest)
}

/// `at` on the wall clock of `tz`, as the schedules page shows it
/// (`Sun 2026-11-29 03:00 GMT`).
pub fn local_label(tz: Tz, at: Millis) -> Option<String> {
    let utc = DateTime::from_timestamp_millis(at.get())?;
    Some(
        utc.with_timezone(&tz)
            .format("%a %Y-%m-%d %H:%M %Z")
            .to_string(),
    )
}

/// A UTC wall-clock time, for tests.
#[cfg(test)]
fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> Millis {
    let at = chrono::NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|day| day.and_hms_opt(h, min, 0))
        .expect("a real date")
        .and_utc();
    Millis::new(at.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike as _;
    use proptest::prelude::*;

    fn line(s: &str) -> CronLine {
        CronLine::parse(s).unwrap()
    }

    fn london() -> Tz {
        zone(&ZoneName::parse("Europe/London").unwrap()).unwrap()
    }

    /// The firings strictly after `from`, up to `until`.
    fn firings(cron: &str, tz: Tz, from: Millis, until: Millis) -> Vec<Millis> {
        let cron = line(cron);
        let mut out = Vec::new();
        let mut at = from;
        while let Some(next) = next_after(&cron, tz, at) {
            if next > until {
                break;
            }
            out.push(next);
            at = next;
        }
        out
    }

    #[test]
    fn zones_are_iana_names_the_dashboard_knows() {
        assert!(zone(&ZoneName::parse("UTC").unwrap()).is_ok());
        assert!(zone(&ZoneName::parse("America/New_York").unwrap()).is_ok());
        match zone(&ZoneName::parse("Mars/Olympus_Mons").unwrap()) {
            Err(Error::Invalid { field, .. }) => assert_eq!(field, "timezone"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sunday_at_three_in_london_follows_the_local_clock_in_winter_and_summer() {
        let cron = line("0 3 * * SUN");
        // Thursday 2026-01-01: the next Sunday is the 4th, 03:00 GMT = 03:00 UTC.
        let next = next_after(&cron, london(), utc(2026, 1, 1, 12, 0)).unwrap();
        assert_eq!(next, utc(2026, 1, 4, 3, 0));
        // In July 03:00 BST is 02:00 UTC.
        let next = next_after(&cron, london(), utc(2026, 7, 1, 0, 0)).unwrap();
        assert_eq!(next, utc(2026, 7, 5, 2, 0));
        assert_eq!(
            local_label(london(), next).as_deref(),
            Some("Sun 2026-07-05 03:00 BST")
        );
        // Exactly at a firing, the next is a week on.
        assert_eq!(
            next_after(&cron, london(), next),
            Some(utc(2026, 7, 12, 2, 0))
        );
    }

    #[test]
    fn a_time_skipped_by_spring_forward_fires_once_right_after_the_jump() {
        // 2026-03-29: London goes from 01:00 GMT straight to 02:00 BST (01:00 UTC).
        let got = firings(
            "30 1 * * *",
            london(),
            utc(2026, 3, 27, 12, 0),
            utc(2026, 3, 31, 0, 0),
        );
        assert_eq!(
            got,
            [
                utc(2026, 3, 28, 1, 30), // 01:30 GMT
                utc(2026, 3, 29, 1, 0),  // no 01:30: 02:00 BST, the moment after the jump
                utc(2026, 3, 30, 0, 30), // 01:30 BST
            ]
        );
        // A line for 02:30 is not in the gap in London: it fires at 02:30 BST.
        let got = firings(
            "30 2 * * *",
            london(),
            utc(2026, 3, 28, 12, 0),
            utc(2026, 3, 29, 12, 0),
        );
        assert_eq!(got, [utc(2026, 3, 29, 1, 30)]);
    }

    #[test]
    fn a_time_repeated_by_fall_back_fires_once() {
        // 2026-10-25: London goes from 02:00 BST back to 01:00 GMT; 01:30 happens at
        // 00:30 UTC and again at 01:30 UTC.
        let got = firings(
            "30 1 * * *",
            london(),
            utc(2026, 10, 23, 12, 0),
            utc(2026, 10, 27, 0, 0),
        );
        assert_eq!(
            got,
            [
                utc(2026, 10, 24, 0, 30), // 01:30 BST
                utc(2026, 10, 25, 0, 30), // the first 01:30 only
                utc(2026, 10, 26, 1, 30), // 01:30 GMT
            ]
        );
    }

    #[test]
    fn an_hourly_line_fires_in_both_passes_of_the_repeated_hour_and_once_in_the_skipped_one() {
        let fall = firings(
            "0,30 * * * *",
            london(),
            utc(2026, 10, 24, 23, 50),
            utc(2026, 10, 25, 2, 10),
        );
        // 01:00 BST, 01:30 BST, 01:00 GMT, 01:30 GMT, 02:00 GMT, 03:00 ...: every half
        // hour of real time.
        assert_eq!(
            fall,
            [
                utc(2026, 10, 25, 0, 0),
                utc(2026, 10, 25, 0, 30),
                utc(2026, 10, 25, 1, 0),
                utc(2026, 10, 25, 1, 30),
                utc(2026, 10, 25, 2, 0),
            ]
        );
        let spring = firings(
            "0,30 * * * *",
            london(),
            utc(2026, 3, 29, 0, 10),
            utc(2026, 3, 29, 1, 40),
        );
        // 00:30 GMT; 01:00 and 01:30 GMT do not exist: one firing at 02:00 BST (01:00
        // UTC) for both; then 02:30 BST.
        assert_eq!(
            spring,
            [
                utc(2026, 3, 29, 0, 30),
                utc(2026, 3, 29, 1, 0),
                utc(2026, 3, 29, 1, 30),
            ]
        );
    }

    #[test]
    fn a_line_that_never_fires_has_no_next_firing() {
        assert_eq!(
            next_after(&line("0 0 30 2 *"), london(), utc(2026, 1, 1, 0, 0)),
            None
        );
        // The 29th of February is years away, but it comes.
        assert_eq!(
            next_after(&line("0 0 29 2 *"), Tz::UTC, utc(2029, 3, 1, 0, 0)),
            Some(utc(2032, 2, 29, 0, 0))
        );
    }

    #[test]
    fn after_an_outage_only_the_latest_missed_firing_is_due() {
        let cron = line("0 3 * * *");
        let next = utc(2026, 5, 1, 2, 0); // 03:00 BST on 1 May
        assert_eq!(
            latest_due(&cron, london(), next, utc(2026, 5, 1, 1, 0)),
            None
        );
        assert_eq!(latest_due(&cron, london(), next, next), Some(next));
        // Down for three days: the firing of the 4th, not the four.
        assert_eq!(
            latest_due(&cron, london(), next, utc(2026, 5, 4, 12, 0)),
            Some(utc(2026, 5, 4, 2, 0))
        );
        // Down for two years on a 15-minute line: found without walking every one.
        let cron = line("*/15 * * * *");
        assert_eq!(
            latest_due(&cron, Tz::UTC, next, utc(2028, 5, 4, 12, 7)),
            Some(utc(2028, 5, 4, 12, 0))
        );
        // A yearly line down for three years.
        let cron = line("0 0 1 6 *");
        assert_eq!(
            latest_due(&cron, Tz::UTC, utc(2026, 6, 1, 0, 0), utc(2029, 7, 1, 0, 0)),
            Some(utc(2029, 6, 1, 0, 0))
        );
    }

    proptest! {
        /// A weekly line in a zone with daylight saving: the next firing is after
        /// `after`, within a week, on the line's day, and at the line's wall-clock
        /// time, unless the clock skipped that time that day (then it is the first
        /// moment after the jump, within the hour).
        #[test]
        fn the_next_firing_of_a_weekly_line_is_its_time_on_its_day(
            minute in 0u32..60,
            hour in 0u32..24,
            weekday in 0u32..7,
            after in 1_577_836_800_000i64..2_208_988_800_000, // 2020 to 2040
            zone in prop::sample::select(vec!["Europe/London", "America/New_York", "Australia/Sydney", "UTC"]),
        ) {
            let tz: Tz = zone.parse().unwrap();
            let cron = line(&format!("{minute} {hour} * * {weekday}"));
            let next = next_after(&cron, tz, Millis::new(after)).unwrap();
            prop_assert!(next.get() > after);
            prop_assert!(next.get() - after <= 7 * 24 * 3_600_000 + 3_600_000);
            let local = DateTime::from_timestamp_millis(next.get()).unwrap().with_timezone(&tz);
            let day = local.date_naive();
            let skipped = tz
                .from_local_datetime(&day.and_hms_opt(hour, minute, 0).unwrap())
                .earliest()
                .is_none();
            if skipped {
                let wanted = day.and_hms_opt(hour, minute, 0).unwrap();
                let shown = local.naive_local();
                prop_assert!(shown > wanted && shown - wanted <= chrono::TimeDelta::hours(1));
            } else {
                prop_assert_eq!((local.hour(), local.minute()), (hour, minute));
                prop_assert_eq!(local.weekday().num_days_from_sunday(), weekday);
            }
        }
    }
}
