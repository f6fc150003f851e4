//! `/servers/:id`: one machine's health and its pending updates.

mod access;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::{
    ApproveAction, CancelAction, CreateAction, RejectAction, ServerPageData, SetApprovalPolicy,
    SetMaintenance, SetTags, load_server_page,
};
use crate::components::{
    ActionError, ActionStatusBadge, ActionsTable, RelativeTime, StatusBadge, TagChips, duration_s,
    use_live,
};
// The never-seen note's install steps (kept on a line of its own).
use crate::components::InstallSteps;
use crate::domain::{
    Action, ActionStatus, ActionType, AppError, ApprovalPolicy, Label, Metrics, PendingPackage,
    ServerStatus,
};

/// The server actions of the page; every one refreshes the page data when it ends.
/// Each card has its own, so its answer (or error) shows next to its buttons.
#[derive(Clone, Copy)]
struct Controls {
    /// The three apt buttons.
    apt: ServerAction<CreateAction>,
    restart: ServerAction<CreateAction>,
    logs: ServerAction<CreateAction>,
    maintenance: ServerAction<SetMaintenance>,
    policy: ServerAction<SetApprovalPolicy>,
    tags: ServerAction<SetTags>,
    approve: ServerAction<ApproveAction>,
    reject: ServerAction<RejectAction>,
    cancel: ServerAction<CancelAction>,
}

/// The server page. The security-only filter is a link (`?only=security`), so it
/// works the same with and without JavaScript.
#[component]
pub fn ServerPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let security_only = move || query.read().get("only").as_deref() == Some("security");
    let controls = Controls {
        apt: ServerAction::new(),
        restart: ServerAction::new(),
        logs: ServerAction::new(),
        maintenance: ServerAction::new(),
        policy: ServerAction::new(),
        tags: ServerAction::new(),
        approve: ServerAction::new(),
        reject: ServerAction::new(),
        cancel: ServerAction::new(),
    };
    // Live: anything about this server (its actions, its packages, its status).
    let current = Memo::new(move |_| id());
    let changed = use_live().changes(move |e| {
        e.server().is_some_and(|s| {
            current
                .try_with_untracked(|c| c == s.as_str())
                .unwrap_or(false)
        })
    });
    let versions = move || {
        (
            changed.get(),
            controls.apt.version().get(),
            controls.restart.version().get(),
            controls.logs.version().get(),
            controls.maintenance.version().get(),
            controls.policy.version().get(),
            controls.tags.version().get(),
            controls.approve.version().get(),
            controls.reject.version().get(),
            controls.cancel.version().get(),
        )
    };
    let data = Resource::new(move || (id(), versions()), |(id, _)| load_server_page(id));

    // A transition: a live reload keeps the page (and what is typed into it) on
    // screen until the new data is there.
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(page) => view! { <ServerView page security_only=security_only() controls/> }.into_any(),
                    Err(AppError::NotFound(message)) => view! { <MissingServer message/> }.into_any(),
                    Err(e) => view! { <p class="note error" role="alert">{e.for_user()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn MissingServer(message: String) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="No such server"/>
        <section class="card">
            <h1>"No such server"</h1>
            <p>{message} ". " <a href="/">"Back to the fleet"</a></p>
        </section>
    }
}

