//! Signing in and out: login, the second step, logout (here or everywhere),
//! and password reset by e-mail.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::{SignedDuration, Timestamp};
use kiteline_core::crypto::{FieldContext, hex};
use kiteline_core::{EmailAddress, PasswordHash, TokenDigest, account, totp};
use kiteline_store::{Action, Attempt, AuditEvent, NewSession, User};
use kiteline_templates::pages::{FieldError, LoginPage, ResetPage, TotpPage};
use serde::Deserialize;
use tokio::sync::OnceCell;

use crate::AppState;
use crate::error::AppError;
use crate::locale::cookie;
use crate::routes::html;
use crate::security::{
    Auth, AwaitingCode, CODE_ACCOUNT, CODE_NET, ClientNet, LOGIN_ACCOUNT, LOGIN_DEVICE, LOGIN_NET, Member, Page,
    RESET_ADDRESS, RESET_NET, Stage, new_session_id, session_cookie_name, set_cookie,
};
use crate::{actions, device, password};

/// Where a session goes after each step.
fn landing(stage: Stage) -> &'static str {
    match stage {
        Stage::NeedsCode => "/login/2fa",
        Stage::NeedsEnrolment => "/account/2fa",
        Stage::Full => "/",
    }
}

/// A redirect that sets the session cookie: a browser-session cookie (gone
/// when the browser closes) unless `max_age` keeps it on this device.
fn redirect_with_session(state: &AppState, to: &str, session_id: &str, max_age: Option<i64>) -> Response {
    let mut r = Redirect::to(to).into_response();
    let https = state.config.is_https();
    r.headers_mut().append(header::SET_COOKIE, set_cookie(session_cookie_name(https), session_id, https, max_age));
    r
}

fn clear_session(state: &AppState, to: &str) -> Response {
    redirect_with_session(state, to, "", Some(0))
}

/// When a session gets a new id, its cookie stays what it was: kept on this
/// device (until the session's end) or only for this browser session.
pub(crate) fn persistent_age(s: &crate::security::Signed, now: Timestamp) -> Option<i64> {
    s.session.persistent.then(|| s.session.expires_at.duration_since(now).as_secs().max(1))
}

pub async fn login_form(Page(c): Page, axum::Extension(auth): axum::Extension<Auth>) -> Result<Response, AppError> {
    if let Auth::Signed(s) = auth {
        return Ok(Redirect::to(landing(s.stage)).into_response());
    }
    html(StatusCode::OK, LoginPage { c, email: String::new(), errors: vec![] })
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    /// "Keep me signed in on this device": a cookie that outlives the browser.
    #[serde(default)]
    remember: String,
}

/// A hash to verify against when there is no account, so a login for an
/// unknown address takes as long as one with a wrong password.
async fn dummy_hash() -> Result<PasswordHash, AppError> {
    static DUMMY: OnceCell<PasswordHash> = OnceCell::const_new();
    DUMMY.get_or_try_init(|| password::hash("no account has this password".into())).await.cloned()
}

