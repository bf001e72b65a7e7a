//! Chapters: listed with how many people each has, added, renamed, and
//! removed once empty (with a confirmation step). Admins only.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use kiteline_core::account;
use kiteline_store::{Action, AuditEvent, Constraint, Id, StoreError, new_id};
use kiteline_templates::pages::{Banner, ChapterRow, ChaptersPage, Chrome, ConfirmPage, FieldError, Link};
use serde::Deserialize;

use crate::AppState;
use crate::error::AppError;
use crate::routes::html;
use crate::security::{Admin, Page};

/// A rename that failed: which chapter, what was typed, why.
struct Refused {
    id: Id,
    typed: String,
    message: String,
}

async fn page(
    state: &AppState,
    c: Chrome,
    banner: Option<Banner>,
    new_name: String,
    refused: Option<Refused>,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let chapters = state
        .store
        .chapters()
        .await?
        .into_iter()
        .map(|ch| {
            let mine = refused.as_ref().filter(|r| r.id == ch.id);
            ChapterRow {
                id: ch.id.to_string(),
                rename_value: mine.map_or_else(|| ch.name.clone(), |r| r.typed.clone()),
                rename_error: mine.map(|r| r.message.clone()),
                name: ch.name,
                people: ch.people,
            }
        })
        .collect();
    let status = if errors.is_empty() && refused.is_none() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    html(status, ChaptersPage { c, banner, chapters, new_name, errors })
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

pub async fn list(
    State(state): State<AppState>,
    Admin(_): Admin,
    Page(c): Page,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let banner = match q.done.as_str() {
        "added" => Some(Banner::success(tr.t("chapters-added"), "")),
        "renamed" => Some(Banner::success(tr.t("chapters-renamed"), "")),
        "removed" => Some(Banner::success(tr.t("chapters-removed"), "")),
        _ => None,
    };
    page(&state, c, banner, String::new(), None, vec![]).await
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    name: String,
}

fn done(what: &str) -> Response {
    Redirect::to(&format!("/admin/chapters?done={what}")).into_response()
}

pub async fn add(
    State(state): State<AppState>,
    Admin(me): Admin,
    Page(c): Page,
    Form(form): Form<NameForm>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let typed = form.name.trim().to_owned();
    let refuse = |key: &str| vec![FieldError { field: "chapter-name", message: tr.t(key) }];
    let Ok(name) = account::chapter_name(&form.name) else {
        return page(&state, c, None, typed, None, refuse("error-chapter-name")).await;
    };
    let now = Timestamp::now();
    let id = new_id(now);
    let event = AuditEvent::new(Some(&me.user.id), Action::ChapterCreate, &id);
    match state.store.create_chapter(id, name, event, now).await {
        Ok(()) => Ok(done("added")),
        Err(StoreError::Conflict(Constraint::ChapterName)) => {
            page(&state, c, None, typed, None, refuse("error-chapter-taken")).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn rename(
    State(state): State<AppState>,
    Admin(me): Admin,
    Page(c): Page,
    Path(id): Path<String>,
    Form(form): Form<NameForm>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let id = Id::parse(&id).ok_or(AppError::NotFound)?;
    let typed = form.name.trim().to_owned();
    let refused = |key: &str| Some(Refused { id: id.clone(), typed: typed.clone(), message: tr.t(key) });
    let Ok(name) = account::chapter_name(&form.name) else {
        return page(&state, c, None, String::new(), refused("error-chapter-name"), vec![]).await;
    };
    let event = AuditEvent::new(Some(&me.user.id), Action::ChapterRename, &id);
    match state.store.rename_chapter(&id, name, event, Timestamp::now()).await {
        Ok(()) => Ok(done("renamed")),
        Err(StoreError::Conflict(Constraint::ChapterName)) => {
            page(&state, c, None, String::new(), refused("error-chapter-taken"), vec![]).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn chapter(state: &AppState, id: &str) -> Result<kiteline_store::Chapter, AppError> {
    let id = Id::parse(id).ok_or(AppError::NotFound)?;
    state.store.chapters().await?.into_iter().find(|c| c.id == id).ok_or(AppError::NotFound)
}

fn confirm(c: Chrome, ch: &kiteline_store::Chapter, errors: Vec<FieldError>) -> ConfirmPage {
    let tr = c.tr;
    ConfirmPage {
        crumbs: vec![Link::new("/", tr.t("nav-home")), Link::new("/admin/chapters", tr.t("chapters-title"))],
        title: tr.t_with("chapters-remove-title", &[("name", &ch.name)]),
        text: tr.t("chapters-remove-text"),
        consequences: vec![],
        action: format!("/admin/chapters/{}/remove", ch.id),
        button: tr.t("chapters-remove"),
        cancel: Link::new("/admin/chapters", tr.t("confirm-cancel")),
        needs_code: false,
        errors,
        c,
    }
}

pub async fn remove_confirm(
    State(state): State<AppState>,
    Admin(_): Admin,
    Page(c): Page,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let ch = chapter(&state, &id).await?;
    html(StatusCode::OK, confirm(c, &ch, vec![]))
}

pub async fn remove(
    State(state): State<AppState>,
    Admin(me): Admin,
    Page(c): Page,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let ch = chapter(&state, &id).await?;
    let event = AuditEvent::new(Some(&me.user.id), Action::ChapterRemove, &ch.id);
    match state.store.remove_chapter(&ch.id, event, Timestamp::now()).await {
        Ok(()) => Ok(done("removed")),
        Err(StoreError::Conflict(Constraint::MissingReference)) => {
            let tr = c.tr;
            let errors = vec![FieldError { field: "main", message: tr.t("error-chapter-in-use") }];
            let page = confirm(c, &ch, errors);
            html(StatusCode::CONFLICT, page)
        }
        Err(e) => Err(e.into()),
    }
}
