//! A real browser for the journeys: headless Chromium driven over WebDriver
//! by `fantoccini` (chromedriver started here, on 127.0.0.1). Every page a
//! journey visits is checked where it stands:
//!
//! * axe-core (WCAG 2.1 A and AA) runs in the page and must find nothing;
//! * the DOM is saved and, at the end, the Nu HTML checker (vnu) must find
//!   no error in any of them;
//! * the browser's console must stay free of errors, and no request may go
//!   to another origin;
//! * with `KITELINE_SCREENSHOTS=DIR`, a screenshot of the whole page is
//!   written there, named by journey, size, language and page.
//!
//! Without chromium and chromedriver (or axe-core, vnu and Java) the test
//! is skipped with a note, except under `CI=true`, where it fails: `.ci/run`
//! installs them all. `KITELINE_AXE` and `KITELINE_VNU` name the files
//! (npm's `axe-core/axe.min.js` and `vnu-jar/build/dist/vnu.jar`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Where the checkers are: the environment, or the cache `.ci/run` fills.
fn tool(var: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new("/var/cache/kiteline-tools/node_modules").join(default));
    path.exists().then_some(path)
}

/// What a journey needs installed; `None` (skip) when something is missing
/// outside CI.
pub struct Tools {
    pub axe: String,
    pub vnu: PathBuf,
}

impl Tools {
    pub fn find() -> Option<Tools> {
        let chromium = Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/chromedriver").exists();
        let axe = tool("KITELINE_AXE", "axe-core/axe.min.js");
        let vnu = tool("KITELINE_VNU", "vnu-jar/build/dist/vnu.jar");
        let java = Command::new("java").arg("-version").output().is_ok_and(|o| o.status.success());
        match (chromium, axe, vnu, java) {
            (true, Some(axe), Some(vnu), true) => {
                Some(Tools { axe: std::fs::read_to_string(axe).expect("axe-core reads"), vnu })
            }
            missing => {
                let what = format!(
                    "chromium+chromedriver: {}, axe-core: {}, vnu: {}, java: {}",
                    missing.0,
                    missing.1.is_some(),
                    missing.2.is_some(),
                    missing.3
                );
                assert!(!in_ci(), "CI=true but a browser-test tool is missing ({what}): .ci/run installs them");
                eprintln!("skipping the browser journeys ({what})");
                None
            }
        }
    }
}

/// A browser log (`browser` for the console, `performance` for network).
#[derive(Debug)]
struct GetLog(&'static str);

impl WebDriverCompatibleCommand for GetLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({ "type": self.0 }).to_string()))
    }
}

/// One page checked: its name and the problems found.
pub struct Checked {
    pub name: String,
    pub axe: Vec<String>,
}

pub struct Browser {
    pub client: Client,
    driver: Child,
    /// `journey-WIDTHxHEIGHT-lang`, prefixed to every page's name.
    pub label: String,
    /// Every viewport each page is checked at (the first is the one the
    /// journey drives at), by name.
    sizes: Vec<(&'static str, (u32, u32))>,
    /// What the window adds around the viewport.
    chrome: (i64, i64),
    pub origin: String,
    /// The saved DOM of each page, for vnu at the end.
    pub pages_dir: PathBuf,
    shots: Option<PathBuf>,
    axe: String,
    pub checked: Vec<Checked>,
    console_errors: Vec<String>,
    foreign: Vec<String>,
    requests: usize,
}

impl Browser {
    pub async fn start(tools: &Tools, work: &Path, label: &str, origin: &str, size: (u32, u32)) -> Browser {
        Browser::start_at(tools, work, label, origin, vec![("", size)]).await
    }

