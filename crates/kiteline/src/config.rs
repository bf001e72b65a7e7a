//! Configuration: `KITELINE_*` environment variables over an optional TOML
//! file over defaults chosen so that no configuration at all gives a working,
//! private server on 127.0.0.1:8080 with a SQLite file in `./kiteline-data/`.
//!
//! The TOML file uses the same names without the prefix, in lower case
//! (`KITELINE_PUBLIC_URL` ↔ `public_url`). A bad value is one line naming the
//! setting; the binary exits with status 2.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// One setting: its name, default (as text; empty = unset) and meaning.
pub struct Setting {
    pub env: &'static str,
    pub default: &'static str,
    pub secret: bool,
    pub help: &'static str,
}

/// Every setting, in the order the README and `config check` list them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        env: "KITELINE_LISTEN",
        default: "127.0.0.1:8080",
        secret: false,
        help: "address and port to serve HTTP on",
    },
    Setting {
        env: "KITELINE_DATA_DIR",
        default: "./kiteline-data",
        secret: false,
        help: "folder for the SQLite database, the key file and .eml mail",
    },
    Setting {
        env: "KITELINE_DATABASE_URL",
        default: "sqlite://<data dir>/kiteline.db",
        secret: true,
        help: "sqlite://PATH or postgres://USER:PASS@HOST/DB",
    },
    Setting {
        env: "KITELINE_DB_POOL_SIZE",
        default: "16",
        secret: false,
        help: "PostgreSQL connections per node (1-256)",
    },
    Setting {
        env: "KITELINE_KEY_FILE",
        default: "<data dir>/kiteline.key",
        secret: false,
        help: "key-encryption and blind-index keys; created (mode 0600) if missing",
    },
    Setting {
        env: "KITELINE_PUBLIC_URL",
        default: "http://<listen address>",
        secret: false,
        help: "base URL people reach the server at; https:// turns on HSTS and Secure cookies",
    },
    Setting {
        env: "KITELINE_SITE_NAME",
        default: "Kiteline",
        secret: false,
        help: "the organization's name until an admin sets it in Settings; shown on every page and in mail",
    },
    Setting {
        env: "KITELINE_DEFAULT_CALLING_CODE",
        default: "",
        secret: false,
        help: "country calling code (1 for the US) added to phone numbers typed without +; unset refuses them",
    },
    Setting {
        env: "KITELINE_SMTP_URL",
        default: "",
        secret: true,
        help: "smtp://USER:PASS@HOST:587?tls=required or smtps://…:465; unset writes .eml files to <data dir>/mail",
    },
    Setting {
        env: "KITELINE_MAIL_FROM",
        default: "Kiteline <kiteline@localhost>",
        secret: false,
        help: "sender of all mail",
    },
    Setting {
        env: "KITELINE_WORKER",
        default: "on",
        secret: false,
        help: "run the job worker inside `serve` (off when running `kiteline worker` separately)",
    },
    Setting {
        env: "KITELINE_SHUTDOWN_GRACE_SECONDS",
        default: "30",
        secret: false,
        help: "on SIGTERM, how long in-flight requests and the current job may take",
    },
    Setting {
        env: "KITELINE_RATE_LIMITS",
        default: "on",
        secret: false,
        help: "off disables every rate limit: for load tests only, with a loud warning at start",
    },
    Setting {
        env: "KITELINE_CLIENT_IP_HEADER",
        default: "",
        secret: false,
        help: "behind a reverse proxy, the header carrying the client address (X-Forwarded-For)",
    },
    Setting {
        env: "KITELINE_TRUSTED_PROXIES",
        default: "1",
        secret: false,
        help: "how many proxies in front of Kiteline each append to that header (1-10)",
    },
    Setting {
        env: "KITELINE_AUDIT_RETENTION_DAYS",
        default: "180",
        secret: false,
        help: "audit-log entries older than this are deleted hourly; the rest stays verifiable",
    },
    Setting {
        env: "KITELINE_ALLOW_READABLE_KEY_FILE",
        default: "off",
        secret: false,
        help: "on starts even if other users can read the key file (with a warning)",
    },
    Setting {
        env: "KITELINE_CHAPTER_COORDINATORS_SEE_AT_LARGE",
        default: "off",
        secret: false,
        help: "on lets coordinators of a chapter also see and manage at-large volunteers",
    },
    Setting {
        env: "KITELINE_HEADER_TIMEOUT_SECONDS",
        default: "10",
        secret: false,
        help: "a connection that has not sent its request headers by then is closed (1-300)",
    },
    Setting {
        env: "KITELINE_BODY_TIMEOUT_SECONDS",
        default: "30",
        secret: false,
        help: "a request whose body has not arrived by then gets 408 (1-3600)",
    },
    Setting {
        env: "KITELINE_REQUEST_TIMEOUT_SECONDS",
        default: "60",
        secret: false,
        help: "a request not answered by then gets 503 (1-3600)",
    },
    Setting {
        env: "KITELINE_MAX_HEADER_BYTES",
        default: "16384",
        secret: false,
        help: "largest request head (request line and headers) read (8192-1048576)",
    },
    Setting {
        env: "KITELINE_MAX_CONNECTIONS",
        default: "auto",
        secret: false,
        help: "most open connections; auto is three quarters of the open-file limit, at most 10000",
    },
    Setting {
        env: "KITELINE_LOG",
        default: "info",
        secret: false,
        help: "log level, optionally per target: info,kiteline::http=warn",
    },
    Setting {
        env: "KITELINE_LOG_FORMAT",
        default: "text",
        secret: false,
        help: "text or json (one JSON object per line)",
    },
];

