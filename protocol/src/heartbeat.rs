//! `POST /agent/v1/heartbeat`: what an agent reports about its machine.

use serde::{Deserialize, Serialize};

use crate::package::PendingPackage;

/// The most packages one heartbeat may list.
pub const MAX_PACKAGES: usize = 5_000;
/// The largest heartbeat body the server reads, in bytes.
pub const MAX_HEARTBEAT_BYTES: usize = 2 * 1024 * 1024;

/// Health numbers read from /proc and statvfs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    pub cpu_percent: f64,
    pub memory_percent: f64,
    /// Use of the root filesystem.
    pub disk_percent: f64,
    pub load_1: f64,
    pub load_5: f64,
    pub load_15: f64,
    pub uptime_s: u64,
}

/// One heartbeat. `packages: None` means "not scanned this time" (keep the list);
/// `Some(vec![])` means "nothing pending" (clear it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    pub agent_version: String,
    pub os: String,
    #[serde(default)]
    pub hostname: Option<String>,
    pub metrics: Metrics,
    pub reboot_required: bool,
    /// The packages that asked for the reboot (`/run/reboot-required.pkgs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reboot_required_pkgs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<PendingPackage>>,
    /// This boot's id (`/proc/sys/kernel/random/boot_id`): a reboot is over when it
    /// changes. Absent from agents too old to send it, which cannot be rebooted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<BootId>,
}

/// The kernel's id of one boot: a random UUID, lowercase, new on every boot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BootId(String);

/// A boot id that is not the kernel's UUID text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("boot_id: must be a lowercase UUID like 0b5e7f31-4bd1-4a0e-9d6e-2f1c3a4b5c6d")]
pub struct BootIdError;

impl BootId {
    /// Parses the kernel's text (surrounding whitespace, such as the file's newline,
    /// is dropped).
    pub fn parse(text: impl AsRef<str>) -> Result<Self, BootIdError> {
        let text = text.as_ref().trim();
        let shaped = text.len() == 36
            && text.char_indices().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => c == '-',
                _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
            });
        if shaped {
            Ok(BootId(text.to_owned()))
        } else {
            Err(BootIdError)
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_newtype!(BootId, BootIdError);

/// The most packages a reboot request may name.
pub const MAX_REBOOT_PKGS: usize = 500;

/// The server's answer to a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatAck {
    pub heartbeat_interval_s: u32,
}

/// A heartbeat field with a value no machine can have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct HeartbeatError {
    pub field: String,
    pub message: String,
}

