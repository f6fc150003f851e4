//! What a run records while it runs: per endpoint a latency histogram and the
//! answers' status codes; named latencies that are not requests (create-to-claim);
//! counters; and errors, each counted, the first few kept with their message.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::report::{EndpointReport, LatencyReport, Percentiles};

/// The error messages kept for the report (all are counted).
const KEPT_ERRORS: usize = 20;

/// A latency histogram in microseconds, 1 µs to one hour, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Records `d` in `h`, clamped into its range.
pub fn record_duration(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
    h.saturating_record(us);
}

/// How one request ended, for the status-code table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The server answered with this status code.
    Status(u16),
    /// No answer: a connection, timeout or body error (the label says which).
    Transport(&'static str),
}

impl Answer {
    fn label(&self) -> String {
        match self {
            Answer::Status(code) => code.to_string(),
            Answer::Transport(what) => (*what).to_owned(),
        }
    }

    /// The answer for a reqwest failure.
    pub fn from_reqwest(e: &reqwest::Error) -> Answer {
        if let Some(status) = e.status() {
            Answer::Status(status.as_u16())
        } else if e.is_timeout() {
            Answer::Transport("timeout")
        } else if e.is_connect() {
            Answer::Transport("connect error")
        } else if e.is_body() || e.is_decode() {
            Answer::Transport("body error")
        } else {
            Answer::Transport("transport error")
        }
    }
}

#[derive(Default)]
struct Endpoint {
    latency: Option<Histogram<u64>>,
    statuses: BTreeMap<String, u64>,
    errors: u64,
}

#[derive(Default)]
struct Inner {
    endpoints: HashMap<&'static str, Endpoint>,
    latencies: HashMap<&'static str, Histogram<u64>>,
    counters: BTreeMap<&'static str, u64>,
    errors: u64,
    kept: Vec<String>,
}

/// Shared by every task of a run.
#[derive(Default)]
pub struct Recorder {
    inner: Mutex<Inner>,
}

impl Recorder {
    /// A request to `endpoint` took `took` and ended with `answer`; `expected` says
    /// whether that answer is the one this request should get (anything else is an
    /// error).
    pub fn request(&self, endpoint: &'static str, took: Duration, answer: Answer, expected: bool) {
        let mut inner = self.lock();
        let e = inner.endpoints.entry(endpoint).or_default();
        record_duration(e.latency.get_or_insert_with(histogram), took);
        *e.statuses.entry(answer.label()).or_default() += 1;
        if !expected {
            e.errors += 1;
            let message = format!("{endpoint}: unexpected answer {}", answer.label());
            inner.note_error(message);
        }
    }

    /// A latency that is not one request (e.g. from an action's 201 to its claim).
    pub fn latency(&self, name: &'static str, took: Duration) {
        let mut inner = self.lock();
        record_duration(inner.latencies.entry(name).or_insert_with(histogram), took);
    }

    /// Adds `n` to counter `name`.
    pub fn count(&self, name: &'static str, n: u64) {
        *self.lock().counters.entry(name).or_default() += n;
    }

    /// An error that is not an answer's status (a lost result, a claim for an
    /// unknown action...).
    pub fn error(&self, message: impl Into<String>) {
        self.lock().note_error(message.into());
    }

    /// How many errors so far.
    pub fn errors(&self) -> u64 {
        self.lock().errors
    }

    /// The value of counter `name`.
    pub fn counter(&self, name: &'static str) -> u64 {
        self.lock().counters.get(name).copied().unwrap_or(0)
    }

    /// What was recorded, for a run of `elapsed`.
    pub fn snapshot(&self, elapsed: Duration) -> Snapshot {
        let inner = self.lock();
        let secs = elapsed.as_secs_f64().max(1e-9);
        let mut endpoints: Vec<EndpointReport> = inner
            .endpoints
            .iter()
            .map(|(name, e)| {
                let latency = e.latency.as_ref().map(Percentiles::of).unwrap_or_default();
                EndpointReport {
                    name: (*name).to_owned(),
                    requests: latency.count,
                    per_s: latency.count as f64 / secs,
                    latency,
                    statuses: e.statuses.clone(),
                    errors: e.errors,
                }
            })
            .collect();
        endpoints.sort_by(|a, b| a.name.cmp(&b.name));
        let mut latencies: Vec<LatencyReport> = inner
            .latencies
            .iter()
            .map(|(name, h)| LatencyReport {
                name: (*name).to_owned(),
                latency: Percentiles::of(h),
            })
            .collect();
        latencies.sort_by(|a, b| a.name.cmp(&b.name));
        Snapshot {
            endpoints,
            latencies,
            counters: inner
                .counters
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            errors: inner.errors,
            error_samples: inner.kept.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panicking task cannot leave the counts half-written: each update is one
        // short critical section, so the data is still good.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    fn note_error(&mut self, message: String) {
        self.errors += 1;
        if self.kept.len() < KEPT_ERRORS && !self.kept.contains(&message) {
            self.kept.push(message);
        }
    }
}

/// The recorded figures of a run, ready for its report.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub endpoints: Vec<EndpointReport>,
    pub latencies: Vec<LatencyReport>,
    pub counters: BTreeMap<String, u64>,
    pub errors: u64,
    pub error_samples: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unexpected_answers_are_errors_and_expected_ones_are_not() {
        let r = Recorder::default();
        let ms = Duration::from_millis;
        r.request("duplicate", ms(1), Answer::Status(409), true);
        r.request("duplicate", ms(2), Answer::Status(201), false);
        r.request("duplicate", ms(3), Answer::Transport("timeout"), false);
        let s = r.snapshot(Duration::from_secs(1));
        assert_eq!(s.errors, 2);
        let e = &s.endpoints[0];
        assert_eq!(e.requests, 3);
        assert_eq!(e.errors, 2);
        assert_eq!(e.statuses["409"], 1);
        assert_eq!(e.statuses["201"], 1);
        assert_eq!(e.statuses["timeout"], 1);
        assert_eq!(s.error_samples.len(), 2);
    }

    #[test]
    fn rates_are_per_second_of_the_run() {
        let r = Recorder::default();
        for _ in 0..30 {
            r.request(
                "heartbeat",
                Duration::from_micros(500),
                Answer::Status(200),
                true,
            );
        }
        let s = r.snapshot(Duration::from_secs(3));
        assert!((s.endpoints[0].per_s - 10.0).abs() < 1e-9);
    }

    #[test]
    fn errors_are_all_counted_but_only_the_first_distinct_ones_kept() {
        let r = Recorder::default();
        for i in 0..100 {
            r.error(format!("lost result {}", i % 30));
        }
        let s = r.snapshot(Duration::from_secs(1));
        assert_eq!(s.errors, 100);
        assert_eq!(s.error_samples.len(), KEPT_ERRORS);
    }
}
