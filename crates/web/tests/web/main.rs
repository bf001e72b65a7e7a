//! The web layer driven in process with `oneshot`: security headers, CSRF,
//! sessions, second factor, rate limits, the role × route × ownership matrix,
//! and the account, people and audit flows — on both engines where storage
//! matters. Fixtures live here; each area's tests in a module of their own.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use jiff::{SignedDuration, Timestamp};
use kiteline_core::TokenDigest;
use kiteline_core::crypto::{FieldContext, KekRing, SecretKey};
use kiteline_core::totp;
use kiteline_store::testing::{self, TestDb};
use kiteline_store::vault::Vault;
use kiteline_store::{
    Action, AuditEvent, AuditFilter, EmailAddress, Enrolment, Id, NewUser, Role, TokenScope, User, new_id,
};
use kiteline_web::security::RateLimits;
use kiteline_web::{AppState, WebConfig, router, routes, tokens};
use tower::ServiceExt;

mod accounts;
mod api;
mod attacks;
mod audit;
mod people;
mod program;
mod second_factor;
mod security;
mod sessions;
mod settings;
mod shell;

const PASSWORD: &str = "correct horse battery staple";
const TOTP_SECRET: [u8; 20] = *b"kiteline-test-secret";

struct App {
    router: Router,
    state: AppState,
}

async fn app_on(db: &TestDb, public_url: &str) -> App {
    app_with(db, public_url, |_| {}).await
}

/// An app whose configuration `tweak` changes first.
async fn app_with(db: &TestDb, public_url: &str, tweak: impl FnOnce(&mut WebConfig)) -> App {
    let mut keks = KekRing::new();
    keks.insert(1, SecretKey::from_bytes([3; 32]));
    let vault = Vault::load(&db.store, &keks, SecretKey::from_bytes([4; 32]), Timestamp::now()).await.unwrap();
    let mut config = WebConfig {
        public_url: public_url.into(),
        site_name: "Kiteline".into(),
        mail_from: "Kiteline <k@example.org>".into(),
        client_ip_header: None,
        trusted_proxies: 1,
        chapter_coordinators_see_at_large: false,
        body_timeout: std::time::Duration::from_secs(30),
        request_timeout: std::time::Duration::from_secs(60),
        default_calling_code: None,
        mail_sent: false,
    };
    tweak(&mut config);
    let state = AppState {
        store: db.store.clone(),
        vault,
        site: Arc::new(kiteline_web::site::SiteCache::new(config.site_name.clone())),
        config: Arc::new(config),
        limits: Arc::new(RateLimits::new(true)),
    };
    App { router: router(state.clone()), state }
}

/// A browser: keeps cookies and the last CSRF token it saw, and comes from
/// one address.
#[derive(Clone)]
struct Browser {
    cookies: HashMap<String, String>,
    csrf: String,
    /// The session cookie when `csrf` was read: the token is bound to it.
    csrf_session: Option<String>,
    addr: SocketAddr,
    accept_language: Option<&'static str>,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn location(&self) -> &str {
        self.headers.get(header::LOCATION).map(|v| v.to_str().unwrap()).unwrap_or("")
    }
}

impl Browser {
    fn new() -> Browser {
        Browser::from_addr("203.0.113.7:5000")
    }

    fn from_addr(addr: &str) -> Browser {
        Browser {
            cookies: HashMap::new(),
            csrf: String::new(),
            csrf_session: None,
            addr: addr.parse().unwrap(),
            accept_language: None,
        }
    }

