//! The API of the volunteer program: applications, volunteers (with their
//! status and clearance), and training (modules, sessions, attendance,
//! qualifications). Every endpoint follows the web's rules — the same
//! chapter scope, the same validation (the same core functions), the same
//! audit entries. Bodies are JSON; a body that does not parse is a 400, a
//! valid one with bad values a 422 naming each field.

// Handlers answer early with a response; boxing it would buy nothing here.
#![allow(clippy::result_large_err)]

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use kiteline_core::Role;
use kiteline_core::volunteer::{ApplicationStatus, Gap, NotCleared, Status};
use kiteline_store::{Action, AuditEvent, Id, Module, Qualification, TokenScope, TrainingSession, User};
use kiteline_templates::{Lang, Tr};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::api::{Caller, api_error};
use crate::error::AppError;
use crate::pages_fields::FieldErrors;

fn en() -> Tr {
    Tr::new(Lang::En)
}

fn internal(e: AppError) -> Response {
    match e {
        AppError::NotFound => api_error(StatusCode::NOT_FOUND, "not found"),
        AppError::Forbidden => api_error(StatusCode::FORBIDDEN, "forbidden"),
        AppError::BadRequest => api_error(StatusCode::BAD_REQUEST, "bad request"),
        e => {
            tracing::error!(error = %e, "API call failed");
            api_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

fn invalid(errors: FieldErrors) -> Response {
    let fields: serde_json::Map<String, Value> =
        errors.into_iter().map(|e| (e.field.to_owned(), Value::String(e.message))).collect();
    (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({ "error": "invalid input", "fields": fields }))).into_response()
}

/// A JSON body, or the 400 that says it is not one.
fn body<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(bytes)
        .map_err(|_| api_error(StatusCode::BAD_REQUEST, "the body is not the JSON this endpoint takes"))
}

fn id_of(raw: &str) -> Result<Id, Response> {
    Id::parse(raw).ok_or_else(|| api_error(StatusCode::NOT_FOUND, "not found"))
}

fn application_json(a: &kiteline_store::Application) -> Value {
    json!({
        "id": a.id.as_str(),
        "name": a.name,
        "email": a.email,
        "pronouns": a.pronouns,
        "time_zone": a.time_zone,
        "languages": a.languages.split(',').filter(|l| !l.is_empty()).collect::<Vec<_>>(),
        "chapter_id": a.chapter_id.as_ref().map(|c| c.as_str()),
        "heard_from": a.heard_from,
        "availability": a.availability.split(',').filter(|l| !l.is_empty()).collect::<Vec<_>>(),
        "locale": a.locale,
        "status": a.status.as_str(),
        "submissions": a.submissions,
        "user_id": a.user_id.as_ref().map(|u| u.as_str()),
        "created_at": a.created_at.to_string(),
    })
}

#[derive(Deserialize, Default)]
pub struct ApplicationsQuery {
    #[serde(default)]
    status: Option<String>,
}

/// `GET /api/v1/applications` (read, staff): the applications in scope, oldest first.
pub async fn applications(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ApplicationsQuery>,
) -> Response {
    if let Some(r) = caller.denied_staff(TokenScope::Read) {
        return r;
    }
    let wanted = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => match ApplicationStatus::parse(s) {
            Some(s) => Some(s),
            None => {
                return invalid(vec![crate::pages_fields::field(
                    "status",
                    "choose new, waitlisted, accepted or declined",
                )]);
            }
        },
    };
    match state.store.applications().await {
        Ok(list) => {
            let items: Vec<Value> = list
                .iter()
                .filter(|a| crate::applications::in_scope(&caller.user, a))
                .filter(|a| wanted.is_none_or(|w| a.status == w))
                .map(application_json)
                .collect();
            Json(json!({ "applications": items })).into_response()
        }
        Err(e) => internal(e.into()),
    }
}

async fn application_record(
    state: &AppState,
    me: &User,
    raw: &str,
) -> Result<kiteline_store::ApplicationRecord, Response> {
    let id = id_of(raw)?;
    match state.store.application(&id).await {
        Ok(Some(rec)) if crate::applications::in_scope(me, &rec.application) => Ok(rec),
        Ok(_) => Err(api_error(StatusCode::NOT_FOUND, "not found")),
        Err(e) => Err(internal(e.into())),
    }
}

