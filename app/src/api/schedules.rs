//! Server functions of the schedules page: list, create and delete patch schedules.

// A form's fields are its server function's arguments: the create form has ten.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;

use crate::domain::{AppError, Millis, Schedule};

/// The schedules page's data: every schedule, and the server's clock for relative
/// times.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SchedulesPageData {
    pub schedules: Vec<Schedule>,
    pub now_ms: Millis,
}

/// Every schedule with its next firing and last run.
#[server]
pub async fn load_schedules() -> Result<SchedulesPageData, AppError> {
    super::ssr::respond(
        async {
            Ok(SchedulesPageData {
                schedules: super::ssr::service()?.schedules().await?,
                now_ms: Millis::now(),
            })
        }
        .await,
    )
}

/// Creates a schedule from the page's form. The target is a tag, or servers
/// separated by commas or spaces (exactly one of the two); `unit` is the unit a
/// `restart_service` schedule restarts.
#[server]
pub async fn create_schedule(
    name: String,
    cron: String,
    timezone: String,
    action_type: String,
    #[server(default)] unit: Option<String>,
    #[server(default)] tag: Option<String>,
    #[server(default)] servers: Option<String>,
    #[server(default)] batch_size: Option<String>,
    #[server(default)] max_failures: Option<String>,
    #[server(default)] reboot_if_required: Option<String>,
) -> Result<Schedule, AppError> {
    super::ssr::respond(
        async {
            let request = ssr::request(ssr::Form {
                name,
                cron,
                timezone,
                action_type,
                unit,
                tag,
                servers,
                batch_size,
                max_failures,
                reboot_if_required,
            })?;
            Ok(super::ssr::service()?
                .create_schedule(request, &super::ssr::actor()?)
                .await?)
        }
        .await,
    )
}

/// Replaces schedule `id`'s settings from the page's edit form (the fields of
/// [`create_schedule`]); its next firing is counted again from now.
#[server]
pub async fn update_schedule(
    id: String,
    name: String,
    cron: String,
    timezone: String,
    action_type: String,
    #[server(default)] unit: Option<String>,
    #[server(default)] tag: Option<String>,
    #[server(default)] servers: Option<String>,
    #[server(default)] batch_size: Option<String>,
    #[server(default)] max_failures: Option<String>,
    #[server(default)] reboot_if_required: Option<String>,
) -> Result<Schedule, AppError> {
    super::ssr::respond(
        async {
            let id = ssr::schedule_id(&id)?;
            let request = ssr::request(ssr::Form {
                name,
                cron,
                timezone,
                action_type,
                unit,
                tag,
                servers,
                batch_size,
                max_failures,
                reboot_if_required,
            })?;
            Ok(super::ssr::service()?
                .update_schedule(id, request, &super::ssr::actor()?)
                .await?)
        }
        .await,
    )
}

/// Deletes a schedule; the runs it started stay in the history.
#[server]
pub async fn delete_schedule(id: String) -> Result<(), AppError> {
    super::ssr::respond(
        async {
            let id = ssr::schedule_id(&id)?;
            super::ssr::service()?
                .delete_schedule(id, &super::ssr::actor()?)
                .await?;
            Ok(())
        }
        .await,
    )
}

#[cfg(feature = "ssr")]
mod ssr {
    use homelab_core::service::{ScheduleDraft, ScheduleRequest};
    use homelab_protocol::ScheduleId;

    use crate::domain::{ActionType, AppError};

    /// The schedule form's fields, as posted.
    pub struct Form {
        pub name: String,
        pub cron: String,
        pub timezone: String,
        pub action_type: String,
        pub unit: Option<String>,
        pub tag: Option<String>,
        pub servers: Option<String>,
        pub batch_size: Option<String>,
        pub max_failures: Option<String>,
        pub reboot_if_required: Option<String>,
    }

    /// Reads the form into a request, through the same parser as the JSON API.
    pub fn request(form: Form) -> Result<ScheduleRequest, AppError> {
        let set = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let action_type = form
            .action_type
            .parse::<ActionType>()
            .map_err(|e| AppError::invalid("action_type", e.to_string()))?;
        let parameters = match (action_type, set(form.unit)) {
            (ActionType::RestartService, Some(unit)) => Some(serde_json::json!({ "unit": unit })),
            (ActionType::RestartService, None) => {
                return Err(AppError::invalid("unit", "name the unit to restart"));
            }
            _ => None,
        };
        let draft = ScheduleDraft {
            name: form.name,
            cron: form.cron,
            timezone: form.timezone,
            action_type,
            parameters,
            tag: set(form.tag),
            servers: set(form.servers).map(|s| {
                s.split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            }),
            batch_size: crate::api::ssr::form_number("batch_size", form.batch_size)?,
            max_failures: crate::api::ssr::form_number("max_failures", form.max_failures)?,
            reboot_if_required: Some(crate::api::ssr::form_flag(
                "reboot_if_required",
                form.reboot_if_required,
            )?),
        };
        Ok(ScheduleRequest::try_from(draft)?)
    }

    /// A schedule id from a form; an impossible one names no schedule.
    pub fn schedule_id(raw: &str) -> Result<ScheduleId, AppError> {
        raw.parse()
            .map_err(|_| AppError::NotFound(format!("no schedule `{}`", cut(raw))))
    }

    /// The first 40 characters of what was sent, for an error message.
    fn cut(s: &str) -> String {
        s.chars().take(40).collect()
    }
}