    async fn send(&mut self, app: &App, method: Method, path: &str, body: Option<String>) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header(header::COOKIE, jar.join("; "));
        }
        if let Some(l) = self.accept_language {
            req = req.header(header::ACCEPT_LANGUAGE, l);
        }
        let mut req = match body {
            Some(b) => {
                req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(Body::from(b)).unwrap()
            }
            None => req.body(Body::empty()).unwrap(),
        };
        req.extensions_mut().insert(ConnectInfo(self.addr));
        let res = app.router.clone().oneshot(req).await.unwrap();
        let (parts, body) = res.into_parts();
        for c in parts.headers.get_all(header::SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (kv, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            if v.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let body = String::from_utf8_lossy(&axum::body::to_bytes(body, 1 << 22).await.unwrap()).into_owned();
        if let Some(i) = body.find("name=\"csrf\" value=\"") {
            let rest = &body[i + 19..];
            self.csrf = rest[..rest.find('"').unwrap()].to_owned();
            self.csrf_session = self.session_cookie();
        }
        Reply { status: parts.status, headers: parts.headers, body }
    }

    async fn get(&mut self, app: &App, path: &str) -> Reply {
        self.send(app, Method::GET, path, None).await
    }

    fn session_cookie(&self) -> Option<String> {
        self.cookies.iter().find(|(k, _)| k.ends_with("kiteline_session")).map(|(_, v)| v.clone())
    }

    /// Posts a form with this browser's CSRF token. Like a real browser, it
    /// has a page from the current session to post from: without a token,
    /// or after the session changed (a login), it loads a public page first.
    async fn post(&mut self, app: &App, path: &str, form: &[(&str, &str)]) -> Reply {
        if self.csrf.is_empty() || self.csrf_session != self.session_cookie() {
            self.get(app, "/password/reset").await;
        }
        let mut pairs = vec![("csrf".to_owned(), self.csrf.clone())];
        pairs.extend(form.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        self.send(app, Method::POST, path, Some(encode(&pairs))).await
    }

    /// Posts a form as a browser with this user agent.
    async fn send_as(&mut self, app: &App, path: &str, form: &[(&str, &str)], user_agent: &str) -> Reply {
        let mut pairs = vec![("csrf".to_owned(), self.csrf.clone())];
        pairs.extend(form.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::USER_AGENT, user_agent)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, jar.join("; "))
            .body(Body::from(encode(&pairs)))
            .unwrap();
        req.extensions_mut().insert(ConnectInfo(self.addr));
        let res = app.router.clone().oneshot(req).await.unwrap();
        for c in res.headers().get_all(header::SET_COOKIE) {
            let (kv, _) = c.to_str().unwrap().split_once(';').unwrap_or((c.to_str().unwrap(), ""));
            let (k, v) = kv.split_once('=').unwrap();
            self.cookies.insert(k.to_owned(), v.to_owned());
        }
        Reply { status: res.status(), headers: res.headers().clone(), body: String::new() }
    }

    /// Posts, and follows the redirect (post, redirect, get) to the page
    /// it leads to; a non-redirect answer is returned as it is.
    async fn post_follow(&mut self, app: &App, path: &str, form: &[(&str, &str)]) -> Reply {
        let r = self.post(app, path, form).await;
        if r.status != StatusCode::SEE_OTHER {
            return r;
        }
        let to = r.headers[header::LOCATION].to_str().unwrap().to_owned();
        self.get(app, &to).await
    }
}

