//! The JSON API under `/api/v1/`, authenticated by bearer tokens
//! (`Authorization: Bearer kl_…`). Tokens are scoped: `read` < `write` <
//! `admin`; an admin-scope call also needs the token's owner to be an admin.
//! No cookies are used here, so CSRF does not apply.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use kiteline_core::Role;
use kiteline_core::TokenDigest;
use kiteline_store::{Action, ApiToken, AuditEvent, TokenScope, User};
use serde_json::json;

use crate::AppState;

/// The user and token behind an API call.
pub struct Caller {
    pub user: User,
    pub token: ApiToken,
}

pub(crate) fn api_error(status: StatusCode, message: &str) -> Response {
    let mut r = (status, Json(json!({ "error": message }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    }
    r
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| t.starts_with("kl_") && t.len() < 100);
        let Some(token) = bearer else { return Err(api_error(StatusCode::UNAUTHORIZED, "a bearer token is required")) };
        let now = Timestamp::now();
        let found = state.store.api_token_by_digest(&TokenDigest::of(token), now).await.map_err(|e| {
            tracing::error!(error = %e, "API token lookup failed");
            api_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        })?;
        let Some((token, user)) = found else {
            return Err(api_error(StatusCode::UNAUTHORIZED, "the token is unknown, expired or revoked"));
        };
        if !user.intact {
            tracing::error!(target: "kiteline::security", user = %user.id, "a user row failed its integrity check; API token refused");
            let _ = state.store.append_audit(AuditEvent::new(None, Action::UserRowTampered, &user.id), now).await;
            return Err(api_error(StatusCode::UNAUTHORIZED, "the token is unknown, expired or revoked"));
        }
        if token.last_used_at.is_none_or(|t| now.duration_since(t) >= SignedDuration::from_secs(60)) {
            let _ = state.store.touch_api_token(&token.id, now).await;
        }
        Ok(Caller { user, token })
    }
}

impl Caller {
    /// A 403 unless the token has `scope` and its owner coordinates.
    pub(crate) fn denied_staff(&self, scope: TokenScope) -> Option<Response> {
        self.denied(scope).or_else(|| {
            (self.user.role < Role::Coordinator)
                .then(|| api_error(StatusCode::FORBIDDEN, "only coordinators and admins may do this"))
        })
    }

    /// A 403 when the token's scope (or, for admin calls, its owner's role) falls short.
    pub(crate) fn denied(&self, scope: TokenScope) -> Option<Response> {
        let admin_ok = scope < TokenScope::Admin || self.user.role == Role::Admin;
        (self.token.scope < scope || !admin_ok)
            .then(|| api_error(StatusCode::FORBIDDEN, "the token's scope or its owner's role does not allow this"))
    }
}

fn user_json(u: &User) -> serde_json::Value {
    json!({
        "id": u.id.as_str(),
        "email": u.email,
        "name": u.name,
        "role": u.role.as_str(),
        "chapter_id": u.chapter_id.as_ref().map(|c| c.as_str()),
        "pronouns": u.pronouns,
        "time_zone": u.time_zone,
        "disabled": u.disabled_at.is_some(),
    })
}

/// `GET /api/v1/me` (read): the token's owner.
pub async fn me(caller: Caller) -> Response {
    if let Some(r) = caller.denied(TokenScope::Read) {
        return r;
    }
    Json(user_json(&caller.user)).into_response()
}

/// `POST /api/v1/me/logout-everywhere` (write): ends the owner's sessions.
pub async fn logout_everywhere(State(state): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = caller.denied(TokenScope::Write) {
        return r;
    }
    let event = AuditEvent::new(Some(&caller.user.id), Action::SessionEndAll, &caller.user.id);
    match state.store.end_user_sessions(&caller.user.id, None, false, Some(event), Timestamp::now()).await {
        Ok(n) => Json(json!({ "ended": n })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "ending sessions failed");
            api_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

/// `GET /api/v1/users` (admin): every account.
pub async fn users(State(state): State<AppState>, caller: Caller) -> Response {
    if let Some(r) = caller.denied(TokenScope::Admin) {
        return r;
    }
    match state.store.list_users().await {
        Ok(users) => Json(json!({ "users": users.iter().map(user_json).collect::<Vec<_>>() })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "listing users failed");
            api_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}
