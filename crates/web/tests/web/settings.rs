//! The organization's profile and logo, and the public face they make.

use super::*;

fn multipart(csrf: &str, file: Option<(&str, &str, &[u8])>, remove: bool) -> (String, Vec<u8>) {
    let boundary = "----kitelinetestboundary";
    let mut body =
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n").into_bytes();
    if let Some((name, kind, bytes)) = file {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"{name}\"\r\nContent-Type: {kind}\r\n\r\n"
            )
            .into_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    if remove {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"remove\"\r\n\r\non\r\n").into_bytes(),
        );
    }
    body.extend(format!("--{boundary}--\r\n").into_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_organizations_profile_shows_on_every_page_and_the_public_home() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        let admin = user(&app, "admin@example.org", Role::Admin, true).await;
        let mut a = signed_in(&app, &admin).await;
        let bad = [("name", ""), ("contact_email", "nope"), ("description_en", &"x".repeat(1001))];
        let r = a.post(&app, "/admin/settings", &bad).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.body.contains("Give the organization a name") && r.body.contains("line@example.org, or leave it empty")
        );
        assert!(r.body.contains("value=\"nope\""), "what was typed stays");
        let good = [
            ("name", "Bay Area Solidarity Line"),
            ("description_en", "We answer calls from people inside.\r\n\r\nWe mail resources."),
            ("description_es", "Contestamos llamadas de personas presas."),
            ("contact_email", "line@example.org"),
            ("postal_address", "PO Box 1234\r\nOakland, CA 94612"),
        ];
        assert_eq!(a.post(&app, "/admin/settings", &good).await.location(), "/admin/settings?done=saved");
        let mut visitor = Browser::new();
        let r = visitor.get(&app, "/").await;
        assert!(r.body.contains("<title>Solidarity with people inside · Bay Area Solidarity Line</title>"));
        assert!(r.body.contains("We answer calls from people inside.") && r.body.contains("<p>We mail resources.</p>"));
        assert!(r.body.contains("PO Box 1234<br>Oakland, CA 94612<br>"), "the footer's postal address");
        assert!(r.body.contains("mailto:line@example.org"));
        visitor.accept_language = Some("es");
        assert!(visitor.get(&app, "/").await.body.contains("Contestamos llamadas de personas presas."));
        // Signed-in pages carry the name too.
        assert!(a.get(&app, "/account").await.body.contains("<span>Bay Area Solidarity Line</span>"));
        let saved = AuditFilter { action: Some("org.profile_update".into()), limit: 5, ..Default::default() };
        assert_eq!(app.state.store.audit_entries(&saved).await.unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logo_is_sanitized_and_served_from_our_origin_without_scripts() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let admin = user(&app, "admin@example.org", Role::Admin, true).await;
    let mut a = signed_in(&app, &admin).await;
    a.get(&app, "/admin/settings").await;
    let svg = br##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><script>alert(1)</script><circle cx="5" cy="5" r="4" fill="#7a1f2b" onclick="x()"/></svg>"##;
    let upload = |a: &Browser, file: Option<(&str, &str, &[u8])>, remove: bool| {
        let (kind, body) = multipart(&a.csrf, file, remove);
        let mut req =
            Request::builder().method(Method::POST).uri("/admin/settings/logo").header(header::CONTENT_TYPE, kind);
        let jar: Vec<String> = a.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        req = req.header(header::COOKIE, jar.join("; "));
        let mut req = req.body(Body::from(body)).unwrap();
        req.extensions_mut().insert(ConnectInfo(a.addr));
        app.router.clone().oneshot(req)
    };
    let r = upload(&a, Some(("logo.svg", "image/svg+xml", svg)), false).await.unwrap();
    assert_eq!(r.headers()[header::LOCATION], "/admin/settings?done=logo");
    let r = Browser::new().get(&app, "/logo").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers[header::CONTENT_TYPE], "image/svg+xml");
    assert!(r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("sandbox"));
    assert!(r.body.contains("<circle") && !r.body.contains("script") && !r.body.contains("onclick"));
    assert!(Browser::new().get(&app, "/").await.body.contains("<img class=\"logo\" src=\"/logo?v="));
    // A GIF is refused with its own message; a post without the form's token is refused.
    let r = upload(&a, Some(("logo.gif", "image/gif", b"GIF89a....")), false).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let mut stranger = a.clone();
    stranger.csrf = "0".repeat(64);
    assert_eq!(
        upload(&stranger, Some(("logo.svg", "image/svg+xml", svg)), false).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let r = upload(&a, None, true).await.unwrap();
    assert_eq!(r.headers()[header::LOCATION], "/admin/settings?done=logo-removed");
    assert_eq!(Browser::new().get(&app, "/logo").await.status, StatusCode::NOT_FOUND);
}
