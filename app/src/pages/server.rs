//! `/servers/:id`: one machine's health and its pending updates.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::{ServerPageData, load_server_page};
use crate::components::{RelativeTime, StatusBadge, duration_s};
use crate::domain::{AppError, Metrics, PendingPackage};

/// The server page. The security-only filter is a link (`?only=security`), so it
/// works the same with and without JavaScript.
#[component]
pub fn ServerPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let security_only = move || query.read().get("only").as_deref() == Some("security");
    let data = Resource::new(id, load_server_page);

    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(page) => view! { <ServerView page security_only=security_only()/> }.into_any(),
                    Err(AppError::NotFound(message)) => view! { <MissingServer message/> }.into_any(),
                    Err(e) => view! { <p class="note error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
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
fn ServerView(page: ServerPageData, security_only: bool) -> impl IntoView {
    let ServerPageData { detail, now_ms } = page;
    let s = detail.summary;
    let (installable, apart): (Vec<_>, Vec<_>) = detail
        .packages
        .packages
        .into_iter()
        .filter(|p| !security_only || p.is_security)
        .partition(PendingPackage::is_installable);
    let base = format!("/servers/{}", s.id);

    view! {
        <Title text=s.name.to_string()/>
        <nav class="crumbs" aria-label="Breadcrumb"><a href="/">"Fleet"</a> " / " {s.id.to_string()}</nav>
        <section class="page-head">
            <h1>{s.name.to_string()}</h1>
            <div class="badges">
                <StatusBadge status=s.status/>
                {s.paused.then(|| view! { <span class="badge maintenance">"Maintenance"</span> })}
                {s.reboot_required.then(|| view! { <span class="badge reboot">"Reboot required"</span> })}
            </div>
        </section>
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
            <PackageTable packages=installable caption="Installable updates" empty=if security_only {
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
                    <td class="ver">{p.current_version.to_string()}</td>
                    <td class="ver">{p.new_version.to_string()}</td>
                    <td class="ver">{p.security_version.map(|v| v.to_string()).unwrap_or_default()}</td>
                    <td>{p.repository}</td>
                    <td>
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
