//! Handlers. Each parses its input into validated values first, then acts.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use jiff::Timestamp;
use kiteline_core::account::{self, NameProblem};
use kiteline_core::{EmailAddress, PasswordProblem, Role, TokenDigest, check_new_password};
use kiteline_store::{Constraint, LinkPurpose, NewUser, StoreError, new_id};
use kiteline_templates::pages::{FieldError, Link, MessagePage, SetPasswordPage, SetupPage};
use kiteline_templates::{Lang, Tr};
use serde::Deserialize;

use crate::AppState;
use crate::error::AppError;
use crate::locale::LANG_COOKIE;
use crate::security::{ClientNet, FORM_NET, LINK_NET, Page};
use crate::{password, tokens};
use kiteline_templates::pages::Chrome;

pub(crate) fn html(status: StatusCode, page: impl Template) -> Result<Response, AppError> {
    let body = page.render().map_err(|e| AppError::Internal(format!("template: {e}")))?;
    Ok((status, Html(body)).into_response())
}

/// Counts one attempt against a per-network limit, or refuses.
pub(crate) fn limit(state: &AppState, rule: crate::security::Rule, net: &str) -> Result<(), AppError> {
    state.limits.reserve(rule, net, Timestamp::now().as_second()).map(|_| ()).map_err(AppError::RateLimited)
}

pub async fn not_found() -> AppError {
    AppError::NotFound
}

/// Liveness: the process answers. Version and engine only; no secrets.
pub async fn healthz(State(state): State<AppState>) -> Response {
    let body = serde_json::json!({
        "status": "ok",
        "version": kiteline_templates::VERSION,
        "engine": state.store.engine().as_str(),
    });
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

/// Readiness: the database answers within two seconds.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(std::time::Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, axum::Json(serde_json::json!({"status": "ready"}))).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({"status": "database unavailable"})))
                .into_response()
        }
        Err(_) => {
            tracing::warn!("readiness check timed out");
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({"status": "database timeout"})))
                .into_response()
        }
    }
}

pub async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=86400")],
        kiteline_templates::STYLESHEET,
    )
        .into_response()
}

pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=86400")],
        kiteline_templates::SCRIPT,
    )
        .into_response()
}

