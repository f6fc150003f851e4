//! `/schedules`: patch schedules (a cron line in a time zone that starts a fleet run
//! at each firing), with their next firing and last run, a form to add one and a
//! confirmed delete. Forms post to server functions, so it works without JavaScript;
//! with it, the list follows runs live.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{CreateSchedule, DeleteSchedule, UpdateSchedule, load_schedules};
use crate::components::{ActionError, ExactTime, duration_s, use_live};
use crate::domain::{ActionType, Label, LiveEvent, Millis, RunStatus, Schedule};

/// Zones offered by the form's list (any IANA name may be typed).
const COMMON_ZONES: &[&str] = &[
    "UTC",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Amsterdam",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Stockholm",
    "Europe/Warsaw",
    "Europe/Helsinki",
    "Europe/Athens",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
];

/// The schedules page.
#[component]
pub fn SchedulesPage() -> impl IntoView {
    let create = ServerAction::<CreateSchedule>::new();
    let delete = ServerAction::<DeleteSchedule>::new();
    let update = ServerAction::<UpdateSchedule>::new();
    // A run of a schedule started, moved on or ended: its last outcome changed.
    let live = use_live().changes(|e| matches!(e, LiveEvent::Run { .. } | LiveEvent::Schedules));
    let data = Resource::new(
        move || {
            (
                live.get(),
                create.version().get(),
                update.version().get(),
                delete.version().get(),
            )
        },
        |_| load_schedules(),
    );
    view! {
        <Title text="Schedules"/>
        <section class="page-head"><h1>"Schedules"</h1></section>
        <section class="card" aria-labelledby="schedules-title">
            <h2 id="schedules-title">"Patch schedules"</h2>
            <p class="muted">
                "Each firing starts a fleet run, recorded as started by "
                <code>"schedule:NAME"</code>
                ". A firing missed while the dashboard was down runs once when it starts, marked late."
            </p>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(page) => view! {
                            <ScheduleTable schedules=page.schedules now_ms=page.now_ms update delete/>
                        }.into_any(),
                        Err(e) => view! { <p class="note error" role="alert">{e.for_user()}</p> }.into_any(),
                    }
                })}
            </Suspense>
            <ActionError value=delete.value()/>
            {move || update.value().with(|v| match v {
                Some(Ok(s)) => Some(view! {
                    <p class="note success" role="status">
                        {format!("Schedule {} changed. Next firing: {}.", s.name, next_label(s))}
                    </p>
                }.into_any()),
                Some(Err(e)) => Some(view! { <p class="note error" role="alert">{e.for_user()}</p> }.into_any()),
                None => None,
            })}
        </section>
        <NewScheduleCard create/>
        <datalist id="schedule-zones">
            {COMMON_ZONES.iter().map(|z| view! { <option value=*z></option> }).collect_view()}
        </datalist>
    }
}

