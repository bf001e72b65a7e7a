//! End-to-end in a real browser: headless Chromium driven over WebDriver
//! (chromedriver, started here on 127.0.0.1). A small WebDriver client —
//! JSON over HTTP — is all it needs.
//!
//! Without chromium and chromedriver installed the test is skipped with a
//! note, except under `CI=true`, where it fails (`.ci/run` installs both).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Driver {
    child: Child,
    addr: SocketAddr,
    session: String,
}

fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Value {
    let mut s = TcpStream::connect(addr).expect("chromedriver answers");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // Read the head, then exactly Content-Length bytes (or chunks to the end).
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        let n = s.read(&mut buf).expect("chromedriver replies");
        assert!(n > 0, "chromedriver closed the connection");
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let length =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok());
    match length {
        Some(len) => {
            while raw.len() < head_end + len {
                let n = s.read(&mut buf).expect("chromedriver replies");
                assert!(n > 0, "short reply");
                raw.extend_from_slice(&buf[..n]);
            }
        }
        None => {
            while !raw.ends_with(b"0\r\n\r\n") {
                let n = s.read(&mut buf).expect("chromedriver replies");
                if n == 0 {
                    break;
                }
                raw.extend_from_slice(&buf[..n]);
            }
        }
    }
    let rest = String::from_utf8_lossy(&raw[head_end..]).into_owned();
    let json_text = if length.is_none() && head.contains("transfer-encoding: chunked") { dechunk(&rest) } else { rest };
    serde_json::from_str(&json_text).unwrap_or_else(|e| panic!("bad WebDriver reply ({e}): {json_text}"))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

impl Driver {
    /// Starts chromedriver and a headless Chromium session, or `None` to skip.
    pub fn start(profile: &std::path::Path) -> Option<Driver> {
        let (chromium, chromedriver) = ("/usr/bin/chromium", "/usr/bin/chromedriver");
        if !std::path::Path::new(chromium).exists() || !std::path::Path::new(chromedriver).exists() {
            assert!(!in_ci(), "CI=true but {chromium} or {chromedriver} is missing: .ci/run installs them");
            eprintln!("skipping the browser test: install chromium and chromium-driver");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=390,900",
                format!("--user-data-dir={}", profile.display()),
            ]},
            "goog:loggingPrefs": {"performance": "ALL"},
        }}});
        let reply = call(addr, "POST", "/session", Some(&caps));
        let session = reply["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {reply}")).to_owned();
        let driver = Driver { child, addr, session };
        // Element look-ups wait for the page instead of failing mid-navigation.
        driver.cmd("POST", "/timeouts", Some(json!({"implicit": 10_000, "pageLoad": 30_000})));
        Some(driver)
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let reply = call(self.addr, method, &format!("/session/{}{path}", self.session), body.as_ref());
        if let Some(err) = reply["value"].get("error") {
            panic!("WebDriver {method} {path}: {err} {}", reply["value"]["message"]);
        }
        reply["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None).as_str().unwrap_or_default().to_owned()
    }

    pub fn source(&self) -> String {
        self.cmd("GET", "/source", None).as_str().unwrap_or_default().to_owned()
    }

    fn find(&self, css: &str) -> String {
        let v = self.cmd("POST", "/element", Some(json!({"using": "css selector", "value": css})));
        v[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}")).to_owned()
    }

    pub fn fill(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.cmd("POST", &format!("/element/{id}/clear"), Some(json!({})));
        self.cmd("POST", &format!("/element/{id}/value"), Some(json!({ "text": text })));
    }

    pub fn click(&self, css: &str) {
        let id = self.find(css);
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    pub fn text(&self, css: &str) -> String {
        let id = self.find(css);
        self.cmd("GET", &format!("/element/{id}/text"), None).as_str().unwrap_or_default().to_owned()
    }

    /// Waits (up to 15 s) until the page satisfies `ok`; returns its source.
    pub fn wait_until(&self, what: &str, ok: impl Fn(&str, &str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (url, page) = (self.url(), self.source());
            if ok(&url, &page) {
                return page;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; at {url}: {page}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn cookies(&self) -> Vec<Value> {
        self.cmd("GET", "/cookie", None).as_array().cloned().unwrap_or_default()
    }

    /// Every URL the browser requested since the session began.
    pub fn requested_urls(&self) -> Vec<String> {
        let entries = self.cmd("POST", "/se/log", Some(json!({"type": "performance"})));
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| serde_json::from_str::<Value>(e["message"].as_str()?).ok())
            .filter(|m| m["message"]["method"] == "Network.requestWillBeSent")
            .filter_map(|m| m["message"]["params"]["request"]["url"].as_str().map(str::to_owned))
            .collect()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = call(self.addr, "DELETE", &format!("/session/{}", self.session), None);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
