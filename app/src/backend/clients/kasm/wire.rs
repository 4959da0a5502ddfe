//! Kasm's wire format: response interpretation (status codes and the 200-with-`error_message` convention),
//! timestamp parsing, and lenient serde structs for the response bodies.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::error::KasmError;
use super::ids::{KasmGroupId, KasmId, KasmImageId, KasmUserId};
use super::types::{KasmAccountingRow, KasmGroup, KasmImage, KasmSession, KasmStatus, KasmUser, RequestedKasm};
use crate::backend::clients::http;
use crate::domain::time::Timestamp;

/// Kasm's text is passed on in errors and logs; it is bounded so a proxy's HTML page cannot flood them.
const MAX_MESSAGE_CHARS: usize = 300;

/// Parses a Kasm timestamp: naive UTC in Python `str(datetime)` form (`2020-09-04 20:44:31.214183`, the
/// fraction absent when it is zero). `null`-like spellings (`""`, `"None"`, `"null"`) are `None`. ISO 8601 with
/// a `T` and/or an offset is accepted too, in case a later release switches.
pub fn parse_kasm_time(raw: &str) -> Result<Option<Timestamp>, String> {
    let s = raw.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("none") || s.eq_ignore_ascii_case("null") {
        return Ok(None);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Ok(Some(Timestamp::from_millis(dt.timestamp_millis())));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(Some(Timestamp::from_millis(naive.and_utc().timestamp_millis())));
        }
    }
    Err(format!("unrecognised timestamp {s:?}"))
}

/// serde adapter for optional Kasm timestamps (missing, `null`, `"None"`, or a timestamp string).
pub fn de_opt_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => parse_kasm_time(&s).map_err(serde::de::Error::custom),
    }
}

/// `operational_progress` (documented as an int 0–100), read leniently: a float or a numeric string is
/// accepted and clamped; anything else is `None`. A progress figure is never worth failing a call over.
pub fn de_opt_progress<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    let number = match value {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().trim_end_matches('%').parse::<f64>().ok(),
        _ => None,
    };
    Ok(number.filter(|n| n.is_finite()).map(|n| {
        // Clamped into 0..=100 first, so the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let pct = n.round().clamp(0.0, 100.0) as u8;
        pct
    }))
}

/// `get_kasm_status`'s ways of saying "this session exists but is not usable now": "This session is
/// currently starting.", "…scheduled to be paused/stopped/deleted.", "Kasm is not running". Not a failure.
pub fn is_not_ready_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("currently") || m.contains("scheduled to be") || m.contains("not running")
}

/// The refusal text in a body, if any: `error_message`, or `error` (some auth paths use that key).
pub fn body_error(body: &Value) -> Option<String> {
    ["error_message", "error"].iter().find_map(|key| match body.get(*key) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(bounded(s)),
        Some(other) => Some(bounded(&other.to_string())),
    })
}

fn bounded(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() <= MAX_MESSAGE_CHARS {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX_MESSAGE_CHARS).collect();
        out.push('…');
        out
    }
}

/// The raw body with every occurrence of `secret` replaced by `<redacted>` (JSON-safe: no quote or
/// backslash). Kasm's text travels on into errors, logs and business refusals; should a server or proxy
/// ever echo our request, the API secret must not travel with it. Borrowed when there is nothing to scrub.
pub fn scrub<'a>(body: &'a [u8], secret: &str) -> Cow<'a, [u8]> {
    let needle = secret.as_bytes();
    if needle.is_empty() || !body.windows(needle.len()).any(|w| w == needle) {
        return Cow::Borrowed(body);
    }
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    while let Some(pos) = rest.windows(needle.len()).position(|w| w == needle) {
        out.extend_from_slice(&rest[..pos]);
        out.extend_from_slice(http::REDACTED.as_bytes());
        rest = &rest[pos + needle.len()..];
    }
    out.extend_from_slice(rest);
    Cow::Owned(out)
}

