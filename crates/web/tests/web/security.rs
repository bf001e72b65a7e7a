//! Headers on every response, the route × role × ownership matrix, CSRF,
//! and the health endpoints.

use super::*;

/// Who is asking, in the matrix. The object of each request belongs to
/// someone else: another volunteer, in the chapter "South".
#[derive(Clone, Copy, Debug, PartialEq)]
enum As {
    Anonymous,
    Volunteer,
    /// A national coordinator (no chapter): reaches every chapter.
    Coordinator,
    Admin,
    /// The coordinator of another chapter ("North"): the same routes, but
    /// the object is outside their scope.
    OtherChapterCoordinator,
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

/// The expected status of every route for every kind of caller. `{id}` is
/// someone else's object unless the row says `own`. Adding a route without
/// adding it here fails `the_route_matrix_holds`.
const MATRIX: &[(&str, &str, [u16; 5])] = &[
    //                                              anon  vol  coord admin
    ("GET", "/", [200, 200, 200, 200, 200]),
    ("GET", "/healthz", [200, 200, 200, 200, 200]),
    ("GET", "/readyz", [200, 200, 200, 200, 200]),
    ("GET", "/static/kiteline.css", [200, 200, 200, 200, 200]),
    ("GET", "/static/kiteline.js", [200, 200, 200, 200, 200]),
    ("GET", "/static/favicon.svg", [200, 200, 200, 200, 200]),
    ("GET", "/favicon.ico", [200, 200, 200, 200, 200]),
    // No logo was uploaded.
    ("GET", "/logo", [404, 404, 404, 404, 404]),
    ("POST", "/language", [303, 303, 303, 303, 303]),
    ("GET", "/line", [200, 200, 200, 200, 200]),
    ("GET", "/apply", [200, 200, 200, 200, 200]),
    // The matrix posts no answers: each field is asked for.
    ("POST", "/apply", [422, 422, 422, 422, 422]),
    ("GET", "/setup/{token}", [404, 404, 404, 404, 404]),
    ("POST", "/setup/{token}", [404, 404, 404, 404, 404]),
    ("GET", "/password/{token}", [404, 404, 404, 404, 404]),
    ("POST", "/password/{token}", [404, 404, 404, 404, 404]),
    ("GET", "/login", [200, 303, 303, 303, 303]),
    // The matrix posts no address or password: each is asked for.
    ("POST", "/login", [422, 422, 422, 422, 422]),
    ("GET", "/login/2fa", [303, 303, 303, 303, 303]),
    ("POST", "/login/2fa", [303, 303, 303, 303, 303]),
    ("POST", "/logout", [303, 303, 303, 303, 303]),
    ("POST", "/logout/everywhere", [303, 303, 303, 303, 303]),
    ("GET", "/password/reset", [200, 200, 200, 200, 200]),
    // The matrix posts no address: "not an e-mail address".
    ("POST", "/password/reset", [422, 422, 422, 422, 422]),
    ("GET", "/account", [303, 200, 200, 200, 200]),
    ("POST", "/account", [303, 422, 422, 422, 422]),
    // No session of theirs has that handle: nothing ends, back to the list.
    ("POST", "/account/sessions/end", [303, 303, 303, 303, 303]),
    ("GET", "/account/password", [303, 200, 200, 200, 200]),
    ("POST", "/account/password", [303, 422, 422, 422, 422]),
    ("GET", "/account/2fa", [303, 200, 200, 200, 200]),
    ("POST", "/account/2fa/setup", [303, 303, 303, 303, 303]),
    // The row above just gave the volunteer a pending secret: a wrong code is 422.
    ("POST", "/account/2fa/confirm", [303, 422, 303, 303, 303]),
    ("POST", "/account/2fa/recovery-codes", [303, 422, 422, 422, 422]),
    ("POST", "/account/2fa/disable", [303, 422, 403, 403, 403]),
    ("GET", "/account/tokens", [303, 200, 200, 200, 200]),
    ("POST", "/account/tokens", [303, 422, 422, 422, 422]),
    ("GET", "/account/tokens/{id}/revoke", [303, 404, 404, 404, 404]),
    ("POST", "/account/tokens/{id}/revoke", [303, 404, 404, 404, 404]),
    ("GET", "/admin/users", [303, 403, 200, 200, 200]),
    ("POST", "/admin/users/invite", [303, 403, 422, 422, 422]),
    // Outside the North coordinator's scope, the person is not found.
    ("GET", "/admin/users/{id}", [303, 403, 200, 200, 404]),
    // They have a password: nothing to resend, back to their page.
    ("POST", "/admin/users/{id}/resend", [303, 403, 303, 303, 404]),
    ("POST", "/admin/users/{id}/role", [303, 403, 403, 400, 403]),
    ("GET", "/admin/users/{id}/disable", [303, 403, 403, 200, 403]),
    ("POST", "/admin/users/{id}/disable", [303, 403, 403, 303, 403]),
    ("POST", "/admin/users/{id}/enable", [303, 403, 403, 303, 403]),
    ("GET", "/admin/users/{id}/reset-2fa", [303, 403, 403, 200, 403]),
    ("POST", "/admin/users/{id}/reset-2fa", [303, 403, 403, 422, 403]),
    ("GET", "/admin/chapters", [303, 403, 403, 200, 403]),
    ("POST", "/admin/chapters", [303, 403, 403, 422, 403]),
    ("POST", "/admin/chapters/{id}/rename", [303, 403, 403, 422, 403]),
    // `{id}` is a person, not a chapter.
    ("GET", "/admin/chapters/{id}/remove", [303, 403, 403, 404, 403]),
    ("POST", "/admin/chapters/{id}/remove", [303, 403, 403, 404, 403]),
    ("GET", "/admin/audit", [303, 403, 403, 200, 403]),
    ("POST", "/admin/audit", [303, 403, 403, 303, 403]),
    ("GET", "/admin/settings", [303, 403, 403, 200, 403]),
    ("POST", "/admin/settings", [303, 403, 403, 422, 403]),
    // Not a multipart body.
    ("POST", "/admin/settings/logo", [303, 403, 403, 400, 403]),
    ("GET", "/admin/components", [303, 403, 403, 200, 403]),
    // Empty program texts are valid: Kiteline's own are used.
    ("POST", "/admin/settings/program", [303, 403, 403, 303, 403]),
    ("GET", "/admin/applications", [303, 403, 200, 200, 200]),
    // `{id}` is a person, not an application.
    ("GET", "/admin/applications/{id}", [303, 403, 404, 404, 404]),
    ("POST", "/admin/applications/{id}/decide", [303, 403, 404, 404, 404]),
    ("GET", "/admin/training", [303, 403, 200, 200, 200]),
    ("POST", "/admin/training/modules", [303, 403, 422, 422, 422]),
    ("GET", "/admin/training/modules/{id}", [303, 403, 404, 404, 404]),
    ("POST", "/admin/training/modules/{id}", [303, 403, 404, 404, 404]),
    ("POST", "/admin/training/sessions", [303, 403, 422, 422, 422]),
    ("GET", "/training", [303, 200, 200, 200, 200]),
    // A pause needs its last day.
    ("POST", "/training/pause", [303, 422, 422, 422, 422]),
    ("POST", "/training/resume", [303, 303, 303, 303, 303]),
    ("GET", "/training/sessions/{id}", [303, 404, 404, 404, 404]),
    ("POST", "/training/sessions/{id}/signup", [303, 404, 404, 404, 404]),
    ("POST", "/training/sessions/{id}/leave", [303, 404, 404, 404, 404]),
    ("POST", "/training/sessions/{id}/attendance", [303, 404, 404, 404, 404]),
    ("GET", "/admin/volunteers", [303, 403, 200, 200, 200]),
    // No fresh code: asked for.
    ("POST", "/admin/volunteers/export", [303, 403, 422, 422, 422]),
    ("GET", "/admin/volunteers/{id}", [303, 403, 200, 200, 404]),
    ("POST", "/admin/volunteers/{id}/grant", [303, 403, 422, 422, 404]),
    ("POST", "/admin/volunteers/{id}/standing", [303, 403, 422, 422, 404]),
    ("GET", "/api/v1/me", [401, 401, 401, 401, 401]),
    ("POST", "/api/v1/me/logout-everywhere", [401, 401, 401, 401, 401]),
    ("GET", "/api/v1/users", [401, 401, 401, 401, 401]),
    ("GET", "/api/v1/openapi.json", [200, 200, 200, 200, 200]),
    ("GET", "/api/v1/applications", [401, 401, 401, 401, 401]),
    ("GET", "/api/v1/applications/{id}", [401, 401, 401, 401, 401]),
    ("POST", "/api/v1/applications/{id}/decision", [401, 401, 401, 401, 401]),
    ("GET", "/api/v1/volunteers", [401, 401, 401, 401, 401]),
    ("GET", "/api/v1/volunteers/{id}", [401, 401, 401, 401, 401]),
    ("POST", "/api/v1/volunteers/{id}/qualifications", [401, 401, 401, 401, 401]),
    ("GET", "/api/v1/training/modules", [401, 401, 401, 401, 401]),
    ("GET", "/api/v1/training/sessions", [401, 401, 401, 401, 401]),
    ("POST", "/api/v1/training/sessions", [401, 401, 401, 401, 401]),
    ("GET", "/api/v1/training/sessions/{id}", [401, 401, 401, 401, 401]),
    ("POST", "/api/v1/training/sessions/{id}/attendance", [401, 401, 401, 401, 401]),
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
        let (north, south) = (chapter(&app, "North").await, chapter(&app, "South").await);
        let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
        let coord = user(&app, "coord@example.org", Role::Coordinator, true).await;
        let admin = user(&app, "admin@example.org", Role::Admin, true).await;
        let north_coord = user_in(&app, "north@example.org", Role::Coordinator, true, Some(&north)).await;
        // Someone else's object: another volunteer (and their token).
        let other = user_in(&app, "other@example.org", Role::Volunteer, false, Some(&south)).await;
        let now = Timestamp::now();
        let token = kiteline_store::NewApiToken {
            id: new_id(now),
            user_id: other.id.clone(),
            label: "x".into(),
            scope: TokenScope::Read,
            digest: TokenDigest::of("dd"),
            expires_at: now + SignedDuration::from_hours(24),
        };
        let ev = AuditEvent::new(Some(&other.id), Action::ApiTokenCreate, &token.id);
        let others_token = app.state.store.create_api_token(token, ev, now).await.unwrap();
        let everyone = [As::Anonymous, As::Volunteer, As::Coordinator, As::Admin, As::OtherChapterCoordinator];
        for (who_i, who) in everyone.into_iter().enumerate() {
            for (method, pattern, expected) in MATRIX {
                let mut b = match who {
                    As::Anonymous => Browser::new(),
                    As::Volunteer => signed_in(&app, &vol).await,
                    As::Coordinator => signed_in(&app, &coord).await,
                    As::Admin => signed_in(&app, &admin).await,
                    As::OtherChapterCoordinator => signed_in(&app, &north_coord).await,
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
                // Chapter scope: the people page lists the other volunteer
                // only to those whose scope holds the South chapter.
                if *pattern == "/admin/users" && r.status == StatusCode::OK {
                    let shown = r.body.contains(&other.email);
                    assert_eq!(shown, who != As::OtherChapterCoordinator, "{who:?} sees other@: {shown}");
                }
                // Re-enable the other user if the admin just disabled them.
                if who == As::Admin && pattern.ends_with("/disable") {
                    let ev = AuditEvent::new(None, Action::UserEnable, &other.id);
                    app.state.store.set_disabled(&other.id, false, ev, Timestamp::now()).await.unwrap();
                }
            }
        }
        // The admin disabled `other` above, which revoked their token.
        assert!(!app.state.store.api_tokens_of(&other.id).await.unwrap()[0].is_live(Timestamp::now()));
        // Ownership: the same revoke succeeds for a token's owner.
        let mut owner = signed_in(&app, &other).await;
        owner.post(&app, "/account/tokens", &[("label", "again"), ("scope", "read")]).await;
        let fresh = app.state.store.api_tokens_of(&other.id).await.unwrap().pop().unwrap();
        let r = owner.post(&app, &format!("/account/tokens/{}/revoke", fresh.id), &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        // A chapter's coordinator invites into their own chapter only.
        let mut nb = signed_in(&app, &north_coord).await;
        let into_south =
            [("name", "S"), ("email", "s@example.org"), ("role", "volunteer"), ("chapter", south.as_str())];
        assert_eq!(nb.post(&app, "/admin/users/invite", &into_south).await.status, StatusCode::UNPROCESSABLE_ENTITY);
        let into_north =
            [("name", "N"), ("email", "n@example.org"), ("role", "volunteer"), ("chapter", north.as_str())];
        assert_eq!(nb.post(&app, "/admin/users/invite", &into_north).await.status, StatusCode::SEE_OTHER);
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

/// A store's `NotFound` becomes a 404 in one place, whatever the handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acting_on_an_account_that_does_not_exist_is_404() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let admin = user(&app, "admin@example.org", Role::Admin, true).await;
    let mut b = signed_in(&app, &admin).await;
    let nobody = new_id(Timestamp::now()).to_string();
    for action in ["disable", "enable"] {
        let r = b.post(&app, &format!("/admin/users/{nobody}/{action}"), &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{action}");
    }
    let r = b.post(&app, &format!("/account/tokens/{nobody}/revoke"), &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
