//! Coordinators' and admins' pages: people (invite, change role, disable),
//! chapters, and the audit log.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::{SignedDuration, Timestamp};
use kiteline_core::{EmailAddress, Role, account};
use kiteline_store::{Action, AuditEvent, AuditFilter, Constraint, Id, NewUser, StoreError, new_id};
use kiteline_templates::pages::{AuditPage, AuditRow, Chrome, FieldError, UserRow, UsersPage};
use kiteline_templates::{Lang, Tr};
use serde::Deserialize;

use crate::AppState;
use crate::auth::checked_code;
use crate::error::AppError;
use crate::routes::{html, parse_name};
use crate::security::{Admin, ClientNet, Signed, Staff};

/// Roles `who` may give in an invitation, as form values.
fn invitable(who: Role) -> Vec<&'static str> {
    account::invitable_roles(who).iter().map(|r| r.as_str()).collect()
}

async fn users_page(
    state: &AppState,
    c: Chrome,
    me: &Signed,
    notice: Option<String>,
    errors: Vec<FieldError>,
    invite: (String, String),
) -> Result<Response, AppError> {
    let tr = c.tr;
    let chapters = state.store.chapters().await?;
    let users = state
        .store
        .list_users()
        .await?
        .into_iter()
        .filter(|u| in_scope(state, me, u))
        .map(|u| {
            let mut status = if u.disabled_at.is_some() {
                tr.t("status-disabled")
            } else if u.has_password {
                tr.t("status-active")
            } else {
                tr.t("status-invited")
            };
            if u.totp_enabled {
                status = format!("{status}, {}", tr.t("status-2fa"));
            }
            UserRow {
                id: u.id.to_string(),
                name: u.name.clone(),
                email: u.email.clone(),
                role: u.role.as_str().to_owned(),
                role_code: u.role.as_str(),
                chapter: u
                    .chapter_id
                    .as_ref()
                    .and_then(|id| chapters.iter().find(|c| &c.id == id).map(|c| c.name.clone()))
                    .unwrap_or_else(|| tr.t("users-at-large")),
                status,
                disabled: u.disabled_at.is_some(),
                has_2fa: u.totp_enabled,
                is_self: u.id == me.user.id,
            }
        })
        .collect();
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    html(
        status,
        UsersPage {
            c,
            users,
            chapters: chapters
                .into_iter()
                .filter(|c| me.user.chapter_id.is_none() || me.user.chapter_id.as_ref() == Some(&c.id))
                .map(|c| (c.id.to_string(), c.name))
                .collect(),
            all_roles: vec!["volunteer", "coordinator", "admin"],
            invite_roles: invitable(me.user.role),
            is_admin: me.user.role == Role::Admin,
            invite_name: invite.0,
            invite_email: invite.1,
            notice,
            errors,
        },
    )
}

/// Whether `me` may see and manage `target` (the chapter-scope rule is `core`'s).
fn in_scope(state: &AppState, me: &Signed, target: &kiteline_store::User) -> bool {
    account::manages(
        me.user.role,
        me.user.chapter_id.as_ref(),
        target.role,
        target.chapter_id.as_ref(),
        state.config.chapter_coordinators_see_at_large,
    )
}

pub async fn users(
    State(state): State<AppState>,
    Staff(me): Staff,
    crate::security::Page(c): crate::security::Page,
) -> Result<Response, AppError> {
    users_page(&state, c, &me, None, vec![], Default::default()).await
}

#[derive(Deserialize)]
pub struct Invite {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    chapter: String,
    #[serde(default)]
    lang: String,
}

