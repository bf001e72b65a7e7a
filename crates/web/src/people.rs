//! People: the list (sortable, paginated, filtered by status), one
//! person's page with what the viewer may do about them, invitations (and
//! sending one again), role changes, disabling with a confirmation step,
//! and resetting a lost second factor.
//!
//! Actions answer with a redirect to the person's page (post, redirect,
//! get), so reloading does not repeat them and the language switch has a
//! page to return to; `?done=` names the banner to show (a message id from
//! a fixed list, never data).

use std::cmp::Ordering;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use kiteline_core::{EmailAddress, Role, account};
use kiteline_store::{Action, AuditEvent, Constraint, Id, NewUser, StoreError, User};
use kiteline_templates::pages::{
    Banner, Chrome, Column, ConfirmPage, FieldError, Link, Pager, PersonPage, SummaryRow, Tag, UserRow, UsersPage,
};
use kiteline_templates::{Lang, Tr};
use serde::Deserialize;

use crate::AppState;
use crate::auth::checked_code;
use crate::error::AppError;
use crate::format;
use crate::routes::{html, parse_their_name};
use crate::security::{Admin, ClientNet, Page, Signed, Staff};

/// Whether `me` may see and manage `target` (the chapter-scope rule is `core`'s).
pub(crate) fn in_scope(state: &AppState, me: &User, target: &User) -> bool {
    target.id == me.id
        || account::manages(
            me.role,
            me.chapter_id.as_ref(),
            target.role,
            target.chapter_id.as_ref(),
            state.config.chapter_coordinators_see_at_large,
        )
}

/// The people `me` may see.
pub(crate) async fn visible(state: &AppState, me: &User) -> Result<Vec<User>, AppError> {
    Ok(state.store.list_users().await?.into_iter().filter(|u| in_scope(state, me, u)).collect())
}

const PAGE_SIZE: usize = 50;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    sort: String,
    #[serde(default)]
    dir: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    page: Option<usize>,
    #[serde(default)]
    done: String,
}

/// Columns the list sorts by: (key, heading message).
const SORTS: [(&str, &str); 6] = [
    ("name", "field-their-name"),
    ("email", "field-email"),
    ("role", "users-role"),
    ("chapter", "users-chapter"),
    ("status", "users-status"),
    ("added", "users-added"),
];

fn status_rank(u: &User) -> u8 {
    if u.disabled_at.is_some() {
        2
    } else if u.has_password {
        0
    } else {
        1
    }
}

fn status_key(u: &User) -> &'static str {
    ["active", "invited", "disabled"][status_rank(u) as usize]
}

struct Invite {
    name: String,
    email: String,
    role: String,
    chapter: String,
    lang: String,
}

impl Default for Invite {
    fn default() -> Invite {
        Invite {
            name: String::new(),
            email: String::new(),
            role: "volunteer".into(),
            chapter: String::new(),
            lang: "en".into(),
        }
    }
}

