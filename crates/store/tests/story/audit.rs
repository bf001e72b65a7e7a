//! The audit chain: it verifies, survives retention, and breaks on edits.

use kiteline_core::audit::verify_chain;
use kiteline_store::testing::TestDb;
use kiteline_store::{Action, AuditEvent, AuditFilter, Engine};

use super::{audit_key, audited_store, raw_exec, raw_try, t};

story!(
    the_audit_chain_verifies_and_survives_retention,
    an_edited_or_deleted_audit_row_breaks_the_chain,
    views_fold_to_one_an_hour_and_people_can_be_searched,
);

async fn the_audit_chain_verifies_and_survives_retention(db: &TestDb) {
    let s = audited_store(db);
    for i in 0..6 {
        s.append_audit(AuditEvent::new(None, Action::AuditView, format!("t{i}")), t(i * 100)).await.unwrap();
    }
    let (anchor, entries) = s.audit_chain().await.unwrap();
    assert_eq!(anchor, None);
    assert_eq!(verify_chain(&audit_key(), None, &entries), Ok(6));
    assert_eq!(entries[0].at_micros, t(0).as_microsecond());
    assert_eq!(entries[5].actor, "system");
    assert_eq!((entries[5].action.as_str(), entries[5].object_type.as_str()), ("audit.view", "audit_log"));

    let only =
        s.audit_entries(&AuditFilter { object_id: Some("t2".into()), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(only.len(), 1);
    let window = s
        .audit_entries(&AuditFilter { since: Some(t(100)), until: Some(t(300)), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(window.iter().map(|e| e.object_id.as_str()).collect::<Vec<_>>(), ["t2", "t1"]);
    let page = s.audit_entries(&AuditFilter { before_seq: Some(3), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(page.len(), 2);
    let limited = s.audit_entries(&AuditFilter { limit: 4, ..Default::default() }).await.unwrap();
    assert_eq!(limited.len(), 4);

    assert_eq!(s.prune_audit(t(250), t(1000)).await.unwrap(), 3);
    assert_eq!(s.prune_audit(t(250), t(1000)).await.unwrap(), 0);
    s.append_audit(AuditEvent::new(None, Action::AuditView, "t6"), t(700)).await.unwrap();
    let (anchor, entries) = s.audit_chain().await.unwrap();
    assert_eq!(anchor.as_ref().map(|a| a.seq), Some(3));
    assert_eq!(entries.first().map(|e| e.seq), Some(4));
    assert_eq!(verify_chain(&audit_key(), anchor.as_ref(), &entries), Ok(4));
}

async fn an_edited_or_deleted_audit_row_breaks_the_chain(db: &TestDb) {
    let s = audited_store(db);
    for i in 0..4 {
        s.append_audit(AuditEvent::new(None, Action::UserRoleChange, format!("u{i}")), t(i)).await.unwrap();
    }
    // The database itself refuses an UPDATE of the log...
    let refused = raw_try(db, "UPDATE audit_log SET object_id = 'someone-else' WHERE seq = 2").await;
    assert!(refused.is_err(), "append-only trigger");
    // ...and one who removes that guard is still caught by the chain.
    let drop = match db.engine() {
        Engine::Sqlite => "DROP TRIGGER audit_log_append_only",
        Engine::Postgres => "DROP TRIGGER audit_log_append_only ON audit_log",
    };
    raw_exec(db, drop).await;
    raw_exec(db, "UPDATE audit_log SET object_id = 'someone-else' WHERE seq = 2").await;
    let (anchor, entries) = s.audit_chain().await.unwrap();
    assert!(matches!(
        verify_chain(&audit_key(), anchor.as_ref(), &entries),
        Err(kiteline_core::audit::ChainError::Edited { seq: 2 })
    ));
    raw_exec(db, "DELETE FROM audit_log WHERE seq = 2").await;
    let (anchor, entries) = s.audit_chain().await.unwrap();
    assert!(matches!(
        verify_chain(&audit_key(), anchor.as_ref(), &entries),
        Err(kiteline_core::audit::ChainError::Broken { seq: 3, .. })
    ));
}

async fn views_fold_to_one_an_hour_and_people_can_be_searched(db: &TestDb) {
    let s = audited_store(db);
    let (ana, bo) = (kiteline_store::new_id(t(0)), kiteline_store::new_id(t(0)));
    for minute in 0..30 {
        s.record_audit_view(&ana, t(minute * 60)).await.unwrap();
    }
    s.record_audit_view(&ana, t(3601)).await.unwrap();
    s.record_audit_view(&bo, t(10)).await.unwrap();
    let views = AuditFilter { action: Some("audit.view".into()), limit: 50, ..Default::default() };
    assert_eq!(s.audit_entries(&views).await.unwrap().len(), 3, "one an hour per viewer");
    s.append_audit(AuditEvent::new(Some(&ana), Action::UserRoleChange, &bo), t(4000)).await.unwrap();
    s.append_audit(AuditEvent::new(None, Action::UserDisable, "someone"), t(4001)).await.unwrap();
    let about_bo = AuditFilter { people: vec![bo.to_string()], hide_views: true, limit: 50, ..Default::default() };
    let found = s.audit_entries(&about_bo).await.unwrap();
    assert_eq!(
        found.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["user.role_change"],
        "by or about bo, views hidden"
    );
}
