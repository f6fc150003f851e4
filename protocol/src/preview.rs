//! Know before you approve: what apt's own simulation (`apt-get -s ...`) says an
//! upgrade would do, as the agent reports it and the dashboard shows it.
//!
//! The names and versions come from apt's output on a machine that may be
//! compromised: they are parsed as [`PackageName`] and [`DebVersion`] (so no text
//! outside Debian policy reaches the database or a page) and every list is bounded.

use serde::{Deserialize, Serialize};

use crate::{ActionType, DebVersion, Millis, PackageName};

/// The most entries each list of a preview holds; the agent keeps the first ones
/// and counts the rest in [`AptPreview::omitted`]. Three full lists stay well
/// under the agent API's body limit.
pub const MAX_PREVIEW_PACKAGES: usize = 1_000;

/// How many removed packages a hold reason names before it says "and N more".
pub const HOLD_REASON_NAMES: usize = 20;

/// An installed package apt would move to another version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PreviewUpgrade {
    pub name: PackageName,
    pub from: DebVersion,
    pub to: DebVersion,
}

/// A package apt would newly install, or remove, at a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PreviewPackage {
    pub name: PackageName,
    pub version: DebVersion,
}

/// What the real run of an upgrade would do, by apt's own simulation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AptPreview {
    pub upgraded: Vec<PreviewUpgrade>,
    pub installed: Vec<PreviewPackage>,
    pub removed: Vec<PreviewPackage>,
    /// Entries left out because a list was longer than 1,000
    /// (`MAX_PREVIEW_PACKAGES`).
    #[serde(default)]
    pub omitted: u32,
}

impl AptPreview {
    /// Refuses lists longer than [`MAX_PREVIEW_PACKAGES`] (names and versions were
    /// checked when the JSON was read).
    pub fn validate(&self) -> Result<(), String> {
        for (list, len) in [
            ("upgraded", self.upgraded.len()),
            ("installed", self.installed.len()),
            ("removed", self.removed.len()),
        ] {
            if len > MAX_PREVIEW_PACKAGES {
                return Err(format!(
                    "{list}: at most {MAX_PREVIEW_PACKAGES} packages, got {len}"
                ));
            }
        }
        Ok(())
    }

    /// Whether the run would remove any package.
    pub fn removes_anything(&self) -> bool {
        !self.removed.is_empty()
    }

    /// Whether the run would change nothing at all.
    pub fn is_empty(&self) -> bool {
        self.upgraded.is_empty()
            && self.installed.is_empty()
            && self.removed.is_empty()
            && self.omitted == 0
    }

    /// Why an upgrade that removes packages waits for a person:
    /// `held: apt would remove foo, bar`, naming at most [`HOLD_REASON_NAMES`].
    pub fn hold_reason(&self) -> String {
        let names: Vec<&str> = self
            .removed
            .iter()
            .take(HOLD_REASON_NAMES)
            .map(|p| p.name.as_str())
            .collect();
        let more = self.removed.len().saturating_sub(HOLD_REASON_NAMES);
        let mut reason = format!("held: apt would remove {}", names.join(", "));
        if more > 0 {
            reason.push_str(&format!(" and {more} more"));
        }
        reason
    }
}

/// How the agent answers a preview request: apt's simulation, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PreviewOutcome {
    /// What apt says the run would do.
    Simulated(AptPreview),
    /// The simulation failed or was refused; nothing ran.
    Failed { message: String },
}

impl PreviewOutcome {
    /// The longest failure message kept, in characters.
    pub const MAX_MESSAGE_CHARS: usize = 2_000;

    /// A failure saying `why`, made fit to show: cut to [`Self::MAX_MESSAGE_CHARS`],
    /// characters that could make it read as something else (controls other than
    /// line breaks, text-direction overrides: apt's stderr is the machine's text)
    /// replaced with `?`.
    pub fn failed(why: &str) -> Self {
        PreviewOutcome::Failed {
            message: why
                .chars()
                .take(Self::MAX_MESSAGE_CHARS)
                .map(|c| {
                    if c == '\n' || crate::text::is_displayable(c) {
                        c
                    } else {
                        '?'
                    }
                })
                .collect(),
        }
    }

    /// Refuses overlong lists or messages, and messages that would not read as
    /// written (see [`PreviewOutcome::failed`]).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            PreviewOutcome::Simulated(preview) => preview.validate(),
            PreviewOutcome::Failed { message } => {
                if message.chars().count() > Self::MAX_MESSAGE_CHARS {
                    Err(format!(
                        "message: at most {} characters",
                        Self::MAX_MESSAGE_CHARS
                    ))
                } else if message
                    .chars()
                    .any(|c| c != '\n' && !crate::text::is_displayable(c))
                {
                    Err(
                        "message: control characters and text-direction overrides are not allowed"
                            .to_owned(),
                    )
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// The latest preview of an action, with when the agent took it (its age).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActionPreview {
    pub taken_at_ms: Millis,
    pub outcome: PreviewOutcome,
}

/// Which actions apt can simulate: the two upgrades. `apt_update` changes no
/// package; the other kinds are not apt.
pub fn previewable(action_type: ActionType) -> bool {
    matches!(
        action_type,
        ActionType::AptUpgradeAll | ActionType::AptUpgradeSecurity
    )
}

/// What the long-poll asks of the agent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimMode {
    /// Run the action (it is now executing).
    #[default]
    Run,
    /// Only simulate it and post the preview; it is not claimed and stays where it was.
    Preview,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, version: &str) -> PreviewPackage {
        PreviewPackage {
            name: PackageName::parse(name).unwrap(),
            version: DebVersion::parse(version).unwrap(),
        }
    }

