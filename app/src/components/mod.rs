//! Pieces shared by several pages.

mod actions;
mod agent_token;
mod hydration;
mod status;
mod time;

pub use actions::{ActionError, ActionStatusBadge, ActionsTable, ApprovalControls};
pub use agent_token::AgentTokenNote;
pub use hydration::{HydrationMarker, browser_effect};
pub use status::StatusBadge;
pub use time::{RelativeTime, duration_s, format_utc, relative};
