//! The reseller's management pages (`/manage` on the reseller's hosts): staff sign-in, choosing a password
//! from a welcome or reset link, the overview with the onboarding checklist (`onboarding`), the branding
//! editor with its live preview, the team, billing (`billing`; paying the platform: `platform_billing`),
//! own domains (`domains`), own catalogue (`catalog`) and own customers (`customers`).
//!
//! The preview is the storefront's own look in miniature: the same Tailwind utilities (`bg-brand`,
//! `text-on-brand`) read the same CSS variables, which the editor overrides on the preview element only
//! (through the CSSOM, which the page's CSP allows) as the reseller types. The contrast check is the
//! domain's integer WCAG computation, the same one the server would use. The custom CSS being edited is
//! previewed too: the server sanitises it exactly as saving would and puts every rule under the preview's
//! class ([`model::PREVIEW_SCOPE`]); the editor writes the result into a style element carrying the page's
//! CSP nonce, so it reaches the preview and nothing else.

pub mod billing;
pub mod catalog;
pub mod customers;
pub mod domains;
pub mod model;
pub mod onboarding;
pub mod platform_billing;
pub mod server;

use leptos::html::Div;
use leptos::prelude::*;

use self::model::{BrandingForm, PREVIEW_SCOPE};
use self::server::{
    current_staff, get_branding, list_staff, preview_custom_css, AcceptInvite, InviteStaff, RemoveStaff, SaveBranding,
    StaffForgotPassword, StaffLogin, StaffSetPassword,
};
use crate::domain::branding::{contrast_ratio_x100, meets_aa, readable_text_on, Colour};
use crate::error::AppError;
use crate::layout::{go_to, ErrorNote};

#[component]
pub(crate) fn StaffSignInFirst() -> impl IntoView {
    view! { <p>"Please " <a class="underline" href="/manage/login">"sign in as staff"</a> " to manage this storefront."</p> }
}

#[component]
pub fn ManageHomePage() -> impl IntoView {
    let me = crate::resource::new(|| (), |_| current_staff());
    let checklist = crate::resource::new(|| (), |_| onboarding::onboarding());
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(m)) => {
                        let list = checklist.await;
                        view! {
                            <h1 class="text-2xl font-semibold">"Welcome, " {m.name}</h1>
                            <p class="mt-2 text-slate-600">{format!("Signed in as {} ({}).", m.email, m.role)}</p>
                            <onboarding::OnboardingChecklist list/>
                        }.into_any()
                    }
                    Ok(None) => view! { <StaffSignInFirst/> }.into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn ManageLoginPage() -> impl IntoView {
    let login = ServerAction::<StaffLogin>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = login.value().get() {
            go_to("/manage/branding");
        }
    });
    view! {
        <h1 class="text-2xl font-semibold">"Staff sign in"</h1>
        <ActionForm action=login attr:class="mt-6 flex max-w-sm flex-col gap-3">
            <label class="flex flex-col text-sm">
                "Email"
                <input type="email" name="email" required autocomplete="username" class="mt-1 rounded border px-3 py-2"/>
            </label>
            <label class="flex flex-col text-sm">
                "Password"
                <input type="password" name="password" required autocomplete="current-password" class="mt-1 rounded border px-3 py-2"/>
            </label>
            <button type="submit" class="rounded bg-brand px-4 py-2 font-medium text-on-brand disabled:opacity-50"
                disabled=move || login.pending().get()>
                "Sign in"
            </button>
            {move || match login.value().get() {
                Some(Err(e)) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                _ => ().into_any(),
            }}
        </ActionForm>
        <p class="mt-4 text-sm"><a class="underline" href="/manage/forgot">"Forgot your password?"</a></p>
    }
}

/// Asks for a link to choose a new password (staff). The answer never says whether the address is a
/// member here.
#[component]
pub fn StaffForgotPage() -> impl IntoView {
    let ask = ServerAction::<StaffForgotPassword>::new();
    view! {
        <h1 class="text-2xl font-semibold">"Choose a new staff password"</h1>
        <p class="mt-2 text-sm text-slate-600">"We email you a link to choose a new password. It works once, within an hour."</p>
        <ActionForm action=ask attr:class="mt-6 flex max-w-sm flex-col gap-3">
            <label class="flex flex-col text-sm">
                "Email"
                <input type="email" name="email" required autocomplete="username" class="mt-1 rounded border px-3 py-2"/>
            </label>
            <button type="submit" class="rounded bg-brand px-4 py-2 font-medium text-on-brand disabled:opacity-50"
                disabled=move || ask.pending().get()>
                "Email me a link"
            </button>
            {move || match ask.value().get() {
                Some(Ok(())) => view! {
                    <p data-testid="reset-sent" role="status" class="text-sm text-green-700">
                        "If that address belongs to this storefront's staff, a link is on its way."
                    </p>
                }.into_any(),
                Some(Err(e)) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                None => ().into_any(),
            }}
        </ActionForm>
    }
}

