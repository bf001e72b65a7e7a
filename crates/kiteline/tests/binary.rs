//! The `kiteline` binary, run as a real process against a real database
//! (SQLite file, PostgreSQL schema) and real sockets on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use kiteline_store::testing::{TempDir, TestDb};
use kiteline_store::{DynStore, EmailAddress, Engine, LinkPurpose, NewUser, Role, new_id};

mod browser;
mod smtp;

const BIN: &str = env!("CARGO_BIN_EXE_kiteline");

/// A `kiteline` command with a clean environment: no inherited KITELINE_*.
fn kiteline(data: &Path, db_url: Option<&str>) -> Command {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("KITELINE_") {
            c.env_remove(k);
        }
    }
    c.env("KITELINE_DATA_DIR", data).env("KITELINE_LISTEN", "127.0.0.1:0").current_dir(data);
    if let Some(url) = db_url {
        c.env("KITELINE_DATABASE_URL", url);
    }
    c
}

fn run(mut c: Command) -> Output {
    c.stdin(Stdio::null()).output().expect("kiteline runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A running `kiteline serve`, with its output collected.
struct Server {
    child: Child,
    addr: SocketAddr,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    fn start(mut c: Command) -> Server {
        let mut child =
            c.arg("serve").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (out, err) = (stdout.clone(), stderr.clone());
        let so = child.stdout.take().unwrap();
        let se = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(so).lines().map_while(Result::ok) {
                out.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(se).lines().map_while(Result::ok) {
                err.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let found =
                stdout.lock().unwrap().lines().find_map(|l| l.strip_prefix("listening on http://")?.parse().ok());
            if let Some(addr) = found {
                return Server { child, addr, stdout, stderr };
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("server exited with {status}: {}", stderr.lock().unwrap());
            }
            assert!(Instant::now() < deadline, "server did not start: {}", stderr.lock().unwrap());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill").arg(format!("-{sig}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(ok.success());
    }

    /// Sends SIGTERM and waits for a clean exit.
    fn stop(mut self) -> String {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(50)); // let the reader threads drain
                assert!(status.success(), "exit {status}: {}", self.stderr());
                return self.stderr();
            }
            assert!(Instant::now() < deadline, "server ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 client: one request per connection. Returns the
/// status, the raw head, and the body.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookies: &str,
    form: Option<&str>,
) -> std::io::Result<(u16, String, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = form.unwrap_or("");
    let cookie_line = if cookies.is_empty() { String::new() } else { format!("Cookie: {cookies}\r\n") };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{cookie_line}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let status = raw
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response {raw:?}")))?;
    let (head, body) = raw.split_once("\r\n\r\n").map(|(h, b)| (h.to_owned(), b.to_owned())).unwrap_or_default();
    Ok((status, head, body))
}

fn http(addr: SocketAddr, method: &str, path: &str, form: Option<&str>) -> std::io::Result<(u16, String)> {
    request(addr, method, path, "", form).map(|(s, _, b)| (s, b))
}

/// A browser's cookies and CSRF token.
#[derive(Default, Clone)]
struct Jar {
    cookies: Vec<(String, String)>,
    csrf: String,
}

impl Jar {
    fn header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn take(&mut self, head: &str, body: &str) {
        for line in head.lines() {
            let Some(c) = line.strip_prefix("set-cookie: ") else { continue };
            let (k, v) = c.split(';').next().unwrap().split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            if !v.is_empty() {
                self.cookies.push((k.to_owned(), v.to_owned()));
            }
        }
        if let Some(i) = body.find("name=\"csrf\" value=\"") {
            let rest = &body[i + 19..];
            self.csrf = rest[..rest.find('"').unwrap()].to_owned();
        }
    }

    fn get(&mut self, addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
        let (status, head, body) = request(addr, "GET", path, &self.header(), None)?;
        self.take(&head, &body);
        Ok((status, body))
    }

    /// Posts a form with this jar's CSRF token, fetching `/` first if it has none.
    fn post(&mut self, addr: SocketAddr, path: &str, form: &str) -> std::io::Result<(u16, String)> {
        if self.csrf.is_empty() {
            self.get(addr, "/")?;
        }
        let body = format!("csrf={}&{form}", self.csrf);
        let (status, head, body) = request(addr, "POST", path, &self.header(), Some(&body))?;
        self.take(&head, &body);
        Ok((status, body))
    }
}

/// One form post from a fresh browser.
fn post_form(addr: SocketAddr, path: &str, form: &str) -> std::io::Result<(u16, String)> {
    Jar::default().post(addr, path, form)
}

fn engines() -> Vec<(TempDir, Option<TestDb>)> {
    // SQLite: the binary's own default file in a fresh data dir.
    let mut v = vec![(TempDir::new("kl-bin"), None)];
    if let Some(pg) = tokio_rt().block_on(kiteline_store::testing::postgres()) {
        v.push((TempDir::new("kl-bin"), Some(pg)));
    }
    v
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn db_url(dir: &TempDir, pg: &Option<TestDb>) -> String {
    match pg {
        Some(db) => db.url(),
        None => format!("sqlite://{}", dir.path().join("kiteline.db").display()),
    }
}

const GOOD_PASSWORD: &str = "correct+horse+battery+staple";

#[test]
fn a_fresh_start_serves_and_offers_one_first_admin_link_on_each_engine() {
    for (dir, pg) in engines() {
        let url = pg.as_ref().map(TestDb::url);
        let server = Server::start(kiteline(dir.path(), url.as_deref()));
        let engine = if pg.is_some() { "postgres" } else { "sqlite" };

        let (status, home) = http(server.addr, "GET", "/", None).unwrap();
        assert_eq!(status, 200);
        assert!(home.contains("<html lang=\"en\">"));
        let (_, health) = http(server.addr, "GET", "/healthz", None).unwrap();
        assert!(health.contains(&format!("\"engine\":\"{engine}\"")), "{health}");
        assert_eq!(http(server.addr, "GET", "/readyz", None).unwrap().0, 200);
        if pg.is_none() {
            for f in ["kiteline.db", "kiteline.key"] {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(dir.path().join(f)).unwrap().permissions().mode();
                assert_eq!(mode & 0o077, 0, "{f} is private");
            }
        }

        let out = server.stdout();
        let link =
            out.lines().find_map(|l| l.trim().strip_prefix("http://127.0.0.1:0")).expect("first-admin link printed");
        assert!(link.starts_with("/setup/"), "{out}");
        let token = link.trim_start_matches("/setup/").to_owned();
        let form = format!("name=Ana&email=ana%40example.org&password={GOOD_PASSWORD}&confirm={GOOD_PASSWORD}");
        assert_eq!(post_form(server.addr, link, &form).unwrap().0, 200);
        assert_eq!(http(server.addr, "GET", link, None).unwrap().0, 404, "single use");

        let logs = server.stop();
        assert!(logs.contains("worker stopped") && logs.contains("stopped"), "{logs}");
        for secret in [token.as_str(), "ana@example.org", "correct", "horse"] {
            assert!(!logs.contains(secret), "logs contain {secret:?}:\n{logs}");
        }
        assert!(logs.contains("route=\"/setup/{token}\""), "routes are logged by pattern: {logs}");

        // With an admin, the next start offers no link.
        let again = Server::start(kiteline(dir.path(), url.as_deref()));
        assert!(!again.stdout().contains("/setup/"));
        again.stop();
    }
}

#[test]
fn bad_configuration_is_one_line_naming_the_setting_and_exit_2() {
    let dir = TempDir::new("kl-bin");
    let cases: [(&str, &str); 3] =
        [("KITELINE_LISTEN", "everywhere"), ("KITELINE_DATABASE_URL", "mysql://db"), ("KITELINE_WORKER", "sometimes")];
    for (k, v) in cases {
        let mut c = kiteline(dir.path(), None);
        c.env(k, v).arg("serve");
        let out = run(c);
        assert_eq!(out.status.code(), Some(2), "{k}");
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(&format!("error: {k}: ")), "{err}");
    }
    let mut c = kiteline(dir.path(), None);
    c.args(["--config", "missing.toml", "config", "check"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("KITELINE_CONFIG: cannot read missing.toml"));
    assert!(!dir.path().join("kiteline.db").exists(), "nothing is created on a bad configuration");
}

#[test]
fn config_check_prints_effective_settings_with_secrets_redacted() {
    let dir = TempDir::new("kl-bin");
    std::fs::write(dir.path().join("k.toml"), "site_name = \"Línea Solidaria\"\n").unwrap();
    let mut c = kiteline(dir.path(), Some("postgres://kl:hunter2@db.internal/kiteline"));
    c.env("KITELINE_SMTP_URL", "smtp://mailer:s3cret@127.0.0.1:2525").args(["config", "check", "--config", "k.toml"]);
    let out = run(c);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(!shown.contains("hunter2") && !shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("postgres://kl:***@db.internal/kiteline  (environment)"), "{shown}");
    assert!(shown.contains("Línea Solidaria  (file)"), "{shown}");
    assert!(shown.contains("KITELINE_LISTEN                    127.0.0.1:0  (environment)"), "{shown}");
}

fn last_line(out: &Output) -> String {
    text(&out.stdout).lines().last().unwrap_or_default().to_owned()
}

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
    let link = last_line(&out);
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

/// Users with set-password links whose tokens the test knows.
fn seed_users(store: &DynStore, n: usize) -> Vec<(kiteline_store::Id, String)> {
    tokio_rt().block_on(async {
        let mut out = Vec::new();
        let now = Timestamp::now();
        for i in 0..n {
            let user = NewUser {
                email: EmailAddress::parse(&format!("user{i}@example.org")).unwrap(),
                name: format!("User {i}"),
                role: Role::Volunteer,
                locale: "en".into(),
                chapter_id: None,
            };
            let user = store.create_user(user, new_id(now), now).await.unwrap();
            let token = kiteline_web::tokens::issue_link(&**store, LinkPurpose::SetPassword, Some(&user.id), 1, now)
                .await
                .unwrap();
            out.push((user.id, token));
        }
        out
    })
}

fn open_store(url: &str) -> DynStore {
    tokio_rt().block_on(kiteline_store::open(url, 2)).unwrap()
}

#[test]
fn kill_9_in_the_middle_of_writes_loses_nothing_acknowledged() {
    const USERS: usize = 40;
    for (dir, pg) in engines() {
        let url = db_url(&dir, &pg);
        let seeded = seed_users(&open_store(&url), USERS);
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
        let store = open_store(&url);
        tokio_rt().block_on(async {
            for (id, token) in &seeded {
                let user = store.user_by_id(id).await.unwrap().unwrap();
                let link_left =
                    store.usable_link(&kiteline_core::crypto::token_digest(token), Timestamp::now()).await.unwrap();
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
fn sigterm_lets_in_flight_requests_finish_and_stops_the_worker() {
    let dir = TempDir::new("kl-bin");
    let url = db_url(&dir, &None);
    let seeded = seed_users(&open_store(&url), 6);
    let server = Server::start(kiteline(dir.path(), Some(&url)));
    let addr = server.addr;
    // Fetch each form first, so that only the POSTs are in flight at SIGTERM.
    let jars: Vec<Jar> = seeded
        .iter()
        .map(|(_, token)| {
            let mut j = Jar::default();
            j.get(addr, &format!("/password/{token}")).unwrap();
            j
        })
        .collect();
    let handles: Vec<_> = seeded
        .iter()
        .zip(jars)
        .map(|((_, token), mut jar)| {
            let token = token.clone();
            std::thread::spawn(move || {
                let form = format!("password={GOOD_PASSWORD}&confirm={GOOD_PASSWORD}");
                jar.post(addr, &format!("/password/{token}"), &form).map(|r| r.0)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(30));
    let logs = server.stop();
    let statuses: Vec<_> = handles.into_iter().map(|h| h.join().unwrap().ok()).collect();
    assert!(statuses.iter().all(|s| *s == Some(200)), "in-flight requests were cut: {statuses:?}");
    let i_shutdown = logs.find("shutting down").expect("shutdown logged");
    assert!(logs[i_shutdown..].contains("worker stopped"), "{logs}");
}

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
            &*db.store,
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
        let first =
            kiteline_web::mail::queue(&*db.store, &vault, "K", "a@example.org", "A", lang, &kind, Timestamp::now())
                .await
                .unwrap();
        assert_eq!(worker.run_until_idle().await.unwrap(), 1);
        assert_eq!(db.store.job_counts().await.unwrap(), [1, 0, 0, 0], "451 is retried later");
        assert!(db.store.queued_mail(&first).await.unwrap().is_some());
        // Make the retry due now rather than in ten seconds.
        let conn = rusqlite::Connection::open(&db.location).unwrap();
        conn.execute("UPDATE jobs SET run_at = 0", []).unwrap();
        assert_eq!(worker.run_until_idle().await.unwrap(), 1);
        assert_eq!(db.store.job_counts().await.unwrap(), [0, 0, 1, 0]);
        assert_eq!(db.store.queued_mail(&first).await.unwrap(), None, "sent; the sealed body is gone");

        let second =
            kiteline_web::mail::queue(&*db.store, &vault, "K", "b@example.org", "B", lang, &kind, Timestamp::now())
                .await
                .unwrap();
        assert_eq!(worker.run_until_idle().await.unwrap(), 1);
        assert_eq!(db.store.job_counts().await.unwrap(), [0, 0, 1, 1], "550 is final");
        assert_eq!(db.store.queued_mail(&second).await.unwrap(), None);
        assert_eq!(sink.wait_for(1, Duration::from_secs(5)).len(), 1, "only the accepted message counts");
        let _ = Engine::Sqlite;
    });
}

/// The current TOTP code for `secret` (base32), as an authenticator shows it.
fn totp_now(secret_b32: &str) -> String {
    let secret = kiteline_core::totp::base32_decode(secret_b32).unwrap();
    let step = kiteline_core::totp::step_at(Timestamp::now().as_second());
    format!("{:06}", kiteline_core::totp::hotp(&secret, step as u64, 6))
}

/// Enrols the signed-in jar's user in two-step login; returns the secret.
fn enrol(addr: SocketAddr, jar: &mut Jar) -> String {
    assert_eq!(jar.post(addr, "/account/2fa/setup", "").unwrap().0, 303);
    let (_, page) = jar.get(addr, "/account/2fa").unwrap();
    let secret = page.split("<code>").nth(1).unwrap().split("</code>").next().unwrap().to_owned();
    let (status, _) = jar.post(addr, "/account/2fa/confirm", &format!("code={}", totp_now(&secret))).unwrap();
    assert_eq!(status, 200);
    secret
}

#[test]
fn logs_of_logins_profile_changes_and_failures_hold_no_secrets() {
    let dir = TempDir::new("kl-bin");
    let mut c = kiteline(dir.path(), None);
    c.env("KITELINE_LOG", "debug");
    let server = Server::start(c);
    let addr = server.addr;
    let link =
        server.stdout().lines().find_map(|l| l.trim().strip_prefix("http://127.0.0.1:0").map(str::to_owned)).unwrap();
    let setup_token = link.trim_start_matches("/setup/").to_owned();
    let form = format!("name=Ana+Ruiz&email=ana%40example.org&password={GOOD_PASSWORD}&confirm={GOOD_PASSWORD}");
    assert_eq!(post_form(addr, &link, &form).unwrap().0, 200);

    // A failed login, then a real one with enrolment and a second step.
    let mut jar = Jar::default();
    assert_eq!(jar.post(addr, "/login", "email=ana%40example.org&password=not+the+password+at+all").unwrap().0, 401);
    assert_eq!(jar.post(addr, "/login", &format!("email=ana%40example.org&password={GOOD_PASSWORD}")).unwrap().0, 303);
    let secret = enrol(addr, &mut jar);
    let mut second = Jar::default();
    second.post(addr, "/login", &format!("email=ana%40example.org&password={GOOD_PASSWORD}")).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let wrong_code = "123456";
    assert_eq!(second.post(addr, "/login/2fa", &format!("code={wrong_code}")).unwrap().0, 401);
    // A profile change with a phone number.
    let phone = "5105550199";
    let profile = format!(
        "name=Ana+Ruiz&pronouns=she%2Fher&time_zone=America%2FLos_Angeles&locale=en&phone={phone}&notify_email=on"
    );
    let (status, page) = jar.post(addr, "/account", &profile).unwrap();
    assert_eq!(status, 200, "{page}");

    let session_ids: Vec<String> = [&jar, &second]
        .iter()
        .flat_map(|j| j.cookies.iter().filter(|(k, _)| k.contains("session")).map(|(_, v)| v.clone()))
        .collect();
    assert!(!session_ids.is_empty());
    let logs = server.stop();
    assert!(
        logs.contains("route=\"/login\"")
            && logs.contains("login refused")
            && logs.contains("DEBUG") | logs.contains("INFO"),
        "{logs}"
    );
    let mut secrets = vec![
        "correct".to_owned(),
        "not+the+password".to_owned(),
        "not the password".to_owned(),
        "ana@example.org".to_owned(),
        phone.to_owned(),
        "555-0199".to_owned(),
        secret.clone(),
        setup_token,
        wrong_code.to_owned(),
    ];
    secrets.extend(session_ids);
    secrets.extend(jar.cookies.iter().map(|(_, v)| v.clone()));
    for s in &secrets {
        assert!(!logs.contains(s.as_str()), "the logs contain {s:?}:\n{logs}");
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

#[test]
fn switching_rate_limits_off_is_logged_loudly_at_start() {
    let dir = TempDir::new("kl-bin");
    let mut c = kiteline(dir.path(), None);
    c.env("KITELINE_RATE_LIMITS", "off");
    let server = Server::start(c);
    let addr = server.addr;
    for _ in 0..12 {
        assert_eq!(post_form(addr, "/login", "email=a%40example.org&password=wrong+wrong+wrong").unwrap().0, 401);
    }
    let logs = server.stop();
    assert!(logs.contains("WARN") && logs.contains("RATE LIMITS ARE OFF"), "{logs}");
    let quiet = Server::start(kiteline(dir.path(), None));
    for _ in 0..9 {
        post_form(quiet.addr, "/login", "email=a%40example.org&password=wrong+wrong+wrong").unwrap();
    }
    assert_eq!(post_form(quiet.addr, "/login", "email=a%40example.org&password=wrong+wrong+wrong").unwrap().0, 429);
    assert!(!quiet.stop().contains("RATE LIMITS ARE OFF"));
}

#[test]
fn a_real_browser_sets_up_logs_in_with_two_steps_and_loads_nothing_foreign() {
    let dir = TempDir::new("kl-bin");
    let Some(driver) = browser::Driver::start(&dir.path().join("chromium-profile")) else { return };
    let server = Server::start(kiteline(dir.path(), None));
    let base = format!("http://{}", server.addr);
    let link =
        server.stdout().lines().find_map(|l| l.trim().strip_prefix("http://127.0.0.1:0").map(str::to_owned)).unwrap();

    driver.goto(&format!("{base}{link}"));
    driver.fill("#name", "Ana Ruiz");
    driver.fill("#email", "ana@example.org");
    driver.fill("#password", "correct horse battery staple");
    driver.fill("#confirm", "correct horse battery staple");
    driver.click("main form button[type=submit]");
    driver.wait_until("the admin to be created", |_, p| p.contains("Administrator created"));

    driver.goto(&format!("{base}/login"));
    driver.fill("#email", "ana@example.org");
    driver.fill("#password", "correct horse battery staple");
    driver.click("form[action='/login'] button");
    driver.wait_until("enrolment (admins enrol first)", |u, _| u.ends_with("/account/2fa"));
    driver.click("form[action='/account/2fa/setup'] button");
    driver.wait_until("the QR code", |_, p| p.contains("<svg"));
    let secret = driver.text(".qr + p code");
    driver.fill("#code", &totp_now(&secret));
    driver.click("form[action='/account/2fa/confirm'] button");
    driver.wait_until("the recovery codes", |_, p| p.contains("Your recovery codes"));

    driver.goto(&format!("{base}/account"));
    driver.fill("#phone", "510 555 0142");
    driver.click("form[action='/account'] button[type=submit]");
    driver.wait_until("the profile to be saved", |_, p| p.contains("Your changes are saved."));

    let session = driver.cookies().into_iter().find(|c| c["name"] == "kiteline_session").expect("a session cookie");
    assert_eq!((session["httpOnly"].as_bool(), session["sameSite"].as_str()), (Some(true), Some("Lax")));

    driver.click("button[value='es']");
    driver.wait_until("Spanish pages", |_, p| p.contains("<html lang=\"es\""));
    driver.click("form[action='/logout'] button");
    driver.wait_until("the home page after logout", |u, _| u == format!("{base}/"));
    assert!(driver.cookies().iter().all(|c| c["name"] != "kiteline_session"), "logged out");

    // Network requests only: the browser's own chrome:// pages are not traffic.
    let urls: Vec<String> = driver
        .requested_urls()
        .into_iter()
        .filter(|u| ["http:", "https:", "ws:", "wss:"].iter().any(|s| u.starts_with(s)))
        .collect();
    assert!(
        urls.len() >= 8 && urls.iter().any(|u| u.ends_with("/static/kiteline.css?v=0.1.0")),
        "the log saw our requests: {urls:?}"
    );
    let foreign: Vec<_> = urls.iter().filter(|u| !u.starts_with(&format!("{base}/"))).collect();
    assert!(foreign.is_empty(), "requests to other origins: {foreign:?}");
    drop(driver);
    server.stop();
}

#[test]
fn maintenance_applies_audit_retention_and_purges_expired_sessions() {
    tokio_rt().block_on(async {
        for db in kiteline_store::testing::each_engine().await {
            let mut keks = kiteline_core::crypto::KekRing::new();
            keks.insert(1, kiteline_core::crypto::SecretKey::from_bytes([5; 32]));
            let blind = kiteline_core::crypto::SecretKey::from_bytes([6; 32]);
            let vault = kiteline_store::vault::Vault::load(&*db.store, &keks, blind, Timestamp::now()).await.unwrap();
            let now = Timestamp::now();
            let day = SignedDuration::from_hours(24);
            for age_days in [200, 190, 170, 1] {
                let ev = kiteline_store::AuditEvent::new(None, "test.event", "thing", &format!("{age_days}d"));
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
            let login = kiteline_store::AuditEvent::new(Some(&u.id), "session.login", "user", u.id.as_str());
            db.store.create_session("old", &u.id, 60, now + day, None, login.clone(), now - day).await.unwrap();
            db.store.create_session("live", &u.id, 3600, now + day, None, login, now).await.unwrap();

            let sink =
                Arc::new(kiteline_integrations::mail::FileTransport::new(&std::env::temp_dir().join("kl-unused")));
            let mut worker =
                kiteline::worker::Worker::new(db.store.clone(), vault.clone(), sink, "K <k@example.org>".into());
            worker.audit_retention_days = 180;
            worker.maintenance(now).await.unwrap();

            let (anchor, entries) = db.store.audit_chain().await.unwrap();
            let kept: Vec<&str> =
                entries.iter().filter(|e| e.action == "test.event").map(|e| e.object_id.as_str()).collect();
            assert_eq!(kept, ["170d", "1d"], "{:?}", db.engine());
            assert_eq!(anchor.as_ref().map(|a| a.seq), Some(2));
            assert!(
                kiteline_core::audit::verify_chain(&vault.audit_key(), anchor.as_ref(), &entries).is_ok(),
                "what remains verifies"
            );
            assert!(
                db.store.session("old").await.unwrap().is_none() && db.store.session("live").await.unwrap().is_some()
            );
        }
    });
}

#[test]
fn a_sigterm_right_after_start_still_stops_cleanly() {
    let dir = TempDir::new("kl-bin");
    for _ in 0..5 {
        // `stop` asserts a successful exit: a signal before the handler is
        // registered would kill the process instead.
        let logs = Server::start(kiteline(dir.path(), None)).stop();
        assert!(logs.contains("stopped"), "{logs}");
    }
}