#[component]
fn ServerView(page: ServerPageData, security_only: bool, controls: Controls) -> impl IntoView {
    let ServerPageData {
        detail,
        recent,
        apt_in_flight,
        form_token,
        now_ms,
    } = page;
    let s = detail.summary;
    let (installable, apart): (Vec<_>, Vec<_>) = detail
        .packages
        .packages
        .into_iter()
        .filter(|p| !security_only || p.is_security)
        .partition(PendingPackage::is_installable);
    let base = format!("/servers/{}", s.id);
    let never_seen = s.status == ServerStatus::Unknown;

    view! {
        <Title text=s.name.to_string()/>
        <nav class="crumbs" aria-label="Breadcrumb"><a href="/">"Fleet"</a> " / " {s.id.to_string()}</nav>
        <section class="page-head">
            <h1>{s.name.to_string()}</h1>
            <div class="badges">
                <StatusBadge status=s.status/>
                {s.paused.then(|| view! { <span class="badge maintenance">"Maintenance"</span> })}
                {s.reboot_required.then(|| view! { <span class="badge reboot">"Reboot required"</span> })}
                <TagChips tags=s.tags.clone()/>
            </div>
            {(!detail.reboot_required_pkgs.is_empty()).then(|| view! {
                <p class="muted reboot-pkgs">
                    "Reboot asked for by: " {detail.reboot_required_pkgs.join(", ")}
                </p>
            })}
        </section>
        {never_seen.then(|| view! {
            <section class="note info" role="status" aria-label="Waiting for the agent">
                <p>
                    <strong>"Waiting for the agent."</strong>
                    " This machine has not reported yet: its packages and health appear with the "
                    "agent's first heartbeat, and actions queued now wait for the agent's first "
                    "connection."
                </p>
                <InstallSteps/>
            </section>
        })}
        <section class="card facts" aria-label="Machine">
            <dl>
                <div><dt>"Hostname"</dt><dd>{detail.hostname.unwrap_or_else(|| "—".into())}</dd></div>
                <div><dt>"OS"</dt><dd>{detail.os.unwrap_or_else(|| "—".into())}</dd></div>
                <div><dt>"Agent"</dt><dd>{detail.agent_version.unwrap_or_else(|| "—".into())}</dd></div>
                <div><dt>"Last seen"</dt><dd><RelativeTime at_ms=s.last_seen_ms now_ms/></dd></div>
                <div><dt>"Packages scanned"</dt><dd><RelativeTime at_ms=detail.packages_seen_at_ms now_ms/></dd></div>
            </dl>
        </section>
        {detail.metrics.map(|m| view! { <MetricsCard m/> })}
        <UpdateButtons
            server_id=s.id.to_string()
            updates=s.updates
            security_updates=s.security_updates
            reboot_required=s.reboot_required
            in_flight=apt_in_flight
            recent=recent.clone()
            form_token=form_token.clone()
            controls
        />
        <section class="card" aria-labelledby="updates-title">
            <div class="section-head">
                <h2 id="updates-title">
                    "Pending updates "
                    <span class="muted">
                        {format!("({} installable, {} security)", s.updates, s.security_updates)}
                    </span>
                </h2>
                <nav class="filter" aria-label="Package filter">
                    <a href=base.clone() aria-current=(!security_only).then_some("page")>"All"</a>
                    <a href=format!("{base}?only=security") aria-current=security_only.then_some("page")>
                        "Security only"
                    </a>
                </nav>
            </div>
            <PackageTable packages=installable caption="Installable updates" empty=if never_seen {
                "No package list yet: the agent has not reported."
            } else if security_only {
                "No security updates pending."
            } else {
                "Everything is up to date."
            }/>
            {(!apart.is_empty()).then(|| view! {
                <h3>"Held or kept back"</h3>
                <p class="muted">"Listed for information: “Apply all updates” leaves these alone."</p>
                <PackageTable packages=apart caption="Held or kept back" empty=""/>
            })}
        </section>
        <ServiceControls server_id=s.id.to_string() form_token controls/>
        <SettingsCard server_id=s.id.to_string() paused=s.paused policy=s.approval_policy controls/>
        <TagsCard server_id=s.id.to_string() tags=s.tags.clone() controls/>
        <section class="card" aria-labelledby="recent-title">
            <div class="section-head">
                <h2 id="recent-title">"Recent actions"</h2>
                <a href=format!("/actions?server_id={}", s.id)>"Full history"</a>
            </div>
            <ActionError value=controls.approve.value()/>
            <ActionError value=controls.reject.value()/>
            {if recent.is_empty() {
                view! { <p class="muted">"No actions yet."</p> }.into_any()
            } else {
                view! {
                    <ActionsTable actions=recent now_ms approve=controls.approve reject=controls.reject caption="Recent actions"/>
                }.into_any()
            }}
        </section>
        <access::AccessCard server_id=s.id.to_string()/>
    }
}