impl Heartbeat {
    /// Checks the values the types cannot: ranges, lengths, duplicates.
    pub fn validate(&self) -> Result<(), HeartbeatError> {
        let err = |field: &str, message: String| HeartbeatError {
            field: field.to_owned(),
            message,
        };
        for (field, text, max) in [
            ("agent_version", self.agent_version.as_str(), 64),
            ("os", self.os.as_str(), 200),
            ("hostname", self.hostname.as_deref().unwrap_or(""), 253),
        ] {
            if text.chars().count() > max {
                return Err(err(field, format!("must be at most {max} characters")));
            }
            if !crate::text::displayable(text) {
                return Err(err(
                    field,
                    "must not contain control characters or text-direction overrides".into(),
                ));
            }
        }
        if self.reboot_required_pkgs.len() > MAX_REBOOT_PKGS
            || self.reboot_required_pkgs.iter().any(|p| {
                p.is_empty()
                    || p.len() > 128
                    || p.chars().any(|c| c.is_control() || c.is_whitespace())
            })
        {
            return Err(err(
                "reboot_required_pkgs",
                format!("at most {MAX_REBOOT_PKGS} package names of 1 to 128 printable characters"),
            ));
        }
        let m = &self.metrics;
        for (field, value) in [
            ("metrics.cpu_percent", m.cpu_percent),
            ("metrics.memory_percent", m.memory_percent),
            ("metrics.disk_percent", m.disk_percent),
        ] {
            if !(0.0..=100.0).contains(&value) {
                return Err(err(
                    field,
                    format!("must be between 0 and 100, got {value}"),
                ));
            }
        }
        for (field, value) in [
            ("metrics.load_1", m.load_1),
            ("metrics.load_5", m.load_5),
            ("metrics.load_15", m.load_15),
        ] {
            if !(0.0..=1e6).contains(&value) {
                return Err(err(
                    field,
                    format!("must be between 0 and 1000000, got {value}"),
                ));
            }
        }
        if let Some(packages) = &self.packages {
            if packages.len() > MAX_PACKAGES {
                return Err(err(
                    "packages",
                    format!("at most {MAX_PACKAGES} packages, got {}", packages.len()),
                ));
            }
            let mut names = std::collections::HashSet::with_capacity(packages.len());
            for p in packages {
                if !names.insert(p.name.as_str()) {
                    return Err(err("packages", format!("`{}` is listed twice", p.name)));
                }
                if p.repository.is_empty()
                    || p.repository.len() > PendingPackage::MAX_REPOSITORY_LEN
                    || !crate::text::displayable(&p.repository)
                {
                    return Err(err(
                        "packages.repository",
                        format!("`{}`: 1 to 200 printable characters", p.name),
                    ));
                }
                if p.is_security != p.security_version.is_some() {
                    return Err(err(
                        "packages.security_version",
                        format!("`{}`: given exactly when is_security is true", p.name),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heartbeat() -> Heartbeat {
        serde_json::from_value(serde_json::json!({
            "agent_version": "0.1.0",
            "os": "Debian GNU/Linux 12 (bookworm)",
            "metrics": {"cpu_percent": 3.5, "memory_percent": 41.0, "disk_percent": 62.1,
                        "load_1": 0.1, "load_5": 0.2, "load_15": 0.3, "uptime_s": 3600},
            "reboot_required": false,
            "packages": [{"name": "openssl", "current_version": "3.0.11-1~deb12u1",
                          "new_version": "3.0.11-1~deb12u2", "repository": "bookworm-security",
                          "is_security": true, "security_version": "3.0.11-1~deb12u2",
                          "held": false, "kept_back": false}]
        }))
        .unwrap()
    }

    #[test]
    fn a_sane_heartbeat_passes() {
        heartbeat().validate().unwrap();
    }

    #[test]
    fn absent_and_empty_package_lists_differ() {
        let mut hb = heartbeat();
        hb.packages = None;
        let json = serde_json::to_value(&hb).unwrap();
        assert!(json.get("packages").is_none());
        let back: Heartbeat = serde_json::from_value(json).unwrap();
        assert_eq!(back.packages, None);
        let empty: Heartbeat = serde_json::from_value(serde_json::json!({
            "agent_version": "1", "os": "x", "reboot_required": false, "packages": [],
            "metrics": {"cpu_percent": 0.0, "memory_percent": 0.0, "disk_percent": 0.0,
                        "load_1": 0.0, "load_5": 0.0, "load_15": 0.0, "uptime_s": 0}
        }))
        .unwrap();
        assert_eq!(empty.packages, Some(vec![]));
    }

    type Mutation = Box<dyn Fn(&mut Heartbeat)>;

    #[test]
    fn absurd_values_are_refused_naming_the_field() {
        let cases: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|h| h.metrics.cpu_percent = -1.0),
                "metrics.cpu_percent",
            ),
            (
                Box::new(|h| h.metrics.disk_percent = 100.5),
                "metrics.disk_percent",
            ),
            (
                Box::new(|h| h.metrics.memory_percent = f64::NAN),
                "metrics.memory_percent",
            ),
            (Box::new(|h| h.metrics.load_5 = -0.5), "metrics.load_5"),
            (Box::new(|h| h.os = "x".repeat(201)), "os"),
            (Box::new(|h| h.hostname = Some("a\nb".into())), "hostname"),
            (
                Box::new(|h| h.reboot_required_pkgs = vec!["a b".into()]),
                "reboot_required_pkgs",
            ),
            (
                Box::new(|h| {
                    let p = h.packages.as_ref().unwrap()[0].clone();
                    h.packages.as_mut().unwrap().push(p);
                }),
                "packages",
            ),
            (
                Box::new(|h| h.packages.as_mut().unwrap()[0].security_version = None),
                "packages.security_version",
            ),
            (
                Box::new(|h| {
                    let p = h.packages.as_ref().unwrap()[0].clone();
                    h.packages = Some(vec![p; MAX_PACKAGES + 1]);
                }),
                "packages",
            ),
        ];
        for (mutate, field) in cases {
            let mut hb = heartbeat();
            mutate(&mut hb);
            let err = hb.validate().unwrap_err();
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn boot_ids_are_the_kernels_uuid_text_and_nothing_else() {
        let id = BootId::parse("0b5e7f31-4bd1-4a0e-9d6e-2f1c3a4b5c6d\n").unwrap();
        assert_eq!(id.as_str(), "0b5e7f31-4bd1-4a0e-9d6e-2f1c3a4b5c6d");
        for bad in [
            "",
            "0B5E7F31-4BD1-4A0E-9D6E-2F1C3A4B5C6D",
            "0b5e7f31-4bd1-4a0e-9d6e-2f1c3a4b5c6",
            "0b5e7f31-4bd1-4a0e-9d6e-2f1c3a4b5c6dd",
            "0b5e7f314bd1-4a0e-9d6e-2f1c3a4b5c6d-",
            "0b5e7f31-4bd1-4a0e-9d6e-2f1c3a4b5c6g",
            "0b5e7f31-4bd1-4a0e-9d6e-2f1c3a4b5c\u{e9}",
            "../../etc/shadow-0000-0000-000000000",
        ] {
            assert!(BootId::parse(bad).is_err(), "{bad:?}");
        }
        let hb: Result<Heartbeat, _> = serde_json::from_value(serde_json::json!({
            "agent_version": "1", "os": "x", "reboot_required": false,
            "boot_id": "x".repeat(100_000),
            "metrics": {"cpu_percent": 0.0, "memory_percent": 0.0, "disk_percent": 0.0,
                        "load_1": 0.0, "load_5": 0.0, "load_15": 0.0, "uptime_s": 0}
        }));
        assert!(hb.is_err());
    }

    #[test]
    fn hostile_package_fields_fail_to_deserialize() {
        let bad = serde_json::json!({"name": "-o", "current_version": "1", "new_version": "2",
            "repository": "x", "is_security": false, "security_version": null,
            "held": false, "kept_back": false});
        assert!(serde_json::from_value::<PendingPackage>(bad).is_err());
    }
}
