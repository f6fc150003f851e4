//! The server's CPU time and resident memory, from `/proc/PID/stat` (utime + stime)
//! and `/proc/PID/status` (VmRSS), sampled every second while a run goes on.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// How often memory is sampled.
const EVERY: Duration = Duration::from_secs(1);

/// Why the server process cannot be watched.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error(
        "cannot read /proc/{pid}/{file}: {source} (is --server-pid a running process on this machine?)"
    )]
    Read {
        pid: u32,
        file: &'static str,
        source: std::io::Error,
    },
    #[error("/proc/{pid}/{file} is not in the expected format")]
    Format { pid: u32, file: &'static str },
}

/// The server's use of the machine over a run.
#[derive(Debug, Clone, Serialize)]
pub struct ServerUsage {
    pub pid: u32,
    /// CPU time (user + system) over the run, seconds.
    pub cpu_s: f64,
    pub wall_s: f64,
    /// `cpu_s / wall_s`, in % of one core.
    pub cpu_percent: f64,
    pub rss_start_mb: f64,
    pub rss_peak_mb: f64,
    pub rss_end_mb: f64,
    pub samples: u64,
}

/// One reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    /// Resident set, bytes.
    pub rss_bytes: u64,
}

/// utime + stime from the text of `/proc/PID/stat`. The command name (field 2) is in
/// parentheses and may hold spaces or parentheses, so fields are counted from the
/// last `)`: field 3 (state) is the first after it, utime is field 14, stime 15.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

/// VmRSS in bytes from the text of `/proc/PID/status`.
pub fn parse_status_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut parts = line["VmRSS:".len()..].split_whitespace();
    let kb: u64 = parts.next()?.parse().ok()?;
    (parts.next() == Some("kB")).then_some(kb * 1024)
}

/// Reads the process's CPU ticks and RSS now.
pub fn read(pid: u32) -> Result<Reading, ProcError> {
    let file = |name: &'static str| {
        std::fs::read_to_string(format!("/proc/{pid}/{name}")).map_err(|source| ProcError::Read {
            pid,
            file: name,
            source,
        })
    };
    let cpu_ticks =
        parse_stat_ticks(&file("stat")?).ok_or(ProcError::Format { pid, file: "stat" })?;
    let rss_bytes = parse_status_rss(&file("status")?).ok_or(ProcError::Format {
        pid,
        file: "status",
    })?;
    Ok(Reading {
        cpu_ticks,
        rss_bytes,
    })
}

/// The server's and the simulator's own use of the machine over a run.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    /// The watched server, with `--server-pid`.
    pub server: Option<ServerUsage>,
    /// This process: the load's own cost on the cores it shares with the server.
    pub client: Option<ServerUsage>,
}

/// Samplers running beside a run: the server's when a pid is given, and always
/// this process's.
pub struct Watch {
    server: Option<tokio::task::JoinHandle<ServerUsage>>,
    client: Option<tokio::task::JoinHandle<ServerUsage>>,
    stop: CancellationToken,
}

impl Watch {
    /// Starts sampling every second. Fails at once when the server's process
    /// cannot be read.
    pub fn start(server_pid: Option<u32>) -> Result<Watch, ProcError> {
        let stop = CancellationToken::new();
        let server = match server_pid {
            Some(pid) => Some(tokio::spawn(Sampler::start(pid)?.run(stop.clone()))),
            None => None,
        };
        // This process is always readable; if not, the report just lacks it.
        let client = Sampler::start(std::process::id())
            .ok()
            .map(|s| tokio::spawn(s.run(stop.clone())));
        Ok(Watch {
            server,
            client,
            stop,
        })
    }

    /// Stops sampling: the figures over the run.
    pub async fn finish(self) -> Usage {
        self.stop.cancel();
        let join = |t: Option<tokio::task::JoinHandle<ServerUsage>>| async move {
            match t {
                Some(t) => t.await.ok(),
                None => None,
            }
        };
        Usage {
            server: join(self.server).await,
            client: join(self.client).await,
        }
    }
}

/// The machine's load averages over 1, 5 and 15 minutes, from `/proc/loadavg`.
pub fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let fields: Vec<&str> = text.split_whitespace().take(3).collect();
    (fields.len() == 3).then(|| fields.join(" "))
}

/// Samples a process until stopped.
pub struct Sampler {
    pid: u32,
    start: Reading,
    started: Instant,
    peak_rss: u64,
    last: Reading,
    samples: u64,
}

impl Sampler {
    /// Takes the first reading: fails at once when the process cannot be read.
    pub fn start(pid: u32) -> Result<Self, ProcError> {
        let start = read(pid)?;
        Ok(Sampler {
            pid,
            start,
            started: Instant::now(),
            peak_rss: start.rss_bytes,
            last: start,
            samples: 1,
        })
    }

    fn sample(&mut self) {
        // A process that has gone keeps its last figures; the run's errors say why.
        if let Ok(r) = read(self.pid) {
            self.peak_rss = self.peak_rss.max(r.rss_bytes);
            self.last = r;
            self.samples += 1;
        }
    }

    /// Samples every second until `stop`, then once more, and sums up.
    pub async fn run(mut self, stop: CancellationToken) -> ServerUsage {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => self.sample(),
            }
        }
        self.sample();
        self.usage()
    }

    /// The figures so far.
    pub fn usage(&self) -> ServerUsage {
        let ticks_per_s = rustix::param::clock_ticks_per_second() as f64;
        let cpu_s = self.last.cpu_ticks.saturating_sub(self.start.cpu_ticks) as f64 / ticks_per_s;
        let wall_s = self.started.elapsed().as_secs_f64();
        let mb = |b: u64| b as f64 / 1_000_000.0;
        ServerUsage {
            pid: self.pid,
            cpu_s,
            wall_s,
            cpu_percent: if wall_s > 0.0 {
                100.0 * cpu_s / wall_s
            } else {
                0.0
            },
            rss_start_mb: mb(self.start.rss_bytes),
            rss_peak_mb: mb(self.peak_rss),
            rss_end_mb: mb(self.last.rss_bytes),
            samples: self.samples,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        // A command name with a space and a parenthesis in it.
        let stat = "4242 (homelab (cmd) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    150 25 0 0 20 0 9 0 777 123456 2000 18446744073709551615";
        assert_eq!(parse_stat_ticks(stat), Some(175));
        assert_eq!(parse_stat_ticks("4242 (x) S 1"), None);
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn rss_is_read_from_vmrss_in_kilobytes() {
        let status = "Name:\thomelab-cmd\nVmPeak:\t  200000 kB\nVmRSS:\t   14336 kB\nThreads:\t9\n";
        assert_eq!(parse_status_rss(status), Some(14336 * 1024));
        assert_eq!(parse_status_rss("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn this_process_can_be_read_and_a_missing_one_cannot() {
        let me = read(std::process::id()).unwrap();
        assert!(me.rss_bytes > 0);
        // Beyond the kernel's largest pid (2^22).
        let err = read(u32::MAX).unwrap_err();
        assert!(err.to_string().contains("--server-pid"), "{err}");
    }

    #[test]
    fn usage_of_a_busy_process_shows_its_cpu() {
        let mut s = Sampler::start(std::process::id()).unwrap();
        let until = Instant::now() + Duration::from_millis(300);
        let mut x = 0u64;
        while Instant::now() < until {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        s.sample();
        let u = s.usage();
        assert!(u.cpu_s > 0.0, "{u:?}");
        assert!(u.rss_peak_mb >= u.rss_start_mb);
        assert_eq!(u.samples, 2);
    }
}