async fn list_page(
    state: &AppState,
    c: Chrome,
    me: &Signed,
    q: &ListQuery,
    invite: Invite,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let zone = format::zone_of(&me.user);
    let chapters = state.store.chapters().await?;
    let chapter_of = |u: &User| {
        u.chapter_id
            .as_ref()
            .and_then(|id| chapters.iter().find(|c| &c.id == id).map(|c| c.name.clone()))
            .unwrap_or_else(|| tr.t("users-at-large"))
    };
    let mut people = visible(state, &me.user).await?;
    if ["active", "invited", "disabled"].contains(&q.status.as_str()) {
        people.retain(|u| status_key(u) == q.status);
    }
    let sort = SORTS.iter().find(|(k, _)| *k == q.sort).map_or("name", |(k, _)| k);
    let descending = q.dir == "desc";
    let by = |a: &User, b: &User| -> Ordering {
        match sort {
            "email" => a.email.cmp(&b.email),
            "role" => a.role.cmp(&b.role),
            "chapter" => chapter_of(a).to_lowercase().cmp(&chapter_of(b).to_lowercase()),
            "status" => status_rank(a).cmp(&status_rank(b)),
            "added" => a.created_at.cmp(&b.created_at),
            _ => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
        }
    };
    people.sort_by(|a, b| {
        let o = by(a, b).then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()));
        if descending { o.reverse() } else { o }
    });
    let total = people.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = q.page.unwrap_or(1).clamp(1, pages);
    let href = |sort: &str, dir: &str, page: usize| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.append_pair("sort", sort);
        if dir == "desc" {
            s.append_pair("dir", "desc");
        }
        if !q.status.is_empty() {
            s.append_pair("status", &q.status);
        }
        if page > 1 {
            s.append_pair("page", &page.to_string());
        }
        format!("/admin/users?{}", s.finish())
    };
    let columns = SORTS
        .iter()
        .map(|(key, label)| {
            let current = *key == sort;
            let dir = if current && !descending { "desc" } else { "asc" };
            Column {
                label: tr.t(label),
                href: Some(href(key, dir, 1)),
                sort: current.then_some(if descending { "descending" } else { "ascending" }),
            }
        })
        .collect();
    let dir = if descending { "desc" } else { "asc" };
    let pager = Pager {
        page: page as u32,
        pages: pages as u32,
        prev: (page > 1).then(|| href(sort, dir, page - 1)),
        next: (page < pages).then(|| href(sort, dir, page + 1)),
    };
    let users = people
        .iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(|u| UserRow {
            id: u.id.to_string(),
            name: u.name.clone(),
            email: u.email.clone(),
            role: format::role(tr, u.role),
            chapter: chapter_of(u),
            status: format::account_status(tr, u),
            two_step: u.totp_enabled,
            added: format::moment(u.created_at, &zone, tr),
        })
        .collect();
    let invite_roles = account::invitable_roles(me.user.role)
        .iter()
        .map(|r| (r.as_str(), format::role(tr, *r), r.as_str() == invite.role))
        .collect();
    let chapters = chapters
        .iter()
        .filter(|c| me.user.chapter_id.is_none() || me.user.chapter_id.as_ref() == Some(&c.id))
        .map(|c| (c.id.to_string(), c.name.clone(), c.id.as_str() == invite.chapter))
        .collect();
    let banner = match q.done.as_str() {
        "enabled" => Some(Banner::success(tr.t("users-enabled"), "")),
        _ => None,
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    html(
        status,
        UsersPage {
            c,
            banner,
            columns,
            users,
            pager,
            total,
            chapters,
            invite_roles,
            invite_name: invite.name,
            invite_email: invite.email,
            invite_lang: invite.lang,
            errors,
        },
    )
}

pub async fn list(
    State(state): State<AppState>,
    Staff(me): Staff,
    Page(c): Page,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    // An invitation is in the inviter's language unless they choose another.
    let invite = Invite { lang: c.tr.lang().code().to_owned(), ..Invite::default() };
    list_page(&state, c, &me, &q, invite, vec![]).await
}

