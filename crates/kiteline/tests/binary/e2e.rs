//! End to end in a real browser.

use super::*;

#[test]
fn a_real_browser_sets_up_logs_in_with_two_steps_and_loads_nothing_foreign() {
    let dir = TempDir::new("kl-bin");
    let Some(driver) = browser::Driver::start(&dir.path().join("chromium-profile")) else { return };
    let server = Server::start(kiteline(dir.path(), None));
    let base = format!("http://{}", server.addr);
    let link = link_in(&server.stdout()).strip_prefix(&format!("http://{}", server.addr)).unwrap().to_owned();

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
    driver.fill("#phone", "+1 510 555 0142");
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
