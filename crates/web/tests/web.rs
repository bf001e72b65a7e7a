//! The web layer driven in process with `oneshot`: security headers, CSRF,
//! sessions, second factor, rate limits, the role × route × ownership matrix,
//! and the account, people and audit flows — on both engines where storage
//! matters.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use jiff::{SignedDuration, Timestamp};
use kiteline_core::crypto::{FieldContext, KekRing, SecretKey, token_digest};
use kiteline_core::totp;
use kiteline_store::testing::TestDb;
use kiteline_store::vault::Vault;
use kiteline_store::{AuditEvent, AuditFilter, EmailAddress, Id, LinkPurpose, NewUser, Role, TokenScope, User, new_id};
use kiteline_web::security::RateLimits;
use kiteline_web::{AppState, WebConfig, router, routes, tokens};
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery staple";
const TOTP_SECRET: [u8; 20] = *b"kiteline-test-secret";

struct App {
    router: Router,
    state: AppState,
}

async fn app_on(db: &TestDb, public_url: &str) -> App {
    let mut keks = KekRing::new();
    keks.insert(1, SecretKey::from_bytes([3; 32]));
    let vault = Vault::load(&*db.store, &keks, SecretKey::from_bytes([4; 32]), Timestamp::now()).await.unwrap();
    let state = AppState {
        store: db.store.clone(),
        vault,
        config: Arc::new(WebConfig {
            public_url: public_url.into(),
            site_name: "Kiteline".into(),
            mail_from: "Kiteline <k@example.org>".into(),
            client_ip_header: None,
        }),
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
        Browser { cookies: HashMap::new(), csrf: String::new(), addr: addr.parse().unwrap(), accept_language: None }
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
        }
        Reply { status: parts.status, headers: parts.headers, body }
    }

    async fn get(&mut self, app: &App, path: &str) -> Reply {
        self.send(app, Method::GET, path, None).await
    }

    /// Posts a form with this browser's CSRF token (fetching `/` first if it has none).
    async fn post(&mut self, app: &App, path: &str, form: &[(&str, &str)]) -> Reply {
        if self.csrf.is_empty() {
            self.get(app, "/").await;
        }
        let mut pairs = vec![("csrf".to_owned(), self.csrf.clone())];
        pairs.extend(form.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        self.send(app, Method::POST, path, Some(encode(&pairs))).await
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
    let s = &app.state.store;
    let now = Timestamp::now();
    let u = s
        .create_user(
            NewUser {
                email: EmailAddress::parse(email).unwrap(),
                name: email.into(),
                role,
                locale: "en".into(),
                chapter_id: None,
            },
            new_id(now),
            now,
        )
        .await
        .unwrap();
    let token = tokens::issue_link(&**s, LinkPurpose::SetPassword, Some(&u.id), 1, now).await.unwrap();
    let hash = kiteline_web::password::hash(PASSWORD.into()).await.unwrap();
    s.use_set_password_link(&token_digest(&token), &hash, now).await.unwrap();
    if with_totp {
        let sealed = app.state.vault.seal(FieldContext::new("users", "totp_secret", u.id.as_str()), &TOTP_SECRET);
        s.set_totp_pending(&u.id, Some(&sealed)).await.unwrap();
        let ev = AuditEvent::new(Some(&u.id), "user.2fa_enable", "user", u.id.as_str());
        s.enable_totp(&u.id, &sealed, 0, &[], ev, now).await.unwrap();
    }
    s.user_by_id(&u.id).await.unwrap().unwrap()
}

/// A browser already signed in as `u`, past every step, via a session row.
async fn signed_in(app: &App, u: &User) -> Browser {
    let mut b = Browser::new();
    let id = kiteline_web::security::new_session_id();
    let now = Timestamp::now();
    let ev = AuditEvent::new(Some(&u.id), "session.login", "user", u.id.as_str());
    app.state
        .store
        .create_session(&token_digest(&id), &u.id, 1800, now + SignedDuration::from_hours(12), Some(now), ev, now)
        .await
        .unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_carries_the_security_headers() {
    let db = kiteline_store::testing::sqlite().await;
    for (public_url, https) in [("http://127.0.0.1:8080", false), ("https://line.example.org", true)] {
        let app = app_on(&db, public_url).await;
        let mut b = Browser::new();
        let mut paths: Vec<(Method, String)> = routes()
            .iter()
            .map(|(m, p)| (m.parse().unwrap(), concrete(p, "01a1ffca-7152-751e-b50a-4101512bef7e")))
            .collect();
        paths.push((Method::GET, "/no/such/page".into()));
        paths.push((Method::DELETE, "/".into()));
        for (method, path) in paths {
            let body = (method == Method::POST).then(String::new);
            let r = b.send(&app, method.clone(), &path, body).await;
            let h = &r.headers;
            let what = format!("{method} {path}");
            let csp = h.get(header::CONTENT_SECURITY_POLICY).map(|v| v.to_str().unwrap()).unwrap_or_default();
            assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
            assert!(!csp.contains("unsafe-inline"), "{what}");
            assert_eq!(h.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff", "{what}");
            assert_eq!(h.get(header::REFERRER_POLICY).unwrap(), "no-referrer", "{what}");
            assert!(h.get(header::CACHE_CONTROL).is_some(), "{what}");
            assert_eq!(h.get(header::STRICT_TRANSPORT_SECURITY).is_some(), https, "{what}");
        }
    }
}

/// Who is asking, in the matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
enum As {
    Anonymous,
    Volunteer,
    Coordinator,
    Admin,
}

/// The expected status of every route for every kind of caller. `{id}` is
/// someone else's object unless the row says `own`. Adding a route without
/// adding it here fails `the_route_matrix_holds`.
const MATRIX: &[(&str, &str, [u16; 4])] = &[
    //                                              anon  vol  coord admin
    ("GET", "/", [200, 200, 200, 200]),
    ("GET", "/healthz", [200, 200, 200, 200]),
    ("GET", "/readyz", [200, 200, 200, 200]),
    ("GET", "/static/kiteline.css", [200, 200, 200, 200]),
    ("POST", "/language", [303, 303, 303, 303]),
    ("GET", "/setup/{token}", [404, 404, 404, 404]),
    ("POST", "/setup/{token}", [404, 404, 404, 404]),
    ("GET", "/password/{token}", [404, 404, 404, 404]),
    ("POST", "/password/{token}", [404, 404, 404, 404]),
    ("GET", "/login", [200, 303, 303, 303]),
    ("POST", "/login", [401, 401, 401, 401]),
    ("GET", "/login/2fa", [303, 303, 303, 303]),
    ("POST", "/login/2fa", [303, 303, 303, 303]),
    ("POST", "/logout", [303, 303, 303, 303]),
    ("POST", "/logout/everywhere", [303, 303, 303, 303]),
    ("GET", "/password/reset", [200, 200, 200, 200]),
    ("POST", "/password/reset", [200, 200, 200, 200]),
    ("GET", "/account", [303, 200, 200, 200]),
    ("POST", "/account", [303, 422, 422, 422]),
    ("GET", "/account/password", [303, 200, 200, 200]),
    ("POST", "/account/password", [303, 422, 422, 422]),
    ("GET", "/account/2fa", [303, 200, 200, 200]),
    ("POST", "/account/2fa/setup", [303, 303, 303, 303]),
    // The row above just gave the volunteer a pending secret: a wrong code is 422.
    ("POST", "/account/2fa/confirm", [303, 422, 303, 303]),
    ("POST", "/account/2fa/recovery-codes", [303, 422, 422, 422]),
    ("POST", "/account/2fa/disable", [303, 422, 403, 403]),
    ("GET", "/account/tokens", [303, 200, 200, 200]),
    ("POST", "/account/tokens", [303, 422, 422, 422]),
    ("POST", "/account/tokens/{id}/revoke", [303, 404, 404, 404]),
    ("GET", "/admin/users", [303, 403, 200, 200]),
    ("POST", "/admin/users/invite", [303, 403, 422, 422]),
    ("POST", "/admin/users/{id}/role", [303, 403, 403, 400]),
    ("POST", "/admin/users/{id}/disable", [303, 403, 403, 200]),
    ("POST", "/admin/users/{id}/enable", [303, 403, 403, 200]),
    ("POST", "/admin/users/{id}/reset-2fa", [303, 403, 403, 422]),
    ("POST", "/admin/chapters", [303, 403, 403, 422]),
    ("GET", "/admin/audit", [303, 403, 403, 200]),
    ("GET", "/api/v1/me", [401, 401, 401, 401]),
    ("POST", "/api/v1/me/logout-everywhere", [401, 401, 401, 401]),
    ("GET", "/api/v1/users", [401, 401, 401, 401]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_matrix_holds() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        for (m, p) in routes() {
            assert!(
                MATRIX.iter().any(|(mm, pp, _)| *mm == m && *pp == p),
                "route {m} {p} is missing from the access matrix"
            );
        }
        let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
        let coord = user(&app, "coord@example.org", Role::Coordinator, true).await;
        let admin = user(&app, "admin@example.org", Role::Admin, true).await;
        // Someone else's object: another volunteer (and their token).
        let other = user(&app, "other@example.org", Role::Volunteer, false).await;
        let now = Timestamp::now();
        let others_token =
            app.state.store.create_api_token(new_id(now), &other.id, "x", TokenScope::Read, "dd", now).await.unwrap();
        for (who_i, who) in [As::Anonymous, As::Volunteer, As::Coordinator, As::Admin].into_iter().enumerate() {
            for (method, pattern, expected) in MATRIX {
                let mut b = match who {
                    As::Anonymous => Browser::new(),
                    As::Volunteer => signed_in(&app, &vol).await,
                    As::Coordinator => signed_in(&app, &coord).await,
                    As::Admin => signed_in(&app, &admin).await,
                };
                let id = if pattern.starts_with("/account/tokens") {
                    others_token.id.to_string()
                } else {
                    other.id.to_string()
                };
                let path = concrete(pattern, &id);
                let r = match *method {
                    "GET" => b.get(&app, &path).await,
                    _ => b.post(&app, &path, &[("lang", "es")]).await,
                };
                assert_eq!(
                    r.status.as_u16(),
                    expected[who_i],
                    "{who:?} {method} {pattern}: {}",
                    &r.body[..r.body.len().min(300)]
                );
                // Re-enable the other user if the admin just disabled them.
                if who == As::Admin && pattern.ends_with("/disable") {
                    let ev = AuditEvent::new(None, "user.enable", "user", other.id.as_str());
                    app.state.store.set_disabled(&other.id, false, ev, Timestamp::now()).await.unwrap();
                }
            }
        }
        // Ownership: the same revoke succeeds for the token's owner.
        let mut owner = signed_in(&app, &other).await;
        let r = owner.post(&app, &format!("/account/tokens/{}/revoke", others_token.id), &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_without_a_valid_csrf_token_is_refused() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
    let mut b = signed_in(&app, &vol).await;
    for (method, path) in routes() {
        if method != "POST" || path.starts_with("/api/") {
            continue;
        }
        let path = concrete(path, &vol.id.to_string());
        for body in ["", "csrf=", "csrf=0000000000000000000000000000000000000000000000000000000000000000"] {
            let r = b.send(&app, Method::POST, &path, Some(body.to_owned())).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "POST {path} with {body:?}");
            assert!(r.body.contains("This form has expired"), "a page that says what to do");
        }
    }
    // A valid token from another browser does not work with this browser's cookie.
    let mut other = Browser::new();
    other.get(&app, "/").await;
    let stolen = other.csrf.clone();
    let r = b.send(&app, Method::POST, "/logout", Some(format!("csrf={stolen}"))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Cross-site requests are refused even with the right token.
    let mut req = Request::post("/logout")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .header(header::COOKIE, b.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "))
        .body(Body::from(format!("csrf={}", b.csrf)))
        .unwrap();
    req.extensions_mut().insert(ConnectInfo(b.addr));
    assert_eq!(app.router.clone().oneshot(req).await.unwrap().status(), StatusCode::FORBIDDEN);
    // And with everything right, it works.
    assert_eq!(b.post(&app, "/logout", &[]).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sets_a_private_session_cookie_and_logout_ends_it() {
    for db in kiteline_store::testing::each_engine().await {
        for (url, name, secure) in [
            ("http://127.0.0.1:8080", "kiteline_session", false),
            ("https://line.example.org", "__Host-kiteline_session", true),
        ] {
            let app = app_on(&db, url).await;
            let email = format!("vol-{secure}@example.org");
            let vol = user(&app, &email, Role::Volunteer, false).await;
            let mut b = Browser::new();
            let r = b.post(&app, "/login", &[("email", &email.to_uppercase()), ("password", PASSWORD)]).await;
            assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/account"));
            let cookie = r
                .headers
                .get_all(header::SET_COOKIE)
                .iter()
                .map(|v| v.to_str().unwrap())
                .find(|c| c.starts_with(name))
                .unwrap()
                .to_owned();
            assert!(
                cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
                "{cookie}"
            );
            assert_eq!(cookie.contains("; Secure"), secure, "{cookie}");
            let id = b.cookies[name].clone();
            assert_eq!(id.len(), 22, "128 random bits");
            assert!(app.state.store.session(&id).await.unwrap().is_none(), "only the digest is stored");
            let r = b.get(&app, "/account").await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");

            // Logging in again gives a new id; the old one stops working.
            let mut again = b.clone();
            again.post(&app, "/login", &[("email", &email), ("password", PASSWORD)]).await;
            assert_ne!(again.cookies[name], id);
            assert_eq!(b.get(&app, "/account").await.status, StatusCode::SEE_OTHER, "the old session ended");

            assert_eq!(again.post(&app, "/logout", &[]).await.status, StatusCode::SEE_OTHER);
            assert!(!again.cookies.contains_key(name));
            let _ = vol;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenth_wrong_password_in_a_minute_from_one_network_gets_429() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    user(&app, "vol@example.org", Role::Volunteer, false).await;
    let mut b = Browser::from_addr("198.51.100.20:4000");
    for i in 1..=9 {
        let r = b.post(&app, "/login", &[("email", "vol@example.org"), ("password", "wrong password, sorry")]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}");
        assert!(r.body.contains("not right"));
    }
    let r = b.post(&app, "/login", &[("email", "vol@example.org"), ("password", "wrong password, sorry")]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers.get(header::RETRY_AFTER).unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert!(r.body.contains("Too many attempts"));
    // Even the right password waits; a neighbour in the same /24 waits too.
    let r = b.post(&app, "/login", &[("email", "vol@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let mut neighbour = Browser::from_addr("198.51.100.99:4000");
    assert_eq!(
        neighbour.post(&app, "/login", &[("email", "x@example.org"), ("password", "x")]).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another network is unaffected.
    let mut elsewhere = Browser::from_addr("[2001:db8:1:2::5]:4000");
    assert_eq!(
        elsewhere.post(&app, "/login", &[("email", "vol@example.org"), ("password", PASSWORD)]).await.status,
        StatusCode::SEE_OTHER
    );
    // Failed logins against an existing account are audited, without the password.
    let failed = app
        .state
        .store
        .audit_entries(&AuditFilter { action: Some("session.login_failed".into()), limit: 50, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(failed.len(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_can_be_switched_off_for_load_tests() {
    let db = kiteline_store::testing::sqlite().await;
    let mut app = app_on(&db, "http://127.0.0.1:8080").await;
    app.state.limits = Arc::new(RateLimits::new(false));
    app.router = router(app.state.clone());
    let mut b = Browser::new();
    for _ in 0..15 {
        assert_eq!(
            b.post(&app, "/login", &[("email", "a@example.org"), ("password", "nope nope nope")]).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_users_live_session_is_refused_on_its_next_request() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        let admin = user(&app, "admin@example.org", Role::Admin, true).await;
        let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
        let mut victim = signed_in(&app, &vol).await;
        assert_eq!(victim.get(&app, "/account").await.status, StatusCode::OK);
        let mut a = signed_in(&app, &admin).await;
        let r = a.post(&app, &format!("/admin/users/{}/disable", vol.id), &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        let r = victim.get(&app, "/account").await;
        assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/login"));
        // And the password no longer works.
        let mut b = Browser::from_addr("192.0.2.1:1");
        assert_eq!(
            b.post(&app, "/login", &[("email", "vol@example.org"), ("password", PASSWORD)]).await.status,
            StatusCode::UNAUTHORIZED
        );
        // An admin cannot disable themselves.
        assert_eq!(
            a.post(&app, &format!("/admin/users/{}/disable", admin.id), &[]).await.status,
            StatusCode::FORBIDDEN
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_absolute_timeouts_end_sessions() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
    let now = Timestamp::now();
    for (name, created, idle, expires) in [
        ("idle", now - SignedDuration::from_mins(31), 1800, now + SignedDuration::from_hours(1)),
        ("absolute", now - SignedDuration::from_secs(5), 1800, now - SignedDuration::from_secs(1)),
    ] {
        let id = kiteline_web::security::new_session_id();
        let ev = AuditEvent::new(Some(&vol.id), "session.login", "user", vol.id.as_str());
        app.state
            .store
            .create_session(&token_digest(&id), &vol.id, idle, expires, Some(created), ev, created)
            .await
            .unwrap();
        let mut b = Browser::new();
        b.cookies.insert("kiteline_session".into(), id.clone());
        let r = b.get(&app, "/account").await;
        assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/login"), "{name}");
        assert!(!b.cookies.contains_key("kiteline_session"), "{name}: the stale cookie is cleared");
        assert!(app.state.store.session(&token_digest(&id)).await.unwrap().is_none(), "{name}: and the row deleted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_factor_login_refuses_a_replayed_code() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        user(&app, "admin@example.org", Role::Admin, true).await;
        let mut b = Browser::new();
        let r = b.post(&app, "/login", &[("email", "admin@example.org"), ("password", PASSWORD)]).await;
        assert_eq!(r.location(), "/login/2fa");
        let before = b.cookies["kiteline_session"].clone();
        // Nothing else is reachable before the second step.
        for path in ["/account", "/admin/users", "/admin/audit", "/account/2fa"] {
            assert_eq!(b.get(&app, path).await.location(), "/login/2fa", "{path}");
        }
        assert_eq!(b.post(&app, "/login/2fa", &[("code", "000000")]).await.status, StatusCode::UNAUTHORIZED);
        let code = code_at(0);
        let r = b.post(&app, "/login/2fa", &[("code", &code)]).await;
        assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/account"));
        assert_ne!(b.cookies["kiteline_session"], before, "the session id rotates when the second factor is proved");
        assert_eq!(b.get(&app, "/admin/audit").await.status, StatusCode::OK);

        // The same code, replayed in a new login, is refused.
        let mut thief = Browser::from_addr("192.0.2.50:1");
        thief.post(&app, "/login", &[("email", "admin@example.org"), ("password", PASSWORD)]).await;
        let r = thief.post(&app, "/login/2fa", &[("code", &code)]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("already used"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_must_enrol_a_second_factor_before_anything_else() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let coord = user(&app, "coord@example.org", Role::Coordinator, false).await;
    let mut b = Browser::new();
    let r = b.post(&app, "/login", &[("email", "coord@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(r.location(), "/account/2fa");
    for path in ["/account", "/admin/users", "/account/tokens", "/account/password"] {
        assert_eq!(b.get(&app, path).await.location(), "/account/2fa", "{path}");
    }
    let page = b.get(&app, "/account/2fa").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("must set up two-step login"));
    assert_eq!(b.post(&app, "/account/2fa/setup", &[]).await.location(), "/account/2fa");
    let page = b.get(&app, "/account/2fa").await;
    assert!(page.body.contains("<svg") && !page.body.contains("<?xml"), "a QR code rendered inline, on our server");
    assert!(!page.body.contains("http://") || page.body.contains("http://www.w3.org/2000/svg"), "no outside origin");
    let secret_b32 = page.body.split("<code>").nth(1).unwrap().split("</code>").next().unwrap().to_owned();
    let secret = totp::base32_decode(&secret_b32).unwrap();
    let code = format!("{:06}", totp::hotp(&secret, totp::step_at(Timestamp::now().as_second()) as u64, 6));
    let before = b.cookies["kiteline_session"].clone();
    let r = b.post(&app, "/account/2fa/confirm", &[("code", &code)]).await;
    assert_eq!(r.status, StatusCode::OK);
    let codes: Vec<String> =
        r.body.split("<li><code>").skip(1).map(|c| c.split('<').next().unwrap().to_owned()).collect();
    assert_eq!(codes.len(), 10, "ten recovery codes shown once");
    assert_ne!(b.cookies["kiteline_session"], before, "rotated at the privilege change");
    assert_eq!(b.get(&app, "/admin/users").await.status, StatusCode::OK);
    // Recovery codes are stored hashed and work once at login.
    let mut b2 = Browser::from_addr("192.0.2.9:1");
    b2.post(&app, "/login", &[("email", "coord@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(b2.post(&app, "/login/2fa", &[("code", &codes[0].to_uppercase())]).await.location(), "/account");
    let mut b3 = Browser::from_addr("192.0.2.10:1");
    b3.post(&app, "/login", &[("email", "coord@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(b3.post(&app, "/login/2fa", &[("code", &codes[0])]).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.state.store.recovery_codes_left(&coord.id).await.unwrap(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_a_role_needs_a_fresh_code_and_ends_the_targets_sessions() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        let admin = user(&app, "admin@example.org", Role::Admin, true).await;
        let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
        let mut target = signed_in(&app, &vol).await;
        let mut a = signed_in(&app, &admin).await;
        let path = format!("/admin/users/{}/role", vol.id);
        let r = a.post(&app, &path, &[("role", "coordinator"), ("code", "123456")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.state.store.user_by_id(&vol.id).await.unwrap().unwrap().role, Role::Volunteer);
        let code = code_at(0);
        let r = a.post(&app, &path, &[("role", "coordinator"), ("code", &code)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(app.state.store.user_by_id(&vol.id).await.unwrap().unwrap().role, Role::Coordinator);
        assert_eq!(target.get(&app, "/account").await.location(), "/login", "privilege change ended the session");
        // The same code cannot authorise a second change.
        let r = a.post(&app, &path, &[("role", "admin"), ("code", &code)]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let entries = app
            .state
            .store
            .audit_entries(&AuditFilter { action: Some("user.role_change".into()), limit: 10, ..Default::default() })
            .await
            .unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!((entries[0].actor.as_str(), entries[0].object_id.as_str()), (admin.id.as_str(), vol.id.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_can_reset_a_lost_second_factor_with_a_fresh_code() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let admin = user(&app, "admin@example.org", Role::Admin, true).await;
    let coord = user(&app, "coord@example.org", Role::Coordinator, true).await;
    let mut lost = signed_in(&app, &coord).await;
    let mut a = signed_in(&app, &admin).await;
    let path = format!("/admin/users/{}/reset-2fa", coord.id);
    assert_eq!(a.post(&app, &path, &[("code", "000000")]).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.state.store.user_by_id(&coord.id).await.unwrap().unwrap().totp_enabled);
    let r = a.post(&app, &path, &[("code", &code_at(0))]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!app.state.store.user_by_id(&coord.id).await.unwrap().unwrap().totp_enabled);
    assert_eq!(lost.get(&app, "/account").await.location(), "/login", "their sessions ended");
    let mut again = Browser::from_addr("192.0.2.77:1");
    let r = again.post(&app, "/login", &[("email", "coord@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(r.location(), "/account/2fa", "and they enrol again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_are_mailed_and_lead_to_set_password() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "https://line.example.org").await;
        let coord = user(&app, "coord@example.org", Role::Coordinator, true).await;
        let mut c = signed_in(&app, &coord).await;
        let r = c
            .post(
                &app,
                "/admin/users/invite",
                &[
                    ("name", "Marisol"),
                    ("email", "new@example.org"),
                    ("role", "admin"),
                    ("chapter", ""),
                    ("lang", "es"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "coordinators invite volunteers only");
        let r = c
            .post(
                &app,
                "/admin/users/invite",
                &[
                    ("name", "Marisol"),
                    ("email", "new@example.org"),
                    ("role", "volunteer"),
                    ("chapter", ""),
                    ("lang", "es"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains("Invitation sent to new@example.org"));
        let invited =
            app.state.store.user_by_email(&EmailAddress::parse("new@example.org").unwrap()).await.unwrap().unwrap();
        assert!(!invited.has_password);
        assert_eq!(app.state.store.job_counts().await.unwrap()[0], 1, "the invitation mail is queued");
        let dup = c
            .post(&app, "/admin/users/invite", &[("name", "X"), ("email", "NEW@example.org"), ("role", "volunteer")])
            .await;
        assert!(dup.body.contains("already exists"));
        let audit = app
            .state
            .store
            .audit_entries(&AuditFilter { action: Some("user.invite".into()), limit: 10, ..Default::default() })
            .await
            .unwrap();
        assert_eq!(audit[0].object_id, invited.id.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_reset_answers_the_same_whether_or_not_the_address_exists() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        user(&app, "vol@example.org", Role::Volunteer, false).await;
        let mut b = Browser::new();
        let known = b.post(&app, "/password/reset", &[("email", "vol@example.org")]).await;
        let unknown = b.post(&app, "/password/reset", &[("email", "nobody@example.org")]).await;
        assert_eq!((known.status, unknown.status), (StatusCode::OK, StatusCode::OK));
        let strip = |s: &str| s.replace(&b.csrf, "");
        assert_eq!(strip(&known.body), strip(&unknown.body), "identical pages");
        assert_eq!(app.state.store.job_counts().await.unwrap()[0], 1, "mail only for the real account");
        // Per-address limit: the fourth request for one address in an hour waits.
        for _ in 0..2 {
            b.post(&app, "/password/reset", &[("email", "vol@example.org")]).await;
        }
        assert_eq!(
            b.post(&app, "/password/reset", &[("email", "vol@example.org")]).await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_changes_seal_the_phone_and_validate_every_field() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
        let mut b = signed_in(&app, &vol).await;
        let good = [
            ("name", "Marisol R."),
            ("pronouns", "she/her"),
            ("time_zone", "America/Chicago"),
            ("languages", "en"),
            ("languages", "es"),
            ("locale", "es"),
            ("phone", "(510) 555-0100"),
            ("notify_sms", "on"),
        ];
        let r = b.post(&app, "/account", &good).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains("+15105550100"));
        let u = app.state.store.user_by_id(&vol.id).await.unwrap().unwrap();
        assert_eq!((u.time_zone.as_str(), u.languages.as_str(), u.locale.as_str()), ("America/Chicago", "en,es", "es"));
        assert!(!u.notify_email && u.notify_sms);
        let sealed = app.state.store.user_phone(&vol.id).await.unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("5105550100"), "the phone number is sealed");
        // The saved language now drives the pages.
        assert!(b.get(&app, "/account").await.body.contains("<html lang=\"es\">"));
        for (field, value) in [
            ("time_zone", "Mars/Olympus"),
            ("phone", "call me maybe"),
            ("pronouns", &"x".repeat(41)),
            ("name", ""),
            ("languages", "xx"),
        ] {
            let mut form: Vec<(&str, &str)> = good.iter().filter(|(k, _)| *k != field).copied().collect();
            form.push((field, value));
            assert_eq!(
                b.post(&app, "/account", &form).await.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{field}={value}"
            );
        }
        assert_eq!(
            app.state.store.user_by_id(&vol.id).await.unwrap().unwrap().time_zone,
            "America/Chicago",
            "nothing saved on error"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_needs_the_current_one_and_ends_other_sessions() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
    let mut here = signed_in(&app, &vol).await;
    let mut there = signed_in(&app, &vol).await;
    let r = here
        .post(
            &app,
            "/account/password",
            &[
                ("current", "not it at all"),
                ("password", "a brand new passphrase"),
                ("confirm", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = here
        .post(
            &app,
            "/account/password",
            &[("current", PASSWORD), ("password", "password123456"), ("confirm", "password123456")],
        )
        .await;
    assert!(r.body.contains("too common"), "common passwords are refused");
    let r = here
        .post(
            &app,
            "/account/password",
            &[("current", PASSWORD), ("password", "a brand new passphrase"), ("confirm", "a brand new passphrase")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(here.get(&app, "/account").await.status, StatusCode::OK, "this session stays");
    assert_eq!(there.get(&app, "/account").await.location(), "/login", "the others end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_out_everywhere_ends_every_session() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
    let mut a = signed_in(&app, &vol).await;
    let mut b = signed_in(&app, &vol).await;
    assert_eq!(a.post(&app, "/logout/everywhere", &[]).await.location(), "/login");
    assert_eq!(a.get(&app, "/account").await.location(), "/login");
    assert_eq!(b.get(&app, "/account").await.location(), "/login");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_are_scoped_revocable_and_show_last_use() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        let admin = user(&app, "admin@example.org", Role::Admin, true).await;
        let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
        let mut v = signed_in(&app, &vol).await;
        let r = v.post(&app, "/account/tokens", &[("label", "phone"), ("scope", "admin")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "volunteers cannot mint admin tokens");
        let r = v.post(&app, "/account/tokens", &[("label", "phone"), ("scope", "read")]).await;
        let read = r.body.split("<p><code>").nth(1).unwrap().split('<').next().unwrap().to_owned();
        assert!(read.starts_with("kl_"));
        assert!(!v.get(&app, "/account/tokens").await.body.contains(&read), "shown once");

        let (s, me) = api(&app, Method::GET, "/api/v1/me", Some(&read)).await;
        assert_eq!((s, me["email"].as_str()), (StatusCode::OK, Some("vol@example.org")));
        assert!(v.get(&app, "/account/tokens").await.body.contains(" UTC</td>"), "last use shown");
        assert_eq!(
            api(&app, Method::POST, "/api/v1/me/logout-everywhere", Some(&read)).await.0,
            StatusCode::FORBIDDEN,
            "read scope cannot write"
        );
        assert_eq!(api(&app, Method::GET, "/api/v1/users", Some(&read)).await.0, StatusCode::FORBIDDEN);
        assert_eq!(api(&app, Method::GET, "/api/v1/me", Some("kl_nonsense")).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(api(&app, Method::GET, "/api/v1/me", None).await.0, StatusCode::UNAUTHORIZED);

        let r = v.post(&app, "/account/tokens", &[("label", "script"), ("scope", "write")]).await;
        let write = r.body.split("<p><code>").nth(1).unwrap().split('<').next().unwrap().to_owned();
        let (s, body) = api(&app, Method::POST, "/api/v1/me/logout-everywhere", Some(&write)).await;
        assert_eq!((s, body["ended"].as_u64()), (StatusCode::OK, Some(1)));
        assert_eq!(v.get(&app, "/account").await.location(), "/login", "the API ended the browser session");

        let mut a = signed_in(&app, &admin).await;
        let r = a.post(&app, "/account/tokens", &[("label", "ops"), ("scope", "admin")]).await;
        let admin_tok = r.body.split("<p><code>").nth(1).unwrap().split('<').next().unwrap().to_owned();
        let (s, list) = api(&app, Method::GET, "/api/v1/users", Some(&admin_tok)).await;
        assert_eq!((s, list["users"].as_array().map(Vec::len)), (StatusCode::OK, Some(2)));
        let tok_id = app.state.store.api_tokens_of(&admin.id).await.unwrap()[0].id.clone();
        assert_eq!(a.post(&app, &format!("/account/tokens/{tok_id}/revoke"), &[]).await.status, StatusCode::SEE_OTHER);
        assert_eq!(
            api(&app, Method::GET, "/api/v1/users", Some(&admin_tok)).await.0,
            StatusCode::UNAUTHORIZED,
            "revoked"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_page_filters_and_its_viewing_is_audited() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let admin = user(&app, "admin@example.org", Role::Admin, true).await;
    let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
    let mut a = signed_in(&app, &admin).await;
    let r = a.get(&app, &format!("/admin/audit?object_id={}", vol.id)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains(vol.id.as_str()) && !r.body.contains("<td>user.2fa_enable</td>"),
        "filtered to the volunteer"
    );
    let r = a.get(&app, "/admin/audit?action=session.login").await;
    assert!(r.body.contains("<td>session.login</td>"));
    assert_eq!(a.get(&app, "/admin/audit?since=yesterday").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let views = app
        .state
        .store
        .audit_entries(&AuditFilter { action: Some("audit.view".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(views.len(), 3);
    assert_eq!(views[0].actor, admin.id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_admin_setup_and_set_password_links_still_work_with_csrf() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        let token =
            tokens::issue_link(&*app.state.store, LinkPurpose::FirstAdmin, None, 1, Timestamp::now()).await.unwrap();
        let link = format!("/setup/{token}");
        let mut b = Browser::new();
        assert_eq!(b.get(&app, &link).await.status, StatusCode::OK);
        let r =
            b.post(&app, &link, &[("name", ""), ("email", "ana"), ("password", "short"), ("confirm", "short")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.body.contains("Enter your name")
                && r.body.contains("e-mail address like")
                && r.body.contains("at least 12")
        );
        let good = [("name", "Ana Ruiz"), ("email", "Ana@Example.org"), ("password", PASSWORD), ("confirm", PASSWORD)];
        assert_eq!(b.post(&app, &link, &good).await.status, StatusCode::OK);
        assert_eq!(b.post(&app, &link, &good).await.status, StatusCode::NOT_FOUND, "single use");
        assert_eq!(app.state.store.count_active_admins().await.unwrap(), 1);
        // The new admin logs in and is sent to enrol a second factor.
        let r = b.post(&app, "/login", &[("email", "ana@example.org"), ("password", PASSWORD)]).await;
        assert_eq!(r.location(), "/account/2fa");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_the_visitors_language_and_choice() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let mut b = Browser::new();
    b.accept_language = Some("es-MX,es;q=0.9");
    assert!(b.get(&app, "/").await.body.contains("<html lang=\"es\">"));
    let r = b.post(&app, "/language", &[("lang", "en"), ("next", "/login")]).await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/login"));
    assert!(b.get(&app, "/").await.body.contains("<html lang=\"en\">"), "the choice beats the header");
    let r = b.post(&app, "/language", &[("lang", "en"), ("next", "https://evil.example")]).await;
    assert_eq!(r.location(), "/");
    assert_eq!(b.post(&app, "/language", &[("lang", "tlh")]).await.status, StatusCode::BAD_REQUEST);
    let r = b.get(&app, "/nothing-here").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("Page not found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_report_without_secrets() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        let mut b = Browser::new();
        let r = b.get(&app, "/healthz").await;
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!((v["status"].as_str(), v["engine"].as_str()), (Some("ok"), Some(db.engine().as_str())));
        assert_eq!(v.as_object().unwrap().len(), 3);
        assert_eq!(b.get(&app, "/readyz").await.status, StatusCode::OK);
        let css = b.get(&app, "/static/kiteline.css").await;
        assert!(css.headers.get(header::CACHE_CONTROL).unwrap().to_str().unwrap().starts_with("public"));
    }
}

#[allow(dead_code)]
fn unused(_: Id) {}
