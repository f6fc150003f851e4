//! Health numbers straight from /proc and statvfs: no heavy dependency, and nothing
//! that blocks for long (the files are in memory).

use std::path::Path;

use homelab_protocol::Metrics;

/// CPU time counters from the first line of /proc/stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTimes {
    busy: u64,
    total: u64,
}

impl CpuTimes {
    /// Parses the `cpu ` line of /proc/stat.
    pub fn parse(stat: &str) -> Option<CpuTimes> {
        let line = stat.lines().find(|l| l.starts_with("cpu "))?;
        let fields: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        // user nice system idle iowait irq softirq steal (guest time is already in user).
        let total: u64 = fields.iter().take(8).sum();
        let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
        Some(CpuTimes {
            busy: total.saturating_sub(idle),
            total,
        })
    }

    /// The busy share between `earlier` and `self`, in percent.
    pub fn percent_since(self, earlier: CpuTimes) -> f64 {
        let total = self.total.saturating_sub(earlier.total);
        if total == 0 {
            return 0.0;
        }
        let busy = self.busy.saturating_sub(earlier.busy);
        (busy as f64 * 100.0 / total as f64).clamp(0.0, 100.0)
    }
}

/// Memory in use (total minus available), in percent, from /proc/meminfo.
pub fn memory_percent(meminfo: &str) -> Option<f64> {
    let field = |name: &str| -> Option<f64> {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .trim_start_matches(':')
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let total = field("MemTotal")?;
    let available = field("MemAvailable")?;
    (total > 0.0).then(|| ((total - available) * 100.0 / total).clamp(0.0, 100.0))
}

/// The three load averages from /proc/loadavg.
pub fn load_average(loadavg: &str) -> Option<(f64, f64, f64)> {
    let mut it = loadavg.split_whitespace().map(str::parse::<f64>);
    Some((it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?))
}

/// Seconds since boot from /proc/uptime.
pub fn uptime_s(uptime: &str) -> Option<u64> {
    let secs: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    Some(secs as u64)
}

/// Used share of the filesystem at `path`, in percent, as `df` computes it.
pub fn disk_percent(path: &Path) -> Option<f64> {
    let st = rustix::fs::statvfs(path).ok()?;
    let frsize = st.f_frsize;
    let used = st.f_blocks.saturating_sub(st.f_bfree) * frsize;
    let usable = used + st.f_bavail * frsize;
    (usable > 0).then(|| (used as f64 * 100.0 / usable as f64).clamp(0.0, 100.0))
}

/// The `PRETTY_NAME` of /etc/os-release.
pub fn os_pretty_name(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|l| {
        let value = l.strip_prefix("PRETTY_NAME=")?;
        Some(value.trim().trim_matches('"').to_owned())
    })
}

/// Reads the machine's metrics. CPU use is measured since `previous` (the last
/// reading); the new counters are returned for next time. Missing /proc files (a
/// chroot without /proc) read as zero rather than stopping the heartbeat.
pub fn read(previous: Option<CpuTimes>) -> (Metrics, Option<CpuTimes>) {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpu_now = CpuTimes::parse(&read("/proc/stat"));
    let cpu_percent = match (cpu_now, previous) {
        (Some(now), Some(before)) => now.percent_since(before),
        _ => 0.0,
    };
    let (load_1, load_5, load_15) = load_average(&read("/proc/loadavg")).unwrap_or_default();
    let metrics = Metrics {
        cpu_percent,
        memory_percent: memory_percent(&read("/proc/meminfo")).unwrap_or(0.0),
        disk_percent: disk_percent(Path::new("/")).unwrap_or(0.0),
        load_1,
        load_5,
        load_15,
        uptime_s: uptime_s(&read("/proc/uptime")).unwrap_or(0),
    };
    (metrics, cpu_now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_use_is_the_busy_share_between_two_readings() {
        let a = CpuTimes::parse("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3\n").unwrap();
        let b = CpuTimes::parse("cpu  200 0 200 1200 100 0 0 0 0 0\n").unwrap();
        assert_eq!(b.percent_since(a), 200.0 * 100.0 / 700.0);
        assert_eq!(a.percent_since(a), 0.0);
        assert_eq!(CpuTimes::parse("intr 1 2"), None);
    }

    #[test]
    fn memory_use_counts_available_memory_as_free() {
        let meminfo = "MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    4000000 kB\n";
        assert_eq!(memory_percent(meminfo), Some(75.0));
        assert_eq!(memory_percent("MemTotal: 0 kB\nMemAvailable: 0 kB"), None);
    }

    #[test]
    fn load_uptime_and_os_are_read_from_their_files() {
        assert_eq!(
            load_average("0.52 0.58 0.59 1/467 12345\n"),
            Some((0.52, 0.58, 0.59))
        );
        assert_eq!(uptime_s("350735.47 234388.90\n"), Some(350_735));
        let os = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            os_pretty_name(os).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
    }

    #[test]
    fn the_real_machine_gives_sane_numbers() {
        let (_, first) = read(None);
        let (m, _) = read(first);
        for v in [m.cpu_percent, m.memory_percent, m.disk_percent] {
            assert!((0.0..=100.0).contains(&v), "{m:?}");
        }
        assert!(
            m.memory_percent > 0.0 && m.disk_percent > 0.0 && m.uptime_s > 0,
            "{m:?}"
        );
    }
}
