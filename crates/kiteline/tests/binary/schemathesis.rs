//! schemathesis against the running binary: with an admin token it
//! generates requests from `/api/v1/openapi.json` and checks that nothing
//! answers 5xx and every answer conforms to the document (status, content
//! type, headers, body schema). `.ci/run` installs it in a venv; outside
//! CI the test is skipped when it is missing.

use super::*;

fn schemathesis() -> Option<PathBuf> {
    let path = std::env::var_os("KITELINE_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/kiteline-tools/venv/bin/schemathesis"));
    if path.exists() {
        return Some(path);
    }
    assert!(!in_ci(), "CI=true but schemathesis is missing at {}: .ci/run installs it", path.display());
    eprintln!("skipping schemathesis: not installed at {}", path.display());
    None
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

#[test]
fn schemathesis_finds_no_server_error_and_every_answer_conforms() {
    let Some(st) = schemathesis() else { return };
    let dir = TempDir::new("kl-bin");
    let server = Server::start(kiteline(dir.path(), None));
    let addr = server.addr;
    let link = link_in(&server.stdout()).strip_prefix(&format!("http://{addr}")).unwrap().to_owned();
    let form = format!("name=Ana+Ruiz&email=ana%40example.org&password={GOOD_PASSWORD}&confirm={GOOD_PASSWORD}");
    assert_eq!(post_form(addr, &link, &form).unwrap().0, 200);
    let mut jar = Jar::default();
    assert_eq!(jar.post(addr, "/login", &format!("email=ana%40example.org&password={GOOD_PASSWORD}")).unwrap().0, 303);
    enrol(addr, &mut jar);
    // Something to read: a module, a session of it, an application.
    let module = "title_en=Orientation&position=1&completion=session&required=on&renewal_window_days=30";
    assert_eq!(jar.post(addr, "/admin/training/modules", module).unwrap().0, 303);
    let apply = "name=Bo&email=bo%40example.org&phone=%2B15105550142&time_zone=America%2FChicago&heard_from=friend&why=To+help&agree_training=on&agree_shifts=on";
    assert_eq!(post_form(addr, "/apply", apply).unwrap().0, 200);
    let mut c = kiteline(dir.path(), None);
    c.args(["token", "create", "--email", "ana@example.org", "--name", "schemathesis", "--scope", "admin"]);
    let out = run(c);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = last_line(&out);
    let started = Instant::now();
    let out = Command::new(&st)
        .args(["run", &format!("http://{addr}/api/v1/openapi.json")])
        .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--max-examples", "40", "--workers", "1", "--phases", "examples,coverage,fuzzing"])
        .env("SCHEMATHESIS_HOOKS", "")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("schemathesis runs");
    let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "schemathesis found problems:\n{report}");
    eprintln!(
        "schemathesis: passed in {:.0} s; {}",
        started.elapsed().as_secs_f64(),
        report.lines().rev().find(|l| l.contains("passed") || l.contains("cases")).unwrap_or("")
    );
    server.stop();
}
