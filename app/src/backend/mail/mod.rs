//! Outgoing mail: branded templates, a durable outbox, and SMTP delivery.
//!
//! Why it is shaped like this:
//! - Mail is never sent from a request. A request renders a [`templates`] message in its storefront's brand
//!   and [`outbox::enqueue`]s it; a worker ([`outbox::run_worker`]) delivers it. A slow or down SMTP server
//!   therefore never slows a sign-up, and a message survives a restart.
//! - Every message carries a dedupe key chosen by its caller: enqueueing the same key twice is a no-op, so a
//!   retried request or a re-run job never mails the same thing twice. The key also seeds a stable
//!   `Message-ID`, so a resend after a lost `250` reply looks like the same message to the receiver.
//! - Delivery retries with jittered exponential backoff, and gives up (`dead`, visible to admins) after
//!   [`outbox::MAX_ATTEMPTS`].
//! - Header injection: addresses are validated ([`validate_address`]: no control characters, no `<>`, must
//!   parse as an address), display names lose their control characters and then go through lettre's
//!   `Mailbox` (which quotes them), and subjects are collapsed to one line. A CR/LF typed into a name can
//!   never start a header of its own.
//!
//! - One-time tokens (verification, reset, email change, invitation links) are secrets: a stored message
//!   carries [`SECRET_PLACEHOLDER`] where its token goes, and the token itself is sealed (with the data key)
//!   beside it ([`outbox::enqueue_with_secret`]). Only the message put on the wire holds the token; the
//!   sealed copy is erased once the message is sent or given up on, and the admin outbox view shows
//!   [`SECRET_MASK`] in its place.
//!
//! With [`Transport::OutboxOnly`] (no SMTP configured, e.g. local development) delivery is simply not
//! attempted: messages stay `queued` in the outbox, where the admin outbox view shows them, and are sent
//! once a later start configures SMTP.

pub mod outbox;
pub mod storefront;
pub mod templates;

use std::fmt;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::{Digest, Sha256};

use self::templates::{clean_subject, BrandContext, Rendered};
use crate::backend::platform::crypto::Crypto;
use crate::backend::tenancy::branding::BrandingRecord;
use crate::domain::ids::TenantId;

/// How long one SMTP command may take (connect, each reply) unless the configuration says otherwise.
pub const DEFAULT_SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// Stands in for a message's one-time token in what the outbox stores (see the module docs). Only
/// characters that survive the templates untouched (no escaping, no whitespace), so the link built around
/// it is still a link.
pub const SECRET_PLACEHOLDER: &str = "{{one-time-token}}";
/// What readers of the outbox (the admin view) see where a one-time token goes.
pub const SECRET_MASK: &str = "\u{2022}\u{2022}\u{2022}\u{2022}\u{2022}\u{2022}\u{2022}\u{2022}";

/// The dedupe key of a message carrying `token`: one message per token, however often the caller
/// retries. Only a hash of the token is used, so the key (stored in clear) reveals nothing.
pub fn token_dedupe_key(kind: &str, tenant: TenantId, token: &str) -> String {
    let short: String = Sha256::digest(token.as_bytes()).iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("{kind}:{tenant}:{short}")
}

/// Longest display name we put in a `From` header, in characters.
const MAX_DISPLAY_NAME_CHARS: usize = 100;
/// RFC 5321's limit on a forward path.
const MAX_ADDRESS_LEN: usize = 254;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid email address")]
    InvalidAddress,
    #[error("outgoing mail is not configured")]
    NotConfigured,
    #[error("smtp: {0}")]
    Smtp(String),
    #[error("building the message: {0}")]
    Build(String),
    /// A one-time token could not be sealed, or a stored one not opened (another data key, a missing
    /// key, a damaged row).
    #[error("the message's one-time link cannot be sealed or opened")]
    Secret,
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// Where mail goes.
#[derive(Clone, Debug)]
pub enum Transport {
    /// Nowhere (yet): messages wait in the outbox. See the module docs.
    OutboxOnly,
    Smtp(SmtpSettings),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text. Only for a local sink (MailHog, Mailpit) or a relay on the same host.
    None,
    /// Connect in plain text, then `STARTTLS` (required, not opportunistic). Usually port 587.
    StartTls,
    /// TLS from the first byte. Usually port 465.
    Implicit,
}

