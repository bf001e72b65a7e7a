//! Mail delivery: SMTP through lettre when `KITELINE_SMTP_URL` is set,
//! otherwise `.eml` files in the data folder (for a first run and for
//! development), each with a log line saying where it went.
//!
//! Failures are sorted into permanent (the server refused the message or the
//! recipient: retrying cannot help) and transient (connection, timeout, 4xx),
//! which the job queue retries with backoff.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// A message to deliver now.
#[derive(Clone)]
pub struct Envelope<'a> {
    /// An id unique to this message (the outbox id), used for the Message-ID
    /// and the file name; it carries no personal data.
    pub id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub to_name: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("permanent: {0}")]
    Permanent(String),
    #[error("transient: {0}")]
    Transient(String),
}

#[async_trait]
pub trait MailTransport: Send + Sync {
    /// Delivers one message; returns a short description of where it went.
    async fn deliver(&self, mail: &Envelope<'_>) -> Result<String, DeliveryError>;
    /// For logs and `config check`: which transport this is.
    fn describe(&self) -> String;
}

fn build(mail: &Envelope<'_>, domain: &str) -> Result<Message, DeliveryError> {
    let from: Mailbox =
        mail.from.parse().map_err(|_| DeliveryError::Permanent("the sender address is invalid".into()))?;
    let to_addr = mail.to.parse().map_err(|_| DeliveryError::Permanent("the recipient address is invalid".into()))?;
    let to_name = (!mail.to_name.is_empty()).then(|| mail.to_name.to_owned());
    Message::builder()
        .from(from)
        .to(Mailbox::new(to_name, to_addr))
        .subject(mail.subject)
        .message_id(Some(format!("<{}@{}>", mail.id, domain)))
        .header(ContentType::TEXT_PLAIN)
        .body(mail.text.to_owned())
        .map_err(|e| DeliveryError::Permanent(format!("the message could not be built: {e}")))
}

/// The domain part of the sender, for Message-IDs.
fn sender_domain(from: &str) -> &str {
    from.rsplit('@').next().map(|d| d.trim_end_matches('>')).filter(|d| !d.is_empty()).unwrap_or("kiteline.invalid")
}

/// What an SMTP failure may say in logs and in `jobs.last_error`: the reply
/// code and the enhanced status code (`SMTP 550 5.1.1`), or the kind of
/// failure. Never the server's text, which quotes the recipient's address
/// (`5.1.1 <someone@…>: Recipient address rejected`).
fn summary(e: &lettre::transport::smtp::Error) -> String {
    if let Some(code) = e.status() {
        let text = e.to_string();
        return match enhanced_status(&text) {
            Some(enhanced) => format!("SMTP {code} {enhanced}"),
            None => format!("SMTP {code}"),
        };
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_tls() {
        "TLS failed"
    } else if e.is_client() {
        "the client could not send the message"
    } else {
        "the connection failed"
    };
    format!("SMTP: {kind}")
}

/// The first `class.subject.detail` code (RFC 3463) in a reply, if any.
fn enhanced_status(reply: &str) -> Option<&str> {
    reply.split(|c: char| c.is_whitespace() || c == ':' || c == ',').find(|w| {
        let parts: Vec<&str> = w.split('.').collect();
        parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts[1..].iter().all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// SMTP delivery. The URL follows lettre's form:
/// `smtp://user:pass@host:587?tls=required` (STARTTLS), `smtps://…:465` (TLS),
/// or `smtp://host:25` (plain, for a relay on the same host).
pub struct SmtpTransport {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    redacted_url: String,
}

impl SmtpTransport {
    pub fn from_url(url: &str) -> Result<SmtpTransport, String> {
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|e| format!("{e}"))?;
        Ok(SmtpTransport {
            transport: builder.timeout(Some(Duration::from_secs(30))).build(),
            redacted_url: redact_url(url),
        })
    }
}

#[async_trait]
impl MailTransport for SmtpTransport {
    async fn deliver(&self, mail: &Envelope<'_>) -> Result<String, DeliveryError> {
        let message = build(mail, sender_domain(mail.from))?;
        match self.transport.send(message).await {
            Ok(response) => Ok(format!("SMTP {}", response.code())),
            Err(e) if e.is_permanent() => Err(DeliveryError::Permanent(summary(&e))),
            Err(e) => Err(DeliveryError::Transient(summary(&e))),
        }
    }

    fn describe(&self) -> String {
        format!("SMTP {}", self.redacted_url)
    }
}

/// Writes each message as `<dir>/<id>.eml` (mode 0600).
pub struct FileTransport {
    dir: PathBuf,
}

impl FileTransport {
    pub fn new(dir: &Path) -> FileTransport {
        FileTransport { dir: dir.to_path_buf() }
    }
}

#[async_trait]
impl MailTransport for FileTransport {
    async fn deliver(&self, mail: &Envelope<'_>) -> Result<String, DeliveryError> {
        if !mail.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(DeliveryError::Permanent("message id is not a safe file name".into()));
        }
        let bytes = build(mail, sender_domain(mail.from))?.formatted();
        let path = self.dir.join(format!("{}.eml", mail.id));
        let dir = self.dir.clone();
        let p = path.clone();
        tokio::task::spawn_blocking(move || write_private(&dir, &p, &bytes))
            .await
            .map_err(|e| DeliveryError::Transient(e.to_string()))?
            .map_err(|e| DeliveryError::Transient(format!("cannot write {}: {e}", path.display())))?;
        Ok(format!("file {}", path.display()))
    }

    fn describe(&self) -> String {
        format!(".eml files in {}", self.dir.display())
    }
}

fn write_private(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir)?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Whether `s` is a mailbox lettre accepts, like `Name <line@example.org>`.
pub fn is_valid_mailbox(s: &str) -> bool {
    s.parse::<Mailbox>().is_ok()
}

/// A URL with any password replaced by `***`, for logs and `config check`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            let masked = if userinfo.contains(':') { format!("{user}:***") } else { user.to_owned() };
            format!("{scheme}://{masked}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("smtp://u:secret@mail.example.org:587?tls=required"),
            "smtp://u:***@mail.example.org:587?tls=required"
        );
        assert_eq!(redact_url("postgres://k:p%40ss@db/kiteline"), "postgres://k:***@db/kiteline");
        assert_eq!(redact_url("smtp://relay:25"), "smtp://relay:25");
        assert_eq!(redact_url("postgres://user@db"), "postgres://user@db");
    }

    #[test]
    fn only_reply_codes_are_kept_from_a_refusal() {
        let reply = "permanent error (550): 5.1.1 <secret.person@example.org>: Recipient address rejected";
        assert_eq!(enhanced_status(reply), Some("5.1.1"));
        assert_eq!(enhanced_status("transient error (451): try again later"), None);
        assert_eq!(enhanced_status("4.7.0 greylisted, see 1.2.3.4"), Some("4.7.0"));
    }

    #[test]
    fn sender_domain_is_taken_from_the_address() {
        assert_eq!(sender_domain("Kiteline <hello@example.org>"), "example.org");
        assert_eq!(sender_domain("nobody"), "nobody");
    }

    #[tokio::test]
    async fn file_transport_writes_a_private_eml() {
        let dir = std::env::temp_dir().join(format!("kl-mail-{}", std::process::id()));
        let t = FileTransport::new(&dir);
        let env = Envelope {
            id: "0190-abc",
            from: "Kiteline <k@example.org>",
            to: "ana@example.org",
            to_name: "Ana Ruiz",
            subject: "Hola — prueba",
            text: "Línea uno\nLínea dos",
        };
        let where_ = t.deliver(&env).await.unwrap();
        let path = dir.join("0190-abc.eml");
        assert!(where_.contains("0190-abc.eml"));
        let raw = std::fs::read_to_string(&path).unwrap();
        assert!(
            raw.contains("To: \"Ana Ruiz\" <ana@example.org>") || raw.contains("To: Ana Ruiz <ana@example.org>"),
            "{raw}"
        );
        assert!(raw.contains("Message-ID: <0190-abc@example.org>"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let bad = Envelope { id: "../escape", ..env };
        assert!(matches!(t.deliver(&bad).await, Err(DeliveryError::Permanent(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
