//! The simulated Kasm server's data and rules: users, groups, images, sessions that advance with time, the
//! accounting table, and one function per endpoint returning Kasm's answer (status + JSON body, quirks included).
//! Everything here is synchronous and takes "now" as an argument; `http.rs` does the I/O.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use axum::http::StatusCode;
use chrono::{DateTime, Timelike, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::clock::plus;
use super::{ExpiryAction, Fault, SimConfig};

/// Kasm's answer to one call.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Self { status: StatusCode::OK, body }
    }

    fn empty() -> Self {
        Self::ok(json!({}))
    }

    /// Kasm's favourite: HTTP 200 with an `error_message`.
    fn business(message: impl Into<String>) -> Self {
        Self::ok(json!({ "error_message": message.into() }))
    }

    pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, body: json!({ "error_message": message.into() }) }
    }

    fn missing_params() -> Self {
        Self::error(StatusCode::BAD_REQUEST, "Invalid Request: Missing required parameters")
    }
}

/// `str(datetime)` of a naive UTC datetime: `YYYY-MM-DD HH:MM:SS[.ffffff]`, the fraction absent when zero.
pub(crate) fn py_time(t: DateTime<Utc>) -> String {
    let base = t.format("%Y-%m-%d %H:%M:%S");
    match t.timestamp_subsec_micros() {
        0 => base.to_string(),
        micros => format!("{base}.{micros:06}"),
    }
}

/// Kasm keeps microseconds.
fn to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(t.timestamp_subsec_micros().min(999_999) * 1_000).unwrap_or(t)
}

fn hex(id: Uuid) -> String {
    id.simple().to_string()
}

fn dashed(id: Uuid) -> String {
    id.hyphenated().to_string()
}

/// A lifecycle phase of a simulated session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Starting,
    Running,
    Pausing,
    Paused,
    Stopping,
    Stopped,
    DeletePending,
}

impl Phase {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Pausing => "pausing",
            Self::Paused => "paused",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::DeletePending => "delete_pending",
        }
    }

    /// Counts against the concurrent-session licence.
    fn uses_licence(self) -> bool {
        matches!(self, Self::Starting | Self::Running)
    }
}

#[derive(Clone, Debug)]
struct SimUser {
    user_id: Uuid,
    username: String,
    first_name: String,
    last_name: String,
    anonymous: bool,
    disabled: bool,
    locked: bool,
    created: DateTime<Utc>,
    password_set_date: DateTime<Utc>,
}

impl SimUser {
    fn new(username: String, anonymous: bool, now: DateTime<Utc>) -> Self {
        Self {
            user_id: Uuid::new_v4(),
            username,
            first_name: String::new(),
            last_name: String::new(),
            anonymous,
            disabled: false,
            locked: false,
            created: now,
            password_set_date: now,
        }
    }
}

/// A group: grants its images to its members. "All Users" holds every user implicitly.
#[derive(Clone, Debug)]
struct SimGroup {
    group_id: Uuid,
    name: String,
    description: String,
    /// Kasm's precedence: when settings conflict, the LOWEST number wins.
    priority: i64,
    is_system: bool,
    image_ids: Vec<Uuid>,
    members: BTreeSet<Uuid>,
}

