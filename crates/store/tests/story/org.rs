//! The organization's profile and logo, and the public URL the server records.

use kiteline_store::testing::TestDb;
use kiteline_store::{Action, AuditEvent, OrgProfileUpdate, ProgramUpdate};

use super::{audited_store, t};

story!(the_profile_and_logo_are_kept_and_audited, the_program_page_and_its_messages_are_kept_apart_from_the_profile);

async fn the_program_page_and_its_messages_are_kept_apart_from_the_profile(db: &TestDb) {
    let s = audited_store(db);
    let p = ProgramUpdate {
        program_en: "Two-hour shifts, once or twice a month.".into(),
        program_es: "Turnos de dos horas.".into(),
        coordination_email: "coord@example.org".into(),
        decline_en: "Thank you; not this time.".into(),
        decline_es: String::new(),
    };
    s.update_program(p, AuditEvent::new(None, Action::ProgramUpdate, "program"), t(1)).await.unwrap();
    let got = s.org_profile().await.unwrap();
    assert_eq!(
        (got.program_en.as_str(), got.coordination_email.as_str()),
        ("Two-hour shifts, once or twice a month.", "coord@example.org")
    );
    assert_eq!((got.name.as_str(), got.decline_es.as_str()), ("", ""));
    let filter =
        kiteline_store::AuditFilter { action: Some("org.program_update".into()), limit: 5, ..Default::default() };
    assert_eq!(s.audit_entries(&filter).await.unwrap().len(), 1);
}

async fn the_profile_and_logo_are_kept_and_audited(db: &TestDb) {
    let s = audited_store(db);
    assert_eq!(s.org_profile().await.unwrap(), Default::default(), "nothing set: every field empty");
    let update = OrgProfileUpdate {
        name: "Solidarity Line".into(),
        description_en: "We answer calls from inside.".into(),
        description_es: "Contestamos llamadas desde adentro.".into(),
        contact_email: "line@example.org".into(),
        postal_address: "PO Box 1\nOakland, CA".into(),
    };
    s.update_org_profile(update, AuditEvent::new(None, Action::OrgProfileUpdate, "1"), t(1)).await.unwrap();
    let p = s.org_profile().await.unwrap();
    assert_eq!(
        (p.name.as_str(), p.postal_address.as_str(), p.logo_version),
        ("Solidarity Line", "PO Box 1\nOakland, CA", None)
    );
    s.set_org_logo(
        Some((b"<svg/>".to_vec(), "image/svg+xml")),
        AuditEvent::new(None, Action::OrgLogoUpdate, "1"),
        t(2),
    )
    .await
    .unwrap();
    let logo = s.org_logo().await.unwrap().unwrap();
    assert_eq!((logo.bytes.as_slice(), logo.content_type.as_str()), (&b"<svg/>"[..], "image/svg+xml"));
    assert_eq!(s.org_profile().await.unwrap().logo_version, Some(logo.version));
    s.set_org_logo(None, AuditEvent::new(None, Action::OrgLogoUpdate, "1"), t(3)).await.unwrap();
    assert_eq!(s.org_logo().await.unwrap(), None);
    s.record_public_url("https://line.example.org", t(4)).await.unwrap();
    assert_eq!(s.org_profile().await.unwrap().public_url, "https://line.example.org");
    let (_, entries) = s.audit_chain().await.unwrap();
    assert_eq!(
        entries.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["org.profile_update", "org.logo_update", "org.logo_update"]
    );
}
