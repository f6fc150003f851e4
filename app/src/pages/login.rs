//! `/login`: a plain form posting to the server's `/login`, so signing in needs no
//! JavaScript.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The login page.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_else(|| "/".to_owned());
    let error = move || {
        query.read().get("error").map(|e| match e.as_str() {
            "throttled" => "Too many attempts for this user. Wait a few seconds and try again.",
            _ => "Wrong username or password.",
        })
    };
    view! {
        <Title text="Log in"/>
        <section class="card login">
            <h1>"Log in"</h1>
            {move || error().map(|message| view! {
                <p class="note error" role="alert">{message}</p>
            })}
            <form method="post" action="/login" class="login-form">
                <input type="hidden" name="next" value=next/>
                <label>"Username" <input name="username" autocomplete="username" required autofocus/></label>
                <label>
                    "Password"
                    <input name="password" type="password" autocomplete="current-password" required/>
                </label>
                <button type="submit">"Log in"</button>
            </form>
        </section>
    }
}
