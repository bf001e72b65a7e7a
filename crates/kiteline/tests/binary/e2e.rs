//! The accounts journey in a real browser, at a desktop and a phone size,
//! in English and in Spanish: the first administrator, two-step login, the
//! organization's profile, a chapter, an invitation (and its confirmation
//! step), the audit log and its search, the account pages, an API token,
//! the components, an error page, and the invitee choosing a password and
//! signing in. Every page is checked (see `browser`).

use super::browser::{Browser, Tools, vnu};
use super::*;

const PASSWORD: &str = "correct horse battery staple";
const SIZES: [(&str, (u32, u32)); 2] = [("desktop", (1280, 900)), ("phone", (390, 844))];

/// The invitation link in the one message the worker wrote to the folder.
fn invitation_link(mail_dir: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let files: Vec<PathBuf> =
            std::fs::read_dir(mail_dir).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
        for f in files {
            // Quoted-printable soft breaks may cut the link.
            let text = std::fs::read_to_string(&f).unwrap().replace("=\r\n", "").replace("=\n", "");
            if let Some(i) = text.find("/password/") {
                let token: String = text[i + 10..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
                return format!("/password/{token}");
            }
        }
        assert!(Instant::now() < deadline, "the invitation was not written to {}", mail_dir.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn journey(tools: &Tools, work: &Path, lang: &str, size: (&str, (u32, u32))) -> Browser {
    let dir = work.join(format!("data-{lang}-{}", size.0));
    std::fs::create_dir_all(&dir).unwrap();
    let server = Server::start(kiteline(&dir, None));
    let origin = format!("http://{}", server.addr);
    let setup = link_in(&server.stdout()).strip_prefix(&origin).unwrap().to_owned();
    let es = lang == "es";
    let t = |en: &'static str, es_text: &'static str| if es { es_text } else { en };
    let mut b = Browser::start(tools, work, &format!("accounts-{}-{lang}", size.0), &origin, size.1).await;

    // The public face, in the journey's language.
    b.goto("/").await;
    if es {
        b.click("form.lang button[value='es']").await;
        b.wait_for("<html lang=\"es\"").await;
    }
    b.check("home").await;

    // The first administrator: a mistake first, then the real thing.
    b.goto(&setup).await;
    b.check("setup").await;
    b.click("main form button[type=submit]").await;
    b.wait_for("error-summary").await;
    b.check("setup-errors").await;
    b.fill("#name", "Ana Ruiz").await;
    b.fill("#email", "ana@example.org").await;
    b.fill("#password", PASSWORD).await;
    b.fill("#confirm", PASSWORD).await;
    b.click("main form button[type=submit]").await;
    b.wait_for("class=\"button\" href=\"/login\"").await;
    b.check("setup-done").await;
    b.click("main a.button").await;

    // Sign in: blank first, then two-step enrolment.
    b.wait_for("id=\"password\"").await;
    b.check("login").await;
    b.click("main form button[type=submit]").await;
    b.wait_for("error-summary").await;
    b.check("login-errors").await;
    b.fill("#email", "ana@example.org").await;
    b.fill("#password", PASSWORD).await;
    b.click("main form button[type=submit]").await;
    b.wait_until("enrolment", |u, _| u.ends_with("/account/2fa")).await;
    b.check("enrol").await;
    b.click("form[action='/account/2fa/setup'] button").await;
    b.wait_for("<svg").await;
    b.check("enrol-qr").await;
    let secret = b.text(".qr + p code").await;
    b.fill("#code", &totp_now(&secret)).await;
    b.click("form[action='/account/2fa/confirm'] button").await;
    b.wait_for("ul class=\"codes\"").await;
    b.check("recovery-codes").await;
    b.click("main a.button").await;
    b.wait_for("id=\"next-steps\"").await;
    b.check("dashboard-admin").await;

    // The organization, a chapter.
    b.goto("/admin/settings").await;
    b.check("settings").await;
    b.fill("#org_name", "Bay Area Solidarity Line").await;
    b.fill("#description_en", "We answer calls from people inside and mail them resources.").await;
    b.fill("#description_es", "Contestamos llamadas de personas presas y les enviamos recursos.").await;
    b.fill("#contact_email", "line@example.org").await;
    b.fill("#postal_address", "PO Box 1234\nOakland, CA 94612").await;
    b.click("form[action='/admin/settings'] button[type=submit]").await;
    b.wait_for("banner-success").await;
    b.check("settings-saved").await;
    b.goto("/admin/chapters").await;
    b.check("chapters-empty").await;
    b.fill("#chapter-name", "East Bay").await;
    b.click("form[action='/admin/chapters'] button").await;
    b.wait_for(">East Bay</th>").await;
    b.check("chapters").await;

    // Invite a volunteer, in the journey's language.
    b.goto("/admin/users").await;
    b.check("people").await;
    b.fill("#name", "Marisol Reyes").await;
    b.fill("#email", "marisol@example.org").await;
    b.select("#lang", lang).await;
    b.click("form[action='/admin/users/invite'] button").await;
    b.wait_for(t("Invitation written to the mail folder, not sent", "Invitación guardada en la carpeta de correo"))
        .await;
    b.check("person-invited").await;
    b.click("a.danger-link[href$='/disable']").await;
    b.wait_for("button type=\"submit\" class=\"danger\"").await;
    b.check("confirm-disable").await;
    b.click("form .button-row a").await;
    b.wait_for("id=\"details\"").await;
    b.goto("/admin/users").await;
    b.wait_for("Marisol Reyes").await;
    b.check("people-invited").await;

    // The audit log, and a search by address.
    b.goto("/admin/audit").await;
    b.check("audit").await;
    b.fill("#person", "marisol@example.org").await;
    b.click("form.filters button[type=submit]").await;
    b.wait_until("the search", |u, _| u.contains("people=")).await;
    b.check("audit-search").await;

    // The account pages and a token shown once.
    b.goto("/account").await;
    b.check("account").await;
    b.goto("/account/tokens").await;
    b.fill("#label", "phone").await;
    b.select("#scope", "read").await;
    b.click("form[action='/account/tokens'] button[type=submit]").await;
    b.wait_for("code class=\"secret\"").await;
    b.check("token-created").await;
    b.goto("/admin/components").await;
    b.check("components").await;
    b.goto("/no/such/page").await;
    b.check("not-found").await;

    let session = b.cookies().await.into_iter().find(|c| c.name() == "kiteline_session").expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(session.same_site().map(|s| format!("{s:?}")).as_deref(), Some("Lax"));
    b.logout().await;
    assert!(b.cookies().await.iter().all(|c| c.name() != "kiteline_session"), "logged out");

    // The invitee: their link, their password, their dashboard.
    let link = invitation_link(&dir.join("mail"));
    b.goto(&link).await;
    b.wait_for(&format!("<html lang=\"{lang}\"")).await;
    b.check("set-password").await;
    b.fill("#password", "paper lanterns over the river").await;
    b.fill("#confirm", "paper lanterns over the river").await;
    b.click("main form button[type=submit]").await;
    b.wait_for("class=\"button\" href=\"/login\"").await;
    b.check("password-saved").await;
    b.click("main a.button").await;
    b.wait_for("id=\"password\"").await;
    b.fill("#email", "marisol@example.org").await;
    b.fill("#password", "paper lanterns over the river").await;
    b.click("main form button[type=submit]").await;
    b.wait_for("id=\"next-steps\"").await;
    b.check("dashboard-volunteer").await;
    b.logout().await;
    server.stop();
    b
}

#[test]
fn the_accounts_journey_passes_every_check_at_both_sizes_in_both_languages() {
    let Some(tools) = Tools::find() else { return };
    let work = TempDir::new("kl-journey");
    let rt = tokio_rt();
    let mut pages = 0;
    for lang in ["en", "es"] {
        for size in SIZES {
            let b = rt.block_on(journey(&tools, work.path(), lang, size));
            b.assert_clean();
            pages += b.checked.len();
            rt.block_on(b.close());
        }
    }
    vnu(&tools, &work.path().join("pages"));
    eprintln!("{pages} pages checked by axe-core and vnu, at 1280×900 and 390×844, in English and Spanish");
}

/// The first administrator, made over plain HTTP (the accounts journey
/// drives that page in the browser).
fn first_admin(server: &Server) {
    let link = link_in(&server.stdout()).strip_prefix(&format!("http://{}", server.addr)).unwrap().to_owned();
    let form = format!("name=Ana+Ruiz&email=ana%40example.org&password={GOOD_PASSWORD}&confirm={GOOD_PASSWORD}");
    assert_eq!(post_form(server.addr, &link, &form).unwrap().0, 200);
}

/// Signs in as the admin; enrols two-step login the first time, otherwise
/// waits for a code the authenticator has not shown before.
async fn admin_login(b: &mut Browser, secret: &mut Option<String>, last_step: &mut i64) {
    b.goto("/login").await;
    b.wait_for("id=\"password\"").await;
    b.fill("#email", "ana@example.org").await;
    b.fill("#password", PASSWORD).await;
    b.click("main form button[type=submit]").await;
    match secret {
        None => {
            b.wait_until("enrolment", |u, _| u.ends_with("/account/2fa")).await;
            b.click("form[action='/account/2fa/setup'] button").await;
            b.wait_for("<svg").await;
            let s = b.text(".qr + p code").await;
            *last_step = kiteline_core::totp::step_at(Timestamp::now().as_second());
            b.fill("#code", &totp_now(&s)).await;
            b.click("form[action='/account/2fa/confirm'] button").await;
            b.wait_for("ul class=\"codes\"").await;
            b.click("main a.button").await;
            *secret = Some(s);
        }
        Some(s) => {
            b.wait_until("the second step", |u, _| u.ends_with("/login/2fa")).await;
            while kiteline_core::totp::step_at(Timestamp::now().as_second()) <= *last_step {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            *last_step = kiteline_core::totp::step_at(Timestamp::now().as_second());
            b.fill("#code", &totp_now(s)).await;
            b.click("main form button[type=submit]").await;
        }
    }
    b.wait_for("id=\"next-steps\"").await;
}

async fn program_journey(tools: &Tools, work: &Path, lang: &str, sizes: Vec<(&'static str, (u32, u32))>) -> Browser {
    let dir = work.join(format!("program-{lang}"));
    std::fs::create_dir_all(&dir).unwrap();
    let server = Server::start(kiteline(&dir, None));
    let origin = format!("http://{}", server.addr);
    first_admin(&server);
    let es = lang == "es";
    let t = |en: &'static str, es_text: &'static str| if es { es_text } else { en };
    let mut b = Browser::start_at(tools, work, &format!("program-{lang}"), &origin, sizes).await;

    // Someone applies.
    b.goto("/").await;
    if es {
        b.click("form.lang button[value='es']").await;
        b.wait_for("<html lang=\"es\"").await;
    }
    b.click("main a[href='/line']").await;
    b.wait_for("href=\"/apply\"").await;
    b.check("program").await;
    b.click("main a.button[href='/apply']").await;
    b.wait_for("id=\"availability\"").await;
    b.check("apply").await;
    b.click("main form button[type=submit]").await;
    b.wait_for("error-summary").await;
    b.check("apply-errors").await;
    b.fill("#name", "Marisol Reyes").await;
    b.fill("#email", "marisol@example.org").await;
    b.fill("#phone", "+1 510 555 0142").await;
    b.select("#time_zone", "America/Chicago").await;
    b.click("input[name='languages'][value='es']").await;
    b.select("#heard_from", "friend").await;
    b.fill("#why", "Mi primo está adentro y quiero ayudar.").await;
    b.click("input[name='availability'][value='sat-afternoon']").await;
    b.click("#agree_training").await;
    b.click("#agree_shifts").await;
    b.click("main form button[type=submit]").await;
    b.wait_for(t("Thank you for applying", "Gracias por postularte")).await;
    b.check("applied").await;

    // A coordinator accepts, and schedules a session of the first module.
    let (mut secret, mut last_step) = (None, 0);
    admin_login(&mut b, &mut secret, &mut last_step).await;
    if es {
        // Signed in, the switch sets the coordinator's own language.
        b.click("form.lang button[value='es']").await;
        b.wait_for("<html lang=\"es\"").await;
    }
    b.goto("/admin/applications").await;
    b.wait_for("Marisol Reyes").await;
    b.check("applications").await;
    b.click("table a[href^='/admin/applications/']").await;
    b.wait_for("id=\"decide\"").await;
    b.check("application").await;
    b.click("input[name='decision'][value='accepted']").await;
    b.fill("#note", "Strong answers; Spanish speaker.").await;
    b.click("form[action$='/decide'] button").await;
    b.wait_for("banner-warning").await;
    b.check("application-accepted").await;
    b.goto("/admin/training").await;
    b.check("training-admin").await;
    b.fill("#title_en", "Orientation").await;
    b.fill("#title_es", "Orientación").await;
    b.fill("#description_en", "How the line works, and how we keep people safe.").await;
    b.fill("#description_es", "Cómo funciona la línea y cómo cuidamos a las personas.").await;
    b.click("form[action='/admin/training/modules'] button[type=submit]").await;
    b.wait_for("banner-success").await;
    // Starting in about five minutes, in the coordinator's zone: sign-ups
    // stay open until it starts, and the roll can be taken from 15 minutes before.
    let zone = jiff::tz::TimeZone::get("America/Los_Angeles").unwrap();
    let mut start = (Timestamp::now() + SignedDuration::from_secs(300)).to_zoned(zone.clone());
    start = start.checked_add(SignedDuration::from_secs(60 - start.second() as i64)).unwrap();
    if start.hour() == 23 && start.minute() >= 55 {
        start = start.checked_add(SignedDuration::from_mins(10)).unwrap();
    }
    let end = std::cmp::min(
        start.checked_add(SignedDuration::from_hours(1)).unwrap().time(),
        jiff::civil::time(23, 59, 0, 0),
    );
    b.fill("#date", &start.date().to_string()).await;
    b.fill("#start", &start.strftime("%H:%M").to_string()).await;
    b.fill("#end", &end.strftime("%H:%M").to_string()).await;
    b.select("#time_zone", "America/Los_Angeles").await;
    b.fill("#capacity", "6").await;
    b.fill("#video_link", "https://meet.example/orientation").await;
    b.click("form[action='/admin/training/sessions'] button[type=submit]").await;
    b.wait_for("/training/sessions/").await;
    b.check("training-scheduled").await;
    b.goto("/admin/volunteers").await;
    b.check("volunteers").await;
    b.logout().await;

    // The invitee chooses a password, signs in, signs up for the session.
    let link = invitation_link(&dir.join("mail"));
    b.goto(&link).await;
    b.wait_for(&format!("<html lang=\"{lang}\"")).await;
    b.check("set-password").await;
    b.fill("#password", "paper lanterns over the river").await;
    b.fill("#confirm", "paper lanterns over the river").await;
    b.click("main form button[type=submit]").await;
    b.wait_for("class=\"button\" href=\"/login\"").await;
    b.click("main a.button").await;
    b.wait_for("id=\"password\"").await;
    b.fill("#email", "marisol@example.org").await;
    b.fill("#password", "paper lanterns over the river").await;
    b.click("main form button[type=submit]").await;
    b.wait_for("id=\"training-card\"").await;
    b.check("dashboard-volunteer").await;
    b.click("section[aria-labelledby='training-card'] a.button").await;
    b.wait_for("id=\"break\"").await;
    b.check("training").await;
    b.click("table a[href^='/training/sessions/']").await;
    b.wait_for("/signup").await;
    b.check("session").await;
    b.click("form[action$='/signup'] button").await;
    b.wait_for("https://meet.example/orientation").await;
    b.check("signed-up").await;
    let session_url = b.url().await;
    b.logout().await;

    // As the session begins, the coordinator marks her present.
    admin_login(&mut b, &mut secret, &mut last_step).await;
    b.goto(session_url.strip_prefix(&origin).unwrap().split('?').next().unwrap()).await;
    b.wait_for("/attendance").await;
    b.check("roster").await;
    b.click("input[name^='att-'][value='present']").await;
    b.click("form[action$='/attendance'] button").await;
    b.wait_for("banner-success").await;
    b.check("attendance-marked").await;
    b.logout().await;

    // And she is cleared.
    b.goto("/login").await;
    b.fill("#email", "marisol@example.org").await;
    b.fill("#password", "paper lanterns over the river").await;
    b.click("main form button[type=submit]").await;
    b.wait_for("id=\"training-card\"").await;
    b.goto("/training").await;
    b.wait_for(t("Cleared for phone shifts", "Habilitada/o para los turnos de la línea")).await;
    b.check("cleared").await;
    b.logout().await;
    server.stop();
    b
}

#[test]
fn the_program_journey_from_application_to_clearance_passes_every_check() {
    let Some(tools) = Tools::find() else { return };
    let work = TempDir::new("kl-journey");
    let rt = tokio_rt();
    let both = |first: usize| {
        let mut s = SIZES.to_vec();
        s.rotate_left(first);
        s
    };
    let mut pages = 0;
    // English driven at desktop size, Spanish at phone size; every page is
    // checked at both.
    for (lang, sizes) in [("en", both(0)), ("es", both(1))] {
        let b = rt.block_on(program_journey(&tools, work.path(), lang, sizes));
        b.assert_clean();
        pages += b.checked.len();
        rt.block_on(b.close());
    }
    vnu(&tools, &work.path().join("pages"));
    eprintln!(
        "{pages} pages of the program journey checked by axe-core at both sizes and by vnu, in English and Spanish"
    );
}
