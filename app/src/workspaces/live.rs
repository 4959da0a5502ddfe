//! Live updates in the browser: a server-sent event stream (`/events/workspaces`) tells open pages that
//! a workspace changed (provisioned, stopped elsewhere, failed), so they refetch within a moment instead
//! of polling. On the server (SSR) this does nothing.

/// Calls `on_change` with the workspace id (or `None` for "resync everything") for as long as the
/// current reactive owner (the page) lives.
pub fn on_workspace_events(on_change: impl Fn(Option<String>) + 'static) {
    #[cfg(feature = "hydrate")]
    {
        use futures::StreamExt;
        use gloo_net::eventsource::futures::EventSource;
        use leptos::prelude::on_cleanup;

        let Ok(mut source) = EventSource::new("/events/workspaces") else { return };
        let (Ok(changed), Ok(resync)) = (source.subscribe("workspace"), source.subscribe("resync")) else {
            return;
        };
        // Item: Some(id) for a workspace, None for "resync"; the stream ends on an error (closed source).
        let changed = changed.map(|m| m.ok().map(|(_, msg)| msg.data().as_string()));
        let resync = resync.map(|m| m.ok().map(|_| None));
        let mut all = futures::stream::select(changed, resync);
        leptos::task::spawn_local(async move {
            while let Some(Some(id)) = all.next().await {
                on_change(id);
            }
        });
        // EventSource is not Send; the wrapper lets the cleanup (run on this same thread) close it.
        let source = send_wrapper::SendWrapper::new(source);
        on_cleanup(move || source.take().close());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = on_change;
}
