//! The training series on the web: coordinators define modules and
//! schedule sessions; volunteers sign up and leave; trainers and
//! coordinators mark attendance, which grants the module's qualification.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use kiteline_core::Role;
use kiteline_core::crypto::FieldContext;
use kiteline_core::volunteer::{self, Completion};
use kiteline_store::{
    Action, AuditEvent, Constraint, Id, Module, ModuleInput, NewQualification, NewTrainingSession, StoreError,
    TrainingSession, User, new_id,
};
use kiteline_templates::Tr;
use kiteline_templates::pages::{
    Banner, Chrome, FieldError, Link, ModuleForm, ModulePage, ModuleRow, RosterRow, SessionForm, SessionPage,
    SummaryRow, Tag, TrainingAdminPage, TrainingPage, TrainingSessionRow,
};
use serde::Deserialize;

use crate::AppState;
use crate::error::AppError;
use crate::format;
use crate::routes::html;
use crate::security::{Member, Page, Signed, Staff};

pub(crate) fn completion_label(tr: Tr, c: Completion) -> String {
    tr.t(&format!("completion-{}", c.as_str().replace('_', "-")))
}

fn validity_label(tr: Tr, m: &Module) -> String {
    match m.validity_months {
        None => tr.t("module-forever"),
        Some(n) => tr.t_with("module-months", &[("months", &n.to_string())]),
    }
}

fn completions(tr: Tr) -> Vec<(&'static str, String)> {
    Completion::ALL.iter().map(|c| (c.as_str(), completion_label(tr, *c))).collect()
}

pub(crate) fn video_context(id: &Id) -> FieldContext<'_> {
    FieldContext::new("training_sessions", "video_link", id.as_str())
}

fn session_row(
    tr: Tr,
    zone: &TimeZone,
    s: &TrainingSession,
    modules: &[Module],
    names: &crate::audit_log::Names,
    mine: bool,
) -> TrainingSessionRow {
    TrainingSessionRow {
        id: s.id.to_string(),
        module: modules
            .iter()
            .find(|m| m.id == s.module_id)
            .map(|m| m.title(tr.lang().code()).to_owned())
            .unwrap_or_default(),
        starts: format::moment(s.starts_at, zone, tr),
        ends: format::moment(s.ends_at, zone, tr),
        seats: format!("{} / {}", s.signed_up, s.capacity),
        full: s.signed_up >= s.capacity,
        trainer: s.trainer_id.as_ref().and_then(|t| names.user(t.as_str())).unwrap_or("").to_owned(),
        mine,
    }
}

fn module_form(m: &Module) -> ModuleForm {
    ModuleForm {
        title_en: m.title_en.clone(),
        title_es: m.title_es.clone(),
        description_en: m.description_en.clone(),
        description_es: m.description_es.clone(),
        position: m.position.to_string(),
        required: m.required,
        completion: m.completion.as_str().to_owned(),
        validity_months: m.validity_months.map(|v| v.to_string()).unwrap_or_default(),
        renewal_window_days: m.renewal_window_days.to_string(),
        retired: m.retired,
    }
}

async fn admin_page(
    state: &AppState,
    c: Chrome,
    me: &Signed,
    banner: Option<Banner>,
    forms: (ModuleForm, SessionForm),
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let lang = tr.lang().code();
    let zone = format::zone_of(&me.user);
    let modules = state.store.modules().await?;
    let names = crate::audit_log::Names::load(state).await?;
    let sessions = state
        .store
        .sessions_from(Timestamp::now())
        .await?
        .iter()
        .map(|s| session_row(tr, &zone, s, &modules, &names, false))
        .collect();
    let trainers = state
        .store
        .list_users()
        .await?
        .into_iter()
        .filter(crate::clearance::in_use)
        .map(|u| (u.id.to_string(), u.name))
        .collect();
    let rows = modules
        .iter()
        .map(|m| ModuleRow {
            id: m.id.to_string(),
            title: m.title(lang).to_owned(),
            description: m.description(lang).to_owned(),
            required: m.required,
            completion: completion_label(tr, m.completion),
            validity: validity_label(tr, m),
            retired: m.retired,
            mine: None,
        })
        .collect();
    let session_modules = modules
        .iter()
        .filter(|m| !m.retired && m.completion == Completion::Session)
        .map(|m| (m.id.to_string(), m.title(lang).to_owned()))
        .collect();
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    html(
        status,
        TrainingAdminPage {
            banner,
            modules: rows,
            sessions,
            module_form: forms.0,
            session_form: forms.1,
            session_modules,
            trainers,
            completions: completions(tr),
            zones: crate::account::COMMON_ZONES.to_vec(),
            errors,
            c,
        },
    )
}

