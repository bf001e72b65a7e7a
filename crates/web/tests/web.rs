//! The web layer driven in process with `oneshot`: headers, languages,
//! errors, and the first-admin and set-password flows, on both engines.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use jiff::Timestamp;
use kiteline_core::crypto::{KekRing, SecretKey};
use kiteline_store::testing::TestDb;
use kiteline_store::vault::Vault;
use kiteline_store::{EmailAddress, LinkPurpose, NewUser, Role, new_id};
use kiteline_web::{AppState, ROUTES, WebConfig, router, tokens};
use std::sync::Arc;
use tower::ServiceExt;

async fn app_on(db: &TestDb, public_url: &str) -> (Router, AppState) {
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
        }),
    };
    (router(state.clone()), state)
}

async fn send(app: &Router, req: Request<Body>) -> (Response<Body>, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    (Response::from_parts(parts, Body::empty()), String::from_utf8_lossy(&bytes).into_owned())
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post(uri: &str, form: &str) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap()
}

fn concrete(pattern: &str) -> String {
    pattern.replace("{token}", "x".repeat(43).as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_carries_the_security_headers() {
    let db = kiteline_store::testing::sqlite().await;
    for (public_url, https) in [("http://127.0.0.1:8080", false), ("https://line.example.org", true)] {
        let (app, _) = app_on(&db, public_url).await;
        let mut requests: Vec<(String, Request<Body>)> = ROUTES
            .iter()
            .map(|(m, p)| {
                (format!("{m} {p}"), if *m == "GET" { get(&concrete(p)) } else { post(&concrete(p), "lang=es") })
            })
            .collect();
        requests.push(("GET unmatched".into(), get("/no/such/page")));
        requests.push(("DELETE /".into(), Request::delete("/").body(Body::empty()).unwrap()));
        for (what, req) in requests {
            let (res, _) = send(&app, req).await;
            let h = res.headers();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_the_visitors_language_and_choice() {
    let db = kiteline_store::testing::sqlite().await;
    let (app, _) = app_on(&db, "http://127.0.0.1:8080").await;
    let (res, body) = send(&app, get("/")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body.contains("<html lang=\"en\">"));
    assert_eq!(res.headers().get(header::CACHE_CONTROL).unwrap(), "no-store");

    let req = Request::get("/").header(header::ACCEPT_LANGUAGE, "es-MX,es;q=0.9,en;q=0.5").body(Body::empty()).unwrap();
    assert!(send(&app, req).await.1.contains("<html lang=\"es\">"));

    // Choosing English overrides the header, and the redirect stays on this site.
    let (res, _) = send(&app, post("/language", "lang=en&next=%2Fsetup%2Fabc")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers().get(header::LOCATION).unwrap(), "/setup/abc");
    let cookie = res.headers().get(header::SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    assert!(cookie.starts_with("kiteline_lang=en;") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    assert!(!cookie.contains("Secure"), "plain http in development");
    let req = Request::get("/")
        .header(header::ACCEPT_LANGUAGE, "es")
        .header(header::COOKIE, cookie.split(';').next().unwrap())
        .body(Body::empty())
        .unwrap();
    assert!(send(&app, req).await.1.contains("<html lang=\"en\">"));

    let (res, _) = send(&app, post("/language", "lang=en&next=https%3A%2F%2Fevil.example")).await;
    assert_eq!(res.headers().get(header::LOCATION).unwrap(), "/");
    let (res, body) = send(&app, post("/language", "lang=tlh")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(body.contains("<h1>"), "a page, not plain text");

    let (https_app, _) = app_on(&db, "https://line.example.org").await;
    let (res, _) = send(&https_app, post("/language", "lang=es")).await;
    assert!(res.headers().get(header::SET_COOKIE).unwrap().to_str().unwrap().contains("; Secure"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_pages_in_the_visitors_language() {
    let db = kiteline_store::testing::sqlite().await;
    let (app, _) = app_on(&db, "http://127.0.0.1:8080").await;
    let req = Request::get("/nothing-here").header(header::ACCEPT_LANGUAGE, "es").body(Body::empty()).unwrap();
    let (res, body) = send(&app, req).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(body.contains("Página no encontrada"), "{body}");
    // A malformed form body gets a page, not axum's plain-text rejection.
    let req = Request::post("/language").header(header::CONTENT_TYPE, "text/plain").body(Body::from("x")).unwrap();
    let (res, body) = send(&app, req).await;
    assert!(res.status().is_client_error());
    assert!(body.contains("could not be understood"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_report_without_secrets() {
    for db in kiteline_store::testing::each_engine().await {
        let (app, _) = app_on(&db, "http://127.0.0.1:8080").await;
        let (res, body) = send(&app, get("/healthz")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "ok");
        assert_eq!(v["engine"], db.engine().as_str());
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(v.as_object().unwrap().len(), 3, "nothing else: {body}");
        let (res, _) = send(&app, get("/readyz")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let (res, css) = send(&app, get("/static/kiteline.css")).await;
        assert_eq!(res.headers().get(header::CONTENT_TYPE).unwrap(), "text/css; charset=utf-8");
        assert!(res.headers().get(header::CACHE_CONTROL).unwrap().to_str().unwrap().starts_with("public"));
        assert!(css.contains(":root"));
    }
}

async fn first_admin_link(state: &AppState) -> String {
    let token = tokens::issue_link(&*state.store, LinkPurpose::FirstAdmin, None, 1, Timestamp::now()).await.unwrap();
    format!("/setup/{token}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_admin_setup_validates_then_creates_one_admin() {
    for db in kiteline_store::testing::each_engine().await {
        let (app, state) = app_on(&db, "http://127.0.0.1:8080").await;
        let link = first_admin_link(&state).await;
        assert_eq!(send(&app, get(&link)).await.0.status(), StatusCode::OK);
        assert_eq!(send(&app, get(&format!("/setup/{}", "y".repeat(43)))).await.0.status(), StatusCode::NOT_FOUND);

        let bad = [
            (
                "name=&email=ana%40example.org&password=correct+horse+battery&confirm=correct+horse+battery",
                "Enter your name",
            ),
            ("name=Ana&email=ana&password=correct+horse+battery&confirm=correct+horse+battery", "e-mail address like"),
            ("name=Ana&email=ana%40example.org&password=short&confirm=short", "at least 12"),
            (
                "name=Ana&email=ana%40example.org&password=correct+horse+battery&confirm=correct+horse+batterx",
                "are different",
            ),
        ];
        for (form, expect) in bad {
            let (res, body) = send(&app, post(&link, form)).await;
            assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{form}");
            assert!(body.contains(expect), "{form}: {body}");
            assert!(!body.contains("correct horse"), "a password is never echoed back");
        }
        assert_eq!(state.store.count_active_admins().await.unwrap(), 0);

        let good = "name=Ana+Ruiz&email=Ana%40Example.org&password=correct+horse+battery&confirm=correct+horse+battery";
        let (res, body) = send(&app, post(&link, good)).await;
        assert_eq!(res.status(), StatusCode::OK, "{body}");
        let admin = state.store.user_by_email(&EmailAddress::parse("ana@example.org").unwrap()).await.unwrap().unwrap();
        assert_eq!((admin.role, admin.has_password, admin.name.as_str()), (Role::Admin, true, "Ana Ruiz"));
        let hash = state.store.password_hash(&admin.id).await.unwrap().unwrap();
        assert!(kiteline_web::password::verify("correct horse battery".into(), hash).await.unwrap());

        // The link is spent, and a new one cannot make a second admin.
        assert_eq!(send(&app, post(&link, good)).await.0.status(), StatusCode::NOT_FOUND);
        let again = first_admin_link(&state).await;
        let other = "name=Bo&email=bo%40example.org&password=correct+horse+battery&confirm=correct+horse+battery";
        assert_eq!(send(&app, post(&again, other)).await.0.status(), StatusCode::CONFLICT);
        assert_eq!(state.store.count_active_admins().await.unwrap(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_password_link_works_once_for_its_user() {
    for db in kiteline_store::testing::each_engine().await {
        let (app, state) = app_on(&db, "http://127.0.0.1:8080").await;
        let now = Timestamp::now();
        let user = NewUser {
            email: EmailAddress::parse("marisol@example.org").unwrap(),
            name: "Vol".into(),
            role: Role::Volunteer,
            locale: "en".into(),
            chapter_id: None,
        };
        let user = state.store.create_user(user, new_id(now), now).await.unwrap();
        let token = tokens::issue_link(&*state.store, LinkPurpose::SetPassword, Some(&user.id), 1, now).await.unwrap();
        let link = format!("/password/{token}");
        let (res, body) = send(&app, get(&link)).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(body.contains("marisol@example.org"));
        let (res, _) = send(&app, post(&link, "password=i+am+marisol+here&confirm=i+am+marisol+here")).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "contains the address");
        let (res, _) = send(&app, post(&link, "password=a+long+passphrase&confirm=a+long+passphrase")).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(state.store.user_by_id(&user.id).await.unwrap().unwrap().has_password);
        assert_eq!(send(&app, get(&link)).await.0.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            send(&app, post(&link, "password=another+long+one&confirm=another+long+one")).await.0.status(),
            StatusCode::NOT_FOUND
        );
    }
}
