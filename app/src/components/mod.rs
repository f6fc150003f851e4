//! Pieces shared by several pages.

mod actions;
mod agent_token;
mod hydration;
mod onboarding;
mod status;
mod time;

pub use actions::{ActionError, ActionStatusBadge, ActionsTable, ApprovalControls};
pub use agent_token::AgentTokenNote;
pub use hydration::{HydrationMarker, browser_effect};
pub use onboarding::{CopyBlock, InstallSteps, one_liner};
pub use status::StatusBadge;
pub use time::{RelativeTime, duration_s, format_utc, relative};
