//! `/webhooks`: notifications to the admin's own services (ntfy, Gotify, a chat
//! channel, any JSON receiver), each with its latest deliveries; a form to add one,
//! "Send test" and a confirmed delete. URLs are shown masked and secrets only once,
//! in the note that follows the creation. Forms post to server functions, so it works
//! without JavaScript.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{CreateWebhook, DeleteWebhook, TestWebhook, load_webhooks};
use crate::components::{ActionError, ExactTime, RelativeTime};
use crate::domain::{Delivery, Label, Millis, Webhook, WebhookEvent, WebhookFormat};

/// The webhooks page.
#[component]
pub fn WebhooksPage() -> impl IntoView {
    let create = ServerAction::<CreateWebhook>::new();
    let delete = ServerAction::<DeleteWebhook>::new();
    let test = ServerAction::<TestWebhook>::new();
    let data = Resource::new(
        move || {
            (
                create.version().get(),
                delete.version().get(),
                test.version().get(),
            )
        },
        |_| load_webhooks(),
    );
    view! {
        <Title text="Webhooks"/>
        <section class="page-head"><h1>"Webhooks"</h1></section>
        <section class="card" aria-labelledby="webhooks-title">
            <h2 id="webhooks-title">"Notifications"</h2>
            <p class="muted">
                "Each webhook hears of the events it is set for. A delivery the receiver "
                "does not accept is tried again for at least an hour; one webhook gets one "
                "delivery at a time, oldest first. Addresses are shown cut short, since they "
                "often hold a token."
            </p>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(page) => view! {
                            <WebhookList webhooks=page.webhooks now_ms=page.now_ms test delete/>
                        }.into_any(),
                        Err(e) => view! { <p class="note error" role="alert">{e.for_user()}</p> }.into_any(),
                    }
                })}
            </Suspense>
            <ActionError value=delete.value()/>
            {move || test.value().with(|v| match v {
                Some(Ok(w)) => Some(view! {
                    <p class="note success" role="status">
                        {format!("Test notification queued for {}.", w.name)}
                    </p>
                }.into_any()),
                Some(Err(e)) => Some(view! { <p class="note error" role="alert">{e.for_user()}</p> }.into_any()),
                None => None,
            })}
        </section>
        <NewWebhookCard create/>
    }
}

/// The webhooks, each a card-like block with its deliveries.
#[component]
fn WebhookList(
    webhooks: Vec<Webhook>,
    now_ms: Millis,
    test: ServerAction<TestWebhook>,
    delete: ServerAction<DeleteWebhook>,
) -> impl IntoView {
    if webhooks.is_empty() {
        return view! { <p class="muted">"No webhooks yet."</p> }.into_any();
    }
    view! {
        <ul class="webhooks">
            {webhooks.into_iter().map(|w| view! { <WebhookItem w now_ms test delete/> }).collect_view()}
        </ul>
    }
    .into_any()
}

/// One webhook: where it posts, how, for what, and its latest deliveries.
#[component]
fn WebhookItem(
    w: Webhook,
    now_ms: Millis,
    test: ServerAction<TestWebhook>,
    delete: ServerAction<DeleteWebhook>,
) -> impl IntoView {
    let name = w.name.to_string();
    let heading = format!("webhook-{}", w.id);
    let heading_id = heading.clone();
    let events = w
        .events
        .iter()
        .map(|e| e.label())
        .collect::<Vec<_>>()
        .join(", ");
    let signed = if w.has_secret {
        "signed with the secret shown when it was created"
    } else {
        "not signed"
    };
    let (test_id, delete_id) = (w.id.to_string(), w.id.to_string());
    let (send, confirm) = (format!("Send test to {name}"), format!("Delete {name} now"));
    view! {
        <li class="webhook" aria-labelledby=heading.clone()>
            <h3 id=heading_id>{name.clone()}</h3>
            <dl class="facts">
                <dt>"Address"</dt><dd><code class="masked-url">{w.url_masked.clone()}</code></dd>
                <dt>"Format"</dt><dd>{format!("{}, {signed}", w.format.label())}</dd>
                <dt>"Events"</dt><dd>{events}</dd>
            </dl>
            <div class="webhook-actions">
                <ActionForm action=test attr:class="inline">
                    <input type="hidden" name="id" value=test_id/>
                    <button type="submit" class="secondary">{send}</button>
                </ActionForm>
                <details class="danger-zone">
                    <summary>"Delete…"</summary>
                    <ActionForm action=delete attr:class="inline">
                        <input type="hidden" name="id" value=delete_id/>
                        <button type="submit" class="danger">{confirm}</button>
                    </ActionForm>
                </details>
            </div>
            <Deliveries deliveries=w.deliveries name now_ms/>
        </li>
    }
}

