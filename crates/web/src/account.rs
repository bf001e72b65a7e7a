//! A user's own account: profile (with the phone number sealed), password,
//! second factor and API tokens.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use kiteline_core::crypto::FieldContext;
use kiteline_core::{Role, TokenDigest, account, totp};
use kiteline_store::{Action, AuditEvent, Enrolment, Id, ProfileUpdate, TokenScope, User};
use kiteline_templates::Tr;
use kiteline_templates::pages::{
    Chrome, ConfirmPage, FieldError, Link, PasswordChangePage, ProfileForm, SessionRow, TokenRow, TokensPage,
    TwoFactorPage,
};
use serde::Deserialize;

use crate::AppState;
use crate::actions::TOKEN_DAYS;
use crate::auth::{CodeForm, checked_code, new_recovery_codes, recovery_digest, totp_context};
use crate::error::AppError;
use crate::routes::{html, parse_name, password_errors};
use crate::security::{
    CODE_ACCOUNT, CODE_NET, ClientNet, Enrolling, LOGIN_NET, Member, Page, Signed, Stage, new_session_id,
    session_cookie_name, set_cookie,
};

/// Languages offered on the profile (code, name in that language).
pub const LANGUAGES: &[(&str, &str)] = &[
    ("en", "English"),
    ("es", "Español"),
    ("zh", "中文"),
    ("vi", "Tiếng Việt"),
    ("tl", "Tagalog"),
    ("ko", "한국어"),
    ("ar", "العربية"),
    ("ht", "Kreyòl ayisyen"),
    ("fr", "Français"),
    ("pt", "Português"),
    ("ru", "Русский"),
    ("asl", "ASL"),
];

pub(crate) fn phone_context(user: &Id) -> FieldContext<'_> {
    FieldContext::new("users", "phone", user.as_str())
}

async fn chapter_name(state: &AppState, tr: Tr, user: &User) -> Result<String, AppError> {
    let Some(id) = &user.chapter_id else { return Ok(tr.t("users-at-large")) };
    Ok(state.store.chapters().await?.into_iter().find(|c| &c.id == id).map(|c| c.name).unwrap_or_default())
}

fn form_of(user: &User, phone: String) -> ProfileForm {
    let chosen: Vec<&str> = user.languages.split(',').collect();
    ProfileForm {
        name: user.name.clone(),
        pronouns: user.pronouns.clone(),
        time_zone: user.time_zone.clone(),
        languages: LANGUAGES.iter().map(|(code, label)| (*code, *label, chosen.contains(code))).collect(),
        locale: user.locale.clone(),
        phone,
        notify_email: user.notify_email,
        notify_sms: user.notify_sms,
    }
}

/// Zones offered first: the ones people in the United States use.
pub(crate) const COMMON_ZONES: &[&str] = &[
    "America/Los_Angeles",
    "America/Denver",
    "America/Phoenix",
    "America/Chicago",
    "America/New_York",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Puerto_Rico",
    "UTC",
];

/// Every other IANA zone Kiteline knows, sorted.
pub(crate) fn other_zones() -> Vec<String> {
    let mut zones: Vec<String> = jiff::tz::db()
        .available()
        .map(|n| n.to_string())
        .filter(|n| !COMMON_ZONES.contains(&n.as_str()) && n.contains('/') && !n.starts_with("Etc/"))
        .collect();
    zones.sort();
    zones.dedup();
    zones
}

/// How a session is named in a form: a keyed digest of its fingerprint,
/// so the page never shows what the database stores.
fn session_handle(state: &AppState, digest: &TokenDigest) -> String {
    kiteline_core::crypto::hex(&state.vault.derive("session-handle", digest.as_str().as_bytes()))[..32].to_owned()
}

