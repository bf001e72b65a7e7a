//! The phone line program's public face: its page, and the application
//! form that replaces applying by e-mail. The form works without
//! JavaScript, answers field by field in the applicant's language keeping
//! every other answer, and sends what it stores — the applicant's
//! confirmation and the coordinators' notices — through the job queue in
//! the same transaction. Spam meets a honeypot field and a per-network
//! limit, never a third-party CAPTCHA.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use kiteline_core::volunteer::{self, DAYS, HEARD_FROM, MAX_WHY_CHARS, PARTS};
use kiteline_core::{EmailAddress, Role, account};
use kiteline_store::vault::Vault;
use kiteline_store::{Action, AuditEvent, Constraint, Id, NewApplication, ProgramUpdate, StoreError, new_id};
use kiteline_templates::mail::MailKind;
use kiteline_templates::pages::{
    ApplyForm, ApplyPage, DayRow, FieldError, Link, MessagePage, ProgramForm, ProgramPage,
};
use kiteline_templates::{Lang, Tr};

use crate::AppState;
use crate::error::AppError;
use crate::mail::Recipient;
use crate::routes::{html, parse_name};
use crate::security::{Admin, ClientNet, Page, Rule};

/// Valid applications per network: a community center signing people up
/// at an event stays under it; a script does not.
pub const APPLY_NET: Rule = Rule { name: "apply", limit: 10, window: 3600 };

fn paragraphs(text: &str) -> Vec<String> {
    text.replace("\r\n", "\n").split("\n\n").map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect()
}

pub async fn program(State(state): State<AppState>, Page(c): Page) -> Result<Response, AppError> {
    let tr = c.tr;
    let p = state.store.org_profile().await?;
    let own = if tr.lang() == Lang::Es { &p.program_es } else { &p.program_en };
    let other = if tr.lang() == Lang::Es { &p.program_en } else { &p.program_es };
    let text = match (own.trim().is_empty(), other.trim().is_empty()) {
        (false, _) => paragraphs(own),
        (true, false) => paragraphs(other),
        (true, true) => vec![tr.t("program-default")],
    };
    html(StatusCode::OK, ProgramPage { c, text, coordination_email: p.coordination_email, hours: None })
}

fn days(tr: Tr, chosen: &[String]) -> Vec<DayRow> {
    DAYS.iter()
        .map(|d| DayRow {
            day: d,
            label: tr.t(&format!("day-{d}")),
            parts: PARTS
                .iter()
                .map(|p| {
                    let value = format!("{d}-{p}");
                    let checked = chosen.contains(&value);
                    (value, tr.t(&format!("part-{p}")), checked)
                })
                .collect(),
        })
        .collect()
}

/// Everything the form shows, with what was typed.
struct Answers {
    form: ApplyForm,
    languages: Vec<String>,
    chapter: String,
    heard_from: String,
    availability: Vec<String>,
}

impl Default for Answers {
    fn default() -> Answers {
        Answers {
            form: ApplyForm { time_zone: "America/Los_Angeles".into(), ..ApplyForm::default() },
            languages: vec![],
            chapter: String::new(),
            heard_from: String::new(),
            availability: vec![],
        }
    }
}

async fn apply_page(
    state: &AppState,
    c: kiteline_templates::pages::Chrome,
    a: Answers,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let mut chapters = vec![(String::new(), tr.t("apply-chapter-at-large"), a.chapter.is_empty())];
    chapters.extend(state.store.chapters().await?.into_iter().map(|ch| {
        let selected = ch.id.as_str() == a.chapter;
        (ch.id.to_string(), ch.name, selected)
    }));
    let mut zones_other = crate::account::other_zones();
    if !a.form.time_zone.is_empty()
        && !crate::account::COMMON_ZONES.contains(&a.form.time_zone.as_str())
        && !zones_other.contains(&a.form.time_zone)
        && jiff::tz::TimeZone::get(&a.form.time_zone).is_ok()
    {
        zones_other.insert(0, a.form.time_zone.clone());
    }
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    html(
        status,
        ApplyPage {
            chapters,
            zones_common: crate::account::COMMON_ZONES.to_vec(),
            zones_other,
            languages: crate::account::LANGUAGES
                .iter()
                .map(|(code, label)| (*code, *label, a.languages.iter().any(|l| l == code)))
                .collect(),
            heard: HEARD_FROM
                .iter()
                .map(|h| (*h, tr.t(&format!("heard-{}", h.replace('_', "-"))), a.heard_from == *h))
                .collect(),
            days: days(tr, &a.availability),
            form: a.form,
            errors,
            c,
        },
    )
}