/// A webhook's latest deliveries, newest first.
#[component]
fn Deliveries(deliveries: Vec<Delivery>, name: String, now_ms: Millis) -> impl IntoView {
    if deliveries.is_empty() {
        return view! { <p class="muted">"Nothing sent yet."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="deliveries">
                <caption>{format!("Latest deliveries to {name}")}</caption>
                <thead>
                    <tr>
                        <th scope="col">"Queued"</th>
                        <th scope="col">"Event"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Attempts"</th>
                        <th scope="col">"Last answer"</th>
                        <th scope="col">"Next try"</th>
                    </tr>
                </thead>
                <tbody>
                    {deliveries.into_iter().map(|d| view! { <DeliveryRow d now_ms/> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// One delivery's row.
#[component]
fn DeliveryRow(d: Delivery, now_ms: Millis) -> impl IntoView {
    let answer = match (d.last_status, &d.last_error) {
        (_, Some(error)) => error.clone(),
        (Some(status), None) => format!("HTTP {status}"),
        (None, None) => "—".to_owned(),
    };
    let status_class = format!("delivery-status {}", d.status.as_str());
    view! {
        <tr>
            <td data-label="Queued"><ExactTime at_ms=d.created_at_ms/></td>
            <td data-label="Event" title=d.summary.clone()>{d.event.label()}</td>
            <td data-label="Status"><span class=status_class>{d.status.label()}</span></td>
            <td data-label="Attempts">{d.attempts}</td>
            <td data-label="Last answer">{answer}</td>
            <td data-label="Next try">
                {d.next_attempt_at_ms.map(|at| view! { <RelativeTime at_ms=Some(at) now_ms/> })}
            </td>
        </tr>
    }
}

/// The form that adds a webhook, and the note that shows its secret once.
#[component]
fn NewWebhookCard(create: ServerAction<CreateWebhook>) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="new-webhook-title">
            <h2 id="new-webhook-title">"New webhook"</h2>
            <ActionForm action=create attr:class="stacked-form">
                <label>"Name " <input name="name" required maxlength="64" placeholder="Phone (ntfy)"/></label>
                <label>
                    "Address (http:// or https://) "
                    <input name="url" type="url" required maxlength="2048"
                        placeholder="https://ntfy.sh/my-topic" spellcheck="false" autocomplete="off"/>
                </label>
                <label>
                    "Format "
                    <select name="format">
                        {WebhookFormat::ALL.iter().map(|f| view! {
                            <option value=f.as_str() selected=*f == WebhookFormat::Json>{format_choice(*f)}</option>
                        }).collect_view()}
                    </select>
                </label>
                <fieldset>
                    <legend>"Events"</legend>
                    {WebhookEvent::subscribable().map(|e| {
                        let field = e.as_str().replace('.', "_");
                        view! {
                            <label class="check">
                                <input type="checkbox" name=field value="on"
                                    checked=matches!(e, WebhookEvent::ActionFailed | WebhookEvent::ServerOffline)/>
                                " " {e.label()} " " <code>{e.as_str()}</code>
                            </label>
                        }
                    }).collect_view()}
                </fieldset>
                <label>
                    "Secret (optional; JSON webhooks get one made if left empty) "
                    <input name="secret" type="password" maxlength="128" autocomplete="new-password" spellcheck="false"/>
                </label>
                <button type="submit">"Create webhook"</button>
            </ActionForm>
            {move || create.value().with(|v| match v {
                Some(Ok(created)) => Some(view! {
                    <div class="note success" role="status">
                        <p>{format!("Webhook {} created.", created.webhook.name)}</p>
                        {created.secret.clone().map(|secret| view! {
                            <p>
                                "Its signing secret, shown this once (requests carry "
                                <code>"X-Homelab-Signature: sha256=HMAC"</code>
                                " of the body with it): "
                                <code class="secret">{secret}</code>
                            </p>
                        })}
                    </div>
                }.into_any()),
                Some(Err(e)) => Some(view! { <p class="note error" role="alert">{e.for_user()}</p> }.into_any()),
                None => None,
            })}
        </section>
    }
}

/// A format as the form offers it: what it is for, in a few words.
fn format_choice(f: WebhookFormat) -> String {
    let what = match f {
        WebhookFormat::Json => "signed, for your own receiver",
        WebhookFormat::Ntfy => "push to a phone",
        WebhookFormat::Gotify => "push to a phone",
        WebhookFormat::Chat => "a message in a channel",
    };
    format!("{} ({what})", f.label())
}
