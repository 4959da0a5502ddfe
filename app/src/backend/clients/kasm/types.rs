//! The typed results of Kasm calls. Only the fields the app uses are kept; everything else Kasm sends is
//! ignored on purpose (the wire structs in `wire.rs` tolerate unknown and missing fields).

use std::fmt;

use super::ids::{KasmGroupId, KasmId, KasmImageId, KasmUserId};
use crate::domain::time::Timestamp;

/// A Kasm user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KasmUser {
    pub user_id: KasmUserId,
    pub username: String,
}

/// A Kasm group. A user may only launch an image that one of their groups holds ("Image Not Authorized"
/// otherwise), so a reseller keeps one group per plan and adds each customer to their plan's group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KasmGroup {
    pub group_id: KasmGroupId,
    pub name: String,
}

/// A Kasm image ("workspace" in today's UI). `get_images` lists disabled images too: check `enabled`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KasmImage {
    pub image_id: KasmImageId,
    /// The Docker image, e.g. `kasmweb/vs-code:1.16.0`. Plans map to images by this name.
    pub name: String,
    pub friendly_name: String,
    pub enabled: bool,
}

/// The answer to `request_kasm`.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestedKasm {
    pub kasm_id: KasmId,
    pub user_id: KasmUserId,
    /// Always `starting` in practice.
    pub status: KasmStatus,
    /// RELATIVE connect path as Kasm returns it (`/#/connect/kasm/...`); prepend the Kasm base URL.
    /// It embeds the session token, so treat it as a credential.
    pub kasm_url: String,
    /// Opaque; grants access to the desktop. Never log it.
    pub session_token: String,
}

impl fmt::Debug for RequestedKasm {
    // The token (and the URL carrying it) open the customer's desktop, so they stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestedKasm")
            .field("kasm_id", &self.kasm_id)
            .field("user_id", &self.user_id)
            .field("status", &self.status)
            .field("kasm_url", &"<redacted>")
            .field("session_token", &"<redacted>")
            .finish()
    }
}

/// The answer to `get_kasms` / `get_user_kasms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KasmList {
    pub kasms: Vec<KasmSession>,
    /// Kasm's clock when it answered; use it to correct for clock skew.
    pub current_time: Option<Timestamp>,
}

/// One live Kasm session, as listed by `get_kasms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KasmSession {
    pub kasm_id: KasmId,
    pub user_id: KasmUserId,
    pub image_id: KasmImageId,
    pub status: KasmStatus,
    /// When the session was assigned to the user: Kasm's own usage maths (and ours) start here.
    pub start_date: Option<Timestamp>,
    pub created_date: Option<Timestamp>,
    pub keepalive_date: Option<Timestamp>,
    pub expiration_date: Option<Timestamp>,
    /// `user.username` when Kasm includes it (`get_kasms` does).
    pub username: Option<String>,
}

/// `operational_status` of a session. Parsed from Kasm's lower-case strings; unknown values are kept.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KasmStatus {
    Requested,
    Provisioning,
    Assigned,
    Starting,
    Running,
    Pausing,
    Paused,
    Stopping,
    Stopped,
    Saving,
    /// `delete_pending`, `user_delete_pending` or `admin_delete_pending`.
    DeletePending,
    Destroying,
    Deleting,
    Other(String),
}

impl KasmStatus {
    /// Parses Kasm's spelling (case and surrounding whitespace are ignored).
    pub fn parse(raw: &str) -> Self {
        match raw.trim().to_ascii_lowercase().as_str() {
            "requested" => Self::Requested,
            "provisioning" => Self::Provisioning,
            "assigned" => Self::Assigned,
            "starting" => Self::Starting,
            "running" => Self::Running,
            "pausing" => Self::Pausing,
            "paused" => Self::Paused,
            "stopping" => Self::Stopping,
            "stopped" => Self::Stopped,
            "saving" => Self::Saving,
            "delete_pending" | "user_delete_pending" | "admin_delete_pending" => Self::DeletePending,
            "destroying" => Self::Destroying,
            "deleting" => Self::Deleting,
            _ => Self::Other(raw.trim().to_owned()),
        }
    }

    /// Kasm's canonical spelling (`delete_pending` for every delete-pending flavour).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Requested => "requested",
            Self::Provisioning => "provisioning",
            Self::Assigned => "assigned",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Pausing => "pausing",
            Self::Paused => "paused",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Saving => "saving",
            Self::DeletePending => "delete_pending",
            Self::Destroying => "destroying",
            Self::Deleting => "deleting",
            Self::Other(s) => s,
        }
    }

    /// Only `running` sessions are usable (and count against a concurrent-session licence).
    pub fn is_running(&self) -> bool {
        matches!(self, Self::Running)
    }

    /// On its way to a steady state other than "gone": being created or started, pausing, stopping, saving.
    pub fn is_transitional(&self) -> bool {
        matches!(
            self,
            Self::Requested
                | Self::Provisioning
                | Self::Assigned
                | Self::Starting
                | Self::Pausing
                | Self::Stopping
                | Self::Saving
        )
    }

    /// Being deleted (any flavour): the session will disappear from `get_kasms` shortly.
    pub fn is_gone_or_going(&self) -> bool {
        matches!(self, Self::DeletePending | Self::Destroying | Self::Deleting)
    }
}

