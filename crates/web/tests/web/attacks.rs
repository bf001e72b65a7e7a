//! The red-team review's findings, each replayed against the web layer: the
//! attack that once worked, and now does not.

use std::time::Instant;

use super::*;

fn count(entries: &[kiteline_core::audit::ChainedEntry], action: &str) -> usize {
    entries.iter().filter(|e| e.action == action).count()
}

/// Seen: 60 simultaneous wrong logins from one /24 all got 401 (the limit is
/// 9 a minute): each was verified before any failure was counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_60_concurrent_wrong_logins_from_one_network_at_most_9_are_verified() {
    let db = kiteline_store::testing::sqlite().await;
    let app = Arc::new(app_on(&db, "http://127.0.0.1:8080").await);
    user(&app, "vol@example.org", Role::Volunteer, false).await;
    let mut calls = Vec::new();
    for i in 0..60 {
        let app = Arc::clone(&app);
        calls.push(tokio::spawn(async move {
            // One network, many addresses in it.
            let mut b = Browser::from_addr(&format!("203.0.113.{}:4000", i + 1));
            b.post(&app, "/login", &[("email", "vol@example.org"), ("password", "wrong password, wrong")]).await.status
        }));
    }
    let mut statuses = Vec::new();
    for c in calls {
        statuses.push(c.await.unwrap());
    }
    let verified = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    eprintln!("60 concurrent wrong logins from one /24: {verified} verified, {refused} refused");
    assert!(verified <= 9, "{verified} verified: {statuses:?}");
    assert_eq!(verified + refused, 60, "{statuses:?}");
    let (_, entries) = app.state.store.audit_chain().await.unwrap();
    assert!(count(&entries, "session.login_failed") <= 9);
}

/// Seen: 149 wrong codes were checked for one account in five minutes (the
/// limit is 5), from 200 held sockets spread over 40 /24s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_200_concurrent_wrong_codes_at_most_5_are_verified() {
    for db in kiteline_store::testing::each_engine().await {
        let app = Arc::new(app_on(&db, "http://127.0.0.1:8080").await);
        let admin = user(&app, "admin@example.org", Role::Admin, true).await;
        // A session that knows the password and waits for the code.
        let mut b = Browser::new();
        b.post(&app, "/login", &[("email", "admin@example.org"), ("password", PASSWORD)]).await;
        b.get(&app, "/login/2fa").await;
        let mut calls = Vec::new();
        for i in 0..200 {
            let (app, mut b) = (Arc::clone(&app), b.clone());
            b.addr = format!("198.51.{}.{}:5000", i % 40, i / 40 + 1).parse().unwrap();
            calls.push(tokio::spawn(async move { b.post(&app, "/login/2fa", &[("code", "000000")]).await.status }));
        }
        let mut statuses = Vec::new();
        for c in calls {
            statuses.push(c.await.unwrap());
        }
        let verified = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
        eprintln!("{:?}: 200 concurrent wrong codes over 40 /24s: {verified} verified", db.engine());
        assert!(verified <= 5, "{:?}: {verified} verified", db.engine());
        let (_, entries) = app.state.store.audit_chain().await.unwrap();
        assert!(count(&entries, "user.second_factor_failed") <= 5);
        let _ = admin;
    }
}

