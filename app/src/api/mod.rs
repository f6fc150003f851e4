//! Server functions, grouped by what they touch. Their bodies run on the server and
//! reach the service layer through the [`ssr::Backend`] that the server provides as
//! context; the browser build only sees the typed call.

pub mod access;
pub mod actions;
pub mod onboarding;
pub mod runs;
pub mod schedules;
pub mod servers;
pub mod webhooks;

#[cfg(feature = "ssr")]
pub mod ssr;

pub use access::{
    ChangePassword, CreateApiToken, ListApiTokens, MintedToken, RemoveServer, RevokeApiToken,
    RotateAgentToken, change_password, create_api_token, list_api_tokens, remove_server,
    revoke_api_token, rotate_agent_token,
};
pub use actions::{
    ActionHistory, ActionPageData, ApproveAction, CancelAction, CreateAction, HistoryPageData,
    LoadAction, RejectAction, RequestPreview, action_history, approve_action, cancel_action,
    create_action, load_action, reject_action, request_preview,
};
pub use onboarding::{AgentDownload, LoadOnboarding, OnboardingInfo, load_onboarding};
pub use runs::{
    CancelRun, ListRuns, LoadRun, RunPageData, RunsPageData, SetTags, StartRun, cancel_run,
    list_runs, load_run, set_tags, start_run,
};
pub use schedules::{
    CreateSchedule, DeleteSchedule, LoadSchedules, SchedulesPageData, UpdateSchedule,
    create_schedule, delete_schedule, load_schedules, update_schedule,
};
pub use servers::{
    AddServer, Fleet, ListServers, LoadServerPage, ServerIds, ServerPageData, SetApprovalPolicy,
    SetMaintenance, add_server, list_servers, load_server_page, server_ids, set_approval_policy,
    set_maintenance,
};

pub use webhooks::{
    CreateWebhook, DeleteWebhook, LoadWebhooks, TestWebhook, WebhooksPageData, create_webhook,
    delete_webhook, load_webhooks, test_webhook,
};

/// How a server function's own failures (network, encoding) reach the page: as the
/// same error its body returns.
impl leptos::server_fn::error::FromServerFnError for crate::domain::AppError {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        crate::domain::AppError::Transport(value.to_string())
    }
}