/// The three apt buttons and the reboot. While an apt action or a reboot is queued or
/// running they are disabled and say why, linking to it; upgrades and the reboot ask
/// for confirmation first, and the reboot stands out when the machine needs one.
#[component]
fn UpdateButtons(
    server_id: String,
    updates: u32,
    security_updates: u32,
    reboot_required: bool,
    in_flight: Option<Action>,
    /// The newest actions, for the current status of the one just queued.
    recent: Vec<Action>,
    form_token: String,
    controls: Controls,
) -> impl IntoView {
    let busy = in_flight.is_some();
    // Disabled while a request of the card is in flight: one click, one request.
    let sending = controls.apt.pending();
    // A button with nothing to do says so and cannot be pressed.
    let button = move |action_type: ActionType,
                       label: String,
                       confirm: Option<String>,
                       nothing_to_do: bool,
                       class: &'static str| {
        let server_id = server_id.clone();
        let request_id = format!("{form_token}-{}", action_type.as_str());
        let on_submit = move |ev: leptos::ev::SubmitEvent| {
            if let Some(question) = &confirm
                && !window().confirm_with_message(question).unwrap_or(false)
            {
                ev.prevent_default();
                ev.stop_immediate_propagation();
            }
        };
        view! {
            <ActionForm action=controls.apt on:submit:capture=on_submit attr:class="inline">
                <input type="hidden" name="server_id" value=server_id/>
                <input type="hidden" name="action_type" value=action_type.as_str()/>
                <input type="hidden" name="request_id" value=request_id/>
                <button type="submit" class=class disabled=move || busy || nothing_to_do || sending.get()>
                    {label}
                </button>
            </ActionForm>
        }
    };
    let created = controls.apt.value();
    let status_now = move |a: &Action| {
        recent
            .iter()
            .find(|r| r.id == a.id)
            .map_or(a.status, |r| r.status)
    };
    view! {
        <section class="card" aria-labelledby="apt-title">
            <h2 id="apt-title">"Updates and reboot"</h2>
            <div class="buttons">
                {button(ActionType::AptUpdate, "Refresh package list".into(), None, false, "")}
                {if updates == 0 {
                    button(ActionType::AptUpgradeAll, "No updates to apply".into(), None, true, "")
                } else {
                    button(
                        ActionType::AptUpgradeAll,
                        format!("Apply all updates ({updates})"),
                        Some(format!("Install all {updates} updates on this machine?")),
                        false,
                        "",
                    )
                }}
                {if security_updates == 0 {
                    button(ActionType::AptUpgradeSecurity, "No security updates".into(), None, true, "")
                } else {
                    button(
                        ActionType::AptUpgradeSecurity,
                        format!("Apply security updates ({security_updates})"),
                        Some(format!("Install the {security_updates} security updates on this machine?")),
                        false,
                        "",
                    )
                }}
                {button(
                    ActionType::Reboot,
                    if reboot_required { "Reboot (required)".into() } else { "Reboot".into() },
                    Some(
                        "Reboot this machine now? Its services stop until it is back; the action \
                         completes when its agent reports from the new boot."
                            .into(),
                    ),
                    false,
                    if reboot_required { "reboot-needed" } else { "reboot-optional" },
                )}
            </div>
            {in_flight.map(|a| {
                let rebooting = a.action_type == ActionType::Reboot && a.status == ActionStatus::Executing;
                view! {
                    <p class="note info" role="status">
                        "Buttons are disabled while "
                        <a href=format!("/actions/{}", a.id)>{format!("{} (#{})", a.action_type.label(), a.id)}</a>
                        " is " {a.status.label().to_lowercase()}
                        {if rebooting {
                            ": it is done when the machine reports from a new boot."
                        } else {
                            "."
                        }}
                    </p>
                }
            })}
            {move || created.with(|v| match v {
                Some(Ok(a)) => Some(view! {
                    <p class="note success" role="status">
                        "Queued " <a href=format!("/actions/{}", a.id)>{format!("{} (#{})", a.action_type.label(), a.id)}</a>
                        ": " <ActionStatusBadge status=status_now(a)/>
                    </p>
                }.into_any()),
                Some(Err(e)) => Some(view! { <p class="note error" role="alert">{e.for_user()}</p> }.into_any()),
                None => None,
            })}
        </section>
    }
}

