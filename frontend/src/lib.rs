//! The browser entry point: hydrates the server-rendered page. Everything else lives in `app`.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    _ = console_log::init_with_level(log::Level::Warn);
    console_error_panic_hook::set_once();
    // Pages split into chunks of their own (app::pages) hydrate once their code has arrived: the
    // server's page names those chunks in its head, so they download beside this one.
    _ = any_spawner::Executor::init_wasm_bindgen();
    leptos::task::spawn_local(async {
        // Every page the server renders has a body; without one there is nothing to hydrate.
        let Some(body) = leptos::prelude::document().body() else { return };
        leptos::mount::hydrate_from_async(body, app::App).await.forget();
        // A marker for browser tests (and nothing else): typing before hydration would be lost.
        if let Some(root) = leptos::prelude::document().document_element() {
            let _ = root.set_attribute("data-hydrated", "true");
        }
    });
}