/// Where a welcome or reset link leads: choose a password, and be signed in.
#[component]
pub fn SetPasswordPage() -> impl IntoView {
    let q = leptos_router::hooks::use_query_map();
    let token = move || q.read().get("token").unwrap_or_default();
    let set = ServerAction::<StaffSetPassword>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = set.value().get() {
            go_to("/manage");
        }
    });
    view! {
        <h1 class="text-2xl font-semibold">"Choose your password"</h1>
        <p class="mt-2 text-sm text-slate-600">"Only you will know it: nobody at the platform ever sees or chooses it."</p>
        <ActionForm action=set attr:class="mt-6 flex max-w-sm flex-col gap-3">
            <input type="hidden" name="token" prop:value=token/>
            <label class="flex flex-col text-sm">"New password (at least 12 characters)"
                <input type="password" name="password" required minlength="12" autocomplete="new-password" class="mt-1 rounded border px-3 py-2"/>
            </label>
            <button type="submit" data-testid="set-password" class="rounded bg-brand px-4 py-2 text-on-brand disabled:opacity-50"
                disabled=move || set.pending().get()>
                "Save my password"
            </button>
            {move || match set.value().get() {
                Some(Err(e)) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                _ => ().into_any(),
            }}
        </ActionForm>
    }
}

#[component]
pub fn BrandingPage() -> impl IntoView {
    let saved = ServerAction::<SaveBranding>::new();
    let current = crate::resource::new(|| (), |_| get_branding());
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match current.await {
                    Ok(form) => view! { <BrandingEditor form saved/> }.into_any(),
                    Err(AppError::NotSignedIn) => view! { <StaffSignInFirst/> }.into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// A colour field's warning, if any: unparsable, or text on it (or it as text on white) below 4.5:1.
fn contrast_warning(colour: Option<Colour>) -> Option<String> {
    let Some(c) = colour else { return Some("Write colours as #rrggbb, like #4f46e5.".into()) };
    let white = Colour { r: 255, g: 255, b: 255 };
    let text = readable_text_on(c);
    if !meets_aa(c, text) {
        let r = contrast_ratio_x100(c, text);
        return Some(format!(
            "Text on this colour has a contrast of {}.{:02}:1, under the 4.5:1 WCAG minimum.",
            r / 100,
            r % 100
        ));
    }
    if !meets_aa(c, white) {
        let r = contrast_ratio_x100(c, white);
        return Some(format!(
            "As link text on white this colour has a contrast of {}.{:02}:1, under the 4.5:1 WCAG minimum.",
            r / 100,
            r % 100
        ));
    }
    None
}

#[component]
fn BrandingEditor(form: BrandingForm, saved: ServerAction<SaveBranding>) -> impl IntoView {
    let name = RwSignal::new(form.company_name.clone());
    let primary = RwSignal::new(form.primary.clone());
    let secondary = RwSignal::new(form.secondary.clone());
    let logo = RwSignal::new(form.logo_url.clone());
    let custom_css = RwSignal::new(form.custom_css.clone());
    let preview = NodeRef::<Div>::new();
    let primary_colour = Memo::new(move |_| Colour::parse(primary.get().trim()).ok());
    let secondary_colour = Memo::new(move |_| Colour::parse(secondary.get().trim()).ok());

    // Apply the colours being edited to the preview element only, so the rest of the page keeps the saved
    // theme until the reseller saves.
    Effect::new(move |_| {
        let (p, s) = (primary_colour.get(), secondary_colour.get());
        #[cfg(feature = "hydrate")]
        if let Some(el) = preview.get() {
            let style = web_sys::HtmlElement::style(&el);
            for (var, c) in [("primary", p), ("secondary", s)] {
                if let Some(c) = c {
                    let _ = style.set_property(&format!("--brand-{var}"), &c.to_hex());
                    let _ = style.set_property(&format!("--brand-on-{var}"), &readable_text_on(c).to_hex());
                }
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (p, s, preview);
    });

    // The custom CSS being edited, checked and scoped by the server (only in the browser: the preview is
    // for someone typing). Each edit asks again, and only the answer to the latest edit is kept. A plain
    // signal set from an effect, not a resource: a resource read under the page's <Suspense> would hold
    // it on its fallback on the server (where a browser-only fetch never ends), and the browser, rendering
    // the editor, would then fail to hydrate that page.
    let scoped_css = RwSignal::new(None::<Result<String, AppError>>);
    let asked = StoredValue::new(0_u64);
    Effect::new(move |_| {
        let css = custom_css.get();
        asked.update_value(|n| *n += 1);
        let this = asked.get_value();
        leptos::task::spawn_local(async move {
            let answer = preview_custom_css(css).await;
            // Nothing when a later edit asked again, or the page has gone (its values disposed).
            if asked.try_get_value() == Some(this) {
                if let Ok(css) = &answer {
                    apply_preview_css(css);
                }
                let _ = scoped_css.try_set(Some(answer));
            }
        });
    });
    on_cleanup(|| apply_preview_css(""));

    let on_logo_picked = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            use leptos::wasm_bindgen::JsCast;
            let input = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok());
            if let Some(file) = input.and_then(|i| i.files()).and_then(|f| f.get(0)) {
                if let Ok(url) = web_sys::Url::create_object_url_with_blob(&file) {
                    logo.set(Some(url));
                }
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };

    let field = "mt-1 rounded border px-3 py-2";
    view! {
        <h1 class="text-2xl font-semibold">"Branding"</h1>
        <div class="mt-6 grid gap-8 md:grid-cols-2">
            <div>
                <ActionForm action=saved attr:class="flex flex-col gap-3" attr:data-testid="branding-form">
                    <label class="flex flex-col text-sm">"Company name"
                        <input name="company_name" class=field prop:value=move || name.get()
                            on:input=move |ev| name.set(event_target_value(&ev))/>
                    </label>
                    <div class="flex gap-4">
                        <label class="flex flex-1 flex-col text-sm">"Primary colour"
                            <span class="mt-1 flex gap-2">
                                <input type="color" aria-label="Pick the primary colour" class="h-10 w-12 rounded border"
                                    prop:value=move || primary_colour.get().map(|c| c.to_hex()).unwrap_or_default()
                                    on:input=move |ev| primary.set(event_target_value(&ev))/>
                                <input name="primary" data-testid="primary-input" class="w-full rounded border px-3 py-2 font-mono"
                                    prop:value=move || primary.get() on:input=move |ev| primary.set(event_target_value(&ev))/>
                            </span>
                        </label>
                        <label class="flex flex-1 flex-col text-sm">"Secondary colour"
                            <span class="mt-1 flex gap-2">
                                <input type="color" aria-label="Pick the secondary colour" class="h-10 w-12 rounded border"
                                    prop:value=move || secondary_colour.get().map(|c| c.to_hex()).unwrap_or_default()
                                    on:input=move |ev| secondary.set(event_target_value(&ev))/>
                                <input name="secondary" data-testid="secondary-input" class="w-full rounded border px-3 py-2 font-mono"
                                    prop:value=move || secondary.get() on:input=move |ev| secondary.set(event_target_value(&ev))/>
                            </span>
                        </label>
                    </div>
                    {move || contrast_warning(primary_colour.get()).map(|w| view! {
                        <p data-testid="contrast-warning" class="rounded border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-900">{w}</p>
                    })}
                    {move || secondary_colour.get().is_none().then(|| view! {
                        <p class="text-sm text-amber-900">"Write the secondary colour as #rrggbb."</p>
                    })}
                    <label class="flex flex-col text-sm">"Support email"
                        <input name="support_email" type="email" class=field value=form.support_email.clone()/>
                    </label>
                    <label class="flex flex-col text-sm">"Support phone"
                        <input name="support_phone" class=field value=form.support_phone.clone()/>
                    </label>
                    <label class="flex flex-col text-sm">"Emails come from (address)"
                        <input name="from_email" type="email" class=field value=form.from_email.clone()/>
                    </label>
                    <label class="flex flex-col text-sm">"Emails come from (name)"
                        <input name="from_name" class=field value=form.from_name.clone()/>
                    </label>
                    <label class="flex flex-col text-sm">"Custom CSS (checked and rewritten when saved)"
                        <textarea name="custom_css" rows="5" data-testid="custom-css" aria-describedby="custom-css-preview-status"
                            class="mt-1 rounded border px-3 py-2 font-mono text-xs"
                            on:input=move |ev| custom_css.set(event_target_value(&ev))>{form.custom_css.clone()}</textarea>
                    </label>
                    <p id="custom-css-preview-status" data-testid="custom-css-preview-status" aria-live="polite" class="text-xs text-slate-600">
                        {move || match scoped_css.get() {
                            Some(Ok(css)) if !css.is_empty() => "The preview shows your custom CSS as it will be saved.".to_owned(),
                            Some(Err(e)) => format!("The preview leaves out your custom CSS: {e}"),
                            _ => String::new(),
                        }}
                    </p>
                    <button type="submit" data-testid="save-branding"
                        class="rounded bg-brand px-4 py-2 font-medium text-on-brand disabled:opacity-50"
                        disabled=move || saved.pending().get()>
                        "Save branding"
                    </button>
                    {move || match saved.value().get() {
                        Some(Ok(_)) => view! { <p data-testid="saved" class="text-sm text-green-700">"Saved. Every page of your storefront now uses it."</p> }.into_any(),
                        Some(Err(e)) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                        None => ().into_any(),
                    }}
                </ActionForm>
                <form method="post" action="/manage/branding/logo" enctype="multipart/form-data" class="mt-6 flex flex-col gap-2 text-sm">
                    <label class="flex flex-col">"Logo (PNG, JPEG or WebP, up to 2 MB)"
                        <input type="file" name="file" accept="image/png,image/jpeg,image/webp" class="mt-1" on:change=on_logo_picked/>
                    </label>
                    <button type="submit" class="self-start rounded border px-3 py-1">"Upload logo"</button>
                </form>
                <form method="post" action="/manage/branding/favicon" enctype="multipart/form-data" class="mt-4 flex flex-col gap-2 text-sm">
                    <label class="flex flex-col">"Favicon (shown at 64×64)"
                        <input type="file" name="file" accept="image/png,image/jpeg,image/webp" class="mt-1"/>
                    </label>
                    <button type="submit" class="self-start rounded border px-3 py-1">"Upload favicon"</button>
                </form>
            </div>
            <div>
                <h2 class="text-sm font-semibold uppercase tracking-wide text-slate-500">"Preview (not saved yet)"</h2>
                <div node_ref=preview data-testid="brand-preview" class=format!("{PREVIEW_SCOPE} mt-2 overflow-hidden rounded-lg border border-slate-200 bg-white shadow-sm")>
                    <div class="flex items-center gap-2 border-b border-slate-200 px-4 py-3">
                        {move || logo.get().map(|src| view! { <img data-testid="preview-logo" src=src alt="" class="h-7 w-auto"/> })}
                        <span data-testid="preview-name" class="font-bold text-brand">{move || name.get()}</span>
                        <span class="ml-auto text-xs text-slate-500">"Catalog · My workspaces"</span>
                    </div>
                    <div class="p-4">
                        <p class="text-sm font-semibold">"Developer Pro"</p>
                        <p class="text-xs text-slate-500">"4 vCPU · 8 GB · billed per 15 minutes"</p>
                        <button type="button" data-testid="preview-button" class="mt-3 rounded bg-brand px-3 py-1.5 text-sm font-medium text-on-brand">
                            "Order workspace"
                        </button>
                    </div>
                    <div class="border-t border-slate-200 p-4">
                        <p class="text-xs uppercase text-slate-500">"Dashboard"</p>
                        <div class="mt-2 flex items-center justify-between rounded border border-slate-200 px-3 py-2 text-sm">
                            <span>"Business Basic"</span>
                            <span class="rounded-full bg-brand-2 px-2 py-0.5 text-xs text-on-brand-2">"Running · 00:42:17"</span>
                        </div>
                    </div>
                </div>
            </div>
        </div>
    }
}

/// The id of the style element that holds the previewed custom CSS.
#[cfg(feature = "hydrate")]
const PREVIEW_STYLE_ID: &str = "brand-preview-css";

/// Writes `css` (already sanitised and scoped by the server) into the preview's style element, creating it
/// in the head the first time. The page's Content-Security-Policy admits only style elements carrying its
/// nonce, so the new element gets the nonce of the theme's own style element (`#brand-vars`); the nonce
/// is readable as a property even though browsers hide the attribute.
fn apply_preview_css(css: &str) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsValue;
        let document = document();
        let style = match document.get_element_by_id(PREVIEW_STYLE_ID) {
            Some(style) => style,
            None if css.is_empty() => return,
            None => {
                let Ok(style) = document.create_element("style") else { return };
                style.set_id(PREVIEW_STYLE_ID);
                if let Some(vars) = document.get_element_by_id("brand-vars") {
                    let key = JsValue::from_str("nonce");
                    if let Ok(nonce) = js_sys::Reflect::get(&vars, &key) {
                        let _ = js_sys::Reflect::set(&style, &key, &nonce);
                    }
                }
                let Some(head) = document.head() else { return };
                if head.append_child(&style).is_err() {
                    return;
                }
                style
            }
        };
        style.set_text_content(Some(css));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = css;
}

#[component]
pub fn StaffPage() -> impl IntoView {
    let invite = ServerAction::<InviteStaff>::new();
    let remove = ServerAction::<RemoveStaff>::new();
    let staff = crate::resource::new(move || (invite.version().get(), remove.version().get()), |_| list_staff());
    let field = "rounded border px-2 py-1 text-sm";
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match staff.await {
                    Ok(list) => view! {
                        <h1 class="text-2xl font-semibold">"Staff"</h1>
                        <table class="mt-4 w-full text-left text-sm">
                            <thead><tr class="text-xs uppercase text-slate-500"><th>"Name"</th><th>"Email"</th><th>"Role"</th><th></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|m| view! {
                                    <tr data-testid="staff-row" class="border-t border-slate-100">
                                        <td class="py-1">{m.name}</td><td>{m.email}</td><td>{m.role.as_str()}</td>
                                        <td>{(!m.is_me).then(|| view! {
                                            <ActionForm action=remove>
                                                <input type="hidden" name="id" value=m.id/>
                                                <button type="submit" class="text-red-700 underline">"Remove"</button>
                                            </ActionForm>
                                        })}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                        {move || match remove.value().get() {
                            Some(Err(e)) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                            _ => ().into_any(),
                        }}
                        <h2 class="mt-8 font-semibold">"Invite a colleague"</h2>
                        <ActionForm action=invite attr:class="mt-2 flex flex-wrap items-end gap-3">
                            <label class="flex flex-col text-xs">"Email"<input type="email" name="email" required class=field/></label>
                            <label class="flex flex-col text-xs">"Role"
                                <select name="role" class=field>
                                    <option value="admin">"Admin"</option>
                                    <option value="owner">"Owner"</option>
                                </select>
                            </label>
                            <button type="submit" class="rounded bg-brand px-3 py-1 text-sm text-on-brand">"Send invitation"</button>
                        </ActionForm>
                        {move || match invite.value().get() {
                            Some(Ok(())) => view! { <p data-testid="invited" class="mt-2 text-sm text-green-700">"Invitation sent."</p> }.into_any(),
                            Some(Err(e)) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                            None => ().into_any(),
                        }}
                    }.into_any(),
                    Err(AppError::NotSignedIn) => view! { <StaffSignInFirst/> }.into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn AcceptInvitePage() -> impl IntoView {
    let q = leptos_router::hooks::use_query_map();
    let token = move || q.read().get("token").unwrap_or_default();
    let accept = ServerAction::<AcceptInvite>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = accept.value().get() {
            go_to("/manage");
        }
    });
    view! {
        <h1 class="text-2xl font-semibold">"Join the team"</h1>
        <ActionForm action=accept attr:class="mt-6 flex max-w-sm flex-col gap-3">
            <input type="hidden" name="token" prop:value=token/>
            <label class="flex flex-col text-sm">"Your name"<input name="name" required class="mt-1 rounded border px-3 py-2"/></label>
            <label class="flex flex-col text-sm">"Password (at least 12 characters)"
                <input type="password" name="password" required minlength="12" autocomplete="new-password" class="mt-1 rounded border px-3 py-2"/>
            </label>
            <button type="submit" class="rounded bg-brand px-4 py-2 text-on-brand">"Create my staff account"</button>
            {move || match accept.value().get() {
                Some(Err(e)) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                _ => ().into_any(),
            }}
        </ActionForm>
    }
}