/// Environment variables that are not settings but are allowed.
const OTHER_ENV: &[&str] = &["KITELINE_CONFIG", "KITELINE_TEST_DATABASE_URL"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Default,
    File,
    Env,
}

/// The effective configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub db_pool_size: usize,
    pub key_file: PathBuf,
    pub public_url: String,
    pub site_name: String,
    pub default_calling_code: Option<String>,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub worker: bool,
    pub shutdown_grace_seconds: u64,
    pub rate_limits: bool,
    pub client_ip_header: Option<String>,
    pub trusted_proxies: usize,
    pub audit_retention_days: u64,
    pub allow_readable_key_file: bool,
    pub chapter_coordinators_see_at_large: bool,
    pub header_timeout_seconds: u64,
    pub body_timeout_seconds: u64,
    pub request_timeout_seconds: u64,
    pub max_header_bytes: usize,
    /// `None`: derived from the open-file limit at start (`auto`).
    pub max_connections: Option<usize>,
    pub log: String,
    pub log_format: LogFormat,
    /// Where each setting's value came from, by env name.
    pub sources: BTreeMap<&'static str, Source>,
    /// `KITELINE_*` variables that match no setting (likely typos).
    pub unknown_env: Vec<String>,
}

/// A bad setting: which one and why, in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.message)
    }
}

impl std::error::Error for ConfigError {}

fn err(setting: &str, message: impl Into<String>) -> ConfigError {
    ConfigError { setting: setting.to_owned(), message: message.into() }
}

/// Reads the TOML file into `ENV_NAME → value` pairs.
fn read_file(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let setting = "KITELINE_CONFIG";
    let text =
        std::fs::read_to_string(path).map_err(|e| err(setting, format!("cannot read {}: {e}", path.display())))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| err(setting, format!("{} is not valid TOML: {}", path.display(), e.message())))?;
    let mut out = BTreeMap::new();
    for (key, value) in table {
        let env = format!("KITELINE_{}", key.to_ascii_uppercase());
        if !SETTINGS.iter().any(|s| s.env == env) {
            return Err(err(setting, format!("{} has an unknown setting `{key}`", path.display())));
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(err(
                    &env,
                    format!("in {} must be a string, number or boolean, not {}", path.display(), other.type_str()),
                ));
            }
        };
        out.insert(env, text);
    }
    Ok(out)
}

