use leptos::prelude::*;

use crate::domain::Millis;

/// A moment as "3 min ago", with the exact UTC time on hover. `now_ms`
/// comes from the server with the data, so the server render and the hydrated page
/// agree; after hydration the text follows the browser's ticking clock (corrected
/// for the difference between the two clocks), so "just now" becomes "1 min ago"
/// without a reload.
#[component]
pub fn RelativeTime(
    at_ms: Option<Millis>,
    now_ms: Millis,
    #[prop(optional)] never: Option<&'static str>,
) -> impl IntoView {
    match at_ms {
        None => view! { <span class="muted">{never.unwrap_or("never")}</span> }.into_any(),
        Some(at) => {
            let tick = crate::components::use_live().tick;
            // How far the server's clock is ahead of this browser's, as of now.
            let skew = browser_now().map(|b| now_ms.get() - b.get());
            let text = move || {
                let now = match (tick.get(), skew) {
                    (Some(browser), Some(skew)) => Millis::new(browser.get() + skew),
                    _ => now_ms,
                };
                relative(now.since(at))
            };
            view! {
                <time datetime=iso_utc(at) title=format_utc(at)>{text}</time>
            }
            .into_any()
        }
    }
}

/// A moment as an exact time: UTC when rendered on the server (which cannot know the
/// reader's zone), the browser's local time once hydrated; UTC on hover always.
#[component]
pub fn ExactTime(at_ms: Millis) -> impl IntoView {
    let local = RwSignal::new(None::<String>);
    crate::components::browser_effect(move || local.set(format_local(at_ms)));
    let text = move || local.get().unwrap_or_else(|| format_utc(at_ms));
    view! { <time datetime=iso_utc(at_ms) title=format_utc(at_ms)>{text}</time> }
}

/// `2026-11-26T07:21:17Z`, for `datetime` attributes.
fn iso_utc(at: Millis) -> String {
    format_utc(at).replace(" UTC", "Z").replace(' ', "T")
}

/// The browser's clock; `None` on the server.
fn browser_now() -> Option<Millis> {
    #[cfg(target_arch = "wasm32")]
    return Some(Millis::new(js_sys::Date::now() as i64));
    #[cfg(not(target_arch = "wasm32"))]
    None
}

/// A moment in the browser's time zone and locale, with the zone's name; `None` on
/// the server.
pub fn format_local(at: Millis) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at.get() as f64));
        let options = js_sys::Object::new();
        for (key, value) in [
            ("year", "numeric"),
            ("month", "short"),
            ("day", "numeric"),
            ("hour", "2-digit"),
            ("minute", "2-digit"),
            ("second", "2-digit"),
            ("timeZoneName", "short"),
        ] {
            let _ = js_sys::Reflect::set(&options, &key.into(), &value.into());
        }
        date.to_locale_string("default", &options).as_string()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = at;
        None
    }
}

/// "just now", "42 s ago", "5 min ago", "3 h ago", "2 days ago".
pub fn relative(age_ms: i64) -> String {
    let s = age_ms.max(0) / 1000;
    match s {
        0..=4 => "just now".to_owned(),
        5..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => match s / 86_400 {
            1 => "1 day ago".to_owned(),
            d => format!("{d} days ago"),
        },
    }
}

/// A duration in seconds as "3 d 4 h", "5 h 12 min" or "7 min".
pub fn duration_s(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60);
    match (d, h) {
        (0, 0) => format!("{m} min"),
        (0, h) => format!("{h} h {m} min"),
        (d, h) => format!("{d} d {h} h"),
    }
}

/// A moment as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_utc(at: Millis) -> String {
    let secs = at.get().div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_are_formatted_exactly() {
        assert_eq!(format_utc(Millis::new(0)), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            format_utc(Millis::new(951_782_400_000)),
            "2000-02-29 00:00:00 UTC"
        );
        assert_eq!(
            format_utc(Millis::new(1_795_677_677_999)),
            "2026-11-26 07:21:17 UTC"
        );
        assert_eq!(format_utc(Millis::new(-1000)), "1969-12-31 23:59:59 UTC");
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(relative(-5), "just now");
        assert_eq!(relative(42_000), "42 s ago");
        assert_eq!(relative(5 * 60_000), "5 min ago");
        assert_eq!(relative(3 * 3_600_000), "3 h ago");
        assert_eq!(relative(86_400_000), "1 day ago");
        assert_eq!(relative(3 * 86_400_000), "3 days ago");
        assert_eq!(duration_s(3 * 86_400 + 4 * 3600 + 60), "3 d 4 h");
        assert_eq!(duration_s(5 * 3600 + 12 * 60), "5 h 12 min");
        assert_eq!(duration_s(420), "7 min");
    }
}