async fn session_rows(state: &AppState, s: &Signed, tr: Tr) -> Result<Vec<SessionRow>, AppError> {
    let zone = crate::format::zone_of(&s.user);
    let now = Timestamp::now();
    Ok(state
        .store
        .sessions_of(&s.user.id)
        .await?
        .into_iter()
        .filter(|x| x.last_seen_at + jiff::SignedDuration::from_secs(account::idle_timeout_seconds(s.user.role)) > now)
        .map(|x| SessionRow {
            handle: session_handle(state, &x.digest),
            device: if x.device_label.is_empty() { "?".to_owned() } else { x.device_label.clone() },
            started: crate::format::moment(x.created_at, &zone, tr),
            last_used: crate::format::moment(x.last_seen_at, &zone, tr),
            current: x.digest == s.digest,
            remembered: x.persistent,
        })
        .collect())
}

async fn account_page(
    state: &AppState,
    c: Chrome,
    s: &Signed,
    user: &User,
    form: ProfileForm,
    saved: bool,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let mut zones_other = other_zones();
    // A zone saved before the list changed stays choosable.
    if !COMMON_ZONES.contains(&form.time_zone.as_str()) && !zones_other.contains(&form.time_zone) {
        zones_other.insert(0, form.time_zone.clone());
    }
    let page = kiteline_templates::pages::AccountPage {
        chapter: chapter_name(state, tr, user).await?,
        role: crate::format::role(tr, user.role),
        email: user.email.clone(),
        sessions: session_rows(state, s, tr).await?,
        zones_common: COMMON_ZONES.to_vec(),
        zones_other,
        banner: None,
        c,
        form,
        saved,
        errors,
    };
    html(status, page)
}

pub async fn profile_form(
    State(state): State<AppState>,
    Member(s): Member,
    Page(c): Page,
) -> Result<Response, AppError> {
    let phone = match state.store.user_phone(&s.user.id).await? {
        Some(sealed) => String::from_utf8(
            state
                .vault
                .open(phone_context(&s.user.id), &sealed)
                .map_err(|e| AppError::Internal(format!("phone: {e}")))?,
        )
        .unwrap_or_default(),
        None => String::new(),
    };
    account_page(&state, c, &s, &s.user, form_of(&s.user, phone), false, vec![]).await
}

pub async fn profile_submit(
    State(state): State<AppState>,
    Member(s): Member,
    Page(c): Page,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_owned()).unwrap_or_default();
    let mut errors = Vec::new();
    let name = parse_name(tr, &get("name"), &mut errors);
    let pronouns = get("pronouns");
    if pronouns.chars().count() > 40 || pronouns.chars().any(char::is_control) {
        errors.push(FieldError { field: "pronouns", message: tr.t("error-pronouns") });
    }
    let time_zone = get("time_zone");
    if time_zone.is_empty() || jiff::tz::TimeZone::get(&time_zone).is_err() {
        errors.push(FieldError { field: "time_zone", message: tr.t("error-time-zone") });
    }
    let languages: Vec<String> = fields.iter().filter(|(k, _)| k == "languages").map(|(_, v)| v.clone()).collect();
    if languages.iter().any(|l| !LANGUAGES.iter().any(|(code, _)| code == l)) {
        errors.push(FieldError { field: "name", message: tr.t("error-languages") });
    }
    let locale = match get("locale").as_str() {
        "es" => "es",
        _ => "en",
    };
    let phone_raw = get("phone");
    let phone = if phone_raw.is_empty() {
        None
    } else {
        match account::normalize_phone(&phone_raw, state.config.default_calling_code.as_deref()) {
            Ok(p) => Some(p),
            Err(problem) => {
                let id = match problem {
                    account::PhoneProblem::Malformed => "error-phone",
                    account::PhoneProblem::NoCountryCode => "error-phone-country",
                };
                errors.push(FieldError { field: "phone", message: tr.t(id) });
                None
            }
        }
    };
    let form = ProfileForm {
        name: name.clone(),
        pronouns: pronouns.clone(),
        time_zone: time_zone.clone(),
        languages: LANGUAGES.iter().map(|(code, label)| (*code, *label, languages.iter().any(|l| l == code))).collect(),
        locale: locale.to_owned(),
        phone: phone.clone().unwrap_or(phone_raw),
        notify_email: get("notify_email") == "on",
        notify_sms: get("notify_sms") == "on",
    };
    if !errors.is_empty() {
        return account_page(&state, c, &s, &s.user, form, false, errors).await;
    }
    let sealed = phone.as_ref().map(|p| state.vault.seal(phone_context(&s.user.id), p.as_bytes()));
    let update = ProfileUpdate {
        name,
        pronouns,
        time_zone,
        languages: languages.join(","),
        locale: locale.to_owned(),
        phone: sealed,
        notify_email: form.notify_email,
        notify_sms: form.notify_sms,
    };
    state.store.update_profile(&s.user.id, update, Timestamp::now()).await?;
    let user = state.store.user_by_id(&s.user.id).await?.ok_or(AppError::NotFound)?;
    // The saved language applies to this very page.
    let mut c = c;
    if let Some(lang) = kiteline_templates::Lang::from_tag(&user.locale) {
        c.tr = Tr::new(lang);
    }
    account_page(&state, c, &s, &user, form, true, vec![]).await
}

