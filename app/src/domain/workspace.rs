//! The workspace state machine. Every state change in the database is a conditional update from one of the
//! states allowed here, so a double click or a race cannot apply an action twice.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WorkspaceState {
    /// Ordered; the provisioning job has not got a Kasm session yet.
    Provisioning,
    /// Kasm accepted the request (or a resume) and the session is starting.
    Starting,
    /// Running and billing.
    Running,
    /// A stop was requested.
    Stopping,
    /// Stopped: the disk is kept, nothing is billed.
    Stopped,
    /// Provisioning failed; the reason is stored with the workspace.
    Failed,
    /// Deletion was requested: the Kasm session is being destroyed.
    Terminating,
    /// Deleted for good. Its usage history stays.
    Terminated,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Start,
    Stop,
    Retry,
    Terminate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("this workspace is {state} and cannot be {verb} now")]
pub struct NotAllowed {
    pub state: &'static str,
    pub verb: &'static str,
}

impl WorkspaceState {
    pub const fn as_str(self) -> &'static str {
        match self {
            WorkspaceState::Provisioning => "provisioning",
            WorkspaceState::Starting => "starting",
            WorkspaceState::Running => "running",
            WorkspaceState::Stopping => "stopping",
            WorkspaceState::Stopped => "stopped",
            WorkspaceState::Failed => "failed",
            WorkspaceState::Terminating => "terminating",
            WorkspaceState::Terminated => "terminated",
        }
    }

    pub fn parse(s: &str) -> Option<WorkspaceState> {
        [
            WorkspaceState::Provisioning,
            WorkspaceState::Starting,
            WorkspaceState::Running,
            WorkspaceState::Stopping,
            WorkspaceState::Stopped,
            WorkspaceState::Failed,
            WorkspaceState::Terminating,
            WorkspaceState::Terminated,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    pub const fn label(self) -> &'static str {
        match self {
            WorkspaceState::Provisioning => "Provisioning",
            WorkspaceState::Starting => "Starting",
            WorkspaceState::Running => "Running",
            WorkspaceState::Stopping => "Stopping",
            WorkspaceState::Stopped => "Stopped",
            WorkspaceState::Failed => "Failed",
            WorkspaceState::Terminating => "Deleting",
            WorkspaceState::Terminated => "Deleted",
        }
    }

    /// States that change by themselves shortly (the page keeps watching them).
    pub const fn is_transitional(self) -> bool {
        matches!(
            self,
            WorkspaceState::Provisioning
                | WorkspaceState::Starting
                | WorkspaceState::Stopping
                | WorkspaceState::Terminating
        )
    }

    /// The state an action moves to, or why it is not allowed from here.
    pub fn apply(self, action: Action) -> Result<WorkspaceState, NotAllowed> {
        let next = match (self, action) {
            (WorkspaceState::Stopped, Action::Start) => Some(WorkspaceState::Starting),
            (WorkspaceState::Running, Action::Stop) => Some(WorkspaceState::Stopping),
            (WorkspaceState::Failed, Action::Retry) => Some(WorkspaceState::Provisioning),
            // Deleting is allowed from every resting state; a running meter closes at the request.
            (WorkspaceState::Running | WorkspaceState::Stopped | WorkspaceState::Failed, Action::Terminate) => {
                Some(WorkspaceState::Terminating)
            }
            _ => None,
        };
        next.ok_or(NotAllowed {
            state: self.as_str(),
            verb: match action {
                Action::Start => "started",
                Action::Stop => "stopped",
                Action::Retry => "retried",
                Action::Terminate => "deleted",
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_documented_transitions_are_allowed() {
        assert_eq!(WorkspaceState::Running.apply(Action::Stop), Ok(WorkspaceState::Stopping));
        assert_eq!(WorkspaceState::Stopped.apply(Action::Start), Ok(WorkspaceState::Starting));
        assert_eq!(WorkspaceState::Failed.apply(Action::Retry), Ok(WorkspaceState::Provisioning));
        assert!(WorkspaceState::Stopping.apply(Action::Stop).is_err());
        assert!(WorkspaceState::Running.apply(Action::Start).is_err());
        assert!(WorkspaceState::Provisioning.apply(Action::Stop).is_err());
        assert_eq!(WorkspaceState::Running.apply(Action::Terminate), Ok(WorkspaceState::Terminating));
        assert_eq!(WorkspaceState::Failed.apply(Action::Terminate), Ok(WorkspaceState::Terminating));
        assert!(WorkspaceState::Terminated.apply(Action::Terminate).is_err());
        assert!(WorkspaceState::Terminated.apply(Action::Start).is_err());
        assert!(WorkspaceState::Starting.apply(Action::Terminate).is_err());
        let err = WorkspaceState::Starting.apply(Action::Start).err();
        assert_eq!(err.map(|e| e.to_string()), Some("this workspace is starting and cannot be started now".into()));
    }

    #[test]
    fn states_round_trip_through_text() {
        for s in ["provisioning", "starting", "running", "stopping", "stopped", "failed", "terminating", "terminated"] {
            assert_eq!(WorkspaceState::parse(s).map(WorkspaceState::as_str), Some(s));
        }
        assert_eq!(WorkspaceState::parse("exploded"), None);
    }
}
