//! apt's output, parsed. The scan uses three read-only commands, run with `LANG=C`:
//!
//! - `apt-get -s upgrade --with-new-pkgs`: what "apply all" would really install,
//!   and what it keeps back;
//! - `apt-mark showhold`: held packages;
//! - `apt-cache policy NAME...`: every version apt knows for each package, newest
//!   first, with the archive (suite) each comes from. A package is a security update
//!   when a version newer than the installed one comes from a `-security` suite; the
//!   newest such version is its security version, even when the candidate is a newer
//!   `-updates` version. The package's name never matters.

use std::collections::{BTreeSet, HashSet};
use std::sync::LazyLock;

use homelab_protocol::{DebVersion, PackageName, PendingPackage};
use regex::Regex;

/// One `Inst` line of an upgrade simulation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedUpgrade {
    pub name: String,
    pub current: String,
    pub new: String,
}

/// What `apt-get -s upgrade --with-new-pkgs` says it would do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpgradeSimulation {
    /// Installed packages it would upgrade (newly installed dependencies are left out:
    /// they are not pending updates).
    pub upgrades: Vec<SimulatedUpgrade>,
    /// Packages it keeps back (held ones included, as apt lists them).
    pub kept_back: BTreeSet<String>,
}

/// `Inst NAME [CURRENT] (NEW ORIGIN... [ARCH])`; an installed package being upgraded
/// has `[CURRENT]`, a newly installed one has none.
static INST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^Inst (\S+) (?:\[([^\]]+)\] )?\((\S+) ").expect("static regex"));
/// `Remv NAME [CURRENT]`.
static REMV: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^Remv (\S+)(?: \[([^\]]*)\])?").expect("static regex"));

/// Every change an `apt-get -s` run prints (`Inst` and `Remv` lines; `Conf` lines
/// repeat the `Inst` ones), as apt wrote them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimulatedChanges {
    /// Installed packages moved to a new version.
    pub upgrades: Vec<SimulatedUpgrade>,
    /// Packages newly installed: name and version.
    pub installs: Vec<(String, String)>,
    /// Packages removed: name and installed version (None if apt printed none).
    pub removals: Vec<(String, Option<String>)>,
}

/// Reads the `Inst` and `Remv` lines of any `apt-get -s` output.
pub fn parse_simulated_changes(text: &str) -> SimulatedChanges {
    let mut changes = SimulatedChanges::default();
    for line in text.lines() {
        if let Some(c) = INST.captures(line) {
            let (name, new) = (c[1].to_owned(), c[3].to_owned());
            match c.get(2) {
                Some(current) => changes.upgrades.push(SimulatedUpgrade {
                    name,
                    current: current.as_str().to_owned(),
                    new,
                }),
                None => changes.installs.push((name, new)),
            }
        } else if let Some(c) = REMV.captures(line) {
            let version = c
                .get(2)
                .map(|v| v.as_str().to_owned())
                .filter(|v| !v.is_empty());
            changes.removals.push((c[1].to_owned(), version));
        }
    }
    changes
}

/// Why apt's simulation cannot be reported as a preview.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreviewError {
    #[error("apt printed a `{line}` line for `{name}` the agent cannot read: {reason}")]
    Unreadable {
        line: &'static str,
        name: String,
        reason: String,
    },
    #[error("apt's simulation printed no summary line; its output may be cut or not apt's")]
    NoSummary,
}

/// apt's own count line: `2 upgraded, 1 newly installed, 1 to remove and 6 not upgraded.`
static SUMMARY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?m)^(\d+) upgraded, (\d+) newly installed, ",
        r"(?:(\d+) reinstalled, )?(?:(\d+) downgraded, )?",
        r"(\d+) to remove and \d+ not upgraded\.$"
    ))
    .expect("static regex")
});