/// Restart a systemd unit; vacuum the journal. Each form says what became of its
/// own request, right under it.
#[component]
fn ServiceControls(server_id: String, form_token: String, controls: Controls) -> impl IntoView {
    let restart_request = format!("{form_token}-{}", ActionType::RestartService.as_str());
    let logs_request = format!("{form_token}-{}", ActionType::ClearLogs.as_str());
    let id2 = server_id.clone();
    let (restarting, clearing) = (controls.restart.pending(), controls.logs.pending());
    view! {
        <section class="card" aria-labelledby="service-title">
            <h2 id="service-title">"Services and logs"</h2>
            <div class="forms">
                <div class="control">
                    <ActionForm action=controls.restart attr:class="inline-form">
                        <input type="hidden" name="server_id" value=server_id/>
                        <input type="hidden" name="action_type" value=ActionType::RestartService.as_str()/>
                        <input type="hidden" name="request_id" value=restart_request/>
                        <label>"Unit" <input name="unit" required maxlength="255" placeholder="nginx.service"/></label>
                        <button type="submit" disabled=move || restarting.get()>"Restart unit"</button>
                    </ActionForm>
                    <Queued value=controls.restart.value()/>
                </div>
                <div class="control">
                    <ActionForm action=controls.logs attr:class="inline-form">
                        <input type="hidden" name="server_id" value=id2/>
                        <input type="hidden" name="action_type" value=ActionType::ClearLogs.as_str()/>
                        <input type="hidden" name="request_id" value=logs_request/>
                        <label>"Keep journal for" <input name="vacuum_time" value="7d" required maxlength="32"/></label>
                        <button type="submit" disabled=move || clearing.get()>"Clear logs"</button>
                    </ActionForm>
                    <Queued value=controls.logs.value()/>
                </div>
            </div>
        </section>
    }
}

/// What became of a form's request: the action it queued, or why not.
#[component]
fn Queued(value: MappedSignal<Option<Result<Action, AppError>>>) -> impl IntoView {
    move || {
        value.with(|v| match v {
            Some(Ok(a)) => Some(
                view! {
                    <p class="note success" role="status">
                        "Queued "
                        <a href=format!("/actions/{}", a.id)>{format!("{} (#{})", a.action_type.label(), a.id)}</a>
                    </p>
                }
                .into_any(),
            ),
            Some(Err(e)) => Some(view! { <p class="note error" role="alert">{e.for_user()}</p> }.into_any()),
            None => None,
        })
    }
}

/// The server's tags, which fleet runs and schedules target.
#[component]
fn TagsCard(server_id: String, tags: Vec<crate::domain::Tag>, controls: Controls) -> impl IntoView {
    let current = tags
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    view! {
        <section class="card" aria-labelledby="tags-title">
            <h2 id="tags-title">"Tags"</h2>
            <p class="muted">
                "Tags group servers: the fleet page filters by them, and fleet runs and schedules "
                "can target every server with a tag."
            </p>
            <ActionForm action=controls.tags attr:class="inline-form">
                <input type="hidden" name="server_id" value=server_id/>
                <label>
                    "Tags (separated by spaces)"
                    <input name="tags" value=current maxlength="600" placeholder="lab nas"
                        pattern="[a-z0-9][a-z0-9\\-]{0,31}([ ,]+[a-z0-9][a-z0-9\\-]{0,31})*[ ,]*"
                        title="lowercase letters, digits and '-', up to 32 characters each"/>
                </label>
                <button type="submit" class="secondary">"Save tags"</button>
            </ActionForm>
            <ActionError value=controls.tags.value()/>
        </section>
    }
}

