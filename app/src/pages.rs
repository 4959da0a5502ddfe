//! Pages whose code the browser loads when it first needs it. A storefront visitor's first load carries
//! only the frame, the catalog, sign-in, the workspaces and their live meter; every other page (sign-up and
//! password recovery, the account, billing and invoices, the reseller's management pages, the platform admin
//! app) is a Leptos lazy route, split at build time (`cargo leptos --split`) into the chunk of its area.
//!
//! A chunk is fetched as soon as a link to its page is shown on screen, hovered or focused
//! ([`PrefetchLinks`]), so following a link does not wait on a download. A page opened directly is rendered
//! by the server, which also names the chunks it needs in the document head; hydration waits for them.

use leptos::prelude::*;
use leptos_router::{Lazy, LazyRoute};

/// What loads a lazy page's code (nothing on the server: there is nothing to load).
type Preload = fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// One area of lazy pages: a single split point (`#[lazy]` function) that renders any page of the area,
/// and a route type per page. The code the area's pages share with no other area lands in its chunk, so
/// a page outside the first load costs a few downloads, not one per piece of code it shares with some
/// other page. `$preload` is the name `#[lazy]` gives the area's loader: `__preload_` + the function.
macro_rules! lazy_area {
    ($area:ident, $preload:ident, $pages:ident { $( $route:ident $pattern:literal => $($page:ident)::+ ; )* }) => {
        #[doc = concat!("The pages of the `", stringify!($area), "` chunk.")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $pages {
            $( $route, )*
        }

        #[leptos::lazy]
        fn $area(page: $pages) -> AnyView {
            match page {
                $( $pages::$route => view! { <$($page)::+ /> }.into_any(), )*
            }
        }

        $(
            #[doc = concat!("The page at `", $pattern, "`, loaded on first use.")]
            pub struct $route;

            impl LazyRoute for $route {
                fn data() -> Self {
                    $route
                }

                async fn view(_this: Self) -> AnyView {
                    $area($pages::$route).await
                }

                async fn preload() {
                    #[cfg(feature = "hydrate")]
                    $preload().await;
                }
            }

            impl $route {
                /// The route's view for `<Route view=…>`.
                pub fn route() -> Lazy<$route> {
                    Lazy::new()
                }
            }
        )*
    };
}

/// Every area, and from the same list the table of every lazy page's route pattern and what loads its code
/// ([`LAZY_PAGES`], the one list [`chunk_for`] reads).
macro_rules! lazy_pages {
    ($( $area:ident, $preload:ident, $pages:ident { $( $route:ident $pattern:literal => $($page:ident)::+ ; )* } )*) => {
        $( lazy_area!($area, $preload, $pages { $( $route $pattern => $($page)::+ ; )* }); )*

        /// Every lazy page's route pattern and what loads its code.
        pub const LAZY_PAGES: &[(&str, Preload)] = &[
            $( $( ($pattern, || Box::pin(<$route as LazyRoute>::preload())), )* )*
        ];
    };
}

