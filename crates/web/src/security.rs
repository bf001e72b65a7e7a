//! The security plumbing every request passes through: the CSRF check, the
//! session lookup, rate limits, and the extractors that say who may reach a
//! handler.
//!
//! * **CSRF**: a signed double-submit token, bound to the session. Each
//!   browser gets a random `kiteline_csrf` cookie (`__Host-` prefixed over
//!   https); every form carries `csrf = HMAC(server key, cookie, session
//!   cookie)`, so a cookie planted by a sibling subdomain is useless without
//!   the victim's (HttpOnly) session id. Every state-changing request outside
//!   `/api/` (which uses bearer tokens, never cookies) must present it; a
//!   `Sec-Fetch-Site: cross-site` request (in any case) is refused outright,
//!   and so is one whose `Origin` is not this site's.
//! * **Sessions**: the cookie holds 128 random bits; the database holds only
//!   their SHA-256. Idle and absolute limits by role, checked on every request;
//!   a disabled account's session is refused at once.
//! * **Rate limits**: per network prefix (/24, /64) in memory — addresses are
//!   never stored — and per account (any address, known or not, by keyed
//!   digest) in the database, shared by every node. An attempt is *reserved*
//!   before the password or code is verified, so requests in flight at once
//!   cannot all slip in; a success refunds it. A browser that signed in to an
//!   account before carries a signed device cookie and is limited on its own,
//!   so strangers cannot lock the account's owner out (OWASP's device cookie).

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
use kiteline_store::{Action, Attempt, AuditEvent, Limit, SessionRecord, User};
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

/// The token for this browser and (when signed in) this session.
fn csrf_token(state: &AppState, browser: &str, session: Option<&str>) -> String {
    let bound = format!("{browser}:{}", session.unwrap_or(""));
    hex(&state.vault.derive("csrf", bound.as_bytes()))
}

/// The token forms must carry once this browser's session has the new id
/// `session_id` — for a page rendered in the same response that rotated it.
pub fn csrf_for_new_session(state: &AppState, headers: &HeaderMap, session_id: &str) -> String {
    let browser = cookie(headers, csrf_cookie_name(state.config.is_https())).unwrap_or_default();
    csrf_token(state, browser, Some(session_id))
}

