//! The review queue: applications in order of arrival, filtered by status
//! and chapter, each accepted, waitlisted or declined with an internal
//! note. A chapter's coordinator sees and decides only their chapter's
//! applicants and at-large ones; admins and national coordinators see all.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::{SignedDuration, Timestamp};
use kiteline_core::Role;
use kiteline_core::crypto::FieldContext;
use kiteline_core::volunteer::ApplicationStatus;
use kiteline_store::{
    Acceptance, Action, Application, AuditEvent, Constraint, Decide, EmailAddress, Id, Invitation, NewUser, StoreError,
    new_id,
};
use kiteline_templates::mail::MailKind;
use kiteline_templates::pages::{
    ApplicationPage, ApplicationRow, ApplicationsPage, Banner, Chrome, DecisionRow, FieldError, Link, SummaryRow, Tag,
};
use kiteline_templates::{Lang, Tr};
use serde::Deserialize;

use crate::AppState;
use crate::error::AppError;
use crate::format;
use crate::mail::Recipient;
use crate::routes::html;
use crate::security::{Page, Signed, Staff};

/// Whether `me` may see and decide `a`.
pub(crate) fn in_scope(me: &kiteline_store::User, a: &Application) -> bool {
    match (me.role, &me.chapter_id) {
        (Role::Admin, _) | (Role::Coordinator, None) => true,
        (Role::Coordinator, Some(mine)) => a.chapter_id.as_ref().is_none_or(|c| c == mine),
        (Role::Volunteer, _) => false,
    }
}

pub(crate) fn status_tag(tr: Tr, s: ApplicationStatus) -> Tag {
    let tone = match s {
        ApplicationStatus::New => "info",
        ApplicationStatus::Waitlisted => "warn",
        ApplicationStatus::Accepted => "ok",
        ApplicationStatus::Declined => "off",
    };
    Tag::new(tr.t(&format!("app-status-{}", s.as_str())), tone)
}

#[derive(Deserialize, Default)]
pub struct QueueQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    chapter: String,
}

pub async fn list(
    State(state): State<AppState>,
    Staff(me): Staff,
    Page(c): Page,
    Query(q): Query<QueueQuery>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let zone = format::zone_of(&me.user);
    let chapters = state.store.chapters().await?;
    let chapter_name = |id: &Option<Id>| match id {
        None => tr.t("users-at-large"),
        Some(id) => chapters.iter().find(|c| &c.id == id).map(|c| c.name.clone()).unwrap_or_default(),
    };
    let wanted = ApplicationStatus::parse(&q.status);
    let rows = state
        .store
        .applications()
        .await?
        .into_iter()
        .filter(|a| in_scope(&me.user, a))
        .filter(|a| match (wanted, q.status.as_str()) {
            (Some(w), _) => a.status == w,
            (None, "all") => true,
            // By default the open ones: what needs deciding.
            _ => matches!(a.status, ApplicationStatus::New | ApplicationStatus::Waitlisted),
        })
        .filter(|a| {
            q.chapter.is_empty()
                || a.chapter_id.as_ref().is_some_and(|c| c.as_str() == q.chapter)
                || (q.chapter == "at-large" && a.chapter_id.is_none())
        })
        .map(|a| ApplicationRow {
            id: a.id.to_string(),
            chapter: chapter_name(&a.chapter_id),
            languages: format::languages(&a.languages),
            status: status_tag(tr, a.status),
            submitted: format::moment(a.created_at, &zone, tr),
            submissions: a.submissions,
            name: a.name,
        })
        .collect();
    let mut statuses = vec![
        ("", tr.t("applications-open"), q.status.is_empty()),
        ("all", tr.t("applications-all"), q.status == "all"),
    ];
    statuses.extend(
        ApplicationStatus::ALL
            .iter()
            .map(|s| (s.as_str(), tr.t(&format!("app-status-{}", s.as_str())), wanted == Some(*s))),
    );
    let mut chapter_options = vec![("at-large".to_owned(), tr.t("users-at-large"), q.chapter == "at-large")];
    chapter_options.extend(
        chapters
            .iter()
            .filter(|ch| {
                me.user.role == Role::Admin
                    || me.user.chapter_id.is_none()
                    || me.user.chapter_id.as_ref() == Some(&ch.id)
            })
            .map(|ch| (ch.id.to_string(), ch.name.clone(), ch.id.as_str() == q.chapter)),
    );
    html(
        StatusCode::OK,
        ApplicationsPage {
            rows,
            statuses,
            chapters: chapter_options,
            filtered: !q.status.is_empty() || !q.chapter.is_empty(),
            c,
        },
    )
}

