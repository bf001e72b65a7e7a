//! The security plumbing every request passes through: the CSRF check, the
//! session lookup, rate limits, and the extractors that say who may reach a
//! handler.
//!
//! * **CSRF**: a signed double-submit token. Each browser gets a random
//!   `kiteline_csrf` cookie (`__Host-` prefixed over https); every form carries
//!   `csrf = HMAC(server key, cookie)`. Every state-changing request outside
//!   `/api/` (which uses bearer tokens, never cookies) must present it, and a
//!   `Sec-Fetch-Site: cross-site` request is refused outright.
//! * **Sessions**: the cookie holds 128 random bits; the database holds only
//!   their SHA-256. Idle and absolute limits by role, checked on every request;
//!   a disabled account's session is refused at once.
//! * **Rate limits**: per network prefix (/24, /64) in memory — addresses are
//!   never stored — and per account in the database, shared by every node.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::{SignedDuration, Timestamp};
pub use kiteline_core::Stage;
use kiteline_core::crypto::{constant_time_eq, hex};
use kiteline_core::{Role, TokenDigest, account};
use kiteline_store::{Counter, SessionRecord, User};
use kiteline_templates::pages::{Chrome, Nav};

use crate::AppState;
use crate::error::AppError;
use crate::locale::{Locale, cookie};

// ---------------------------------------------------------------- cookies

pub fn session_cookie_name(https: bool) -> &'static str {
    if https { "__Host-kiteline_session" } else { "kiteline_session" }
}

pub fn csrf_cookie_name(https: bool) -> &'static str {
    if https { "__Host-kiteline_csrf" } else { "kiteline_csrf" }
}

/// `Set-Cookie` for a host-only, HttpOnly, SameSite=Lax cookie; `Secure` over https.
pub fn set_cookie(name: &str, value: &str, https: bool, max_age: Option<i64>) -> HeaderValue {
    let secure = if https { "; Secure" } else { "" };
    let age = max_age.map(|a| format!("; Max-Age={a}")).unwrap_or_default();
    HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}{age}"))
        .expect("cookie values are URL-safe")
}

fn random_hex<const N: usize>() -> String {
    hex(&kiteline_store::random_bytes::<N>())
}

// ------------------------------------------------------------------- CSRF

/// The token this browser's forms must carry.
#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

fn csrf_token(state: &AppState, browser: &str) -> String {
    hex(&state.vault.derive("csrf", browser.as_bytes()))
}

fn is_state_changing(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The largest form body we read.
const MAX_FORM_BYTES: usize = 256 * 1024;

pub async fn csrf(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let https = state.config.is_https();
    let name = csrf_cookie_name(https);
    let existing = cookie(req.headers(), name).filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()));
    let (browser, fresh) = match existing {
        Some(v) => (v.to_owned(), false),
        None => (random_hex::<16>(), true),
    };
    let expected = csrf_token(&state, &browser);
    let (mut parts, body) = req.into_parts();
    let body = if is_state_changing(&parts.method) && !parts.uri.path().starts_with("/api/") {
        let cross_site = parts.headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"cross-site");
        let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
            Ok(b) => b,
            Err(_) => return crate::middleware::early_error_page(&parts.headers, AppError::BadRequest),
        };
        let submitted = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| form_field(&bytes, "csrf"));
        let ok =
            !fresh && !cross_site && submitted.is_some_and(|s| constant_time_eq(s.as_bytes(), expected.as_bytes()));
        if !ok {
            tracing::warn!(target: "kiteline::security", method = %parts.method, "request refused: missing or wrong CSRF token");
            return crate::middleware::early_error_page(&parts.headers, AppError::Csrf);
        }
        axum::body::Body::from(bytes)
    } else {
        body
    };
    parts.extensions.insert(CsrfToken(expected));
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if fresh {
        response.headers_mut().append(header::SET_COOKIE, set_cookie(name, &browser, https, None));
    }
    response
}

/// One field of a URL-encoded body.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

// --------------------------------------------------------------- sessions

#[derive(Clone, Debug)]
pub struct Signed {
    pub user: User,
    /// SHA-256 of the session id (the id itself is only in the cookie).
    pub digest: TokenDigest,
    pub session: SessionRecord,
    pub stage: Stage,
}

#[derive(Clone, Debug)]
pub enum Auth {
    Anonymous,
    Signed(Box<Signed>),
}