fn blank_forms(me: &Signed) -> (ModuleForm, SessionForm) {
    (
        ModuleForm {
            required: true,
            completion: "session".into(),
            renewal_window_days: "30".into(),
            position: "10".into(),
            ..ModuleForm::default()
        },
        SessionForm {
            time_zone: me.user.time_zone.clone(),
            capacity: "12".into(),
            start: "18:00".into(),
            end: "20:00".into(),
            ..SessionForm::default()
        },
    )
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

pub async fn admin(
    State(state): State<AppState>,
    Staff(me): Staff,
    Page(c): Page,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let banner = match q.done.as_str() {
        "module" => Some(Banner::success(tr.t("training-module-added"), "")),
        "saved" => Some(Banner::success(tr.t("training-module-saved"), "")),
        "session" => Some(Banner::success(tr.t("training-session-scheduled"), "")),
        _ => None,
    };
    let forms = blank_forms(&me);
    admin_page(&state, c, &me, banner, forms, vec![]).await
}

#[derive(Deserialize)]
pub struct ModuleFormInput {
    #[serde(default)]
    title_en: String,
    #[serde(default)]
    title_es: String,
    #[serde(default)]
    description_en: String,
    #[serde(default)]
    description_es: String,
    #[serde(default)]
    position: String,
    #[serde(default)]
    required: String,
    #[serde(default)]
    completion: String,
    #[serde(default)]
    validity_months: String,
    #[serde(default)]
    renewal_window_days: String,
    #[serde(default)]
    retired: String,
}

/// Checks a module form; the values as typed, and the input if valid.
fn parse_module(tr: Tr, f: &ModuleFormInput, errors: &mut Vec<FieldError>) -> (ModuleForm, Option<ModuleInput>) {
    let typed = ModuleForm {
        title_en: f.title_en.trim().to_owned(),
        title_es: f.title_es.trim().to_owned(),
        description_en: f.description_en.replace("\r\n", "\n").trim().to_owned(),
        description_es: f.description_es.replace("\r\n", "\n").trim().to_owned(),
        position: f.position.trim().to_owned(),
        required: f.required == "on",
        completion: f.completion.clone(),
        validity_months: f.validity_months.trim().to_owned(),
        renewal_window_days: f.renewal_window_days.trim().to_owned(),
        retired: f.retired == "on",
    };
    let before = errors.len();
    let one_line = |s: &str, max: usize| s.chars().count() <= max && !s.chars().any(char::is_control);
    if typed.title_en.is_empty() || !one_line(&typed.title_en, 120) {
        errors.push(FieldError { field: "title_en", message: tr.t("error-module-title") });
    }
    if !one_line(&typed.title_es, 120) {
        errors.push(FieldError { field: "title_es", message: tr.t("error-module-title") });
    }
    for (field, d) in [("description_en", &typed.description_en), ("description_es", &typed.description_es)] {
        if d.chars().count() > 2000 {
            errors.push(FieldError { field, message: tr.t("error-description") });
        }
    }
    let position = if typed.position.is_empty() {
        Some(0)
    } else {
        typed.position.parse::<i64>().ok().filter(|p| p.abs() < 1_000_000)
    };
    if position.is_none() {
        errors.push(FieldError { field: "position", message: tr.t("error-module-position") });
    }
    let completion = Completion::parse(&typed.completion);
    if completion.is_none() {
        errors.push(FieldError { field: "completion", message: tr.t("error-module-completion") });
    }
    let validity = if typed.validity_months.is_empty() {
        Some(None)
    } else {
        typed.validity_months.parse::<u32>().ok().filter(|m| (1..=120).contains(m)).map(Some)
    };
    if validity.is_none() {
        errors.push(FieldError { field: "validity_months", message: tr.t("error-module-validity") });
    }
    let window = if typed.renewal_window_days.is_empty() {
        Some(30)
    } else {
        typed.renewal_window_days.parse::<u32>().ok().filter(|d| *d <= 365)
    };
    if window.is_none() {
        errors.push(FieldError { field: "renewal_window_days", message: tr.t("error-module-window") });
    }
    let input = match (position, completion, validity, window) {
        (Some(position), Some(completion), Some(validity_months), Some(renewal_window_days))
            if errors.len() == before =>
        {
            Some(ModuleInput {
                title_en: typed.title_en.clone(),
                title_es: typed.title_es.clone(),
                description_en: typed.description_en.clone(),
                description_es: typed.description_es.clone(),
                position,
                required: typed.required,
                completion,
                validity_months,
                renewal_window_days,
                retired: typed.retired,
            })
        }
        _ => None,
    };
    (typed, input)
}

pub async fn create_module(
    State(state): State<AppState>,
    Staff(me): Staff,
    Page(c): Page,
    Form(f): Form<ModuleFormInput>,
) -> Result<Response, AppError> {
    let mut errors = Vec::new();
    let (typed, input) = parse_module(c.tr, &f, &mut errors);
    let Some(input) = input else {
        let forms = (typed, blank_forms(&me).1);
        return admin_page(&state, c, &me, None, forms, errors).await;
    };
    let now = Timestamp::now();
    let id = new_id(now);
    let event = AuditEvent::new(Some(&me.user.id), Action::ModuleCreate, &id);
    state.store.create_module(id, input, event, now).await?;
    Ok(Redirect::to("/admin/training?done=module").into_response())
}

async fn module_by_id(state: &AppState, id: &str) -> Result<Module, AppError> {
    let id = Id::parse(id).ok_or(AppError::NotFound)?;
    state.store.modules().await?.into_iter().find(|m| m.id == id).ok_or(AppError::NotFound)
}

fn module_page(c: Chrome, m: &Module, form: ModuleForm, errors: Vec<FieldError>) -> Result<Response, AppError> {
    let tr = c.tr;
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    html(
        status,
        ModulePage {
            crumbs: vec![Link::new("/", tr.t("nav-home")), Link::new("/admin/training", tr.t("training-admin-title"))],
            id: m.id.to_string(),
            title: m.title(tr.lang().code()).to_owned(),
            module_form: form,
            completions: completions(tr),
            errors,
            c,
        },
    )
}

pub async fn module(
    State(state): State<AppState>,
    Staff(_): Staff,
    Page(c): Page,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let m = module_by_id(&state, &id).await?;
    module_page(c, &m, module_form(&m), vec![])
}

pub async fn update_module(
    State(state): State<AppState>,
    Staff(me): Staff,
    Page(c): Page,
    Path(id): Path<String>,
    Form(f): Form<ModuleFormInput>,
) -> Result<Response, AppError> {
    let m = module_by_id(&state, &id).await?;
    let mut errors = Vec::new();
    let (typed, input) = parse_module(c.tr, &f, &mut errors);
    let Some(input) = input else { return module_page(c, &m, typed, errors) };
    let event = AuditEvent::new(Some(&me.user.id), Action::ModuleUpdate, &m.id);
    state.store.update_module(&m.id, input, event, Timestamp::now()).await?;
    Ok(Redirect::to("/admin/training?done=saved").into_response())
}

#[derive(Deserialize)]
pub struct SessionFormInput {
    #[serde(default)]
    module: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    capacity: String,
    #[serde(default)]
    video_link: String,
    #[serde(default)]
    trainer: String,
}

/// A wall-clock time in a zone as an instant; `None` if it does not exist.
fn instant(date: Date, time: Time, zone: &TimeZone) -> Option<Timestamp> {
    date.to_datetime(time).to_zoned(zone.clone()).ok().map(|z| z.timestamp())
}

/// A meeting link: one line of https, at most 500 characters.
fn video_link_ok(s: &str) -> bool {
    s.starts_with("https://")
        && s.len() > 8
        && s.len() <= 500
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A session to schedule, its times already read.
pub(crate) struct SessionInput {
    pub module: String,
    pub times: Option<(Timestamp, Timestamp)>,
    pub time_zone: String,
    pub capacity: Option<u32>,
    pub video_link: String,
    pub trainer: String,
}

/// Checks and schedules a session (the web's and the API's one path):
/// the session's id, or the problems, field by field.
pub(crate) async fn schedule_core(
    state: &AppState,
    me: &User,
    tr: Tr,
    input: SessionInput,
    mut errors: Vec<FieldError>,
) -> Result<Result<Id, Vec<FieldError>>, AppError> {
    let modules = state.store.modules().await?;
    let module = Id::parse(&input.module)
        .and_then(|id| modules.iter().find(|m| m.id == id && !m.retired && m.completion == Completion::Session));
    if module.is_none() {
        errors.push(FieldError { field: "module", message: tr.t("error-session-module") });
    }
    if TimeZone::get(&input.time_zone).is_err() {
        errors.push(FieldError { field: "time_zone", message: tr.t("error-time-zone") });
    }
    if input.capacity.is_none_or(|c| !(1..=500).contains(&c)) {
        errors.push(FieldError { field: "capacity", message: tr.t("error-session-capacity") });
    }
    if !input.video_link.is_empty() && !video_link_ok(&input.video_link) {
        errors.push(FieldError { field: "video_link", message: tr.t("error-session-link") });
    }
    let trainer = if input.trainer.is_empty() {
        Some(None)
    } else {
        let id = Id::parse(&input.trainer);
        let known = match &id {
            Some(id) => state.store.user_by_id(id).await?.is_some_and(|u| crate::clearance::in_use(&u)),
            None => false,
        };
        known.then_some(id)
    };
    if trainer.is_none() {
        errors.push(FieldError { field: "trainer", message: tr.t("error-session-trainer") });
    }
    if let Some((s, e)) = input.times {
        if s <= Timestamp::now() {
            errors.push(FieldError { field: "date", message: tr.t("error-session-past") });
        } else if e <= s {
            errors.push(FieldError { field: "end", message: tr.t("error-session-end") });
        }
    }
    let (Some(module), Some((starts_at, ends_at)), Some(capacity), Some(trainer)) =
        (module, input.times, input.capacity, trainer)
    else {
        return Ok(Err(errors));
    };
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let now = Timestamp::now();
    let id = new_id(now);
    let video_link =
        (!input.video_link.is_empty()).then(|| state.vault.seal(video_context(&id), input.video_link.as_bytes()));
    let s = NewTrainingSession {
        id: id.clone(),
        module_id: module.id.clone(),
        starts_at,
        ends_at,
        time_zone: input.time_zone,
        capacity,
        video_link,
        trainer_id: trainer,
    };
    state.store.schedule_session(s, AuditEvent::new(Some(&me.id), Action::SessionSchedule, &id), now).await?;
    Ok(Ok(id))
}

pub async fn schedule(
    State(state): State<AppState>,
    Staff(me): Staff,
    Page(c): Page,
    Form(f): Form<SessionFormInput>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let typed = SessionForm {
        module: f.module.clone(),
        date: f.date.trim().to_owned(),
        start: f.start.trim().to_owned(),
        end: f.end.trim().to_owned(),
        time_zone: f.time_zone.clone(),
        capacity: f.capacity.trim().to_owned(),
        video_link: f.video_link.trim().to_owned(),
        trainer: f.trainer.clone(),
    };
    let mut errors = Vec::new();
    let date: Option<Date> = typed.date.parse().ok();
    if date.is_none() {
        errors.push(FieldError { field: "date", message: tr.t("error-session-date") });
    }
    let start: Option<Time> = typed.start.parse().ok();
    if start.is_none() {
        errors.push(FieldError { field: "start", message: tr.t("error-session-start") });
    }
    let end: Option<Time> = typed.end.parse().ok();
    if end.is_none() || matches!((start, end), (Some(s), Some(e)) if e <= s) {
        errors.push(FieldError { field: "end", message: tr.t("error-session-end") });
    }
    let zone = TimeZone::get(&typed.time_zone).ok();
    let times = match (date, start, end, &zone) {
        (Some(d), Some(s), Some(e), Some(z)) if e > s => instant(d, s, z).zip(instant(d, e, z)),
        _ => None,
    };
    let input = SessionInput {
        module: typed.module.clone(),
        times,
        time_zone: typed.time_zone.clone(),
        capacity: typed.capacity.parse().ok(),
        video_link: typed.video_link.clone(),
        trainer: typed.trainer.clone(),
    };
    match schedule_core(&state, &me.user, tr, input, errors).await? {
        Ok(_) => Ok(Redirect::to("/admin/training?done=session#schedule").into_response()),
        Err(errors) => {
            let forms = (blank_forms(&me).0, typed);
            admin_page(&state, c, &me, None, forms, errors).await
        }
    }
}

/// The volunteer's own page: the series with where they stand, upcoming
/// sessions, and whether they are cleared (naming what is missing).
pub async fn mine(
    State(state): State<AppState>,
    Member(me): Member,
    Page(c): Page,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let banner = match q.done.as_str() {
        "paused" => Some(Banner::success(tr.t("break-paused-done"), "")),
        "back" => Some(Banner::success(tr.t("break-back-done"), "")),
        _ => None,
    };
    mine_with(&state, c, &me, banner, String::new(), vec![]).await
}

/// The volunteer's page, with a banner or the break form's errors.
pub(crate) async fn mine_with(
    state: &AppState,
    c: Chrome,
    me: &Signed,
    banner: Option<Banner>,
    typed_until: String,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let lang = tr.lang().code();
    let zone = format::zone_of(&me.user);
    let modules = state.store.modules().await?;
    let held = state.store.qualifications_of(&me.user.id).await?;
    let today = crate::clearance::today_for(&me.user, Timestamp::now());
    let standing = state.store.standing(&me.user.id).await?;
    let clearance = crate::clearance::evaluate(&me.user, standing, &modules, &held, today, lang);
    let rows = modules
        .iter()
        .filter(|m| !m.retired)
        .map(|m| {
            let mine: Vec<_> = held.iter().filter(|q| q.module_id == m.id).collect();
            // The longest-lasting valid one: forever beats any date.
            let valid: Vec<_> = mine.iter().filter(|q| q.held().valid_on(today)).collect();
            let current = if valid.is_empty() {
                None
            } else if valid.iter().any(|q| q.expires_on.is_none()) {
                Some(None)
            } else {
                Some(valid.iter().filter_map(|q| q.expires_on).max())
            };
            let tag = match current {
                Some(None) => (Tag::new(tr.t("qualification-held"), "ok"), String::new()),
                Some(Some(until)) => (
                    Tag::new(tr.t("qualification-held"), "ok"),
                    tr.t_with("qualification-until", &[("date", &until.to_string())]),
                ),
                None if !mine.is_empty() => (Tag::new(tr.t("qualification-expired"), "warn"), String::new()),
                None => (Tag::new(tr.t("qualification-todo"), if m.required { "info" } else { "off" }), String::new()),
            };
            ModuleRow {
                id: m.id.to_string(),
                title: m.title(lang).to_owned(),
                description: m.description(lang).to_owned(),
                required: m.required,
                completion: completion_label(tr, m.completion),
                validity: format!(
                    "{} · {}",
                    validity_label(tr, m),
                    tr.t(if m.required { "module-required" } else { "module-optional" })
                ),
                retired: false,
                mine: Some(tag),
            }
        })
        .collect();
    let signed: Vec<Id> = state.store.signups_of(&me.user.id).await?.into_iter().map(|s| s.session_id).collect();
    let names = crate::audit_log::Names::load(state).await?;
    let sessions = state
        .store
        .sessions_from(Timestamp::now())
        .await?
        .iter()
        .map(|s| session_row(tr, &zone, s, &modules, &names, signed.contains(&s.id)))
        .collect();
    let (kind, until) = match standing {
        kiteline_store::Standing::Active => ("active", typed_until),
        kiteline_store::Standing::Paused { until } => ("paused", until.to_string()),
        kiteline_store::Standing::Alumni => ("alumni", String::new()),
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    html(
        status,
        TrainingPage {
            banner,
            standing: kind,
            paused_until: until,
            errors,
            cleared: crate::clearance::tag(tr, &clearance),
            reasons: crate::clearance::reasons(tr, &clearance),
            modules: rows,
            sessions,
            zone: format::zone_name(&zone),
            c,
        },
    )
}

pub(crate) async fn session_by_id(state: &AppState, id: &str) -> Result<TrainingSession, AppError> {
    let id = Id::parse(id).ok_or(AppError::NotFound)?;
    state.store.training_session(&id).await?.ok_or(AppError::NotFound)
}

/// Attendance can be taken from this long before a session starts (a
/// trainer takes the roll as people arrive).
pub(crate) const MARK_FROM: jiff::SignedDuration = jiff::SignedDuration::from_mins(15);

/// Whether attendance can be marked now.
fn markable(s: &TrainingSession, now: Timestamp) -> bool {
    now >= s.starts_at - MARK_FROM
}

/// A trainer of this session, or a coordinator or admin.
fn can_mark(me: &User, s: &TrainingSession) -> bool {
    me.role >= Role::Coordinator || s.trainer_id.as_ref() == Some(&me.id)
}

async fn session_page(
    state: &AppState,
    c: Chrome,
    me: &Signed,
    s: &TrainingSession,
    banner: Option<Banner>,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let lang = tr.lang().code();
    let zone = format::zone_of(&me.user);
    let modules = state.store.modules().await?;
    let module = modules.iter().find(|m| m.id == s.module_id);
    let signups = state.store.signups(&s.id).await?;
    let mine = signups.iter().find(|x| x.user_id == me.user.id);
    let names = crate::audit_log::Names::load(state).await?;
    let now = Timestamp::now();
    let started = now >= s.starts_at;
    let marker = can_mark(&me.user, s);
    let can_mark_now = markable(s, now);
    let video_link = match (&s.video_link, mine.is_some() || marker) {
        (Some(sealed), true) => Some(
            String::from_utf8_lossy(
                &state
                    .vault
                    .open(video_context(&s.id), sealed)
                    .map_err(|e| AppError::Internal(format!("link: {e}")))?,
            )
            .into_owned(),
        ),
        _ => None,
    };
    let session_zone = TimeZone::get(&s.time_zone).unwrap_or(TimeZone::UTC);
    let mut details = vec![
        SummaryRow::new(
            tr.t("session-when"),
            format!("{} – {}", format::moment(s.starts_at, &zone, tr).text, format::moment(s.ends_at, &zone, tr).text),
        ),
        SummaryRow::new(
            tr.t("session-zone"),
            format!("{} ({})", s.time_zone, format::moment(s.starts_at, &session_zone, tr).text),
        ),
        SummaryRow::new(
            tr.t("session-seats"),
            tr.t_with(
                "session-seats-left",
                &[("left", &s.capacity.saturating_sub(s.signed_up).to_string()), ("capacity", &s.capacity.to_string())],
            ),
        ),
    ];
    if let Some(t) = s.trainer_id.as_ref().and_then(|t| names.user(t.as_str())) {
        details.push(SummaryRow::new(tr.t("session-trainer"), t.to_owned()));
    }
    let roster = if marker {
        signups
            .iter()
            .map(|x| RosterRow {
                user_id: x.user_id.to_string(),
                name: names.user(x.user_id.as_str()).unwrap_or("?").to_owned(),
                attended: match x.attended {
                    Some(true) => "present",
                    Some(false) => "absent",
                    None => "",
                },
            })
            .collect()
    } else {
        vec![]
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    html(
        status,
        SessionPage {
            crumbs: vec![Link::new("/", tr.t("nav-home")), Link::new("/training", tr.t("training-title"))],
            banner,
            id: s.id.to_string(),
            module: module.map(|m| m.title(lang).to_owned()).unwrap_or_default(),
            description: module.map(|m| m.description(lang).to_owned()).unwrap_or_default(),
            details,
            video_link,
            signed_up: mine.is_some(),
            can_sign_up: mine.is_none() && !started && s.signed_up < s.capacity,
            can_leave: mine.is_some_and(|x| x.attended.is_none()) && !started,
            can_mark: marker,
            started: can_mark_now,
            roster,
            errors,
            c,
        },
    )
}

pub async fn session(
    State(state): State<AppState>,
    Member(me): Member,
    Page(c): Page,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let s = session_by_id(&state, &id).await?;
    let banner = match q.done.as_str() {
        "signed-up" => Some(Banner::success(tr.t("session-signed-up-done"), "")),
        "left" => Some(Banner::success(tr.t("session-left-done"), "")),
        "marked" => Some(Banner::success(tr.t("session-marked-done"), "")),
        _ => None,
    };
    session_page(&state, c, &me, &s, banner, vec![]).await
}

fn to_session(s: &TrainingSession, done: &str) -> Response {
    Redirect::to(&format!("/training/sessions/{}?done={done}", s.id)).into_response()
}

pub async fn sign_up(
    State(state): State<AppState>,
    Member(me): Member,
    Page(c): Page,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let s = session_by_id(&state, &id).await?;
    let refuse = |key: &str| vec![FieldError { field: "main", message: tr.t(key) }];
    let now = Timestamp::now();
    if now >= s.starts_at {
        return session_page(&state, c, &me, &s, None, refuse("error-session-started")).await;
    }
    let event = AuditEvent::new(Some(&me.user.id), Action::SessionSignUp, &s.id);
    match state.store.sign_up(&s.id, &me.user.id, event, now).await {
        Ok(()) => Ok(to_session(&s, "signed-up")),
        Err(StoreError::Conflict(Constraint::SessionFull)) => {
            let s = session_by_id(&state, &id).await?;
            session_page(&state, c, &me, &s, None, refuse("error-session-full")).await
        }
        Err(StoreError::Conflict(Constraint::SignUp)) => {
            session_page(&state, c, &me, &s, None, refuse("error-session-already")).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn leave(
    State(state): State<AppState>,
    Member(me): Member,
    Page(c): Page,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let s = session_by_id(&state, &id).await?;
    let now = Timestamp::now();
    if now >= s.starts_at {
        let errors = vec![FieldError { field: "main", message: tr.t("error-session-started") }];
        return session_page(&state, c, &me, &s, None, errors).await;
    }
    let event = AuditEvent::new(Some(&me.user.id), Action::SessionLeave, &s.id);
    match state.store.leave_session(&s.id, &me.user.id, event, now).await {
        Ok(()) => Ok(to_session(&s, "left")),
        Err(StoreError::NotFound) => {
            let errors = vec![FieldError { field: "main", message: tr.t("error-session-marked") }];
            session_page(&state, c, &me, &s, None, errors).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The qualification attendance at `s` grants `user`, if the module is
/// completed by attending.
pub(crate) fn grant_for(
    module: &Module,
    held: &[kiteline_store::Qualification],
    user: &Id,
    s: &TrainingSession,
    granted_by: &Id,
    now: Timestamp,
) -> NewQualification {
    let zone = TimeZone::get(&s.time_zone).unwrap_or(TimeZone::UTC);
    let day = s.starts_at.to_zoned(zone).date();
    let mine: Vec<_> =
        held.iter().filter(|q| &q.user_id == user && q.module_id == module.id).map(|q| q.held()).collect();
    let g = volunteer::grant(&module.rule("en"), &mine, day);
    NewQualification {
        id: new_id(now),
        user_id: user.clone(),
        module_id: module.id.clone(),
        starts_on: g.starts_on,
        expires_on: g.expires_on,
        source: Completion::Session,
        session_id: Some(s.id.clone()),
        granted_by: Some(granted_by.clone()),
    }
}

/// Why attendance was not marked.
pub(crate) enum MarkFail {
    NotAllowed,
    TooEarly,
    /// Someone marked is not signed up, or nothing was marked.
    Unknown,
}

/// Marks attendance (the web's and the API's one path): only the
/// session's trainer or a coordinator, once it has started. Those present
/// gain the module, once per session.
pub(crate) async fn attendance_core(
    state: &AppState,
    me: &User,
    s: &TrainingSession,
    marks: Vec<(Id, bool)>,
) -> Result<Result<(), MarkFail>, AppError> {
    if !can_mark(me, s) {
        return Ok(Err(MarkFail::NotAllowed));
    }
    let now = Timestamp::now();
    if !markable(s, now) {
        return Ok(Err(MarkFail::TooEarly));
    }
    let signups = state.store.signups(&s.id).await?;
    if marks.is_empty() || marks.iter().any(|(u, _)| !signups.iter().any(|x| &x.user_id == u)) {
        return Ok(Err(MarkFail::Unknown));
    }
    let modules = state.store.modules().await?;
    let module = modules.iter().find(|m| m.id == s.module_id).ok_or(AppError::NotFound)?;
    let held = state.store.all_qualifications().await?;
    let grants = marks
        .iter()
        .filter(|(_, present)| *present)
        .filter(|(u, _)| !held.iter().any(|q| &q.user_id == u && q.session_id.as_ref() == Some(&s.id)))
        .filter(|_| module.completion == Completion::Session)
        .map(|(u, _)| grant_for(module, &held, u, s, &me.id, now))
        .collect();
    let event = AuditEvent::new(Some(&me.id), Action::AttendanceMark, &s.id);
    state.store.mark_attendance(&s.id, marks, &me.id, grants, event, now).await?;
    Ok(Ok(()))
}

pub async fn attendance(
    State(state): State<AppState>,
    Member(me): Member,
    Page(c): Page,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let s = session_by_id(&state, &id).await?;
    if !can_mark(&me.user, &s) {
        return Err(AppError::Forbidden);
    }
    let signups = state.store.signups(&s.id).await?;
    let mut marks = Vec::new();
    for x in &signups {
        match fields.iter().find(|(k, _)| k == &format!("att-{}", x.user_id)).map(|(_, v)| v.as_str()) {
            Some("present") => marks.push((x.user_id.clone(), true)),
            Some("absent") => marks.push((x.user_id.clone(), false)),
            None | Some("") => {}
            Some(_) => return Err(AppError::BadRequest),
        }
    }
    match attendance_core(&state, &me.user, &s, marks).await? {
        Ok(()) => Ok(to_session(&s, "marked")),
        Err(MarkFail::NotAllowed) => Err(AppError::Forbidden),
        Err(MarkFail::TooEarly) => {
            let errors = vec![FieldError { field: "main", message: tr.t("session-mark-later") }];
            session_page(&state, c, &me, &s, None, errors).await
        }
        Err(MarkFail::Unknown) => {
            let errors = vec![FieldError { field: "main", message: tr.t("error-attendance") }];
            session_page(&state, c, &me, &s, None, errors).await
        }
    }
}
