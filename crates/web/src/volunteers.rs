//! The volunteer directory for coordinators (status, training progress,
//! chapter, languages, time zone; filters; a CSV export behind a fresh
//! second-factor code, audited), each volunteer's record (its opening
//! audited), sign-offs and standing; and a volunteer's own break.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use jiff::civil::Date;
use kiteline_core::Role;
use kiteline_core::volunteer::{self, ApplicationStatus, Completion, Status};
use kiteline_store::{Action, AuditEvent, Id, NewQualification, Standing, User, new_id};
use kiteline_templates::Tr;
use kiteline_templates::pages::{
    Banner, Chrome, FieldError, Link, QualificationRow, SummaryRow, Tag, VolunteerPage, VolunteerRow, VolunteersPage,
};
use serde::Deserialize;

use crate::AppState;
use crate::auth::checked_code;
use crate::error::AppError;
use crate::format;
use crate::routes::html;
use crate::security::{ClientNet, Member, Page, Signed, Staff};

pub(crate) fn status_tag(tr: Tr, s: Status) -> Tag {
    let tone = match s {
        Status::Applicant => "info",
        Status::InTraining => "warn",
        Status::Cleared => "ok",
        Status::Paused | Status::Alumni => "off",
    };
    Tag::new(tr.t(&format!("vol-status-{}", s.as_str().replace('_', "-"))), tone)
}

/// One directory entry, before it is filtered or shown.
struct Entry {
    href: String,
    name: String,
    email: String,
    status: Status,
    done: usize,
    total: usize,
    chapter_id: Option<Id>,
    languages: String,
    time_zone: String,
}

/// Everyone the directory lists for `me`: volunteer accounts in their
/// scope, and applicants not yet decided.
async fn entries(state: &AppState, me: &Signed, lang: &str) -> Result<Vec<Entry>, AppError> {
    let now = Timestamp::now();
    let modules = state.store.modules().await?;
    let required: Vec<_> = modules.iter().filter(|m| m.required && !m.retired).collect();
    let held = state.store.all_qualifications().await?;
    let standings = state.store.standings().await?;
    let mut out = Vec::new();
    for u in crate::people::visible(state, &me.user).await? {
        if u.role != Role::Volunteer {
            continue;
        }
        let standing = standings.iter().find(|(id, _)| *id == u.id).map_or(Standing::Active, |(_, s)| *s);
        let today = crate::clearance::today_for(&u, now);
        let mine: Vec<_> = held.iter().filter(|q| q.user_id == u.id).cloned().collect();
        let c = crate::clearance::evaluate(&u, standing, &modules, &mine, today, lang);
        let done =
            required.iter().filter(|m| mine.iter().any(|q| q.module_id == m.id && q.held().valid_on(today))).count();
        out.push(Entry {
            href: format!("/admin/volunteers/{}", u.id),
            name: u.name.clone(),
            email: u.email.clone(),
            status: Status::of(&c),
            done,
            total: required.len(),
            chapter_id: u.chapter_id.clone(),
            languages: u.languages.clone(),
            time_zone: u.time_zone.clone(),
        });
    }
    for a in state.store.applications().await? {
        if matches!(a.status, ApplicationStatus::New | ApplicationStatus::Waitlisted)
            && crate::applications::in_scope(&me.user, &a)
        {
            out.push(Entry {
                href: format!("/admin/applications/{}", a.id),
                name: a.name,
                email: a.email,
                status: Status::Applicant,
                done: 0,
                total: required.len(),
                chapter_id: a.chapter_id,
                languages: a.languages,
                time_zone: a.time_zone,
            });
        }
    }
    out.sort_by_key(|e| e.name.to_lowercase());
    Ok(out)
}

#[derive(Deserialize, Default, Clone)]
pub struct DirectoryQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    chapter: String,
    #[serde(default)]
    language: String,
}