pub async fn password_form(Member(_): Member, Page(c): Page) -> Result<Response, AppError> {
    html(StatusCode::OK, PasswordChangePage { c, done: false, errors: vec![] })
}

#[derive(Deserialize)]
pub struct PasswordChange {
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

pub async fn password_submit(
    State(state): State<AppState>,
    Member(s): Member,
    Page(c): Page,
    ClientNet(net): ClientNet,
    Form(form): Form<PasswordChange>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let now = Timestamp::now();
    // Counted before the current password is checked; given back if right.
    let reserved =
        state.limits.reserve_both(&state, (LOGIN_NET, &net), (CODE_ACCOUNT, s.user.id.as_str()), now).await?;
    let stored = state.store.password_hash(&s.user.id).await?.ok_or(AppError::Forbidden)?;
    if !crate::password::verify(form.current, stored).await? {
        let errors = vec![FieldError { field: "current", message: tr.t("error-current-password") }];
        return html(StatusCode::UNPROCESSABLE_ENTITY, PasswordChangePage { c, done: false, errors });
    }
    state.limits.refund(&state, reserved).await?;
    let errors = password_errors(tr, &form.password, &form.confirm, &s.user.email, &s.user.name);
    if !errors.is_empty() {
        return html(StatusCode::UNPROCESSABLE_ENTITY, PasswordChangePage { c, done: false, errors });
    }
    let hash = crate::password::hash(form.password).await?;
    let event = AuditEvent::new(Some(&s.user.id), Action::UserPasswordChange, &s.user.id);
    state.store.change_password(&s.user.id, hash, Some(&s.digest), event, Timestamp::now()).await?;
    html(StatusCode::OK, PasswordChangePage { c, done: true, errors: vec![] })
}

/// The enrolment QR code as inline SVG, rendered here (no third party).
fn qr_svg(uri: &str) -> Result<String, AppError> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| AppError::Internal(format!("QR: {e}")))?;
    let svg = code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).quiet_zone(true).build();
    // Drop the XML declaration: the SVG is inlined in HTML.
    Ok(svg.find("<svg").map_or(svg.clone(), |i| svg[i..].to_owned()))
}

async fn two_factor_page(
    state: &AppState,
    c: Chrome,
    s: &Signed,
    new_codes: Vec<String>,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let user = state.store.user_by_id(&s.user.id).await?.ok_or(AppError::NotFound)?;
    let st = state.store.totp_state(&user.id).await?;
    let (qr, secret) = match (&st.active, &st.pending) {
        (None, Some(pending)) => {
            let raw = state
                .vault
                .open(FieldContext::new("users", "totp_pending", user.id.as_str()), pending)
                .map_err(|e| AppError::Internal(format!("TOTP pending: {e}")))?;
            let uri = totp::otpauth_uri(&state.config.site_name, &user.email, &raw);
            (Some(qr_svg(&uri)?), totp::base32_encode(&raw))
        }
        _ => (None, String::new()),
    };
    let left = state.store.recovery_codes_left(&user.id).await?;
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    html(
        status,
        TwoFactorPage {
            required: s.stage == Stage::NeedsEnrolment,
            enabled: st.active.is_some(),
            codes_left_text: tr.t_with("twofa-codes-left", &[("count", &left.to_string())]),
            can_disable: user.role == Role::Volunteer,
            qr_svg: qr,
            secret,
            new_codes,
            errors,
            c,
        },
    )
}

