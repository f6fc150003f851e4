//! Pieces shared by several pages.

mod actions;
mod agent_token;
mod hydration;
mod live;
mod onboarding;
mod status;
mod time;

pub use actions::{
    ActionError, ActionStatusBadge, ActionsTable, ApprovalControls, HoldNote, PreviewPanel,
};
pub use agent_token::AgentTokenNote;
pub use hydration::browser_effect;
#[cfg(feature = "hydrate")]
pub use hydration::mark_hydrated;
pub use live::{Live, LiveIndicator, LiveStatus, LiveUpdates, action_changes, use_live};
pub use onboarding::{CopyBlock, InstallSteps, one_liner};
pub use status::{StatusBadge, TagChips};
pub use time::{ExactTime, RelativeTime, duration_s, format_local, format_utc, relative};