/// Turns `apt-get -s` output into the preview the server stores: every name and
/// version parsed as Debian policy says (a line that does not parse makes the whole
/// preview fail, so a removal is never lost to a parse error), each list cut at
/// [`homelab_protocol::MAX_PREVIEW_PACKAGES`] with the rest counted. apt's summary
/// line must be there and agree, so cut or foreign output is never read as
/// "nothing removed".
pub fn preview_from_simulation(text: &str) -> Result<homelab_protocol::AptPreview, PreviewError> {
    use homelab_protocol::{MAX_PREVIEW_PACKAGES, PreviewPackage, PreviewUpgrade};
    let summary = SUMMARY.captures(text).ok_or(PreviewError::NoSummary)?;
    let changes = parse_simulated_changes(text);
    let count = |i: usize| {
        summary
            .get(i)
            .map_or(Some(0), |n| n.as_str().parse::<usize>().ok())
    };
    // Reinstalls and downgrades print `Inst NAME [CURRENT]` lines too.
    let moved = [1, 3, 4]
        .into_iter()
        .map(count)
        .try_fold(0usize, |sum, n| sum.checked_add(n?));
    if moved != Some(changes.upgrades.len())
        || count(2) != Some(changes.installs.len())
        || count(5) != Some(changes.removals.len())
    {
        return Err(PreviewError::NoSummary);
    }
    let bad = |line: &'static str, name: &str| {
        let name = name.chars().take(64).collect::<String>();
        move |e: homelab_protocol::PackageError| PreviewError::Unreadable {
            line,
            name,
            reason: e.to_string(),
        }
    };
    let mut preview = homelab_protocol::AptPreview::default();
    for u in &changes.upgrades {
        preview.upgraded.push(PreviewUpgrade {
            name: PackageName::parse(u.name.as_str()).map_err(bad("Inst", &u.name))?,
            from: DebVersion::parse(u.current.as_str()).map_err(bad("Inst", &u.name))?,
            to: DebVersion::parse(u.new.as_str()).map_err(bad("Inst", &u.name))?,
        });
    }
    for (name, version) in &changes.installs {
        preview.installed.push(PreviewPackage {
            name: PackageName::parse(name.as_str()).map_err(bad("Inst", name))?,
            version: DebVersion::parse(version.as_str()).map_err(bad("Inst", name))?,
        });
    }
    for (name, version) in &changes.removals {
        preview.removed.push(PreviewPackage {
            name: PackageName::parse(name.as_str()).map_err(bad("Remv", name))?,
            version: DebVersion::parse(version.clone().unwrap_or_default())
                .map_err(bad("Remv", name))?,
        });
    }
    let mut omitted = 0usize;
    for len in [
        preview.upgraded.len(),
        preview.installed.len(),
        preview.removed.len(),
    ] {
        omitted += len.saturating_sub(MAX_PREVIEW_PACKAGES);
    }
    preview.upgraded.truncate(MAX_PREVIEW_PACKAGES);
    preview.installed.truncate(MAX_PREVIEW_PACKAGES);
    preview.removed.truncate(MAX_PREVIEW_PACKAGES);
    preview.omitted = u32::try_from(omitted).unwrap_or(u32::MAX);
    Ok(preview)
}

/// Parses the output of `apt-get -s upgrade --with-new-pkgs`.
pub fn parse_upgrade_simulation(text: &str) -> UpgradeSimulation {
    let mut sim = UpgradeSimulation {
        upgrades: parse_simulated_changes(text).upgrades,
        ..UpgradeSimulation::default()
    };
    let mut in_kept_back = false;
    for line in text.lines() {
        if line.starts_with("The following packages have been kept back") {
            in_kept_back = true;
            continue;
        }
        if in_kept_back {
            if let Some(names) = line.strip_prefix("  ") {
                sim.kept_back
                    .extend(names.split_whitespace().map(str::to_owned));
                continue;
            }
            in_kept_back = false;
        }
    }
    sim
}

/// Parses `apt-mark showhold`: one name a line.
pub fn parse_showhold(text: &str) -> HashSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// One version in a package's version table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    pub version: String,
    /// The `***` marker: this is the installed version.
    pub installed: bool,
    /// The suites it comes from (`bookworm-security`), or `now` for dpkg's status file.
    pub suites: Vec<String>,
}

/// One package of `apt-cache policy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub installed: Option<String>,
    pub candidate: Option<String>,
    /// Newest first, as apt prints them.
    pub versions: Vec<PolicyVersion>,
}