pub async fn invite(
    State(state): State<AppState>,
    Staff(me): Staff,
    crate::security::Page(c): crate::security::Page,
    Form(form): Form<Invite>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let mut errors = Vec::new();
    let name = parse_name(tr, &form.name, &mut errors);
    let email = EmailAddress::parse(&form.email);
    if email.is_none() {
        errors.push(FieldError { field: "email", message: tr.t("error-email-invalid") });
    }
    let role = Role::parse(&form.role).filter(|r| account::invitable_roles(me.user.role).contains(r));
    if role.is_none() {
        errors.push(FieldError { field: "role", message: tr.t("error-role") });
    }
    let chapter = if form.chapter.is_empty() {
        // A chapter's coordinator invites into that chapter only (or at
        // large, if the organization lets them manage at-large volunteers).
        if me.user.chapter_id.is_some() && !state.config.chapter_coordinators_see_at_large {
            errors.push(FieldError { field: "chapter", message: tr.t("error-chapter") });
        }
        None
    } else {
        let found = Id::parse(&form.chapter);
        let exists = match &found {
            Some(id) => state.store.chapters().await?.iter().any(|c| &c.id == id),
            None => false,
        };
        let mine = me.user.chapter_id.is_none() || me.user.chapter_id == found;
        if !exists || !mine {
            errors.push(FieldError { field: "chapter", message: tr.t("error-chapter") });
        }
        found
    };
    let keep = (name.clone(), form.email.trim().to_owned());
    let (Some(email), Some(role)) = (email, role) else { return users_page(&state, c, &me, None, errors, keep).await };
    if !errors.is_empty() {
        return users_page(&state, c, &me, None, errors, keep).await;
    }
    let lang = Lang::from_tag(&form.lang).unwrap_or(Lang::En);
    let user =
        NewUser { email: email.clone(), name: name.clone(), role, locale: lang.code().into(), chapter_id: chapter };
    match crate::actions::invite(state.ctx(), &me.user, user, lang, Timestamp::now()).await {
        Ok(_) => {}
        Err(crate::mail::QueueError::Store(StoreError::Conflict(Constraint::UserEmail))) => {
            let errors = vec![FieldError { field: "email", message: tr.t("error-email-taken") }];
            return users_page(&state, c, &me, None, errors, keep).await;
        }
        Err(e) => return Err(e.into()),
    }
    let notice = tr.t_with("users-invited", &[("email", email.as_str())]);
    users_page(&state, c, &me, Some(notice), vec![], Default::default()).await
}

#[derive(Deserialize)]
pub struct RoleChange {
    #[serde(default)]
    role: String,
    #[serde(default)]
    code: String,
}

fn target(id: &str, me: &Signed) -> Result<Id, AppError> {
    let id = Id::parse(id).ok_or(AppError::NotFound)?;
    if id == me.user.id {
        return Err(AppError::Forbidden);
    }
    Ok(id)
}

/// Changing a role is sensitive: it asks for a fresh second-factor code.
pub async fn change_role(
    State(state): State<AppState>,
    Admin(me): Admin,
    crate::security::Page(c): crate::security::Page,
    ClientNet(net): ClientNet,
    Path(id): Path<String>,
    Form(form): Form<RoleChange>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let id = target(&id, &me)?;
    let role = Role::parse(&form.role).ok_or(AppError::BadRequest)?;
    if !checked_code(&state, &net, &me.user, &form.code, false).await? {
        let errors = vec![FieldError { field: "code", message: tr.t("error-code-invalid") }];
        return users_page(&state, c, &me, None, errors, Default::default()).await;
    }
    let event = AuditEvent::new(Some(&me.user.id), Action::UserRoleChange, &id);
    state.store.set_role(&id, role, event, Timestamp::now()).await?;
    users_page(&state, c, &me, Some(tr.t("users-role-changed")), vec![], Default::default()).await
}

#[derive(Deserialize)]
pub struct FreshCode {
    #[serde(default)]
    code: String,
}

/// For someone who lost their authenticator and recovery codes: clears their
/// second factor and ends their sessions (they enrol again at next login).
/// Sensitive: asks for the admin's own fresh code.
pub async fn reset_second_factor(
    State(state): State<AppState>,
    Admin(me): Admin,
    crate::security::Page(c): crate::security::Page,
    ClientNet(net): ClientNet,
    Path(id): Path<String>,
    Form(form): Form<FreshCode>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let id = target(&id, &me)?;
    if !checked_code(&state, &net, &me.user, &form.code, false).await? {
        let errors = vec![FieldError { field: "code", message: tr.t("error-code-invalid") }];
        return users_page(&state, c, &me, None, errors, Default::default()).await;
    }
    let event = AuditEvent::new(Some(&me.user.id), Action::UserTwoFactorReset, &id);
    state.store.reset_second_factor(&id, event, Timestamp::now()).await?;
    users_page(&state, c, &me, Some(tr.t("users-2fa-reset")), vec![], Default::default()).await
}

async fn set_disabled(
    state: &AppState,
    me: &Signed,
    c: Chrome,
    id: &str,
    disabled: bool,
) -> Result<Response, AppError> {
    let tr: Tr = c.tr;
    let id = target(id, me)?;
    let action = if disabled { Action::UserDisable } else { Action::UserEnable };
    let event = AuditEvent::new(Some(&me.user.id), action, &id);
    state.store.set_disabled(&id, disabled, event, Timestamp::now()).await?;
    let notice = tr.t(if disabled { "users-disabled" } else { "users-enabled" });
    users_page(state, c, me, Some(notice), vec![], Default::default()).await
}