/// The schedules, each with its next firing, last outcome and a confirmed delete.
#[component]
fn ScheduleTable(
    schedules: Vec<Schedule>,
    now_ms: Millis,
    update: ServerAction<UpdateSchedule>,
    delete: ServerAction<DeleteSchedule>,
) -> impl IntoView {
    if schedules.is_empty() {
        return view! { <p class="muted">"No schedules yet."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="schedules">
                <caption class="visually-hidden">"Patch schedules"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"When"</th>
                        <th scope="col">"Action"</th>
                        <th scope="col">"Servers"</th>
                        <th scope="col">"Next firing"</th>
                        <th scope="col">"Last run"</th>
                        <th scope="col">""</th>
                    </tr>
                </thead>
                <tbody>
                    {schedules.into_iter().map(|s| view! { <ScheduleRow s now_ms update delete/> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// One schedule's row.
#[component]
fn ScheduleRow(
    s: Schedule,
    now_ms: Millis,
    update: ServerAction<UpdateSchedule>,
    delete: ServerAction<DeleteSchedule>,
) -> impl IntoView {
    let name = s.name.to_string();
    let when = match &s.description {
        Some(words) => format!("{words} ({})", s.timezone),
        None => s.timezone.to_string(),
    };
    let target = match (&s.tag, &s.servers) {
        (Some(tag), _) => format!("tag {tag}"),
        (None, Some(servers)) => servers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        (None, None) => String::new(),
    };
    let batches = match s.max_failures {
        0 => format!("batches of {}, stops at the first failure", s.batch_size),
        n => format!(
            "batches of {}, stops after more than {n} failure{}",
            s.batch_size,
            if n == 1 { "" } else { "s" }
        ),
    };
    let batches = if s.reboot_if_required {
        format!("{batches}, reboots where required")
    } else {
        batches
    };
    let next = match (s.next_fire_local.clone(), s.next_fire_at_ms) {
        (Some(local), Some(at)) => view! {
            <strong>{local}</strong>
            <br/>
            <span class="muted">{format!("in {}", duration_s(u64::try_from(at.since(now_ms) / 1000).unwrap_or(0)))}</span>
        }
        .into_any(),
        _ => view! { <span class="muted">"never again"</span> }.into_any(),
    };
    let last = match (&s.last_run, &s.last_skipped) {
        (Some(run), None) => {
            let outcome = match run.status {
                RunStatus::Running => "running",
                RunStatus::Completed => "completed",
                RunStatus::Failed => "failed",
                RunStatus::Cancelled => "cancelled",
            };
            let late = if run.late { ", late" } else { "" };
            view! {
                <a href=format!("/runs/{}", run.id)>{format!("Run {}: {outcome}{late}", run.id)}</a>
                <br/>
                <ExactTime at_ms=run.created_at_ms/>
            }
            .into_any()
        }
        (_, Some(skipped)) => view! { <span class="skipped">{skipped.clone()}</span> }.into_any(),
        (None, None) => view! { <span class="muted">"none yet"</span> }.into_any(),
    };
    let (edit_id, delete_id) = (s.id.to_string(), s.id.to_string());
    let (save, confirm) = (format!("Save {name}"), format!("Delete {name} now"));
    let current = s.clone();
    view! {
        <tr>
            <th scope="row">{name}</th>
            <td data-label="When"><code>{s.cron.to_string()}</code><br/><span class="muted">{when}</span></td>
            <td data-label="Action">{s.action_type.label()}</td>
            <td data-label="Servers">{target}<br/><span class="muted">{batches}</span></td>
            <td data-label="Next firing">{next}</td>
            <td data-label="Last run">{last}</td>
            <td>
                <details>
                    <summary>"Edit…"</summary>
                    <ActionForm action=update attr:class="stacked-form">
                        <input type="hidden" name="id" value=edit_id/>
                        <ScheduleFields current=Some(current)/>
                        <button type="submit">{save}</button>
                    </ActionForm>
                </details>
                <details class="danger-zone">
                    <summary>"Delete…"</summary>
                    <ActionForm action=delete attr:class="inline">
                        <input type="hidden" name="id" value=delete_id/>
                        <button type="submit" class="danger">{confirm}</button>
                    </ActionForm>
                </details>
            </td>
        </tr>
    }
}

/// The form that adds a schedule.
#[component]
fn NewScheduleCard(create: ServerAction<CreateSchedule>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="new-schedule-title">
            <h2 id="new-schedule-title">"New schedule"</h2>
            <ActionForm action=create attr:class="stacked-form">
                <ScheduleFields current=None/>
                <button type="submit">"Create schedule"</button>
            </ActionForm>
            {move || create.value().with(|v| match v {
                Some(Ok(s)) => Some(view! {
                    <p class="note success" role="status">
                        {format!(
                            "Schedule {} created. Next firing: {}.",
                            s.name,
                            next_label(s)
                        )}
                    </p>
                }.into_any()),
                Some(Err(e)) => Some(view! { <p class="note error" role="alert">{e.for_user()}</p> }.into_any()),
                None => None,
            })}
        </section>
    }
}

/// A schedule's next firing as the notes say it.
fn next_label(s: &Schedule) -> String {
    s.next_fire_local.clone().unwrap_or_else(|| "none".into())
}

/// The fields of a schedule's form, empty (a new one) or holding `current`'s values.
#[component]
fn ScheduleFields(current: Option<Schedule>) -> impl IntoView {
    let value = |f: fn(&Schedule) -> String| current.as_ref().map(f).unwrap_or_default();
    let name = value(|s| s.name.to_string());
    let cron = value(|s| s.cron.to_string());
    let zone = current
        .as_ref()
        .map_or_else(|| "UTC".to_owned(), |s| s.timezone.to_string());
    let action = current
        .as_ref()
        .map_or(ActionType::AptUpgradeSecurity, |s| s.action_type);
    let unit = value(|s| {
        s.parameters
            .as_ref()
            .and_then(|p| p.get("unit"))
            .and_then(|u| u.as_str())
            .unwrap_or_default()
            .to_owned()
    });
    let tag = value(|s| s.tag.as_ref().map(ToString::to_string).unwrap_or_default());
    let servers = value(|s| {
        s.servers
            .as_ref()
            .map(|ids| {
                ids.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    });
    let batch = current.as_ref().map_or(1, |s| s.batch_size).to_string();
    let failures = current.as_ref().map_or(0, |s| s.max_failures).to_string();
    let reboot = current.as_ref().is_some_and(|s| s.reboot_if_required);
    view! {
        <label>"Name " <input name="name" required maxlength="64" placeholder="Sunday security updates" value=name/></label>
        <label>
            "Cron line (minute hour day-of-month month day-of-week) "
            <input name="cron" required maxlength="120" placeholder="0 3 * * SUN" spellcheck="false" value=cron/>
        </label>
        <label>
            "Time zone "
            <input name="timezone" required maxlength="64" value=zone list="schedule-zones" spellcheck="false"/>
        </label>
        <label>
            "Action "
            <select name="action_type">
                {ActionType::ALL.iter().map(|t| view! {
                    <option value=t.as_str() selected=*t == action>{t.label()}</option>
                }).collect_view()}
            </select>
        </label>
        <label>"Unit (restart service only) " <input name="unit" maxlength="100" placeholder="nginx.service" value=unit/></label>
        <fieldset>
            <legend>"Servers: a tag, or server ids"</legend>
            <label>"Tag " <input name="tag" maxlength="32" placeholder="lab" value=tag/></label>
            <label>"Server ids (comma-separated) " <input name="servers" placeholder="nas, router" value=servers/></label>
        </fieldset>
        <label>"Batch size " <input name="batch_size" type="number" min="1" max="1000" value=batch/></label>
        <label>"Failures allowed " <input name="max_failures" type="number" min="0" value=failures/></label>
        <label class="check">
            <input type="checkbox" name="reboot_if_required" value="on" checked=reboot/>
            "Reboot if required (after an upgrade, before the next batch)"
        </label>
    }
}