impl Policy {
    /// The versions newer than the installed one (all of them when none is installed).
    fn newer_than_installed(&self) -> &[PolicyVersion] {
        let end = self
            .versions
            .iter()
            .position(|v| v.installed)
            .unwrap_or(self.versions.len());
        &self.versions[..end]
    }

    /// The newest version newer than the installed one from a security archive.
    pub fn security_version(&self) -> Option<&str> {
        self.newer_than_installed()
            .iter()
            .find(|v| v.suites.iter().any(|s| is_security_suite(s)))
            .map(|v| v.version.as_str())
    }

    /// The suite the candidate comes from; a security suite when it is one of them.
    pub fn candidate_suite(&self) -> Option<&str> {
        let candidate = self.candidate.as_deref()?;
        let v = self.versions.iter().find(|v| v.version == candidate)?;
        v.suites
            .iter()
            .find(|s| is_security_suite(s))
            .or_else(|| v.suites.first())
            .map(String::as_str)
    }
}

/// Debian's `bookworm-security`, Ubuntu's `noble-security` pocket.
pub fn is_security_suite(suite: &str) -> bool {
    suite.ends_with("-security")
}

/// Parses `apt-cache policy NAME...`.
pub fn parse_policy(text: &str) -> Vec<Policy> {
    let mut out: Vec<Policy> = Vec::new();
    for line in text.lines() {
        if !line.starts_with(' ') {
            if let Some(name) = line.strip_suffix(':') {
                out.push(Policy {
                    name: name.to_owned(),
                    installed: None,
                    candidate: None,
                    versions: Vec::new(),
                });
            }
            continue;
        }
        let Some(policy) = out.last_mut() else {
            continue;
        };
        let trimmed = line.trim_start();
        if let Some(v) = trimmed.strip_prefix("Installed: ") {
            policy.installed = (v != "(none)").then(|| v.to_owned());
        } else if let Some(v) = trimmed.strip_prefix("Candidate: ") {
            policy.candidate = (v != "(none)").then(|| v.to_owned());
        } else if trimmed.starts_with("Version table:") {
        } else if let Some(rest) = trimmed.strip_prefix("*** ") {
            policy.versions.push(version_line(rest, true));
        } else if line.starts_with("     ") && !line.starts_with("        ") {
            // "     VERSION PRIORITY": a version of the table.
            policy.versions.push(version_line(trimmed, false));
        } else if let Some(v) = policy.versions.last_mut() {
            // "        PRIORITY SOURCE": where the version above comes from.
            if let Some(suite) = source_suite(trimmed) {
                v.suites.push(suite);
            }
        }
    }
    out
}

fn version_line(rest: &str, installed: bool) -> PolicyVersion {
    PolicyVersion {
        version: rest
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned(),
        installed,
        suites: Vec::new(),
    }
}

/// `500 http://deb.debian.org/debian bookworm-updates/main amd64 Packages` gives
/// `bookworm-updates`; `100 /var/lib/dpkg/status` gives `now`.
fn source_suite(line: &str) -> Option<String> {
    let mut fields = line.split_whitespace();
    let _priority = fields.next()?;
    let uri = fields.next()?;
    if uri.ends_with("/dpkg/status") {
        return Some("now".to_owned());
    }
    let dist = fields.next()?;
    // A flat repository (`file:/repo ./ Packages`) has no suite.
    let suite = dist
        .split('/')
        .next()
        .filter(|s| !s.is_empty() && *s != ".")?;
    Some(suite.to_owned())
}

/// A package the scan could not report, and why (logged, never sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub name: String,
    pub reason: String,
}

