//! Customer accounts: the pages (sign in, sign up, email confirmation, forgotten password, account) and
//! their server functions (`server`).

pub mod server;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

pub use self::server::{who_am_i, Login, Logout, Me};
use self::server::{
    ChangeEmail, ChangePassword, ConfirmEmailChange, LogoutEverywhere, RequestPasswordReset, ResendVerification,
    ResetPassword, Signup, UpdateProfile, VerifyEmail,
};
use crate::error::AppError;
use crate::layout::{go_to, ErrorNote};

const FIELD: &str = "mt-1 rounded border px-3 py-2";
const LABEL: &str = "flex flex-col text-sm";
const BUTTON: &str = "rounded bg-brand px-4 py-2 font-medium text-on-brand disabled:opacity-50";

fn error_of<T: Clone + Send + Sync + 'static>(v: Option<Result<T, AppError>>) -> AnyView {
    match v {
        Some(Err(e)) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
        _ => ().into_any(),
    }
}

/// The `token` query parameter of an emailed link.
fn token_param() -> Signal<String> {
    let q = use_query_map();
    Signal::derive(move || q.read().get("token").unwrap_or_default())
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
            <label class=LABEL>
                "Email"
                <input type="email" name="email" required autocomplete="username" class=FIELD/>
            </label>
            <label class=LABEL>
                "Password"
                <input type="password" name="password" required autocomplete="current-password" class=FIELD/>
            </label>
            <button type="submit" class=BUTTON disabled=move || login.pending().get()>"Sign in"</button>
            {move || error_of(login.value().get())}
        </ActionForm>
        <p class="mt-4 text-sm">
            <a class="underline" href="/signup">"Create an account"</a>
            " · "
            <a class="underline" href="/forgot">"Forgot your password?"</a>
        </p>
    }
}

#[component]
pub fn SignupPage() -> impl IntoView {
    let signup = ServerAction::<Signup>::new();
    view! {
        <h1 class="text-2xl font-semibold">"Create your account"</h1>
        <Show
            when=move || matches!(signup.value().get(), Some(Ok(())))
            fallback=move || view! {
                <ActionForm action=signup attr:class="mt-6 flex max-w-sm flex-col gap-3">
                    <label class=LABEL>"Name"<input name="name" required autocomplete="name" class=FIELD/></label>
                    <label class=LABEL>"Email"<input type="email" name="email" required autocomplete="email" class=FIELD/></label>
                    <label class=LABEL>"Password (at least 10 characters)"
                        <input type="password" name="password" required minlength="10" autocomplete="new-password" class=FIELD/>
                    </label>
                    <button type="submit" class=BUTTON disabled=move || signup.pending().get()>"Create account"</button>
                    {move || error_of(signup.value().get())}
                </ActionForm>
            }
        >
            <p data-testid="signup-done" class="mt-6 max-w-prose">
                "Check your inbox: we sent a link to confirm your email address. Then "
                <a class="underline" href="/login">"sign in"</a>"."
            </p>
        </Show>
    }
}

#[component]
pub fn VerifyPage() -> impl IntoView {
    let token = token_param();
    let verify = ServerAction::<VerifyEmail>::new();
    view! {
        <h1 class="text-2xl font-semibold">"Confirm your email address"</h1>
        <Show
            when=move || matches!(verify.value().get(), Some(Ok(())))
            fallback=move || view! {
                <ActionForm action=verify attr:class="mt-6 flex max-w-sm flex-col gap-3">
                    <input type="hidden" name="token" prop:value=move || token.get()/>
                    <button type="submit" data-testid="confirm-email" class=BUTTON disabled=move || verify.pending().get()>
                        "Confirm my email address"
                    </button>
                    {move || error_of(verify.value().get())}
                </ActionForm>
            }
        >
            <p data-testid="email-confirmed" class="mt-6">
                "Your email address is confirmed. " <a class="underline" href="/login">"Sign in"</a> " to continue."
            </p>
        </Show>
    }
}

#[component]
pub fn ConfirmEmailChangePage() -> impl IntoView {
    let token = token_param();
    let confirm = ServerAction::<ConfirmEmailChange>::new();
    view! {
        <h1 class="text-2xl font-semibold">"Confirm your new email address"</h1>
        <Show
            when=move || matches!(confirm.value().get(), Some(Ok(())))
            fallback=move || view! {
                <ActionForm action=confirm attr:class="mt-6 flex max-w-sm flex-col gap-3">
                    <input type="hidden" name="token" prop:value=move || token.get()/>
                    <button type="submit" class=BUTTON disabled=move || confirm.pending().get()>"Use this address"</button>
                    {move || error_of(confirm.value().get())}
                </ActionForm>
            }
        >
            <p data-testid="email-changed" class="mt-6">"Your email address has been changed."</p>
        </Show>
    }
}