/// [`scrub`], and also the secret spelled with JSON escapes (`"\u0073ecret"`): byte matching cannot see it, but
/// parsing turns it back into the secret, which would then reach errors and logs. A JSON body that still holds
/// a backslash after `scrub` is decoded, scrubbed string by string and re-encoded; any other body is left as
/// `scrub` made it (a body that is not JSON never has its text copied into an error).
pub fn scrub_body<'a>(body: &'a [u8], secret: &str) -> Cow<'a, [u8]> {
    let scrubbed = scrub(body, secret);
    if secret.is_empty() || !scrubbed.contains(&b'\\') {
        return scrubbed;
    }
    let Ok(mut value) = serde_json::from_slice::<Value>(&scrubbed) else {
        return scrubbed;
    };
    if !scrub_strings(&mut value, secret) {
        return scrubbed;
    }
    match serde_json::to_vec(&value) {
        Ok(bytes) => Cow::Owned(bytes),
        Err(_) => scrubbed,
    }
}

/// Replaces `secret` in every string of a JSON value; true if it found one.
fn scrub_strings(value: &mut Value, secret: &str) -> bool {
    match value {
        Value::String(s) if s.contains(secret) => {
            *s = s.replace(secret, http::REDACTED);
            true
        }
        Value::Array(items) => scrub_all(items.iter_mut(), secret),
        Value::Object(map) => scrub_all(map.values_mut(), secret),
        _ => false,
    }
}

fn scrub_all<'v>(values: impl Iterator<Item = &'v mut Value>, secret: &str) -> bool {
    let mut hit = false;
    for v in values {
        // Every value is visited: no short-circuit.
        hit |= scrub_strings(v, secret);
    }
    hit
}

/// Turns an HTTP status and raw body into the JSON body of a successful call, or the matching error. This is
/// the one place that knows Kasm's error conventions; business errors (200 + `error_message`) are NOT
/// detected here because some endpoints (`get_kasm_status`) must read the body first.
pub fn interpret(status: u16, body: &[u8]) -> Result<Value, KasmError> {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let message =
        || json.as_ref().and_then(body_error).unwrap_or_else(|| format!("HTTP {status} without an error message"));
    match status {
        200..=299 => match json {
            Some(v @ Value::Object(_)) => Ok(v),
            // Kasm answers `{}` for most writes; an empty body is treated the same way.
            None if body.iter().all(u8::is_ascii_whitespace) => Ok(Value::Object(serde_json::Map::new())),
            Some(_) => Err(KasmError::Decode(format!("HTTP {status} with a JSON body that is not an object"))),
            None => Err(KasmError::Decode(format!("HTTP {status} with a body that is not JSON"))),
        },
        401 | 403 => Err(KasmError::Unauthorized { status, message: message() }),
        429 => Err(KasmError::RateLimited),
        400..=499 => Err(KasmError::BadRequest { status, message: message() }),
        500..=599 => Err(KasmError::Server { status }),
        300..=399 => Err(KasmError::Config(format!(
            "Kasm answered with a redirect (HTTP {status}); check the base URL (http vs https, path)"
        ))),
        _ => Err(KasmError::Decode(format!("unexpected HTTP status {status}"))),
    }
}

/// A successful body's business error, if it carries one.
pub fn check_business(body: Value) -> Result<Value, KasmError> {
    match body_error(&body) {
        Some(msg) => Err(KasmError::Business(msg)),
        None => Ok(body),
    }
}

/// Deserialises a checked body into a wire struct.
pub fn decode<T: serde::de::DeserializeOwned>(endpoint: &str, body: Value) -> Result<T, KasmError> {
    serde_json::from_value(body).map_err(|e| KasmError::Decode(format!("{endpoint}: {e}")))
}

// ---- response bodies ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
pub struct UserEnvelope {
    #[serde(default)]
    pub user: Option<RawUser>,
}

#[derive(Deserialize)]
pub struct RawUser {
    pub user_id: KasmUserId,
    #[serde(default)]
    pub username: Option<String>,
}

impl RawUser {
    pub fn into_user(self) -> KasmUser {
        KasmUser { user_id: self.user_id, username: self.username.unwrap_or_default() }
    }
}

