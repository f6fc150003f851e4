//! Fixtures for the service's tests.

use homelab_protocol::{DebVersion, Heartbeat, Metrics, PackageName, PendingPackage};

/// The boot the fixtures' machines report from until a test reboots them.
pub const FIRST_BOOT: &str = "00000000-0000-4000-8000-000000000001";

/// A plausible heartbeat carrying `packages`, from [`FIRST_BOOT`].
pub fn heartbeat(packages: Option<Vec<PendingPackage>>) -> Heartbeat {
    Heartbeat {
        boot_id: Some(homelab_protocol::BootId::parse(FIRST_BOOT).unwrap()),
        agent_version: "0.1.0".into(),
        os: "Debian".into(),
        hostname: None,
        metrics: Metrics {
            cpu_percent: 1.0,
            memory_percent: 2.0,
            disk_percent: 3.0,
            load_1: 0.0,
            load_5: 0.0,
            load_15: 0.0,
            uptime_s: 1,
        },
        reboot_required: false,
        reboot_required_pkgs: Vec::new(),
        packages,
    }
}

/// A pending update of `name` from 1.0 to 1.1.
pub fn package(name: &str) -> PendingPackage {
    PendingPackage {
        name: PackageName::parse(name).unwrap(),
        current_version: DebVersion::parse("1.0").unwrap(),
        new_version: DebVersion::parse("1.1").unwrap(),
        repository: "bookworm-updates".into(),
        is_security: false,
        security_version: None,
        held: false,
        kept_back: false,
    }
}

/// A service at `now_ms` by a clock the test moves, over a fresh database, with
/// one server `nas` added: the service, its clock, the server, its agent token and
/// the database's guard.
#[cfg(test)]
pub(crate) async fn clocked_nas(
    now_ms: i64,
) -> (
    super::Service,
    std::sync::Arc<crate::clock::ManualClock>,
    homelab_protocol::ServerId,
    String,
    crate::db::testing::Guard,
) {
    let (db, guard) = crate::db::testing::fresh_db().await;
    let clock = std::sync::Arc::new(crate::clock::ManualClock::at(
        homelab_protocol::Millis::new(now_ms),
    ));
    let service =
        super::Service::new(db, std::time::Duration::from_secs(60)).with_clock(clock.clone());
    let (nas, token) = add_nas(&service).await;
    (service, clock, nas, token, guard)
}

/// Adds the server `nas` (named NAS) to `service`: its id and agent token.
#[cfg(test)]
pub(crate) async fn add_nas(service: &super::Service) -> (homelab_protocol::ServerId, String) {
    let nas = homelab_protocol::ServerId::parse("nas").unwrap();
    let token = service
        .add_server(
            nas.clone(),
            homelab_protocol::ServerName::parse("NAS").unwrap(),
        )
        .await
        .unwrap()
        .agent_token;
    (nas, token)
}

/// Two services over one database, as two replicas run it, telling the time by one
/// clock at `now_ms`: the replicas, the clock and the database's guard.
#[cfg(test)]
pub(crate) async fn two_replicas(
    now_ms: i64,
) -> (
    super::Service,
    super::Service,
    std::sync::Arc<crate::clock::ManualClock>,
    crate::db::testing::Guard,
) {
    let (url, guard) = crate::db::testing::fresh_url().await;
    let clock = std::sync::Arc::new(crate::clock::ManualClock::at(
        homelab_protocol::Millis::new(now_ms),
    ));
    let replica =
        |db| super::Service::new(db, std::time::Duration::from_secs(60)).with_clock(clock.clone());
    let a = replica(crate::db::Database::connect(&url).await.unwrap());
    let b = replica(crate::db::Database::connect(&url).await.unwrap());
    (a, b, clock, guard)
}