fn encode(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let e = |s: &str| -> String {
                s.bytes()
                    .map(|b| match b {
                        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
                        b' ' => "+".into(),
                        _ => format!("%{b:02X}"),
                    })
                    .collect()
            };
            format!("{}={}", e(k), e(v))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Creates an active user with the test password (and, for `with_totp`, the test TOTP secret).
async fn user(app: &App, email: &str, role: Role, with_totp: bool) -> User {
    user_in(app, email, role, with_totp, None).await
}

/// [`user`], in a chapter.
async fn user_in(app: &App, email: &str, role: Role, with_totp: bool, chapter: Option<&Id>) -> User {
    let s = &app.state.store;
    let now = Timestamp::now();
    let u = s
        .create_user(
            NewUser {
                email: EmailAddress::parse(email).unwrap(),
                name: email.into(),
                role,
                locale: "en".into(),
                chapter_id: chapter.cloned(),
            },
            new_id(now),
            now,
        )
        .await
        .unwrap();
    let (token, _) = tokens::generate();
    s.create_link(testing::password_link(&token, &u.id, now), None, None, now).await.unwrap();
    let hash = kiteline_web::password::hash(PASSWORD.into()).await.unwrap();
    s.use_set_password_link(&TokenDigest::of(&token), hash, now).await.unwrap();
    if with_totp {
        let sealed = app.state.vault.seal(FieldContext::new("users", "totp_secret", u.id.as_str()), &TOTP_SECRET);
        s.set_totp_pending(&u.id, Some(sealed.clone())).await.unwrap();
        let ev = AuditEvent::new(Some(&u.id), Action::UserTwoFactorEnable, &u.id);
        let enrolment = Enrolment { sealed_secret: sealed, step: 0, recovery_codes: vec![], rotate_session: None };
        s.enable_totp(&u.id, enrolment, ev, now).await.unwrap();
    }
    s.user_by_id(&u.id).await.unwrap().unwrap()
}

/// A browser already signed in as `u`, past every step, via a session row.
async fn signed_in(app: &App, u: &User) -> Browser {
    let mut b = Browser::new();
    let id = kiteline_web::security::new_session_id();
    let now = Timestamp::now();
    let ev = AuditEvent::new(Some(&u.id), Action::SessionLogin, &u.id);
    let session = testing::session(&id, &u.id, 1800, now + SignedDuration::from_hours(12), Some(now));
    app.state.store.create_session(session, ev, now).await.unwrap();
    let name = kiteline_web::security::session_cookie_name(app.state.config.is_https());
    b.cookies.insert(name.into(), id);
    b.get(app, "/").await;
    b
}

/// The current code for the test secret, for a step after the last used.
fn code_at(offset_steps: i64) -> String {
    let step = totp::step_at(Timestamp::now().as_second()) + offset_steps;
    format!("{:06}", totp::hotp(&TOTP_SECRET, step as u64, 6))
}

fn concrete(pattern: &str, id: &str) -> String {
    pattern.replace("{token}", &"x".repeat(43)).replace("{id}", id)
}

async fn api(app: &App, method: Method, path: &str, token: Option<&str>) -> (StatusCode, serde_json::Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let res = app.router.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
}

/// An API call with a JSON body.
async fn api_json(app: &App, method: Method, path: &str, token: &str, body: &str) -> (StatusCode, serde_json::Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let res = app.router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
}

/// A chapter, made by no one in particular.
async fn chapter(app: &App, name: &str) -> Id {
    let id = new_id(Timestamp::now());
    let ev = AuditEvent::new(None, Action::ChapterCreate, &id);
    app.state.store.create_chapter(id.clone(), name, ev, Timestamp::now()).await.unwrap();
    id
}

/// A module, a session of it tomorrow, and an application: one of each
/// kind of object the program's routes name.
async fn program_fixtures(app: &App) -> (Id, Id, Id) {
    let now = Timestamp::now();
    let s = &app.state.store;
    let module = new_id(now);
    let input = kiteline_store::ModuleInput {
        title_en: "Orientation".into(),
        title_es: "Orientación".into(),
        description_en: String::new(),
        description_es: String::new(),
        position: 1,
        required: true,
        completion: kiteline_store::Completion::Session,
        validity_months: None,
        renewal_window_days: 30,
        retired: false,
    };
    s.create_module(module.clone(), input, AuditEvent::new(None, Action::ModuleCreate, &module), now).await.unwrap();
    let session = new_id(now);
    let new = kiteline_store::NewTrainingSession {
        id: session.clone(),
        module_id: module.clone(),
        starts_at: now + SignedDuration::from_hours(24),
        ends_at: now + SignedDuration::from_hours(26),
        time_zone: "America/Los_Angeles".into(),
        capacity: 10,
        video_link: None,
        trainer_id: None,
    };
    s.schedule_session(new, AuditEvent::new(None, Action::SessionSchedule, &session), now).await.unwrap();
    let application = new_id(now);
    let a = kiteline_store::NewApplication {
        id: application.clone(),
        email: EmailAddress::parse("applicant@example.org").unwrap(),
        name: "Applicant".into(),
        pronouns: String::new(),
        phone: None,
        time_zone: "America/Chicago".into(),
        languages: "en".into(),
        chapter_id: None,
        heard_from: "friend".into(),
        why: None,
        availability: String::new(),
        locale: "en".into(),
    };
    s.submit_application(a, vec![], now).await.unwrap();
    (module, session, application)
}