#[derive(Deserialize)]
pub struct GroupsEnvelope {
    /// Required: a reply without the list must not look like "there are no groups".
    pub groups: Vec<RawGroup>,
}

#[derive(Deserialize)]
pub struct RawGroup {
    pub group_id: KasmGroupId,
    #[serde(default)]
    pub name: Option<String>,
}

impl RawGroup {
    pub fn into_group(self) -> KasmGroup {
        KasmGroup { group_id: self.group_id, name: self.name.unwrap_or_default() }
    }
}

#[derive(Deserialize)]
pub struct LoginReply {
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Deserialize)]
pub struct ImagesEnvelope {
    pub images: Vec<RawImage>,
}

#[derive(Deserialize)]
pub struct RawImage {
    pub image_id: KasmImageId,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub friendly_name: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

impl RawImage {
    pub fn into_image(self) -> KasmImage {
        KasmImage {
            image_id: self.image_id,
            name: self.name.unwrap_or_default(),
            friendly_name: self.friendly_name.unwrap_or_default(),
            // An image Kasm does not say is enabled is not offered.
            enabled: self.enabled.unwrap_or(false),
        }
    }
}

#[derive(Deserialize)]
pub struct RawRequested {
    pub kasm_id: KasmId,
    pub user_id: KasmUserId,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub kasm_url: Option<String>,
    #[serde(default)]
    pub session_token: Option<String>,
}

impl RawRequested {
    pub fn into_requested(self) -> RequestedKasm {
        RequestedKasm {
            kasm_id: self.kasm_id,
            user_id: self.user_id,
            status: KasmStatus::parse(self.status.as_deref().unwrap_or("starting")),
            kasm_url: self.kasm_url.unwrap_or_default(),
            session_token: self.session_token.unwrap_or_default(),
        }
    }
}

#[derive(Deserialize)]
pub struct KasmsEnvelope {
    /// Required on purpose: a reply without the list must not look like "every session vanished".
    pub kasms: Vec<RawSession>,
    #[serde(default, deserialize_with = "de_opt_time")]
    pub current_time: Option<Timestamp>,
}

#[derive(Deserialize, Default)]
pub struct RawUserRef {
    #[serde(default)]
    pub username: Option<String>,
}

#[derive(Deserialize)]
pub struct RawSession {
    pub kasm_id: KasmId,
    pub user_id: KasmUserId,
    pub image_id: KasmImageId,
    #[serde(default)]
    pub operational_status: Option<String>,
    #[serde(default, deserialize_with = "de_opt_progress")]
    pub operational_progress: Option<u8>,
    #[serde(default)]
    pub operational_message: Option<String>,
    #[serde(default, deserialize_with = "de_opt_time")]
    pub start_date: Option<Timestamp>,
    #[serde(default, deserialize_with = "de_opt_time")]
    pub created_date: Option<Timestamp>,
    #[serde(default, deserialize_with = "de_opt_time")]
    pub keepalive_date: Option<Timestamp>,
    #[serde(default, deserialize_with = "de_opt_time")]
    pub expiration_date: Option<Timestamp>,
    #[serde(default)]
    pub user: Option<RawUserRef>,
}

impl RawSession {
    pub fn into_session(self) -> KasmSession {
        KasmSession {
            kasm_id: self.kasm_id,
            user_id: self.user_id,
            image_id: self.image_id,
            status: match self.operational_status {
                Some(s) => KasmStatus::parse(&s),
                None => KasmStatus::Other(String::new()),
            },
            start_date: self.start_date,
            created_date: self.created_date,
            keepalive_date: self.keepalive_date,
            expiration_date: self.expiration_date,
            username: self.user.and_then(|u| u.username),
        }
    }
}

/// `get_kasm_status`'s answer. Running: `kasm` + `kasm_url`. Not running (yet): the `kasm` object may be
/// missing, and the state is at the top level instead: `operational_status`/`_progress`/`_message`, and in
/// 1.18 also `kasm_id` and `status` (the field other Kasm clients read), possibly next to an
/// `error_message`. Every field is optional so that any of those shapes decodes.
#[derive(Deserialize)]
pub struct StatusEnvelope {
    #[serde(default, deserialize_with = "de_opt_time")]
    pub current_time: Option<Timestamp>,
    #[serde(default)]
    pub kasm_url: Option<String>,
    #[serde(default)]
    pub kasm: Option<RawSession>,
    #[serde(default)]
    pub operational_status: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "de_opt_progress")]
    pub operational_progress: Option<u8>,
    #[serde(default)]
    pub operational_message: Option<String>,
}

