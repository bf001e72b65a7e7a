//! Starting and stopping: a fresh start, configuration errors, signals.

use super::*;

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
        assert!(!out.contains("/setup/"), "the link is not printed where logs collect it: {out}");
        let link = link_in(&out);
        let here = format!("http://{}", server.addr);
        let link = link.strip_prefix(&here).expect("a link to this very server, port included");
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

/// A second `serve` on a folder already served is refused before it does
/// anything, and the running server's setup link still works.
#[test]
fn a_second_server_on_a_served_data_folder_is_refused_and_the_live_link_survives() {
    let dir = TempDir::new("kl-bin");
    let server = Server::start(kiteline(dir.path(), None));
    let link = link_in(&server.stdout());
    let out = run({
        let mut c = kiteline(dir.path(), None);
        c.arg("serve");
        c
    });
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("another Kiteline server is already serving this data folder"), "{err}");
    assert!(!text(&out.stdout).contains("written to"), "no new link was issued");
    assert_eq!(std::fs::read_dir(dir.path().join("links")).unwrap().count(), 1, "one link file");
    let path = link.strip_prefix(&format!("http://{}", server.addr)).unwrap();
    assert_eq!(http(server.addr, "GET", path, None).unwrap().0, 200, "the live link still works");
    server.stop();
}

/// A server that cannot listen issues no link (here: a fresh folder, but
/// the port is taken).
#[test]
fn a_server_that_cannot_listen_issues_no_link() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap();
    let dir = TempDir::new("kl-bin");
    let mut c = kiteline(dir.path(), None);
    c.env("KITELINE_LISTEN", taken.to_string()).arg("serve");
    let out = run(c);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot listen on"), "{}", text(&out.stderr));
    assert!(!dir.path().join("links").exists() || std::fs::read_dir(dir.path().join("links")).unwrap().count() == 0);
}

/// Links come from one place: a command run beside the server, without
/// KITELINE_PUBLIC_URL, prints links to where the server listens.
#[test]
fn the_cli_prints_links_to_the_running_server() {
    let dir = TempDir::new("kl-bin");
    let server = Server::start(kiteline(dir.path(), None));
    let mut c = kiteline(dir.path(), None);
    c.args(["user", "add", "--email", "vol@example.org", "--name", "Vol", "--role", "volunteer"]);
    let out = run(c);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let link = link_in(&text(&out.stdout));
    assert!(link.starts_with(&format!("http://{}/password/", server.addr)), "{link}");
    let path = link.strip_prefix(&format!("http://{}", server.addr)).unwrap();
    assert_eq!(http(server.addr, "GET", path, None).unwrap().0, 200);
    // A public URL set for the command wins.
    let mut c = kiteline(dir.path(), None);
    c.env("KITELINE_PUBLIC_URL", "https://line.example.org");
    c.args(["user", "add", "--email", "co@example.org", "--name", "Co", "--role", "coordinator"]);
    let out = run(c);
    assert!(link_in(&text(&out.stdout)).starts_with("https://line.example.org/password/"));
    server.stop();
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
fn sigterm_lets_in_flight_requests_finish_and_stops_the_worker() {
    let dir = TempDir::new("kl-bin");
    let url = db_url(&dir, &None);
    let seeded = seed_users(&open_store(dir.path(), &url), 6);
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
fn a_sigterm_right_after_start_still_stops_cleanly() {
    let dir = TempDir::new("kl-bin");
    for _ in 0..5 {
        // `stop` asserts a successful exit: a signal before the handler is
        // registered would kill the process instead.
        let logs = Server::start(kiteline(dir.path(), None)).stop();
        assert!(logs.contains("stopped"), "{logs}");
    }
}
