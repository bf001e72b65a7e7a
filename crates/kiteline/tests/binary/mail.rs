//! Mail: delivered over SMTP, written as .eml files, retried or given up.

use super::*;

#[test]
fn mail_is_delivered_over_smtp_to_a_real_server() {
    let sink = smtp::Sink::start(vec![]);
    let dir = TempDir::new("kl-bin");
    let mut c = kiteline(dir.path(), None);
    c.env("KITELINE_SMTP_URL", format!("smtp://{}", sink.addr)).env("KITELINE_MAIL_FROM", "Línea <line@example.org>");
    let server = Server::start(c);
    for (to, lang) in [("ana@example.org", "es"), ("bo@example.org", "en")] {
        let mut t = kiteline(dir.path(), None);
        t.args(["mail", "test", "--to", to, "--lang", lang]);
        let out = run(t);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let got = sink.wait_for(2, Duration::from_secs(30));
    let es = got.iter().find(|m| m.rcpt == ["<ana@example.org>"]).expect("Spanish message arrived");
    assert_eq!(es.mail_from, "<line@example.org>");
    assert!(es.data.contains("Subject: Mensaje de prueba de Kiteline"), "{}", es.data);
    let en = got.iter().find(|m| m.rcpt == ["<bo@example.org>"]).expect("English message arrived");
    assert!(en.data.contains("Subject: Kiteline test message"), "{}", en.data);
    let logs = server.stop();
    assert!(logs.contains("mail delivered"), "{logs}");
    assert!(!logs.contains("ana@example.org") && !logs.contains("bo@example.org"), "addresses stay out of logs");
    assert!(!dir.path().join("mail").exists(), "no .eml files when SMTP is set");
}

#[test]
fn without_smtp_mail_becomes_eml_files_and_the_log_says_where() {
    let dir = TempDir::new("kl-bin");
    let mut t = kiteline(dir.path(), None);
    t.args(["mail", "test", "--to", "ana@example.org"]);
    assert!(run(t).status.success());
    let mut w = kiteline(dir.path(), None);
    w.args(["worker", "--once"]).env("KITELINE_LOG", "info");
    let out = run(w);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ran 1 job(s)"));
    let files: Vec<PathBuf> = std::fs::read_dir(dir.path().join("mail")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1);
    let logs = text(&out.stderr);
    assert!(logs.contains(&files[0].display().to_string()), "{logs}");
    assert!(std::fs::read_to_string(&files[0]).unwrap().contains("To: ana@example.org"));
}

#[test]
fn smtp_refusals_are_retried_or_given_up_as_the_code_says() {
    let rt = tokio_rt();
    rt.block_on(async {
        let db = kiteline_store::testing::sqlite().await;
        // First message: 451 (try later) then accepted. Second: 550 (refused).
        let sink = smtp::Sink::start(vec![451, 250, 550]);
        let mut keks = kiteline_core::crypto::KekRing::new();
        keks.insert(1, kiteline_core::crypto::SecretKey::from_bytes([5; 32]));
        let vault = kiteline_store::vault::Vault::load(
            &db.store,
            &keks,
            kiteline_core::crypto::SecretKey::from_bytes([6; 32]),
            Timestamp::now(),
        )
        .await
        .unwrap();
        let transport =
            Arc::new(kiteline_integrations::mail::SmtpTransport::from_url(&format!("smtp://{}", sink.addr)).unwrap());
        let worker =
            kiteline::worker::Worker::new(db.store.clone(), vault.clone(), transport, "K <k@example.org>".into());
        let kind = kiteline_templates::mail::MailKind::Test;
        let lang = kiteline_templates::Lang::En;
        let to = kiteline_web::mail::Recipient { address: "a@example.org", name: "A", lang };
        let first = kiteline_web::mail::queue(&db.store, &vault, "K", to, &kind, Timestamp::now()).await.unwrap();
        assert_eq!(worker.run_until_idle().await.unwrap(), 1);
        assert_eq!(db.store.job_counts().await.unwrap(), [1, 0, 0, 0], "451 is retried later");
        assert!(db.store.queued_mail(&first).await.unwrap().is_some());
        // The server's reply quoted the address; only its codes are kept.
        let conn = rusqlite::Connection::open(&db.location).unwrap();
        let last_error = |conn: &rusqlite::Connection| -> Vec<String> {
            let mut st = conn.prepare("SELECT last_error FROM jobs WHERE last_error IS NOT NULL").unwrap();
            st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
        };
        assert_eq!(last_error(&conn), ["SMTP 451 4.7.0"]);
        // Make the retry due now rather than in ten seconds.
        conn.execute("UPDATE jobs SET run_at = 0", []).unwrap();
        assert_eq!(worker.run_until_idle().await.unwrap(), 1);
        assert_eq!(db.store.job_counts().await.unwrap(), [0, 0, 1, 0]);
        assert_eq!(db.store.queued_mail(&first).await.unwrap(), None, "sent; the sealed body is gone");

        let to = kiteline_web::mail::Recipient { address: "b@example.org", name: "B", lang };
        let second = kiteline_web::mail::queue(&db.store, &vault, "K", to, &kind, Timestamp::now()).await.unwrap();
        assert_eq!(worker.run_until_idle().await.unwrap(), 1);
        assert_eq!(db.store.job_counts().await.unwrap(), [0, 0, 1, 1], "550 is final");
        let errors = last_error(&conn);
        assert!(errors.contains(&"SMTP 550 5.1.1".to_owned()), "{errors:?}");
        assert!(errors.iter().all(|e| !e.contains('@')), "no address is kept: {errors:?}");
        assert_eq!(db.store.queued_mail(&second).await.unwrap(), None);
        assert_eq!(sink.wait_for(1, Duration::from_secs(5)).len(), 1, "only the accepted message counts");
        let _ = Engine::Sqlite;
    });
}
