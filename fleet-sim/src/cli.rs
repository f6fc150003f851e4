//! The command line. Numbers are range-checked by clap, so `--agents 0` or
//! `--connections 0` is refused with the allowed range before anything runs.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::packages::Churn;

/// homelab-fleet-sim: simulated agents and closed-loop load against a running
/// homelab-cmd, with latency percentiles and the server's CPU and memory.
#[derive(Debug, Parser)]
#[command(name = "homelab-fleet-sim", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// N simulated agents: heartbeats, an open long-poll each, results for every
    /// action they get; optionally actions created at a fixed rate.
    Fleet(FleetArgs),
    /// Closed-loop load on one path with C connections for D seconds (like wrk).
    Hammer(HammerArgs),
    /// Creates servers with package lists and a history of finished actions.
    Seed(SeedArgs),
}

/// Where the server is and how to reach its API.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// The server's base URL, e.g. `http://127.0.0.1:3000`.
    #[arg(long, env = "HOMELAB_SIM_URL")]
    pub url: String,

    /// An API token (`homelab-cmd api-token create NAME` prints one).
    #[arg(long, env = "HOMELAB_SIM_API_TOKEN", hide_env_values = true)]
    pub api_token: String,

    /// The simulated servers are named PREFIX-00000, PREFIX-00001...; a later run
    /// with the same prefix reuses them (with new agent tokens).
    #[arg(long, default_value = "sim")]
    pub prefix: String,

    /// Requests at once while creating servers and verifying results.
    #[arg(long, default_value = "16", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub setup_concurrency: u16,
}

/// What a run reports.
#[derive(Debug, Clone, Default, Args)]
pub struct OutputArgs {
    /// The server's process id: report its CPU (from /proc/PID/stat) and RSS (from
    /// /proc/PID/status, sampled every second).
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Each simulated machine's package list.
#[derive(Debug, Clone, Args)]
pub struct PackageArgs {
    /// Pending packages per machine.
    #[arg(long, default_value = "50")]
    pub packages: usize,

    /// How many of them are security updates.
    #[arg(long, default_value = "10")]
    pub security: usize,
}

/// `fleet`
#[derive(Debug, Clone, Args)]
pub struct FleetArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    /// Simulated agents (each its own server and token).
    #[arg(long, default_value = "100", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub agents: u32,

    /// Seconds between heartbeats; each agent's first beat comes at a random moment
    /// within the first interval.
    #[arg(long, default_value = "60", value_parser = positive_seconds)]
    pub heartbeat_interval: Duration,

    #[command(flatten)]
    pub packages: PackageArgs,

    /// How the package list changes between beats.
    #[arg(long, value_enum, default_value = "unchanged")]
    pub churn: Churn,

    /// Seconds each long-poll asks the server to wait (at most 50).
    #[arg(long, default_value = "25", value_parser = clap::value_parser!(u64).range(1..=50))]
    pub long_poll_wait: u64,

    /// Seconds an action "runs" between its claim and its result.
    #[arg(long, default_value = "1", value_parser = seconds)]
    pub action_duration: Duration,

    /// Send one progress call (with output) halfway through each action.
    #[arg(long)]
    pub progress: bool,

    /// Share of actions that end in failure (exit code 1), 0 to 1.
    #[arg(long, default_value = "0", value_parser = ratio)]
    pub failure_ratio: f64,

    /// Actions the simulator creates per second (restart_service of distinct units on
    /// random simulated servers without one of these in flight), measuring
    /// create-to-claim latency; 0: none.
    #[arg(long, default_value = "0", value_parser = rate)]
    pub actions_per_s: f64,

    /// Seconds the fleet runs.
    #[arg(long, default_value = "60", value_parser = positive_seconds)]
    pub duration: Duration,

    /// Seconds to wait, after creating stops, for the last actions to be claimed
    /// and reported before the long-polls close.
    #[arg(long, default_value = "10", value_parser = seconds)]
    pub drain: Duration,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// The paths `hammer` can load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// Heartbeats whose package list never changes.
    HeartbeatUnchanged,
    /// Heartbeats with one package changed per beat.
    HeartbeatChanged,
    /// Heartbeats whose whole list is replaced per beat.
    HeartbeatReplace,
    /// `restart_service` of a new unit each time (never a duplicate).
    CreateAction,
    /// The same `apt_update` again: the 409 path.
    Duplicate,
    /// `GET /api/v1/actions` (first page, or deep with --deep).
    HistoryJson,
    /// The server-rendered `/actions` (needs a login).
    HistoryPage,
    /// The server-rendered fleet `/` (needs a login).
    FleetPage,
    /// `GET /api/v1/servers`.
    ServersJson,
}

