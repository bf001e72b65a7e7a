//! Accounts, single-use links, invitations, profiles, roles and chapters.

use std::sync::Arc;

use kiteline_store::testing::TestDb;
use kiteline_store::{
    Action, AuditEvent, AuditFilter, Constraint, EmailAddress, Invitation, LinkPurpose, PasswordHash, ProfileUpdate,
    Role, StoreError, new_id,
};

use super::{audited_store, d, link, new_user, raw_exec, seal, session, store, t, unseal};

fn mail() -> kiteline_store::NewMail {
    kiteline_store::NewMail { id: new_id(t(0)), sealed: seal(b"message"), job_id: new_id(t(0)) }
}

story!(
    users_are_unique_by_email,
    set_password_link_is_single_use_and_expires,
    first_admin_link_creates_one_admin_only,
    two_uses_of_one_first_admin_link_at_once_make_one_admin,
    newer_first_admin_link_replaces_older,
    invitations_profiles_roles_and_disabling,
    an_invitation_and_its_message_are_stored_together_or_not_at_all,
    a_reset_link_its_message_and_its_entry_are_stored_together_or_not_at_all,
    a_password_set_by_link_ends_every_session,
    a_user_row_edited_by_hand_is_no_longer_intact,
    chapters_are_listed_with_their_people_renamed_and_removed_when_empty,
    a_resent_invitation_replaces_the_old_link_and_only_while_no_password_is_set,
    the_language_switch_saves_the_locale_audited,
);

async fn a_resent_invitation_replaces_the_old_link_and_only_while_no_password_is_set(db: &TestDb) {
    let s = audited_store(db);
    let vid = new_id(t(0));
    let invitation = Invitation {
        user: new_user("vol@example.org", Role::Volunteer),
        id: vid.clone(),
        link_digest: d("first"),
        link_expires: t(100),
        mail: None,
    };
    s.invite_user(invitation, AuditEvent::new(None, Action::UserInvite, &vid), t(0)).await.unwrap();
    let resend = |token: &str| {
        (
            link(LinkPurpose::SetPassword, Some(&vid), token, t(200)),
            AuditEvent::new(None, Action::UserInviteResend, &vid),
        )
    };
    let (l, e) = resend("second");
    s.reissue_invitation(l, mail(), e, t(1)).await.unwrap();
    assert_eq!(s.usable_link(&d("first"), t(2)).await.unwrap(), None, "the old link no longer works");
    assert!(s.usable_link(&d("second"), t(2)).await.unwrap().is_some());
    let filter = AuditFilter { action: Some("user.invite_resend".into()), limit: 10, ..AuditFilter::default() };
    assert_eq!(s.audit_entries(&filter).await.unwrap().len(), 1);
    // Once they chose a password there is nothing to resend, and nothing is stored.
    s.use_set_password_link(&d("second"), hash("$argon2id$x"), t(3)).await.unwrap();
    let (l, e) = resend("third");
    assert!(matches!(s.reissue_invitation(l, mail(), e, t(4)).await, Err(StoreError::NotFound)));
    assert_eq!(s.usable_link(&d("third"), t(5)).await.unwrap(), None);
    assert_eq!(s.audit_entries(&filter).await.unwrap().len(), 1);
    // Nor for a stranger.
    let stranger = new_id(t(6));
    let l = link(LinkPurpose::SetPassword, Some(&stranger), "fourth", t(200));
    let e = AuditEvent::new(None, Action::UserInviteResend, &stranger);
    assert!(matches!(s.reissue_invitation(l, mail(), e, t(6)).await, Err(StoreError::NotFound)));
}

async fn the_language_switch_saves_the_locale_audited(db: &TestDb) {
    let s = audited_store(db);
    let u = s.create_user(new_user("ana@example.org", Role::Volunteer), new_id(t(0)), t(0)).await.unwrap();
    let other = if u.locale == "es" { "en" } else { "es" };
    s.set_locale(&u.id, other, t(1)).await.unwrap();
    let u = s.user_by_id(&u.id).await.unwrap().unwrap();
    assert!(u.locale == other && u.intact);
    let filter = AuditFilter { action: Some("user.profile_update".into()), limit: 10, ..AuditFilter::default() };
    assert_eq!(s.audit_entries(&filter).await.unwrap().len(), 1);
    assert!(matches!(s.set_locale(&new_id(t(2)), "es", t(2)).await, Err(StoreError::NotFound)));
}

