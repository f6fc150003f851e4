//! A simulated machine's pending packages and how they change between heartbeats.

use homelab_protocol::{DebVersion, PackageName, PendingPackage};

/// How a machine's package list changes from one heartbeat to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Churn {
    /// The same list every beat.
    Unchanged,
    /// One package gets a new candidate version every beat.
    One,
    /// Every beat lists other packages.
    Replace,
    /// The list on the first beat only, then none ("not scanned"), as a real agent
    /// does between scans.
    Absent,
}

/// The list's shape: how many packages, how many of them security updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListShape {
    size: usize,
    security: usize,
}

/// Why a list shape is impossible.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShapeError {
    #[error("--security {security} is more than --packages {size}")]
    MoreSecurityThanPackages { size: usize, security: usize },
    #[error("--packages {0} is more than a heartbeat may carry ({max})", max = homelab_protocol::heartbeat::MAX_PACKAGES)]
    TooMany(usize),
}

impl ListShape {
    /// `size` packages of which the first `security` are security updates.
    pub fn new(size: usize, security: usize) -> Result<Self, ShapeError> {
        if security > size {
            return Err(ShapeError::MoreSecurityThanPackages { size, security });
        }
        if size > homelab_protocol::heartbeat::MAX_PACKAGES {
            return Err(ShapeError::TooMany(size));
        }
        Ok(ListShape { size, security })
    }

    /// How many packages a list holds.
    pub fn size(&self) -> usize {
        self.size
    }
}

/// One machine's list, evolving by its churn.
#[derive(Debug, Clone)]
pub struct Packages {
    shape: ListShape,
    churn: Churn,
    /// Bumped by `Replace`: every package's name carries it.
    generation: u64,
    /// Per package, how many times its candidate changed.
    revisions: Vec<u64>,
    /// Beats sent so far.
    beats: u64,
}

impl Packages {
    /// A fresh list.
    pub fn new(shape: ListShape, churn: Churn) -> Self {
        Packages {
            shape,
            churn,
            generation: 0,
            revisions: vec![0; shape.size],
            beats: 0,
        }
    }

    /// The list the next heartbeat carries (`None`: not scanned), after this beat's
    /// change.
    pub fn next_beat(&mut self) -> Option<Vec<PendingPackage>> {
        let first = self.beats == 0;
        self.beats += 1;
        if !first {
            match self.churn {
                Churn::Unchanged => {}
                Churn::Absent => return None,
                Churn::One if self.shape.size > 0 => {
                    let at = ((self.beats - 2) % self.shape.size as u64) as usize;
                    self.revisions[at] += 1;
                }
                Churn::One => {}
                Churn::Replace => self.generation += 1,
            }
        }
        Some(self.list())
    }

    /// The list as it stands.
    pub fn list(&self) -> Vec<PendingPackage> {
        (0..self.shape.size)
            .map(|i| {
                package(
                    self.generation,
                    i,
                    self.revisions[i],
                    i < self.shape.security,
                )
            })
            .collect()
    }
}

/// Package `i` of generation `generation` at candidate revision `revision`.
fn package(generation: u64, i: usize, revision: u64, security: bool) -> PendingPackage {
    let name = PackageName::parse(format!("sim{generation}-pkg{i}")).expect("a valid name");
    let version = |v: String| DebVersion::parse(v).expect("a valid version");
    let new_version = version(format!("1.{}-1", revision + 1));
    PendingPackage {
        name,
        current_version: version("1.0-1".to_owned()),
        security_version: security.then(|| new_version.clone()),
        new_version,
        repository: if security {
            "bookworm-security"
        } else {
            "bookworm-updates"
        }
        .to_owned(),
        is_security: security,
        held: false,
        kept_back: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> ListShape {
        ListShape::new(50, 10).unwrap()
    }

    fn diff(a: &[PendingPackage], b: &[PendingPackage]) -> usize {
        a.iter().zip(b).filter(|(x, y)| x != y).count()
    }

    #[test]
    fn a_list_has_its_size_and_security_count_and_passes_the_heartbeat_checks() {
        let list = Packages::new(shape(), Churn::Unchanged)
            .next_beat()
            .unwrap();
        assert_eq!(list.len(), 50);
        assert_eq!(list.iter().filter(|p| p.is_security).count(), 10);
        let hb = homelab_protocol::Heartbeat {
            boot_id: None,
            agent_version: "sim".into(),
            os: "Debian GNU/Linux 12 (bookworm)".into(),
            hostname: None,
            metrics: crate::agents::idle_metrics(),
            reboot_required: false,
            reboot_required_pkgs: vec![],
            packages: Some(list),
        };
        hb.validate().unwrap();
    }

    #[test]
    fn unchanged_sends_the_same_list_every_beat() {
        let mut p = Packages::new(shape(), Churn::Unchanged);
        let first = p.next_beat().unwrap();
        for _ in 0..5 {
            assert_eq!(p.next_beat().unwrap(), first);
        }
    }

    #[test]
    fn one_changes_exactly_one_package_per_beat_cycling_through_the_list() {
        let mut p = Packages::new(ListShape::new(3, 1).unwrap(), Churn::One);
        let mut previous = p.next_beat().unwrap();
        let mut changed_at = Vec::new();
        for _ in 0..6 {
            let next = p.next_beat().unwrap();
            assert_eq!(diff(&previous, &next), 1);
            changed_at.push(
                previous
                    .iter()
                    .zip(&next)
                    .position(|(a, b)| a != b)
                    .unwrap(),
            );
            previous = next;
        }
        assert_eq!(changed_at, [0, 1, 2, 0, 1, 2]);
        // The security package keeps its security version in step.
        assert_eq!(
            previous[0].security_version.as_ref(),
            Some(&previous[0].new_version)
        );
    }

    #[test]
    fn replace_lists_other_packages_every_beat() {
        let mut p = Packages::new(shape(), Churn::Replace);
        let first = p.next_beat().unwrap();
        let second = p.next_beat().unwrap();
        assert_eq!(second.len(), 50);
        assert!(
            first
                .iter()
                .all(|a| second.iter().all(|b| a.name != b.name))
        );
    }

    #[test]
    fn absent_sends_the_list_once_then_none() {
        let mut p = Packages::new(shape(), Churn::Absent);
        assert!(p.next_beat().is_some());
        assert!(p.next_beat().is_none());
        assert!(p.next_beat().is_none());
    }

    #[test]
    fn impossible_shapes_are_refused() {
        assert!(ListShape::new(5, 6).is_err());
        assert!(ListShape::new(5_001, 0).is_err());
        assert_eq!(ListShape::new(0, 0).unwrap().size(), 0);
    }
}