impl StatusEnvelope {
    /// The top-level state: `operational_status`, else `status`. Blank strings say nothing.
    pub fn top_level_status(&self) -> Option<KasmStatus> {
        [&self.operational_status, &self.status]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .find(|s| !s.is_empty())
            .map(KasmStatus::parse)
    }
}

#[derive(Deserialize)]
pub struct KeepaliveReply {
    #[serde(default)]
    pub usage_reached: Option<bool>,
}

#[derive(Deserialize)]
pub struct HistoryEnvelope {
    pub sessions: Vec<RawAccountingRow>,
    #[serde(default)]
    pub total: Option<u64>,
}

#[derive(Deserialize)]
pub struct RawAccountingRow {
    pub kasm_id: KasmId,
    #[serde(default)]
    pub user_id: Option<KasmUserId>,
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub image_id: Option<KasmImageId>,
    #[serde(default)]
    pub image_name: Option<String>,
    #[serde(default, deserialize_with = "de_opt_time")]
    pub created_date: Option<Timestamp>,
    #[serde(default, deserialize_with = "de_opt_time")]
    pub start_date: Option<Timestamp>,
    #[serde(default, deserialize_with = "de_opt_time")]
    pub destroyed_date: Option<Timestamp>,
    #[serde(default)]
    pub destroy_reason: Option<String>,
    #[serde(default)]
    pub usage_hours: Option<f64>,
}

