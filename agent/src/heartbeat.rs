//! The heartbeat loop: report health every interval (with jitter, so a fleet does not
//! beat in step), rescan packages when apt's state changed, and back off while the
//! server is unreachable, never crashing and never spinning.

use std::time::{Duration, Instant, SystemTime};

use homelab_protocol::Heartbeat;
use rand::Rng;

use crate::client::{Client, ClientError};
use crate::{metrics, scan};

/// Even unchanged, packages are rescanned this often (a repository can change
/// without a local `apt-get update`... the next update brings it, but a periodic scan
/// costs little).
const RESCAN_EVERY: Duration = Duration::from_secs(15 * 60);
/// The longest wait between attempts while the server is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Whether a heartbeat carries a fresh package list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    Skip,
    IfDue,
    Force,
}

/// What the loop remembers between beats.
pub struct Heartbeater {
    client: Client,
    /// Rung by the action loop after an apt action: rescan and report now.
    rescan: std::sync::Arc<tokio::sync::Notify>,
    interval: Duration,
    cpu: Option<metrics::CpuTimes>,
    last_scan: Option<(Instant, Vec<Option<SystemTime>>)>,
    failures: u32,
    /// Told once the first heartbeat was tried (see [`Heartbeater::with_first_beat`]).
    first_beat: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Heartbeater {
    /// A loop that starts with `interval` until the server says otherwise.
    pub fn new(
        client: Client,
        interval: Duration,
        rescan: std::sync::Arc<tokio::sync::Notify>,
    ) -> Self {
        Heartbeater {
            client,
            rescan,
            interval,
            cpu: None,
            last_scan: None,
            failures: 0,
            first_beat: None,
        }
    }

    /// Tells `done` once the first heartbeat was sent (or failed): the action loop
    /// waits for it, so the server knows this boot's id before anything is claimed.
    /// A reboot claimed before would be judged against the boot before this one.
    pub fn with_first_beat(mut self, done: tokio::sync::oneshot::Sender<()>) -> Self {
        self.first_beat = Some(done);
        self
    }

    /// Runs until the task is dropped.
    pub async fn run(mut self) {
        // A first CPU reading, so the first heartbeat carries a real figure.
        self.cpu = metrics::read(None).1;
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some(done) = self.first_beat.take() {
            // A quick first report, without the package scan (seconds on a busy
            // machine), so the action loop need not wait for it; the scan follows.
            let _ = self.beat(Scan::Skip).await;
            let _ = done.send(());
        }
        let mut scan = Scan::IfDue;
        loop {
            let wait = match self.beat(scan).await {
                Ok(()) => jittered(self.interval),
                Err(wait) => wait,
            };
            let rescan = self.rescan.clone();
            scan = tokio::select! {
                () = tokio::time::sleep(wait) => Scan::IfDue,
                () = rescan.notified() => Scan::Force,
            };
        }
    }

    /// Sends one heartbeat, with a package list as `scan` says (when due: apt's state
    /// changed since the last scan, or it is old). On failure returns how long to wait.
    async fn beat(&mut self, scan: Scan) -> Result<(), Duration> {
        let scan_now = match scan {
            Scan::Skip => false,
            Scan::IfDue => self.scan_due(),
            Scan::Force => true,
        };
        let packages = if scan_now {
            let stamp = scan::state_stamp();
            match scan::scan().await {
                Ok(list) => {
                    self.last_scan = Some((Instant::now(), stamp));
                    Some(list)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "package scan failed; heartbeat sent without packages");
                    None
                }
            }
        } else {
            None
        };
        let scanned = packages.as_ref().map(Vec::len);
        let (m, cpu) = metrics::read(self.cpu);
        self.cpu = cpu;
        let hb = Heartbeat {
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            os: read_os(),
            hostname: read_hostname(),
            metrics: m,
            reboot_required: std::path::Path::new("/run/reboot-required").exists(),
            reboot_required_pkgs: reboot_required_pkgs(),
            packages,
            boot_id: crate::state::current_boot_id(),
        };
        match self.client.heartbeat(&hb).await {
            Ok(ack) => {
                if self.failures > 0 {
                    tracing::info!("server reachable again");
                }
                self.failures = 0;
                self.interval = Duration::from_secs(u64::from(ack.heartbeat_interval_s.max(1)));
                tracing::debug!(packages = ?scanned, "heartbeat sent");
                Ok(())
            }
            Err(e) => {
                if scanned.is_some() {
                    // The list did not arrive: scan again next time.
                    self.last_scan = None;
                }
                self.failures = self.failures.saturating_add(1);
                let wait = backoff(self.failures);
                match e {
                    ClientError::Unauthorized
                    | ClientError::Refused { .. }
                    | ClientError::TooLarge
                    | ClientError::BadAnswer(_) => {
                        tracing::error!(error = %e, retry_in = ?wait, "heartbeat refused");
                    }
                    ClientError::Transport(_)
                        if self.failures == 1 || self.failures.is_multiple_of(10) =>
                    {
                        tracing::warn!(error = %e, failures = self.failures, retry_in = ?wait, "heartbeat failed");
                    }
                    ClientError::Transport(_) => {}
                }
                Err(wait)
            }
        }
    }

    fn scan_due(&self) -> bool {
        match &self.last_scan {
            None => true,
            Some((at, stamp)) => at.elapsed() >= RESCAN_EVERY || *stamp != scan::state_stamp(),
        }
    }
}

/// The interval, give or take 10 %.
fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(rand::rng().random_range(0.9..1.1))
}

/// 1, 2, 4 ... seconds up to [`MAX_BACKOFF`], with jitter.
fn backoff(failures: u32) -> Duration {
    let base = Duration::from_secs(1u64 << failures.saturating_sub(1).min(9)).min(MAX_BACKOFF);
    jittered(base)
}

/// The packages that asked for a reboot, from `/run/reboot-required.pkgs`.
fn reboot_required_pkgs() -> Vec<String> {
    let text = std::fs::read_to_string("/run/reboot-required.pkgs").unwrap_or_default();
    let mut names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && l.len() <= 128 && !l.contains(char::is_whitespace))
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names.truncate(homelab_protocol::heartbeat::MAX_REBOOT_PKGS);
    names
}

fn read_os() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| metrics::os_pretty_name(&s))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn read_hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let secs = |n| backoff(n).as_secs_f64();
        assert!((0.9..1.1).contains(&secs(1)));
        assert!((3.6..4.4).contains(&secs(3)));
        assert!(secs(50) <= MAX_BACKOFF.as_secs_f64() * 1.1);
        assert!(secs(50) >= MAX_BACKOFF.as_secs_f64() * 0.9);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(60)).as_secs_f64();
            assert!((54.0..66.0).contains(&d), "{d}");
        }
    }
}