impl Auth {
    pub fn nav(&self) -> Option<Nav> {
        match self {
            Auth::Anonymous => None,
            Auth::Signed(s) => {
                let full = s.stage == Stage::Full;
                Some(Nav {
                    full,
                    coordinator: full && s.user.role >= Role::Coordinator,
                    admin: full && s.user.role == Role::Admin,
                })
            }
        }
    }
}

/// Session ids are 22 URL-safe characters (128 bits).
fn looks_like_session_id(s: &str) -> bool {
    s.len() == 22 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn new_session_id() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(kiteline_store::random_bytes::<16>())
}

pub fn stage_of(user: &User, session: &SessionRecord) -> Stage {
    account::sign_in_stage(user.role, user.totp_enabled, session.second_factor_at.is_some())
}

/// Only touch `last_seen_at` once a minute, to keep reads cheap.
const TOUCH_EVERY: SignedDuration = SignedDuration::from_secs(60);

async fn current(state: &AppState, raw: &str) -> Result<Option<Signed>, AppError> {
    if !looks_like_session_id(raw) {
        return Ok(None);
    }
    let digest = TokenDigest::of(raw);
    let Some((session, user)) = state.store.session(&digest).await? else { return Ok(None) };
    let now = Timestamp::now();
    let idle_end = session.last_seen_at + SignedDuration::from_secs(session.idle_seconds);
    if user.disabled_at.is_some() || now >= session.expires_at || now >= idle_end {
        state.store.end_session(&digest, None, now).await?;
        return Ok(None);
    }
    if now.duration_since(session.last_seen_at) >= TOUCH_EVERY {
        state.store.touch_session(&digest, now).await?;
    }
    let stage = stage_of(&user, &session);
    Ok(Some(Signed { user, digest, session, stage }))
}

pub async fn load_session(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let https = state.config.is_https();
    let name = session_cookie_name(https);
    let raw = cookie(req.headers(), name).map(str::to_owned);
    let (auth, stale) = match &raw {
        None => (Auth::Anonymous, false),
        Some(raw) => match current(&state, raw).await {
            Ok(Some(s)) => (Auth::Signed(Box::new(s)), false),
            Ok(None) => (Auth::Anonymous, true),
            Err(e) => return crate::middleware::early_error_page(req.headers(), e),
        },
    };
    req.extensions_mut().insert(auth);
    let mut response = next.run(req).await;
    if stale
        && !response.headers().get_all(header::SET_COOKIE).iter().any(|v| v.as_bytes().starts_with(name.as_bytes()))
    {
        response.headers_mut().append(header::SET_COOKIE, set_cookie(name, "", https, Some(0)));
    }
    response
}

// ------------------------------------------------------------ extractors

fn auth_of(parts: &Parts) -> Auth {
    parts.extensions.get::<Auth>().cloned().unwrap_or(Auth::Anonymous)
}

/// The frame of the page being rendered: language, CSRF token, navigation.
pub struct Page(pub Chrome);

impl FromRequestParts<AppState> for Page {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Locale(tr) = Locale::from_request_parts(parts, state).await?;
        let csrf = parts.extensions.get::<CsrfToken>().map(|t| t.0.clone()).unwrap_or_default();
        Ok(Page(Chrome::new(tr, parts.uri.path(), csrf, auth_of(parts).nav())))
    }
}

/// Where a session that is not far enough along is sent.
fn not_yet(auth: &Auth) -> Response {
    match auth {
        Auth::Anonymous => Redirect::to("/login").into_response(),
        Auth::Signed(s) => match s.stage {
            Stage::NeedsCode => Redirect::to("/login/2fa").into_response(),
            Stage::NeedsEnrolment => Redirect::to("/account/2fa").into_response(),
            Stage::Full => AppError::Forbidden.into_response(),
        },
    }
}

/// Any fully signed-in user.
pub struct Member(pub Box<Signed>);

/// A fully signed-in coordinator or admin.
pub struct Staff(pub Box<Signed>);

/// A fully signed-in admin.
pub struct Admin(pub Box<Signed>);

/// Signed in, and either fully or only as far as second-factor enrolment.
pub struct Enrolling(pub Box<Signed>);

/// Signed in with a password, waiting for the second factor.
pub struct AwaitingCode(pub Box<Signed>);

