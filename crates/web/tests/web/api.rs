//! The bearer-token API.

use super::*;

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
        let read = r.body.split("<code class=\"secret\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
        assert!(read.starts_with("kl_"));
        assert!(!v.get(&app, "/account/tokens").await.body.contains(&read), "shown once");

        let (s, me) = api(&app, Method::GET, "/api/v1/me", Some(&read)).await;
        assert_eq!((s, me["email"].as_str()), (StatusCode::OK, Some("vol@example.org")));
        let page = v.get(&app, "/account/tokens").await.body;
        let last_used = page.split("data-label=\"Last used\">").nth(1).unwrap().split('<').next().unwrap();
        assert!(last_used.ends_with(" PST") || last_used.ends_with(" PDT"), "in the viewer's zone: {last_used}");
        assert_eq!(
            api(&app, Method::POST, "/api/v1/me/logout-everywhere", Some(&read)).await.0,
            StatusCode::FORBIDDEN,
            "read scope cannot write"
        );
        assert_eq!(api(&app, Method::GET, "/api/v1/users", Some(&read)).await.0, StatusCode::FORBIDDEN);
        assert_eq!(api(&app, Method::GET, "/api/v1/me", Some("kl_nonsense")).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(api(&app, Method::GET, "/api/v1/me", None).await.0, StatusCode::UNAUTHORIZED);

        let r = v.post(&app, "/account/tokens", &[("label", "script"), ("scope", "write")]).await;
        let write = r.body.split("<code class=\"secret\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
        let (s, body) = api(&app, Method::POST, "/api/v1/me/logout-everywhere", Some(&write)).await;
        assert_eq!((s, body["ended"].as_u64()), (StatusCode::OK, Some(1)));
        assert_eq!(v.get(&app, "/account").await.location(), "/login", "the API ended the browser session");

        let mut a = signed_in(&app, &admin).await;
        // The admin scope asks for a fresh second-factor code.
        let r = a.post(&app, "/account/tokens", &[("label", "ops"), ("scope", "admin")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(app.state.store.api_tokens_of(&admin.id).await.unwrap().is_empty(), "none made without the code");
        let r = a.post(&app, "/account/tokens", &[("label", "ops"), ("scope", "admin"), ("code", &code_at(0))]).await;
        let admin_tok = r.body.split("<code class=\"secret\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
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
