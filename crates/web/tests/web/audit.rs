//! The audit page.

use super::*;

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