fn is_state_changing(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The largest form body we read.
const MAX_FORM_BYTES: usize = 256 * 1024;
/// The largest multipart body (a logo and the form around it).
const MAX_UPLOAD_BYTES: usize = crate::logo::MAX_BYTES + 64 * 1024;

pub async fn csrf(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let https = state.config.is_https();
    let name = csrf_cookie_name(https);
    let existing = cookie(req.headers(), name).filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()));
    let (browser, fresh) = match existing {
        Some(v) => (v.to_owned(), false),
        None => (random_hex::<16>(), true),
    };
    let session = cookie(req.headers(), session_cookie_name(https)).filter(|s| looks_like_session_id(s));
    let expected = csrf_token(&state, &browser, session);
    let (mut parts, body) = req.into_parts();
    let body = if is_state_changing(&parts.method) && !parts.uri.path().starts_with("/api/") {
        let cross_site =
            parts.headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
                || parts
                    .headers
                    .get(header::ORIGIN)
                    .is_some_and(|o| !same_origin(o.as_bytes(), &parts.headers, &state.config));
        let boundary =
            parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(crate::multipart::boundary);
        let max = if boundary.is_some() { MAX_UPLOAD_BYTES } else { MAX_FORM_BYTES };
        let bytes = match axum::body::to_bytes(body, max).await {
            Ok(b) => b,
            Err(e) => {
                let timed_out = std::error::Error::source(&e)
                    .and_then(|s| s.downcast_ref::<crate::middleware::BodyTimedOut>())
                    .is_some()
                    || e.to_string().contains("did not arrive in time");
                let too_large = std::error::Error::source(&e)
                    .is_some_and(|s| s.downcast_ref::<http_body_util::LengthLimitError>().is_some())
                    || e.to_string().contains("length limit");
                let error = if timed_out {
                    AppError::RequestTimeout
                } else if too_large {
                    AppError::TooLarge
                } else {
                    AppError::BadRequest
                };
                return crate::middleware::early_error_page(&parts.headers, state.site.current(), error);
            }
        };
        let submitted = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| if boundary.is_none() { form_field(&bytes, "csrf") } else { None });
        let submitted = match (submitted, &boundary) {
            (None, Some(b)) => crate::multipart::parts(bytes.clone(), b)
                .await
                .and_then(|p| crate::multipart::text(&p, "csrf").map(str::to_owned)),
            (s, _) => s,
        };
        let ok =
            !fresh && !cross_site && submitted.is_some_and(|s| constant_time_eq(s.as_bytes(), expected.as_bytes()));
        if !ok {
            tracing::warn!(target: "kiteline::security", method = %parts.method, "request refused: missing or wrong CSRF token");
            return crate::middleware::early_error_page(&parts.headers, state.site.current(), AppError::Csrf);
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

/// Whether an `Origin` header may name this site: the configured public
/// URL's origin, or the host the request itself was sent to (`Host`), which
/// a browser never lets another site forge. `null` says nothing: browsers
/// send it for every form post from our pages, because they carry
/// `Referrer-Policy: no-referrer`; the token and `Sec-Fetch-Site` decide then.
fn same_origin(origin: &[u8], headers: &HeaderMap, config: &crate::WebConfig) -> bool {
    if origin == config.origin().as_bytes() || origin == b"null" {
        return true;
    }
    let Ok(origin) = std::str::from_utf8(origin) else { return false };
    let host = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    match (host, headers.get(header::HOST)) {
        (Some(host), Some(h)) => h.as_bytes() == host.as_bytes(),
        _ => false,
    }
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
                    name: s.user.name.clone(),
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
    if !user.intact {
        // The account's row was edited outside Kiteline: refuse it, loudly.
        tracing::error!(target: "kiteline::security", user = %user.id, "a user row failed its integrity check; its session is refused");
        let event = AuditEvent::new(None, Action::UserRowTampered, &user.id);
        state.store.end_session(&digest, Some(event), now).await?;
        return Ok(None);
    }
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
            Err(e) => return crate::middleware::early_error_page(req.headers(), state.site.current(), e),
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
        // The language switch returns to a page that answers GET: this one,
        // or for a form's answer the page the form was on.
        let back = if parts.method == Method::GET {
            match parts.uri.query() {
                Some(q) => format!("{}?{q}", parts.uri.path()),
                None => parts.uri.path().to_owned(),
            }
        } else {
            let pattern = parts.extensions.get::<axum::extract::MatchedPath>().map_or("/", |m| m.as_str());
            crate::page_for(pattern, parts.uri.path())
        };
        let site = state.site.get(&state.store).await;
        Ok(Page(Chrome::new(tr, back, csrf, auth_of(parts).nav()).with_site(site)))
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

/// A limit: at most `limit` counted attempts in any `window` seconds.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub name: &'static str,
    pub limit: u32,
    pub window: i64,
}

/// Logins from one network: the tenth failure in a minute is refused.
pub const LOGIN_NET: Rule = Rule { name: "login", limit: 9, window: 60 };
/// Failed logins against one address from browsers that never signed in to
/// it (shared by all nodes); any address, whether or not it has an account.
pub const LOGIN_ACCOUNT: Rule = Rule { name: "login-account", limit: 20, window: 900 };
/// Failed logins from one browser that signed in to the account before.
pub const LOGIN_DEVICE: Rule = Rule { name: "login-device", limit: 10, window: 900 };
/// Wrong second-factor codes, per account and per network.
pub const CODE_ACCOUNT: Rule = Rule { name: "code-account", limit: 5, window: 300 };
pub const CODE_NET: Rule = Rule { name: "code", limit: 10, window: 300 };
/// Password-reset requests.
pub const RESET_NET: Rule = Rule { name: "reset", limit: 5, window: 3600 };
pub const RESET_ADDRESS: Rule = Rule { name: "reset-address", limit: 3, window: 3600 };
/// Invitation and set-password link use, and other public forms.
pub const LINK_NET: Rule = Rule { name: "link", limit: 10, window: 60 };
pub const FORM_NET: Rule = Rule { name: "form", limit: 30, window: 60 };

/// (rule, key) → times of the counted attempts still inside the window.
type Counters = HashMap<(&'static str, String), std::collections::VecDeque<i64>>;

/// A counted attempt in memory, which a success may give back.
#[derive(Debug)]
pub struct Ticket {
    rule: &'static str,
    key: String,
    at: i64,
}

/// A counted attempt: in memory per network, and (if limits are on) shared
/// per account; [`RateLimits::refund`] gives both back after a success.
#[derive(Debug, Default)]
pub struct Reserved {
    net: Option<Ticket>,
    shared: Option<kiteline_store::Id>,
}

/// In-memory sliding-window limits keyed by rule and network prefix, and the
/// shared, per-account ones in the store. Each in-memory key keeps at most
/// `limit` timestamps, so memory stays bounded.
pub struct RateLimits {
    enabled: bool,
    counters: Mutex<Counters>,
}

impl RateLimits {
    pub fn new(enabled: bool) -> RateLimits {
        RateLimits { enabled, counters: Mutex::new(HashMap::new()) }
    }

    /// Counts one attempt for `key`, or refuses (with seconds to wait) when
    /// `limit` attempts already fall in the last `window` seconds. Check and
    /// count are one step under the lock, so concurrent callers cannot all
    /// pass.
    pub fn reserve(&self, rule: Rule, key: &str, now: i64) -> Result<Option<Ticket>, u64> {
        if !self.enabled {
            return Ok(None);
        }
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        if counters.len() > 100_000 {
            counters.retain(|_, times| times.back().is_some_and(|t| *t > now - 3600));
        }
        let times = counters.entry((rule.name, key.to_owned())).or_default();
        while times.front().is_some_and(|t| *t <= now - rule.window) {
            times.pop_front();
        }
        if times.len() >= rule.limit as usize {
            let oldest = times.front().copied().unwrap_or(now);
            return Err((oldest + rule.window - now).max(1) as u64);
        }
        times.push_back(now);
        Ok(Some(Ticket { rule: rule.name, key: key.to_owned(), at: now }))
    }

    /// Gives an in-memory attempt back.
    fn refund_ticket(&self, ticket: Ticket) {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(times) = counters.get_mut(&(ticket.rule, ticket.key))
            && let Some(i) = times.iter().rposition(|t| *t == ticket.at)
        {
            times.remove(i);
        }
    }

    /// Reserves an attempt per network (in memory) and then per `account`
    /// key (shared, in the store), refusing with 429 when either is full.
    pub async fn reserve_both(
        &self,
        state: &AppState,
        net: (Rule, &str),
        account: (Rule, &str),
        now: Timestamp,
    ) -> Result<Reserved, AppError> {
        let secs = now.as_second();
        let ticket = self.reserve(net.0, net.1, secs).map_err(AppError::RateLimited)?;
        match self.reserve_shared(state, account.0, account.1, now).await {
            Ok(shared) => Ok(Reserved { net: ticket, shared }),
            Err(e) => {
                // Refused per account: this request does not count per network.
                if let Some(t) = ticket {
                    self.refund_ticket(t);
                }
                Err(e)
            }
        }
    }

    /// The shared, per-account counterpart, in the store.
    pub async fn reserve_shared(
        &self,
        state: &AppState,
        rule: Rule,
        key: &str,
        now: Timestamp,
    ) -> Result<Option<kiteline_store::Id>, AppError> {
        let Some(limit) = self.limit(rule, key) else { return Ok(None) };
        match state.store.reserve_attempt(limit, now).await? {
            Attempt::Granted(id) => Ok(Some(id)),
            Attempt::Refused { retry_after } => Err(AppError::RateLimited(retry_after.as_secs().max(1) as u64)),
        }
    }

    /// What a shared limit of `rule` for `key` is, if limits are on.
    pub fn limit(&self, rule: Rule, key: &str) -> Option<Limit> {
        self.enabled.then(|| Limit {
            key: format!("{}:{key}", rule.name),
            limit: rule.limit,
            window: SignedDuration::from_secs(rule.window),
        })
    }

    /// Gives back what a successful attempt reserved.
    pub async fn refund(&self, state: &AppState, reserved: Reserved) -> Result<(), AppError> {
        if let Some(t) = reserved.net {
            self.refund_ticket(t);
        }
        if let Some(id) = reserved.shared {
            state.store.refund_attempt(&id).await?;
        }
        Ok(())
    }
}

/// The client's network prefix (/24 or /64), from the socket or, behind a
/// proxy, from the configured header. Never stored.
pub struct ClientNet(pub String);

impl FromRequestParts<AppState> for ClientNet {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let socket = parts.extensions.get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        let ip = match state.config.client_ip_header.as_deref() {
            None => socket,
            Some(name) => match client_ip(&parts.headers, name, state.config.trusted_proxies) {
                Ok(ip) => Some(ip),
                Err(why) => {
                    // Loud, because every client would otherwise share one
                    // bucket (the proxy's); the value itself is not logged.
                    tracing::error!(
                        target: "kiteline::security",
                        header = name,
                        problem = why,
                        "the client-address header cannot be used; refusing the request (is KITELINE_TRUSTED_PROXIES right?)"
                    );
                    return Err(crate::middleware::early_error_page(
                        &parts.headers,
                        state.site.current(),
                        AppError::ClientAddress,
                    ));
                }
            },
        };
        Ok(ClientNet(ip.map_or_else(|| "unknown".to_owned(), kiteline_core::net::network_prefix)))
    }
}

/// The client's address from a proxy header such as `X-Forwarded-For`: the
/// entries of *all* its lines, in order, and the one `trusted` entries from
/// the right — the address the nearest trusted proxy saw. Entries left of it
/// were written by the client and are never believed.
pub fn client_ip(headers: &HeaderMap, name: &str, trusted: usize) -> Result<std::net::IpAddr, &'static str> {
    let mut entries = Vec::new();
    for line in headers.get_all(name) {
        let line = line.to_str().map_err(|_| "not text")?;
        entries.extend(line.split(',').map(str::trim));
    }
    if entries.is_empty() {
        return Err("missing");
    }
    let entry =
        entries.len().checked_sub(trusted.max(1)).map(|i| entries[i]).ok_or("fewer entries than trusted proxies")?;
    parse_forwarded_address(entry).ok_or("not an address")
}