lazy_pages! {
    // A customer's account outside the first load: signing up, confirming, recovering a password, the
    // account page.
    account_pages, __preload_account_pages, AccountPages {
        Signup "/signup" => crate::auth::SignupPage;
        Verify "/verify" => crate::auth::VerifyPage;
        Forgot "/forgot" => crate::auth::ForgotPage;
        Reset "/reset" => crate::auth::ResetPage;
        Account "/account" => crate::auth::AccountPage;
        ConfirmEmail "/confirm-email" => crate::auth::ConfirmEmailChangePage;
    }

    // A customer's billing: credit, usage charts, invoices.
    billing_pages, __preload_billing_pages, BillingPages {
        Billing "/billing" => crate::billing::BillingPage;
        Invoice "/invoices/:id" => crate::billing::InvoicePage;
    }

    // A reseller's staff before they are signed in: sign-in, invitations, password recovery.
    staff_entry_pages, __preload_staff_entry_pages, StaffEntryPages {
        ManageLogin "/manage/login" => crate::manage::ManageLoginPage;
        ManageAccept "/manage/accept" => crate::manage::AcceptInvitePage;
        ManageForgot "/manage/forgot" => crate::manage::StaffForgotPage;
        ManageSetPassword "/manage/set-password" => crate::manage::SetPasswordPage;
    }

    // A reseller's management pages.
    manage_pages, __preload_manage_pages, ManagePages {
        ManageHome "/manage" => crate::manage::ManageHomePage;
        ManageBranding "/manage/branding" => crate::manage::BrandingPage;
        ManageStaff "/manage/staff" => crate::manage::StaffPage;
        ManageBilling "/manage/billing" => crate::manage::billing::ManageBillingPage;
        ManageCustomers "/manage/customers" => crate::manage::customers::CustomersPage;
        ManageCustomer "/manage/customers/:id" => crate::manage::customers::CustomerPage;
        ManageGuide "/manage/guide" => crate::manage::onboarding::GuidePage;
        ManageDomains "/manage/domains" => crate::manage::domains::DomainsPage;
        ManageCatalog "/manage/catalog" => crate::manage::catalog::CatalogPage;
    }

    // The platform admin app, and the hand-over page of an impersonation it starts.
    admin_pages, __preload_admin_pages, AdminPages {
        AdminTenants "/admin" => crate::admin::AdminTenantsPage;
        AdminLogin "/admin/login" => crate::admin::AdminLoginPage;
        AdminAudit "/admin/audit" => crate::admin::audit::AdminAuditPage;
        AdminMail "/admin/mail" => crate::admin::mail::AdminMailPage;
        AdminProvisioning "/admin/provisioning" => crate::admin::provisioning::AdminProvisioningPage;
        AdminKasm "/admin/kasm" => crate::admin::kasm::AdminKasmPage;
        AdminDatabases "/admin/databases" => crate::admin::databases::AdminDatabasesPage;
        AdminBilling "/admin/billing" => crate::admin::billing::AdminBillingPage;
        AdminPrices "/admin/prices" => crate::admin::prices::AdminPricesPage;
        AdminNewTenant "/admin/tenants/new" => crate::admin::AdminNewTenantPage;
        AdminTenant "/admin/tenants/:slug" => crate::admin::AdminTenantPage;
        Impersonate "/impersonate" => crate::admin::impersonate::ImpersonatePage;
    }
}

/// Whether a route pattern (`/invoices/:id`) matches a path (`/invoices/42`): the same segments, a `:name`
/// segment standing for any one non-empty segment.
pub fn pattern_matches(pattern: &str, path: &str) -> bool {
    let mut want = pattern.split('/');
    let mut have = path.split('/');
    loop {
        match (want.next(), have.next()) {
            (None, None) => return true,
            (Some(w), Some(h)) if w.starts_with(':') && !h.is_empty() => {}
            (Some(w), Some(h)) if w == h => {}
            _ => return false,
        }
    }
}

/// Which lazy page (its index in [`LAZY_PAGES`]) a link leads to, if it is one. Only this site's own
/// paths count: a link to another origin, a download or a fragment is nobody's chunk.
pub fn chunk_for(href: &str) -> Option<usize> {
    if !href.starts_with('/') || href.starts_with("//") {
        return None;
    }
    let path = href.split(['?', '#']).next().unwrap_or_default();
    let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
    LAZY_PAGES.iter().position(|(pattern, _)| pattern_matches(pattern, path))
}