#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    /// Never logged: `Debug` prints a placeholder.
    pub password: Option<String>,
    pub timeout: Duration,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Parses `smtp://host:port` (plain: local sinks only), `smtp+starttls://…` (default port 587) or
/// `smtps://…` (465), each with optional percent-encoded `user:pass@`. Errors never repeat the URL, which
/// may hold a password.
pub fn parse_smtp_url(url: &str) -> Result<SmtpSettings, String> {
    let url = url.trim();
    let (scheme, rest) =
        url.split_once("://").ok_or("an SMTP URL looks like smtp+starttls://user:password@host:587")?;
    let (tls, default_port) = match scheme.to_ascii_lowercase().as_str() {
        "smtp" => (SmtpTls::None, 25),
        "smtp+starttls" => (SmtpTls::StartTls, 587),
        "smtps" => (SmtpTls::Implicit, 465),
        _ => return Err("the SMTP URL must start with smtp://, smtp+starttls:// or smtps://".into()),
    };
    // The last '@' ends the credentials, so an unencoded '@' or '/' in a password still works.
    let (userinfo, hostpart) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let hostpart = hostpart.strip_suffix('/').unwrap_or(hostpart);
    if hostpart.contains(['/', '?', '#']) {
        return Err("an SMTP URL has no path or query".into());
    }
    let (host, port) = if let Some(bracketed) = hostpart.strip_prefix('[') {
        let (ip, after) = bracketed.split_once(']').ok_or("unclosed '[' in the SMTP host")?;
        (ip, after.strip_prefix(':'))
    } else {
        match hostpart.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostpart, None),
        }
    };
    if host.is_empty() || !host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':')) {
        return Err("the SMTP URL needs a host name".into());
    }
    let port = match port {
        None => default_port,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or("the SMTP port must be 1-65535")?,
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(u) => {
            let (user, pass) = match u.split_once(':') {
                Some((user, pass)) => (user, Some(pass)),
                None => (u, None),
            };
            let user = percent_decode(user)?;
            let pass = pass.map(percent_decode).transpose()?;
            if user.is_empty() {
                if pass.is_some_and(|p| !p.is_empty()) {
                    return Err("the SMTP URL has a password but no user name".into());
                }
                (None, None)
            } else {
                (Some(user), pass)
            }
        }
    };
    Ok(SmtpSettings { host: host.to_owned(), port, tls, username, password, timeout: DEFAULT_SMTP_TIMEOUT })
}

fn percent_decode(s: &str) -> Result<String, String> {
    let hex = |b: u8| char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            match (bytes.next().and_then(hex), bytes.next().and_then(hex)) {
                (Some(hi), Some(lo)) => out.push((hi << 4) | lo),
                _ => return Err("bad %-escape in the SMTP URL's credentials".into()),
            }
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).map_err(|_| "the SMTP URL's credentials are not UTF-8".to_owned())
}

/// One message to send, as the outbox stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// `None` for platform mail (admins, reseller staff invitations from the platform).
    pub tenant: Option<TenantId>,
    /// Chosen by the caller; the same key is only ever sent once (see the module docs).
    pub dedupe_key: String,
    /// What the message is (`verify_email`, `invoice`, ...), for the admin view and logs.
    pub kind: String,
    pub to: String,
    pub from_name: String,
    /// Empty: the platform's default sender address, with `from_name` as its display name.
    pub from_addr: String,
    pub reply_to: Option<String>,
    pub rendered: Rendered,
    /// A file sent with it (an invoice's PDF).
    pub attachment: Option<MailAttachment>,
}