#[component]
pub fn ForgotPage() -> impl IntoView {
    let request = ServerAction::<RequestPasswordReset>::new();
    view! {
        <h1 class="text-2xl font-semibold">"Reset your password"</h1>
        <Show
            when=move || matches!(request.value().get(), Some(Ok(())))
            fallback=move || view! {
                <ActionForm action=request attr:class="mt-6 flex max-w-sm flex-col gap-3">
                    <label class=LABEL>"Email"<input type="email" name="email" required autocomplete="email" class=FIELD/></label>
                    <button type="submit" class=BUTTON disabled=move || request.pending().get()>"Email me a reset link"</button>
                    {move || error_of(request.value().get())}
                </ActionForm>
            }
        >
            <p data-testid="reset-sent" class="mt-6 max-w-prose">
                "If that address has an account, a reset link is on its way. It works once, for 60 minutes."
            </p>
        </Show>
    }
}

#[component]
pub fn ResetPage() -> impl IntoView {
    let token = token_param();
    let reset = ServerAction::<ResetPassword>::new();
    view! {
        <h1 class="text-2xl font-semibold">"Choose a new password"</h1>
        <Show
            when=move || matches!(reset.value().get(), Some(Ok(())))
            fallback=move || view! {
                <ActionForm action=reset attr:class="mt-6 flex max-w-sm flex-col gap-3">
                    <input type="hidden" name="token" prop:value=move || token.get()/>
                    <label class=LABEL>"New password (at least 10 characters)"
                        <input type="password" name="password" required minlength="10" autocomplete="new-password" class=FIELD/>
                    </label>
                    <button type="submit" class=BUTTON disabled=move || reset.pending().get()>"Set password"</button>
                    {move || error_of(reset.value().get())}
                </ActionForm>
            }
        >
            <p data-testid="password-reset" class="mt-6">
                "Your password is changed and every session was signed out. " <a class="underline" href="/login">"Sign in"</a>"."
            </p>
        </Show>
    }
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let profile = ServerAction::<UpdateProfile>::new();
    let password = ServerAction::<ChangePassword>::new();
    let email = ServerAction::<ChangeEmail>::new();
    let everywhere = ServerAction::<LogoutEverywhere>::new();
    let resend = ServerAction::<ResendVerification>::new();
    let me = crate::resource::new(move || profile.version().get(), |_| who_am_i());
    Effect::new(move |_| {
        if let Some(Ok(_)) = everywhere.value().get() {
            go_to("/login");
        }
    });
    view! {
        <h1 class="text-2xl font-semibold">"Your account"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(m)) => view! {
                        {(!m.email_verified).then(|| view! {
                            <div data-testid="unverified" class="mt-4 rounded border border-amber-300 bg-amber-50 px-3 py-2 text-sm">
                                "Your email address is not confirmed yet, so you cannot order. "
                                <ActionForm action=resend attr:class="inline">
                                    <button type="submit" class="underline">"Send the link again"</button>
                                </ActionForm>
                                {move || matches!(resend.value().get(), Some(Ok(()))).then(|| " Sent.")}
                            </div>
                        })}
                        <section class="mt-6 max-w-sm">
                            <h2 class="font-semibold">"Profile"</h2>
                            <ActionForm action=profile attr:class="mt-2 flex flex-col gap-3">
                                <label class=LABEL>"Name"<input name="name" value=m.name.clone() class=FIELD/></label>
                                <button type="submit" class=BUTTON>"Save"</button>
                                {move || error_of(profile.value().get())}
                            </ActionForm>
                        </section>
                        <section class="mt-8 max-w-sm">
                            <h2 class="font-semibold">"Email address"</h2>
                            <p class="text-sm text-slate-600">{m.email.clone()}</p>
                            <ActionForm action=email attr:class="mt-2 flex flex-col gap-3">
                                <label class=LABEL>"New email"<input type="email" name="new_email" required class=FIELD/></label>
                                <label class=LABEL>"Current password"<input type="password" name="current_password" required autocomplete="current-password" class=FIELD/></label>
                                <button type="submit" class=BUTTON>"Change email"</button>
                                {move || match email.value().get() {
                                    Some(Ok(())) => view! { <p class="text-sm text-green-700">"Check the new address for a confirmation link."</p> }.into_any(),
                                    other => error_of(other),
                                }}
                            </ActionForm>
                        </section>
                        <section class="mt-8 max-w-sm">
                            <h2 class="font-semibold">"Password"</h2>
                            <ActionForm action=password attr:class="mt-2 flex flex-col gap-3">
                                <label class=LABEL>"Current password"<input type="password" name="current_password" required autocomplete="current-password" class=FIELD/></label>
                                <label class=LABEL>"New password"<input type="password" name="new_password" required minlength="10" autocomplete="new-password" class=FIELD/></label>
                                <button type="submit" class=BUTTON>"Change password"</button>
                                {move || match password.value().get() {
                                    Some(Ok(())) => view! { <p class="text-sm text-green-700">"Changed. Your other sessions were signed out."</p> }.into_any(),
                                    other => error_of(other),
                                }}
                            </ActionForm>
                        </section>
                        <section class="mt-8 max-w-sm">
                            <h2 class="font-semibold">"Sessions"</h2>
                            <ActionForm action=everywhere attr:class="mt-2">
                                <button type="submit" data-testid="logout-everywhere" class="rounded border px-4 py-2">"Sign out everywhere"</button>
                            </ActionForm>
                        </section>
                    }.into_any(),
                    Ok(None) => view! { <p>"Please " <a class="underline" href="/login">"sign in"</a> "."</p> }.into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
