//! The command line: user add, token create, backup, audit verify.

use super::*;

#[test]
fn user_add_prints_a_working_link_and_token_create_stores_only_a_digest() {
    let dir = TempDir::new("kl-bin");
    let mut c = kiteline(dir.path(), None);
    c.env("KITELINE_PUBLIC_URL", "https://line.example.org").args([
        "user",
        "add",
        "--email",
        "Vol@Example.org",
        "--name",
        "Marisol",
        "--role",
        "volunteer",
        "--lang",
        "es",
    ]);
    let out = run(c);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("/password/"), "the link is not printed where logs collect it");
    let link = link_in(&text(&out.stdout));
    let path = link.strip_prefix("https://line.example.org").expect("link uses the public URL").to_owned();

    let mut dup = kiteline(dir.path(), None);
    dup.args(["user", "add", "--email", "vol@example.org", "--name", "X", "--role", "admin"]);
    let out = run(dup);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("already exists"));
    let mut bad = kiteline(dir.path(), None);
    bad.args(["user", "add", "--email", "x@example.org", "--name", "X", "--role", "root"]);
    assert_eq!(run(bad).status.code(), Some(2));

    let mut tok = kiteline(dir.path(), None);
    tok.args(["token", "create", "--email", "vol@example.org", "--name", "laptop", "--scope", "write"]);
    let out = run(tok);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = last_line(&out);
    assert!(token.starts_with("kl_") && token.len() == 46, "{token}");
    let mut nobody = kiteline(dir.path(), None);
    nobody.args(["token", "create", "--email", "nobody@example.org", "--name", "x"]);
    assert_eq!(run(nobody).status.code(), Some(2));
    // Staff get no token before they have enrolled a second factor.
    let mut boss = kiteline(dir.path(), None);
    boss.args(["user", "add", "--email", "boss@example.org", "--name", "Boss", "--role", "admin"]);
    assert!(run(boss).status.success());
    let mut boss_token = kiteline(dir.path(), None);
    boss_token.args(["token", "create", "--email", "boss@example.org", "--name", "x", "--scope", "admin"]);
    let out = run(boss_token);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("two-step login"), "{}", text(&out.stderr));

    // Neither the token nor the link's secret is anywhere in the database files.
    let secret = path.trim_start_matches("/password/");
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap_or_default();
        let hay = String::from_utf8_lossy(&bytes);
        assert!(!hay.contains(&token[3..]) && !hay.contains(secret), "a secret is stored in plain text");
    }

    let server = Server::start(kiteline(dir.path(), None));
    let (status, page) = http(server.addr, "GET", &path, None).unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("vol@example.org"));
    let form = format!("password={GOOD_PASSWORD}&confirm={GOOD_PASSWORD}");
    assert_eq!(post_form(server.addr, &path, &form).unwrap().0, 200);
    server.stop();
}

#[test]
fn backup_copies_a_live_sqlite_database_and_refuses_postgresql() {
    for (dir, pg) in engines() {
        let url = db_url(&dir, &pg);
        let out_file = dir.path().join("copy.db");
        let mut c = kiteline(dir.path(), Some(&url));
        c.args(["backup", "--out"]).arg(&out_file);
        if pg.is_some() {
            let out = run(c);
            assert!(!out.status.success());
            assert!(text(&out.stderr).contains("pg_dump"), "{}", text(&out.stderr));
            continue;
        }
        let server = Server::start(kiteline(dir.path(), Some(&url)));
        // Keep writing while the copy is taken.
        let addr = server.addr;
        let writer = std::thread::spawn(move || {
            for i in 0..40 {
                let _ = post_form(addr, "/language", &format!("lang=es&next=%2F{i}"));
            }
        });
        let mut users = kiteline(dir.path(), Some(&url));
        users.args(["user", "add", "--email", "a@example.org", "--name", "A", "--role", "coordinator"]);
        assert!(run(users).status.success());
        let out = run(c);
        assert!(out.status.success(), "{}", text(&out.stderr));
        writer.join().unwrap();
        let copy = rusqlite::Connection::open(&out_file).unwrap();
        let ok: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
        let n: i64 = copy.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
        let mut again = kiteline(dir.path(), Some(&url));
        again.args(["backup", "--out"]).arg(&out_file);
        assert_eq!(run(again).status.code(), Some(2), "never overwrites");
        server.stop();
    }
}