fn hash(s: &str) -> PasswordHash {
    PasswordHash::from_phc(s.to_owned())
}

async fn users_are_unique_by_email(db: &TestDb) {
    let s = store(db);
    let id = new_id(t(0));
    let u = s.create_user(new_user("Ana@Example.org", Role::Volunteer), id.clone(), t(0)).await.unwrap();
    assert_eq!(u.id, id);
    assert_eq!(u.email, "ana@example.org");
    assert_eq!(u.role, Role::Volunteer);
    assert_eq!(u.locale, "es");
    assert!(!u.has_password);
    assert_eq!(u.created_at, t(0));
    assert_eq!(s.user_by_id(&id).await.unwrap(), Some(u.clone()));
    assert_eq!(s.user_by_email(&EmailAddress::parse("ANA@example.org").unwrap()).await.unwrap(), Some(u));
    assert_eq!(s.user_by_email(&EmailAddress::parse("bo@example.org").unwrap()).await.unwrap(), None);
    let dup = s.create_user(new_user("ana@example.org", Role::Admin), new_id(t(1)), t(1)).await;
    assert!(matches!(dup, Err(StoreError::Conflict(Constraint::UserEmail))), "{dup:?}");
    assert_eq!(s.count_active_admins().await.unwrap(), 0);
    assert_eq!(s.password_hash(&id).await.unwrap(), None);
}

async fn set_password_link_is_single_use_and_expires(db: &TestDb) {
    let s = audited_store(db);
    let user = s.create_user(new_user("ana@example.org", Role::Coordinator), new_id(t(0)), t(0)).await.unwrap();
    s.create_link(link(LinkPurpose::SetPassword, Some(&user.id), "digest-1", t(100)), None, None, t(0)).await.unwrap();
    s.create_link(link(LinkPurpose::SetPassword, Some(&user.id), "digest-2", t(100)), None, None, t(0)).await.unwrap();

    let found = s.usable_link(&d("digest-1"), t(10)).await.unwrap().unwrap();
    assert_eq!(found.purpose, LinkPurpose::SetPassword);
    assert_eq!(found.user_id.as_ref(), Some(&user.id));
    assert_eq!(found.expires_at, t(100));
    assert_eq!(s.usable_link(&d("digest-1"), t(100)).await.unwrap(), None, "expired at its expiry instant");
    assert!(matches!(s.use_set_password_link(&d("digest-1"), hash("hash"), t(100)).await, Err(StoreError::NotFound)));
    assert!(matches!(s.use_set_password_link(&d("nope"), hash("hash"), t(10)).await, Err(StoreError::NotFound)));

    let updated = s.use_set_password_link(&d("digest-1"), hash("$argon2id$hash"), t(10)).await.unwrap();
    assert!(updated.has_password);
    assert_eq!(s.password_hash(&user.id).await.unwrap(), Some(hash("$argon2id$hash")));
    assert!(matches!(s.use_set_password_link(&d("digest-1"), hash("again"), t(11)).await, Err(StoreError::NotFound)));
    // Setting a password retires the user's other outstanding links.
    assert_eq!(s.usable_link(&d("digest-2"), t(11)).await.unwrap(), None);
    assert_eq!(s.password_hash(&user.id).await.unwrap(), Some(hash("$argon2id$hash")));
    // ...and is audited as the user's own act.
    let filter = AuditFilter { action: Some("user.password_set".into()), limit: 5, ..Default::default() };
    let set = s.audit_entries(&filter).await.unwrap();
    assert_eq!((set.len(), set[0].actor.as_str(), set[0].object_id.as_str()), (1, user.id.as_str(), user.id.as_str()));
}

