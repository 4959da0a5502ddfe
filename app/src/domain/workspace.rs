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

/// Longest workspace name, in characters.
pub const MAX_WORKSPACE_NAME: usize = 60;

/// A workspace's name as its customer chose it: trimmed, one line, 1 to [`MAX_WORKSPACE_NAME`] characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkspaceName(String);

impl WorkspaceName {
    /// The name as typed; the error says what is allowed.
    pub fn parse(raw: &str) -> Result<WorkspaceName, String> {
        let t = raw.trim();
        if t.is_empty() {
            return Err("Give the workspace a name.".into());
        }
        if t.chars().any(char::is_control) {
            return Err("A workspace name is one line of text.".into());
        }
        let n = t.chars().count();
        if n > MAX_WORKSPACE_NAME {
            return Err(format!("A workspace name is at most {MAX_WORKSPACE_NAME} characters; this one has {n}."));
        }
        Ok(WorkspaceName(t.to_owned()))
    }

    /// The name an order gets until its customer chooses one: the plan's, numbered among the customer's
    /// workspaces of that plan ("Developer Basic 2"), so two of them are told apart at a glance.
    pub fn for_order(plan_name: &str, nth: i64) -> WorkspaceName {
        let plan: String = plan_name.trim().chars().filter(|c| !c.is_control()).take(MAX_WORKSPACE_NAME - 8).collect();
        let plan = if plan.is_empty() { "Workspace".to_owned() } else { plan };
        WorkspaceName(format!("{plan} {}", nth.clamp(1, 9_999_999)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a workspace is called on its customer's pages: its name; for one ordered before workspaces had
/// names, its plan and the start of its id.
pub fn display_name(name: &str, plan_name: &str, id: &str) -> String {
    if name.trim().is_empty() {
        format!("{plan_name} {}", id.get(..8).unwrap_or(id))
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_trimmed_line_of_at_most_sixty_characters() {
        assert_eq!(WorkspaceName::parse("  Thesis box ").map(|n| n.as_str().to_owned()), Ok("Thesis box".into()));
        assert!(WorkspaceName::parse("   ").is_err());
        assert!(WorkspaceName::parse("two\nlines").is_err());
        assert!(WorkspaceName::parse(&"é".repeat(60)).is_ok());
        let long = WorkspaceName::parse(&"é".repeat(61)).unwrap_err();
        assert!(long.contains("at most 60") && long.contains("61"), "{long}");
        assert_eq!(WorkspaceName::for_order("Developer Basic", 2).as_str(), "Developer Basic 2");
        assert!(WorkspaceName::parse(WorkspaceName::for_order(&"x".repeat(200), 9_999_999).as_str()).is_ok());
        assert_eq!(WorkspaceName::for_order(" ", 1).as_str(), "Workspace 1");
        assert_eq!(display_name("", "Developer Basic", "0123456789ab"), "Developer Basic 01234567");
        assert_eq!(display_name("Thesis box", "Developer Basic", "0123456789ab"), "Thesis box");
    }

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