pub async fn login_submit(
    State(state): State<AppState>,
    Page(c): Page,
    ClientNet(net): ClientNet,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    // A blank field is a typing matter, said plainly; it tells nothing
    // about any account and costs no attempt.
    let tr = c.tr;
    let mut blanks = Vec::new();
    if form.email.trim().is_empty() {
        blanks.push(FieldError { field: "email", message: tr.t("error-login-email-missing") });
    }
    if form.password.is_empty() {
        blanks.push(FieldError { field: "password", message: tr.t("error-login-password-missing") });
    }
    if !blanks.is_empty() {
        let email = form.email.trim().to_owned();
        return html(StatusCode::UNPROCESSABLE_ENTITY, LoginPage { c, email, errors: blanks });
    }
    let now = Timestamp::now();
    let email = EmailAddress::parse(&form.email);
    // One read, whatever the address: the account and its usable hash.
    let found = match &email {
        Some(e) => state.store.login_candidate(e).await?,
        None => None,
    };
    // Which shared limit counts this attempt: the browser's own if it signed
    // in to this account before (so strangers cannot lock the owner out),
    // otherwise the address's — any address, known or not, by keyed digest,
    // so the answers cannot tell them apart.
    let https = state.config.is_https();
    let device = found.as_ref().and_then(|(u, _)| device::recognised(&state, &headers, &u.id));
    let (rule, key) = match &device {
        Some(nonce) => (LOGIN_DEVICE, hex(&state.vault.derive("login-device", nonce.as_bytes()))),
        None => {
            let address = email.as_ref().map_or_else(|| form.email.trim().to_lowercase(), |e| e.as_str().to_owned());
            (LOGIN_ACCOUNT, hex(&state.vault.derive("login-address", address.as_bytes())))
        }
    };
    // Counted before the password is checked, so requests in flight at once
    // cannot all be verified; a success gives the attempts back.
    let reserved = state.limits.reserve_both(&state, (LOGIN_NET, &net), (rule, &key), now).await?;
    let (user, hash) = found.map_or((None, None), |(u, h)| (Some(u), h));
    let ok = match hash {
        Some(h) => password::verify(form.password, h).await?,
        None => {
            let _ = password::verify(form.password, dummy_hash().await?).await?;
            false
        }
    };
    let Some(user) = user.clone().filter(|_| ok) else {
        // One entry whatever the address, so both cost the same.
        let event = match &user {
            Some(u) if !u.intact => {
                tracing::error!(target: "kiteline::security", user = %u.id, "a user row failed its integrity check; login refused");
                AuditEvent::new(None, Action::UserRowTampered, &u.id)
            }
            Some(u) => AuditEvent::new(None, Action::SessionLoginFailed, &u.id),
            None => AuditEvent::new(None, Action::SessionLoginFailed, "unknown"),
        };
        state.store.append_audit(event, now).await?;
        tracing::info!(target: "kiteline::security", "login refused");
        let errors = vec![FieldError { field: "email", message: tr.t("error-login-failed") }];
        return html(StatusCode::UNAUTHORIZED, LoginPage { c, email: form.email.trim().to_owned(), errors });
    };
    state.limits.refund(&state, reserved).await?;
    // A new id at every login (no fixation); the browser's old session
    // ends in the same transaction.
    let id = new_session_id();
    let absolute = account::absolute_timeout_seconds(user.role);
    let session = NewSession {
        digest: TokenDigest::of(&id),
        user_id: user.id.clone(),
        idle_seconds: account::idle_timeout_seconds(user.role),
        expires_at: now + SignedDuration::from_secs(absolute),
        second_factor_at: None,
        persistent: form.remember == "on",
        device_label: account::device_label(
            headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or(""),
        ),
        replaces: cookie(&headers, session_cookie_name(https)).map(TokenDigest::of),
    };
    let event = AuditEvent::new(Some(&user.id), Action::SessionLogin, &user.id);
    state.store.create_session(session, event, now).await?;
    tracing::info!(target: "kiteline::security", user = %user.id, "login");
    let stage = account::sign_in_stage(user.role, user.totp_enabled, false);
    // A browser-session cookie unless this device is to be remembered.
    let keep = (form.remember == "on").then_some(absolute);
    let mut response = redirect_with_session(&state, landing(stage), &id, keep);
    response.headers_mut().append(header::SET_COOKIE, device::cookie(&state, &user.id));
    Ok(response)
}

pub async fn code_form(AwaitingCode(_): AwaitingCode, Page(c): Page) -> Result<Response, AppError> {
    html(StatusCode::OK, TotpPage { c, errors: vec![] })
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    pub code: String,
}

/// The digest stored for a recovery code of `user`.
pub(crate) fn recovery_digest(user: &kiteline_store::Id, code: &str) -> TokenDigest {
    let normal: String = code.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
    TokenDigest::of(&format!("{user}:{normal}"))
}

/// Ten new recovery codes (80 random bits each, `abcd-efgh-ijkl-mnop`).
pub(crate) fn new_recovery_codes() -> Vec<String> {
    (0..10)
        .map(|_| {
            let s = totp::base32_encode(&kiteline_store::random_bytes::<10>()).to_ascii_lowercase();
            format!("{}-{}-{}-{}", &s[0..4], &s[4..8], &s[8..12], &s[12..16])
        })
        .collect()
}

/// A message for a code that cannot be right whatever the secret (blank,
/// or neither six digits nor a recovery code); `None` if it is worth
/// checking. Such a code costs no attempt.
pub(crate) fn code_format_problem(tr: kiteline_templates::Tr, code: &str) -> Option<String> {
    match account::code_shape(code) {
        account::CodeShape::Missing => Some(tr.t("error-code-missing")),
        account::CodeShape::Malformed => Some(tr.t("error-code-format")),
        _ => None,
    }
}

pub(crate) fn totp_context(user: &kiteline_store::Id) -> FieldContext<'_> {
    FieldContext::new("users", "totp_secret", user.as_str())
}

/// Checks a code from the user's authenticator (once: the step is then
/// spent), or — when `allow_recovery` — one of their recovery codes.
pub(crate) async fn second_factor_ok(
    state: &AppState,
    user: &User,
    code: &str,
    allow_recovery: bool,
) -> Result<bool, AppError> {
    let now = Timestamp::now();
    let compact: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    if allow_recovery && compact.len() == 16 {
        return Ok(state.store.use_recovery_code(&user.id, &recovery_digest(&user.id, &compact), now).await?);
    }
    let st = state.store.totp_state(&user.id).await?;
    let Some(sealed) = st.active else { return Ok(false) };
    let secret = state
        .vault
        .open(totp_context(&user.id), &sealed)
        .map_err(|e| AppError::Internal(format!("TOTP secret: {e}")))?;
    match totp::verify(&secret, code, now.as_second(), st.last_step) {
        Some(step) => Ok(state.store.accept_totp_step(&user.id, step).await?),
        None => Ok(false),
    }
}

