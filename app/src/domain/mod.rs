//! The dashboard's domain vocabulary: the shared protocol types plus the error
//! every server function returns. No Leptos components here.

mod error;
mod wording;

pub use error::AppError;
pub use homelab_protocol::{
    ACTOR_AUTO, Action, ActionId, ActionPage, ActionPreview, ActionSpec, ActionStatus, ActionType,
    AddedServer, ApiTokenInfo, ApprovalPolicy, AptPreview, FailureReason, HistoryFilter, LiveEvent,
    Metrics, Millis, Operation, PackageList, PendingPackage, PreviewOutcome, RequestId,
    ServerDetail, ServerId, ServerName, ServerStatus, ServerSummary, previewable,
};
pub use wording::{Label, TimelineEvent, preview_summary, timeline};
