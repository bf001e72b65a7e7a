//! Log hygiene: no secrets or personal data in what the server writes.

use super::*;

#[test]
fn logs_of_logins_profile_changes_and_failures_hold_no_secrets() {
    let dir = TempDir::new("kl-bin");
    let mut c = kiteline(dir.path(), None);
    c.env("KITELINE_LOG", "debug");
    let server = Server::start(c);
    let addr = server.addr;
    let link = link_in(&server.stdout()).strip_prefix(&format!("http://{}", server.addr)).unwrap().to_owned();
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
        "name=Ana+Ruiz&pronouns=she%2Fher&time_zone=America%2FLos_Angeles&locale=en&phone=%2B1{phone}&notify_email=on"
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
