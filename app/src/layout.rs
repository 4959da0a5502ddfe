//! The page frame shared by every page.

use leptos::prelude::*;

use crate::auth::{Logout, Me};

#[component]
pub fn Frame(children: Children) -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    let who = Resource::new(move || logout.version().get(), |_| crate::auth::who_am_i());
    Effect::new(move |_| {
        if let Some(Ok(())) = logout.value().get() {
            go_to("/");
        }
    });
    view! {
        <header class="border-b border-slate-200 bg-white">
            <nav class="mx-auto flex max-w-5xl items-center gap-6 px-6 py-4">
                <a href="/" class="text-lg font-bold text-brand">"EZSCALE Workspaces"</a>
                <a href="/" class="text-sm text-slate-600 hover:text-slate-900">"Catalog"</a>
                <a href="/workspaces" class="text-sm text-slate-600 hover:text-slate-900">"My workspaces"</a>
                <span class="ml-auto text-sm">
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            match who.await {
                                Ok(Some(Me { name, .. })) => view! {
                                    <span data-testid="signed-in-as" class="mr-3 text-slate-600">{name}</span>
                                    <ActionForm action=logout attr:class="inline">
                                        <button type="submit" class="text-slate-600 underline">"Sign out"</button>
                                    </ActionForm>
                                }.into_any(),
                                _ => view! { <a href="/login" class="underline">"Sign in"</a> }.into_any(),
                            }
                        })}
                    </Transition>
                </span>
            </nav>
        </header>
        <main class="mx-auto max-w-5xl px-6 py-8">{children()}</main>
        <footer class="mx-auto max-w-5xl px-6 py-8 text-xs text-slate-500">
            "Usage is billed in 15-minute increments, rounded up, at the rate in force when it ran."
        </footer>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <h1 class="text-2xl font-semibold">"Page not found"</h1>
        <p class="mt-2"><a class="underline" href="/">"Back to the catalog"</a></p>
    }
}

/// A message box for errors returned by server functions.
#[component]
pub fn ErrorNote(message: String) -> impl IntoView {
    view! {
        <p role="alert" data-testid="error" class="rounded border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800">
            {message}
        </p>
    }
}

/// Full navigation in the browser (a fresh page, so every resource reloads with the new session state).
pub fn go_to(path: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().location().set_href(path);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}