/// `GET /api/v1/applications/{id}` (read, staff): with the sealed answers and the decisions.
pub async fn application(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Response {
    if let Some(r) = caller.denied_staff(TokenScope::Read) {
        return r;
    }
    let rec = match application_record(&state, &caller.user, &id).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let (phone, why) = match crate::program::open_answers(&state.vault, &rec) {
        Ok(x) => x,
        Err(e) => return internal(e),
    };
    let mut v = application_json(&rec.application);
    v["phone"] = json!(phone);
    v["why"] = json!(why);
    v["decisions"] = json!(
        rec.decisions
            .iter()
            .map(|d| json!({ "decision": d.decision.as_str(), "decided_by": d.decided_by.as_str(), "at": d.at.to_string() }))
            .collect::<Vec<_>>()
    );
    Json(v).into_response()
}

#[derive(Deserialize)]
struct DecisionBody {
    decision: String,
    #[serde(default)]
    note: String,
}

/// `POST /api/v1/applications/{id}/decision` (write, staff).
pub async fn decide(State(state): State<AppState>, caller: Caller, Path(id): Path<String>, bytes: Bytes) -> Response {
    if let Some(r) = caller.denied_staff(TokenScope::Write) {
        return r;
    }
    let b: DecisionBody = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let rec = match application_record(&state, &caller.user, &id).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let tr = en();
    let mut errors = Vec::new();
    let decision = ApplicationStatus::parse(&b.decision).filter(|d| *d != ApplicationStatus::New);
    if decision.is_none() {
        errors.push(crate::pages_fields::field("decision", &tr.t("error-decision")));
    }
    let note = b.note.trim().to_owned();
    if note.chars().count() > 2000 || note.chars().any(|c| c.is_control() && c != '\n') {
        errors.push(crate::pages_fields::field("note", &tr.t("error-note")));
    }
    let Some(decision) = decision.filter(|_| errors.is_empty()) else { return invalid(errors) };
    match crate::applications::decide_core(&state, &caller.user, &rec, decision, &note).await {
        Ok(_) => Json(json!({ "id": rec.application.id.as_str(), "status": decision.as_str() })).into_response(),
        Err(crate::applications::DecideFail::Meanwhile) => {
            api_error(StatusCode::CONFLICT, "the application cannot take that decision now")
        }
        Err(crate::applications::DecideFail::HasAccount) => {
            api_error(StatusCode::CONFLICT, "an account with the applicant's address already exists")
        }
        Err(crate::applications::DecideFail::Error(e)) => internal(e),
    }
}

fn gaps_json(c: &Result<(), NotCleared>) -> Value {
    match c {
        Err(NotCleared::Training(gaps)) => json!(
            gaps.iter()
                .map(|g| match g {
                    Gap::Missing { module_id, title } =>
                        json!({ "module_id": module_id, "title": title, "expired_on": null }),
                    Gap::Expired { module_id, title, on } => {
                        json!({ "module_id": module_id, "title": title, "expired_on": on.to_string() })
                    }
                })
                .collect::<Vec<_>>()
        ),
        _ => json!([]),
    }
}

fn reason_code(c: &Result<(), NotCleared>) -> Option<&'static str> {
    match c {
        Ok(()) => None,
        Err(NotCleared::AccountInactive) => Some("account_inactive"),
        Err(NotCleared::Paused { .. }) => Some("paused"),
        Err(NotCleared::Alumni) => Some("alumni"),
        Err(NotCleared::Training(_)) => Some("training"),
    }
}

fn qualification_json(q: &Qualification) -> Value {
    json!({
        "id": q.id.as_str(),
        "module_id": q.module_id.as_str(),
        "starts_on": q.starts_on.to_string(),
        "expires_on": q.expires_on.map(|d| d.to_string()),
        "source": q.source.as_str(),
        "session_id": q.session_id.as_ref().map(|s| s.as_str()),
    })
}

async fn volunteer_json(
    state: &AppState,
    u: &User,
    modules: &[Module],
    held: &[Qualification],
) -> Result<Value, AppError> {
    let standing = state.store.standing(&u.id).await?;
    let today = crate::clearance::today_for(u, Timestamp::now());
    let mine: Vec<_> = held.iter().filter(|q| q.user_id == u.id).cloned().collect();
    let c = crate::clearance::evaluate(u, standing, modules, &mine, today, "en");
    Ok(json!({
        "id": u.id.as_str(),
        "name": u.name,
        "email": u.email,
        "status": Status::of(&c).as_str(),
        "cleared": c.is_ok(),
        "not_cleared_because": reason_code(&c),
        "missing": gaps_json(&c),
        "chapter_id": u.chapter_id.as_ref().map(|c| c.as_str()),
        "languages": u.languages.split(',').filter(|l| !l.is_empty()).collect::<Vec<_>>(),
        "time_zone": u.time_zone,
    }))
}