/// Prefetches the code of the lazy pages this document links to: when a link comes into view, and when
/// one is hovered or focused (a link below the fold can still be reached by the keyboard). Each page's
/// code is asked for at most once (the loader itself fetches an area's files once for all its pages); the links the router renders later (after navigation, or when data
/// arrives) are watched as they are added. Renders nothing.
#[component]
pub fn PrefetchLinks() -> impl IntoView {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| browser::watch_links());
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::{chunk_for, LAZY_PAGES};
    use leptos::wasm_bindgen::{closure::Closure, JsCast};
    use std::cell::RefCell;
    use web_sys::{Element, IntersectionObserver, IntersectionObserverEntry, MutationObserver, MutationObserverInit};

    thread_local! {
        /// Which pages' code has been asked for already (by index in `LAZY_PAGES`).
        static ASKED: RefCell<Vec<bool>> = RefCell::new(vec![false; LAZY_PAGES.len()]);
    }

    fn prefetch(element: &Element) {
        let Some(index) = element.get_attribute("href").as_deref().and_then(chunk_for) else { return };
        let first = ASKED.with_borrow_mut(|asked| !std::mem::replace(&mut asked[index], true));
        if first {
            leptos::task::spawn_local((LAZY_PAGES[index].1)());
        }
    }

    /// The `<a href>` at or above an event's target.
    fn link_of(event: &web_sys::Event) -> Option<Element> {
        event.target()?.dyn_into::<Element>().ok()?.closest("a[href]").ok()?
    }

    pub fn watch_links() {
        let document = leptos::prelude::document();
        let on_point = Closure::<dyn Fn(web_sys::Event)>::new(|event: web_sys::Event| {
            if let Some(link) = link_of(&event) {
                prefetch(&link);
            }
        });
        for kind in ["pointerover", "focusin", "touchstart"] {
            let _ = document.add_event_listener_with_callback(kind, on_point.as_ref().unchecked_ref());
        }
        on_point.forget();

        let on_view = Closure::<dyn Fn(js_sys::Array, IntersectionObserver)>::new(
            |entries: js_sys::Array, observer: IntersectionObserver| {
                for entry in entries.iter() {
                    let entry: IntersectionObserverEntry = entry.unchecked_into();
                    if entry.is_intersecting() {
                        let link = entry.target();
                        observer.unobserve(&link);
                        prefetch(&link);
                    }
                }
            },
        );
        let Ok(in_view) = IntersectionObserver::new(on_view.as_ref().unchecked_ref()) else { return };
        on_view.forget();

        // Every link to a lazy page is watched for coming into view, those of this page now and those
        // added later; observing an element twice is harmless.
        let observe_all = {
            let in_view = in_view.clone();
            move || {
                let Ok(links) = leptos::prelude::document().query_selector_all("a[href^='/']") else { return };
                for i in 0..links.length() {
                    if let Some(link) = links.item(i).and_then(|n| n.dyn_into::<Element>().ok()) {
                        if link.get_attribute("href").as_deref().and_then(chunk_for).is_some() {
                            in_view.observe(&link);
                        }
                    }
                }
            }
        };
        observe_all();
        let on_change = Closure::<dyn Fn()>::new(observe_all);
        if let Ok(added) = MutationObserver::new(on_change.as_ref().unchecked_ref()) {
            let options = MutationObserverInit::new();
            options.set_child_list(true);
            options.set_subtree(true);
            if let Some(body) = document.body() {
                let _ = added.observe_with_options(&body, &options);
            }
        }
        on_change.forget();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_their_own_paths_only() {
        assert!(pattern_matches("/admin", "/admin"));
        assert!(pattern_matches("/invoices/:id", "/invoices/42"));
        assert!(!pattern_matches("/invoices/:id", "/invoices/"));
        assert!(!pattern_matches("/invoices/:id", "/invoices/42/pdf"));
        assert!(!pattern_matches("/admin", "/admin/audit"));
        assert!(!pattern_matches("/manage", "/"));
    }

    #[test]
    fn links_lead_to_their_pages_chunk() {
        let name = |href| chunk_for(href).map(|i| LAZY_PAGES[i].0);
        assert_eq!(name("/billing"), Some("/billing"));
        assert_eq!(name("/billing/"), Some("/billing"));
        assert_eq!(name("/invoices/7?download=1#top"), Some("/invoices/:id"));
        assert_eq!(name("/admin/tenants/new"), Some("/admin/tenants/new"));
        assert_eq!(name("/admin/tenants/acme"), Some("/admin/tenants/:slug"));
        assert_eq!(name("/manage/customers/3"), Some("/manage/customers/:id"));
        // What the first load carries, other sites, and files are nobody's chunk.
        for href in ["/", "/login", "/workspaces", "/workspaces/5", "//evil.test/admin", "https://x.test/billing"] {
            assert_eq!(chunk_for(href), None, "{href}");
        }
        assert_eq!(chunk_for("/invoices/7/pdf"), None);
    }
}
