//! The browser's clock and timers, behind two functions so the components stay free of `cfg`. On the
//! server (SSR) there is no ticking: pages render at the server's time.

use leptos::prelude::*;

use crate::domain::time::Timestamp;

/// Differences below this between the server's clock and the browser's are taken as page-load latency,
/// not skew: the browser's own clock is then trusted as is.
const SKEW_TOLERANCE_MS: i64 = 5_000;

/// "Now" for a live figure: the server's time when the page was rendered, then, after hydration, the
/// browser's clock (corrected by the server's when they differ by more than page-load latency), every
/// second until the page moves on.
pub fn ticking_now(server_now: Timestamp) -> RwSignal<Timestamp> {
    let now = RwSignal::new(server_now);
    Effect::new(move |_| {
        let Some(local) = browser_now() else { return };
        let skew = server_now.as_millis() - local.as_millis();
        let skew = if skew.abs() < SKEW_TOLERANCE_MS { 0 } else { skew };
        leptos::task::spawn_local(async move {
            while let Some(local) = browser_now() {
                // `try_set` hands the value back once the page has moved on: stop ticking then.
                if now.try_set(local.plus_millis(skew)).is_some() {
                    break;
                }
                sleep_ms(1000).await;
            }
        });
    });
    now
}

/// The browser's wall clock; `None` while rendering on the server.
pub fn browser_now() -> Option<Timestamp> {
    #[cfg(feature = "hydrate")]
    {
        // Date.now() is a whole number of milliseconds in a JS number; the cast keeps it exactly.
        Some(Timestamp::from_millis(js_sys::Date::now() as i64))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        None
    }
}

/// Sleeps in the browser (gloo-timers); returns at once on the server.
pub async fn sleep_ms(ms: u32) {
    #[cfg(feature = "hydrate")]
    gloo_timers::future::TimeoutFuture::new(ms).await;
    #[cfg(not(feature = "hydrate"))]
    let _ = ms;
}