impl Target {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Target::HeartbeatUnchanged => "heartbeat-unchanged",
            Target::HeartbeatChanged => "heartbeat-changed",
            Target::HeartbeatReplace => "heartbeat-replace",
            Target::CreateAction => "create-action",
            Target::Duplicate => "duplicate",
            Target::HistoryJson => "history-json",
            Target::HistoryPage => "history-page",
            Target::FleetPage => "fleet-page",
            Target::ServersJson => "servers-json",
        }
    }
}

/// `hammer`
#[derive(Debug, Clone, Args)]
pub struct HammerArgs {
    /// The path to load.
    #[arg(value_enum)]
    pub target: Target,

    #[command(flatten)]
    pub server: ServerArgs,

    /// Connections, each sending its next request as soon as the last is answered.
    #[arg(long, short = 'c', default_value = "16", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connections: u32,

    /// Seconds of load.
    #[arg(long, short = 'd', default_value = "10", value_parser = positive_seconds)]
    pub duration: Duration,

    /// Simulated servers the heartbeat and action targets spread over.
    #[arg(long, default_value = "1000", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub servers: u32,

    #[command(flatten)]
    pub packages: PackageArgs,

    /// History targets: a page from the middle of the history instead of the first.
    #[arg(long)]
    pub deep: bool,

    /// `history-json`: actions per page.
    #[arg(long, default_value = "50", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,

    /// Dashboard user for the page targets.
    #[arg(long, default_value = "admin")]
    pub user: String,

    /// That user's password.
    #[arg(long, env = "HOMELAB_SIM_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// `seed`
#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    /// Simulated servers to create (or reuse), each sent one heartbeat with its list.
    #[arg(long, default_value = "1000", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub servers: u32,

    #[command(flatten)]
    pub packages: PackageArgs,

    /// Actions to add to the history, each created, claimed and reported through the
    /// API and the agent API like a real one.
    #[arg(long, default_value = "0")]
    pub actions: u64,

    /// Action cycles at once (each on servers of its own).
    #[arg(long, default_value = "8", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,

    /// Share of seeded actions that fail (exit code 1), 0 to 1.
    #[arg(long, default_value = "0.05", value_parser = ratio)]
    pub failure_ratio: f64,

    #[command(flatten)]
    pub output: OutputArgs,
}

fn number(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("`{s}` is not a finite number"))
    }
}

/// Seconds, zero or more (fractions allowed), at most a day.
pub fn seconds(s: &str) -> Result<Duration, String> {
    let v = number(s)?;
    if !(0.0..=86_400.0).contains(&v) {
        return Err(format!("{v} is not between 0 and 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(v))
}

/// Seconds, more than zero.
pub fn positive_seconds(s: &str) -> Result<Duration, String> {
    let d = seconds(s)?;
    if d < Duration::from_millis(1) {
        return Err(format!("`{s}` must be at least 0.001 seconds"));
    }
    Ok(d)
}

/// A share between 0 and 1.
pub fn ratio(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0 and 1"))
    }
}

/// Per second, 0 to 100,000.
pub fn rate(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if (0.0..=100_000.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0 and 100000 per second"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, String> {
        let mut all = vec!["homelab-fleet-sim"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).map_err(|e| e.to_string())
    }

    const SERVER: [&str; 4] = ["--url", "http://127.0.0.1:3000", "--api-token", "t"];

    #[test]
    fn the_worst_numbers_are_refused_with_the_allowed_range() {
        for (args, flag) in [
            (&["fleet", "--agents", "0"][..], "--agents"),
            (
                &["hammer", "duplicate", "--connections", "0"][..],
                "--connections",
            ),
            (&["hammer", "duplicate", "-d", "0"][..], "--duration"),
            (
                &["fleet", "--heartbeat-interval=-1"][..],
                "--heartbeat-interval",
            ),
            (&["fleet", "--failure-ratio", "1.5"][..], "--failure-ratio"),
            (&["fleet", "--actions-per-s", "NaN"][..], "--actions-per-s"),
            (&["fleet", "--long-poll-wait", "51"][..], "--long-poll-wait"),
            (&["seed", "--servers", "0"][..], "--servers"),
        ] {
            let mut all = args.to_vec();
            all.extend(SERVER);
            let err = parse(&all).unwrap_err();
            assert!(err.contains(flag), "{args:?}: {err}");
        }
    }

    #[test]
    fn defaults_are_the_issues_fleet() {
        let mut args = vec!["fleet"];
        args.extend(SERVER);
        let Command::Fleet(f) = parse(&args).unwrap().command else {
            panic!("fleet")
        };
        assert_eq!(f.heartbeat_interval, Duration::from_secs(60));
        assert_eq!((f.packages.packages, f.packages.security), (50, 10));
        assert_eq!(f.churn, Churn::Unchanged);
        assert_eq!(f.actions_per_s, 0.0);
    }

    #[test]
    fn fractions_of_seconds_are_taken() {
        assert_eq!(seconds("0.25").unwrap(), Duration::from_millis(250));
        assert!(positive_seconds("0").is_err());
        assert!(seconds("inf").is_err());
        assert!(seconds("ten").is_err());
    }
}