/// Puts the three outputs together into the list the heartbeat carries.
pub fn pending_packages(
    sim: &UpgradeSimulation,
    held: &HashSet<String>,
    policies: &[Policy],
) -> (Vec<PendingPackage>, Vec<Skipped>) {
    let installable: HashSet<&str> = sim.upgrades.iter().map(|u| u.name.as_str()).collect();
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for policy in policies {
        let name = policy.name.as_str();
        let is_held = held.contains(name);
        let kept_back = sim.kept_back.contains(name) && !is_held;
        if !installable.contains(name) && !kept_back && !is_held {
            continue;
        }
        let (Some(current), Some(candidate)) = (&policy.installed, &policy.candidate) else {
            continue;
        };
        if current == candidate {
            // Held at its candidate: nothing pending.
            continue;
        }
        let security_version = policy.security_version();
        let built = (|| {
            Ok::<_, homelab_protocol::PackageError>(PendingPackage {
                name: PackageName::parse(name)?,
                current_version: DebVersion::parse(current.as_str())?,
                new_version: DebVersion::parse(candidate.as_str())?,
                repository: policy.candidate_suite().unwrap_or("unknown").to_owned(),
                is_security: security_version.is_some(),
                security_version: security_version.map(DebVersion::parse).transpose()?,
                held: is_held,
                kept_back,
            })
        })();
        match built {
            Ok(p) => out.push(p),
            Err(e) => skipped.push(Skipped {
                name: name.to_owned(),
                reason: e.to_string(),
            }),
        }
    }
    out.sort_by(|a, b| b.is_security.cmp(&a.is_security).then(a.name.cmp(&b.name)));
    (out, skipped)
}