#[derive(Deserialize)]
pub struct InviteForm {
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
    Page(c): Page,
    Form(form): Form<InviteForm>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let mut errors = Vec::new();
    let name = parse_their_name(tr, &form.name, &mut errors);
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
    let lang = Lang::from_tag(&form.lang).unwrap_or(Lang::En);
    let keep = Invite {
        name: name.clone(),
        email: form.email.trim().to_owned(),
        role: form.role.clone(),
        chapter: form.chapter.clone(),
        lang: lang.code().to_owned(),
    };
    let q = ListQuery::default();
    let (Some(email), Some(role)) = (email, role) else { return list_page(&state, c, &me, &q, keep, errors).await };
    if !errors.is_empty() {
        return list_page(&state, c, &me, &q, keep, errors).await;
    }
    let user = NewUser { email, name, role, locale: lang.code().into(), chapter_id: chapter };
    match crate::actions::invite(state.ctx(), &me.user, user, lang, Timestamp::now()).await {
        Ok(user) => Ok(Redirect::to(&format!("/admin/users/{}?done=invited", user.id)).into_response()),
        Err(crate::mail::QueueError::Store(StoreError::Conflict(Constraint::UserEmail))) => {
            let errors = vec![FieldError { field: "email", message: tr.t("error-email-taken") }];
            list_page(&state, c, &me, &q, keep, errors).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The person `id`, if `me` may see them.
async fn person_in_scope(state: &AppState, me: &Signed, id: &str) -> Result<User, AppError> {
    let id = Id::parse(id).ok_or(AppError::NotFound)?;
    let user = state.store.user_by_id(&id).await?.ok_or(AppError::NotFound)?;
    if !in_scope(state, &me.user, &user) {
        return Err(AppError::NotFound);
    }
    Ok(user)
}

fn crumbs(tr: Tr, user: Option<&User>) -> Vec<Link> {
    let mut links = vec![Link::new("/", tr.t("nav-home")), Link::new("/admin/users", tr.t("users-title"))];
    if let Some(u) = user {
        links.push(Link::new(format!("/admin/users/{}", u.id), u.name.clone()));
    }
    links
}

/// The banner a `?done=` names, for this person.
fn done_banner(state: &AppState, tr: Tr, done: &str) -> Option<Banner> {
    Some(match done {
        "invited" if state.config.mail_sent => Banner::success(tr.t("users-invited-title"), ""),
        "invited" => Banner::warning(tr.t("users-invited-folder"), tr.t("users-invited-folder-text")),
        "resent" if state.config.mail_sent => Banner::success(tr.t("users-resent"), ""),
        "resent" => Banner::warning(tr.t("users-resent"), tr.t("users-invited-folder-text")),
        "role" => Banner::success(tr.t("users-role-changed"), ""),
        "disabled" => Banner::success(tr.t("users-disabled"), ""),
        "enabled" => Banner::success(tr.t("users-enabled"), ""),
        "2fa-reset" => Banner::success(tr.t("users-2fa-reset"), ""),
        _ => return None,
    })
}

async fn person_page(
    state: &AppState,
    c: Chrome,
    me: &Signed,
    user: &User,
    banner: Option<Banner>,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let zone = format::zone_of(&me.user);
    let chapter = match &user.chapter_id {
        None => tr.t("users-at-large"),
        Some(id) => state.store.chapters().await?.into_iter().find(|c| &c.id == id).map(|c| c.name).unwrap_or_default(),
    };
    let mut details = vec![
        SummaryRow::new(tr.t("field-email"), user.email.clone()),
        SummaryRow::new(tr.t("users-role"), format::role(tr, user.role)),
        SummaryRow::new(tr.t("users-chapter"), chapter),
        SummaryRow::tagged(
            tr.t("twofa-title"),
            if user.totp_enabled { Tag::new(tr.t("status-on"), "ok") } else { Tag::new(tr.t("status-off"), "off") },
        ),
        SummaryRow::new(tr.t("field-their-locale"), if user.locale == "es" { "Español" } else { "English" }),
        SummaryRow::new(tr.t("users-added"), format::moment(user.created_at, &zone, tr).text),
        SummaryRow::new(tr.t("person-id"), user.id.to_string()),
    ];
    if !user.pronouns.is_empty() {
        details.insert(1, SummaryRow::new(tr.t("field-pronouns"), user.pronouns.clone()));
    }
    let is_admin = me.user.role == Role::Admin;
    let other = user.id != me.user.id;
    let recent = if is_admin {
        crate::audit_log::recent(state, vec![user.id.to_string()], 10, &me.user, tr).await?
    } else {
        vec![]
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    html(
        status,
        PersonPage {
            crumbs: crumbs(tr, None),
            banner,
            id: user.id.to_string(),
            name: user.name.clone(),
            status: format::account_status(tr, user),
            details,
            can_manage: is_admin && other,
            roles: [Role::Volunteer, Role::Coordinator, Role::Admin]
                .iter()
                .map(|r| (r.as_str(), format::role(tr, *r), *r == user.role))
                .collect(),
            disabled: user.disabled_at.is_some(),
            has_2fa: user.totp_enabled,
            can_resend: other && !user.has_password && user.disabled_at.is_none(),
            recent,
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

pub async fn person(
    State(state): State<AppState>,
    Staff(me): Staff,
    Page(c): Page,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let user = person_in_scope(&state, &me, &id).await?;
    let banner = done_banner(&state, c.tr, &q.done);
    person_page(&state, c, &me, &user, banner, vec![]).await
}

fn to_person(user: &User, done: &str) -> Response {
    Redirect::to(&format!("/admin/users/{}?done={done}", user.id)).into_response()
}

/// Sends an invitation again (staff, for people in their scope).
pub async fn resend(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let user = person_in_scope(&state, &me, &id).await?;
    if user.id == me.user.id {
        return Err(AppError::Forbidden);
    }
    match crate::actions::resend_invitation(state.ctx(), &me.user, &user, Timestamp::now()).await {
        Ok(()) => Ok(to_person(&user, "resent")),
        // They chose a password (or were disabled) meanwhile: nothing to resend.
        Err(crate::mail::QueueError::Store(StoreError::NotFound)) => Ok(to_person(&user, "")),
        Err(e) => Err(e.into()),
    }
}

/// Someone else in the admin's scope (admins act on others, not themselves).
async fn other(state: &AppState, me: &Signed, id: &str) -> Result<User, AppError> {
    let user = person_in_scope(state, me, id).await?;
    if user.id == me.user.id {
        return Err(AppError::Forbidden);
    }
    Ok(user)
}

#[derive(Deserialize)]
pub struct RoleChange {
    #[serde(default)]
    role: String,
    #[serde(default)]
    code: String,
}

/// Changing a role is sensitive: it asks for a fresh second-factor code.
pub async fn change_role(
    State(state): State<AppState>,
    Admin(me): Admin,
    Page(c): Page,
    ClientNet(net): ClientNet,
    Path(id): Path<String>,
    Form(form): Form<RoleChange>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let user = other(&state, &me, &id).await?;
    let role = Role::parse(&form.role).ok_or(AppError::BadRequest)?;
    if let Some(message) = crate::auth::code_format_problem(tr, &form.code) {
        return person_page(&state, c, &me, &user, None, vec![FieldError { field: "code", message }]).await;
    }
    if !checked_code(&state, &net, &me.user, &form.code, false).await? {
        let errors = vec![FieldError { field: "code", message: tr.t("error-code-invalid") }];
        return person_page(&state, c, &me, &user, None, errors).await;
    }
    let event = AuditEvent::new(Some(&me.user.id), Action::UserRoleChange, &user.id);
    state.store.set_role(&user.id, role, event, Timestamp::now()).await?;
    Ok(to_person(&user, "role"))
}

fn confirm_disable(tr: Tr, user: &User, c: Chrome) -> ConfirmPage {
    ConfirmPage {
        crumbs: crumbs(tr, Some(user)),
        title: tr.t_with("person-disable-title", &[("name", &user.name)]),
        text: tr.t("person-disable-text"),
        consequences: vec![tr.t("person-disable-tokens"), tr.t("person-disable-kept")],
        action: format!("/admin/users/{}/disable", user.id),
        button: tr.t("users-disable"),
        cancel: Link::new(format!("/admin/users/{}", user.id), tr.t("confirm-cancel")),
        needs_code: false,
        errors: vec![],
        c,
    }
}

/// The confirmation step before disabling.
pub async fn disable_confirm(
    State(state): State<AppState>,
    Admin(me): Admin,
    Page(c): Page,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let user = other(&state, &me, &id).await?;
    html(StatusCode::OK, confirm_disable(c.tr, &user, c))
}

async fn set_disabled(state: &AppState, me: &Signed, id: &str, disabled: bool) -> Result<Response, AppError> {
    let user = other(state, me, id).await?;
    let action = if disabled { Action::UserDisable } else { Action::UserEnable };
    let event = AuditEvent::new(Some(&me.user.id), action, &user.id);
    state.store.set_disabled(&user.id, disabled, event, Timestamp::now()).await?;
    Ok(to_person(&user, if disabled { "disabled" } else { "enabled" }))
}

pub async fn disable(
    State(state): State<AppState>,
    Admin(me): Admin,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    set_disabled(&state, &me, &id, true).await
}

pub async fn enable(
    State(state): State<AppState>,
    Admin(me): Admin,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    set_disabled(&state, &me, &id, false).await
}

fn confirm_reset(tr: Tr, user: &User, c: Chrome, errors: Vec<FieldError>) -> ConfirmPage {
    ConfirmPage {
        crumbs: crumbs(tr, Some(user)),
        title: tr.t_with("person-reset-title", &[("name", &user.name)]),
        text: tr.t("person-reset-text"),
        consequences: vec![],
        action: format!("/admin/users/{}/reset-2fa", user.id),
        button: tr.t("users-reset-2fa"),
        cancel: Link::new(format!("/admin/users/{}", user.id), tr.t("confirm-cancel")),
        needs_code: true,
        errors,
        c,
    }
}

pub async fn reset_confirm(
    State(state): State<AppState>,
    Admin(me): Admin,
    Page(c): Page,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let user = other(&state, &me, &id).await?;
    html(StatusCode::OK, confirm_reset(c.tr, &user, c, vec![]))
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
    Page(c): Page,
    ClientNet(net): ClientNet,
    Path(id): Path<String>,
    Form(form): Form<FreshCode>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let user = other(&state, &me, &id).await?;
    let problem = match crate::auth::code_format_problem(tr, &form.code) {
        Some(p) => Some(p),
        None if !checked_code(&state, &net, &me.user, &form.code, false).await? => Some(tr.t("error-code-invalid")),
        None => None,
    };
    if let Some(message) = problem {
        let page = confirm_reset(tr, &user, c, vec![FieldError { field: "code", message }]);
        return html(StatusCode::UNPROCESSABLE_ENTITY, page);
    }
    let event = AuditEvent::new(Some(&me.user.id), Action::UserTwoFactorReset, &user.id);
    state.store.reset_second_factor(&user.id, event, Timestamp::now()).await?;
    Ok(to_person(&user, "2fa-reset"))
}