/// One entry: `203.0.113.7`, `203.0.113.7:4711`, `2001:db8::1` or `[2001:db8::1]:4711`.
fn parse_forwarded_address(entry: &str) -> Option<std::net::IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Ok(sock) = entry.parse::<std::net::SocketAddr>() {
        return Some(sock.ip());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenth_attempt_in_a_window_is_refused_and_a_refund_gives_it_back() {
        let l = RateLimits::new(true);
        let mut tickets = Vec::new();
        for _ in 0..9 {
            tickets.push(l.reserve(LOGIN_NET, "203.0.113.0/24", 1000).unwrap().unwrap());
        }
        assert_eq!(l.reserve(LOGIN_NET, "203.0.113.0/24", 1010).unwrap_err(), 50, "the oldest leaves at 1060");
        assert!(l.reserve(LOGIN_NET, "198.51.100.0/24", 1010).is_ok(), "other networks are not affected");
        l.refund_ticket(tickets.pop().unwrap());
        assert!(l.reserve(LOGIN_NET, "203.0.113.0/24", 1011).is_ok(), "a refund frees a place");
        assert!(l.reserve(LOGIN_NET, "203.0.113.0/24", 1012).is_err());
        assert!(l.reserve(LOGIN_NET, "203.0.113.0/24", 1060).is_ok(), "a minute after, it is open again");
        // Attempts spread across a minute boundary still count together.
        let l = RateLimits::new(true);
        for t in [1195, 1196, 1197, 1198, 1199, 1200, 1201, 1202, 1203] {
            l.reserve(LOGIN_NET, "x", t).unwrap();
        }
        assert_eq!(l.reserve(LOGIN_NET, "x", 1204).unwrap_err(), 51);
        let off = RateLimits::new(false);
        for _ in 0..100 {
            assert!(off.reserve(LOGIN_NET, "x", 1000).unwrap().is_none());
        }
    }

    #[test]
    fn the_client_address_is_the_one_the_nearest_trusted_proxy_appended() {
        let mut h = HeaderMap::new();
        // The client sent a line of its own; the proxy added another.
        h.append("x-forwarded-for", HeaderValue::from_static("1.2.3.4, 5.6.7.8"));
        h.append("x-forwarded-for", HeaderValue::from_static("203.0.113.7"));
        assert_eq!(client_ip(&h, "x-forwarded-for", 1), Ok("203.0.113.7".parse().unwrap()));
        assert_eq!(client_ip(&h, "x-forwarded-for", 2), Ok("5.6.7.8".parse().unwrap()));
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("evil, [2001:db8::1]:4711"));
        assert_eq!(client_ip(&h, "x-forwarded-for", 1), Ok("2001:db8::1".parse().unwrap()));
        assert_eq!(client_ip(&h, "x-forwarded-for", 2), Err("not an address"), "refused, not the proxy's bucket");
        assert_eq!(client_ip(&h, "x-forwarded-for", 3), Err("fewer entries than trusted proxies"));
        assert_eq!(client_ip(&HeaderMap::new(), "x-forwarded-for", 1), Err("missing"));
        let mut h = HeaderMap::new();
        h.insert("x-real-ip", HeaderValue::from_static("198.51.100.4:80"));
        assert_eq!(client_ip(&h, "x-real-ip", 1), Ok("198.51.100.4".parse().unwrap()));
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
