use leptos::prelude::*;

/// Marks `<body data-hydrated="true">` once the WebAssembly bundle has taken over.
/// Effects never run during server rendering, so the attribute proves hydration;
/// end-to-end tests wait for it before clicking.
#[component]
pub fn HydrationMarker() -> impl IntoView {
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            // Failing to set an attribute only delays the tests' wait; nothing to do.
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}