pub async fn two_factor(
    State(state): State<AppState>,
    Enrolling(s): Enrolling,
    Page(c): Page,
) -> Result<Response, AppError> {
    two_factor_page(&state, c, &s, vec![], vec![]).await
}

pub async fn two_factor_setup(State(state): State<AppState>, Enrolling(s): Enrolling) -> Result<Response, AppError> {
    if !s.user.totp_enabled {
        let secret = kiteline_store::random_bytes::<20>();
        let sealed = state.vault.seal(FieldContext::new("users", "totp_pending", s.user.id.as_str()), &secret);
        state.store.set_totp_pending(&s.user.id, Some(sealed)).await?;
    }
    Ok(Redirect::to("/account/2fa").into_response())
}

pub async fn two_factor_confirm(
    State(state): State<AppState>,
    Enrolling(s): Enrolling,
    Page(c): Page,
    ClientNet(net): ClientNet,
    headers: axum::http::HeaderMap,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let now = Timestamp::now();
    let reserved = state.limits.reserve_both(&state, (CODE_NET, &net), (CODE_ACCOUNT, s.user.id.as_str()), now).await?;
    let st = state.store.totp_state(&s.user.id).await?;
    let Some(pending) = st.pending else { return Ok(Redirect::to("/account/2fa").into_response()) };
    let secret = state
        .vault
        .open(FieldContext::new("users", "totp_pending", s.user.id.as_str()), &pending)
        .map_err(|e| AppError::Internal(format!("TOTP pending: {e}")))?;
    let Some(step) = totp::verify(&secret, &form.code, now.as_second(), st.last_step) else {
        let errors = vec![FieldError { field: "code", message: tr.t("error-code-invalid") }];
        return two_factor_page(&state, c, &s, vec![], errors).await;
    };
    state.limits.refund(&state, reserved).await?;
    let codes = new_recovery_codes();
    // Privilege change: the session gets a new id, with the factor proved,
    // in the same transaction as the enrolment.
    let id = new_session_id();
    let enrolment = Enrolment {
        // The active secret is sealed for its own column.
        sealed_secret: state.vault.seal(totp_context(&s.user.id), &secret),
        step,
        recovery_codes: codes.iter().map(|c| recovery_digest(&s.user.id, c)).collect(),
        rotate_session: Some((s.digest.clone(), TokenDigest::of(&id))),
    };
    let event = AuditEvent::new(Some(&s.user.id), Action::UserTwoFactorEnable, &s.user.id);
    state.store.enable_totp(&s.user.id, enrolment, event, now).await?;
    let mut signed = s.clone();
    signed.stage = Stage::Full;
    // The page is rendered for the new session id: its forms carry its token.
    let mut c = c.secret();
    c.csrf = crate::security::csrf_for_new_session(&state, &headers, &id);
    let mut response = two_factor_page(&state, c, &signed, codes, vec![]).await?;
    let https = state.config.is_https();
    let max_age = crate::auth::persistent_age(&s, now);
    response.headers_mut().append(header::SET_COOKIE, set_cookie(session_cookie_name(https), &id, https, max_age));
    Ok(response)
}

async fn code_refused(state: &AppState, c: Chrome, s: &Signed) -> Result<Response, AppError> {
    let tr = c.tr;
    two_factor_page(state, c, s, vec![], vec![FieldError { field: "code-regen", message: tr.t("error-code-invalid") }])
        .await
}

