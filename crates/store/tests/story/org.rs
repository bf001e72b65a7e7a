//! The organization's profile and logo, and the public URL the server records.

use kiteline_store::testing::TestDb;
use kiteline_store::{Action, AuditEvent, OrgProfileUpdate};

use super::{audited_store, t};

story!(the_profile_and_logo_are_kept_and_audited);

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