impl fmt::Display for KasmStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer to `get_kasm_status`. Calling it ROTATES the session token (and so the connect link): use it to
/// hand a customer a fresh link, never for polling.
#[derive(Clone, PartialEq, Eq)]
pub enum KasmStatusReply {
    /// The session is running; `kasm_url` is a fresh relative connect link.
    Running { session: KasmSession, kasm_url: String, current_time: Option<Timestamp> },
    /// The session exists but is not usable yet (or any more): starting, pausing, stopped, deleting…
    /// `status` is known when Kasm said it (`operational_status`, or the top-level `status` of 1.18's
    /// answer for a session still starting); `progress` is `operational_progress` (0–100) when given;
    /// `message` is Kasm's text ("This session is currently starting.", or its `operational_message`).
    NotReady { status: Option<KasmStatus>, progress: Option<u8>, message: String },
    /// "Could not find requested Kasm.": destroyed or never existed.
    NotFound,
}

impl fmt::Debug for KasmStatusReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Running { session, current_time, .. } => f
                .debug_struct("Running")
                .field("session", session)
                .field("kasm_url", &"<redacted>")
                .field("current_time", current_time)
                .finish(),
            Self::NotReady { status, progress, message } => f
                .debug_struct("NotReady")
                .field("status", status)
                .field("progress", progress)
                .field("message", message)
                .finish(),
            Self::NotFound => f.write_str("NotFound"),
        }
    }
}

/// One accounting row from the undocumented `get_session_history` (a session that has ended).
#[derive(Clone, Debug, PartialEq)]
pub struct KasmAccountingRow {
    pub kasm_id: KasmId,
    pub user_id: Option<KasmUserId>,
    pub user_name: Option<String>,
    pub image_id: Option<KasmImageId>,
    pub image_name: Option<String>,
    pub created_date: Option<Timestamp>,
    pub start_date: Option<Timestamp>,
    /// The exact end of the session: the only reliable end time Kasm records.
    pub destroyed_date: Option<Timestamp>,
    pub destroy_reason: Option<String>,
    pub usage_hours: Option<f64>,
}

/// A page of `get_session_history`.
#[derive(Clone, Debug, PartialEq)]
pub struct KasmHistoryPage {
    pub sessions: Vec<KasmAccountingRow>,
    pub total: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_delete_pending_flavour_is_delete_pending() {
        for raw in ["delete_pending", "user_delete_pending", "admin_delete_pending", "ADMIN_DELETE_PENDING "] {
            assert_eq!(KasmStatus::parse(raw), KasmStatus::DeletePending, "{raw}");
        }
    }

    #[test]
    fn statuses_round_trip_and_unknown_ones_are_kept() {
        for s in [
            "requested",
            "provisioning",
            "assigned",
            "starting",
            "running",
            "pausing",
            "paused",
            "stopping",
            "stopped",
            "saving",
            "delete_pending",
            "destroying",
            "deleting",
        ] {
            let parsed = KasmStatus::parse(s);
            assert!(!matches!(parsed, KasmStatus::Other(_)), "{s}");
            assert_eq!(parsed.as_str(), s);
        }
        assert_eq!(KasmStatus::parse("hibernating"), KasmStatus::Other("hibernating".into()));
    }

    #[test]
    fn status_helpers_partition_the_lifecycle() {
        assert!(KasmStatus::Running.is_running());
        assert!(!KasmStatus::Starting.is_running());
        assert!(KasmStatus::Starting.is_transitional());
        assert!(KasmStatus::Stopping.is_transitional());
        assert!(!KasmStatus::Stopped.is_transitional());
        assert!(!KasmStatus::Running.is_transitional());
        assert!(KasmStatus::DeletePending.is_gone_or_going());
        assert!(KasmStatus::Deleting.is_gone_or_going());
        assert!(!KasmStatus::DeletePending.is_transitional());
        assert!(!KasmStatus::Paused.is_gone_or_going());
    }

    #[test]
    fn requested_kasm_debug_hides_the_session_token() {
        let r = RequestedKasm {
            kasm_id: KasmId::new_v4(),
            user_id: KasmUserId::new_v4(),
            status: KasmStatus::Starting,
            kasm_url: "/#/connect/kasm/a/b/tok-123".into(),
            session_token: "tok-123".into(),
        };
        assert!(!format!("{r:?}").contains("tok-123"));
    }
}
