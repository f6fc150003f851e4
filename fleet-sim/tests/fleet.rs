//! The simulator against the real server (started in this process on port 0, on a
//! fresh database): a small fleet, every hammer target, seeding, and refusals of
//! bad settings. Nothing here is timed: speed targets are benchmarks.

use clap::Parser as _;
use homelab_fleet_sim::cli::{Cli, Command};
use homelab_fleet_sim::report::Report;
use homelab_fleet_sim::{agents, hammer, seed};
use homelab_server::config::{DatabaseArgs, OnboardingArgs, ServeArgs};
use homelab_server::db::Database;
use homelab_server::service::Service;
use homelab_server::startup::Application;
use tokio::sync::oneshot;

const USER: &str = "admin";
const PASSWORD: &str = "simulated password";

/// A running server; stops when dropped.
struct Server {
    base: String,
    api_token: String,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
    _db: homelab_core::db::testing::Guard,
}

async fn spawn_server() -> Server {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::create_dir(dir.path().join("site")).expect("site folder");
    let (database_url, db_guard) = homelab_core::db::testing::fresh_url().await;
    let args = ServeArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        database: DatabaseArgs {
            database_url: database_url.clone(),
        },
        heartbeat_interval: 1,
        action_timeouts: homelab_protocol::Timeouts::default(),
        site_root: dir.path().join("site"),
        http: Default::default(),
        onboarding: OnboardingArgs::default(),
    };
    let app = Application::build(&args).await.expect("server starts");
    let addr = app.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let db = Database::connect(&database_url).await.expect("second pool");
    let service = Service::new(db, args.heartbeat_interval());
    let api_token = service
        .create_api_token("fleet-sim")
        .await
        .expect("API token");
    service
        .set_user_password(USER, PASSWORD)
        .await
        .expect("dashboard account");
    Server {
        base: format!("http://{addr}"),
        api_token,
        _stop: stop,
        _dir: dir,
        _db: db_guard,
    }
}

/// The command line `args` with the server's URL and token.
fn cli(server: &Server, args: &[&str]) -> Command {
    let mut all = vec!["homelab-fleet-sim"];
    all.extend_from_slice(args);
    all.extend(["--url", &server.base, "--api-token", &server.api_token]);
    Cli::try_parse_from(all).expect("valid arguments").command
}

async fn run(command: Command) -> Result<Report, String> {
    match command {
        Command::Fleet(a) => agents::run(&a).await.map_err(|e| e.to_string()),
        Command::Hammer(a) => hammer::run(&a).await.map_err(|e| e.to_string()),
        Command::Seed(a) => seed::run(&a).await.map_err(|e| e.to_string()),
    }
}

fn counter(report: &Report, name: &str) -> u64 {
    report.counters.get(name).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_fleet_heartbeats_claims_every_action_and_every_result_is_stored() {
    let server = spawn_server().await;
    let report = run(cli(
        &server,
        &[
            "fleet",
            "--agents",
            "20",
            "--heartbeat-interval",
            "1",
            "--churn",
            "one",
            "--long-poll-wait",
            "2",
            "--actions-per-s",
            "5",
            "--action-duration",
            "0.2",
            "--progress",
            "--failure-ratio",
            "0.3",
            "--duration",
            "4",
            "--drain",
            "20",
            "--server-pid",
            &std::process::id().to_string(),
        ],
    ))
    .await
    .expect("the fleet runs");
    let table = report.table();
    assert_eq!(report.errors, 0, "{table}");
    assert!(counter(&report, "heartbeats") > 0, "{table}");
    let created = counter(&report, "actions_created");
    assert!(created > 0, "{table}");
    // Every action created was claimed, answered and read back as sent.
    assert_eq!(counter(&report, "claims"), created, "{table}");
    assert_eq!(counter(&report, "results_acknowledged"), created, "{table}");
    assert_eq!(counter(&report, "results_verified"), created, "{table}");
    let to_claim = report
        .latencies
        .iter()
        .find(|l| l.name == "create-to-claim")
        .expect("create-to-claim measured");
    assert_eq!(to_claim.latency.count, created, "{table}");
    let progress = report.endpoints.iter().find(|e| e.name == "progress");
    assert_eq!(progress.map(|e| e.requests), Some(created), "{table}");
    let usage = report.server.as_ref().expect("the process was watched");
    assert!(usage.rss_peak_mb > 0.0 && usage.samples >= 2, "{usage:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_reuses_its_servers_with_new_tokens() {
    let server = spawn_server().await;
    let args = [
        "fleet",
        "--agents",
        "3",
        "--heartbeat-interval",
        "0.2",
        "--long-poll-wait",
        "1",
        "--duration",
        "1",
    ];
    for _ in 0..2 {
        let report = run(cli(&server, &args)).await.expect("the fleet runs");
        assert_eq!(report.errors, 0, "{}", report.table());
        assert!(counter(&report, "heartbeats") > 0, "{}", report.table());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hammer_target_gets_its_expected_answer_after_a_seed() {
    let server = spawn_server().await;
    let seeded = run(cli(
        &server,
        &[
            "seed",
            "--servers",
            "4",
            "--actions",
            "30",
            "--concurrency",
            "2",
        ],
    ))
    .await
    .expect("seeding");
    assert_eq!(seeded.errors, 0, "{}", seeded.table());
    assert_eq!(counter(&seeded, "actions_seeded"), 30);

    for target in [
        &["heartbeat-unchanged"][..],
        &["heartbeat-changed"],
        &["heartbeat-replace"],
        &["create-action"],
        &["duplicate"],
        &["history-json"],
        &["history-json", "--deep"],
        &["history-page"],
        &["history-page", "--deep"],
        &["fleet-page"],
        &["servers-json"],
    ] {
        let mut args = vec!["hammer"];
        args.extend_from_slice(target);
        args.extend([
            "-c",
            "2",
            "-d",
            "0.3",
            "--servers",
            "4",
            "--password",
            PASSWORD,
        ]);
        let report = run(cli(&server, &args)).await.expect("the hammer runs");
        let table = report.table();
        assert_eq!(report.errors, 0, "{target:?}: {table}");
        assert!(report.endpoints[0].requests > 0, "{target:?}: {table}");
    }
}

#[tokio::test]
async fn bad_settings_are_refused_with_a_clear_error() {
    let server = spawn_server().await;
    let with = |url: &str, token: &str| {
        Cli::try_parse_from([
            "homelab-fleet-sim",
            "fleet",
            "--url",
            url,
            "--api-token",
            token,
            "--duration",
            "1",
        ])
        .unwrap()
        .command
    };
    let nonsense = run(with("not a url", "x")).await.unwrap_err();
    assert!(nonsense.contains("--url"), "{nonsense}");
    let wrong_token = run(with(&server.base, "wrong")).await.unwrap_err();
    assert!(wrong_token.contains("401"), "{wrong_token}");
    // A port nothing listens on: port 1 is privileged and unused here.
    let nobody = run(with("http://127.0.0.1:1", "x")).await.unwrap_err();
    assert!(nobody.contains("cannot reach"), "{nobody}");
    let too_many_security = run(cli(
        &server,
        &[
            "fleet",
            "--packages",
            "5",
            "--security",
            "6",
            "--duration",
            "1",
        ],
    ))
    .await
    .unwrap_err();
    assert!(
        too_many_security.contains("--security"),
        "{too_many_security}"
    );
    let bad_prefix = run(cli(
        &server,
        &["fleet", "--prefix", "Not_A_Slug", "--duration", "1"],
    ))
    .await
    .unwrap_err();
    assert!(bad_prefix.contains("--prefix"), "{bad_prefix}");
}
