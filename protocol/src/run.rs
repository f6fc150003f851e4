//! Patching the fleet, not one machine: tags group servers, a fleet run applies one
//! action kind to a set of them in batches (each step an ordinary action), and a
//! schedule starts runs from a cron line.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ParseEnumError;
use crate::action::text_enum;
use crate::{ActionId, ActionStatus, ActionType, Millis, ServerId};

/// Why a text is not a tag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a tag is 1 to 32 lowercase letters, digits and '-', starting with a letter or digit: `{0}`"
)]
pub struct TagError(String);

/// A server's tag (`lab`, `nas`, `prod`): a slug `^[a-z0-9][a-z0-9-]{0,31}$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Tag(String);

impl Tag {
    /// The longest tag accepted.
    pub const MAX_LEN: usize = 32;
    /// The most tags one server may carry.
    pub const MAX_PER_SERVER: usize = 16;

    /// Checks `s` against the slug rule.
    pub fn parse(s: impl Into<String>) -> Result<Self, TagError> {
        let s = s.into();
        let slug = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let ok = s.len() <= Self::MAX_LEN
            && s.as_bytes().first().is_some_and(|&b| slug(b))
            && s.bytes().all(|b| slug(b) || b == b'-');
        if ok {
            Ok(Tag(s))
        } else {
            // The error repeats what was sent: cut, so a megabyte stays out of it.
            Err(TagError(s.chars().take(40).collect()))
        }
    }

    /// The tag as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A server's tag set from a request: each parsed, sorted, duplicates dropped,
    /// at most [`Tag::MAX_PER_SERVER`].
    pub fn parse_set<S: AsRef<str>>(raw: &[S]) -> Result<Vec<Tag>, TagError> {
        let mut tags = raw
            .iter()
            .map(|t| Tag::parse(t.as_ref().trim()))
            .collect::<Result<Vec<_>, _>>()?;
        tags.sort();
        tags.dedup();
        if tags.len() > Self::MAX_PER_SERVER {
            return Err(TagError(format!(
                "at most {} tags per server",
                Self::MAX_PER_SERVER
            )));
        }
        Ok(tags)
    }
}

text_newtype!(Tag, TagError);
text_schema!(
    Tag,
    "A server's tag: a slug.",
    length = 1..=Tag::MAX_LEN,
    pattern = "^[a-z0-9][a-z0-9-]{0,31}$",
    example = "lab",
);

/// Defines an id handed out by the database: a number in URLs and JSON.
macro_rules! row_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// The id numbered `n`.
            pub const fn new(n: i64) -> Self {
                $name(n)
            }

            /// The number, for storing and binding.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }
    };
}

pub(crate) use row_id;

row_id!(
    /// A fleet run's number (`/runs/N`).
    RunId
);
row_id!(
    /// A schedule's number (`/schedules/N`).
    ScheduleId
);

text_enum! {
    /// Where a fleet run is.
    RunStatus, "run status" {
        /// Batches are still being worked through.
        Running => "running",
        /// Every server was done or skipped, within the failures allowed.
        Completed => "completed",
        /// Stopped once more servers failed than `max_failures` allows.
        Failed => "failed",
        /// A person cancelled it.
        Cancelled => "cancelled",
    }
}

impl RunStatus {
    /// True once the run starts nothing more.
    pub const fn is_final(self) -> bool {
        !matches!(self, RunStatus::Running)
    }
}

text_enum! {
    /// Where one server of a fleet run is.
    ItemState, "item state" {
        /// Its batch has not started yet.
        Waiting => "waiting",
        /// Its action is queued (pending approval, approved or running).
        Queued => "queued",
        /// Its action completed.
        Completed => "completed",
        /// Its action failed or was rejected.
        Failed => "failed",
        /// Not queued, with the reason (offline, an apt action already in flight).
        Skipped => "skipped",
        /// The run stopped or was cancelled before this server's action ran.
        Cancelled => "cancelled",
    }
}

impl ItemState {
    /// True once nothing changes the item any more.
    pub const fn is_final(self) -> bool {
        !matches!(self, ItemState::Waiting | ItemState::Queued)
    }

    /// The item's state once its action has reached `status`.
    pub const fn of_action(status: ActionStatus) -> ItemState {
        match status {
            ActionStatus::Pending | ActionStatus::Approved | ActionStatus::Executing => {
                ItemState::Queued
            }
            ActionStatus::Completed => ItemState::Completed,
            ActionStatus::Failed | ActionStatus::Rejected => ItemState::Failed,
            ActionStatus::Cancelled => ItemState::Cancelled,
        }
    }
}