/// A file sent with a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailAttachment {
    /// Shown to the recipient; reduced to safe characters when the message is built.
    pub filename: String,
    /// A MIME type (`application/pdf`).
    pub content_type: String,
    pub body: Vec<u8>,
}

/// The largest attachment queued; a bigger file is left out (the message still links to the page).
pub const MAX_ATTACHMENT_BYTES: usize = 5 * 1024 * 1024;

impl Outgoing {
    /// A tenant's message, sent as the tenant: its configured sender (or the platform address under the
    /// tenant's name), replies going to its support address.
    pub fn for_tenant(
        tenant: TenantId,
        branding: &BrandingRecord,
        kind: &str,
        dedupe_key: String,
        to: &str,
        rendered: Rendered,
    ) -> Outgoing {
        let from_name =
            if branding.from_name.trim().is_empty() { &branding.theme.company_name } else { &branding.from_name };
        let support = branding.support_email.trim();
        Outgoing {
            tenant: Some(tenant),
            dedupe_key,
            kind: kind.to_owned(),
            to: to.to_owned(),
            from_name: from_name.clone(),
            from_addr: branding.from_email.trim().to_owned(),
            reply_to: (!support.is_empty()).then(|| support.to_owned()),
            rendered,
            attachment: None,
        }
    }
}

/// The brand a tenant's mail is rendered in. `base_url` is the storefront's origin (`https://host`); the
/// logo is the one the storefront serves, made absolute because mail clients have no base URL.
pub fn brand_context(branding: &BrandingRecord, base_url: &str) -> BrandContext {
    let base = base_url.trim().trim_end_matches('/');
    BrandContext {
        company_name: branding.theme.company_name.clone(),
        logo_url: branding.logo_sha.as_ref().map(|sha| format!("{base}/brand/asset/{sha}.png")),
        primary: branding.theme.primary,
        support_email: branding.support_email.clone(),
        support_phone: branding.support_phone.clone(),
        base_url: base.to_owned(),
    }
}

/// Checks an address before it is stored or put in a header, and returns it trimmed. Rejects control
/// characters (CR/LF would end the header), whitespace, `<` and `>` (they would close or open an angle
/// address), and anything lettre does not parse as an address.
pub fn validate_address(s: &str) -> Result<String, MailError> {
    parse_address(s).map(|a| a.to_string())
}

fn parse_address(s: &str) -> Result<Address, MailError> {
    let s = s.trim();
    if s.is_empty()
        || s.len() > MAX_ADDRESS_LEN
        || s.chars().any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>')
    {
        return Err(MailError::InvalidAddress);
    }
    s.parse::<Address>().map_err(|_| MailError::InvalidAddress)
}

/// A display name safe to hand to `Mailbox`: control characters (CR/LF above all) become spaces, runs of
/// whitespace collapse, and it is trimmed and bounded. `Mailbox` then quotes or encodes what is left.
fn clean_display_name(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || c.is_whitespace() {
            if !out.is_empty() && !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    let out: String = out.trim_end().chars().take(MAX_DISPLAY_NAME_CHARS).collect();
    let out = out.trim_end();
    (!out.is_empty()).then(|| out.to_owned())
}

/// Builds messages and delivers them.
pub struct Mailer {
    transport: Transport,
    /// The platform's sender: (display name, address). Used when a tenant has no sender address of its own.
    default_from: (String, String),
    /// Built once: the TLS configuration is checked at start-up, not on the first message.
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    /// Opens the one-time tokens sealed in stored messages (see [`Mailer::with_secrets`]).
    secrets: Option<Crypto>,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SmtpSettings' own Debug hides the password.
        f.debug_struct("Mailer").field("transport", &self.transport).field("default_from", &self.default_from).finish()
    }
}