/// Rate-limits and checks a code for a sensitive action or the second step:
/// the attempt is counted (per network and per account) before the code is
/// checked, and given back if it was right.
pub(crate) async fn checked_code(
    state: &AppState,
    net: &str,
    user: &User,
    code: &str,
    allow_recovery: bool,
) -> Result<bool, AppError> {
    let now = Timestamp::now();
    let reserved = state.limits.reserve_both(state, (CODE_NET, net), (CODE_ACCOUNT, user.id.as_str()), now).await?;
    let ok = second_factor_ok(state, user, code, allow_recovery).await?;
    if ok {
        state.limits.refund(state, reserved).await?;
    } else {
        let event = AuditEvent::new(Some(&user.id), Action::UserSecondFactorFailed, &user.id);
        state.store.append_audit(event, now).await?;
    }
    Ok(ok)
}

pub async fn code_submit(
    State(state): State<AppState>,
    AwaitingCode(s): AwaitingCode,
    Page(c): Page,
    ClientNet(net): ClientNet,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    if let Some(message) = code_format_problem(c.tr, &form.code) {
        return html(
            StatusCode::UNPROCESSABLE_ENTITY,
            TotpPage { c, errors: vec![FieldError { field: "code", message }] },
        );
    }
    if !checked_code(&state, &net, &s.user, &form.code, true).await? {
        let tr = c.tr;
        return html(
            StatusCode::UNAUTHORIZED,
            TotpPage { c, errors: vec![FieldError { field: "code", message: tr.t("error-code-invalid") }] },
        );
    }
    let now = Timestamp::now();
    // The session is elevated: it gets a new id.
    let id = new_session_id();
    let event = AuditEvent::new(Some(&s.user.id), Action::SessionSecondFactor, &s.user.id);
    state.store.rotate_session(&s.digest, &TokenDigest::of(&id), Some(now), Some(event), now).await?;
    Ok(redirect_with_session(&state, "/", &id, persistent_age(&s, now)))
}

pub async fn logout(
    State(state): State<AppState>,
    axum::Extension(auth): axum::Extension<Auth>,
) -> Result<Response, AppError> {
    if let Auth::Signed(s) = auth {
        let event = AuditEvent::new(Some(&s.user.id), Action::SessionLogout, &s.user.id);
        state.store.end_session(&s.digest, Some(event), Timestamp::now()).await?;
    }
    Ok(clear_session(&state, "/"))
}

#[derive(Deserialize)]
pub struct EverywhereForm {
    /// "Also revoke my API tokens".
    #[serde(default)]
    revoke_tokens: String,
}

pub async fn logout_everywhere(
    State(state): State<AppState>,
    Member(s): Member,
    Form(form): Form<EverywhereForm>,
) -> Result<Response, AppError> {
    let event = AuditEvent::new(Some(&s.user.id), Action::SessionEndAll, &s.user.id);
    let revoke = form.revoke_tokens == "on";
    state.store.end_user_sessions(&s.user.id, None, revoke, Some(event), Timestamp::now()).await?;
    Ok(clear_session(&state, "/login"))
}

pub async fn reset_form(Page(c): Page) -> Result<Response, AppError> {
    html(StatusCode::OK, ResetPage { c, sent: false, email: String::new(), errors: vec![] })
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    email: String,
}

/// Answers the same way, in the same time, whether or not the address has
/// an account: the request is counted and queued (the address sealed in the
/// job), and the worker does the looking up and the mailing later.
pub async fn reset_submit(
    State(state): State<AppState>,
    Page(c): Page,
    ClientNet(net): ClientNet,
    Form(form): Form<ResetForm>,
) -> Result<Response, AppError> {
    let now = Timestamp::now();
    crate::routes::limit(&state, RESET_NET, &net)?;
    let Some(email) = EmailAddress::parse(&form.email) else {
        let tr = c.tr;
        let errors = vec![FieldError { field: "email", message: tr.t("error-not-an-email") }];
        let email = form.email.trim().to_owned();
        return html(StatusCode::UNPROCESSABLE_ENTITY, ResetPage { c, sent: false, email, errors });
    };
    // Keyed per address without storing it: an HMAC under the server key.
    let key = hex(&state.vault.derive("reset-address", email.as_str().as_bytes()));
    let job = actions::password_reset_job(&state.vault, &email, now);
    match state.limits.limit(RESET_ADDRESS, &key) {
        Some(limit) => match state.store.reserve_and_enqueue(limit, job, now).await? {
            Attempt::Granted(_) => {}
            Attempt::Refused { retry_after } => {
                return Err(AppError::RateLimited(retry_after.as_secs().max(1) as u64));
            }
        },
        None => state.store.enqueue_job(job, now).await?,
    }
    html(StatusCode::OK, ResetPage { c, sent: true, email: String::new(), errors: vec![] })
}