async fn first_admin_link_creates_one_admin_only(db: &TestDb) {
    let s = audited_store(db);
    s.create_link(link(LinkPurpose::FirstAdmin, None, "first", t(100)), None, None, t(0)).await.unwrap();
    // A first-admin link cannot be used as a set-password link.
    assert!(matches!(s.use_set_password_link(&d("first"), hash("h"), t(1)).await, Err(StoreError::NotFound)));
    let admin = s
        .use_first_admin_link(&d("first"), new_user("root@example.org", Role::Admin), new_id(t(1)), hash("h"), t(1))
        .await
        .unwrap();
    assert_eq!(admin.role, Role::Admin);
    assert!(admin.has_password);
    assert_eq!(s.count_active_admins().await.unwrap(), 1);
    assert!(matches!(
        s.use_first_admin_link(&d("first"), new_user("b@example.org", Role::Admin), new_id(t(2)), hash("h"), t(2))
            .await,
        Err(StoreError::NotFound)
    ));
    // Even a fresh link is refused once an admin exists.
    s.create_link(link(LinkPurpose::FirstAdmin, None, "second", t(100)), None, None, t(3)).await.unwrap();
    assert!(matches!(
        s.use_first_admin_link(&d("second"), new_user("c@example.org", Role::Admin), new_id(t(4)), hash("h"), t(4))
            .await,
        Err(StoreError::Conflict(Constraint::AdminExists))
    ));
    assert_eq!(s.count_active_admins().await.unwrap(), 1);
    assert_eq!(s.user_by_email(&EmailAddress::parse("c@example.org").unwrap()).await.unwrap(), None);
    let filter = AuditFilter { action: Some("user.first_admin".into()), limit: 5, ..Default::default() };
    assert_eq!(s.audit_entries(&filter).await.unwrap().len(), 1, "creating the first admin is audited, once");
}

