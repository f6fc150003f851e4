//! Types shared by the dashboard (server and WebAssembly builds), the server and the
//! agent. Nothing here depends on Leptos, so the agent can link it.

/// The conversions every validated text newtype here shares: `TryFrom<String>`
/// through its `parse` (so serde validates), `From<T> for String` and `Display`.
macro_rules! text_newtype {
    ($t:ident, $err:ty) => {
        impl TryFrom<String> for $t {
            type Error = $err;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $t::parse(s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> Self {
                v.0
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// Describes a validated text newtype in the server's OpenAPI document (feature
/// `openapi`) as what goes on the wire: a string, with the length and, where one
/// says it, the pattern that its `parse` enforces.
macro_rules! text_schema {
    (
        $t:ident, $description:literal, length = $min:literal..=$max:expr
        $(, pattern = $pattern:literal)? $(, example = $example:literal)? $(,)?
    ) => {
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $t {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some($description))
                    .min_length(Some($min))
                    .max_length(Some($max))
                    $(.pattern(Some($pattern)))?
                    $(.examples([$example]))?
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $t {}
    };
}

pub mod action;
pub mod command;
pub mod fleet;
pub mod heartbeat;
pub mod kind;
pub mod live;
pub mod package;
pub mod params;
pub mod preview;
pub mod run;
pub mod schedule;
pub mod server_id;
pub mod server_name;
pub mod text;
pub mod time;
pub mod timeouts;
pub mod webhook;

pub use action::{
    ACTOR_AUTO, Action, ActionId, ActionPage, ActionResult, ActionStatus, ActionType, AgentFailure,
    FailureReason, HistoryFilter, MAX_OUTPUT_BYTES, NextAction, Operation, PROGRESS_EVERY,
    ParseEnumError,
};
pub use command::{NO_SECURITY_PACKAGES, SecurityPin};
pub use fleet::{
    AddedServer, ApiTokenInfo, ApprovalPolicy, PackageList, ServerDetail, ServerStatus,
    ServerSummary, UpdateCounts,
};
pub use heartbeat::{BootId, Heartbeat, HeartbeatAck, HeartbeatError, MAX_PACKAGES, Metrics};
pub use kind::{Kind, Slot, SlotRule};
pub use live::{LiveEvent, MAX_CHUNK_BYTES, OUTPUT_EVERY, Progress};
pub use package::{DebVersion, PackageError, PackageName, PendingPackage, VersionFault};
pub use params::{AGENT_UNIT, ActionSpec, ParamError, RequestId, UnitName, VacuumTime};
pub use preview::{
    ActionPreview, AptPreview, ClaimMode, MAX_PREVIEW_PACKAGES, PreviewOutcome, PreviewPackage,
    PreviewUpgrade, previewable,
};
pub use run::{
    ItemState, MAX_BATCH_SIZE, Run, RunId, RunItem, RunStatus, RunTarget, ScheduleId, Tag, TagError,
};
pub use schedule::{
    CronError, CronLine, Schedule, ScheduleName, ScheduleNameError, ScheduleRun, ZoneName,
    ZoneNameError,
};
pub use server_id::{ServerId, ServerIdError};
pub use server_name::{ServerName, ServerNameError};
pub use time::Millis;
pub use timeouts::Timeouts;
pub use webhook::{
    CreatedWebhook, Delivery, DeliveryId, DeliveryStatus, Notification, NotifiedAction,
    NotifiedRun, Webhook, WebhookEvent, WebhookFormat, WebhookId, WebhookName, WebhookSecret,
    WebhookUrl,
};

/// The current time in Unix milliseconds, the unit of every timestamp here. Server
/// and agent only: the browser has no system clock through `std`.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
