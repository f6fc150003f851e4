//! Fixtures for the service's tests.

use homelab_protocol::{DebVersion, Heartbeat, Metrics, PackageName, PendingPackage};

/// A plausible heartbeat carrying `packages`.
pub fn heartbeat(packages: Option<Vec<PendingPackage>>) -> Heartbeat {
    Heartbeat {
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