pub async fn disable(
    State(state): State<AppState>,
    Admin(me): Admin,
    crate::security::Page(c): crate::security::Page,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    set_disabled(&state, &me, c, &id, true).await
}

pub async fn enable(
    State(state): State<AppState>,
    Admin(me): Admin,
    crate::security::Page(c): crate::security::Page,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    set_disabled(&state, &me, c, &id, false).await
}

#[derive(Deserialize)]
pub struct NewChapter {
    #[serde(default)]
    name: String,
}

pub async fn add_chapter(
    State(state): State<AppState>,
    Admin(me): Admin,
    crate::security::Page(c): crate::security::Page,
    Form(form): Form<NewChapter>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let bad = || vec![FieldError { field: "chapter-name", message: tr.t("error-chapter-name") }];
    let Ok(name) = account::chapter_name(&form.name) else {
        return users_page(&state, c, &me, None, bad(), Default::default()).await;
    };
    let now = Timestamp::now();
    let id = new_id(now);
    let event = AuditEvent::new(Some(&me.user.id), Action::ChapterCreate, &id);
    match state.store.create_chapter(id, name, event, now).await {
        Ok(()) => users_page(&state, c, &me, Some(tr.t("chapters-added")), vec![], Default::default()).await,
        Err(StoreError::Conflict(Constraint::ChapterName)) => {
            users_page(&state, c, &me, None, bad(), Default::default()).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    object_type: String,
    #[serde(default)]
    object_id: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    before: Option<i64>,
}

fn day(s: &str) -> Result<Option<Timestamp>, ()> {
    if s.is_empty() {
        return Ok(None);
    }
    let date: jiff::civil::Date = s.parse().map_err(|_| ())?;
    date.to_zoned(jiff::tz::TimeZone::UTC).map(|z| Some(z.timestamp())).map_err(|_| ())
}

fn nonempty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

const AUDIT_PAGE: u32 = 100;

/// The audit log, newest first, with filters. Looking is itself audited.
pub async fn audit(
    State(state): State<AppState>,
    Admin(me): Admin,
    crate::security::Page(c): crate::security::Page,
    Query(q): Query<AuditQuery>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let mut errors = Vec::new();
    let since = day(&q.since).unwrap_or_else(|_| {
        errors.push(FieldError { field: "since", message: tr.t("error-date") });
        None
    });
    let until = day(&q.until).unwrap_or_else(|_| {
        errors.push(FieldError { field: "until", message: tr.t("error-date") });
        None
    });
    let filter = AuditFilter {
        actor: nonempty(&q.actor),
        action: nonempty(&q.action),
        object_type: nonempty(&q.object_type),
        object_id: nonempty(&q.object_id),
        since,
        until: until.map(|u| u + SignedDuration::from_hours(24)),
        before_seq: q.before,
        people: vec![],
        hide_views: false,
        limit: AUDIT_PAGE,
    };
    let entries = if errors.is_empty() { state.store.audit_entries(&filter).await? } else { vec![] };
    let now = Timestamp::now();
    state.store.append_audit(AuditEvent::new(Some(&me.user.id), Action::AuditView, ""), now).await?;
    let next_href = (entries.len() as u32 == AUDIT_PAGE).then(|| {
        let last = entries.last().map_or(0, |e| e.seq);
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("before", &last.to_string());
        for (k, v) in [
            ("actor", &q.actor),
            ("action", &q.action),
            ("object_type", &q.object_type),
            ("object_id", &q.object_id),
            ("since", &q.since),
            ("until", &q.until),
        ] {
            if !v.is_empty() {
                query.append_pair(k, v);
            }
        }
        format!("/admin/audit?{}", query.finish())
    });
    let rows = entries
        .into_iter()
        .map(|e| AuditRow {
            seq: e.seq,
            at: Timestamp::from_microsecond(e.at_micros)
                .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
            actor: e.actor,
            action: e.action,
            object_type: e.object_type,
            object_id: e.object_id,
        })
        .collect();
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    html(
        status,
        AuditPage {
            c,
            entries: rows,
            f_actor: q.actor,
            f_action: q.action,
            f_object_type: q.object_type,
            f_object_id: q.object_id,
            f_since: q.since,
            f_until: q.until,
            next_href,
            errors,
        },
    )
}
