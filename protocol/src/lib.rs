//! Types shared by the dashboard (server and WebAssembly builds), the server and the
//! agent. Nothing here depends on Leptos, so the agent can link it.

pub mod action;
pub mod command;
pub mod fleet;
pub mod heartbeat;
pub mod package;
pub mod params;
pub mod server_id;
pub mod server_name;

pub use action::{
    ACTOR_AUTO, Action, ActionPage, ActionResult, ActionStatus, ActionType, AgentFailure,
    FailureReason, HistoryFilter, MAX_OUTPUT_BYTES, NextAction, ParseEnumError, TimelineEvent,
};
pub use command::{NO_SECURITY_PACKAGES, SecurityPin};
pub use fleet::{
    AddedServer, ApprovalPolicy, PackageList, ServerDetail, ServerStatus, ServerSummary,
};
pub use heartbeat::{Heartbeat, HeartbeatAck, HeartbeatError, Metrics};
pub use package::{DebVersion, PackageError, PackageName, PendingPackage};
pub use params::{ActionSpec, ParamError, UnitName, VacuumTime};
pub use server_id::{ServerId, ServerIdError};
pub use server_name::{ServerName, ServerNameError};

/// The current time in Unix milliseconds, the unit of every timestamp here. Server
/// and agent only: the browser has no system clock through `std`.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