/// Which servers a run or a schedule works on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunTarget {
    /// Every server carrying the tag when the run starts, by id.
    Tag(Tag),
    /// These servers, in this order.
    Servers(Vec<ServerId>),
}

impl RunTarget {
    /// The most servers one run may name.
    pub const MAX_SERVERS: usize = 10_000;
}

/// The largest batch.
pub const MAX_BATCH_SIZE: u32 = 1_000;

/// One server's place in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunItem {
    pub server_id: ServerId,
    pub state: ItemState,
    /// The action queued for it, once its batch started.
    pub action_id: Option<ActionId>,
    /// The reboot queued after that action, when the run reboots servers that need it.
    #[serde(default)]
    pub reboot_action_id: Option<ActionId>,
    /// That action's status (`pending` means it waits for a person).
    #[serde(default)]
    pub action_status: Option<ActionStatus>,
    /// Why it was skipped, failed or cancelled.
    pub reason: Option<String>,
}

/// A fleet run as the API and the dashboard show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Run {
    pub id: RunId,
    pub action_type: ActionType,
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = crate::params::parameters_schema)
    )]
    pub parameters: Option<serde_json::Value>,
    /// The tag it was started on, if it was.
    pub tag: Option<Tag>,
    pub batch_size: u32,
    pub max_failures: u32,
    pub status: RunStatus,
    pub created_at_ms: Millis,
    /// A user, an API token, or `schedule:<name>`.
    pub created_by: String,
    /// The schedule that started it.
    pub schedule_id: Option<ScheduleId>,
    /// Started at dashboard start-up for a firing missed while it was down.
    pub late: bool,
    pub finished_at_ms: Option<Millis>,
    pub cancelled_by: Option<String>,
    /// Each server that reports needing a reboot after its upgrade is rebooted, and
    /// the run waits for it to come back.
    #[serde(default)]
    pub reboot_if_required: bool,
    /// In rollout order.
    pub items: Vec<RunItem>,
}

impl Run {
    /// How many items are in `state`.
    pub fn count(&self, state: ItemState) -> usize {
        self.items.iter().filter(|i| i.state == state).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tags_are_slugs() {
        for ok in ["lab", "nas", "prod", "a", "0-9", &"x".repeat(32)] {
            assert_eq!(Tag::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "-lab",
            "Lab",
            "la b",
            "lab!",
            "ünï",
            &"x".repeat(33),
            "a\n",
        ] {
            assert!(Tag::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_tag_set_is_sorted_without_duplicates_and_bounded() {
        let set = Tag::parse_set(&["prod", " lab ", "prod"]).unwrap();
        assert_eq!(
            set,
            [Tag::parse("lab").unwrap(), Tag::parse("prod").unwrap()]
        );
        let many: Vec<String> = (0..17).map(|n| format!("t{n}")).collect();
        assert!(Tag::parse_set(&many).is_err());
        assert!(Tag::parse_set(&many[..16]).is_ok());
    }

    #[test]
    fn an_items_state_follows_its_action() {
        assert_eq!(
            ItemState::of_action(ActionStatus::Pending),
            ItemState::Queued
        );
        assert_eq!(
            ItemState::of_action(ActionStatus::Rejected),
            ItemState::Failed
        );
        assert_eq!(
            ItemState::of_action(ActionStatus::Completed),
            ItemState::Completed
        );
        assert_eq!(
            ItemState::of_action(ActionStatus::Cancelled),
            ItemState::Cancelled
        );
        for &s in ActionStatus::ALL {
            assert_eq!(ItemState::of_action(s).is_final(), s.is_final(), "{s}");
        }
    }

    #[test]
    fn targets_read_as_the_api_writes_them() {
        let tag: RunTarget = serde_json::from_str(r#"{"tag":"lab"}"#).unwrap();
        assert_eq!(tag, RunTarget::Tag(Tag::parse("lab").unwrap()));
        assert!(serde_json::from_str::<RunTarget>(r#"{"tag":"Lab"}"#).is_err());
    }

    proptest! {
        #[test]
        fn any_text_is_a_tag_or_a_short_error(s in any::<String>()) {
            match Tag::parse(s.clone()) {
                Ok(t) => prop_assert_eq!(t.as_str(), s),
                Err(e) => prop_assert!(e.to_string().len() < 300),
            }
        }
    }
}