    /// A browser that checks every page at each of `sizes` (driving at the first).
    pub async fn start_at(
        tools: &Tools,
        work: &Path,
        label: &str,
        origin: &str,
        sizes: Vec<(&'static str, (u32, u32))>,
    ) -> Browser {
        let (width, height) = sizes[0].1;
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = work.join(format!("profile-{label}"));
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": "/usr/bin/chromium", "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
                format!("--window-size={width},{height}"),
                format!("--user-data-dir={}", profile.display()),
            ]}),
        );
        caps.insert("goog:loggingPrefs".into(), json!({"performance": "ALL", "browser": "ALL"}));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector).capabilities(caps.clone()).connect(&url).await {
                Ok(c) => break c,
                Err(e) => {
                    assert!(Instant::now() < deadline, "chromedriver did not start: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        // The viewport, not the window, is what the checks see: set it exactly.
        client.set_window_size(width, height).await.unwrap();
        let inner: Vec<u64> = serde_json::from_value(
            client.execute("return [window.innerWidth, window.innerHeight]", vec![]).await.unwrap(),
        )
        .unwrap();
        let (dw, dh) = (width as i64 - inner[0] as i64, height as i64 - inner[1] as i64);
        client.set_window_size((width as i64 + dw) as u32, (height as i64 + dh) as u32).await.unwrap();
        let pages_dir = work.join("pages");
        std::fs::create_dir_all(&pages_dir).unwrap();
        let shots = std::env::var_os("KITELINE_SCREENSHOTS").map(PathBuf::from);
        if let Some(d) = &shots {
            std::fs::create_dir_all(d).unwrap();
        }
        Browser {
            client,
            driver,
            label: label.to_owned(),
            sizes,
            chrome: (dw, dh),
            origin: origin.to_owned(),
            pages_dir,
            shots,
            axe: tools.axe.clone(),
            checked: Vec::new(),
            console_errors: Vec::new(),
            foreign: Vec::new(),
            requests: 0,
        }
    }

    pub async fn goto(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.origin)).await.unwrap();
    }

    pub async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    pub async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.client.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    pub async fn select(&self, css: &str, value: &str) {
        let e = self.client.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        e.select_by_value(value).await.unwrap_or_else(|e| panic!("{css} = {value}: {e}"));
    }

    pub async fn click(&self, css: &str) {
        let e = self.client.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        e.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    pub async fn text(&self, css: &str) -> String {
        self.client.find(Locator::Css(css)).await.unwrap().text().await.unwrap()
    }

    pub async fn is_displayed(&self, css: &str) -> bool {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e.is_displayed().await.unwrap_or(false),
            Err(_) => false,
        }
    }

    /// Waits (up to 15 s) until the page satisfies `ok(url, source)`.
    pub async fn wait_until(&self, what: &str, ok: impl Fn(&str, &str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (url, page) = (self.url().await, self.source().await);
            if ok(&url, &page) {
                return page;
            }
            assert!(Instant::now() < deadline, "{}: timed out waiting for {what}; at {url}: {page}", self.label);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Follows the navigation to a page whose source contains `needle`.
    pub async fn wait_for(&self, needle: &str) -> String {
        self.wait_until(needle, |_, p| p.contains(needle)).await
    }

    /// The signed-out or signed-in menu, whichever this size shows, opened.
    pub async fn open_menu(&self) {
        let css = if self.is_displayed("details.menu > summary").await {
            "details.menu > summary"
        } else {
            "details.account-menu > summary"
        };
        self.click(css).await;
    }

    pub async fn logout(&self) {
        self.open_menu().await;
        let form = if self.is_displayed("details.menu").await { "details.menu" } else { "details.account-menu" };
        self.click(&format!("{form} form[action='/logout'] button")).await;
        self.wait_until("the home page after logout", |u, p| u.ends_with('/') && p.contains("href=\"/login\"")).await;
    }

    async fn log(&self, kind: &'static str) -> Vec<Value> {
        self.client.issue_cmd(GetLog(kind)).await.unwrap().as_array().cloned().unwrap_or_default()
    }

    /// Checks the page the browser is on; `name` names it in reports and
    /// screenshots.
    pub async fn check(&mut self, name: &str) {
        // Let the page settle (fonts, the one script).
        self.client
            .wait()
            .for_element(Locator::Css("body"))
            .await
            .unwrap_or_else(|e| panic!("{}: no page for {name}: {e}", self.label));
        let full = format!("{}-{:02}-{name}", self.label, self.checked.len() + 1);
        let html: String = serde_json::from_value(
            self.client
                .execute("return '<!DOCTYPE html>\\n' + document.documentElement.outerHTML;", vec![])
                .await
                .unwrap(),
        )
        .unwrap();
        std::fs::write(self.pages_dir.join(format!("{full}.html")), html).unwrap();
        let mut found: Vec<String> = Vec::new();
        let sizes = self.sizes.clone();
        for (i, (size_name, (w, h))) in sizes.iter().enumerate() {
            if sizes.len() > 1 {
                self.resize(*w, *h).await;
            }
            let axe = format!(
                "{}\n;const done = arguments[arguments.length - 1];\
                 axe.run(document, {{runOnly: {{type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}}, \
                 resultTypes: ['violations']}})\
                 .then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + \
                 v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))))\
                 .catch(e => done(['axe failed: ' + e]));",
                self.axe
            );
            let at: Vec<String> =
                serde_json::from_value(self.client.execute_async(&axe, vec![]).await.unwrap()).unwrap();
            found.extend(at.into_iter().map(|v| if size_name.is_empty() { v } else { format!("[{size_name}] {v}") }));
            if let Some(dir) = &self.shots {
                let png = self.full_page_screenshot().await;
                let suffix = if size_name.is_empty() { String::new() } else { format!("-{size_name}") };
                std::fs::write(dir.join(format!("{full}{suffix}.png")), png).unwrap();
            }
            if sizes.len() > 1 && i == sizes.len() - 1 {
                let (w, h) = sizes[0].1;
                self.resize(w, h).await;
            }
        }
        let here = self.url().await;
        for entry in self.log("browser").await {
            // A page answered 404 or 422 on purpose is not a console error;
            // anything else the browser reports at SEVERE is.
            let own_status = entry["source"] == "network"
                && entry["message"].as_str().is_some_and(|m| m.starts_with(&format!("{here} ")));
            if entry["level"] == "SEVERE" && !own_status {
                self.console_errors.push(format!("{full}: {}", entry["message"]));
            }
        }
        for entry in self.log("performance").await {
            let Some(m) = entry["message"].as_str().and_then(|m| serde_json::from_str::<Value>(m).ok()) else {
                continue;
            };
            if m["message"]["method"] != "Network.requestWillBeSent" {
                continue;
            }
            let url = m["message"]["params"]["request"]["url"].as_str().unwrap_or_default();
            if ["http:", "https:", "ws:", "wss:"].iter().any(|s| url.starts_with(s)) {
                self.requests += 1;
                if !url.starts_with(&format!("{}/", self.origin)) {
                    self.foreign.push(format!("{full}: {url}"));
                }
            }
        }
        self.checked.push(Checked { name: full, axe: found });
    }

    /// Sets the viewport (not the window) to `width` × `height`.
    async fn resize(&self, width: u32, height: u32) {
        let (dw, dh) = self.chrome;
        self.client.set_window_size((width as i64 + dw) as u32, (height as i64 + dh) as u32).await.unwrap();
    }

    /// The whole page, not only the viewport: the window grows to the
    /// document's height for the shot, then returns.
    async fn full_page_screenshot(&self) -> Vec<u8> {
        let (w, h) = self.client.get_window_size().await.unwrap();
        let doc: u64 = serde_json::from_value(
            self.client.execute("return document.documentElement.scrollHeight", vec![]).await.unwrap(),
        )
        .unwrap();
        let chrome = h.saturating_sub(
            serde_json::from_value::<u64>(self.client.execute("return window.innerHeight", vec![]).await.unwrap())
                .unwrap(),
        );
        if doc + chrome > h {
            self.client.set_window_size(w as u32, (doc + chrome).min(8000) as u32).await.unwrap();
        }
        let png = self.client.screenshot().await.unwrap();
        self.client.set_window_size(w as u32, h as u32).await.unwrap();
        png
    }

    /// Fails on what the pages showed: axe violations, console errors,
    /// requests to other origins.
    pub fn assert_clean(&self) {
        let axe: Vec<String> =
            self.checked.iter().flat_map(|c| c.axe.iter().map(move |v| format!("{}: {v}", c.name))).collect();
        assert!(axe.is_empty(), "axe-core found WCAG 2.1 A/AA violations:\n{}", axe.join("\n"));
        assert!(self.console_errors.is_empty(), "console errors:\n{}", self.console_errors.join("\n"));
        assert!(self.requests >= self.checked.len(), "the network log saw our requests");
        assert!(self.foreign.is_empty(), "requests to other origins:\n{}", self.foreign.join("\n"));
    }

    pub async fn cookies(&self) -> Vec<fantoccini::cookies::Cookie<'static>> {
        self.client.get_all_cookies().await.unwrap()
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The Nu HTML checker over every saved page at once: no errors allowed.
pub fn vnu(tools: &Tools, dir: &Path) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty(), "no pages were saved");
    let out = Command::new("java")
        .arg("-Xss2m")
        .arg("-jar")
        .arg(&tools.vnu)
        .args(["--errors-only", "--format", "json"])
        .args(&files)
        .output()
        .expect("vnu runs");
    let report: Value = serde_json::from_slice(&out.stderr)
        .or_else(|_| serde_json::from_slice(&out.stdout))
        .unwrap_or_else(|e| panic!("vnu said something unexpected ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    let errors: Vec<String> = report["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["type"] == "error" || m["subType"] == "fatal")
        .map(|m| {
            let file = m["url"].as_str().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_owned();
            format!("{file}:{}: {}  [{}]", m["lastLine"], m["message"], m["extract"].as_str().unwrap_or_default())
        })
        .collect();
    assert!(errors.is_empty(), "the Nu HTML checker found errors in {} pages:\n{}", files.len(), errors.join("\n"));
    eprintln!("vnu: {} pages, no errors", files.len());
}