pub async fn favicon() -> Response {
    (
        [(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=86400")],
        kiteline_templates::FAVICON,
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct LanguageForm {
    lang: String,
    #[serde(default)]
    next: String,
}

/// Only same-site absolute paths, so the form cannot redirect elsewhere.
fn safe_next(next: &str) -> &str {
    let ok =
        next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && !next.chars().any(char::is_control);
    if ok { next } else { "/" }
}

/// Remembers the visitor's language choice for a year.
pub async fn set_language(
    State(state): State<AppState>,
    ClientNet(net): ClientNet,
    auth: Option<axum::Extension<crate::security::Auth>>,
    Form(form): Form<LanguageForm>,
) -> Result<Response, AppError> {
    limit(&state, FORM_NET, &net)?;
    let lang = Lang::from_tag(&form.lang).ok_or(AppError::BadRequest)?;
    // Signed in, the choice is the profile's language: pages and mail
    // follow it from the very next page, on every device.
    if let Some(axum::Extension(crate::security::Auth::Signed(s))) = &auth
        && s.user.locale != lang.code()
    {
        state.store.set_locale(&s.user.id, lang.code(), Timestamp::now()).await?;
    }
    let secure = if state.config.is_https() { "; Secure" } else { "" };
    let cookie = format!("{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly{secure}", lang.code());
    let mut response = Redirect::to(safe_next(&form.next)).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(|_| AppError::BadRequest)?);
    Ok(response)
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

impl std::fmt::Debug for SetupForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetupForm(<redacted>)")
    }
}

fn link_invalid(c: Chrome) -> Result<Response, AppError> {
    html(StatusCode::NOT_FOUND, MessagePage::from_key(c, "link-invalid"))
}

pub(crate) fn password_errors(tr: Tr, password: &str, confirm: &str, email: &str, name: &str) -> Vec<FieldError> {
    match check_new_password(password, confirm, email, name) {
        Ok(()) => vec![],
        Err(p) => {
            let (field, key) = match p {
                PasswordProblem::TooShort => ("password", "error-password-too-short"),
                PasswordProblem::TooLong => ("password", "error-password-too-long"),
                PasswordProblem::Mismatch => ("confirm", "error-password-mismatch"),
                PasswordProblem::ContainsEmail => ("password", "error-password-contains-email"),
                PasswordProblem::Common => ("password", "error-password-common"),
            };
            vec![FieldError { field, message: tr.t(key) }]
        }
    }
}

/// A display name (the rule is `core`'s); a problem becomes a field error.
/// Returns what was typed, trimmed, so the form can show it again.
pub(crate) fn parse_name(tr: Tr, raw: &str, errors: &mut Vec<FieldError>) -> String {
    match account::display_name(raw) {
        Ok(_) => {}
        Err(NameProblem::Empty) => errors.push(FieldError { field: "name", message: tr.t("error-name-required") }),
        Err(NameProblem::TooLong) => errors.push(FieldError { field: "name", message: tr.t("error-name-too-long") }),
    }
    raw.trim().to_owned()
}

/// Another person's name (an invitation): the same rule, messages that
/// speak of "their name".
pub(crate) fn parse_their_name(tr: Tr, raw: &str, errors: &mut Vec<FieldError>) -> String {
    match account::display_name(raw) {
        Ok(_) => {}
        Err(NameProblem::Empty) => {
            errors.push(FieldError { field: "name", message: tr.t("error-their-name-required") })
        }
        Err(NameProblem::TooLong) => {
            errors.push(FieldError { field: "name", message: tr.t("error-their-name-too-long") })
        }
    }
    raw.trim().to_owned()
}

async fn usable(
    state: &AppState,
    token: &str,
    purpose: LinkPurpose,
) -> Result<Option<kiteline_store::LinkToken>, AppError> {
    if !tokens::looks_like_token(token) {
        return Ok(None);
    }
    Ok(state.store.usable_link(&TokenDigest::of(token), Timestamp::now()).await?.filter(|l| l.purpose == purpose))
}

pub async fn setup_form(
    State(state): State<AppState>,
    Page(c): Page,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    if usable(&state, &token, LinkPurpose::FirstAdmin).await?.is_none() {
        return link_invalid(c);
    }
    let action = format!("/setup/{token}");
    html(StatusCode::OK, SetupPage { c, action, name: String::new(), email: String::new(), errors: vec![] })
}

pub async fn setup_submit(
    State(state): State<AppState>,
    Page(c): Page,
    ClientNet(net): ClientNet,
    Path(token): Path<String>,
    Form(form): Form<SetupForm>,
) -> Result<Response, AppError> {
    limit(&state, LINK_NET, &net)?;
    let tr = c.tr;
    if usable(&state, &token, LinkPurpose::FirstAdmin).await?.is_none() {
        return link_invalid(c);
    }
    let mut errors = Vec::new();
    let name = parse_name(tr, &form.name, &mut errors);
    let email = EmailAddress::parse(&form.email);
    if email.is_none() {
        errors.push(FieldError { field: "email", message: tr.t("error-email-invalid") });
    }
    errors.extend(password_errors(tr, &form.password, &form.confirm, form.email.trim(), &name));
    let action = format!("/setup/{token}");
    let again = |errors: Vec<FieldError>| {
        html(
            StatusCode::UNPROCESSABLE_ENTITY,
            SetupPage {
                c: c.clone(),
                action: action.clone(),
                name: name.clone(),
                email: form.email.trim().to_owned(),
                errors,
            },
        )
    };
    let Some(email) = email.filter(|_| errors.is_empty()) else { return again(errors) };
    let hash = password::hash(form.password).await?;
    let now = Timestamp::now();
    let user = NewUser {
        email: email.clone(),
        name: name.clone(),
        role: Role::Admin,
        locale: tr.lang().code().into(),
        chapter_id: None,
    };
    match state.store.use_first_admin_link(&TokenDigest::of(&token), user, new_id(now), hash, now).await {
        Ok(admin) => {
            tracing::info!(user = %admin.id, "first administrator created");
            let text = tr.t_with("setup-done-text", &[("email", email.as_str())]);
            let page = MessagePage {
                c,
                title: tr.t("setup-done-title"),
                text,
                next: Some(Link::new("/login", tr.t("setup-next"))),
                then: Some(tr.t("setup-then-2fa")),
            };
            html(StatusCode::OK, page)
        }
        Err(StoreError::NotFound) => link_invalid(c),
        Err(StoreError::Conflict(Constraint::AdminExists)) => {
            let page = MessagePage {
                c,
                title: tr.t("link-invalid-title"),
                text: tr.t("error-admin-exists"),
                next: Some(Link::new("/login", tr.t("nav-login"))),
                then: None,
            };
            html(StatusCode::CONFLICT, page)
        }
        Err(StoreError::Conflict(Constraint::UserEmail)) => {
            again(vec![FieldError { field: "email", message: tr.t("error-email-taken") }])
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

impl std::fmt::Debug for PasswordForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordForm(<redacted>)")
    }
}

async fn link_user(state: &AppState, token: &str) -> Result<Option<kiteline_store::User>, AppError> {
    let Some(link) = usable(state, token, LinkPurpose::SetPassword).await? else { return Ok(None) };
    let Some(user_id) = link.user_id else { return Ok(None) };
    Ok(state.store.user_by_id(&user_id).await?.filter(|u| u.disabled_at.is_none()))
}

fn password_page(c: Chrome, token: &str, email: &str, errors: Vec<FieldError>) -> SetPasswordPage {
    let action = format!("/password/{token}");
    let tr = c.tr;
    SetPasswordPage {
        c,
        action,
        email: email.to_owned(),
        lead: tr.t_with("password-lead", &[("email", email)]),
        errors,
    }
}

/// A link's page is in its account's language (the one the invitation was
/// mailed in), unless this browser chose one with the language switch.
fn in_account_language(mut c: Chrome, headers: &axum::http::HeaderMap, user: &kiteline_store::User) -> Chrome {
    if crate::locale::cookie(headers, LANG_COOKIE).and_then(Lang::from_tag).is_none()
        && let Some(lang) = Lang::from_tag(&user.locale)
    {
        c.tr = Tr::new(lang);
    }
    c
}

pub async fn password_form(
    State(state): State<AppState>,
    Page(c): Page,
    headers: axum::http::HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    match link_user(&state, &token).await? {
        Some(user) => {
            let c = in_account_language(c, &headers, &user);
            html(StatusCode::OK, password_page(c, &token, &user.email, vec![]))
        }
        None => link_invalid(c),
    }
}

pub async fn password_submit(
    State(state): State<AppState>,
    Page(c): Page,
    headers: axum::http::HeaderMap,
    ClientNet(net): ClientNet,
    Path(token): Path<String>,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    limit(&state, LINK_NET, &net)?;
    let Some(user) = link_user(&state, &token).await? else { return link_invalid(c) };
    let c = in_account_language(c, &headers, &user);
    let tr = c.tr;
    let errors = password_errors(tr, &form.password, &form.confirm, &user.email, &user.name);
    if !errors.is_empty() {
        return html(StatusCode::UNPROCESSABLE_ENTITY, password_page(c, &token, &user.email, errors));
    }
    let hash = password::hash(form.password).await?;
    match state.store.use_set_password_link(&TokenDigest::of(&token), hash, Timestamp::now()).await {
        Ok(user) => {
            tracing::info!(user = %user.id, "password set");
            let mut page = MessagePage::from_key(c, "password-done").with_next(Link::new("/login", tr.t("setup-next")));
            if user.role >= Role::Coordinator {
                page.then = Some(tr.t("password-then-2fa"));
            }
            html(StatusCode::OK, page)
        }
        Err(StoreError::NotFound) => link_invalid(c),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_must_be_a_local_path() {
        assert_eq!(super::safe_next("/setup/abc"), "/setup/abc");
        for bad in ["https://evil.example", "//evil.example", "/\\evil", "", "javascript:alert(1)", "/a\nb"] {
            assert_eq!(super::safe_next(bad), "/", "{bad:?}");
        }
    }
}