/// The engines once disagreed here (only PostgreSQL checked that spending
/// the link changed one row): two uses racing for one link make one admin.
async fn two_uses_of_one_first_admin_link_at_once_make_one_admin(db: &TestDb) {
    let s = audited_store(db);
    s.create_link(link(LinkPurpose::FirstAdmin, None, "race", t(100)), None, None, t(0)).await.unwrap();
    let mut tries = Vec::new();
    for i in 0..8 {
        let s = Arc::clone(&s);
        tries.push(tokio::spawn(async move {
            let user = new_user(&format!("admin{i}@example.org"), Role::Admin);
            s.use_first_admin_link(&d("race"), user, new_id(t(1)), hash("h"), t(1)).await
        }));
    }
    let mut made = 0;
    for r in tries {
        match r.await.unwrap() {
            Ok(_) => made += 1,
            Err(StoreError::NotFound | StoreError::Conflict(Constraint::AdminExists)) => {}
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(made, 1);
    assert_eq!(s.count_active_admins().await.unwrap(), 1);
    assert_eq!(s.list_users().await.unwrap().len(), 1);
}

async fn newer_first_admin_link_replaces_older(db: &TestDb) {
    let s = store(db);
    s.create_link(link(LinkPurpose::FirstAdmin, None, "old", t(100)), None, None, t(0)).await.unwrap();
    s.create_link(link(LinkPurpose::FirstAdmin, None, "new", t(100)), None, None, t(1)).await.unwrap();
    assert_eq!(s.usable_link(&d("old"), t(2)).await.unwrap(), None);
    assert!(s.usable_link(&d("new"), t(2)).await.unwrap().is_some());
}

async fn invitations_profiles_roles_and_disabling(db: &TestDb) {
    let s = audited_store(db);
    let admin = s.create_user(new_user("admin@example.org", Role::Admin), new_id(t(0)), t(0)).await.unwrap();
    let chapter = new_id(t(0));
    s.create_chapter(
        chapter.clone(),
        "Bay Area",
        AuditEvent::new(Some(&admin.id), Action::ChapterCreate, &chapter),
        t(0),
    )
    .await
    .unwrap();
    assert!(matches!(
        s.create_chapter(new_id(t(0)), "Bay Area", AuditEvent::new(None, Action::ChapterCreate, "x"), t(0)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.chapters().await.unwrap()[0].name, "Bay Area");

    let mut invited = new_user("vol@example.org", Role::Volunteer);
    invited.chapter_id = Some(chapter.clone());
    let vid = new_id(t(1));
    let event = AuditEvent::new(Some(&admin.id), Action::UserInvite, &vid);
    let invitation = Invitation {
        user: invited,
        id: vid.clone(),
        link_digest: d("invite-digest"),
        link_expires: t(100),
        mail: None,
    };
    let vol = s.invite_user(invitation, event, t(1)).await.unwrap();
    assert_eq!(vol.chapter_id.as_ref(), Some(&chapter));
    assert_eq!(s.usable_link(&d("invite-digest"), t(2)).await.unwrap().unwrap().user_id.as_ref(), Some(&vid));
    // A failed invitation leaves nothing behind, not even its audit entry.
    let before = s.audit_chain().await.unwrap().1.len();
    let again = Invitation {
        user: new_user("vol@example.org", Role::Volunteer),
        id: new_id(t(2)),
        link_digest: d("d2"),
        link_expires: t(100),
        mail: None,
    };
    let dup = s.invite_user(again, AuditEvent::new(None, Action::UserInvite, "x"), t(2)).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
    assert_eq!(s.audit_chain().await.unwrap().1.len(), before);

    let profile = ProfileUpdate {
        name: "Marisol".into(),
        pronouns: "she/her".into(),
        time_zone: "America/Chicago".into(),
        languages: "en,es".into(),
        locale: "es".into(),
        phone: Some(seal(b"+15105550100")),
        notify_email: false,
        notify_sms: true,
    };
    s.update_profile(&vid, profile, t(3)).await.unwrap();
    let u = s.user_by_id(&vid).await.unwrap().unwrap();
    assert_eq!(
        (u.name.as_str(), u.pronouns.as_str(), u.time_zone.as_str(), u.languages.as_str()),
        ("Marisol", "she/her", "America/Chicago", "en,es")
    );
    assert_eq!((u.notify_email, u.notify_sms, u.locale.as_str()), (false, true, "es"));
    assert_eq!(unseal(&s.user_phone(&vid).await.unwrap().unwrap()), b"+15105550100");

    s.set_role(&vid, Role::Coordinator, AuditEvent::new(Some(&admin.id), Action::UserRoleChange, &vid), t(4))
        .await
        .unwrap();
    assert_eq!(s.user_by_id(&vid).await.unwrap().unwrap().role, Role::Coordinator);
    s.set_disabled(&vid, true, AuditEvent::new(Some(&admin.id), Action::UserDisable, &vid), t(5)).await.unwrap();
    assert_eq!(s.user_by_id(&vid).await.unwrap().unwrap().disabled_at, Some(t(5)));
    assert_eq!(s.password_hash(&vid).await.unwrap(), None, "a disabled account has no usable hash");
    s.set_disabled(&vid, false, AuditEvent::new(Some(&admin.id), Action::UserEnable, &vid), t(6)).await.unwrap();
    assert_eq!(s.user_by_id(&vid).await.unwrap().unwrap().disabled_at, None);
    assert!(matches!(
        s.set_role(&new_id(t(7)), Role::Admin, AuditEvent::new(None, Action::UserRoleChange, "x"), t(7)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.list_users().await.unwrap().len(), 2);
    let actions: Vec<String> = s
        .audit_entries(&AuditFilter { limit: 50, ..Default::default() })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        ["user.enable", "user.disable", "user.role_change", "user.profile_update", "user.invite", "chapter.create"]
    );
}

/// The invitation's message used to go out in a transaction of its own; now
/// the account, its link and its message are one.
async fn an_invitation_and_its_message_are_stored_together_or_not_at_all(db: &TestDb) {
    let s = audited_store(db);
    let invitation = |email: &str, token: &str| Invitation {
        user: new_user(email, Role::Volunteer),
        id: new_id(t(1)),
        link_digest: d(token),
        link_expires: t(100),
        mail: Some(mail()),
    };
    let ev = || AuditEvent::new(None, Action::UserInvite, "x");
    s.invite_user(invitation("vol@example.org", "i1"), ev(), t(1)).await.unwrap();
    assert_eq!(s.job_counts().await.unwrap()[0], 1, "its message is queued");
    // A second invitation to the same address fails whole: no message.
    assert!(s.invite_user(invitation("vol@example.org", "i2"), ev(), t(2)).await.is_err());
    // One whose message cannot be stored (its job id is taken) leaves no account.
    let mut clash = invitation("other@example.org", "i3");
    let first_job = s.claim_job("w", t(3), t(60)).await.unwrap().unwrap().id;
    clash.mail.as_mut().unwrap().job_id = first_job;
    assert!(s.invite_user(clash, ev(), t(3)).await.is_err());
    assert_eq!(s.user_by_email(&EmailAddress::parse("other@example.org").unwrap()).await.unwrap(), None);
    assert_eq!(s.usable_link(&d("i3"), t(4)).await.unwrap(), None);
    assert_eq!(s.job_counts().await.unwrap(), [0, 1, 0, 0]);
    assert_eq!(s.audit_chain().await.unwrap().1.len(), 1);
}

async fn a_reset_link_its_message_and_its_entry_are_stored_together_or_not_at_all(db: &TestDb) {
    let s = audited_store(db);
    let u = s.create_user(new_user("ana@example.org", Role::Volunteer), new_id(t(0)), t(0)).await.unwrap();
    let ev = || Some(AuditEvent::new(None, Action::UserPasswordResetRequested, &u.id));
    let reset = |token: &str| link(LinkPurpose::SetPassword, Some(&u.id), token, t(100));
    s.create_link(reset("r1"), Some(mail()), ev(), t(1)).await.unwrap();
    assert!(s.usable_link(&d("r1"), t(2)).await.unwrap().is_some());
    assert_eq!(s.job_counts().await.unwrap()[0], 1);
    assert_eq!(s.audit_chain().await.unwrap().1.len(), 1);
    // The same digest again fails: neither a second message nor an entry.
    let dup = s.create_link(reset("r1"), Some(mail()), ev(), t(2)).await;
    assert!(matches!(dup, Err(StoreError::Conflict(Constraint::LinkDigest))), "{dup:?}");
    assert_eq!(s.job_counts().await.unwrap()[0], 1);
    assert_eq!(s.audit_chain().await.unwrap().1.len(), 1);
}

/// Seen in the review: a password reset left existing sessions signed in.
async fn a_password_set_by_link_ends_every_session(db: &TestDb) {
    let s = audited_store(db);
    let u = s.create_user(new_user("ana@example.org", Role::Volunteer), new_id(t(0)), t(0)).await.unwrap();
    for tok in ["phone", "laptop"] {
        let ev = AuditEvent::new(Some(&u.id), Action::SessionLogin, &u.id);
        s.create_session(session(tok, &u.id, 600, t(1000)), ev, t(1)).await.unwrap();
    }
    s.create_link(link(LinkPurpose::SetPassword, Some(&u.id), "reset", t(100)), None, None, t(2)).await.unwrap();
    s.use_set_password_link(&d("reset"), hash("$argon2id$new"), t(3)).await.unwrap();
    assert!(s.session(&d("phone")).await.unwrap().is_none() && s.session(&d("laptop")).await.unwrap().is_none());
}

/// Seen in the review: `UPDATE users SET role='admin', password_hash=<another
/// account's hash>` gave a working admin login. The row's MAC no longer fits.
async fn a_user_row_edited_by_hand_is_no_longer_intact(db: &TestDb) {
    let s = audited_store(db);
    let admin = s.create_user(new_user("admin@example.org", Role::Admin), new_id(t(0)), t(0)).await.unwrap();
    let vol = s.create_user(new_user("vol@example.org", Role::Volunteer), new_id(t(0)), t(0)).await.unwrap();
    s.create_link(link(LinkPurpose::SetPassword, Some(&admin.id), "a", t(100)), None, None, t(1)).await.unwrap();
    s.use_set_password_link(&d("a"), hash("$argon2id$admins"), t(1)).await.unwrap();
    let ev = AuditEvent::new(Some(&vol.id), Action::SessionLogin, &vol.id);
    s.create_session(session("vol-session", &vol.id, 600, t(1000)), ev, t(2)).await.unwrap();
    for u in s.list_users().await.unwrap() {
        assert!(u.intact, "{} is intact after Kiteline's own changes", u.email);
    }

    raw_exec(
        db,
        &format!(
            "UPDATE users SET role = 'admin', password_hash = (SELECT password_hash FROM users WHERE id = '{}') \
             WHERE id = '{}'",
            admin.id, vol.id
        ),
    )
    .await;
    let edited = s.user_by_email(&EmailAddress::parse("vol@example.org").unwrap()).await.unwrap().unwrap();
    assert_eq!(edited.role, Role::Admin);
    assert!(!edited.intact, "the edit is detected");
    assert_eq!(s.password_hash(&vol.id).await.unwrap(), None, "and its hash is not handed out");
    assert!(!s.session(&d("vol-session")).await.unwrap().unwrap().1.intact);
    assert!(s.user_by_id(&admin.id).await.unwrap().unwrap().intact, "other rows are unaffected");

    // Dropping the MAC does not help either.
    raw_exec(db, &format!("UPDATE users SET row_mac = NULL WHERE id = '{}'", admin.id)).await;
    assert!(!s.user_by_id(&admin.id).await.unwrap().unwrap().intact);
}

/// The migration that introduces the MAC seals the rows that exist, in the
/// same transaction, so an upgraded database keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrading_seals_existing_user_rows() {
    for db in kiteline_store::testing::each_engine_unmigrated().await {
        let s = store(&db);
        s.migrate_until(2).await.unwrap();
        raw_exec(
            &db,
            "INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at) \
             VALUES ('0190a1b2-0000-7000-8000-000000000001', 'old@example.org', 'Old', 'admin', '$argon2id$x', 0, 0)"
                .replace(
                    ", 0, 0)",
                    match db.engine() {
                        kiteline_store::Engine::Sqlite => ", 0, 0)",
                        kiteline_store::Engine::Postgres => ", now(), now())",
                    },
                )
                .as_str(),
        )
        .await;
        let applied = s.migrate().await.unwrap();
        assert_eq!(applied.first().map(|m| m.version), Some(3));
        let old = s.user_by_email(&EmailAddress::parse("old@example.org").unwrap()).await.unwrap().unwrap();
        assert!(old.intact, "{:?}: sealed by the migration", db.engine());
    }
}

async fn chapters_are_listed_with_their_people_renamed_and_removed_when_empty(db: &TestDb) {
    let s = audited_store(db);
    let ev = |a: Action| AuditEvent::new(None, a, "c");
    let (north, south) = (new_id(t(0)), new_id(t(1)));
    s.create_chapter(north.clone(), "North", ev(Action::ChapterCreate), t(0)).await.unwrap();
    s.create_chapter(south.clone(), "South", ev(Action::ChapterCreate), t(1)).await.unwrap();
    let mut member = new_user("vol@example.org", Role::Volunteer);
    member.chapter_id = Some(north.clone());
    s.create_user(member, new_id(t(2)), t(2)).await.unwrap();
    let listed = s.chapters().await.unwrap();
    assert_eq!(listed.iter().map(|c| (c.name.as_str(), c.people)).collect::<Vec<_>>(), [("North", 1), ("South", 0)]);
    assert!(matches!(
        s.rename_chapter(&south, "North", ev(Action::ChapterRename), t(3)).await,
        Err(StoreError::Conflict(Constraint::ChapterName))
    ));
    s.rename_chapter(&south, "Sur", ev(Action::ChapterRename), t(3)).await.unwrap();
    assert!(
        matches!(
            s.remove_chapter(&north, ev(Action::ChapterRemove), t(4)).await,
            Err(StoreError::Conflict(Constraint::MissingReference))
        ),
        "not while it has people"
    );
    s.remove_chapter(&south, ev(Action::ChapterRemove), t(4)).await.unwrap();
    assert_eq!(s.chapters().await.unwrap().len(), 1);
    assert!(matches!(s.remove_chapter(&south, ev(Action::ChapterRemove), t(5)).await, Err(StoreError::NotFound)));
}
