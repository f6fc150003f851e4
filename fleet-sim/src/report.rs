//! A run's report: a table for people, JSON for machines.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::proc_stats::{ServerUsage, Usage};
use crate::stats::Snapshot;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    /// The percentiles of a histogram in microseconds.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// One endpoint's requests.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointReport {
    pub name: String,
    pub requests: u64,
    pub per_s: f64,
    pub latency: Percentiles,
    /// Answers by status code (or "timeout", "connect error"...).
    pub statuses: BTreeMap<String, u64>,
    /// Answers other than the expected one.
    pub errors: u64,
}

/// A latency that is not one request.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    pub name: String,
    pub latency: Percentiles,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `fleet`, `hammer heartbeat-changed`, `seed`...
    pub run: String,
    /// The settings that shaped the run, as given.
    pub settings: BTreeMap<String, String>,
    pub duration_s: f64,
    pub endpoints: Vec<EndpointReport>,
    pub latencies: Vec<LatencyReport>,
    pub counters: BTreeMap<String, u64>,
    /// Every error: unexpected answers, transport failures, lost results.
    pub errors: u64,
    /// The first distinct error messages.
    pub error_samples: Vec<String>,
    /// The server's CPU and memory over the run, with `--server-pid`.
    pub server: Option<ServerUsage>,
    /// The simulator's own CPU and memory: it shares the machine with the server.
    pub client: Option<ServerUsage>,
    /// The machine's load average (1, 5, 15 min) at the end: the client shares the
    /// machine with the server, and other work on it shows here.
    pub load_average: Option<String>,
}

impl Report {
    /// A report from what the recorder saw.
    pub fn new(
        run: impl Into<String>,
        settings: BTreeMap<String, String>,
        duration_s: f64,
        snapshot: Snapshot,
        usage: Usage,
    ) -> Self {
        Report {
            run: run.into(),
            settings,
            duration_s,
            endpoints: snapshot.endpoints,
            latencies: snapshot.latencies,
            counters: snapshot.counters,
            errors: snapshot.errors,
            error_samples: snapshot.error_samples,
            server: usage.server,
            client: usage.client,
            load_average: crate::proc_stats::load_average(),
        }
    }

    /// The report as aligned text.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{} ({:.1} s)", self.run, self.duration_s);
        if !self.settings.is_empty() {
            let settings: Vec<String> = self
                .settings
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = writeln!(out, "  {}", settings.join(" "));
        }
        let _ = writeln!(
            out,
            "\n{:<22} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7}  statuses",
            "endpoint", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"
        );
        for e in &self.endpoints {
            let statuses: Vec<String> =
                e.statuses.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            let _ = writeln!(
                out,
                "{:<22} {:>9} {:>10.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>7}  {}",
                e.name,
                e.requests,
                e.per_s,
                e.latency.p50_ms,
                e.latency.p90_ms,
                e.latency.p99_ms,
                e.latency.max_ms,
                e.errors,
                statuses.join(" ")
            );
        }
        for l in &self.latencies {
            let _ = writeln!(
                out,
                "{:<22} {:>9} {:>10} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                l.name,
                l.latency.count,
                "",
                l.latency.p50_ms,
                l.latency.p90_ms,
                l.latency.p99_ms,
                l.latency.max_ms
            );
        }
        if !self.counters.is_empty() {
            let counters: Vec<String> = self
                .counters
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = writeln!(out, "\ncounters: {}", counters.join(" "));
        }
        for (who, usage) in [("server", &self.server), ("simulator", &self.client)] {
            if let Some(s) = usage {
                let _ = writeln!(
                    out,
                    "{who} pid {}: CPU {:.1} % of one core ({:.2} s over {:.1} s); RSS start {:.1} MB, peak {:.1} MB, end {:.1} MB ({} samples)",
                    s.pid,
                    s.cpu_percent,
                    s.cpu_s,
                    s.wall_s,
                    s.rss_start_mb,
                    s.rss_peak_mb,
                    s.rss_end_mb,
                    s.samples
                );
            }
        }
        if let Some(load) = &self.load_average {
            let _ = writeln!(out, "load average at the end: {load}");
        }
        let _ = writeln!(out, "errors: {}", self.errors);
        for e in &self.error_samples {
            let _ = writeln!(out, "  {e}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Answer, Recorder, histogram, record_duration};
    use std::time::Duration;

    #[test]
    fn percentiles_of_one_to_a_thousand_milliseconds() {
        let mut h = histogram();
        for ms in 1..=1000 {
            record_duration(&mut h, Duration::from_millis(ms));
        }
        let p = Percentiles::of(&h);
        assert_eq!(p.count, 1000);
        // Three significant digits: within 0.1 %.
        let near = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 1e-9;
        assert!(near(p.p50_ms, 500.0), "{p:?}");
        assert!(near(p.p90_ms, 900.0), "{p:?}");
        assert!(near(p.p99_ms, 990.0), "{p:?}");
        assert!(near(p.max_ms, 1000.0), "{p:?}");
    }

    #[test]
    fn an_empty_histogram_has_zero_percentiles() {
        assert_eq!(Percentiles::of(&histogram()), Percentiles::default());
    }

    #[test]
    fn a_tail_shows_in_p99_but_not_p50() {
        let mut h = histogram();
        for _ in 0..980 {
            record_duration(&mut h, Duration::from_millis(1));
        }
        for _ in 0..20 {
            record_duration(&mut h, Duration::from_millis(200));
        }
        let p = Percentiles::of(&h);
        assert!(p.p50_ms < 1.01 && p.p90_ms < 1.01, "{p:?}");
        assert!(p.p99_ms > 199.0, "{p:?}");
    }

    #[test]
    fn the_table_and_the_json_carry_the_same_figures() {
        let r = Recorder::default();
        r.request(
            "heartbeat",
            Duration::from_millis(2),
            Answer::Status(200),
            true,
        );
        r.request(
            "heartbeat",
            Duration::from_millis(4),
            Answer::Status(500),
            false,
        );
        r.count("heartbeats", 2);
        let report = Report::new(
            "hammer heartbeat-changed",
            BTreeMap::from([("connections".to_owned(), "16".to_owned())]),
            2.0,
            r.snapshot(Duration::from_secs(2)),
            Usage::default(),
        );
        let table = report.table();
        assert!(table.contains("heartbeat"), "{table}");
        assert!(table.contains("200:1 500:1"), "{table}");
        assert!(table.contains("errors: 1"), "{table}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["endpoints"][0]["requests"], 2);
        assert_eq!(json["endpoints"][0]["per_s"], 1.0);
        assert_eq!(json["errors"], 1);
        assert_eq!(json["counters"]["heartbeats"], 2);
        assert_eq!(json["settings"]["connections"], "16");
    }
}