/// Maintenance mode and the approval policy.
#[component]
fn SettingsCard(
    server_id: String,
    paused: bool,
    policy: ApprovalPolicy,
    controls: Controls,
) -> impl IntoView {
    let id2 = server_id.clone();
    let (next_policy, policy_label) = match policy {
        ApprovalPolicy::Auto => (
            ApprovalPolicy::AlwaysAsk,
            "Always ask before running actions",
        ),
        ApprovalPolicy::AlwaysAsk => (ApprovalPolicy::Auto, "Approve actions automatically"),
    };
    view! {
        <section class="card" aria-labelledby="settings-title">
            <h2 id="settings-title">"Approval"</h2>
            <p>
                {if paused {
                    "In maintenance mode: every action waits for a person to approve it."
                } else {
                    match policy {
                        ApprovalPolicy::Auto => "Actions are approved automatically.",
                        ApprovalPolicy::AlwaysAsk => "Every action waits for a person to approve it.",
                    }
                }}
            </p>
            <div class="buttons">
                <ActionForm action=controls.maintenance attr:class="inline">
                    <input type="hidden" name="server_id" value=server_id/>
                    <input type="hidden" name="paused" value=(!paused).to_string()/>
                    <button type="submit" class="secondary">
                        {if paused { "End maintenance mode" } else { "Start maintenance mode" }}
                    </button>
                </ActionForm>
                <ActionForm action=controls.policy attr:class="inline">
                    <input type="hidden" name="server_id" value=id2/>
                    <input type="hidden" name="policy" value=next_policy.as_str()/>
                    <button type="submit" class="secondary">{policy_label}</button>
                </ActionForm>
            </div>
            <ActionError value=controls.maintenance.value()/>
            <ActionError value=controls.policy.value()/>
        </section>
    }
}

#[component]
fn MetricsCard(m: Metrics) -> impl IntoView {
    let meter = |label: &'static str, value: f64| {
        view! {
            <div class="metric">
                <dt>{label}</dt>
                <dd>
                    <meter min="0" max="100" low="70" high="90" optimum="0" value=value>{format!("{value:.0} %")}</meter>
                    <span>{format!("{value:.0} %")}</span>
                </dd>
            </div>
        }
    };
    view! {
        <section class="card" aria-label="Health">
            <dl class="metrics">
                {meter("CPU", m.cpu_percent)}
                {meter("Memory", m.memory_percent)}
                {meter("Disk (/)", m.disk_percent)}
                <div class="metric"><dt>"Load"</dt><dd>{format!("{:.2} {:.2} {:.2}", m.load_1, m.load_5, m.load_15)}</dd></div>
                <div class="metric"><dt>"Uptime"</dt><dd>{duration_s(m.uptime_s)}</dd></div>
            </dl>
        </section>
    }
}

#[component]
fn PackageTable(
    packages: Vec<PendingPackage>,
    caption: &'static str,
    empty: &'static str,
) -> impl IntoView {
    if packages.is_empty() {
        return view! { <p class="muted">{empty}</p> }.into_any();
    }
    let rows = packages
        .into_iter()
        .map(|p| {
            let flags = [
                p.is_security.then_some(("badge security", "Security")),
                p.held.then_some(("badge held", "Held")),
                p.kept_back.then_some(("badge kept-back", "Kept back")),
            ];
            view! {
                <tr>
                    <th scope="row" class="pkg">{p.name.to_string()}</th>
                    <td data-label="Installed" class="ver">{p.current_version.to_string()}</td>
                    <td data-label="Available" class="ver">{p.new_version.to_string()}</td>
                    <td data-label="Security version" class="ver">{p.security_version.map(|v| v.to_string())}</td>
                    <td data-label="Repository">{p.repository}</td>
                    <td data-label="Flags">
                        {flags.into_iter().flatten().map(|(class, label)| view! { <span class=class>{label}</span> }).collect_view()}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table class="packages">
                <caption class="visually-hidden">{caption}</caption>
                <thead>
                    <tr>
                        <th scope="col">"Package"</th>
                        <th scope="col">"Installed"</th>
                        <th scope="col">"Available"</th>
                        <th scope="col">"Security version"</th>
                        <th scope="col">"Repository"</th>
                        <th scope="col">"Flags"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}
