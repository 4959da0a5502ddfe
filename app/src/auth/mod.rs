//! Signing in and out. (Full accounts — sign-up, verification, resets — come with the accounts work.)

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::layout::{go_to, ErrorNote};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub name: String,
    pub email: String,
}

/// The signed-in customer, if any.
#[server(prefix = "/api", endpoint = "who_am_i")]
pub async fn who_am_i() -> Result<Option<Me>, AppError> {
    use crate::backend::request;
    Ok(request::current_customer().await?.map(|(_, _, c)| Me { name: c.name, email: c.email }))
}

#[server(prefix = "/api", endpoint = "login")]
pub async fn login(email: String, password: String) -> Result<(), AppError> {
    use crate::backend::{auth, customers, request};
    let (state, tenant) = request::tenant().await?;
    if email.len() > 254 || password.len() > 1024 {
        return Err(AppError::BadCredentials);
    }
    // Before any hashing: limits per client address and per account.
    if let Err(wait) = state.login_limits().attempt(request::client_ip(), &email) {
        let secs = wait.as_secs().max(1);
        request::set_header(http::header::RETRY_AFTER, &secs.to_string());
        return Err(AppError::RateLimited { retry_after_secs: secs });
    }
    let found = customers::find_login(&tenant.db, &email).await?;
    let (id, hash) = match found {
        Some((id, hash)) => (Some(id), Some(hash)),
        None => (None, None),
    };
    // Verified even for unknown emails (against a dummy hash): the answer takes the same time either way.
    let ok = auth::verify_password(hash, password).await?;
    let (true, Some(id)) = (ok, id) else { return Err(AppError::BadCredentials) };
    // A new token on every sign-in: a session id planted before login is never promoted.
    if let Some(old) = request::session_token() {
        auth::end_session(&tenant.db, &old).await?;
    }
    let ttl = state.settings().session_ttl;
    let token = auth::create_session(&tenant.db, id, auth::expires_in_ms(ttl)).await?;
    let max_age = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    request::set_cookie(&auth::session_cookie(&token, max_age, state.settings().secure_cookies));
    Ok(())
}

#[server(prefix = "/api", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use crate::backend::{auth, request};
    let (state, tenant) = request::tenant().await?;
    if let Some(token) = request::session_token() {
        auth::end_session(&tenant.db, &token).await?;
    }
    request::set_cookie(&auth::clear_cookie(state.settings().secure_cookies));
    Ok(())
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = login.value().get() {
            go_to("/workspaces");
        }
    });
    view! {
        <h1 class="text-2xl font-semibold">"Sign in"</h1>
        <ActionForm action=login attr:class="mt-6 flex max-w-sm flex-col gap-3">
            <label class="flex flex-col text-sm">
                "Email"
                <input type="email" name="email" required autocomplete="username" class="mt-1 rounded border px-3 py-2"/>
            </label>
            <label class="flex flex-col text-sm">
                "Password"
                <input type="password" name="password" required autocomplete="current-password" class="mt-1 rounded border px-3 py-2"/>
            </label>
            <button type="submit" class="rounded bg-brand px-4 py-2 font-medium text-white disabled:opacity-50"
                disabled=move || login.pending().get()>
                "Sign in"
            </button>
            {move || match login.value().get() {
                Some(Err(e)) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                _ => ().into_any(),
            }}
        </ActionForm>
    }
}