/// Builds the configuration from an optional file and an environment.
pub fn load(file: Option<&Path>, env: &[(String, String)]) -> Result<Config, ConfigError> {
    let from_file = match file {
        Some(p) => read_file(p)?,
        None => BTreeMap::new(),
    };
    let mut sources = BTreeMap::new();
    let get = |name: &'static str, sources: &mut BTreeMap<&'static str, Source>| -> Option<String> {
        if let Some((_, v)) = env.iter().find(|(k, _)| k == name) {
            sources.insert(name, Source::Env);
            return Some(v.clone());
        }
        if let Some(v) = from_file.get(name) {
            sources.insert(name, Source::File);
            return Some(v.clone());
        }
        sources.insert(name, Source::Default);
        None
    };

    let listen_raw = get("KITELINE_LISTEN", &mut sources).unwrap_or_else(|| "127.0.0.1:8080".into());
    let listen: SocketAddr = listen_raw.trim().parse().map_err(|_| {
        err("KITELINE_LISTEN", format!("{listen_raw:?} is not an address and port, like 127.0.0.1:8080 or [::]:8080"))
    })?;

    let data_dir = PathBuf::from(get("KITELINE_DATA_DIR", &mut sources).unwrap_or_else(|| "./kiteline-data".into()));
    if data_dir.as_os_str().is_empty() {
        return Err(err("KITELINE_DATA_DIR", "must not be empty"));
    }

    let database_url = match get("KITELINE_DATABASE_URL", &mut sources) {
        Some(url) => {
            let url = url.trim().to_owned();
            if kiteline_store::sqlite_path(&url).is_none()
                && !url.starts_with("postgres://")
                && !url.starts_with("postgresql://")
            {
                return Err(err(
                    "KITELINE_DATABASE_URL",
                    "must start with sqlite:// or postgres:// (for example postgres://kiteline@localhost/kiteline)",
                ));
            }
            if url.starts_with("postgres") && !kiteline_store::postgres_url_parses(&url) {
                return Err(err("KITELINE_DATABASE_URL", "is not a valid PostgreSQL URL"));
            }
            url
        }
        None => format!("sqlite://{}", data_dir.join("kiteline.db").display()),
    };

    let db_pool_size =
        parse_number("KITELINE_DB_POOL_SIZE", get("KITELINE_DB_POOL_SIZE", &mut sources), 16, 1, 256)? as usize;

    let key_file = get("KITELINE_KEY_FILE", &mut sources).map_or_else(|| data_dir.join("kiteline.key"), PathBuf::from);

    let public_url = match get("KITELINE_PUBLIC_URL", &mut sources) {
        Some(u) => {
            let u = u.trim().trim_end_matches('/').to_owned();
            let rest = u.strip_prefix("https://").or_else(|| u.strip_prefix("http://"));
            match rest {
                Some(host) if !host.is_empty() && !host.contains(['?', '#', ' ']) => u,
                _ => {
                    return Err(err(
                        "KITELINE_PUBLIC_URL",
                        format!("{u:?} must be an http:// or https:// URL, like https://line.example.org"),
                    ));
                }
            }
        }
        None => url_for(listen),
    };

    let site_name = get("KITELINE_SITE_NAME", &mut sources).unwrap_or_else(|| "Kiteline".into()).trim().to_owned();
    if site_name.is_empty() || site_name.chars().count() > 100 || site_name.chars().any(char::is_control) {
        return Err(err("KITELINE_SITE_NAME", "must be 1 to 100 characters on one line"));
    }

    let default_calling_code = get("KITELINE_DEFAULT_CALLING_CODE", &mut sources)
        .map(|c| c.trim().trim_start_matches('+').to_owned())
        .filter(|c| !c.is_empty());
    if let Some(code) = &default_calling_code
        && !kiteline_core::account::is_calling_code(code)
    {
        return Err(err(
            "KITELINE_DEFAULT_CALLING_CODE",
            format!("{code:?} is not a country calling code, like 1 (US, Canada) or 52 (Mexico)"),
        ));
    }

    let smtp_url = get("KITELINE_SMTP_URL", &mut sources).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    if let Some(url) = &smtp_url {
        if !url.starts_with("smtp://") && !url.starts_with("smtps://") {
            return Err(err("KITELINE_SMTP_URL", "must start with smtp:// or smtps://"));
        }
        kiteline_integrations::mail::SmtpTransport::from_url(url)
            .map_err(|e| err("KITELINE_SMTP_URL", format!("is not usable: {e}")))?;
    }

    let mail_from = get("KITELINE_MAIL_FROM", &mut sources).unwrap_or_else(|| "Kiteline <kiteline@localhost>".into());
    if !kiteline_integrations::mail::is_valid_mailbox(&mail_from) {
        return Err(err(
            "KITELINE_MAIL_FROM",
            format!("{mail_from:?} is not an address like \"Name <line@example.org>\""),
        ));
    }

    let worker = parse_bool("KITELINE_WORKER", get("KITELINE_WORKER", &mut sources), true)?;
    let shutdown_grace_seconds = parse_number(
        "KITELINE_SHUTDOWN_GRACE_SECONDS",
        get("KITELINE_SHUTDOWN_GRACE_SECONDS", &mut sources),
        30,
        1,
        3600,
    )?;

    let rate_limits = parse_bool("KITELINE_RATE_LIMITS", get("KITELINE_RATE_LIMITS", &mut sources), true)?;
    let client_ip_header =
        get("KITELINE_CLIENT_IP_HEADER", &mut sources).map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty());
    if let Some(h) = &client_ip_header
        && !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(err("KITELINE_CLIENT_IP_HEADER", format!("{h:?} is not a header name, like X-Forwarded-For")));
    }
    let trusted_proxies =
        parse_number("KITELINE_TRUSTED_PROXIES", get("KITELINE_TRUSTED_PROXIES", &mut sources), 1, 1, 10)? as usize;
    let audit_retention_days = parse_number(
        "KITELINE_AUDIT_RETENTION_DAYS",
        get("KITELINE_AUDIT_RETENTION_DAYS", &mut sources),
        180,
        1,
        36500,
    )?;
    let allow_readable_key_file =
        parse_bool("KITELINE_ALLOW_READABLE_KEY_FILE", get("KITELINE_ALLOW_READABLE_KEY_FILE", &mut sources), false)?;
    let chapter_coordinators_see_at_large = parse_bool(
        "KITELINE_CHAPTER_COORDINATORS_SEE_AT_LARGE",
        get("KITELINE_CHAPTER_COORDINATORS_SEE_AT_LARGE", &mut sources),
        false,
    )?;
    let mut seconds =
        |name: &'static str, default: u64, max: u64| parse_number(name, get(name, &mut sources), default, 1, max);
    let header_timeout_seconds = seconds("KITELINE_HEADER_TIMEOUT_SECONDS", 10, 300)?;
    let body_timeout_seconds = seconds("KITELINE_BODY_TIMEOUT_SECONDS", 30, 3600)?;
    let request_timeout_seconds = seconds("KITELINE_REQUEST_TIMEOUT_SECONDS", 60, 3600)?;
    let max_header_bytes = parse_number(
        "KITELINE_MAX_HEADER_BYTES",
        get("KITELINE_MAX_HEADER_BYTES", &mut sources),
        16384,
        8192,
        1 << 20,
    )? as usize;
    let max_connections = match get("KITELINE_MAX_CONNECTIONS", &mut sources) {
        None => None,
        Some(v) if v.trim().eq_ignore_ascii_case("auto") => None,
        raw => Some(parse_number("KITELINE_MAX_CONNECTIONS", raw, 0, 1, 100_000)? as usize),
    };

    let log = get("KITELINE_LOG", &mut sources).unwrap_or_else(|| "info".into());
    if !valid_log_filter(&log) {
        return Err(err(
            "KITELINE_LOG",
            format!(
                "{log:?} is not a level (off, error, warn, info, debug, trace) or a list like info,kiteline::http=warn"
            ),
        ));
    }
    let log_format = match get("KITELINE_LOG_FORMAT", &mut sources).as_deref().map(str::trim) {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => return Err(err("KITELINE_LOG_FORMAT", format!("{other:?} must be text or json"))),
    };

    let unknown_env = env
        .iter()
        .map(|(k, _)| k)
        .filter(|k| {
            k.starts_with("KITELINE_") && !SETTINGS.iter().any(|s| s.env == *k) && !OTHER_ENV.contains(&k.as_str())
        })
        .cloned()
        .collect();

    Ok(Config {
        listen,
        data_dir,
        database_url,
        db_pool_size,
        key_file,
        public_url,
        site_name,
        default_calling_code,
        smtp_url,
        mail_from,
        worker,
        shutdown_grace_seconds,
        rate_limits,
        client_ip_header,
        trusted_proxies,
        audit_retention_days,
        allow_readable_key_file,
        chapter_coordinators_see_at_large,
        header_timeout_seconds,
        body_timeout_seconds,
        request_timeout_seconds,
        max_header_bytes,
        max_connections,
        log,
        log_format,
        sources,
        unknown_env,
    })
}

