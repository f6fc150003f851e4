//! The dashboard's domain vocabulary: the shared protocol types plus the error
//! every server function returns. No Leptos components here.

mod error;
mod wording;

pub use error::AppError;
pub use homelab_protocol::{
    ACTOR_AUTO, Action, ActionId, ActionPage, ActionSpec, ActionStatus, ActionType, AddedServer,
    ApiTokenInfo, ApprovalPolicy, FailureReason, HistoryFilter, ItemState, LiveEvent, Metrics,
    Millis, Operation, PackageList, PendingPackage, RequestId, Run, RunId, RunItem, RunStatus,
    Schedule, ScheduleId, ScheduleRun, ServerDetail, ServerId, ServerName, ServerStatus,
    ServerSummary, Tag,
};
pub use wording::{Label, TimelineEvent, timeline};
