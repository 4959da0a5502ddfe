//! Platform states shared with the admin pages: who did an audited action, where a background job is.

use crate::domain::stored::stored_enum;

stored_enum! {
    /// Who did an audited action (`audit_log.actor_kind`).
    pub enum ActorKind {
        Admin = "admin",
        Staff = "staff",
        Customer = "customer",
        System = "system",
    }
}

stored_enum! {
    /// Where a background job is (`jobs.state`).
    pub enum JobState {
        Queued = "queued",
        Done = "done",
        /// Gave up after its last attempt: a dead letter for an operator.
        Dead = "dead",
        /// A dead letter an operator sent round again (a new job does the work).
        Requeued = "requeued",
    }
}

stored_enum! {
    /// Where an outgoing message is (`outbox.state`).
    pub enum OutboxState {
        Queued = "queued",
        Sent = "sent",
        Dead = "dead",
    }
}