/// The URL of a server listening on `addr` when no public URL is set:
/// `localhost` for an unspecified address (`0.0.0.0`, `[::]`).
pub fn url_for(addr: SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() { "localhost".to_owned() } else { addr.ip().to_string() };
    let host = if addr.is_ipv6() && host != "localhost" { format!("[{host}]") } else { host };
    format!("http://{host}:{}", addr.port())
}

/// A comma-separated list of `level` or `target=level` directives.
fn valid_log_filter(filter: &str) -> bool {
    let level =
        |l: &str| ["off", "error", "warn", "info", "debug", "trace"].contains(&l.trim().to_ascii_lowercase().as_str());
    !filter.trim().is_empty()
        && filter.split(',').all(|d| match d.split_once('=') {
            Some((target, l)) => !target.trim().is_empty() && !target.trim().contains(char::is_whitespace) && level(l),
            None => level(d),
        })
        && filter.parse::<tracing_subscriber::filter::Targets>().is_ok()
}

fn parse_bool(setting: &str, raw: Option<String>, default: bool) -> Result<bool, ConfigError> {
    match raw.as_deref().map(|s| s.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if ["on", "true", "yes", "1"].contains(&v.as_str()) => Ok(true),
        Some(v) if ["off", "false", "no", "0"].contains(&v.as_str()) => Ok(false),
        Some(v) => Err(err(setting, format!("{v:?} must be on or off"))),
    }
}