#[allow(clippy::result_large_err)] // axum rejections are responses
fn require(parts: &Parts, ok: impl Fn(&Signed) -> bool) -> Result<Box<Signed>, Response> {
    match auth_of(parts) {
        Auth::Signed(s) if s.stage == Stage::Full && ok(&s) => Ok(s),
        Auth::Signed(s) if s.stage == Stage::Full => Err(AppError::Forbidden.into_response()),
        other => Err(not_yet(&other)),
    }
}

impl FromRequestParts<AppState> for Member {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Response> {
        require(parts, |_| true).map(Member)
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Response> {
        require(parts, |s| s.user.role >= Role::Coordinator).map(Staff)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Response> {
        require(parts, |s| s.user.role == Role::Admin).map(Admin)
    }
}

impl FromRequestParts<AppState> for Enrolling {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Response> {
        match auth_of(parts) {
            Auth::Signed(s) if matches!(s.stage, Stage::Full | Stage::NeedsEnrolment) => Ok(Enrolling(s)),
            other => Err(not_yet(&other)),
        }
    }
}

impl FromRequestParts<AppState> for AwaitingCode {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Response> {
        match auth_of(parts) {
            Auth::Signed(s) if s.stage == Stage::NeedsCode => Ok(AwaitingCode(s)),
            Auth::Signed(_) => Err(Redirect::to("/account").into_response()),
            Auth::Anonymous => Err(Redirect::to("/login").into_response()),
        }
    }
}

// ------------------------------------------------------------ rate limits

/// A limit: at most `limit` counted events per `window` seconds.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub name: &'static str,
    pub limit: u32,
    pub window: i64,
}

/// Failed logins from one network: the tenth in a minute is refused.
pub const LOGIN_NET: Rule = Rule { name: "login", limit: 9, window: 60 };
/// Failed logins against one account, from anywhere (shared by all nodes).
pub const LOGIN_ACCOUNT: Rule = Rule { name: "login-account", limit: 20, window: 900 };
/// Wrong second-factor codes, per account and per network.
pub const CODE_ACCOUNT: Rule = Rule { name: "code-account", limit: 5, window: 300 };
pub const CODE_NET: Rule = Rule { name: "code", limit: 10, window: 300 };
/// Password-reset requests.
pub const RESET_NET: Rule = Rule { name: "reset", limit: 5, window: 3600 };
pub const RESET_ADDRESS: Rule = Rule { name: "reset-address", limit: 3, window: 3600 };
/// Invitation and set-password link use, and other public forms.
pub const LINK_NET: Rule = Rule { name: "link", limit: 10, window: 60 };
pub const FORM_NET: Rule = Rule { name: "form", limit: 30, window: 60 };

/// (rule, key) → times of the counted events still inside the window.
type Counters = HashMap<(&'static str, String), std::collections::VecDeque<i64>>;

/// In-memory sliding-window limits keyed by rule and network prefix: at most
/// `limit` events in any `window` seconds. Each key keeps at most `limit`
/// timestamps, so memory stays bounded.
pub struct RateLimits {
    enabled: bool,
    counters: Mutex<Counters>,
}

impl RateLimits {
    pub fn new(enabled: bool) -> RateLimits {
        RateLimits { enabled, counters: Mutex::new(HashMap::new()) }
    }

    fn window_start(rule: Rule, now: i64) -> i64 {
        now - now.rem_euclid(rule.window)
    }

    /// Refuses (with seconds to wait) when `key` already has `limit` events
    /// in the last `window` seconds.
    pub fn check(&self, rule: Rule, key: &str, now: i64) -> Result<(), u64> {
        if !self.enabled {
            return Ok(());
        }
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let Some(times) = counters.get_mut(&(rule.name, key.to_owned())) else { return Ok(()) };
        while times.front().is_some_and(|t| *t <= now - rule.window) {
            times.pop_front();
        }
        match times.front() {
            Some(oldest) if times.len() >= rule.limit as usize => Err((oldest + rule.window - now).max(1) as u64),
            _ => Ok(()),
        }
    }

    /// Counts one event.
    pub fn hit(&self, rule: Rule, key: &str, now: i64) {
        if !self.enabled {
            return;
        }
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        if counters.len() > 100_000 {
            counters.retain(|_, times| times.back().is_some_and(|t| *t > now - 3600));
        }
        let times = counters.entry((rule.name, key.to_owned())).or_default();
        times.push_back(now);
        while times.len() > rule.limit as usize {
            times.pop_front();
        }
    }

    /// Checks, then counts (for limits on every attempt, not only failures).
    pub fn attempt(&self, rule: Rule, key: &str, now: i64) -> Result<(), u64> {
        self.check(rule, key, now)?;
        self.hit(rule, key, now);
        Ok(())
    }

    /// The shared, per-account counterpart, in the database.
    pub async fn check_account(&self, state: &AppState, rule: Rule, key: &str, now: i64) -> Result<(), AppError> {
        if !self.enabled {
            return Ok(());
        }
        let start = Self::window_start(rule, now);
        let n = state.store.rate_count(&format!("{}:{key}", rule.name), ts(start)).await?;
        if n >= rule.limit { Err(AppError::RateLimited((start + rule.window - now).max(1) as u64)) } else { Ok(()) }
    }

    pub async fn hit_account(&self, state: &AppState, rule: Rule, key: &str, now: i64) -> Result<(), AppError> {
        if let Some(c) = self.counter(rule, key, now) {
            state.store.rate_hit(&c.key, c.window_start).await?;
        }
        Ok(())
    }

    /// The shared counter a failure of `rule` for `key` adds to, if limits
    /// are on (for store calls that count and audit in one transaction).
    pub fn counter(&self, rule: Rule, key: &str, now: i64) -> Option<Counter> {
        self.enabled
            .then(|| Counter { key: format!("{}:{key}", rule.name), window_start: ts(Self::window_start(rule, now)) })
    }
}

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The client's network prefix (/24 or /64), from the socket or, behind a
/// proxy, from the configured header (its last address, the one our proxy
/// added). Never stored.
pub struct ClientNet(pub String);

impl FromRequestParts<AppState> for ClientNet {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientNet(client_net(&parts.headers, parts.extensions.get::<ConnectInfo<std::net::SocketAddr>>(), state)))
    }
}

