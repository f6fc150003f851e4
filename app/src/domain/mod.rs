//! The dashboard's domain vocabulary: the shared protocol types plus the error
//! every server function returns. No Leptos components here.

mod error;
mod wording;

pub use error::AppError;
pub use homelab_protocol::{
    ACTOR_AUTO, Action, ActionId, ActionPage, ActionSpec, ActionStatus, ActionType, AddedServer,
    ApiTokenInfo, ApprovalPolicy, FailureReason, HistoryFilter, LiveEvent, Metrics, Millis,
    Operation, PackageList, PendingPackage, RequestId, RunStatus, Schedule, ScheduleRun,
    ServerDetail, ServerId, ServerName, ServerStatus, ServerSummary,
};
pub use wording::{Label, TimelineEvent, timeline};