impl Mailer {
    /// Fails if the default sender address is invalid or the SMTP transport cannot be set up.
    pub fn new(transport: Transport, default_from_name: &str, default_from_addr: &str) -> Result<Mailer, MailError> {
        let addr = validate_address(default_from_addr)?;
        let name = clean_display_name(default_from_name).unwrap_or_default();
        let smtp = match &transport {
            Transport::OutboxOnly => None,
            Transport::Smtp(s) => Some(smtp_transport(s)?),
        };
        Ok(Mailer { transport, default_from: (name, addr), smtp, secrets: None })
    }

    /// The key that opens one-time tokens sealed in the outbox. Without it, a message carrying one
    /// cannot be delivered (it is given up on, never sent with the placeholder).
    pub fn with_secrets(mut self, crypto: Crypto) -> Mailer {
        self.secrets = Some(crypto);
        self
    }

    pub fn secrets(&self) -> Option<&Crypto> {
        self.secrets.as_ref()
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Whether [`Mailer::send`] can deliver at all (false with [`Transport::OutboxOnly`]).
    pub fn delivers(&self) -> bool {
        self.smtp.is_some()
    }

    /// The message as it goes on the wire: `multipart/alternative` with the text and HTML parts. Addresses
    /// are validated again (a stored row is not trusted more than a request), names and the subject are
    /// reduced to one line.
    pub fn build_message(&self, o: &Outgoing) -> Result<Message, MailError> {
        let to = Mailbox::new(None, parse_address(&o.to)?);
        let name = clean_display_name(&o.from_name);
        let from = if o.from_addr.trim().is_empty() {
            // The platform's address under the tenant's name: replies still reach the tenant via Reply-To.
            let name = name.or_else(|| clean_display_name(&self.default_from.0));
            Mailbox::new(name, parse_address(&self.default_from.1)?)
        } else {
            Mailbox::new(name, parse_address(&o.from_addr)?)
        };
        let message_id = format!("<{}@{}>", message_id_local(&o.dedupe_key), from.email.domain());
        let mut builder = Message::builder()
            .from(from)
            .to(to)
            .subject(clean_subject(&o.rendered.subject))
            .message_id(Some(message_id));
        if let Some(reply_to) = o.reply_to.as_deref().filter(|r| !r.trim().is_empty()) {
            builder = builder.reply_to(Mailbox::new(None, parse_address(reply_to)?));
        }
        let body = MultiPart::alternative_plain_html(o.rendered.text.clone(), o.rendered.html.clone());
        let body = match &o.attachment {
            None => body,
            // multipart/mixed: the readable parts, then the file.
            Some(a) => {
                let content_type = ContentType::parse(&a.content_type)
                    .map_err(|_| MailError::Build(format!("bad attachment type {:?}", a.content_type)))?;
                MultiPart::mixed()
                    .multipart(body)
                    .singlepart(Attachment::new(attachment_filename(&a.filename)).body(a.body.clone(), content_type))
            }
        };
        builder.multipart(body).map_err(|e| MailError::Build(e.to_string()))
    }

    /// Delivers one message over SMTP. With [`Transport::OutboxOnly`] this is `Err(NotConfigured)`; the
    /// outbox worker never calls it then. The whole exchange is bounded (four command timeouts, at most
    /// [`outbox::MAX_SEND_TIME`]) so a slow-dripping server cannot hold a claimed batch past its lease.
    pub async fn send(&self, msg: Message) -> Result<(), MailError> {
        let (Some(smtp), Transport::Smtp(settings)) = (&self.smtp, &self.transport) else {
            return Err(MailError::NotConfigured);
        };
        let limit = settings.timeout.saturating_mul(4).min(outbox::MAX_SEND_TIME);
        match tokio::time::timeout(limit, smtp.send(msg)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(e)) => Err(MailError::Smtp(smtp_error_text(&e))),
            Err(_) => Err(MailError::Smtp(format!("no answer within {} s", limit.as_secs()))),
        }
    }
}

/// An attachment's file name with nothing that could break out of its header parameter: letters, digits,
/// `.`, `-` and `_` only, at most 100 characters.
fn attachment_filename(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(100)
        .collect();
    if clean.trim_matches(['.', '_']).is_empty() {
        "attachment".into()
    } else {
        clean
    }
}

