//! `/settings`: the signed-in user's password, and the JSON API's tokens.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{ChangePassword, CreateApiToken, RevokeApiToken, list_api_tokens};
use crate::components::{ActionError, ExactTime};
use crate::domain::ApiTokenInfo;

/// The settings page.
#[component]
pub fn SettingsPage() -> impl IntoView {
    let create = ServerAction::<CreateApiToken>::new();
    let revoke = ServerAction::<RevokeApiToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_tokens(),
    );
    view! {
        <Title text="Settings"/>
        <section class="page-head"><h1>"Settings"</h1></section>
        <PasswordCard/>
        <section class="card" aria-labelledby="tokens-title">
            <h2 id="tokens-title">"API tokens"</h2>
            <p class="muted">
                "Tokens let scripts use the JSON API ("
                <code>"Authorization: Bearer hcp_…"</code>
                ") with the same rights as you. Revoke one the moment it may have leaked."
            </p>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match tokens.await {
                        Ok(list) => view! { <TokenTable tokens=list revoke/> }.into_any(),
                        Err(e) => view! { <p class="note error" role="alert">{e.for_user()}</p> }.into_any(),
                    }
                })}
            </Suspense>
            <ActionError value=revoke.value()/>
            <ActionForm action=create attr:class="inline-form">
                <label>"Name " <input name="name" required maxlength="100" placeholder="backup-script"/></label>
                <button type="submit">"Create token"</button>
            </ActionForm>
            {move || create.value().with(|v| match v {
                Some(Ok(minted)) => Some(view! {
                    <div class="note success" role="status">
                        <p>"Token " <strong>{minted.name.clone()}</strong> " created. It is shown only now:"</p>
                        <pre class="token">{minted.token.clone()}</pre>
                    </div>
                }.into_any()),
                Some(Err(e)) => Some(view! { <p class="note error" role="alert">{e.for_user()}</p> }.into_any()),
                None => None,
            })}
        </section>
    }
}

/// The tokens, each with a revoke button behind a disclosure (the confirmation).
#[component]
fn TokenTable(tokens: Vec<ApiTokenInfo>, revoke: ServerAction<RevokeApiToken>) -> impl IntoView {
    if tokens.is_empty() {
        return view! { <p class="muted">"No API tokens."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table>
                <caption class="visually-hidden">"API tokens"</caption>
                <thead><tr><th scope="col">"Name"</th><th scope="col">"Created"</th><th scope="col">""</th></tr></thead>
                <tbody>
                    {tokens.into_iter().map(|t| {
                        let name = t.name.clone();
                        view! {
                            <tr>
                                <td>{t.name.clone()}</td>
                                <td><ExactTime at_ms=t.created_at_ms/></td>
                                <td>
                                    <details class="danger-zone">
                                        <summary>"Revoke…"</summary>
                                        <ActionForm action=revoke attr:class="inline">
                                            <input type="hidden" name="name" value=name.clone()/>
                                            <button type="submit" class="danger">
                                                {format!("Revoke {name} now")}
                                            </button>
                                        </ActionForm>
                                    </details>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// The signed-in user's own password; the other sessions end when it changes.
#[component]
fn PasswordCard() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    view! {
        <section class="card" aria-labelledby="password-title">
            <h2 id="password-title">"Password"</h2>
            <ActionForm action=change attr:class="stacked-form">
                <label>"Current password" <input type="password" name="current" required autocomplete="current-password"/></label>
                <label>"New password" <input type="password" name="new" required minlength="8" autocomplete="new-password"/></label>
                <label>"New password again" <input type="password" name="repeat" required minlength="8" autocomplete="new-password"/></label>
                <button type="submit">"Change password"</button>
            </ActionForm>
            {move || change.value().with(|v| match v {
                Some(Ok(())) => Some(view! {
                    <p class="note success" role="status">
                        "Password changed. Every other session of yours has ended."
                    </p>
                }.into_any()),
                Some(Err(e)) => Some(view! { <p class="note error" role="alert">{e.for_user()}</p> }.into_any()),
                None => None,
            })}
        </section>
    }
}
