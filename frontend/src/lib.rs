//! The dashboard's WebAssembly entry point: hydrates the server-rendered page.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Every page is a lazy route (see `homelab_app::pages`): hydration waits for the
    // chunk of the page shown, which the server already asked the browser to preload.
    wasm_bindgen_futures::spawn_local(async {
        let Some(body) = leptos::prelude::document().body() else {
            return;
        };
        leptos::mount::hydrate_from_async(body, homelab_app::App)
            .await
            .forget();
        homelab_app::components::mark_hydrated();
    });
}