/// The names whose policy the scan needs: everything upgradable, kept back or held.
pub fn names_to_inspect(sim: &UpgradeSimulation, held: &HashSet<String>) -> Vec<String> {
    let mut names: BTreeSet<&str> = sim.upgrades.iter().map(|u| u.name.as_str()).collect();
    names.extend(sim.kept_back.iter().map(String::as_str));
    names.extend(held.iter().map(String::as_str));
    names.into_iter().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIM: &str = include_str!("../tests/fixtures/apt/bookworm-upgrade-sim.txt");
    const SIM_MULTI: &str =
        include_str!("../tests/fixtures/apt/bookworm-upgrade-sim-multi-origin.txt");
    const POLICY: &str = include_str!("../tests/fixtures/apt/bookworm-policy.txt");
    const SIM_REMOVING: &str =
        include_str!("../tests/fixtures/apt/bookworm-security-sim-removing.txt");
    const SIM_NEW_DEPENDENCY: &str =
        include_str!("../tests/fixtures/apt/bookworm-upgrade-sim-new-dependency.txt");
    const HOLD: &str = include_str!("../tests/fixtures/apt/bookworm-showhold.txt");

    fn scan(sim: &str, policy: &str, hold: &str) -> Vec<PendingPackage> {
        let (packages, skipped) = pending_packages(
            &parse_upgrade_simulation(sim),
            &parse_showhold(hold),
            &parse_policy(policy),
        );
        assert!(skipped.is_empty(), "{skipped:?}");
        packages
    }

    fn find<'a>(packages: &'a [PendingPackage], name: &str) -> &'a PendingPackage {
        packages
            .iter()
            .find(|p| p.name.as_str() == name)
            .unwrap_or_else(|| panic!("{name} missing from {packages:#?}"))
    }

    fn names<T>(list: &[T], name: impl Fn(&T) -> &str) -> Vec<&str> {
        list.iter().map(name).collect()
    }

    #[test]
    fn the_security_upgrades_simulation_shows_what_it_would_remove_and_install() {
        let preview = preview_from_simulation(SIM_REMOVING).unwrap();
        let upgraded: Vec<_> = preview
            .upgraded
            .iter()
            .map(|u| (u.name.as_str(), u.from.as_str(), u.to.as_str()))
            .collect();
        assert_eq!(
            upgraded,
            [
                ("hl-openssl", "3.0.1-1", "3.0.1-1+deb12u1"),
                ("hl-remover", "1.0-1", "1.0-1+deb12u1")
            ]
        );
        let installed: Vec<_> = preview
            .installed
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(installed, [("hl-newdep", "1.0-1")]);
        let removed: Vec<_> = preview
            .removed
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(removed, [("hl-victim", "1.0-1")]);
        assert_eq!(preview.omitted, 0);
    }

    #[test]
    fn upgrade_with_new_pkgs_installs_a_new_dependency_and_removes_nothing() {
        let preview = preview_from_simulation(SIM_NEW_DEPENDENCY).unwrap();
        assert!(!preview.removes_anything());
        assert_eq!(
            names(&preview.installed, |p| p.name.as_str()),
            ["hl-newlib"]
        );
        assert_eq!(
            names(&preview.upgraded, |u| u.name.as_str()),
            [
                "hl-epoch",
                "hl-normal",
                "hl-openssl",
                "hl-security-tools",
                "hl-tzdata"
            ]
        );
        // The scan still counts only upgrades of installed packages, and sees the
        // package whose upgrade would remove another as kept back.
        let sim = parse_upgrade_simulation(SIM_NEW_DEPENDENCY);
        assert_eq!(sim.upgrades.len(), 5);
        assert!(sim.kept_back.contains("hl-remover"), "{sim:?}");
    }

    #[test]
    fn hostile_or_cut_simulations_fail_instead_of_reading_as_nothing_removed() {
        // A name outside Debian policy in a Remv line: the whole preview fails.
        let hostile = SIM_REMOVING.replace("Remv hl-victim", "Remv <img/src=x>");
        assert!(matches!(
            preview_from_simulation(&hostile),
            Err(PreviewError::Unreadable { line: "Remv", .. })
        ));
        // A Remv line lost (output cut): the summary no longer agrees.
        let cut: String = SIM_REMOVING
            .lines()
            .filter(|l| !l.starts_with("Remv"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(preview_from_simulation(&cut), Err(PreviewError::NoSummary));
        assert_eq!(
            preview_from_simulation("Inst x [1] (2 a [all])\n"),
            Err(PreviewError::NoSummary)
        );
        // A Remv without a version cannot be shown as one: it fails too.
        let bare = SIM_REMOVING.replace("Remv hl-victim [1.0-1]", "Remv hl-victim");
        assert!(preview_from_simulation(&bare).is_err());
    }

    #[test]
    fn long_lists_are_cut_and_the_rest_counted() {
        let n = homelab_protocol::MAX_PREVIEW_PACKAGES + 3;
        let mut text =
            format!("0 upgraded, 0 newly installed, {n} to remove and 0 not upgraded.\n");
        for i in 0..n {
            text.push_str(&format!("Remv pkg{i} [1.0-1]\n"));
        }
        let preview = preview_from_simulation(&text).unwrap();
        assert_eq!(
            preview.removed.len(),
            homelab_protocol::MAX_PREVIEW_PACKAGES
        );
        assert_eq!(preview.omitted, 3);
        assert_eq!(preview.validate(), Ok(()));
    }

    #[test]
    fn the_simulation_lists_upgrades_and_kept_back_packages() {
        let sim = parse_upgrade_simulation(SIM);
        let names: Vec<_> = sim.upgrades.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "hl-epoch",
                "hl-normal",
                "hl-openssl",
                "hl-security-tools",
                "hl-tzdata"
            ]
        );
        assert_eq!(
            sim.upgrades[0],
            SimulatedUpgrade {
                name: "hl-epoch".into(),
                current: "1:1.0-1".into(),
                new: "1:1.0-2".into()
            }
        );
        assert_eq!(
            sim.kept_back.iter().collect::<Vec<_>>(),
            ["hl-held", "hl-keptback"]
        );
    }

    #[test]
    fn the_bookworm_sandbox_scan_classifies_every_case() {
        let packages = scan(SIM, POLICY, HOLD);
        let normal = find(&packages, "hl-normal");
        assert!(!normal.is_security && normal.is_installable());
        assert_eq!(normal.repository, "bookworm-updates");

        let openssl = find(&packages, "hl-openssl");
        assert!(openssl.is_security);
        assert_eq!(
            openssl.security_version.as_ref().unwrap().as_str(),
            "3.0.1-1+deb12u1"
        );
        assert_eq!(openssl.repository, "bookworm-security");

        // The name says "security"; the archive does not.
        let tools = find(&packages, "hl-security-tools");
        assert!(!tools.is_security);
        assert_eq!(tools.security_version, None);

        // Candidate from -updates, but a newer-than-installed version from -security.
        let tz = find(&packages, "hl-tzdata");
        assert!(tz.is_security);
        assert_eq!(tz.new_version.as_str(), "2025b-0+deb12u1");
        assert_eq!(
            tz.security_version.as_ref().unwrap().as_str(),
            "2024a-1+deb12u1"
        );
        assert_eq!(tz.repository, "bookworm-updates");

        let epoch = find(&packages, "hl-epoch");
        assert!(epoch.is_security);
        assert_eq!(epoch.current_version.as_str(), "1:1.0-1");

        let held = find(&packages, "hl-held");
        assert!(held.held && !held.kept_back && !held.is_installable());

        let kept = find(&packages, "hl-keptback");
        assert!(kept.kept_back && !kept.held && !kept.is_installable());

        // Security first, then by name.
        let order: Vec<_> = packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            order,
            [
                "hl-epoch",
                "hl-openssl",
                "hl-tzdata",
                "hl-held",
                "hl-keptback",
                "hl-normal",
                "hl-security-tools"
            ]
        );
    }

    #[test]
    fn ubuntu_origins_arch_names_and_epochs_are_handled() {
        // Written from apt's format (see the fixtures' README), not captured.
        let packages = scan(
            include_str!("../tests/fixtures/apt/ubuntu-noble-upgrade-sim.txt"),
            include_str!("../tests/fixtures/apt/ubuntu-noble-policy.txt"),
            "",
        );
        let libc = find(&packages, "libc6:i386");
        assert!(libc.is_security);
        assert_eq!(libc.repository, "noble-security");

        let xml = find(&packages, "libxml2");
        assert!(xml.is_security);
        assert_eq!(
            xml.security_version.as_ref().unwrap().as_str(),
            "2.9.14+dfsg-1.3ubuntu3.6"
        );

        let vim = find(&packages, "vim");
        assert!(vim.is_security);
        assert_eq!(vim.current_version.as_str(), "2:9.1.0016-1ubuntu7.8");

        let symfony = find(&packages, "php-symfony-security-core");
        assert!(
            !symfony.is_security,
            "the name says security, noble-updates does not"
        );
        assert_eq!(symfony.repository, "noble-updates");

        // Newly installed kernel packages are not pending updates.
        assert!(
            packages
                .iter()
                .all(|p| !p.name.as_str().starts_with("linux-image-6.8.0-90"))
        );
        // Phased updates are neither installable nor kept back this time.
        assert!(
            packages
                .iter()
                .all(|p| p.name.as_str() != "ubuntu-drivers-common")
        );
    }

    #[test]
    fn multi_origin_inst_lines_are_parsed() {
        let sim = parse_upgrade_simulation(SIM_MULTI);
        let normal = sim.upgrades.iter().find(|u| u.name == "hl-normal").unwrap();
        assert_eq!(normal.new, "1.1-1");
    }

    #[test]
    fn a_version_offered_by_updates_and_security_is_a_security_update() {
        let policy = "\
hl-normal:
  Installed: 1.0-1
  Candidate: 1.1-1
  Version table:
     1.1-1 500
        500 file:/srv/repo bookworm-updates/main amd64 Packages
        500 file:/srv/repo bookworm-security/main amd64 Packages
 *** 1.0-1 100
        100 /var/lib/dpkg/status
";
        let p = &parse_policy(policy)[0];
        assert_eq!(p.security_version(), Some("1.1-1"));
        assert_eq!(p.candidate_suite(), Some("bookworm-security"));
    }

    #[test]
    fn a_security_version_older_than_the_installed_one_does_not_count() {
        let policy = "\
pkg:
  Installed: 2.0-1
  Candidate: 2.1-1
  Version table:
     2.1-1 500
        500 http://deb.debian.org/debian bookworm-updates/main amd64 Packages
 *** 2.0-1 100
        100 /var/lib/dpkg/status
     1.9-1+deb12u1 500
        500 http://security.debian.org/debian-security bookworm-security/main amd64 Packages
";
        assert_eq!(parse_policy(policy)[0].security_version(), None);
    }

    #[test]
    fn source_lines_give_their_suite() {
        let cases = [
            (
                "500 http://deb.debian.org/debian bookworm/main amd64 Packages",
                Some("bookworm"),
            ),
            (
                "500 http://archive.ubuntu.com/ubuntu noble-security/main amd64 Packages",
                Some("noble-security"),
            ),
            ("100 /var/lib/dpkg/status", Some("now")),
            ("500 file:/repo ./ Packages", None),
        ];
        for (line, suite) in cases {
            assert_eq!(source_suite(line).as_deref(), suite, "{line}");
        }
    }
}