pub async fn apply_form(State(state): State<AppState>, Page(c): Page) -> Result<Response, AppError> {
    apply_page(&state, c, Answers::default(), vec![]).await
}

fn phone_context(id: &Id) -> kiteline_core::crypto::FieldContext<'_> {
    kiteline_core::crypto::FieldContext::new("applications", "phone", id.as_str())
}

fn why_context(id: &Id) -> kiteline_core::crypto::FieldContext<'_> {
    kiteline_core::crypto::FieldContext::new("applications", "why", id.as_str())
}

/// The answers sealed for the application row `id`.
fn sealed_for(vault: &Vault, id: &Id, mut a: NewApplication, phone: &str, why: &str) -> NewApplication {
    a.id = id.clone();
    a.phone = Some(vault.seal(phone_context(id), phone.as_bytes()));
    a.why = Some(vault.seal(why_context(id), why.as_bytes()));
    a
}

/// Opens an application's sealed phone and answer to "why".
pub(crate) fn open_answers(
    vault: &Vault,
    rec: &kiteline_store::ApplicationRecord,
) -> Result<(String, String), AppError> {
    let open = |ctx, s: &Option<kiteline_store::Sealed>| -> Result<String, AppError> {
        match s {
            None => Ok(String::new()),
            Some(s) => vault
                .open(ctx, s)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(|e| AppError::Internal(format!("application: {e}"))),
        }
    };
    let id = &rec.application.id;
    Ok((open(phone_context(id), &rec.phone)?, open(why_context(id), &rec.why)?))
}

/// The people told about a new application: coordinators whose scope holds
/// its chapter; if there are none, the admins.
async fn notified(state: &AppState, chapter: Option<&Id>) -> Result<Vec<kiteline_store::User>, AppError> {
    let people = state.store.list_users().await?;
    let live = |u: &&kiteline_store::User| u.disabled_at.is_none() && u.has_password && u.intact;
    let coordinators: Vec<_> = people
        .iter()
        .filter(live)
        .filter(|u| u.role == Role::Coordinator)
        .filter(|u| {
            account::manages(
                u.role,
                u.chapter_id.as_ref(),
                Role::Volunteer,
                chapter,
                state.config.chapter_coordinators_see_at_large,
            )
        })
        .cloned()
        .collect();
    if !coordinators.is_empty() {
        return Ok(coordinators);
    }
    Ok(people.iter().filter(live).filter(|u| u.role == Role::Admin).cloned().collect())
}