async fn application_in_scope(
    state: &AppState,
    me: &Signed,
    id: &str,
) -> Result<kiteline_store::ApplicationRecord, AppError> {
    let id = Id::parse(id).ok_or(AppError::NotFound)?;
    let rec = state.store.application(&id).await?.ok_or(AppError::NotFound)?;
    if !in_scope(&me.user, &rec.application) {
        return Err(AppError::NotFound);
    }
    Ok(rec)
}

fn note_context(decision: &Id) -> FieldContext<'_> {
    FieldContext::new("application_decisions", "note", decision.as_str())
}

fn availability_text(tr: Tr, stored: &str) -> String {
    stored
        .split(',')
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.split_once('-'))
        .map(|(d, p)| format!("{} {}", tr.t(&format!("day-{d}")), tr.t(&format!("part-{p}")).to_lowercase()))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn page(
    state: &AppState,
    c: Chrome,
    me: &Signed,
    rec: kiteline_store::ApplicationRecord,
    banner: Option<Banner>,
    typed: (String, String),
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let zone = format::zone_of(&me.user);
    let (phone, why) = crate::program::open_answers(&state.vault, &rec)?;
    let a = &rec.application;
    let chapter = match &a.chapter_id {
        None => tr.t("users-at-large"),
        Some(id) => state.store.chapters().await?.into_iter().find(|c| &c.id == id).map(|c| c.name).unwrap_or_default(),
    };
    let heard = if a.heard_from.is_empty() {
        String::new()
    } else {
        tr.t(&format!("heard-{}", a.heard_from.replace('_', "-")))
    };
    let mut answers = vec![
        SummaryRow::new(tr.t("field-email"), a.email.clone()),
        SummaryRow::new(tr.t("apply-phone"), phone),
        SummaryRow::new(tr.t("field-pronouns"), a.pronouns.clone()),
        SummaryRow::new(tr.t("field-time-zone"), a.time_zone.clone()),
        SummaryRow::new(tr.t("field-languages"), format::languages(&a.languages)),
        SummaryRow::new(tr.t("users-chapter"), chapter),
        SummaryRow::new(tr.t("application-availability"), availability_text(tr, &a.availability)),
        SummaryRow::new(tr.t("application-heard"), heard),
        SummaryRow::new(tr.t("applications-submitted"), format::moment(a.created_at, &zone, tr).text),
    ];
    answers.retain(|r| !r.value.is_empty());
    if a.submissions > 1 {
        answers.push(SummaryRow::new(tr.t("application-submissions"), a.submissions.to_string()));
    }
    let names = crate::audit_log::Names::load(state).await?;
    let mut history = Vec::new();
    for d in &rec.decisions {
        let note = match &d.note {
            Some(s) => String::from_utf8_lossy(
                &state.vault.open(note_context(&d.id), s).map_err(|e| AppError::Internal(format!("note: {e}")))?,
            )
            .into_owned(),
            None => String::new(),
        };
        history.push(DecisionRow {
            at: format::moment(d.at, &zone, tr),
            by: names.user(d.decided_by.as_str()).unwrap_or("?").to_owned(),
            decision: status_tag(tr, d.decision),
            note,
        });
    }
    let decisions = [
        (ApplicationStatus::Accepted, "application-accept"),
        (ApplicationStatus::Waitlisted, "application-waitlist"),
        (ApplicationStatus::Declined, "application-decline"),
    ]
    .into_iter()
    .filter(|(s, _)| a.status.can_become(*s))
    .map(|(s, key)| (s.as_str(), tr.t(key), typed.0 == s.as_str()))
    .collect();
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    html(
        status,
        ApplicationPage {
            crumbs: vec![
                Link::new("/", tr.t("nav-home")),
                Link::new("/admin/applications", tr.t("applications-title")),
            ],
            banner,
            id: a.id.to_string(),
            name: a.name.clone(),
            status: status_tag(tr, a.status),
            answers,
            why,
            decisions,
            note: typed.1,
            history,
            account: a
                .user_id
                .as_ref()
                .map(|u| Link::new(format!("/admin/volunteers/{u}"), tr.t("application-account"))),
            errors,
            c,
        },
    )
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

pub async fn show(
    State(state): State<AppState>,
    Staff(me): Staff,
    Page(c): Page,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let rec = application_in_scope(&state, &me, &id).await?;
    let banner = match q.done.as_str() {
        "accepted" if state.config.mail_sent => Some(Banner::success(tr.t("application-accepted"), "")),
        "accepted" => Some(Banner::warning(tr.t("application-accepted-folder"), tr.t("users-invited-folder-text"))),
        "waitlisted" => Some(Banner::success(tr.t("application-waitlisted"), "")),
        "declined" => Some(Banner::success(tr.t("application-declined"), "")),
        "meanwhile" => Some(Banner::warning(tr.t("application-decided-meanwhile"), "")),
        _ => None,
    };
    page(&state, c, &me, rec, banner, Default::default(), vec![]).await
}

#[derive(Deserialize)]
pub struct DecideForm {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    note: String,
}

/// The invitation an acceptance makes, as the invite use-case would.
fn acceptance(
    state: &AppState,
    me: &kiteline_store::User,
    a: &Application,
    phone: &str,
    now: Timestamp,
) -> Result<Acceptance, AppError> {
    let email = EmailAddress::parse(&a.email).ok_or(AppError::Internal("stored applicant address".into()))?;
    let lang = Lang::from_tag(&a.locale).unwrap_or(Lang::En);
    let user_id = new_id(now);
    let (token, digest) = crate::tokens::generate();
    let hours = crate::tokens::SET_PASSWORD_LINK_HOURS;
    let kind = MailKind::Invitation {
        inviter: me.name.clone(),
        link: format!("{}/password/{token}", state.config.public_url),
        hours: hours as u32,
    };
    let to = Recipient { address: &a.email, name: &a.name, lang };
    let mail = crate::mail::prepare(&state.vault, &state.site.current().name, to, &kind, now)?;
    let user = NewUser {
        email,
        name: a.name.clone(),
        role: Role::Volunteer,
        locale: lang.code().into(),
        chapter_id: a.chapter_id.clone(),
    };
    let phone =
        (!phone.is_empty()).then(|| state.vault.seal(crate::account::phone_context(&user_id), phone.as_bytes()));
    Ok(Acceptance {
        invitation: Invitation {
            user,
            id: user_id,
            link_digest: digest,
            link_expires: now + SignedDuration::from_hours(hours),
            mail: Some(mail),
        },
        pronouns: a.pronouns.clone(),
        time_zone: a.time_zone.clone(),
        languages: a.languages.clone(),
        phone,
    })
}

/// The kind message a declined applicant gets: the organization's, else ours.
async fn decline_mail(state: &AppState, a: &Application, now: Timestamp) -> Result<kiteline_store::NewMail, AppError> {
    let lang = Lang::from_tag(&a.locale).unwrap_or(Lang::En);
    let p = state.store.org_profile().await?;
    let own = if lang == Lang::Es { &p.decline_es } else { &p.decline_en };
    let text = if own.trim().is_empty() { Tr::new(lang).t("decline-default") } else { own.clone() };
    let to = Recipient { address: &a.email, name: &a.name, lang };
    Ok(crate::mail::prepare(
        &state.vault,
        &state.site.current().name,
        to,
        &MailKind::ApplicationDeclined { text },
        now,
    )?)
}

/// Why a decision was not recorded.
pub(crate) enum DecideFail {
    /// Someone decided meanwhile (or the decision is not open any more).
    Meanwhile,
    /// Accepting would make an account whose address is taken.
    HasAccount,
    Error(AppError),
}

impl From<AppError> for DecideFail {
    fn from(e: AppError) -> Self {
        DecideFail::Error(e)
    }
}

/// Records `decision` on an application `me` may decide, with what it
/// sends and makes: the one path for the web and the API.
pub(crate) async fn decide_core(
    state: &AppState,
    me: &kiteline_store::User,
    rec: &kiteline_store::ApplicationRecord,
    decision: ApplicationStatus,
    note: &str,
) -> Result<&'static str, DecideFail> {
    let a = &rec.application;
    if !a.status.can_become(decision) {
        return Err(DecideFail::Meanwhile);
    }
    let now = Timestamp::now();
    let decision_id = new_id(now);
    let (phone, _) = crate::program::open_answers(&state.vault, rec)?;
    let (accept, mail, action, done) = match decision {
        ApplicationStatus::Accepted => {
            (Some(acceptance(state, me, a, &phone, now)?), None, Action::ApplicationAccept, "accepted")
        }
        ApplicationStatus::Declined => {
            (None, Some(decline_mail(state, a, now).await?), Action::ApplicationDecline, "declined")
        }
        _ => (None, None, Action::ApplicationWaitlist, "waitlisted"),
    };
    let d = Decide {
        application_id: a.id.clone(),
        decision,
        note: (!note.is_empty()).then(|| state.vault.seal(note_context(&decision_id), note.as_bytes())),
        decision_id,
        decided_by: me.id.clone(),
        accept,
        mail,
    };
    match state.store.decide_application(d, AuditEvent::new(Some(&me.id), action, &a.id), now).await {
        Ok(()) => Ok(done),
        Err(StoreError::Conflict(Constraint::ApplicationDecided)) => Err(DecideFail::Meanwhile),
        Err(StoreError::Conflict(Constraint::UserEmail)) => Err(DecideFail::HasAccount),
        Err(e) => Err(DecideFail::Error(e.into())),
    }
}

