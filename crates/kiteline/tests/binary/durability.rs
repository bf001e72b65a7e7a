//! What is acknowledged survives: kill -9 mid-writes, and maintenance.

use kiteline_store::{Action, TokenDigest};

use super::*;

#[test]
fn kill_9_in_the_middle_of_writes_loses_nothing_acknowledged() {
    const USERS: usize = 40;
    for (dir, pg) in engines() {
        let url = db_url(&dir, &pg);
        let seeded = seed_users(&open_store(dir.path(), &url), USERS);
        let server = Server::start(kiteline(dir.path(), Some(&url)));
        let addr = server.addr;
        let acked: Arc<Mutex<Vec<kiteline_store::Id>>> = Arc::default();
        let mut clients = Vec::new();
        for chunk in seeded.chunks(USERS / 4) {
            let (chunk, acked) = (chunk.to_vec(), acked.clone());
            clients.push(std::thread::spawn(move || {
                for (id, token) in chunk {
                    let form = format!("password={GOOD_PASSWORD}&confirm={GOOD_PASSWORD}");
                    if let Ok((200, _)) = post_form(addr, &format!("/password/{token}"), &form) {
                        acked.lock().unwrap().push(id);
                    }
                }
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked.lock().unwrap().len() < USERS / 4 {
            assert!(Instant::now() < deadline, "writes did not start");
            std::thread::sleep(Duration::from_millis(2));
        }
        server.signal("KILL");
        for c in clients {
            c.join().unwrap();
        }
        let acked = acked.lock().unwrap().clone();
        drop(server);
        assert!(acked.len() < USERS, "the kill landed mid-way ({} of {USERS} acknowledged)", acked.len());

        if pg.is_none() {
            let conn = rusqlite::Connection::open(dir.path().join("kiteline.db")).unwrap();
            let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
            assert_eq!(ok, "ok");
        }
        // The next start works, and every acknowledged write is there; every
        // write is all-or-nothing (password set exactly when the link is spent).
        let server = Server::start(kiteline(dir.path(), Some(&url)));
        assert_eq!(http(server.addr, "GET", "/readyz", None).unwrap().0, 200);
        let store = open_store(dir.path(), &url);
        tokio_rt().block_on(async {
            for (id, token) in &seeded {
                let user = store.user_by_id(id).await.unwrap().unwrap();
                let link_left = store.usable_link(&TokenDigest::of(token), Timestamp::now()).await.unwrap();
                assert_eq!(user.has_password, link_left.is_none(), "half-applied write for {id}");
                if acked.contains(id) {
                    assert!(user.has_password, "acknowledged write for {id} was lost");
                }
            }
        });
        server.stop();
    }
}

#[test]
fn maintenance_applies_audit_retention_and_purges_expired_sessions() {
    tokio_rt().block_on(async {
        for db in kiteline_store::testing::each_engine().await {
            let mut keks = kiteline_core::crypto::KekRing::new();
            keks.insert(1, kiteline_core::crypto::SecretKey::from_bytes([5; 32]));
            let blind = kiteline_core::crypto::SecretKey::from_bytes([6; 32]);
            let vault = kiteline_store::vault::Vault::load(&db.store, &keks, blind, Timestamp::now()).await.unwrap();
            let now = Timestamp::now();
            let day = SignedDuration::from_hours(24);
            for age_days in [200, 190, 170, 1] {
                let ev = kiteline_store::AuditEvent::new(None, Action::AuditView, format!("{age_days}d"));
                db.store.append_audit(ev, now - day * age_days).await.unwrap();
            }
            let u = db
                .store
                .create_user(
                    NewUser {
                        email: EmailAddress::parse("a@example.org").unwrap(),
                        name: "A".into(),
                        role: Role::Volunteer,
                        locale: "en".into(),
                        chapter_id: None,
                    },
                    new_id(now),
                    now,
                )
                .await
                .unwrap();
            let login = kiteline_store::AuditEvent::new(Some(&u.id), Action::SessionLogin, &u.id);
            let session = |token: &str, idle| kiteline_store::testing::session(token, &u.id, idle, now + day, None);
            db.store.create_session(session("old", 60), login.clone(), now - day).await.unwrap();
            db.store.create_session(session("live", 3600), login, now).await.unwrap();

            let sink =
                Arc::new(kiteline_integrations::mail::FileTransport::new(&std::env::temp_dir().join("kl-unused")));
            let mut worker =
                kiteline::worker::Worker::new(db.store.clone(), vault.clone(), sink, "K <k@example.org>".into());
            worker.audit_retention_days = 180;
            worker.maintenance(now).await.unwrap();

            let (anchor, entries) = db.store.audit_chain().await.unwrap();
            let kept: Vec<&str> =
                entries.iter().filter(|e| e.action == "audit.view").map(|e| e.object_id.as_str()).collect();
            assert_eq!(kept, ["170d", "1d"], "{:?}", db.engine());
            assert_eq!(anchor.as_ref().map(|a| a.seq), Some(2));
            assert!(
                kiteline_core::audit::verify_chain(&vault.audit_key(), anchor.as_ref(), &entries).is_ok(),
                "what remains verifies"
            );
            assert!(
                db.store.session(&TokenDigest::of("old")).await.unwrap().is_none()
                    && db.store.session(&TokenDigest::of("live")).await.unwrap().is_some()
            );
        }
    });
}
