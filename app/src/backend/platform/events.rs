//! Workspace change notifications for open pages (server-sent events). In-process: each app server tells
//! the pages open on it (sharing events between several app servers is not built yet).

use tokio::sync::broadcast;

use crate::domain::ids::{CustomerId, TenantId, WorkspaceId};

/// Something about this workspace changed; pages showing it should look again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkspaceChanged {
    pub tenant: TenantId,
    pub customer: CustomerId,
    pub workspace: WorkspaceId,
}

#[derive(Debug)]
pub struct Events {
    tx: broadcast::Sender<WorkspaceChanged>,
}

impl Default for Events {
    fn default() -> Self {
        // A slow page that falls this far behind gets a "resync" instead of every event.
        let (tx, _) = broadcast::channel(1024);
        Events { tx }
    }
}

impl Events {
    pub fn publish(&self, ev: WorkspaceChanged) {
        // No subscriber (no page open) is not an error.
        let _ = self.tx.send(ev);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<WorkspaceChanged> {
        self.tx.subscribe()
    }
}