/// Seen: a known address got 429 from its 21st wrong login while an unknown
/// one got 401 every time; afterwards the real user was refused for 396 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_and_unknown_addresses_are_limited_alike_and_the_owner_is_not_locked_out() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    user(&app, "vol@example.org", Role::Volunteer, false).await;
    // The owner signed in from this browser before: it carries a device cookie.
    let mut owner = Browser::from_addr("192.0.2.200:1");
    let r = owner.post(&app, "/login", &[("email", "vol@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(r.location(), "/");
    assert!(owner.cookies.contains_key("kiteline_device"));
    owner.post(&app, "/logout", &[]).await;

    for address in ["vol@example.org", "nobody@example.org"] {
        let mut answers = Vec::new();
        for i in 0..21 {
            // Spread over many networks, as in the review.
            let mut b = Browser::from_addr(&format!("10.{i}.0.1:1"));
            answers
                .push(b.post(&app, "/login", &[("email", address), ("password", "not the password!!")]).await.status);
        }
        assert!(answers[..20].iter().all(|s| *s == StatusCode::UNAUTHORIZED), "{address}: {answers:?}");
        assert_eq!(answers[20], StatusCode::TOO_MANY_REQUESTS, "{address}: the 21st waits, known or not");
    }
    // A stranger is still held back, but the owner's browser is not.
    let mut stranger = Browser::from_addr("10.99.0.1:1");
    let r = stranger.post(&app, "/login", &[("email", "vol@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let r = owner.post(&app, "/login", &[("email", "vol@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(r.location(), "/", "the owner's device is limited on its own");
}

/// Seen: reset responses took a median of 2.3 ms for known addresses and
/// 1.1 ms for unknown ones. Now both do the same work: count, queue, answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_reset_takes_as_long_for_unknown_addresses_as_for_known_ones() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    const SAMPLES: usize = 50;
    for i in 0..SAMPLES {
        user(&app, &format!("known{i}@example.org"), Role::Volunteer, false).await;
    }
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..SAMPLES + 5 {
        for (addr, times) in [
            (format!("known{}@example.org", i % SAMPLES), &mut known),
            (format!("nobody{i}@example.org"), &mut unknown),
        ] {
            // A network of its own each time, so no limit is reached.
            let mut b = Browser::from_addr(&format!("10.{}.{}.1:1", i % 200, (i / 200) + (times.len() % 2) * 100));
            b.get(&app, "/password/reset").await;
            let start = Instant::now();
            let r = b.post(&app, "/password/reset", &[("email", &addr)]).await;
            let took = start.elapsed();
            assert_eq!(r.status, StatusCode::OK);
            if i >= 5 {
                times.push(took.as_secs_f64()); // the first five warm up
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (k, u) = (median(&mut known), median(&mut unknown));
    let spread = (k - u).abs() / k.max(u);
    eprintln!(
        "reset medians over {SAMPLES}: known {:.3} ms, unknown {:.3} ms ({:.1}% apart)",
        k * 1e3,
        u * 1e3,
        spread * 100.0
    );
    // Both answers do the same work (count, seal, queue); a real leak (a
    // lookup, a hash, a mail on one path only) is many times this bound.
    // 25%, not less: the other tests of this binary run alongside.
    assert!(spread <= 0.25, "known {:.3} ms, unknown {:.3} ms: {:.0}% apart", k * 1e3, u * 1e3, spread * 100.0);
}

/// Seen: over plain http a sibling subdomain could plant the CSRF cookie,
/// and the request still counted as same-site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csrf_token_works_only_with_the_session_it_was_made_for_and_from_this_origin() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
    let mut victim = signed_in(&app, &vol).await;
    // The attacker planted the CSRF cookie and knows its token, but not the
    // victim's session id: a token for their own (empty) session fails.
    let mut attacker = Browser::new();
    attacker.get(&app, "/").await;
    victim.cookies.insert("kiteline_csrf".into(), attacker.cookies["kiteline_csrf"].clone());
    victim.csrf = attacker.csrf.clone();
    victim.csrf_session = victim.session_cookie();
    let r = victim.post(&app, "/logout/everywhere", &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // A token from the right session, sent cross-site (any case) or from
    // another origin, is refused too.
    let b = signed_in(&app, &vol).await;
    for (name, value) in [("sec-fetch-site", "Cross-Site"), ("origin", "http://evil.example")] {
        let body = format!("csrf={}", b.csrf);
        let mut req = Request::builder().method(Method::POST).uri("/logout/everywhere").header(name, value);
        let jar: Vec<String> = b.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        req = req
            .header(header::COOKIE, jar.join("; "))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        let mut req = req.body(Body::from(body)).unwrap();
        req.extensions_mut().insert(ConnectInfo(b.addr));
        let res = app.router.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{name}: {value}");
    }
    // From this site's own origin it works, and so with `Origin: null`,
    // which browsers send for our pages (they carry no-referrer).
    let body = format!("csrf={}", b.csrf);
    let jar: Vec<String> = b.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/logout/everywhere")
        .header("origin", "http://127.0.0.1:8080")
        .header(header::COOKIE, jar.join("; "))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    req.extensions_mut().insert(ConnectInfo(b.addr));
    assert_eq!(app.router.clone().oneshot(req).await.unwrap().status(), StatusCode::SEE_OTHER);
    let mut b = signed_in(&app, &vol).await;
    let r = {
        let jar: Vec<String> = b.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut req = Request::builder()
            .method(Method::POST)
            .uri("/logout/everywhere")
            .header("origin", "null")
            .header("sec-fetch-site", "same-origin")
            .header(header::COOKIE, jar.join("; "))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("csrf={}", b.csrf)))
            .unwrap();
        req.extensions_mut().insert(ConnectInfo(b.addr));
        app.router.clone().oneshot(req).await.unwrap()
    };
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "Origin: null with the right token");
    b.cookies.clear();
}

/// A session cookie outlives the browser only when asked to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_is_a_browser_session_cookie_unless_keep_me_signed_in() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    user(&app, "vol@example.org", Role::Volunteer, false).await;
    let session_cookie = |r: &Reply| {
        r.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|c| c.starts_with("kiteline_session="))
            .unwrap()
    };
    let mut b = Browser::new();
    let r = b.post(&app, "/login", &[("email", "vol@example.org"), ("password", PASSWORD)]).await;
    assert!(!session_cookie(&r).contains("Max-Age"), "{}", session_cookie(&r));
    let mut b = Browser::new();
    let r = b.post(&app, "/login", &[("email", "vol@example.org"), ("password", PASSWORD), ("remember", "on")]).await;
    assert!(session_cookie(&r).contains("Max-Age=86400"), "{}", session_cookie(&r));
}

/// Seen: with `KITELINE_CLIENT_IP_HEADER=X-Forwarded-For` the first line
/// was read (a client could pick its bucket), and a value that did not
/// parse fell back to the proxy's address, one bucket for every client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_proxy_only_the_address_it_appended_counts_and_garbage_is_refused() {
    let db = kiteline_store::testing::sqlite().await;
    let mut app = app_on(&db, "http://127.0.0.1:8080").await;
    let mut config = (*app.state.config).clone();
    config.client_ip_header = Some("x-forwarded-for".into());
    app.state.config = Arc::new(config);
    app.router = router(app.state.clone());
    user(&app, "vol@example.org", Role::Volunteer, false).await;
    let login = |client_line: &'static str, proxy_line: &'static str| {
        let router = app.router.clone();
        async move {
            let mut b = Browser::new();
            let mut req = Request::builder().method(Method::GET).uri("/login").body(Body::empty()).unwrap();
            req.extensions_mut().insert(ConnectInfo(b.addr));
            let page = router.clone().oneshot(req).await.unwrap();
            for c in page.headers().get_all(header::SET_COOKIE) {
                let (kv, _) = c.to_str().unwrap().split_once(';').unwrap();
                let (k, v) = kv.split_once('=').unwrap();
                b.cookies.insert(k.into(), v.into());
            }
            let body =
                String::from_utf8(axum::body::to_bytes(page.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
            let i = body.find("name=\"csrf\" value=\"").unwrap() + 19;
            let csrf = &body[i..i + body[i..].find('"').unwrap()];
            let jar: Vec<String> = b.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let mut req = Request::builder()
                .method(Method::POST)
                .uri("/login")
                .header(header::COOKIE, jar.join("; "))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("x-forwarded-for", client_line)
                .header("x-forwarded-for", proxy_line)
                .body(Body::from(format!("csrf={csrf}&email=vol%40example.org&password=wrong+wrong+wrong")))
                .unwrap();
            req.extensions_mut().insert(ConnectInfo(b.addr));
            router.oneshot(req).await.unwrap().status()
        }
    };
    // Nine failures from one real network, each claiming a different client
    // address in a line of its own: the tenth is still refused.
    let spoofs = ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4", "5.5.5.5", "6.6.6.6", "7.7.7.7", "8.8.8.8", "9.9.9.9"];
    for spoof in spoofs {
        assert_eq!(login(spoof, "203.0.113.9").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login("10.10.10.10", "203.0.113.9").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login("1.1.1.1", "198.51.100.9").await, StatusCode::UNAUTHORIZED, "another real network is apart");
    assert_eq!(login("1.1.1.1", "not-an-address").await, StatusCode::BAD_REQUEST, "garbage is refused");
}

/// Seen: `UPDATE users SET role='admin', password_hash=<another account's
/// hash>` gave a working admin login, and the live server opened sealed
/// fields for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_row_edited_in_the_database_stops_working_and_is_audited() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let admin = user(&app, "admin@example.org", Role::Admin, true).await;
    let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
    let mut live = signed_in(&app, &vol).await;
    assert_eq!(live.get(&app, "/account").await.status, StatusCode::OK);
    let conn = rusqlite::Connection::open(&db.location).unwrap();
    conn.execute(
        "UPDATE users SET role = 'admin', password_hash = (SELECT password_hash FROM users WHERE id = ?1) WHERE id = ?2",
        [admin.id.as_str(), vol.id.as_str()],
    )
    .unwrap();
    // The live session stops working at once...
    assert_eq!(live.get(&app, "/account").await.location(), "/login");
    // ...and the admin's password does not open the edited account.
    let mut b = Browser::new();
    let r = b.post(&app, "/login", &[("email", "vol@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let (_, entries) = app.state.store.audit_chain().await.unwrap();
    let tampered: Vec<_> = entries.iter().filter(|e| e.action == "user.row_tampered").collect();
    assert_eq!(tampered.len(), 2, "the session and the login are each audited");
    assert!(tampered.iter().all(|e| e.object_id == vol.id.as_str()));
}
