//! The `kiteline` binary, run as a real process against a real database
//! (SQLite file, PostgreSQL schema) and real sockets on 127.0.0.1. Helpers
//! live here; each area's tests in a module of their own.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use kiteline_store::testing::{TempDir, TestDb};
use kiteline_store::{EmailAddress, Engine, NewUser, Role, SharedStore, new_id};

mod browser;
mod commands;
mod durability;
mod e2e;
mod limits;
mod logs;
mod mail;
mod schemathesis;
mod smtp;
mod start;

const BIN: &str = env!("CARGO_BIN_EXE_kiteline");

/// A `kiteline` command with a clean environment: no inherited KITELINE_*.
fn kiteline(data: &Path, db_url: Option<&str>) -> Command {
    clean(Command::new(BIN), data, db_url)
}

/// `kiteline` with at most `files` open files (`ulimit -n`), through `sh`.
fn kiteline_with_file_limit(data: &Path, files: u32) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(format!("ulimit -n {files} && exec \"$0\" \"$@\"")).arg(BIN);
    clean(c, data, None)
}

fn clean(mut c: Command, data: &Path, db_url: Option<&str>) -> Command {
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
    /// The session cookie when `csrf` was read: the token is bound to it.
    csrf_session: Option<String>,
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
            self.csrf_session = self.session();
        }
    }

    fn get(&mut self, addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
        let (status, head, body) = request(addr, "GET", path, &self.header(), None)?;
        self.take(&head, &body);
        Ok((status, body))
    }

    /// Posts a form with this jar's CSRF token, fetching a page first if it
    /// has none, or none from the current session.
    fn session(&self) -> Option<String> {
        self.cookies.iter().find(|(k, _)| k.ends_with("kiteline_session")).map(|(_, v)| v.clone())
    }

    fn post(&mut self, addr: SocketAddr, path: &str, form: &str) -> std::io::Result<(u16, String)> {
        // Like a browser, post from a page of the current session.
        if self.csrf.is_empty() || self.csrf_session != self.session() {
            // A page every visitor gets without a redirect (the home page
            // sends a signed-in user to their next step).
            self.get(addr, "/password/reset")?;
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

/// The single-use link the server or CLI handed out: not printed (stdout is
/// not a terminal here) but written to a private file whose path is.
fn link_in(stdout: &str) -> String {
    let path = stdout
        .lines()
        .find_map(|l| l.split(" written to ").nth(1)?.split(" (readable").next())
        .unwrap_or_else(|| panic!("no link file named in: {stdout}"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the link file is private");
    std::fs::read_to_string(path).unwrap().trim().to_owned()
}

fn last_line(out: &Output) -> String {
    text(&out.stdout).lines().last().unwrap_or_default().to_owned()
}

/// Users with set-password links whose tokens the test knows.
fn seed_users(store: &SharedStore, n: usize) -> Vec<(kiteline_store::Id, String)> {
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
            let (token, _) = kiteline_web::tokens::generate();
            let link = kiteline_store::testing::password_link(&token, &user.id, now);
            store.create_link(link, None, None, now).await.unwrap();
            out.push((user.id, token));
        }
        out
    })
}

/// The store a server on `data` would open, with the keys of its key file
/// (created now if the server has not run yet), so rows written here carry
/// the MACs the server checks.
fn open_store(data: &Path, url: &str) -> SharedStore {
    let (keys, _) = kiteline::keyfile::load_or_create(&data.join("kiteline.key"), false).unwrap();
    let keys = kiteline_store::StoreKeys::from_blind(&keys.blind);
    tokio_rt().block_on(kiteline_store::open(url, 2, keys)).unwrap()
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
