//! The browser's clock and timers, behind two functions so the components stay free of `cfg`. On the
//! server (SSR) there is no ticking: pages render at the server's time.

use crate::domain::time::Timestamp;

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