pub async fn two_factor_new_codes(
    State(state): State<AppState>,
    Member(s): Member,
    Page(c): Page,
    ClientNet(net): ClientNet,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    if !checked_code(&state, &net, &s.user, &form.code, false).await? {
        return code_refused(&state, c, &s).await;
    }
    let codes = new_recovery_codes();
    let digests = codes.iter().map(|c| recovery_digest(&s.user.id, c)).collect();
    let event = AuditEvent::new(Some(&s.user.id), Action::UserRecoveryCodes, &s.user.id);
    state.store.replace_recovery_codes(&s.user.id, digests, event, Timestamp::now()).await?;
    two_factor_page(&state, c.secret(), &s, codes, vec![]).await
}

pub async fn two_factor_disable(
    State(state): State<AppState>,
    Member(s): Member,
    Page(c): Page,
    ClientNet(net): ClientNet,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    if s.user.role != Role::Volunteer {
        return Err(AppError::Forbidden);
    }
    if !checked_code(&state, &net, &s.user, &form.code, false).await? {
        return code_refused(&state, c, &s).await;
    }
    let event = AuditEvent::new(Some(&s.user.id), Action::UserTwoFactorDisable, &s.user.id);
    state.store.disable_totp(&s.user.id, event, Timestamp::now()).await?;
    Ok(Redirect::to("/account/2fa").into_response())
}

/// Scopes a role may give its tokens.
fn scopes_for(role: Role) -> Vec<&'static str> {
    match role {
        Role::Admin => vec!["read", "write", "admin"],
        _ => vec!["read", "write"],
    }
}

fn when(t: Option<Timestamp>, zone: &jiff::tz::TimeZone, tr: Tr) -> String {
    t.map_or_else(|| tr.t("tokens-never"), |t| crate::format::moment(t, zone, tr).text)
}

async fn tokens_page(
    state: &AppState,
    c: Chrome,
    user: &User,
    new_token: Option<String>,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let now = Timestamp::now();
    let zone = crate::format::zone_of(user);
    let tokens = state
        .store
        .api_tokens_of(&user.id)
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id.to_string(),
            label: t.label,
            scope: crate::format::scope(tr, t.scope),
            created: when(Some(t.created_at), &zone, tr),
            last_used: when(t.last_used_at, &zone, tr),
            expires: when(Some(t.expires_at), &zone, tr),
            revoked: t.revoked_at.is_some(),
            expired: now >= t.expires_at,
        })
        .collect();
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let allowed = scopes_for(user.role);
    let admin_scope_offered = allowed.contains(&"admin");
    let scopes = allowed
        .into_iter()
        .filter_map(TokenScope::parse)
        .map(|sc| (sc.as_str(), crate::format::scope(tr, sc)))
        .collect();
    let lifetimes = TOKEN_DAYS.iter().map(|d| (*d, tr.t_with("tokens-days", &[("days", &d.to_string())]))).collect();
    // A new token is shown once: the language switch warns before leaving.
    let c = if new_token.is_some() { c.secret() } else { c };
    html(status, TokensPage { c, tokens, new_token, scopes, lifetimes, admin_scope_offered, errors })
}

pub async fn tokens(State(state): State<AppState>, Member(s): Member, Page(c): Page) -> Result<Response, AppError> {
    tokens_page(&state, c, &s.user, None, vec![]).await
}

#[derive(Deserialize)]
pub struct NewToken {
    #[serde(default)]
    label: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    days: String,
    /// A fresh second-factor code, required for the admin scope.
    #[serde(default)]
    code: String,
}

