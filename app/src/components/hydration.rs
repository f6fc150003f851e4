/// Runs `effect` as a Leptos effect in the browser, and not at all elsewhere.
///
/// Effects never run while rendering on the server, but a build that switches on both
/// `ssr` and `hydrate` (cargo unifies features when one command builds the server
/// and the WebAssembly crate together) makes them spawn on the server, where there
/// is no local executor and `spawn_local` panics. Gating on the target keeps such a
/// server working.
pub fn browser_effect(effect: impl FnMut() + 'static) {
    #[cfg(target_arch = "wasm32")]
    {
        let mut effect = effect;
        leptos::prelude::Effect::new(move |_| effect());
    }
    #[cfg(not(target_arch = "wasm32"))]
    drop(effect);
}

/// Marks `<body data-hydrated="true">`: the WebAssembly entry point calls this once
/// the whole page is hydrated, its route's lazily loaded chunk included (see
/// [`crate::pages`]), so the attribute means the page is interactive. End-to-end
/// tests wait for it before clicking; the interactivity benchmark times it.
#[cfg(feature = "hydrate")]
pub fn mark_hydrated() {
    if let Some(body) = leptos::prelude::document().body() {
        // Failing to set an attribute only delays the tests' wait; nothing to do.
        let _ = body.set_attribute("data-hydrated", "true");
    }
}

#[cfg(all(test, feature = "ssr", feature = "hydrate"))]
mod tests {
    use leptos::prelude::*;

    use super::*;

    /// What `cargo build --release` at the workspace root used to make: a server whose
    /// app has both features on. Rendering a component with a browser effect must not
    /// panic, and the effect must not run.
    #[tokio::test]
    async fn a_browser_effect_renders_on_a_server_built_with_both_features() {
        let _ = any_spawner::Executor::init_tokio();
        let owner = Owner::new();
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        // This used to panic: "spawn_local called from outside of a task::LocalSet".
        let html = owner.with(move || {
            view! {
                <p>{
                    browser_effect(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
                    "text"
                }</p>
            }
            .to_html()
        });
        assert_eq!(html, "<p>text</p>");
        tokio::task::yield_now().await;
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }
}