impl SimGroup {
    fn new(name: &str, description: &str, priority: i64, is_system: bool, image_ids: Vec<Uuid>) -> Self {
        Self {
            group_id: Uuid::new_v4(),
            name: name.into(),
            description: description.into(),
            priority,
            is_system,
            image_ids,
            members: BTreeSet::new(),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct SimImage {
    pub image_id: Uuid,
    pub name: String,
    pub friendly_name: String,
    pub enabled: bool,
    cores: f64,
    memory: i64,
}

#[derive(Clone, Debug)]
struct SimSession {
    kasm_id: Uuid,
    user_id: Uuid,
    image_id: Uuid,
    phase: Phase,
    /// When the current phase began (the timed transitions count from here).
    phase_since: DateTime<Utc>,
    created_date: DateTime<Utc>,
    start_date: DateTime<Utc>,
    keepalive_date: DateTime<Utc>,
    expiration_date: DateTime<Utc>,
    session_token: Uuid,
    share_id: Option<Uuid>,
    environment: BTreeMap<String, String>,
    destroy_reason: &'static str,
}

#[derive(Clone, Debug)]
struct AccountingRow {
    account_id: Uuid,
    kasm_id: Uuid,
    user_id: Uuid,
    user_name: String,
    image_id: Uuid,
    image_name: String,
    image_friendly_name: String,
    created_date: DateTime<Utc>,
    start_date: DateTime<Utc>,
    destroyed_date: DateTime<Utc>,
    destroy_reason: String,
}

/// A field that should hold an id.
enum IdField {
    Missing,
    Invalid(String),
    Id(Uuid),
}

fn id_field(body: &Map<String, Value>, key: &str) -> IdField {
    match body.get(key) {
        None | Some(Value::Null) => IdField::Missing,
        Some(Value::String(s)) if s.trim().is_empty() => IdField::Missing,
        Some(Value::String(s)) => match Uuid::try_parse(s.trim()) {
            Ok(id) => IdField::Id(id),
            Err(_) => IdField::Invalid(s.clone()),
        },
        Some(other) => IdField::Invalid(other.to_string()),
    }
}

fn str_field<'a>(body: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

/// A `user_id` inside `target_user`, as the user-management endpoints take it.
fn target_user_id(body: &Map<String, Value>) -> IdField {
    match body.get("target_user").and_then(Value::as_object) {
        Some(target) => id_field(target, "user_id"),
        None => IdField::Missing,
    }
}

pub(crate) const SIM_SERVER_HOSTNAME: &str = "kasm-sim-agent";
/// What `get_login` names when a request carried no usable `Host` header (only direct unit tests do).
const FALLBACK_HOST: &str = "localhost";
const ALL_USERS: &str = "All Users";
const SIM_SERVER_PORT: u16 = 443;

/// The whole simulated server.
pub(crate) struct SimState {
    cfg: SimConfig,
    users: Vec<SimUser>,
    groups: Vec<SimGroup>,
    images: Vec<SimImage>,
    sessions: Vec<SimSession>,
    history: Vec<AccountingRow>,
    faults: VecDeque<Fault>,
    all_users_group_id: Uuid,
    server_id: Uuid,
    /// While set, starting sessions stay starting (a test holds them to see the page say so, however
    /// slow the machine); released, the start delay applies as usual, counted from the start.
    starts_held: bool,
}

impl SimState {
    pub(crate) fn new(cfg: SimConfig) -> Self {
        const GIB: i64 = 1024 * 1024 * 1024;
        let image = |name: &str, friendly: &str, enabled: bool, cores: f64, memory: i64| SimImage {
            image_id: Uuid::new_v4(),
            name: name.into(),
            friendly_name: friendly.into(),
            enabled,
            cores,
            memory,
        };
        let images = vec![
            image("kasmweb/vs-code:1.16.0", "Developer Basic — VS Code", true, 2.0, 4 * GIB),
            image("kasmweb/developer-pro:1.16.0", "Developer Pro", true, 4.0, 8 * GIB),
            image("kasmweb/developer-enterprise:1.16.0", "Developer Enterprise", true, 8.0, 16 * GIB),
            image("kasmweb/office-basic:1.16.0", "Office Basic", true, 2.0, 4 * GIB),
            image("kasmweb/office-pro:1.16.0", "Office Pro", true, 4.0, 8 * GIB),
            image("kasmweb/office-enterprise:1.16.0", "Office Enterprise", true, 8.0, 16 * GIB),
            image("kasmweb/retired:1.14.0", "Retired Desktop", false, 2.0, 4 * GIB),
        ];
        // The reseller pattern: one group per plan (named after the catalogue's plans), holding its image.
        let plans = [
            ("EZSCALE Developer Basic", "kasmweb/vs-code:1.16.0"),
            ("EZSCALE Developer Pro", "kasmweb/developer-pro:1.16.0"),
            ("EZSCALE Developer Enterprise", "kasmweb/developer-enterprise:1.16.0"),
            ("EZSCALE Business Basic", "kasmweb/office-basic:1.16.0"),
            ("EZSCALE Business Pro", "kasmweb/office-pro:1.16.0"),
            ("EZSCALE Business Enterprise", "kasmweb/office-enterprise:1.16.0"),
        ];
        let all_users = SimGroup::new(ALL_USERS, "Default group for all users", 1000, true, Vec::new());
        let all_users_group_id = all_users.group_id;
        let mut groups = vec![all_users, SimGroup::new("Administrators", "Global administrators", 1, true, Vec::new())];
        for (plan, image_name) in plans {
            let held = images.iter().filter(|i| i.name == image_name).map(|i| i.image_id).collect();
            groups.push(SimGroup::new(plan, "Customers of this plan", 100, false, held));
        }
        Self {
            cfg,
            users: Vec::new(),
            groups,
            images,
            sessions: Vec::new(),
            history: Vec::new(),
            faults: VecDeque::new(),
            all_users_group_id,
            server_id: Uuid::new_v4(),
            starts_held: false,
        }
    }

    pub(crate) fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Holds (or releases) every session that is starting or will start. Callers apply the transitions
    /// due first (`Simulator::hold_starts` does), so a session whose delay had already passed runs.
    pub(crate) fn hold_starts(&mut self, held: bool) {
        self.starts_held = held;
    }

    // ---- time --------------------------------------------------------------------------------------------

    /// Applies every timed transition due by `now` (states advance lazily, on the next look).
    pub(crate) fn advance(&mut self, now: DateTime<Utc>) {
        let cfg = self.cfg.clone();
        let held = self.starts_held;
        let mut finished = Vec::new();
        for s in &mut self.sessions {
            loop {
                let due = |delay| plus(s.phase_since, delay);
                match s.phase {
                    Phase::Starting if !held && now >= due(cfg.start_delay) => {
                        s.phase_since = due(cfg.start_delay);
                        s.phase = Phase::Running;
                    }
                    Phase::Stopping if now >= due(cfg.stop_delay) => {
                        s.phase_since = due(cfg.stop_delay);
                        s.phase = Phase::Stopped;
                    }
                    Phase::Pausing if now >= due(cfg.stop_delay) => {
                        s.phase_since = due(cfg.stop_delay);
                        s.phase = Phase::Paused;
                    }
                    Phase::DeletePending if now >= due(cfg.destroy_delay) => {
                        finished.push((s.kasm_id, due(cfg.destroy_delay)));
                        break;
                    }
                    Phase::Running if now >= s.expiration_date => {
                        s.phase_since = s.expiration_date;
                        s.phase = match cfg.expiry_action {
                            ExpiryAction::Delete => {
                                s.destroy_reason = "keepalive_expired";
                                Phase::DeletePending
                            }
                            ExpiryAction::Pause => Phase::Pausing,
                            ExpiryAction::Stop => Phase::Stopping,
                        };
                    }
                    _ => break,
                }
            }
        }
        for (kasm_id, at) in finished {
            self.finish(kasm_id, at, None);
        }
    }

    /// Removes a session and writes its accounting row.
    fn finish(&mut self, kasm_id: Uuid, at: DateTime<Utc>, reason: Option<&str>) -> bool {
        let Some(pos) = self.sessions.iter().position(|s| s.kasm_id == kasm_id) else {
            return false;
        };
        let s = self.sessions.remove(pos);
        let image = self.images.iter().find(|i| i.image_id == s.image_id);
        self.history.push(AccountingRow {
            account_id: Uuid::new_v4(),
            kasm_id: s.kasm_id,
            user_id: s.user_id,
            user_name: self.username(s.user_id).to_owned(),
            image_id: s.image_id,
            image_name: image.map(|i| i.name.clone()).unwrap_or_default(),
            image_friendly_name: image.map(|i| i.friendly_name.clone()).unwrap_or_default(),
            created_date: s.created_date,
            start_date: s.start_date,
            destroyed_date: to_micros(at),
            destroy_reason: reason.unwrap_or(s.destroy_reason).to_owned(),
        });
        true
    }

    // ---- simulator controls ------------------------------------------------------------------------------

    pub(crate) fn push_fault(&mut self, fault: Fault) {
        self.faults.push_back(fault);
    }

    pub(crate) fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// The first queued fault aimed at `endpoint` (or at `*`), removed from the queue.
    pub(crate) fn take_fault(&mut self, endpoint: &str) -> Option<Fault> {
        let pos = self.faults.iter().position(|f| {
            let target = f.endpoint();
            target == endpoint || target == "*"
        })?;
        self.faults.remove(pos)
    }

    pub(crate) fn session_count(&self) -> usize {
        self.sessions.len()
    }

    pub(crate) fn session_status(&self, kasm_id: Uuid) -> Option<&'static str> {
        self.sessions.iter().find(|s| s.kasm_id == kasm_id).map(|s| s.phase.as_str())
    }

    pub(crate) fn image_id(&self, name: &str) -> Option<Uuid> {
        self.images.iter().find(|i| i.name == name).map(|i| i.image_id)
    }

    pub(crate) fn group_id(&self, name: &str) -> Option<Uuid> {
        self.groups.iter().find(|g| g.name == name).map(|g| g.group_id)
    }

    /// A session dying on the Kasm side: gone at once, with an accounting row.
    pub(crate) fn kill(&mut self, kasm_id: Uuid, now: DateTime<Utc>) -> bool {
        self.finish(kasm_id, now, Some("error"))
    }

    /// As if someone pressed "stop" in Kasm's own UI.
    pub(crate) fn stop_remotely(&mut self, kasm_id: Uuid, now: DateTime<Utc>) -> bool {
        match self.sessions.iter_mut().find(|s| s.kasm_id == kasm_id) {
            Some(s) if matches!(s.phase, Phase::Starting | Phase::Running | Phase::Pausing | Phase::Paused) => {
                s.phase = Phase::Stopping;
                s.phase_since = to_micros(now);
                true
            }
            _ => false,
        }
    }

    /// The control endpoint's view of the sessions.
    pub(crate) fn sessions_overview(&self) -> Value {
        Value::Array(
            self.sessions
                .iter()
                .map(|s| {
                    json!({
                        "kasm_id": hex(s.kasm_id),
                        "user_id": hex(s.user_id),
                        "username": self.username(s.user_id),
                        "image_id": hex(s.image_id),
                        "image_name": self.images.iter().find(|i| i.image_id == s.image_id).map(|i| i.name.as_str()),
                        "status": s.phase.as_str(),
                        "start_date": py_time(s.start_date),
                        "created_date": py_time(s.created_date),
                        "keepalive_date": py_time(s.keepalive_date),
                        "expiration_date": py_time(s.expiration_date),
                        "environment": s.environment,
                    })
                })
                .collect(),
        )
    }

    pub(crate) fn history_overview(&self) -> Value {
        Value::Array(self.history.iter().map(|r| self.accounting_json(r)).collect())
    }

    // ---- endpoints ---------------------------------------------------------------------------------------

    /// A call without a `Host` header (the unit tests' shorthand for [`SimState::handle_from`]).
    #[cfg(test)]
    pub(crate) fn handle(&mut self, endpoint: &str, body: &Map<String, Value>, now: DateTime<Utc>) -> Reply {
        self.handle_from(endpoint, body, now, None)
    }

    /// One API call, authenticated already. `endpoint` is the last path segment; `host` is the request's
    /// `Host` header, which Kasm uses to build absolute links.
    pub(crate) fn handle_from(
        &mut self,
        endpoint: &str,
        body: &Map<String, Value>,
        now: DateTime<Utc>,
        host: Option<&str>,
    ) -> Reply {
        let now = to_micros(now);
        self.advance(now);
        match endpoint {
            "__healthcheck" => Reply::ok(json!({ "ok": true })),
            "create_user" => self.create_user(body, now),
            "get_user" => self.get_user(body),
            "get_users" => self.get_users(),
            "update_user" => self.update_user(body, now),
            "delete_user" => self.delete_user(body, now),
            "get_login" => self.get_login(body, host.unwrap_or(FALLBACK_HOST)),
            "get_groups" => self.get_groups(),
            "add_user_group" => self.add_user_group(body),
            "remove_user_group" => self.remove_user_group(body),
            "get_images" => self.get_images(),
            "request_kasm" => self.request_kasm(body, now),
            "get_kasm_status" => self.get_kasm_status(body, now),
            "get_kasms" => self.list_kasms(None, now),
            "get_user_kasms" => match self.user_from(body, true) {
                Ok(user) => self.list_kasms(user, now),
                Err(reply) => reply,
            },
            "stop_kasm" => self.stop_or_pause(body, now, Phase::Stopping),
            "pause_kasm" => self.stop_or_pause(body, now, Phase::Pausing),
            "resume_kasm" => self.resume_kasm(body, now),
            "destroy_kasm" => self.destroy_kasm(body, now),
            "keepalive" => self.keepalive(body, now),
            "get_session_history" => self.get_session_history(body),
            _ => Reply::error(StatusCode::NOT_FOUND, "Not Found"),
        }
    }

    fn username(&self, user_id: Uuid) -> &str {
        self.users.iter().find(|u| u.user_id == user_id).map_or("", |u| u.username.as_str())
    }

    /// The acting user from `user_id` (impersonation): an unknown or malformed id is a 400, like Kasm's
    /// authentication layer. `Ok(None)` when absent and not required.
    fn user_from(&self, body: &Map<String, Value>, required: bool) -> Result<Option<Uuid>, Reply> {
        match id_field(body, "user_id") {
            IdField::Missing if required => Err(Reply::missing_params()),
            IdField::Missing => Ok(None),
            IdField::Invalid(raw) => Err(Reply::error(StatusCode::BAD_REQUEST, format!("Invalid user_id ({raw})"))),
            IdField::Id(id) if self.users.iter().any(|u| u.user_id == id) => Ok(Some(id)),
            IdField::Id(id) => Err(Reply::error(StatusCode::BAD_REQUEST, format!("Invalid user_id ({})", hex(id)))),
        }
    }

    /// `user_id` and `kasm_id`, both required; the session index if it exists.
    fn session_target(&self, body: &Map<String, Value>) -> Result<(Uuid, Uuid, Option<usize>), Reply> {
        let user = self.user_from(body, true)?.ok_or_else(Reply::missing_params)?;
        let kasm_id = match id_field(body, "kasm_id") {
            IdField::Missing => return Err(Reply::missing_params()),
            IdField::Invalid(raw) => {
                return Err(Reply::error(StatusCode::BAD_REQUEST, format!("Invalid kasm_id ({raw})")))
            }
            IdField::Id(id) => id,
        };
        let pos = self.sessions.iter().position(|s| s.kasm_id == kasm_id);
        Ok((user, kasm_id, pos))
    }

    fn user_json(&self, u: &SimUser, with_kasms: bool) -> Value {
        let mut v = json!({
            "user_id": hex(u.user_id),
            "username": u.username,
            "first_name": u.first_name,
            "last_name": u.last_name,
            "phone": "",
            "organization": "",
            "realm": "local",
            "last_session": null,
            "notes": "",
            "groups": self.groups_json_of(u.user_id),
            "disabled": u.disabled,
            "locked": u.locked,
            "anonymous": u.anonymous,
            "two_factor": false,
            "program_id": null,
            "created": py_time(u.created),
            "password_set_date": py_time(u.password_set_date),
            "city": "", "state": "", "country": "", "email": "",
            "custom_attribute_1": "", "custom_attribute_2": "", "custom_attribute_3": "",
        });
        if with_kasms {
            let kasms: Vec<Value> = self
                .sessions
                .iter()
                .filter(|s| s.user_id == u.user_id)
                .map(|s| {
                    json!({
                        "kasm_id": hex(s.kasm_id),
                        "start_date": py_time(s.start_date),
                        "keepalive_date": py_time(s.keepalive_date),
                        "expiration_date": py_time(s.expiration_date),
                        "server": { "server_id": hex(self.server_id), "hostname": SIM_SERVER_HOSTNAME, "port": SIM_SERVER_PORT },
                    })
                })
                .collect();
            v["kasms"] = Value::Array(kasms);
        }
        v
    }

    fn create_user(&mut self, body: &Map<String, Value>, now: DateTime<Utc>) -> Reply {
        let Some(target) = body.get("target_user").and_then(Value::as_object) else {
            return Reply::missing_params();
        };
        let Some(username) = str_field(target, "username") else {
            return Reply::missing_params();
        };
        if self.users.iter().any(|u| u.username.eq_ignore_ascii_case(username)) {
            return Reply::error(
                StatusCode::BAD_REQUEST,
                format!("Error creating user ({username}): (Username already exists)"),
            );
        }
        // The password is accepted and forgotten: nothing in the simulator logs in with it.
        let mut user = SimUser::new(username.to_owned(), false, now);
        user.first_name = str_field(target, "first_name").unwrap_or_default().to_owned();
        user.last_name = str_field(target, "last_name").unwrap_or_default().to_owned();
        user.disabled = target.get("disabled").and_then(Value::as_bool).unwrap_or(false);
        user.locked = target.get("locked").and_then(Value::as_bool).unwrap_or(false);
        let reply = Reply::ok(json!({ "user": self.user_json(&user, false) }));
        self.users.push(user);
        reply
    }

    fn get_user(&self, body: &Map<String, Value>) -> Reply {
        let invalid = || Reply::error(StatusCode::BAD_REQUEST, "Invalid Request");
        let Some(target) = body.get("target_user").and_then(Value::as_object) else {
            return invalid();
        };
        let found = match (id_field(target, "user_id"), str_field(target, "username")) {
            (IdField::Id(id), _) => self.users.iter().find(|u| u.user_id == id),
            (IdField::Missing, Some(name)) => self.users.iter().find(|u| u.username.eq_ignore_ascii_case(name)),
            _ => None,
        };
        match found {
            Some(u) => Reply::ok(json!({ "user": self.user_json(u, true) })),
            None => invalid(),
        }
    }

    fn get_users(&self) -> Reply {
        let users: Vec<Value> = self
            .users
            .iter()
            .map(|u| {
                let mut v = self.user_json(u, true);
                // `get_users` writes str(user.last_session): the STRING "None" when never logged in.
                v["last_session"] = Value::String("None".into());
                v
            })
            .collect();
        Reply::ok(json!({ "total": users.len(), "users": users }))
    }

    /// `update_user`. Kasm 1.15 refuses an update without `username` even when it does not change (a quirk
    /// Kasm's API documentation warns about). Fields that are absent are left alone. The password is accepted and
    /// forgotten, like at creation (Kasm's complexity rules are site settings; none are modelled).
    fn update_user(&mut self, body: &Map<String, Value>, now: DateTime<Utc>) -> Reply {
        let Some(target) = body.get("target_user").and_then(Value::as_object) else {
            return Reply::missing_params();
        };
        let user_id = match id_field(target, "user_id") {
            IdField::Missing => return Reply::missing_params(),
            IdField::Invalid(raw) => return Self::unknown_user(&raw),
            IdField::Id(id) => id,
        };
        let Some(username) = str_field(target, "username") else {
            return Reply::error(StatusCode::BAD_REQUEST, "Username is not present");
        };
        let taken = self.users.iter().any(|u| u.user_id != user_id && u.username.eq_ignore_ascii_case(username));
        let Some(pos) = self.users.iter().position(|u| u.user_id == user_id) else {
            return Self::unknown_user(&hex(user_id));
        };
        if taken {
            // [INFERRED] wording, patterned on create_user's.
            return Reply::error(
                StatusCode::BAD_REQUEST,
                format!("Error updating user ({username}): (Username already exists)"),
            );
        }
        let text = |key: &str| target.get(key).and_then(Value::as_str).map(|s| s.trim().to_owned());
        let (first_name, last_name) = (text("first_name"), text("last_name"));
        let password_changed = text("password").is_some_and(|p| !p.is_empty());
        let u = &mut self.users[pos];
        u.username = username.to_owned();
        if let Some(first_name) = first_name {
            u.first_name = first_name;
        }
        if let Some(last_name) = last_name {
            u.last_name = last_name;
        }
        if let Some(disabled) = target.get("disabled").and_then(Value::as_bool) {
            u.disabled = disabled;
        }
        if let Some(locked) = target.get("locked").and_then(Value::as_bool) {
            u.locked = locked;
        }
        if password_changed {
            u.password_set_date = now;
        }
        let u = &self.users[pos];
        Reply::ok(json!({ "user": self.user_json(u, false) }))
    }

    /// `delete_user`: refused while the user has any session unless `force`, which destroys them first
    /// (accounting reason `admin_destroyed`; a session already being deleted keeps its own reason).
    fn delete_user(&mut self, body: &Map<String, Value>, now: DateTime<Utc>) -> Reply {
        let user_id = match target_user_id(body) {
            IdField::Missing => return Reply::missing_params(),
            IdField::Invalid(raw) => return Self::unknown_user(&raw),
            IdField::Id(id) => id,
        };
        if !self.users.iter().any(|u| u.user_id == user_id) {
            return Self::unknown_user(&hex(user_id));
        }
        let force = body.get("force").and_then(Value::as_bool).unwrap_or(false);
        let theirs: Vec<(Uuid, Phase)> =
            self.sessions.iter().filter(|s| s.user_id == user_id).map(|s| (s.kasm_id, s.phase)).collect();
        if !theirs.is_empty() && !force {
            return Reply::error(
                StatusCode::BAD_REQUEST,
                format!("Users contains ({}) kasms and 'force' option not set to True", theirs.len()),
            );
        }
        self.remove_user(user_id, now);
        Reply::empty()
    }

    /// Deletes a user as a forced `delete_user` does: their sessions are destroyed first (accounting reason
    /// `admin_destroyed`; a session already being deleted keeps its own), then the user and memberships go.
    /// False when there is no such user.
    pub(crate) fn remove_user(&mut self, user_id: Uuid, now: DateTime<Utc>) -> bool {
        if !self.users.iter().any(|u| u.user_id == user_id) {
            return false;
        }
        let theirs: Vec<(Uuid, Phase)> =
            self.sessions.iter().filter(|s| s.user_id == user_id).map(|s| (s.kasm_id, s.phase)).collect();
        // Sessions first: their accounting rows copy the username.
        for (kasm_id, phase) in theirs {
            let reason = (phase != Phase::DeletePending).then_some("admin_destroyed");
            self.finish(kasm_id, now, reason);
        }
        self.users.retain(|u| u.user_id != user_id);
        for g in &mut self.groups {
            g.members.remove(&user_id);
        }
        true
    }

    pub(crate) fn has_user(&self, user_id: Uuid) -> bool {
        self.users.iter().any(|u| u.user_id == user_id)
    }

    /// `get_login`: an absolute login link built from the request's `Host` header (plain http: the simulator
    /// serves no TLS). Each call mints a new token.
    fn get_login(&self, body: &Map<String, Value>, host: &str) -> Reply {
        let no_user = |id: &str| Reply::error(StatusCode::BAD_REQUEST, format!("No user found with id: ({id})"));
        let user_id = match target_user_id(body) {
            IdField::Missing => return Reply::missing_params(),
            IdField::Invalid(raw) => return no_user(&raw),
            IdField::Id(id) => id,
        };
        if !self.users.iter().any(|u| u.user_id == user_id) {
            return no_user(&hex(user_id));
        }
        let token = dashed(Uuid::new_v4());
        Reply::ok(json!({ "url": format!("http://{host}/#/connect/login/dash/{}/{token}", hex(user_id)) }))
    }

    fn unknown_user(id: &str) -> Reply {
        Reply::error(StatusCode::BAD_REQUEST, format!("Unknown user ({id})"))
    }

    fn is_member(&self, user_id: Uuid, g: &SimGroup) -> bool {
        g.group_id == self.all_users_group_id || g.members.contains(&user_id)
    }

    /// Kasm's rule: an image is launchable through a group of the user's that holds it.
    fn may_launch(&self, user_id: Uuid, image_id: Uuid) -> bool {
        self.groups.iter().any(|g| g.image_ids.contains(&image_id) && self.is_member(user_id, g))
    }

    /// The `groups` list inside a user object.
    fn groups_json_of(&self, user_id: Uuid) -> Value {
        Value::Array(
            self.groups
                .iter()
                .filter(|g| self.is_member(user_id, g))
                .map(|g| json!({ "name": g.name, "group_id": hex(g.group_id) }))
                .collect(),
        )
    }

    /// `get_groups` (undocumented admin endpoint). The contract is silent on the shape; this follows the
    /// admin UI's group objects: `{"groups": [{group_id, name, description, priority, is_system, …}]}`.
    fn get_groups(&self) -> Reply {
        let groups: Vec<Value> = self
            .groups
            .iter()
            .map(|g| {
                json!({
                    "group_id": hex(g.group_id),
                    "name": g.name,
                    "description": g.description,
                    "priority": g.priority,
                    "is_system": g.is_system,
                    "group_metadata": {},
                })
            })
            .collect();
        Reply::ok(json!({ "groups": groups }))
    }

    /// `target_user.user_id` and `target_group.group_id` of a membership call: the user and the group's index.
    fn membership_target(&self, body: &Map<String, Value>) -> Result<(Uuid, usize), Reply> {
        let group_id = match body.get("target_group").and_then(Value::as_object) {
            Some(target) => id_field(target, "group_id"),
            None => IdField::Missing,
        };
        let (user_id, group_id) = match (target_user_id(body), group_id) {
            (IdField::Id(u), IdField::Id(g)) => (u, g),
            (IdField::Missing, _) | (_, IdField::Missing) => return Err(Reply::missing_params()),
            (IdField::Invalid(raw), _) => return Err(Self::unknown_user(&raw)),
            // [INFERRED] wording, patterned on "Unknown user".
            (_, IdField::Invalid(raw)) => {
                return Err(Reply::error(StatusCode::BAD_REQUEST, format!("Unknown group ({raw})")))
            }
        };
        if !self.users.iter().any(|u| u.user_id == user_id) {
            return Err(Self::unknown_user(&hex(user_id)));
        }
        match self.groups.iter().position(|g| g.group_id == group_id) {
            Some(pos) => Ok((user_id, pos)),
            None => Err(Reply::error(StatusCode::BAD_REQUEST, format!("Unknown group ({})", hex(group_id)))),
        }
    }

    /// `add_user_group`: `{}`; adding a member again (or to "All Users") changes nothing.
    fn add_user_group(&mut self, body: &Map<String, Value>) -> Reply {
        let (user_id, pos) = match self.membership_target(body) {
            Ok(t) => t,
            Err(reply) => return reply,
        };
        if self.groups[pos].group_id != self.all_users_group_id {
            self.groups[pos].members.insert(user_id);
        }
        Reply::empty()
    }

    /// `remove_user_group`: `{}`; removing a non-member changes nothing. "All Users" holds every user, so
    /// leaving it is refused ([INFERRED]: the contract does not say what Kasm answers).
    fn remove_user_group(&mut self, body: &Map<String, Value>) -> Reply {
        let (user_id, pos) = match self.membership_target(body) {
            Ok(t) => t,
            Err(reply) => return reply,
        };
        if self.groups[pos].group_id == self.all_users_group_id {
            return Reply::error(StatusCode::BAD_REQUEST, "Users cannot be removed from the All Users group");
        }
        self.groups[pos].members.remove(&user_id);
        Reply::empty()
    }

    fn image_json(i: &SimImage) -> Value {
        json!({
            "image_id": hex(i.image_id),
            "name": i.name,
            "friendly_name": i.friendly_name,
            "description": format!("{} (simulated)", i.friendly_name),
            "enabled": i.enabled,
            "available": i.enabled,
            "cores": i.cores,
            "memory": i.memory,
            "x_res": 1280,
            "y_res": 720,
            "image_src": "img/thumbnails/desktop.png",
            "categories": ["Development"],
            "default_category": "Development",
            "session_time_limit": null,
            "image_type": "Container",
            "hidden": false,
            "zone_id": null,
            "zone_name": null,
            "restrict_to_zone": false,
            "restrict_to_server": false,
            "server_id": null,
            "server_pool_id": null,
            "run_config": {},
            "exec_config": {},
            "volume_mappings": {},
            "persistent_profile_path": null,
            "persistent_profile_config": {},
            "imageAttributes": [],
            "launch_config": {},
            "link_url": null,
            "require_gpu": false,
            "gpu_count": 0,
            "server": {},
            "server_pool": {},
        })
    }

    fn get_images(&self) -> Reply {
        // Like 1.15: every image, disabled ones included.
        Reply::ok(json!({ "images": self.images.iter().map(Self::image_json).collect::<Vec<_>>() }))
    }

    fn kasm_url(s: &SimSession) -> String {
        format!("/#/connect/kasm/{}/{}/{}", dashed(s.kasm_id), hex(s.user_id), dashed(s.session_token))
    }

    fn request_kasm(&mut self, body: &Map<String, Value>, now: DateTime<Utc>) -> Reply {
        let user_id = match self.user_from(body, false) {
            Ok(Some(id)) => id,
            // No user_id: Kasm creates an anonymous user.
            Ok(None) => {
                let mut user = SimUser::new(String::new(), true, now);
                user.username = format!("anon-{}", &hex(user.user_id)[..8]);
                let id = user.user_id;
                self.users.push(user);
                id
            }
            Err(reply) => return reply,
        };
        let image = match id_field(body, "image_id") {
            IdField::Id(id) => self.images.iter().find(|i| i.image_id == id),
            // An unknown `image_name` or a bad id leaves Kasm looking for a default image.
            IdField::Missing | IdField::Invalid(_) => None,
        };
        let Some(image) = image else {
            return Reply::business("No Default Image Found");
        };
        if !image.enabled {
            return Reply::business("Image Not Authorized");
        }
        let image_id = image.image_id;
        if self.cfg.enforce_image_groups && !self.may_launch(user_id, image_id) {
            return Reply::business("Image Not Authorized");
        }
        let username = self.username(user_id).to_owned();
        let mine = self.sessions.iter().filter(|s| s.user_id == user_id && s.phase != Phase::DeletePending).count();
        if self.cfg.max_kasms_per_user == 0 || mine >= self.cfg.max_kasms_per_user {
            return Reply::business(format!("Kasm limit exceeded for user: ({username})"));
        }
        if self.licensed_in_use() >= self.cfg.license_cap {
            return Reply::business("Per concurrent session license limit exceeded. Unable to create session");
        }
        let environment: BTreeMap<String, String> = body
            .get("environment")
            .and_then(Value::as_object)
            .map(|env| {
                env.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned))).collect()
            })
            .unwrap_or_default();
        let sharing = body.get("enable_sharing").and_then(Value::as_bool).unwrap_or(false);
        let session = SimSession {
            kasm_id: Uuid::new_v4(),
            user_id,
            image_id,
            phase: Phase::Starting,
            phase_since: now,
            created_date: now,
            start_date: now,
            keepalive_date: now,
            expiration_date: to_micros(plus(now, self.cfg.keepalive_expiration)),
            session_token: Uuid::new_v4(),
            share_id: sharing.then(Uuid::new_v4),
            environment,
            destroy_reason: "user_destroyed",
        };
        let reply = Reply::ok(json!({
            // The quirk: a DASHED kasm_id next to an undashed user_id.
            "kasm_id": dashed(session.kasm_id),
            "status": "starting",
            "user_id": hex(user_id),
            "username": username,
            "session_token": dashed(session.session_token),
            "kasm_url": Self::kasm_url(&session),
            "share_id": session.share_id.map(hex),
        }));
        self.sessions.push(session);
        reply
    }

    fn licensed_in_use(&self) -> usize {
        self.sessions.iter().filter(|s| s.phase.uses_licence()).count()
    }

    fn progress(&self, s: &SimSession, now: DateTime<Utc>) -> i64 {
        match s.phase {
            Phase::Starting => {
                let total = i64::try_from(self.cfg.start_delay.as_millis()).unwrap_or(i64::MAX).max(1);
                let done = (now - s.phase_since).num_milliseconds().clamp(0, total);
                done.saturating_mul(100) / total
            }
            _ => 100,
        }
    }

    fn operational_message(phase: Phase) -> &'static str {
        match phase {
            Phase::Starting => "Starting the session",
            Phase::Running => "Session is running",
            Phase::Pausing => "Pausing the session",
            Phase::Paused => "Session is paused",
            Phase::Stopping => "Stopping the session",
            Phase::Stopped => "Session is stopped",
            Phase::DeletePending => "Session is scheduled for deletion",
        }
    }

    /// The "normalized kasm" object of `get_kasm_status` / `get_kasms`.
    fn session_json(&self, s: &SimSession, now: DateTime<Utc>, for_list: bool) -> Value {
        let image = self.images.iter().find(|i| i.image_id == s.image_id);
        let mut v = json!({
            "kasm_id": hex(s.kasm_id),
            "user_id": hex(s.user_id),
            "image_id": hex(s.image_id),
            "operational_status": s.phase.as_str(),
            "operational_message": Self::operational_message(s.phase),
            "operational_progress": self.progress(s, now),
            "start_date": py_time(s.start_date),
            "created_date": py_time(s.created_date),
            "keepalive_date": py_time(s.keepalive_date),
            "expiration_date": py_time(s.expiration_date),
            "container_id": format!("{}{}", hex(s.kasm_id), hex(s.session_token)),
            "container_ip": "172.18.0.10",
            "server_id": hex(self.server_id),
            "host": "127.0.0.1",
            "hostname": SIM_SERVER_HOSTNAME,
            "port": SIM_SERVER_PORT,
            "cores": image.map_or(2.0, |i| i.cores),
            "memory": image.map_or(0, |i| i.memory),
            "share_id": s.share_id.map(hex),
            "token": "",
            "view_only_token": "",
            "point_of_presence": null,
            "docker_network": "kasm_default_network",
            "is_persistent_profile": false,
            "persistent_profile_mode": null,
            "port_map": {
                "vnc": { "port": 6901, "path": format!("desktop/{}/vnc", hex(s.kasm_id)) },
                "audio": { "port": 4901, "path": format!("desktop/{}/audio", hex(s.kasm_id)) },
                "uploads": { "port": 4902, "path": format!("desktop/{}/uploads", hex(s.kasm_id)) },
            },
            "image": image.map(|i| json!({
                "image_id": hex(i.image_id),
                "name": i.name,
                "friendly_name": i.friendly_name,
                "image_src": "img/thumbnails/desktop.png",
                "session_time_limit": null,
                "categories": ["Development"],
                "default_category": "Development",
                "image_type": "Container",
            })),
            "client_settings": {
                "allow_kasm_audio": true,
                "idle_disconnect": 20.0,
                "allow_kasm_clipboard_down": true,
                "allow_kasm_clipboard_up": true,
                "allow_kasm_downloads": true,
                "allow_kasm_uploads": true,
                "allow_kasm_sharing": false,
            },
        });
        if for_list {
            v["user"] = json!({ "username": self.username(s.user_id) });
            v["server"] = json!({
                "hostname": SIM_SERVER_HOSTNAME,
                "port": SIM_SERVER_PORT,
                "provider": "docker",
                "zone_name": "default",
            });
        }
        v
    }

    fn list_kasms(&self, user: Option<Uuid>, now: DateTime<Utc>) -> Reply {
        let kasms: Vec<Value> = self
            .sessions
            .iter()
            .filter(|s| user.is_none_or(|u| s.user_id == u))
            .map(|s| self.session_json(s, now, true))
            .collect();
        Reply::ok(json!({ "kasms": kasms, "current_time": py_time(now) }))
    }

    fn get_kasm_status(&mut self, body: &Map<String, Value>, now: DateTime<Utc>) -> Reply {
        let (user, _, pos) = match self.session_target(body) {
            Ok(t) => t,
            Err(reply) => return reply,
        };
        let Some(pos) = pos else {
            return Reply::business("Could not find requested Kasm.");
        };
        if self.sessions[pos].user_id != user {
            return Reply::business("Access Denied");
        }
        let phase = self.sessions[pos].phase;
        if phase == Phase::Starting {
            // Kasm 1.18's answer for a session still starting: no `kasm` object and no error, the state at
            // the top level (`status` is the field other Kasm clients read).
            let s = &self.sessions[pos];
            return Reply::ok(json!({
                "kasm_id": hex(s.kasm_id),
                "status": phase.as_str(),
                "operational_status": phase.as_str(),
                "operational_message": Self::operational_message(phase),
                "operational_progress": self.progress(s, now),
                "current_time": py_time(now),
            }));
        }
        let not_ready = match phase {
            Phase::Running | Phase::Starting => None,
            Phase::Pausing => Some("This session is currently scheduled to be paused."),
            Phase::Paused => Some("This session is currently paused."),
            Phase::Stopping => Some("This session is currently scheduled to be stopped."),
            Phase::Stopped => Some("This session is currently stopped."),
            Phase::DeletePending => Some("Kasm is currently scheduled to be deleted."),
        };
        if let Some(message) = not_ready {
            let s = &self.sessions[pos];
            return Reply::ok(json!({
                "error_message": message,
                "operational_status": phase.as_str(),
                "operational_message": Self::operational_message(phase),
                "operational_progress": self.progress(s, now),
                "current_time": py_time(now),
            }));
        }
        // Every successful status call mints a new token, invalidating the previous link.
        self.sessions[pos].session_token = Uuid::new_v4();
        let s = &self.sessions[pos];
        Reply::ok(json!({
            "current_time": py_time(now),
            "kasm_url": Self::kasm_url(s),
            "kasm": self.session_json(s, now, false),
        }))
    }

    fn stop_or_pause(&mut self, body: &Map<String, Value>, now: DateTime<Utc>, to: Phase) -> Reply {
        let (user, kasm_id, pos) = match self.session_target(body) {
            Ok(t) => t,
            Err(reply) => return reply,
        };
        let Some(pos) = pos else {
            return Reply::error(StatusCode::BAD_REQUEST, format!("Invalid kasm_id ({})", hex(kasm_id)));
        };
        let s = &mut self.sessions[pos];
        if s.user_id != user {
            return Reply::business("Access Denied");
        }
        let (allowed, verb) = match to {
            Phase::Stopping => (matches!(s.phase, Phase::Running | Phase::Paused), "stopped"),
            _ => (s.phase == Phase::Running, "paused"),
        };
        if !allowed {
            return Reply::business(format!("Session is not in a valid state to be {verb}"));
        }
        s.phase = to;
        s.phase_since = now;
        Reply::empty()
    }

    fn resume_kasm(&mut self, body: &Map<String, Value>, now: DateTime<Utc>) -> Reply {
        let (user, kasm_id, pos) = match self.session_target(body) {
            Ok(t) => t,
            Err(reply) => return reply,
        };
        let Some(pos) = pos else {
            return Reply::error(StatusCode::BAD_REQUEST, format!("Invalid kasm_id ({})", hex(kasm_id)));
        };
        if self.sessions[pos].user_id != user {
            return Reply::business("Access Denied");
        }
        let phase = self.sessions[pos].phase;
        if !matches!(phase, Phase::Stopped | Phase::Paused) {
            return Reply::business(format!(
                "Session ({}) is in status ({}) and cannot be resumed",
                hex(kasm_id),
                phase.as_str()
            ));
        }
        if self.licensed_in_use() >= self.cfg.license_cap {
            return Reply::business("Per concurrent session license limit exceeded. Unable to resume Session");
        }
        let s = &mut self.sessions[pos];
        s.phase = Phase::Starting;
        s.phase_since = now;
        Reply::empty()
    }

    fn destroy_kasm(&mut self, body: &Map<String, Value>, now: DateTime<Utc>) -> Reply {
        let (user, kasm_id, pos) = match self.session_target(body) {
            Ok(t) => t,
            Err(reply) => return reply,
        };
        let Some(pos) = pos else {
            return Reply::business(format!("No session found with kasm_id ({})", hex(kasm_id)));
        };
        let s = &mut self.sessions[pos];
        if s.user_id != user {
            return Reply::business("Unauthorized attempt to delete session");
        }
        if s.phase != Phase::DeletePending {
            s.phase = Phase::DeletePending;
            s.phase_since = now;
            s.destroy_reason = "user_destroyed";
        }
        Reply::empty()
    }

    fn keepalive(&mut self, body: &Map<String, Value>, now: DateTime<Utc>) -> Reply {
        let kasm_id = match id_field(body, "kasm_id") {
            IdField::Id(id) => id,
            IdField::Missing => return Reply::missing_params(),
            IdField::Invalid(raw) => return Reply::error(StatusCode::BAD_REQUEST, format!("Invalid kasm_id ({raw})")),
        };
        let expiry = self.cfg.keepalive_expiration;
        let Some(s) = self.sessions.iter_mut().find(|s| s.kasm_id == kasm_id) else {
            return Reply::error(StatusCode::BAD_REQUEST, format!("Invalid kasm_id ({})", hex(kasm_id)));
        };
        let refused = match s.phase {
            Phase::DeletePending => Some("deleted"),
            Phase::Pausing => Some("paused"),
            Phase::Stopping => Some("stopped"),
            _ => None,
        };
        if let Some(what) = refused {
            return Reply::business(format!(
                "Kasm is currently scheduled to be {what}. Can not honor keepalive request"
            ));
        }
        s.keepalive_date = now;
        s.expiration_date = to_micros(plus(now, expiry));
        Reply::ok(json!({ "usage_reached": false }))
    }

    fn accounting_json(&self, r: &AccountingRow) -> Value {
        let usage_ms = (r.destroyed_date - r.start_date).num_milliseconds().max(0);
        // Rounded to 4 places by integer maths, then shown as the float Kasm uses.
        let usage_hours = ((usage_ms * 10_000 + 1_800_000) / 3_600_000) as f64 / 10_000.0;
        json!({
            "account_id": hex(r.account_id),
            "kasm_id": hex(r.kasm_id),
            "user_id": hex(r.user_id),
            "user_name": r.user_name,
            "image_id": hex(r.image_id),
            "image_name": r.image_name,
            "image_friendly_name": r.image_friendly_name,
            "image_src": "img/thumbnails/desktop.png",
            "created_date": py_time(r.created_date),
            "start_date": py_time(r.start_date),
            "destroyed_date": py_time(r.destroyed_date),
            "destroy_reason": r.destroy_reason,
            "group_ids": [hex(self.all_users_group_id)],
            "usage_hours": usage_hours,
            "cast_config_id": null,
            "staging_config_id": null,
            "user_ip": "127.0.0.1",
            "zone_id": null,
            "zone_name": "default",
            "server_id": hex(self.server_id),
            "server_hostname": SIM_SERVER_HOSTNAME,
        })
    }

    fn get_session_history(&self, body: &Map<String, Value>) -> Reply {
        let page = body.get("page").and_then(Value::as_u64).unwrap_or(1).max(1);
        let page_size = body.get("page_size").and_then(Value::as_u64).unwrap_or(20).clamp(1, 1000);
        let filters: Vec<(String, String)> = body
            .get("filters")
            .and_then(Value::as_array)
            .map(|fs| {
                fs.iter()
                    .filter_map(|f| {
                        let id = f.get("id")?.as_str()?.to_owned();
                        let value = f.get("value")?.as_str()?.trim().to_owned();
                        Some((id, value))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let same_id = |value: &str, id: Uuid| Uuid::try_parse(value).is_ok_and(|v| v == id);
        let mut rows: Vec<&AccountingRow> = self
            .history
            .iter()
            .filter(|r| {
                filters.iter().all(|(id, value)| match id.as_str() {
                    "kasm_id" => same_id(value, r.kasm_id),
                    "user_id" => same_id(value, r.user_id),
                    "user_name" | "username" => r.user_name.eq_ignore_ascii_case(value),
                    "image_name" => &r.image_name == value,
                    "image_friendly_name" => &r.image_friendly_name == value,
                    _ => true,
                })
            })
            .collect();
        rows.sort_by_key(|r| r.destroyed_date);
        if body.get("sort_direction").and_then(Value::as_str).is_none_or(|d| !d.eq_ignore_ascii_case("asc")) {
            rows.reverse();
        }
        let total = rows.len();
        let skip = usize::try_from((page - 1).saturating_mul(page_size)).unwrap_or(usize::MAX);
        let take = usize::try_from(page_size).unwrap_or(usize::MAX);
        let sessions: Vec<Value> = rows.into_iter().skip(skip).take(take).map(|r| self.accounting_json(r)).collect();
        Reply::ok(json!({ "sessions": sessions, "total": total, "page": page }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;

    use super::*;

    fn cfg() -> SimConfig {
        SimConfig {
            start_delay: Duration::from_secs(2),
            stop_delay: Duration::from_secs(1),
            destroy_delay: Duration::from_secs(1),
            max_kasms_per_user: 2,
            license_cap: 3,
            keepalive_expiration: Duration::from_secs(3600),
            ..SimConfig::default()
        }
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap()
    }

    fn secs(n: i64) -> DateTime<Utc> {
        t0() + chrono::TimeDelta::seconds(n)
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    struct World {
        st: SimState,
        user: String,
        image: String,
    }

    fn world() -> World {
        let mut st = SimState::new(cfg());
        let r = st.handle("create_user", &obj(json!({"target_user": {"username": "alice"}})), t0());
        let user = r.body["user"]["user_id"].as_str().unwrap().to_owned();
        let image = hex(st.image_id("kasmweb/vs-code:1.16.0").unwrap());
        World { st, user, image }
    }

    impl World {
        fn request(&mut self, at: DateTime<Utc>) -> Reply {
            let body = obj(json!({"user_id": self.user, "image_id": self.image, "environment": {"WS": "1"}}));
            self.st.handle("request_kasm", &body, at)
        }

        fn act(&mut self, endpoint: &str, kasm_id: &str, at: DateTime<Utc>) -> Reply {
            self.st.handle(endpoint, &obj(json!({"user_id": self.user, "kasm_id": kasm_id})), at)
        }

        fn status_of(&mut self, kasm_id: &str, at: DateTime<Utc>) -> Option<String> {
            let r = self.st.handle("get_kasms", &Map::new(), at);
            let id = Uuid::try_parse(kasm_id).unwrap();
            r.body["kasms"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| Uuid::try_parse(k["kasm_id"].as_str().unwrap()).unwrap() == id)
                .map(|k| k["operational_status"].as_str().unwrap().to_owned())
        }
    }

    #[test]
    fn python_str_datetime_drops_a_zero_fraction() {
        assert_eq!(py_time(t0()), "2024-05-06 07:08:09");
        let t = t0() + chrono::TimeDelta::microseconds(1_500);
        assert_eq!(py_time(t), "2024-05-06 07:08:09.001500");
    }

    #[test]
    fn sessions_start_then_run_after_the_start_delay() {
        let mut w = world();
        let r = w.request(t0());
        assert_eq!(r.status, StatusCode::OK);
        let kasm_id = r.body["kasm_id"].as_str().unwrap().to_owned();
        assert!(kasm_id.contains('-'), "request_kasm answers a dashed kasm_id");
        assert!(!r.body["user_id"].as_str().unwrap().contains('-'));
        assert_eq!(w.status_of(&kasm_id, secs(1)).as_deref(), Some("starting"));
        assert_eq!(w.status_of(&kasm_id, secs(2)).as_deref(), Some("running"));
    }

    #[test]
    fn held_starts_stay_starting_until_released() {
        let mut w = world();
        w.st.hold_starts(true);
        let kasm_id = w.request(t0()).body["kasm_id"].as_str().unwrap().to_owned();
        assert_eq!(w.status_of(&kasm_id, secs(60)).as_deref(), Some("starting"));
        w.st.hold_starts(false);
        // Released: the start delay counts from the start, long passed.
        assert_eq!(w.status_of(&kasm_id, secs(61)).as_deref(), Some("running"));
        // Not held: the next one starts after the delay as before.
        let other = w.request(secs(62)).body["kasm_id"].as_str().unwrap().to_owned();
        assert_eq!(w.status_of(&other, secs(63)).as_deref(), Some("starting"));
        assert_eq!(w.status_of(&other, secs(64)).as_deref(), Some("running"));
    }

    #[test]
    fn stop_resume_and_destroy_follow_the_state_rules() {
        let mut w = world();
        let kasm_id = w.request(t0()).body["kasm_id"].as_str().unwrap().to_owned();
        // Cannot resume a starting session, nor stop it.
        let r = w.act("resume_kasm", &kasm_id, secs(1));
        assert!(r.body["error_message"].as_str().unwrap().contains("cannot be resumed"));
        let r = w.act("stop_kasm", &kasm_id, secs(1));
        assert_eq!(r.body["error_message"], "Session is not in a valid state to be stopped");
        // Running -> stopping -> stopped.
        assert_eq!(w.act("stop_kasm", &kasm_id, secs(3)).body, json!({}));
        assert_eq!(w.status_of(&kasm_id, secs(3)).as_deref(), Some("stopping"));
        assert_eq!(w.status_of(&kasm_id, secs(4)).as_deref(), Some("stopped"));
        // Resume: starting, then running after the start delay.
        assert_eq!(w.act("resume_kasm", &kasm_id, secs(5)).body, json!({}));
        assert_eq!(w.status_of(&kasm_id, secs(6)).as_deref(), Some("starting"));
        assert_eq!(w.status_of(&kasm_id, secs(7)).as_deref(), Some("running"));
        // Destroy: delete_pending, then gone with an accounting row ending at the delay.
        assert_eq!(w.act("destroy_kasm", &kasm_id, secs(10)).body, json!({}));
        assert_eq!(w.status_of(&kasm_id, secs(10)).as_deref(), Some("delete_pending"));
        assert_eq!(w.act("destroy_kasm", &kasm_id, secs(10)).body, json!({}));
        assert_eq!(w.status_of(&kasm_id, secs(11)), None);
        let r = w.act("destroy_kasm", &kasm_id, secs(12));
        assert!(r.body["error_message"].as_str().unwrap().starts_with("No session found with kasm_id"));
        let h = w.st.handle("get_session_history", &Map::new(), secs(12));
        assert_eq!(h.body["total"], 1);
        let row = &h.body["sessions"][0];
        assert_eq!(row["start_date"], py_time(t0()));
        assert_eq!(row["destroyed_date"], py_time(secs(11)));
        assert_eq!(row["destroy_reason"], "user_destroyed");
        assert!((row["usage_hours"].as_f64().unwrap() - 11.0 / 3600.0).abs() < 0.0001);
    }

    #[test]
    fn per_user_cap_counts_stopped_sessions_but_not_deleting_ones() {
        let mut w = world();
        let a = w.request(t0()).body["kasm_id"].as_str().unwrap().to_owned();
        w.request(t0());
        let r = w.request(t0());
        assert_eq!(r.body["error_message"], "Kasm limit exceeded for user: (alice)");
        w.act("stop_kasm", &a, secs(3));
        assert!(w.request(secs(5)).body["error_message"].is_string(), "a stopped session still counts");
        w.act("destroy_kasm", &a, secs(5));
        assert!(w.request(secs(5)).body.get("error_message").is_none());
    }

    #[test]
    fn licence_cap_counts_only_starting_and_running_sessions() {
        let mut st = SimState::new(cfg());
        let image = hex(st.image_id("kasmweb/office-pro:1.16.0").unwrap());
        let mut kasms = Vec::new();
        for n in 0..4 {
            let r = st.handle("create_user", &obj(json!({"target_user": {"username": format!("u{n}")}})), t0());
            let user = r.body["user"]["user_id"].as_str().unwrap().to_owned();
            let r = st.handle("request_kasm", &obj(json!({"user_id": user, "image_id": image})), t0());
            kasms.push((user, r));
        }
        assert_eq!(
            kasms[3].1.body["error_message"],
            "Per concurrent session license limit exceeded. Unable to create session"
        );
        // Stopping one frees its slot (once stopping begins it no longer runs).
        let (user, first) = (&kasms[0].0, kasms[0].1.body["kasm_id"].as_str().unwrap());
        st.handle("stop_kasm", &obj(json!({"user_id": user, "kasm_id": first})), secs(3));
        let r = st.handle("request_kasm", &obj(json!({"user_id": kasms[3].0, "image_id": image})), secs(4));
        assert!(r.body.get("error_message").is_none(), "{:?}", r.body);
        // …and now resuming the stopped one is refused.
        let r = st.handle("resume_kasm", &obj(json!({"user_id": user, "kasm_id": first})), secs(5));
        assert_eq!(r.body["error_message"], "Per concurrent session license limit exceeded. Unable to resume Session");
    }

    #[test]
    fn images_unknown_disabled_and_missing_are_refused_with_200() {
        let mut w = world();
        w.image = hex(w.st.image_id("kasmweb/retired:1.14.0").unwrap());
        let r = w.request(t0());
        assert_eq!((r.status, r.body["error_message"].as_str()), (StatusCode::OK, Some("Image Not Authorized")));
        w.image = hex(Uuid::new_v4());
        assert_eq!(w.request(t0()).body["error_message"], "No Default Image Found");
        let r = w.st.handle("request_kasm", &obj(json!({"user_id": w.user})), t0());
        assert_eq!(r.body["error_message"], "No Default Image Found");
    }

    #[test]
    fn unknown_users_are_400s() {
        let mut w = world();
        w.user = hex(Uuid::new_v4());
        let r = w.request(t0());
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.body["error_message"].as_str().unwrap().starts_with("Invalid user_id ("));
        let r = w.st.handle("get_user", &obj(json!({"target_user": {"username": "nobody"}})), t0());
        assert_eq!((r.status, r.body["error_message"].as_str()), (StatusCode::BAD_REQUEST, Some("Invalid Request")));
        let r = w.st.handle("create_user", &obj(json!({"target_user": {"username": "ALICE"}})), t0());
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn ids_are_accepted_in_either_spelling() {
        let mut w = world();
        let kasm_id = w.request(t0()).body["kasm_id"].as_str().unwrap().to_owned();
        let undashed = kasm_id.replace('-', "");
        w.user = Uuid::try_parse(&w.user).unwrap().hyphenated().to_string();
        assert_eq!(w.act("stop_kasm", &undashed, secs(3)).body, json!({}));
    }

    #[test]
    fn get_kasm_status_rotates_the_token_and_refuses_when_not_running() {
        let mut w = world();
        let r = w.request(t0());
        let kasm_id = r.body["kasm_id"].as_str().unwrap().to_owned();
        let first_url = r.body["kasm_url"].as_str().unwrap().to_owned();
        // Starting: 1.18's shape, the state at the top level, no `kasm` object and no error.
        let r = w.act("get_kasm_status", &kasm_id, secs(1));
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["kasm_id"], kasm_id.replace('-', ""));
        assert_eq!(r.body["status"], "starting");
        assert_eq!(r.body["operational_status"], "starting");
        assert_eq!(r.body["operational_progress"], 50);
        assert_eq!(r.body["operational_message"], "Starting the session");
        assert!(r.body.get("kasm").is_none() && r.body.get("error_message").is_none(), "{:?}", r.body);
        let a = w.act("get_kasm_status", &kasm_id, secs(3));
        let b = w.act("get_kasm_status", &kasm_id, secs(3));
        assert_eq!(a.body["kasm"]["operational_status"], "running");
        assert_eq!(a.body["kasm"]["token"], "");
        assert_ne!(a.body["kasm_url"], b.body["kasm_url"]);
        assert_ne!(a.body["kasm_url"].as_str().unwrap(), first_url);
        let r = w.act("get_kasm_status", &hex(Uuid::new_v4()), secs(3));
        assert_eq!(r.body["error_message"], "Could not find requested Kasm.");
    }

    #[test]
    fn keepalive_extends_expiry_and_expiry_deletes_by_default() {
        let mut w = world();
        let kasm_id = w.request(t0()).body["kasm_id"].as_str().unwrap().to_owned();
        // Keepalive at +30 min pushes the expiry to +90 min.
        let r = w.st.handle("keepalive", &obj(json!({"kasm_id": kasm_id})), secs(1800));
        assert_eq!(r.body, json!({"usage_reached": false}));
        assert_eq!(w.status_of(&kasm_id, secs(3600 + 60)).as_deref(), Some("running"));
        assert_eq!(w.status_of(&kasm_id, secs(5400)).as_deref(), Some("delete_pending"));
        assert_eq!(w.status_of(&kasm_id, secs(5401)), None);
        let h = w.st.handle(
            "get_session_history",
            &obj(json!({"filters": [{"id": "kasm_id", "value": kasm_id}]})),
            secs(5402),
        );
        assert_eq!(h.body["sessions"][0]["destroyed_date"], py_time(secs(5401)));
        assert_eq!(h.body["sessions"][0]["destroy_reason"], "keepalive_expired");
    }

    #[test]
    fn expiry_can_stop_instead_of_delete() {
        let mut w = world();
        w.st.cfg.expiry_action = ExpiryAction::Stop;
        let kasm_id = w.request(t0()).body["kasm_id"].as_str().unwrap().to_owned();
        assert_eq!(w.status_of(&kasm_id, secs(3600)).as_deref(), Some("stopping"));
        assert_eq!(w.status_of(&kasm_id, secs(3601)).as_deref(), Some("stopped"));
    }

    #[test]
    fn killed_sessions_vanish_with_an_accounting_row() {
        let mut w = world();
        let kasm_id = w.request(t0()).body["kasm_id"].as_str().unwrap().to_owned();
        assert!(w.st.kill(Uuid::try_parse(&kasm_id).unwrap(), secs(60)));
        assert_eq!(w.st.session_count(), 0);
        let h = w.st.handle("get_session_history", &Map::new(), secs(61));
        assert_eq!(h.body["sessions"][0]["destroyed_date"], py_time(secs(60)));
        assert_eq!(h.body["sessions"][0]["destroy_reason"], "error");
    }

    fn user_body(user: &str) -> Map<String, Value> {
        obj(json!({"target_user": {"user_id": user}}))
    }

    fn membership(user: &str, group: Uuid) -> Map<String, Value> {
        obj(json!({"target_user": {"user_id": user}, "target_group": {"group_id": hex(group)}}))
    }

    #[test]
    fn update_user_needs_the_username_even_when_it_does_not_change() {
        let mut w = world();
        let r = w.st.handle("update_user", &obj(json!({"target_user": {"user_id": w.user, "locked": true}})), t0());
        assert_eq!(
            (r.status, r.body["error_message"].as_str()),
            (StatusCode::BAD_REQUEST, Some("Username is not present"))
        );
        let r = w.st.handle("get_user", &user_body(&w.user), t0());
        assert_eq!(r.body["user"]["locked"], false, "a refused update changes nothing");

        let body = json!({"target_user": {
            "user_id": w.user, "username": "alice", "first_name": "Alice", "last_name": "L",
            "password": "n3w-Passw0rd", "disabled": true, "locked": true,
        }});
        let r = w.st.handle("update_user", &obj(body), secs(5));
        assert_eq!(r.status, StatusCode::OK);
        let u = &r.body["user"];
        assert_eq!((u["username"].as_str(), u["first_name"].as_str()), (Some("alice"), Some("Alice")));
        assert_eq!((u["disabled"].as_bool(), u["locked"].as_bool()), (Some(true), Some(true)));
        assert_eq!(u["password_set_date"], py_time(secs(5)));
        // Absent flags are left alone.
        let r =
            w.st.handle("update_user", &obj(json!({"target_user": {"user_id": w.user, "username": "alice2"}})), t0());
        assert_eq!(
            (r.body["user"]["username"].as_str(), r.body["user"]["disabled"].as_bool()),
            (Some("alice2"), Some(true))
        );
    }

    #[test]
    fn update_user_refuses_unknown_users_missing_ids_and_taken_names() {
        let mut w = world();
        w.st.handle("create_user", &obj(json!({"target_user": {"username": "bob"}})), t0());
        let unknown = hex(Uuid::new_v4());
        let r = w.st.handle("update_user", &obj(json!({"target_user": {"user_id": unknown, "username": "x"}})), t0());
        assert_eq!(
            (r.status, r.body["error_message"].clone()),
            (StatusCode::BAD_REQUEST, json!(format!("Unknown user ({unknown})")))
        );
        let r = w.st.handle("update_user", &obj(json!({"target_user": {"username": "x"}})), t0());
        assert_eq!(r.body["error_message"], "Invalid Request: Missing required parameters");
        let r = w.st.handle("update_user", &obj(json!({"target_user": {"user_id": w.user, "username": "BOB"}})), t0());
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn delete_user_refuses_live_sessions_unless_forced() {
        let mut w = world();
        let a = w.request(t0()).body["kasm_id"].as_str().unwrap().to_owned();
        let b = w.request(t0()).body["kasm_id"].as_str().unwrap().to_owned();
        w.act("destroy_kasm", &b, secs(3));
        let r = w.st.handle("delete_user", &user_body(&w.user), secs(3));
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.body["error_message"], "Users contains (2) kasms and 'force' option not set to True");
        assert_eq!(w.st.session_count(), 2);

        let mut forced = user_body(&w.user);
        forced.insert("force".into(), json!(true));
        let r = w.st.handle("delete_user", &forced, secs(3));
        assert_eq!((r.status, r.body.clone()), (StatusCode::OK, json!({})));
        assert_eq!(w.st.session_count(), 0);
        let h = w.st.handle("get_session_history", &obj(json!({"sort_direction": "asc"})), secs(4));
        let reason_of = |id: &str| {
            let id = Uuid::try_parse(id).unwrap();
            h.body["sessions"].as_array().unwrap().iter().find(|r| r["kasm_id"] == hex(id)).unwrap().clone()
        };
        assert_eq!(reason_of(&a)["destroy_reason"], "admin_destroyed");
        assert_eq!(reason_of(&a)["destroyed_date"], py_time(secs(3)));
        assert_eq!(reason_of(&a)["user_name"], "alice", "the row keeps the deleted user's name");
        assert_eq!(reason_of(&b)["destroy_reason"], "user_destroyed", "already being deleted by its user");
        let r = w.st.handle("get_user", &obj(json!({"target_user": {"username": "alice"}})), secs(4));
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = w.st.handle("delete_user", &forced, secs(4));
        assert_eq!(
            (r.status, r.body["error_message"].clone()),
            (StatusCode::BAD_REQUEST, json!(format!("Unknown user ({})", w.user)))
        );
    }

    #[test]
    fn a_user_without_sessions_is_deleted_without_force() {
        let mut w = world();
        let r = w.st.handle("delete_user", &user_body(&w.user), t0());
        assert_eq!(r.body, json!({}));
        assert_eq!(w.st.handle("get_users", &Map::new(), t0()).body["total"], 0);
    }

    #[test]
    fn get_login_builds_an_absolute_link_from_the_host_header() {
        let mut w = world();
        let r = w.st.handle_from("get_login", &user_body(&w.user), t0(), Some("kasm.example.com:8443"));
        let url = r.body["url"].as_str().unwrap();
        let prefix = format!("http://kasm.example.com:8443/#/connect/login/dash/{}/", w.user);
        assert!(url.starts_with(&prefix), "{url}");
        assert!(Uuid::try_parse(&url[prefix.len()..]).is_ok(), "{url}");
        let again = w.st.handle_from("get_login", &user_body(&w.user), t0(), Some("kasm.example.com:8443"));
        assert_ne!(again.body["url"], r.body["url"], "a fresh token each time");

        let unknown = hex(Uuid::new_v4());
        let r = w.st.handle("get_login", &user_body(&unknown), t0());
        assert_eq!(
            (r.status, r.body["error_message"].clone()),
            (StatusCode::BAD_REQUEST, json!(format!("No user found with id: ({unknown})")))
        );
        let r = w.st.handle("get_login", &obj(json!({"target_user": {}})), t0());
        assert_eq!(r.body["error_message"], "Invalid Request: Missing required parameters");
    }

    #[test]
    fn groups_are_seeded_per_plan_and_memberships_show_on_the_user() {
        let mut w = world();
        let r = w.st.handle("get_groups", &Map::new(), t0());
        let names: Vec<&str> =
            r.body["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
        assert_eq!(names.len(), 8, "{names:?}");
        assert!(names.contains(&"All Users") && names.contains(&"Administrators"));
        assert!(names.contains(&"EZSCALE Developer Basic") && names.contains(&"EZSCALE Business Enterprise"));

        let basic = w.st.group_id("EZSCALE Developer Basic").unwrap();
        let groups_of = |st: &mut SimState, user: &str| -> Vec<String> {
            let r = st.handle("get_user", &user_body(user), t0());
            r.body["user"]["groups"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["name"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(groups_of(&mut w.st, &w.user), ["All Users"]);
        for _ in 0..2 {
            assert_eq!(w.st.handle("add_user_group", &membership(&w.user, basic), t0()).body, json!({}));
        }
        assert_eq!(groups_of(&mut w.st, &w.user), ["All Users", "EZSCALE Developer Basic"]);
        for _ in 0..2 {
            assert_eq!(w.st.handle("remove_user_group", &membership(&w.user, basic), t0()).body, json!({}));
        }
        assert_eq!(groups_of(&mut w.st, &w.user), ["All Users"]);

        let all = w.st.group_id("All Users").unwrap();
        assert_eq!(w.st.handle("add_user_group", &membership(&w.user, all), t0()).body, json!({}));
        assert_eq!(w.st.handle("remove_user_group", &membership(&w.user, all), t0()).status, StatusCode::BAD_REQUEST);
        let r = w.st.handle("add_user_group", &membership(&w.user, Uuid::new_v4()), t0());
        assert!(r.body["error_message"].as_str().unwrap().starts_with("Unknown group ("));
        let r = w.st.handle("add_user_group", &membership(&hex(Uuid::new_v4()), basic), t0());
        assert!(r.body["error_message"].as_str().unwrap().starts_with("Unknown user ("));
        let r = w.st.handle("add_user_group", &user_body(&w.user), t0());
        assert_eq!(r.body["error_message"], "Invalid Request: Missing required parameters");
    }

    #[test]
    fn with_enforcement_only_a_group_holding_the_image_authorises_it() {
        let mut w = world();
        w.st.cfg.enforce_image_groups = true;
        let r = w.request(t0());
        assert_eq!((r.status, r.body["error_message"].as_str()), (StatusCode::OK, Some("Image Not Authorized")));
        assert_eq!(w.st.session_count(), 0);
        // The wrong plan's group does not help…
        let pro = w.st.group_id("EZSCALE Developer Pro").unwrap();
        w.st.handle("add_user_group", &membership(&w.user, pro), t0());
        assert_eq!(w.request(t0()).body["error_message"], "Image Not Authorized");
        // …the right one does.
        let basic = w.st.group_id("EZSCALE Developer Basic").unwrap();
        w.st.handle("add_user_group", &membership(&w.user, basic), t0());
        assert!(w.request(t0()).body.get("error_message").is_none());
        w.st.handle("remove_user_group", &membership(&w.user, basic), t0());
        assert_eq!(w.request(t0()).body["error_message"], "Image Not Authorized");
    }

    #[test]
    fn faults_are_one_shot_and_matched_by_endpoint() {
        let mut st = SimState::new(cfg());
        st.push_fault(Fault::HttpStatus { endpoint: "get_kasms".into(), status: 500 });
        st.push_fault(Fault::HttpStatus { endpoint: "*".into(), status: 503 });
        assert!(matches!(st.take_fault("get_images"), Some(Fault::HttpStatus { status: 503, .. })));
        assert!(matches!(st.take_fault("get_kasms"), Some(Fault::HttpStatus { status: 500, .. })));
        assert!(st.take_fault("get_kasms").is_none());
    }
}
