//! The dashboard's domain vocabulary: the shared protocol types plus the error
//! every server function returns. No Leptos components here.

mod error;
mod wording;

pub use error::AppError;
pub use homelab_protocol::{
    ACTOR_AUTO, Action, ActionId, ActionPage, ActionPreview, ActionSpec, ActionStatus, ActionType,
    AddedServer, ApiTokenInfo, ApprovalPolicy, AptPreview, FailureReason, HistoryFilter, ItemState,
    LiveEvent, Metrics, Millis, Operation, PackageList, PendingPackage, PreviewOutcome, RequestId,
    Run, RunId, RunItem, RunStatus, Schedule, ScheduleId, ScheduleRun, ServerDetail, ServerId,
    ServerName, ServerStatus, ServerSummary, Tag, previewable,
};
pub use homelab_protocol::{
    CreatedWebhook, Delivery, DeliveryStatus, Webhook, WebhookEvent, WebhookFormat, WebhookId,
};
pub use wording::{Label, TimelineEvent, machine_type, preview_summary, timeline};