fn keep(e: &Entry, q: &DirectoryQuery) -> bool {
    (q.status.is_empty() || e.status.as_str() == q.status)
        && (q.chapter.is_empty()
            || (q.chapter == "at-large" && e.chapter_id.is_none())
            || e.chapter_id.as_ref().is_some_and(|c| c.as_str() == q.chapter))
        && (q.language.is_empty() || e.languages.split(',').any(|l| l == q.language))
}

async fn directory(
    state: &AppState,
    c: Chrome,
    me: &Signed,
    q: DirectoryQuery,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let chapters = state.store.chapters().await?;
    let chapter_name = |id: &Option<Id>| match id {
        None => tr.t("users-at-large"),
        Some(id) => chapters.iter().find(|c| &c.id == id).map(|c| c.name.clone()).unwrap_or_default(),
    };
    let rows = entries(state, me, tr.lang().code())
        .await?
        .into_iter()
        .filter(|e| keep(e, &q))
        .map(|e| VolunteerRow {
            href: e.href,
            name: e.name,
            status: status_tag(tr, e.status),
            progress: tr
                .t_with("volunteers-progress-of", &[("done", &e.done.to_string()), ("total", &e.total.to_string())]),
            chapter: chapter_name(&e.chapter_id),
            languages: format::languages(&e.languages),
            time_zone: e.time_zone,
        })
        .collect();
    let mut chapter_options = vec![("at-large".to_owned(), tr.t("users-at-large"), q.chapter == "at-large")];
    chapter_options.extend(chapters.iter().map(|ch| (ch.id.to_string(), ch.name.clone(), ch.id.as_str() == q.chapter)));
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    html(
        status,
        VolunteersPage {
            rows,
            statuses: Status::ALL
                .iter()
                .map(|s| (s.as_str(), status_tag(tr, *s).text, q.status == s.as_str()))
                .collect(),
            chapters: chapter_options,
            languages: crate::account::LANGUAGES
                .iter()
                .map(|(code, label)| (*code, *label, q.language == *code))
                .collect(),
            filtered: !(q.status.is_empty() && q.chapter.is_empty() && q.language.is_empty()),
            f_status: q.status,
            f_chapter: q.chapter,
            f_language: q.language,
            errors,
            c,
        },
    )
}

pub async fn list(
    State(state): State<AppState>,
    Staff(me): Staff,
    Page(c): Page,
    Query(q): Query<DirectoryQuery>,
) -> Result<Response, AppError> {
    directory(&state, c, &me, q, vec![]).await
}

#[derive(Deserialize)]
pub struct ExportForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    chapter: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    code: String,
}

/// A CSV field: quoted, quotes doubled, and a leading `= + - @` defused so
/// a spreadsheet never runs it as a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_owned() };
    format!("\"{}\"", s.replace('"', "\"\""))
}

pub async fn export(
    State(state): State<AppState>,
    Staff(me): Staff,
    Page(c): Page,
    ClientNet(net): ClientNet,
    Form(f): Form<ExportForm>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let q = DirectoryQuery { status: f.status, chapter: f.chapter, language: f.language };
    let problem = match crate::auth::code_format_problem(tr, &f.code) {
        Some(p) => Some(p),
        None if !checked_code(&state, &net, &me.user, &f.code, false).await? => Some(tr.t("error-code-invalid")),
        None => None,
    };
    if let Some(message) = problem {
        return directory(&state, c, &me, q, vec![FieldError { field: "code", message }]).await;
    }
    let chapters = state.store.chapters().await?;
    let chapter_name = |id: &Option<Id>| match id {
        None => tr.t("users-at-large"),
        Some(id) => chapters.iter().find(|c| &c.id == id).map(|c| c.name.clone()).unwrap_or_default(),
    };
    let mut out = String::from("name,email,status,training_done,training_required,chapter,languages,time_zone\r\n");
    let mut n = 0;
    for e in entries(&state, &me, tr.lang().code()).await?.into_iter().filter(|e| keep(e, &q)) {
        n += 1;
        let fields = [
            e.name.clone(),
            e.email.clone(),
            e.status.as_str().to_owned(),
            e.done.to_string(),
            e.total.to_string(),
            chapter_name(&e.chapter_id),
            e.languages.clone(),
            e.time_zone.clone(),
        ];
        out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    let now = Timestamp::now();
    state.store.append_audit(AuditEvent::new(Some(&me.user.id), Action::VolunteerExport, "directory"), now).await?;
    tracing::info!(user = %me.user.id, rows = n, "volunteer directory exported");
    let name = format!("attachment; filename=\"volunteers-{}.csv\"", now.strftime("%Y-%m-%d"));
    let mut r = out.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&name).map_err(|_| AppError::BadRequest)?);
    Ok(r)
}