fn client_net(headers: &HeaderMap, conn: Option<&ConnectInfo<std::net::SocketAddr>>, state: &AppState) -> String {
    let from_header = state
        .config
        .client_ip_header
        .as_deref()
        .and_then(|h| headers.get(h)?.to_str().ok()?.rsplit(',').next()?.trim().parse::<std::net::IpAddr>().ok());
    match from_header.or_else(|| conn.map(|c| c.0.ip())) {
        Some(ip) => kiteline_core::net::network_prefix(ip),
        None => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenth_failure_in_a_window_is_refused() {
        let l = RateLimits::new(true);
        for _ in 0..9 {
            assert!(l.check(LOGIN_NET, "203.0.113.0/24", 1000).is_ok());
            l.hit(LOGIN_NET, "203.0.113.0/24", 1000);
        }
        assert_eq!(l.check(LOGIN_NET, "203.0.113.0/24", 1010), Err(50), "the oldest leaves the window at 1060");
        assert!(l.check(LOGIN_NET, "198.51.100.0/24", 1010).is_ok(), "other networks are not affected");
        assert!(l.check(LOGIN_NET, "203.0.113.0/24", 1060).is_ok(), "a minute after, it is open again");
        // Failures spread across a minute boundary still count together.
        let l = RateLimits::new(true);
        for t in [1195, 1196, 1197, 1198, 1199, 1200, 1201, 1202, 1203] {
            l.hit(LOGIN_NET, "x", t);
        }
        assert_eq!(l.check(LOGIN_NET, "x", 1204), Err(51));
        let off = RateLimits::new(false);
        for _ in 0..100 {
            off.hit(LOGIN_NET, "x", 1000);
        }
        assert!(off.check(LOGIN_NET, "x", 1000).is_ok());
    }

    #[test]
    fn form_fields_are_decoded() {
        assert_eq!(form_field(b"a=1&csrf=ab%2Bc+d&x=", "csrf").as_deref(), Some("ab+c d"));
        assert_eq!(form_field(b"csrf", "csrf").as_deref(), Some(""));
        assert_eq!(form_field(b"a=%zz", "a").as_deref(), Some("%zz"));
        assert_eq!(form_field(b"a=%4", "a").as_deref(), Some("%4"));
        assert_eq!(form_field(b"", "csrf"), None);
    }

    #[test]
    fn session_ids_are_128_bit_and_shaped() {
        let id = new_session_id();
        assert!(looks_like_session_id(&id));
        assert_ne!(id, new_session_id());
        assert!(!looks_like_session_id("short"));
    }
}