pub async fn apply_submit(
    State(state): State<AppState>,
    Page(c): Page,
    ClientNet(net): ClientNet,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_owned()).unwrap_or_default();
    let all = |k: &str| -> Vec<String> { fields.iter().filter(|(n, _)| n == k).map(|(_, v)| v.clone()).collect() };
    let thanks = || {
        html(StatusCode::OK, MessagePage::from_key(c.clone(), "applied").with_next(Link::new("/", tr.t("nav-home"))))
    };
    // A filled honeypot: a bot. It gets the same thanks, and nothing is kept.
    if !get("website").is_empty() {
        tracing::info!(target: "kiteline::security", "application refused: the honeypot field was filled");
        return thanks();
    }
    let mut errors = Vec::new();
    let name = parse_name(tr, &get("name"), &mut errors);
    let pronouns = get("pronouns");
    if pronouns.chars().count() > 40 || pronouns.chars().any(char::is_control) {
        errors.push(FieldError { field: "pronouns", message: tr.t("error-pronouns") });
    }
    let email_raw = get("email");
    let email = EmailAddress::parse(&email_raw);
    if email.is_none() {
        errors.push(FieldError { field: "email", message: tr.t("error-email-invalid") });
    }
    let phone_raw = get("phone");
    let phone = if phone_raw.is_empty() {
        errors.push(FieldError { field: "phone", message: tr.t("error-phone-required") });
        None
    } else {
        match account::normalize_phone(&phone_raw, state.config.default_calling_code.as_deref()) {
            Ok(p) => Some(p),
            Err(account::PhoneProblem::Malformed) => {
                errors.push(FieldError { field: "phone", message: tr.t("error-phone") });
                None
            }
            Err(account::PhoneProblem::NoCountryCode) => {
                errors.push(FieldError { field: "phone", message: tr.t("error-phone-country") });
                None
            }
        }
    };
    let time_zone = get("time_zone");
    if jiff::tz::TimeZone::get(&time_zone).is_err() || time_zone.is_empty() {
        errors.push(FieldError { field: "time_zone", message: tr.t("error-time-zone") });
    }
    let languages = all("languages");
    if languages.iter().any(|l| !crate::account::LANGUAGES.iter().any(|(code, _)| code == l)) {
        errors.push(FieldError { field: "languages", message: tr.t("error-languages") });
    }
    let chapter_raw = get("chapter");
    let chapter = if chapter_raw.is_empty() {
        None
    } else {
        let found = Id::parse(&chapter_raw);
        let known = match &found {
            Some(id) => state.store.chapters().await?.iter().any(|c| &c.id == id),
            None => false,
        };
        if !known {
            errors.push(FieldError { field: "chapter", message: tr.t("error-chapter") });
        }
        found.filter(|_| known)
    };
    let heard_from = get("heard_from");
    if !HEARD_FROM.contains(&heard_from.as_str()) {
        errors.push(FieldError { field: "heard_from", message: tr.t("error-heard") });
    }
    let why = get("why").replace("\r\n", "\n");
    if why.is_empty() {
        errors.push(FieldError { field: "why", message: tr.t("error-why-required") });
    } else if why.chars().count() > MAX_WHY_CHARS {
        errors.push(FieldError { field: "why", message: tr.t("error-why-too-long") });
    }
    let availability_raw = all("availability");
    let slots: Vec<&str> = availability_raw.iter().map(String::as_str).collect();
    let availability = volunteer::availability(&slots).unwrap_or_else(|_| {
        errors.push(FieldError { field: "availability", message: tr.t("error-availability") });
        String::new()
    });
    let agree_training = get("agree_training") == "on";
    let agree_shifts = get("agree_shifts") == "on";
    if !agree_training {
        errors.push(FieldError { field: "agree_training", message: tr.t("error-agree-training") });
    }
    if !agree_shifts {
        errors.push(FieldError { field: "agree_shifts", message: tr.t("error-agree-shifts") });
    }
    let answers = Answers {
        form: ApplyForm {
            name: name.clone(),
            pronouns: pronouns.clone(),
            email: email_raw,
            phone: phone.clone().unwrap_or(phone_raw),
            time_zone: time_zone.clone(),
            why: why.clone(),
            agree_training,
            agree_shifts,
        },
        languages: languages.clone(),
        chapter: chapter_raw,
        heard_from: heard_from.clone(),
        availability: availability_raw.clone(),
    };
    let (Some(email), Some(phone)) = (email.filter(|_| errors.is_empty()), phone) else {
        return apply_page(&state, c, answers, errors).await;
    };
    crate::routes::limit(&state, APPLY_NET, &net)?;
    let now = Timestamp::now();
    let lang = tr.lang();
    let site = state.site.current().name.clone();
    let to = Recipient { address: email.as_str(), name: &name, lang };
    let mut mails = vec![crate::mail::prepare(&state.vault, &site, to, &MailKind::ApplicationReceived, now)?];
    let base = NewApplication {
        id: new_id(now),
        email: email.clone(),
        name: name.clone(),
        pronouns,
        phone: None,
        time_zone,
        languages: languages.join(","),
        chapter_id: chapter.clone(),
        heard_from,
        why: None,
        availability,
        locale: lang.code().into(),
    };
    // The id of an earlier application from this address, if any: the
    // answers are sealed for the row they go into.
    let mut id = state.store.application_id_by_email(&email).await?.unwrap_or_else(|| new_id(now));
    let link = format!("{}/admin/applications/{id}", state.config.public_url);
    for u in notified(&state, chapter.as_ref()).await? {
        let to = Recipient { address: &u.email, name: &u.name, lang: Lang::from_tag(&u.locale).unwrap_or(Lang::En) };
        mails.push(crate::mail::prepare(
            &state.vault,
            &site,
            to,
            &MailKind::ApplicationNotice { link: link.clone() },
            now,
        )?);
    }
    for attempt in 0..2 {
        let app = sealed_for(&state.vault, &id, base.clone(), &phone, &why);
        match state.store.submit_application(app, mails.clone(), now).await {
            Ok(_) => break,
            // Another submission from the same address got in first: seal
            // for that row and merge.
            Err(StoreError::Conflict(Constraint::ApplicationEmail)) if attempt == 0 => {
                id = state
                    .store
                    .application_id_by_email(&email)
                    .await?
                    .ok_or(AppError::Internal("application vanished".into()))?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    tracing::info!(application = %id, "application received");
    thanks()
}

pub async fn program_settings(
    State(state): State<AppState>,
    Admin(me): Admin,
    Page(c): Page,
    Form(f): Form<ProgramFormInput>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let mut errors = Vec::new();
    let clean = |raw: &str| raw.replace("\r\n", "\n").trim().to_owned();
    let form = ProgramForm {
        program_en: clean(&f.program_en),
        program_es: clean(&f.program_es),
        coordination_email: f.coordination_email.trim().to_owned(),
        decline_en: clean(&f.decline_en),
        decline_es: clean(&f.decline_es),
    };
    for (field, text, max) in [
        ("program_en", &form.program_en, 4000),
        ("program_es", &form.program_es, 4000),
        ("decline_en", &form.decline_en, 2000),
        ("decline_es", &form.decline_es, 2000),
    ] {
        if text.chars().count() > max || text.chars().any(|c| c.is_control() && c != '\n') {
            errors.push(FieldError { field, message: tr.t("error-program") });
        }
    }
    if !form.coordination_email.is_empty() && EmailAddress::parse(&form.coordination_email).is_none() {
        errors.push(FieldError { field: "coordination_email", message: tr.t("error-contact-email") });
    }
    if !errors.is_empty() {
        return crate::settings::page_with_program(&state, c, form, errors).await;
    }
    let update = ProgramUpdate {
        program_en: form.program_en,
        program_es: form.program_es,
        coordination_email: form.coordination_email,
        decline_en: form.decline_en,
        decline_es: form.decline_es,
    };
    let event = AuditEvent::new(Some(&me.user.id), Action::ProgramUpdate, "program");
    state.store.update_program(update, event, Timestamp::now()).await?;
    Ok(Redirect::to("/admin/settings?done=program#program").into_response())
}

#[derive(serde::Deserialize)]
pub struct ProgramFormInput {
    #[serde(default)]
    program_en: String,
    #[serde(default)]
    program_es: String,
    #[serde(default)]
    coordination_email: String,
    #[serde(default)]
    decline_en: String,
    #[serde(default)]
    decline_es: String,
}