#[test]
fn audit_verify_passes_then_fails_after_a_hand_edit() {
    for (dir, pg) in engines() {
        let url = db_url(&dir, &pg);
        for i in 0..3 {
            let mut add = kiteline(dir.path(), Some(&url));
            add.args(["user", "add", "--email", &format!("u{i}@example.org"), "--name", "U", "--role", "volunteer"]);
            assert!(run(add).status.success());
        }
        let mut verify = kiteline(dir.path(), Some(&url));
        verify.args(["audit", "verify"]);
        let out = run(verify);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("audit log intact: 3 entries"), "{}", text(&out.stdout));

        // Someone with database access removes the guard and edits a row.
        let tamper =
            ["DROP TRIGGER audit_log_append_only", "UPDATE audit_log SET object_id = 'someone-else' WHERE seq = 2"];
        match &pg {
            None => {
                let conn = rusqlite::Connection::open(dir.path().join("kiteline.db")).unwrap();
                for sql in tamper {
                    conn.execute_batch(sql).unwrap();
                }
            }
            Some(db) => tokio_rt().block_on(async {
                let (client, conn) =
                    tokio_postgres::connect(&kiteline_store::testing::pg_url(), tokio_postgres::NoTls).await.unwrap();
                tokio::spawn(conn);
                client
                    .batch_execute(&format!(
                        "SET search_path TO {}; {} ON audit_log; {}",
                        db.location, tamper[0], tamper[1]
                    ))
                    .await
                    .unwrap();
            }),
        }
        let mut verify = kiteline(dir.path(), Some(&url));
        verify.args(["audit", "verify"]);
        let out = run(verify);
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out.stderr).contains("entry 2") && text(&out.stderr).contains("FAILED"), "{}", text(&out.stderr));
    }
}

/// Seen: `audit verify` passed after `DELETE … WHERE seq > max-5`, and even
/// after deleting every row. The head is witnessed outside the database now.
#[test]
fn audit_verify_fails_when_the_newest_entries_or_all_of_them_are_deleted() {
    for (dir, pg) in engines() {
        let url = db_url(&dir, &pg);
        let sql = |statement: String| match &pg {
            None => {
                rusqlite::Connection::open(dir.path().join("kiteline.db")).unwrap().execute_batch(&statement).unwrap()
            }
            Some(db) => tokio_rt().block_on(async {
                let (client, conn) =
                    tokio_postgres::connect(&kiteline_store::testing::pg_url(), tokio_postgres::NoTls).await.unwrap();
                tokio::spawn(conn);
                client.batch_execute(&format!("SET search_path TO {}; {statement}", db.location)).await.unwrap();
            }),
        };
        let verify = || {
            let mut v = kiteline(dir.path(), Some(&url));
            v.args(["audit", "verify"]);
            run(v)
        };
        for i in 0..8 {
            let mut add = kiteline(dir.path(), Some(&url));
            add.args(["user", "add", "--email", &format!("u{i}@example.org"), "--name", "U", "--role", "volunteer"]);
            assert!(run(add).status.success());
        }
        // A running server witnesses its own entries too: a failed login.
        let server = Server::start(kiteline(dir.path(), Some(&url)));
        post_form(server.addr, "/login", "email=u1%40example.org&password=not+the+password+at+all").unwrap();
        let witness = dir.path().join("kiteline.key.witness");
        let seq = || std::fs::read_to_string(&witness).unwrap().split(' ').next().unwrap().parse::<i64>().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while seq() < 9 {
            assert!(Instant::now() < deadline, "the server did not witness entry 9");
            std::thread::sleep(Duration::from_millis(100));
        }
        server.stop();
        let out = verify();
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("witnessed up to #9"), "{}", text(&out.stdout));

        // Delete the newest five: the chain that remains verifies on its own.
        sql("DELETE FROM audit_log WHERE seq > (SELECT MAX(seq) - 5 FROM audit_log)".into());
        let out = verify();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
        assert!(text(&out.stderr).contains("ends at entry 4 but entry 9 was witnessed"), "{}", text(&out.stderr));
        // The witness is evidence: nothing moved it back.
        assert_eq!(seq(), 9);

        sql("DELETE FROM audit_log".into());
        let out = verify();
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out.stderr).contains("ends at entry 0 but entry 9 was witnessed"), "{}", text(&out.stderr));
    }
}