/// `GET /api/v1/volunteers` (read, staff): volunteer accounts in scope with status and clearance.
pub async fn volunteers(State(state): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = caller.denied_staff(TokenScope::Read) {
        return r;
    }
    let run = async {
        let modules = state.store.modules().await?;
        let held = state.store.all_qualifications().await?;
        let mut out = Vec::new();
        for u in crate::people::visible(&state, &caller.user).await?.iter().filter(|u| u.role == Role::Volunteer) {
            out.push(volunteer_json(&state, u, &modules, &held).await?);
        }
        Ok::<_, AppError>(out)
    };
    match run.await {
        Ok(list) => Json(json!({ "volunteers": list })).into_response(),
        Err(e) => internal(e),
    }
}

/// `GET /api/v1/volunteers/{id}` (read, staff): one volunteer, with their qualifications. Audited.
pub async fn volunteer(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Response {
    if let Some(r) = caller.denied_staff(TokenScope::Read) {
        return r;
    }
    let run = async {
        let u = crate::volunteers::volunteer_for(&state, &caller.user, &id).await?;
        let modules = state.store.modules().await?;
        let held = state.store.qualifications_of(&u.id).await?;
        let mut v = volunteer_json(&state, &u, &modules, &held).await?;
        v["qualifications"] = json!(held.iter().map(qualification_json).collect::<Vec<_>>());
        state
            .store
            .append_audit(AuditEvent::new(Some(&caller.user.id), Action::VolunteerView, &u.id), Timestamp::now())
            .await?;
        Ok::<_, AppError>(v)
    };
    match run.await {
        Ok(v) => Json(v).into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct GrantBody {
    module_id: String,
    completed_on: String,
}

/// `POST /api/v1/volunteers/{id}/qualifications` (write, staff): a sign-off.
pub async fn grant(State(state): State<AppState>, caller: Caller, Path(id): Path<String>, bytes: Bytes) -> Response {
    if let Some(r) = caller.denied_staff(TokenScope::Write) {
        return r;
    }
    let b: GrantBody = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let u = match crate::volunteers::volunteer_for(&state, &caller.user, &id).await {
        Ok(u) => u,
        Err(e) => return internal(e),
    };
    match crate::volunteers::grant_core(&state, &caller.user, en(), &u, &b.module_id, &b.completed_on).await {
        Ok(Ok(())) => {
            (StatusCode::CREATED, Json(json!({ "user_id": u.id.as_str(), "module_id": b.module_id }))).into_response()
        }
        Ok(Err(errors)) => invalid(
            errors
                .into_iter()
                .map(|e| crate::pages_fields::rename(e, "date", "completed_on"))
                .map(|e| crate::pages_fields::rename(e, "module", "module_id"))
                .collect(),
        ),
        Err(e) => internal(e),
    }
}

fn module_json(m: &Module) -> Value {
    json!({
        "id": m.id.as_str(),
        "title_en": m.title_en,
        "title_es": m.title_es,
        "description_en": m.description_en,
        "description_es": m.description_es,
        "position": m.position,
        "required": m.required,
        "completion": m.completion.as_str(),
        "validity_months": m.validity_months,
        "renewal_window_days": m.renewal_window_days,
        "retired": m.retired,
    })
}

/// `GET /api/v1/training/modules` (read): the series.
pub async fn modules(State(state): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = caller.denied(TokenScope::Read) {
        return r;
    }
    match state.store.modules().await {
        Ok(m) => Json(json!({ "modules": m.iter().map(module_json).collect::<Vec<_>>() })).into_response(),
        Err(e) => internal(e.into()),
    }
}

fn session_json(s: &TrainingSession) -> Value {
    json!({
        "id": s.id.as_str(),
        "module_id": s.module_id.as_str(),
        "starts_at": s.starts_at.to_string(),
        "ends_at": s.ends_at.to_string(),
        "time_zone": s.time_zone,
        "capacity": s.capacity,
        "signed_up": s.signed_up,
        "trainer_id": s.trainer_id.as_ref().map(|t| t.as_str()),
    })
}

/// `GET /api/v1/training/sessions` (read): sessions that have not ended.
pub async fn sessions(State(state): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = caller.denied(TokenScope::Read) {
        return r;
    }
    match state.store.sessions_from(Timestamp::now()).await {
        Ok(list) => Json(json!({ "sessions": list.iter().map(session_json).collect::<Vec<_>>() })).into_response(),
        Err(e) => internal(e.into()),
    }
}

/// `GET /api/v1/training/sessions/{id}` (read): a session; its sign-ups
/// for its trainer and coordinators.
pub async fn session(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Response {
    if let Some(r) = caller.denied(TokenScope::Read) {
        return r;
    }
    let id = match id_of(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let run = async {
        let s = state.store.training_session(&id).await?.ok_or(AppError::NotFound)?;
        let mut v = session_json(&s);
        if caller.user.role >= Role::Coordinator || s.trainer_id.as_ref() == Some(&caller.user.id) {
            let signups = state.store.signups(&s.id).await?;
            v["signups"] = json!(
                signups
                    .iter()
                    .map(|x| json!({ "user_id": x.user_id.as_str(), "attended": x.attended, "signed_up_at": x.signed_up_at.to_string() }))
                    .collect::<Vec<_>>()
            );
        }
        Ok::<_, AppError>(v)
    };
    match run.await {
        Ok(v) => Json(v).into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct SessionBody {
    module_id: String,
    starts_at: String,
    ends_at: String,
    time_zone: String,
    capacity: i64,
    #[serde(default)]
    video_link: String,
    #[serde(default)]
    trainer_id: String,
}

/// `POST /api/v1/training/sessions` (write, staff): schedules a session.
pub async fn schedule(State(state): State<AppState>, caller: Caller, bytes: Bytes) -> Response {
    if let Some(r) = caller.denied_staff(TokenScope::Write) {
        return r;
    }
    let b: SessionBody = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let tr = en();
    let mut errors = Vec::new();
    let starts: Option<Timestamp> = b.starts_at.parse().ok();
    if starts.is_none() {
        errors.push(crate::pages_fields::field("starts_at", "an RFC 3339 instant, like 2026-12-05T02:00:00Z"));
    }
    let ends: Option<Timestamp> = b.ends_at.parse().ok();
    if ends.is_none() {
        errors.push(crate::pages_fields::field("ends_at", "an RFC 3339 instant after starts_at"));
    }
    let input = crate::training::SessionInput {
        module: b.module_id,
        times: starts.zip(ends),
        time_zone: b.time_zone,
        capacity: u32::try_from(b.capacity).ok(),
        video_link: b.video_link.trim().to_owned(),
        trainer: b.trainer_id,
    };
    match crate::training::schedule_core(&state, &caller.user, tr, input, errors).await {
        Ok(Ok(id)) => (StatusCode::CREATED, Json(json!({ "id": id.as_str() }))).into_response(),
        Ok(Err(errors)) => invalid(
            errors
                .into_iter()
                .map(|e| crate::pages_fields::rename(e, "module", "module_id"))
                .map(|e| crate::pages_fields::rename(e, "trainer", "trainer_id"))
                .map(|e| crate::pages_fields::rename(e, "date", "starts_at"))
                .map(|e| crate::pages_fields::rename(e, "end", "ends_at"))
                .collect(),
        ),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct Mark {
    user_id: String,
    present: bool,
}

#[derive(Deserialize)]
struct AttendanceBody {
    marks: Vec<Mark>,
}

/// `POST /api/v1/training/sessions/{id}/attendance` (write): the trainer or a coordinator.
pub async fn attendance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    if let Some(r) = caller.denied(TokenScope::Write) {
        return r;
    }
    let b: AttendanceBody = match body(&bytes) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let s = match crate::training::session_by_id(&state, &id).await {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let mut marks = Vec::new();
    for m in b.marks {
        match Id::parse(&m.user_id) {
            Some(u) => marks.push((u, m.present)),
            None => {
                return invalid(vec![crate::pages_fields::field("marks", "every user_id must be someone signed up")]);
            }
        }
    }
    match crate::training::attendance_core(&state, &caller.user, &s, marks).await {
        Ok(Ok(())) => Json(json!({ "id": s.id.as_str(), "marked": true })).into_response(),
        Ok(Err(crate::training::MarkFail::NotAllowed)) => {
            api_error(StatusCode::FORBIDDEN, "only the session's trainer or a coordinator may mark attendance")
        }
        Ok(Err(crate::training::MarkFail::TooEarly)) => {
            invalid(vec![crate::pages_fields::field("marks", "the session has not started")])
        }
        Ok(Err(crate::training::MarkFail::Unknown)) => {
            invalid(vec![crate::pages_fields::field("marks", "mark at least one person, each signed up")])
        }
        Err(e) => internal(e),
    }
}