/// lettre's error with its causes ("network error: Connection refused"), which its `Display` leaves out.
fn smtp_error_text(e: &lettre::transport::smtp::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn smtp_transport(s: &SmtpSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let builder = match s.tls {
        // Named "dangerous" by lettre because nothing is encrypted: fine for a sink on localhost.
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
        SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)
            .map_err(|e| MailError::Smtp(smtp_error_text(&e)))?,
        SmtpTls::Implicit => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host).map_err(|e| MailError::Smtp(smtp_error_text(&e)))?
        }
    };
    let mut builder = builder.port(s.port).timeout(Some(s.timeout));
    if let Some(user) = &s.username {
        builder = builder.credentials(Credentials::new(user.clone(), s.password.clone().unwrap_or_default()));
    }
    Ok(builder.build())
}

/// The local part of a `Message-ID`: a hash of the dedupe key, so the id is stable across retries without
/// revealing the key (which names customers and tokens).
fn message_id_local(dedupe_key: &str) -> String {
    Sha256::digest(dedupe_key.as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// A minimal SMTP server for tests: accepts everything and records each message's DATA.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod test_sink {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};

    pub(crate) struct Sink {
        pub port: u16,
        pub messages: Arc<Mutex<Vec<String>>>,
    }

    impl Sink {
        pub fn url(&self) -> String {
            format!("smtp://127.0.0.1:{}", self.port)
        }

        pub fn messages(&self) -> Vec<String> {
            self.messages.lock().unwrap().clone()
        }
    }

    pub(crate) async fn spawn() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let recorded = messages.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let _ = session(stream, recorded).await;
                });
            }
        });
        Sink { port, messages }
    }

    /// A port nobody listens on (bound, then released).
    pub(crate) async fn closed_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    }

    async fn session(stream: TcpStream, recorded: Arc<Mutex<Vec<String>>>) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        write.write_all(b"220 sink.test ESMTP\r\n").await?;
        let mut line = Vec::new();
        loop {
            line.clear();
            if read.read_until(b'\n', &mut line).await? == 0 {
                return Ok(());
            }
            let command = String::from_utf8_lossy(&line).trim_end().to_ascii_uppercase();
            let reply: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
                b"250 sink.test\r\n"
            } else if command == "DATA" {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = Vec::new();
                loop {
                    line.clear();
                    if read.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" {
                        break;
                    }
                    // Undo dot-stuffing.
                    let body = if line.starts_with(b"..") { &line[1..] } else { &line[..] };
                    data.extend_from_slice(body);
                }
                recorded.lock().unwrap().push(String::from_utf8_lossy(&data).into_owned());
                b"250 queued\r\n"
            } else if command == "QUIT" {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            } else {
                // MAIL FROM, RCPT TO, RSET, NOOP: all fine.
                b"250 ok\r\n"
            };
            write.write_all(reply).await?;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn outgoing(from_name: &str, from_addr: &str) -> Outgoing {
        Outgoing {
            tenant: None,
            dedupe_key: "test:1".into(),
            kind: "test".into(),
            to: "ann@customer.test".into(),
            from_name: from_name.into(),
            from_addr: from_addr.into(),
            reply_to: Some("help@acme.test".into()),
            rendered: Rendered {
                subject: "Hello\r\nthere".into(),
                text: "plain body https://acme.test/x".into(),
                html: "<p>html body</p>".into(),
            },
            attachment: None,
        }
    }

    fn mailer(url: &str) -> Mailer {
        Mailer::new(Transport::Smtp(parse_smtp_url(url).unwrap()), "EZSCALE", "noreply@ezscale.test").unwrap()
    }

    #[test]
    fn smtp_urls_parse() {
        let s = parse_smtp_url("smtp://127.0.0.1:1025").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls, s.username, s.password),
            ("127.0.0.1", 1025, SmtpTls::None, None, None)
        );
        let s = parse_smtp_url("smtp+starttls://me%40acme.test:p%3Ass%2Fw@mail.acme.test").unwrap();
        assert_eq!((s.host.as_str(), s.port, s.tls), ("mail.acme.test", 587, SmtpTls::StartTls));
        assert_eq!((s.username.as_deref(), s.password.as_deref()), (Some("me@acme.test"), Some("p:ss/w")));
        let s = parse_smtp_url("smtps://u:p@mail.acme.test/").unwrap();
        assert_eq!((s.port, s.tls), (465, SmtpTls::Implicit));
        assert_eq!(parse_smtp_url("smtp://[::1]:25").unwrap().host, "::1");
        assert_eq!(parse_smtp_url("smtp://h").unwrap().port, 25);
        for bad in ["http://h", "smtp://", "smtp://h:0", "smtp://h:x", "smtp://h/path", "smtp://u:%zz@h", "h:25"] {
            assert!(parse_smtp_url(bad).is_err(), "{bad}");
        }
        let err = parse_smtp_url("smtps://u:secret@h:99999").unwrap_err();
        assert!(!err.contains("secret"));
    }

    #[test]
    fn debug_hides_the_password() {
        let s = parse_smtp_url("smtps://user:hunter2@mail.acme.test").unwrap();
        let shown = format!("{s:?} {:?}", Transport::Smtp(s.clone()));
        assert!(!shown.contains("hunter2") && shown.contains("<redacted>") && shown.contains("user"));
    }

    #[test]
    fn addresses_are_validated() {
        assert_eq!(validate_address(" ann@acme.test ").unwrap(), "ann@acme.test");
        for bad in ["", "ann", "ann@acme.test\r\nBcc: x@y.test", "<ann@acme.test>", "a b@acme.test", "ann@acme.test>"] {
            assert!(matches!(validate_address(bad), Err(MailError::InvalidAddress)), "{bad:?}");
        }
    }

    #[test]
    fn an_empty_tenant_sender_uses_the_platform_address_under_the_tenant_name() {
        let m = Mailer::new(Transport::OutboxOnly, "EZSCALE", "noreply@ezscale.test").unwrap();
        let raw = String::from_utf8(m.build_message(&outgoing("Acme Cloud", "")).unwrap().formatted()).unwrap();
        assert!(raw.contains("From: \"Acme Cloud\" <noreply@ezscale.test>\r\n"), "{raw}");
        assert!(raw.contains("Reply-To: help@acme.test\r\n"));
        assert!(raw.contains("Subject: Hello there\r\n"));
        assert!(raw.contains("@ezscale.test>\r\n") && raw.contains("Message-ID: <"));
        let raw = String::from_utf8(m.build_message(&outgoing("", "")).unwrap().formatted()).unwrap();
        assert!(raw.contains("From: EZSCALE <noreply@ezscale.test>\r\n"), "{raw}");
        let own = String::from_utf8(m.build_message(&outgoing("Acme", "mail@acme.test")).unwrap().formatted()).unwrap();
        assert!(own.contains("From: Acme <mail@acme.test>\r\n"), "{own}");
        let mut bad = outgoing("Acme", "");
        bad.to = "x@y.test\r\nBcc: z@y.test".into();
        assert!(matches!(m.build_message(&bad), Err(MailError::InvalidAddress)));
    }

    #[tokio::test]
    async fn outbox_only_does_not_send() {
        let m = Mailer::new(Transport::OutboxOnly, "EZSCALE", "noreply@ezscale.test").unwrap();
        assert!(!m.delivers());
        let msg = m.build_message(&outgoing("Acme", "")).unwrap();
        assert!(matches!(m.send(msg).await, Err(MailError::NotConfigured)));
    }

    #[tokio::test]
    async fn send_delivers_both_parts_over_smtp() {
        let sink = test_sink::spawn().await;
        let m = mailer(&sink.url());
        let msg = m.build_message(&outgoing("Acme Cloud", "")).unwrap();
        m.send(msg).await.unwrap();
        let got = sink.messages();
        assert_eq!(got.len(), 1);
        let data = &got[0];
        assert!(data.contains("From: \"Acme Cloud\" <noreply@ezscale.test>"), "{data}");
        assert!(data.contains("Subject: Hello there"));
        assert!(data.contains("multipart/alternative"));
        assert!(data.contains("Content-Type: text/plain"));
        assert!(data.contains("Content-Type: text/html"));
        assert!(data.contains("plain body") && data.contains("html body"));
    }

    #[tokio::test]
    async fn an_attachment_travels_whole_beside_both_parts() {
        use base64::Engine as _;
        let sink = test_sink::spawn().await;
        let m = mailer(&sink.url());
        let mut o = outgoing("Acme Cloud", "");
        let body: Vec<u8> = b"%PDF-1.4\n".iter().copied().chain((0..=255u8).cycle().take(3000)).collect();
        o.attachment = Some(MailAttachment {
            filename: "INV-000001.pdf\"\r\nBcc: victim@x.test".into(),
            content_type: "application/pdf".into(),
            body: body.clone(),
        });
        m.send(m.build_message(&o).unwrap()).await.unwrap();
        let data = sink.messages().pop().unwrap();
        assert!(data.contains("multipart/mixed") && data.contains("multipart/alternative"), "{data}");
        assert!(data.contains("plain body") && data.contains("html body"));
        assert!(!data.lines().any(|l| l.to_ascii_lowercase().starts_with("bcc:")), "{data}");
        // (lettre splits a long parameter RFC 2231-style: `filename*0="…"`.)
        assert!(data.contains("Content-Disposition: attachment;"), "{data}");
        assert!(data.contains("=\"INV-000001.pdf___Bcc__victim_x.test\""), "{data}");
        // The part's base64 decodes to exactly the bytes queued.
        let part = data.split("Content-Type: application/pdf").nth(1).unwrap();
        let encoded: String =
            part.split("\r\n\r\n").nth(1).unwrap().lines().take_while(|l| !l.starts_with("--")).collect();
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(encoded.trim()).unwrap(), body);
        // A type that is not a MIME type is refused when the message is built.
        o.attachment.as_mut().unwrap().content_type = "not a type".into();
        assert!(matches!(m.build_message(&o), Err(MailError::Build(_))));
        assert_eq!(attachment_filename("../..//"), "attachment");
    }

    #[tokio::test]
    async fn a_crlf_in_a_display_name_cannot_add_a_header() {
        let sink = test_sink::spawn().await;
        let m = mailer(&sink.url());
        let mut o = outgoing("Evil\r\nBcc: victim@x.test", "");
        o.rendered.subject = "Hi\r\nBcc: victim@x.test".into();
        m.send(m.build_message(&o).unwrap()).await.unwrap();
        let data = sink.messages().pop().unwrap();
        assert!(!data.lines().any(|l| l.to_ascii_lowercase().starts_with("bcc:")), "{data}");
        // The name is still there, inside the From header: lettre wrote it as one encoded word.
        let from = data.lines().find(|l| l.starts_with("From: ")).unwrap();
        let encoded = from.strip_prefix("From: =?utf-8?b?").unwrap().split_once("?=").unwrap().0;
        use base64::Engine as _;
        let name = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
        assert_eq!(String::from_utf8(name).unwrap(), "Evil Bcc: victim@x.test");
        assert!(from.ends_with("<noreply@ezscale.test>"), "{data}");
    }

    #[tokio::test]
    async fn a_closed_port_is_an_smtp_error() {
        let port = test_sink::closed_port().await;
        let m = mailer(&format!("smtp://127.0.0.1:{port}"));
        let err = m.send(m.build_message(&outgoing("Acme", "")).unwrap()).await.unwrap_err();
        assert!(matches!(err, MailError::Smtp(_)), "{err}");
    }
}