/// A volunteer account `me` may see.
async fn volunteer(state: &AppState, me: &Signed, id: &str) -> Result<User, AppError> {
    volunteer_for(state, &me.user, id).await
}

pub(crate) async fn volunteer_for(state: &AppState, me: &User, id: &str) -> Result<User, AppError> {
    let id = Id::parse(id).ok_or(AppError::NotFound)?;
    let u = state.store.user_by_id(&id).await?.ok_or(AppError::NotFound)?;
    if u.role != Role::Volunteer || !crate::people::in_scope(state, me, &u) {
        return Err(AppError::NotFound);
    }
    Ok(u)
}

fn standing_parts(s: Standing) -> (&'static str, String) {
    match s {
        Standing::Active => ("active", String::new()),
        Standing::Paused { until } => ("paused", until.to_string()),
        Standing::Alumni => ("alumni", String::new()),
    }
}

async fn record(
    state: &AppState,
    c: Chrome,
    me: &Signed,
    u: &User,
    banner: Option<Banner>,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let lang = tr.lang().code();
    let zone = format::zone_of(&me.user);
    let now = Timestamp::now();
    let modules = state.store.modules().await?;
    let held = state.store.qualifications_of(&u.id).await?;
    let standing = state.store.standing(&u.id).await?;
    let today = crate::clearance::today_for(u, now);
    let c_result = crate::clearance::evaluate(u, standing, &modules, &held, today, lang);
    let names = crate::audit_log::Names::load(state).await?;
    let chapter = match &u.chapter_id {
        None => tr.t("users-at-large"),
        Some(id) => state.store.chapters().await?.into_iter().find(|c| &c.id == id).map(|c| c.name).unwrap_or_default(),
    };
    let details = vec![
        SummaryRow::tagged(tr.t("users-status"), status_tag(tr, Status::of(&c_result))),
        SummaryRow::new(tr.t("field-email"), u.email.clone()),
        SummaryRow::new(tr.t("field-pronouns"), u.pronouns.clone()),
        SummaryRow::new(tr.t("users-chapter"), chapter),
        SummaryRow::new(tr.t("field-languages"), format::languages(&u.languages)),
        SummaryRow::new(tr.t("field-time-zone"), u.time_zone.clone()),
    ];
    let qualifications = held
        .iter()
        .rev()
        .map(|q| QualificationRow {
            module: modules.iter().find(|m| m.id == q.module_id).map(|m| m.title(lang).to_owned()).unwrap_or_default(),
            from: q.starts_on.to_string(),
            until: q.expires_on.map_or_else(|| tr.t("module-forever"), |d| d.to_string()),
            how: crate::training::completion_label(tr, q.source),
            by: q.granted_by.as_ref().and_then(|g| names.user(g.as_str())).unwrap_or("").to_owned(),
            valid: q.held().valid_on(today),
        })
        .collect();
    let signed = state.store.signups_of(&u.id).await?;
    let mut sessions = Vec::new();
    for sg in &signed {
        if let Some(s) = state.store.training_session(&sg.session_id).await? {
            sessions.push(kiteline_templates::pages::TrainingSessionRow {
                id: s.id.to_string(),
                module: modules
                    .iter()
                    .find(|m| m.id == s.module_id)
                    .map(|m| m.title(lang).to_owned())
                    .unwrap_or_default(),
                starts: format::moment(s.starts_at, &zone, tr),
                ends: format::moment(s.ends_at, &zone, tr),
                seats: format!("{} / {}", s.signed_up, s.capacity),
                full: s.signed_up >= s.capacity,
                trainer: s.trainer_id.as_ref().and_then(|t| names.user(t.as_str())).unwrap_or("").to_owned(),
                mine: false,
            });
        }
    }
    let grantable = modules
        .iter()
        .filter(|m| !m.retired)
        .map(|m| {
            (m.id.to_string(), format!("{} ({})", m.title(lang), crate::training::completion_label(tr, m.completion)))
        })
        .collect();
    let (kind, until) = standing_parts(standing);
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    html(
        status,
        VolunteerPage {
            crumbs: vec![Link::new("/", tr.t("nav-home")), Link::new("/admin/volunteers", tr.t("volunteers-title"))],
            banner,
            id: u.id.to_string(),
            name: u.name.clone(),
            cleared: crate::clearance::tag(tr, &c_result),
            reasons: crate::clearance::reasons(tr, &c_result),
            details,
            qualifications,
            sessions,
            grantable,
            grant_date: now.to_zoned(zone).date().to_string(),
            standing: kind,
            paused_until: until,
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

/// A volunteer's record; each opening is audited.
pub async fn show(
    State(state): State<AppState>,
    Staff(me): Staff,
    Page(c): Page,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let u = volunteer(&state, &me, &id).await?;
    state
        .store
        .append_audit(AuditEvent::new(Some(&me.user.id), Action::VolunteerView, &u.id), Timestamp::now())
        .await?;
    let banner = match q.done.as_str() {
        "granted" => Some(Banner::success(tr.t("volunteer-granted"), "")),
        "standing" => Some(Banner::success(tr.t("volunteer-standing-saved"), "")),
        _ => None,
    };
    record(&state, c, &me, &u, banner, vec![]).await
}

#[derive(Deserialize)]
pub struct GrantForm {
    #[serde(default)]
    module: String,
    #[serde(default)]
    date: String,
}

/// Records a completion a coordinator vouches for (a sign-off, or a shadow
/// shift): the module's qualification from that day, renewals continuing
/// as the rule says. The web's and the API's one path.
pub(crate) async fn grant_core(
    state: &AppState,
    me: &User,
    tr: Tr,
    u: &User,
    module: &str,
    date: &str,
) -> Result<Result<(), Vec<FieldError>>, AppError> {
    let now = Timestamp::now();
    let mut errors = Vec::new();
    let modules = state.store.modules().await?;
    let module = Id::parse(module).and_then(|id| modules.iter().find(|m| m.id == id && !m.retired).cloned());
    if module.is_none() {
        errors.push(FieldError { field: "module", message: tr.t("error-grant-module") });
    }
    let today = now.to_zoned(format::zone_of(me)).date();
    let date: Option<Date> = date.trim().parse().ok().filter(|d| *d <= today);
    if date.is_none() {
        errors.push(FieldError { field: "date", message: tr.t("error-grant-date") });
    }
    let (Some(module), Some(date)) = (module, date) else { return Ok(Err(errors)) };
    let held: Vec<_> = state
        .store
        .qualifications_of(&u.id)
        .await?
        .iter()
        .filter(|q| q.module_id == module.id)
        .map(|q| q.held())
        .collect();
    let g = volunteer::grant(&module.rule("en"), &held, date);
    let source =
        if module.completion == Completion::ShadowShift { Completion::ShadowShift } else { Completion::SignOff };
    let q = NewQualification {
        id: new_id(now),
        user_id: u.id.clone(),
        module_id: module.id.clone(),
        starts_on: g.starts_on,
        expires_on: g.expires_on,
        source,
        session_id: None,
        granted_by: Some(me.id.clone()),
    };
    state.store.grant_qualification(q, AuditEvent::new(Some(&me.id), Action::QualificationGrant, &u.id), now).await?;
    Ok(Ok(()))
}

pub async fn grant(
    State(state): State<AppState>,
    Staff(me): Staff,
    Page(c): Page,
    Path(id): Path<String>,
    Form(f): Form<GrantForm>,
) -> Result<Response, AppError> {
    let u = volunteer(&state, &me, &id).await?;
    match grant_core(&state, &me.user, c.tr, &u, &f.module, &f.date).await? {
        Ok(()) => Ok(Redirect::to(&format!("/admin/volunteers/{}?done=granted", u.id)).into_response()),
        Err(errors) => record(&state, c, &me, &u, None, errors).await,
    }
}

#[derive(Deserialize)]
pub struct StandingForm {
    #[serde(default)]
    standing: String,
    #[serde(default)]
    until: String,
}

/// A standing from the form: active, alumni, or paused until a day not
/// before `today`.
fn parse_standing(tr: Tr, f: &StandingForm, today: Date, errors: &mut Vec<FieldError>) -> Option<Standing> {
    match f.standing.as_str() {
        "active" => Some(Standing::Active),
        "alumni" => Some(Standing::Alumni),
        "paused" => match f.until.trim().parse::<Date>().ok().filter(|d| *d >= today) {
            Some(until) => Some(Standing::Paused { until }),
            None => {
                errors.push(FieldError { field: "until", message: tr.t("error-until") });
                None
            }
        },
        _ => {
            errors.push(FieldError { field: "standing", message: tr.t("error-standing") });
            None
        }
    }
}

fn standing_action(s: Standing) -> Action {
    match s {
        Standing::Active => Action::VolunteerResume,
        Standing::Paused { .. } => Action::VolunteerPause,
        Standing::Alumni => Action::VolunteerAlumni,
    }
}

pub async fn set_standing(
    State(state): State<AppState>,
    Staff(me): Staff,
    Page(c): Page,
    Path(id): Path<String>,
    Form(f): Form<StandingForm>,
) -> Result<Response, AppError> {
    let u = volunteer(&state, &me, &id).await?;
    let now = Timestamp::now();
    let mut errors = Vec::new();
    let today = crate::clearance::today_for(&u, now);
    let Some(standing) = parse_standing(c.tr, &f, today, &mut errors) else {
        return record(&state, c, &me, &u, None, errors).await;
    };
    let event = AuditEvent::new(Some(&me.user.id), standing_action(standing), &u.id);
    state.store.set_standing(&u.id, standing, event, now).await?;
    Ok(Redirect::to(&format!("/admin/volunteers/{}?done=standing", u.id)).into_response())
}

#[derive(Deserialize)]
pub struct PauseForm {
    #[serde(default)]
    until: String,
}

/// A volunteer pauses themselves until a day.
pub async fn pause(
    State(state): State<AppState>,
    Member(me): Member,
    Page(c): Page,
    Form(f): Form<PauseForm>,
) -> Result<Response, AppError> {
    let now = Timestamp::now();
    let mut errors = Vec::new();
    let today = crate::clearance::today_for(&me.user, now);
    let form = StandingForm { standing: "paused".into(), until: f.until };
    let Some(standing) = parse_standing(c.tr, &form, today, &mut errors) else {
        return crate::training::mine_with(&state, c, &me, None, form.until, errors).await;
    };
    state
        .store
        .set_standing(
            &me.user.id,
            standing,
            AuditEvent::new(Some(&me.user.id), Action::VolunteerPause, &me.user.id),
            now,
        )
        .await?;
    Ok(Redirect::to("/training?done=paused#break").into_response())
}

/// A volunteer comes back from a pause (or from being an alum).
pub async fn resume(State(state): State<AppState>, Member(me): Member) -> Result<Response, AppError> {
    let event = AuditEvent::new(Some(&me.user.id), Action::VolunteerResume, &me.user.id);
    state.store.set_standing(&me.user.id, Standing::Active, event, Timestamp::now()).await?;
    Ok(Redirect::to("/training?done=back#break").into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(super::csv_field("Ana \"Ruiz\""), "\"Ana \"\"Ruiz\"\"\"");
        assert_eq!(super::csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(super::csv_field("-1"), "\"'-1\"");
        assert_eq!(super::csv_field("a,b"), "\"a,b\"");
    }
}