impl RawAccountingRow {
    pub fn into_row(self) -> KasmAccountingRow {
        KasmAccountingRow {
            kasm_id: self.kasm_id,
            user_id: self.user_id,
            user_name: self.user_name,
            image_id: self.image_id,
            image_name: self.image_name,
            created_date: self.created_date,
            start_date: self.start_date,
            destroyed_date: self.destroyed_date,
            destroy_reason: self.destroy_reason,
            usage_hours: self.usage_hours,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ms(s: &str) -> i64 {
        parse_kasm_time(s).unwrap().unwrap().as_millis()
    }

    #[test]
    fn python_str_datetime_parses_with_and_without_a_fraction() {
        // 2020-09-04 20:44:31 UTC = 1599252271 s.
        assert_eq!(ms("2020-09-04 20:44:31"), 1_599_252_271_000);
        assert_eq!(ms("2020-09-04 20:44:31.214183"), 1_599_252_271_214);
        assert_eq!(ms("2020-09-04 20:44:31.5"), 1_599_252_271_500);
    }

    #[test]
    fn iso_spellings_are_tolerated() {
        assert_eq!(ms("2020-09-04T20:44:31"), 1_599_252_271_000);
        assert_eq!(ms("2020-09-04T20:44:31.214183Z"), 1_599_252_271_214);
        assert_eq!(ms("2020-09-04T22:44:31+02:00"), 1_599_252_271_000);
    }

    #[test]
    fn none_spellings_are_absent_and_garbage_is_an_error() {
        assert_eq!(parse_kasm_time("None").unwrap(), None);
        assert_eq!(parse_kasm_time("").unwrap(), None);
        assert_eq!(parse_kasm_time("null").unwrap(), None);
        assert!(parse_kasm_time("yesterday").is_err());
        assert!(parse_kasm_time("2020-13-04 20:44:31").is_err());
    }

    #[test]
    fn sessions_parse_from_either_id_spelling_with_none_and_null_dates() {
        let body = json!({
            "current_time": "2024-01-02 03:04:05.000123",
            "kasms": [
                {
                    "kasm_id": "4fa42139-aef3-4c57-9b1e-0d1f0c6f2a10",
                    "user_id": "e60a9c80289a4b3aaedb42f1d5fe8060",
                    "image_id": "50faa5439c574b518cd868dac9256e4b",
                    "operational_status": "user_delete_pending",
                    "start_date": "2024-01-02 03:00:00",
                    "created_date": "None",
                    "keepalive_date": null,
                    "user": {"username": "alice"},
                    "some_future_field": {"nested": [1, 2, 3]}
                },
                {
                    "kasm_id": "4fa42139aef34c579b1e0d1f0c6f2a11",
                    "user_id": "e60a9c80-289a-4b3a-aedb-42f1d5fe8060",
                    "image_id": "50faa543-9c57-4b51-8cd8-68dac9256e4b",
                    "operational_status": "running"
                }
            ]
        });
        let env: KasmsEnvelope = decode("get_kasms", body).unwrap();
        let list: Vec<_> = env.kasms.into_iter().map(RawSession::into_session).collect();
        assert_eq!(env.current_time.unwrap().as_millis(), 1_704_164_645_000);
        assert_eq!(list[0].user_id, list[1].user_id);
        assert_eq!(list[0].image_id, list[1].image_id);
        assert_eq!(list[0].status, KasmStatus::DeletePending);
        assert_eq!(list[0].start_date.unwrap().as_millis(), 1_704_164_400_000);
        assert_eq!(list[0].created_date, None);
        assert_eq!(list[0].keepalive_date, None);
        assert_eq!(list[0].expiration_date, None);
        assert_eq!(list[0].username.as_deref(), Some("alice"));
        assert_eq!(list[1].status, KasmStatus::Running);
        assert_eq!(list[1].username, None);
    }

    #[test]
    fn groups_parse_from_either_id_spelling_and_ignore_extra_fields() {
        let body = json!({"groups": [
            {"group_id": "68d557ac4cac42cca9f31c7c853de0f3", "name": "All Users", "priority": 1000, "is_system": true},
            {"group_id": "68d557ac-4cac-42cc-a9f3-1c7c853de0f4", "name": "EZSCALE Developer Basic"},
            {"group_id": "68d557ac4cac42cca9f31c7c853de0f5"}
        ]});
        let env: GroupsEnvelope = decode("get_groups", body).unwrap();
        let groups: Vec<_> = env.groups.into_iter().map(RawGroup::into_group).collect();
        assert_eq!(groups[0].name, "All Users");
        assert_eq!(groups[1].group_id.to_string(), "68d557ac4cac42cca9f31c7c853de0f4");
        assert_eq!(groups[2].name, "");
        assert!(decode::<GroupsEnvelope>("get_groups", json!({})).is_err());
        assert!(decode::<GroupsEnvelope>("get_groups", json!({"groups": [{"name": "x"}]})).is_err());
    }

    #[test]
    fn a_list_reply_without_the_list_is_a_decode_error() {
        assert!(decode::<KasmsEnvelope>("get_kasms", json!({"current_time": "None"})).is_err());
    }

    #[test]
    fn error_message_in_a_200_is_a_business_error() {
        let body = interpret(200, br#"{"error_message": "Kasm limit exceeded for user: (bob)"}"#).unwrap();
        match check_business(body) {
            Err(KasmError::Business(m)) => assert_eq!(m, "Kasm limit exceeded for user: (bob)"),
            other => panic!("expected Business, got {other:?}"),
        }
    }

    #[test]
    fn the_error_key_is_read_too() {
        let body = interpret(200, br#"{"error": "Access Denied"}"#).unwrap();
        assert!(matches!(check_business(body), Err(KasmError::Business(m)) if m == "Access Denied"));
        // …but an empty or null error field is not an error.
        let body = interpret(200, br#"{"error_message": null, "error": "", "kasms": []}"#).unwrap();
        assert!(check_business(body).is_ok());
    }

    #[test]
    fn empty_success_bodies_are_empty_objects() {
        assert_eq!(interpret(200, b"{}").unwrap(), json!({}));
        assert_eq!(interpret(200, b"").unwrap(), json!({}));
        assert!(matches!(interpret(200, b"<html>"), Err(KasmError::Decode(_))));
        assert!(matches!(interpret(200, b"[1]"), Err(KasmError::Decode(_))));
    }

    #[test]
    fn status_401_and_403_are_both_unauthorized() {
        match interpret(403, br#"{"error_message": "Access Denied"}"#) {
            Err(KasmError::Unauthorized { status: 403, message }) => assert_eq!(message, "Access Denied"),
            other => panic!("expected Unauthorized, got {other:?}"),
        }
        match interpret(401, br#"{"error_message": "Access has expired"}"#) {
            Err(KasmError::Unauthorized { status: 401, message }) => assert_eq!(message, "Access has expired"),
            other => panic!("expected Unauthorized, got {other:?}"),
        }
    }

    #[test]
    fn other_statuses_map_to_their_variants() {
        assert!(matches!(
            interpret(400, br#"{"error_message": "Invalid Request"}"#),
            Err(KasmError::BadRequest { status: 400, message }) if message == "Invalid Request"
        ));
        assert!(matches!(
            interpret(404, b"<html>not found</html>"),
            Err(KasmError::BadRequest { status: 404, message }) if !message.contains("html")
        ));
        assert!(matches!(interpret(429, b""), Err(KasmError::RateLimited)));
        assert!(matches!(interpret(500, b"{}"), Err(KasmError::Server { status: 500 })));
        assert!(matches!(interpret(502, b"<html>bad gateway</html>"), Err(KasmError::Server { status: 502 })));
        assert!(matches!(interpret(302, b""), Err(KasmError::Config(_))));
    }

    #[test]
    fn scrubbing_replaces_every_occurrence_and_keeps_the_json_valid() {
        let body = br#"{"error_message": "bad key s3cr3t (s3cr3t)", "x": "s3cr3"}"#;
        let scrubbed = scrub(body, "s3cr3t");
        let v: Value = serde_json::from_slice(&scrubbed).unwrap();
        assert_eq!(v["error_message"], "bad key <redacted> (<redacted>)");
        assert_eq!(v["x"], "s3cr3");
        assert!(matches!(scrub(b"{}", "s3cr3t"), Cow::Borrowed(_)));
        assert!(matches!(scrub(b"{}", ""), Cow::Borrowed(_)));
    }

    #[test]
    fn scrubbing_also_finds_the_secret_behind_json_escapes() {
        // "s3cr3t" with its first letter escaped: invisible to byte matching, the secret once parsed.
        let body = br#"{"error_message": "bad key \u0073\u0033cr3t", "n": 1.5, "list": ["s3\u0063r3t", 2]}"#;
        let scrubbed = scrub_body(body, "s3cr3t");
        let v: Value = serde_json::from_slice(&scrubbed).unwrap();
        assert_eq!(v, json!({"error_message": "bad key <redacted>", "n": 1.5, "list": ["<redacted>", 2]}));
        // Escapes without the secret, and non-JSON bodies, are left alone.
        let plain = br#"{"path": "C:\\kasm", "x": "\u0041"}"#;
        assert!(matches!(scrub_body(plain, "s3cr3t"), Cow::Borrowed(_)));
        assert!(matches!(scrub_body(b"<html>\\u0073</html>", "s3cr3t"), Cow::Borrowed(_)));
        assert_eq!(&*scrub_body(b"{}", ""), b"{}");
    }

    #[test]
    fn long_messages_are_bounded() {
        let long = "x".repeat(5_000);
        let body = serde_json::to_vec(&json!({ "error_message": long })).unwrap();
        match check_business(interpret(200, &body).unwrap()) {
            Err(KasmError::Business(m)) => assert!(m.chars().count() <= MAX_MESSAGE_CHARS + 1),
            other => panic!("expected Business, got {other:?}"),
        }
    }
}