pub async fn decide(
    State(state): State<AppState>,
    Staff(me): Staff,
    Page(c): Page,
    Path(id): Path<String>,
    Form(form): Form<DecideForm>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let rec = application_in_scope(&state, &me, &id).await?;
    let note = form.note.replace("\r\n", "\n").trim().to_owned();
    let typed = (form.decision.clone(), note.clone());
    let mut errors = Vec::new();
    let decision = ApplicationStatus::parse(&form.decision).filter(|d| *d != ApplicationStatus::New);
    if decision.is_none() {
        errors.push(FieldError { field: "decision", message: tr.t("error-decision") });
    }
    if note.chars().count() > 2000 {
        errors.push(FieldError { field: "note", message: tr.t("error-note") });
    }
    let Some(decision) = decision.filter(|_| errors.is_empty()) else {
        return page(&state, c, &me, rec, None, typed, errors).await;
    };
    let id = rec.application.id.clone();
    match decide_core(&state, &me.user, &rec, decision, &note).await {
        Ok(done) => Ok(Redirect::to(&format!("/admin/applications/{id}?done={done}")).into_response()),
        Err(DecideFail::Meanwhile) => {
            Ok(Redirect::to(&format!("/admin/applications/{id}?done=meanwhile")).into_response())
        }
        Err(DecideFail::HasAccount) => {
            let errors = vec![FieldError { field: "decision", message: tr.t("error-applicant-has-account") }];
            page(&state, c, &me, rec, None, typed, errors).await
        }
        Err(DecideFail::Error(e)) => Err(e),
    }
}