    #[test]
    fn a_preview_has_a_stable_json_shape() {
        let preview = AptPreview {
            upgraded: vec![PreviewUpgrade {
                name: PackageName::parse("hl-openssl").unwrap(),
                from: DebVersion::parse("3.0.1-1").unwrap(),
                to: DebVersion::parse("3.0.1-1+deb12u1").unwrap(),
            }],
            installed: vec![pkg("hl-newdep", "1.0-1")],
            removed: vec![pkg("hl-victim", "1.0-1")],
            omitted: 0,
        };
        let json = serde_json::to_value(PreviewOutcome::Simulated(preview.clone())).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"simulated": {
                "upgraded": [{"name": "hl-openssl", "from": "3.0.1-1", "to": "3.0.1-1+deb12u1"}],
                "installed": [{"name": "hl-newdep", "version": "1.0-1"}],
                "removed": [{"name": "hl-victim", "version": "1.0-1"}],
                "omitted": 0
            }})
        );
        assert_eq!(
            serde_json::from_value::<PreviewOutcome>(json).unwrap(),
            PreviewOutcome::Simulated(preview)
        );
    }

    #[test]
    fn hostile_names_and_versions_are_refused_when_read() {
        for bad in [
            r#"{"upgraded":[],"installed":[],"removed":[{"name":"<script>","version":"1.0"}]}"#,
            r#"{"upgraded":[],"installed":[],"removed":[{"name":"-rf","version":"1.0"}]}"#,
            r#"{"upgraded":[],"installed":[],"removed":[{"name":"ok","version":"x<b>"}]}"#,
            r#"{"upgraded":[{"name":"ok","from":"1","to":"2\n"}],"installed":[],"removed":[]}"#,
            r#"{"upgraded":[],"installed":[],"removed":[],"extra":1}"#,
        ] {
            assert!(serde_json::from_str::<AptPreview>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn long_lists_and_messages_are_refused() {
        let mut preview = AptPreview {
            removed: vec![pkg("hl-victim", "1.0-1"); MAX_PREVIEW_PACKAGES],
            ..AptPreview::default()
        };
        assert_eq!(preview.validate(), Ok(()));
        preview.removed.push(pkg("hl-victim", "1.0-1"));
        assert!(preview.validate().unwrap_err().starts_with("removed"));
        let long = PreviewOutcome::Failed {
            message: "x".repeat(PreviewOutcome::MAX_MESSAGE_CHARS + 1),
        };
        assert!(long.validate().is_err());
        let tricky = PreviewOutcome::Failed {
            message: "E: \u{1b}[31mred\u{202e}txt".into(),
        };
        assert!(tricky.validate().is_err());
        // The agent's constructor makes any text acceptable.
        let made = PreviewOutcome::failed(&format!(
            "E: \u{1b}[31mred\u{202e}txt\nline two{}",
            "x".repeat(5_000)
        ));
        assert_eq!(made.validate(), Ok(()));
        let PreviewOutcome::Failed { message } = made else {
            unreachable!()
        };
        assert!(
            message.starts_with("E: ?[31mred?txt\nline two"),
            "{message}"
        );
    }

    #[test]
    fn the_hold_reason_names_the_removed_packages_and_counts_the_rest() {
        let two = AptPreview {
            removed: vec![pkg("foo", "1"), pkg("bar", "2")],
            ..AptPreview::default()
        };
        assert!(two.removes_anything());
        assert_eq!(two.hold_reason(), "held: apt would remove foo, bar");
        let many = AptPreview {
            removed: (0..25).map(|i| pkg(&format!("p{i}"), "1")).collect(),
            ..AptPreview::default()
        };
        let reason = many.hold_reason();
        assert!(reason.ends_with("p19 and 5 more"), "{reason}");
        assert!(!AptPreview::default().removes_anything());
        assert!(AptPreview::default().is_empty());
    }

    #[test]
    fn only_the_upgrades_can_be_previewed_and_run_is_the_default_mode() {
        let kinds: Vec<_> = ActionType::ALL
            .iter()
            .copied()
            .filter(|&t| previewable(t))
            .collect();
        assert_eq!(
            kinds,
            [ActionType::AptUpgradeAll, ActionType::AptUpgradeSecurity]
        );
        assert_eq!(ClaimMode::default(), ClaimMode::Run);
        assert_eq!(
            serde_json::to_string(&ClaimMode::Preview).unwrap(),
            "\"preview\""
        );
    }
}