fn parse_number(setting: &str, raw: Option<String>, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(err(setting, format!("{raw:?} must be a whole number from {min} to {max}"))),
    }
}

fn on_off(b: bool) -> String {
    if b { "on" } else { "off" }.into()
}

/// The soft limit on open files of this process (Linux: `/proc/self/limits`).
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

impl Config {
    /// The most connections served at once: the setting, or three quarters
    /// of the open-file limit (the rest is for the database, the log and
    /// the key file), at most 10,000.
    pub fn connection_cap(&self) -> usize {
        self.max_connections.unwrap_or_else(|| open_file_limit().map_or(768, |l| (l / 4 * 3).clamp(8, 10_000)))
    }

    pub fn is_sqlite(&self) -> bool {
        kiteline_store::sqlite_path(&self.database_url).is_some()
    }

    /// Each setting's effective value for display, secrets redacted.
    pub fn effective(&self) -> Vec<(&'static str, String, Source)> {
        let redact = kiteline_integrations::mail::redact_url;
        let value = |env: &str| -> String {
            match env {
                "KITELINE_LISTEN" => self.listen.to_string(),
                "KITELINE_DATA_DIR" => self.data_dir.display().to_string(),
                "KITELINE_DATABASE_URL" => redact(&self.database_url),
                "KITELINE_DB_POOL_SIZE" => self.db_pool_size.to_string(),
                "KITELINE_KEY_FILE" => self.key_file.display().to_string(),
                "KITELINE_PUBLIC_URL" => self.public_url.clone(),
                "KITELINE_SITE_NAME" => self.site_name.clone(),
                "KITELINE_DEFAULT_CALLING_CODE" => {
                    self.default_calling_code.clone().unwrap_or_else(|| "(unset: numbers need +)".into())
                }
                "KITELINE_SMTP_URL" => self.smtp_url.as_deref().map_or("(unset: .eml files)".into(), redact),
                "KITELINE_MAIL_FROM" => self.mail_from.clone(),
                "KITELINE_WORKER" => on_off(self.worker),
                "KITELINE_SHUTDOWN_GRACE_SECONDS" => self.shutdown_grace_seconds.to_string(),
                "KITELINE_RATE_LIMITS" => on_off(self.rate_limits),
                "KITELINE_CLIENT_IP_HEADER" => {
                    self.client_ip_header.clone().unwrap_or_else(|| "(unset: socket address)".into())
                }
                "KITELINE_TRUSTED_PROXIES" => self.trusted_proxies.to_string(),
                "KITELINE_AUDIT_RETENTION_DAYS" => self.audit_retention_days.to_string(),
                "KITELINE_ALLOW_READABLE_KEY_FILE" => on_off(self.allow_readable_key_file),
                "KITELINE_CHAPTER_COORDINATORS_SEE_AT_LARGE" => on_off(self.chapter_coordinators_see_at_large),
                "KITELINE_HEADER_TIMEOUT_SECONDS" => self.header_timeout_seconds.to_string(),
                "KITELINE_BODY_TIMEOUT_SECONDS" => self.body_timeout_seconds.to_string(),
                "KITELINE_REQUEST_TIMEOUT_SECONDS" => self.request_timeout_seconds.to_string(),
                "KITELINE_MAX_HEADER_BYTES" => self.max_header_bytes.to_string(),
                "KITELINE_MAX_CONNECTIONS" => {
                    self.max_connections.map_or_else(|| format!("auto ({})", self.connection_cap()), |n| n.to_string())
                }
                "KITELINE_LOG" => self.log.clone(),
                "KITELINE_LOG_FORMAT" => if self.log_format == LogFormat::Json { "json" } else { "text" }.into(),
                _ => String::new(),
            }
        };
        SETTINGS
            .iter()
            .map(|s| (s.env, value(s.env), self.sources.get(s.env).copied().unwrap_or(Source::Default)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn no_configuration_gives_a_private_sqlite_server() {
        let c = load(None, &[]).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.database_url, "sqlite://./kiteline-data/kiteline.db");
        assert_eq!(c.key_file, PathBuf::from("./kiteline-data/kiteline.key"));
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert!(c.worker && c.smtp_url.is_none() && c.is_sqlite());
    }

    #[test]
    fn each_bad_value_names_its_setting() {
        let cases = [
            ("KITELINE_LISTEN", "8080"),
            ("KITELINE_DATABASE_URL", "mysql://x"),
            ("KITELINE_DB_POOL_SIZE", "0"),
            ("KITELINE_PUBLIC_URL", "line.example.org"),
            ("KITELINE_SITE_NAME", ""),
            ("KITELINE_DEFAULT_CALLING_CODE", "USA"),
            ("KITELINE_SMTP_URL", "http://mail"),
            ("KITELINE_MAIL_FROM", "not an address"),
            ("KITELINE_WORKER", "maybe"),
            ("KITELINE_SHUTDOWN_GRACE_SECONDS", "-1"),
            ("KITELINE_LOG", "loud"),
            ("KITELINE_LOG_FORMAT", "xml"),
            ("KITELINE_RATE_LIMITS", "sometimes"),
            ("KITELINE_CLIENT_IP_HEADER", "X Forwarded"),
            ("KITELINE_AUDIT_RETENTION_DAYS", "0"),
            ("KITELINE_TRUSTED_PROXIES", "0"),
            ("KITELINE_ALLOW_READABLE_KEY_FILE", "perhaps"),
            ("KITELINE_CHAPTER_COORDINATORS_SEE_AT_LARGE", "2"),
            ("KITELINE_HEADER_TIMEOUT_SECONDS", "0"),
            ("KITELINE_BODY_TIMEOUT_SECONDS", "x"),
            ("KITELINE_REQUEST_TIMEOUT_SECONDS", "99999"),
            ("KITELINE_MAX_HEADER_BYTES", "100"),
            ("KITELINE_MAX_CONNECTIONS", "none"),
        ];
        for (k, v) in cases {
            let e = load(None, &env(&[(k, v)])).unwrap_err();
            assert_eq!(e.setting, k, "{k}={v}: {e}");
            assert!(!e.to_string().contains('\n'));
        }
    }

    #[test]
    fn environment_overrides_the_file_which_overrides_defaults() {
        let dir = kiteline_store::testing::TempDir::new("kl-config");
        let file = dir.path().join("kiteline.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\nsite_name = \"Solidarity Line\"\nworker = false\ndb_pool_size = 4\n",
        )
        .unwrap();
        let c =
            load(Some(&file), &env(&[("KITELINE_SITE_NAME", "From Env"), ("KITELINE_DATABSE_URL", "typo")])).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.public_url, "http://localhost:9000");
        assert_eq!(c.site_name, "From Env");
        assert!(!c.worker);
        assert_eq!(c.db_pool_size, 4);
        assert_eq!(c.sources["KITELINE_LISTEN"], Source::File);
        assert_eq!(c.sources["KITELINE_SITE_NAME"], Source::Env);
        assert_eq!(c.sources["KITELINE_LOG"], Source::Default);
        assert_eq!(c.unknown_env, vec!["KITELINE_DATABSE_URL".to_owned()]);

        std::fs::write(&file, "listne = \"x\"\n").unwrap();
        assert!(load(Some(&file), &[]).unwrap_err().to_string().contains("unknown setting `listne`"));
        std::fs::write(&file, "listen = [1]\n").unwrap();
        assert_eq!(load(Some(&file), &[]).unwrap_err().setting, "KITELINE_LISTEN");
        std::fs::write(&file, "listen = \n").unwrap();
        assert_eq!(load(Some(&file), &[]).unwrap_err().setting, "KITELINE_CONFIG");
    }

    #[test]
    fn secrets_are_redacted_in_the_effective_settings() {
        let c = load(
            None,
            &env(&[
                ("KITELINE_DATABASE_URL", "postgres://kl:hunter2@db.internal/kiteline"),
                ("KITELINE_SMTP_URL", "smtp://mailer:s3cret@mail.example.org:587?tls=required"),
            ]),
        )
        .unwrap();
        let shown = format!("{:?}", c.effective());
        assert!(!shown.contains("hunter2") && !shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://kl:***@db.internal/kiteline"));
        assert!(!c.is_sqlite());
    }

    #[test]
    fn log_filters_are_levels_or_target_levels() {
        for ok in ["info", "warn,kiteline::http=error", "DEBUG", "off"] {
            assert!(valid_log_filter(ok), "{ok}");
        }
        for bad in ["loud", "", "info,", "kiteline=loud", "=info", "a b=info"] {
            assert!(!valid_log_filter(bad), "{bad}");
        }
    }

    #[test]
    fn the_readme_documents_every_setting_with_its_default() {
        let readme = include_str!("../../../README.md");
        for s in SETTINGS {
            let default = if s.default.is_empty() { "(unset)".to_owned() } else { format!("`{}`", s.default) };
            let row = format!("| `{}` | {default} |", s.env);
            assert!(readme.contains(&row), "README lacks the row {row}");
        }
    }

    /// Every setting is known everywhere: environment (no typo warning),
    /// the TOML file (accepted), and `config check` (shown with a value).
    #[test]
    fn every_setting_works_from_the_environment_the_file_and_config_check() {
        let dir = kiteline_store::testing::TempDir::new("kl-config");
        let file = dir.path().join("kiteline.toml");
        let value = |s: &Setting| match s.env {
            "KITELINE_LISTEN" => "127.0.0.1:9999".to_owned(),
            "KITELINE_DATABASE_URL" => "sqlite://x.db".to_owned(),
            "KITELINE_PUBLIC_URL" => "https://line.example.org".to_owned(),
            "KITELINE_SMTP_URL" => "smtp://mail.example.org:25".to_owned(),
            "KITELINE_CLIENT_IP_HEADER" => "x-forwarded-for".to_owned(),
            "KITELINE_DEFAULT_CALLING_CODE" => "1".to_owned(),
            _ if s.default.starts_with('<') || s.default.is_empty() => "./somewhere".to_owned(),
            _ => s.default.to_owned(),
        };
        let toml: String = SETTINGS
            .iter()
            .map(|s| format!("{} = {:?}\n", s.env.trim_start_matches("KITELINE_").to_ascii_lowercase(), value(s)))
            .collect();
        std::fs::write(&file, toml).unwrap();
        let from_file = load(Some(&file), &[]).unwrap();
        let vars: Vec<(String, String)> = SETTINGS.iter().map(|s| (s.env.to_owned(), value(s))).collect();
        let from_env = load(None, &vars).unwrap();
        assert!(from_env.unknown_env.is_empty(), "{:?}", from_env.unknown_env);
        for c in [from_file, from_env] {
            let shown = c.effective();
            assert_eq!(shown.len(), SETTINGS.len());
            for (name, value, source) in shown {
                assert!(!value.is_empty(), "{name} has no value in config check");
                assert_ne!(source, Source::Default, "{name} was not read");
            }
        }
    }

    #[test]
    fn public_url_is_normalised_and_https_noted() {
        let c = load(None, &env(&[("KITELINE_PUBLIC_URL", "https://line.example.org/")])).unwrap();
        assert_eq!(c.public_url, "https://line.example.org");
    }
}