/// Minting a token with the admin scope is a sensitive act: it asks for a
/// fresh second-factor code, like a role change.
pub async fn token_create(
    State(state): State<AppState>,
    Member(s): Member,
    Page(c): Page,
    ClientNet(net): ClientNet,
    Form(form): Form<NewToken>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let mut errors = Vec::new();
    let label = account::one_line(&form.label, account::MAX_LABEL_CHARS).unwrap_or_else(|_| {
        errors.push(FieldError { field: "label", message: tr.t("error-label") });
        ""
    });
    let scope = TokenScope::parse(&form.scope).filter(|sc| scopes_for(s.user.role).contains(&sc.as_str()));
    if scope.is_none() {
        errors.push(FieldError { field: "scope", message: tr.t("error-scope") });
    }
    // Chosen on the form; a client that sends none gets the default.
    let days = match form.days.trim() {
        "" => Some(crate::actions::DEFAULT_TOKEN_DAYS),
        d => d.parse::<u32>().ok().filter(|d| TOKEN_DAYS.contains(d)),
    };
    if days.is_none() {
        errors.push(FieldError { field: "days", message: tr.t("error-token-days") });
    }
    let (Some(scope), Some(days)) = (scope.filter(|_| errors.is_empty()), days) else {
        return tokens_page(&state, c, &s.user, None, errors).await;
    };
    if scope == TokenScope::Admin && !checked_code(&state, &net, &s.user, &form.code, false).await? {
        let errors = vec![FieldError { field: "code", message: tr.t("error-code-invalid") }];
        return tokens_page(&state, c, &s.user, None, errors).await;
    }
    let now = Timestamp::now();
    let (_, token) =
        crate::actions::mint_api_token(&state.store, &s.user.id, label, scope, days, Some(&s.user.id), now).await?;
    tokens_page(&state, c, &s.user, Some(token), vec![]).await
}

/// The confirmation step before revoking a token.
pub async fn token_revoke_confirm(
    State(state): State<AppState>,
    Member(s): Member,
    Page(c): Page,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let id = Id::parse(&id).ok_or(AppError::NotFound)?;
    let token = state
        .store
        .api_tokens_of(&s.user.id)
        .await?
        .into_iter()
        .find(|t| t.id == id && t.revoked_at.is_none())
        .ok_or(AppError::NotFound)?;
    let page = ConfirmPage {
        crumbs: vec![Link::new("/account", tr.t("account-title")), Link::new("/account/tokens", tr.t("tokens-title"))],
        title: tr.t_with("tokens-revoke-title", &[("label", &token.label)]),
        text: tr.t("tokens-revoke-text"),
        consequences: vec![],
        action: format!("/account/tokens/{}/revoke", token.id),
        button: tr.t("tokens-revoke"),
        cancel: Link::new("/account/tokens", tr.t("confirm-cancel")),
        needs_code: false,
        errors: vec![],
        c,
    };
    html(StatusCode::OK, page)
}

pub async fn token_revoke(
    State(state): State<AppState>,
    Member(s): Member,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = Id::parse(&id).ok_or(AppError::NotFound)?;
    let event = AuditEvent::new(Some(&s.user.id), Action::ApiTokenRevoke, &id);
    state.store.revoke_api_token(&id, &s.user.id, event, Timestamp::now()).await?;
    Ok(Redirect::to("/account/tokens").into_response())
}

#[derive(Deserialize)]
pub struct EndSession {
    /// The session's handle, as the account page lists it.
    #[serde(default)]
    session: String,
}

/// Ends one of the user's own other sessions (a lost phone, a shared
/// computer). Someone else's, or an unknown one, is not found.
pub async fn session_end(
    State(state): State<AppState>,
    Member(s): Member,
    Form(form): Form<EndSession>,
) -> Result<Response, AppError> {
    let handle = form.session.trim();
    let digest = state
        .store
        .sessions_of(&s.user.id)
        .await?
        .into_iter()
        .map(|x| x.digest)
        .find(|d| kiteline_core::crypto::constant_time_eq(session_handle(&state, d).as_bytes(), handle.as_bytes()));
    let Some(digest) = digest else { return Ok(Redirect::to("/account#sessions").into_response()) };
    if digest == s.digest {
        // This one ends by logging out.
        return Ok(Redirect::to("/account#sessions").into_response());
    }
    let event = AuditEvent::new(Some(&s.user.id), Action::SessionEnd, &s.user.id);
    match state.store.end_own_session(&s.user.id, &digest, event, Timestamp::now()).await {
        Ok(()) | Err(kiteline_store::StoreError::NotFound) => Ok(Redirect::to("/account#sessions").into_response()),
        Err(e) => Err(e.into()),
    }
}
