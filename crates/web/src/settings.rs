//! Settings: the organization's profile (name, descriptions in English and
//! Spanish, public contact e-mail and postal address), its logo, and the
//! components page that documents the pieces pages are built from.

use axum::Form;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::{SignedDuration, Timestamp};
use kiteline_core::{EmailAddress, account};
use kiteline_store::{Action, AuditEvent, OrgProfileUpdate};
use kiteline_templates::pages::{
    Banner, Card, Chrome, Column, ComponentsPage, FieldError, Link, OrgForm, Pager, ProgramForm, SettingsPage,
    SummaryRow, Tag,
};
use serde::Deserialize;

use crate::AppState;
use crate::error::AppError;
use crate::format;
use crate::logo::{self, LogoProblem};
use crate::routes::html;
use crate::security::{Admin, Page};

const MAX_DESCRIPTION: usize = 1000;
const MAX_ADDRESS_LINES: usize = 8;

async fn page(
    state: &AppState,
    c: Chrome,
    form: Option<OrgForm>,
    banner: Option<Banner>,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    page_full(state, c, form, None, banner, errors).await
}

/// The settings page with the program form as typed (and its errors).
pub(crate) async fn page_with_program(
    state: &AppState,
    c: Chrome,
    program: ProgramForm,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    page_full(state, c, None, Some(program), None, errors).await
}

async fn page_full(
    state: &AppState,
    c: Chrome,
    form: Option<OrgForm>,
    program: Option<ProgramForm>,
    banner: Option<Banner>,
    errors: Vec<FieldError>,
) -> Result<Response, AppError> {
    let profile = state.store.org_profile().await?;
    let program = program.unwrap_or_else(|| ProgramForm {
        program_en: profile.program_en.clone(),
        program_es: profile.program_es.clone(),
        coordination_email: profile.coordination_email.clone(),
        decline_en: profile.decline_en.clone(),
        decline_es: profile.decline_es.clone(),
    });
    let form = form.unwrap_or_else(|| OrgForm {
        name: if profile.name.is_empty() { state.config.site_name.clone() } else { profile.name.clone() },
        description_en: profile.description_en.clone(),
        description_es: profile.description_es.clone(),
        contact_email: profile.contact_email.clone(),
        postal_address: profile.postal_address.clone(),
    });
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    html(
        status,
        SettingsPage {
            c,
            banner,
            form,
            program,
            has_logo: profile.logo_version.is_some(),
            mail_sent: state.config.mail_sent,
            public_url: state.config.public_url.clone(),
            errors,
        },
    )
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

pub async fn form(
    State(state): State<AppState>,
    Admin(_): Admin,
    Page(c): Page,
    Query(q): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let banner = match q.done.as_str() {
        "saved" => Some(Banner::success(tr.t("settings-saved"), "")),
        "logo" => Some(Banner::success(tr.t("settings-logo-saved"), "")),
        "logo-removed" => Some(Banner::success(tr.t("settings-logo-removed"), "")),
        "program" => Some(Banner::success(tr.t("settings-program-saved"), "")),
        _ => None,
    };
    page(&state, c, None, banner, vec![]).await
}

#[derive(Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description_en: String,
    #[serde(default)]
    description_es: String,
    #[serde(default)]
    contact_email: String,
    #[serde(default)]
    postal_address: String,
}

/// Text with line breaks normalised, no other control characters.
fn multiline(raw: &str) -> Option<String> {
    let text = raw.replace("\r\n", "\n").replace('\r', "\n");
    let text = text.trim().to_owned();
    (!text.chars().any(|c| c.is_control() && c != '\n')).then_some(text)
}

pub async fn save(
    State(state): State<AppState>,
    Admin(me): Admin,
    Page(c): Page,
    Form(f): Form<ProfileForm>,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let mut errors = Vec::new();
    let name = match account::one_line(&f.name, 100) {
        Ok(n) if !n.is_empty() => n.to_owned(),
        _ => {
            errors.push(FieldError { field: "org_name", message: tr.t("error-org-name") });
            f.name.trim().to_owned()
        }
    };
    let mut description = |raw: &str, field: &'static str| match multiline(raw) {
        Some(t) if t.chars().count() <= MAX_DESCRIPTION => t,
        _ => {
            errors.push(FieldError { field, message: tr.t("error-description") });
            raw.to_owned()
        }
    };
    let description_en = description(&f.description_en, "description_en");
    let description_es = description(&f.description_es, "description_es");
    let contact_email = f.contact_email.trim().to_owned();
    if !contact_email.is_empty() && EmailAddress::parse(&contact_email).is_none() {
        errors.push(FieldError { field: "contact_email", message: tr.t("error-contact-email") });
    }
    let postal_address = match multiline(&f.postal_address) {
        Some(a) if a.lines().count() <= MAX_ADDRESS_LINES && a.lines().all(|l| l.chars().count() <= 100) => a,
        _ => {
            errors.push(FieldError { field: "postal_address", message: tr.t("error-postal-address") });
            f.postal_address.clone()
        }
    };
    let form = OrgForm {
        name: name.clone(),
        description_en: description_en.clone(),
        description_es: description_es.clone(),
        contact_email: contact_email.clone(),
        postal_address: postal_address.clone(),
    };
    if !errors.is_empty() {
        return page(&state, c, Some(form), None, errors).await;
    }
    let update = OrgProfileUpdate { name, description_en, description_es, contact_email, postal_address };
    let event = AuditEvent::new(Some(&me.user.id), Action::OrgProfileUpdate, "profile");
    state.store.update_org_profile(update, event, Timestamp::now()).await?;
    state.site.invalidate();
    Ok(Redirect::to("/admin/settings?done=saved").into_response())
}

/// The logo form (multipart): a PNG or SVG file, sanitized, or `remove`.
pub async fn logo_upload(
    State(state): State<AppState>,
    Admin(me): Admin,
    Page(c): Page,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let tr = c.tr;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let boundary = crate::multipart::boundary(content_type).ok_or(AppError::BadRequest)?;
    let parts = crate::multipart::parts(body, &boundary).await.ok_or(AppError::BadRequest)?;
    let now = Timestamp::now();
    let event = AuditEvent::new(Some(&me.user.id), Action::OrgLogoUpdate, "logo");
    if crate::multipart::text(&parts, "remove") == Some("on") {
        state.store.set_org_logo(None, event, now).await?;
        state.site.invalidate();
        return Ok(Redirect::to("/admin/settings?done=logo-removed").into_response());
    }
    let file = parts.iter().find(|p| p.name == "logo" && p.file_name.is_some()).filter(|p| !p.data.is_empty());
    let refuse = |key: &str| vec![FieldError { field: "logo", message: tr.t(key) }];
    let Some(file) = file else { return page(&state, c, None, None, refuse("error-logo-missing")).await };
    match logo::sanitize(&file.data) {
        Ok((bytes, kind)) => {
            state.store.set_org_logo(Some((bytes, kind)), event, now).await?;
            state.site.invalidate();
            Ok(Redirect::to("/admin/settings?done=logo").into_response())
        }
        Err(problem) => {
            let key = match problem {
                LogoProblem::Type => "error-logo-type",
                LogoProblem::TooLarge => "error-logo-size",
                LogoProblem::Broken => "error-logo-broken",
            };
            page(&state, c, None, None, refuse(key)).await
        }
    }
}

/// The logo, from our own origin, unable to run anything even if opened
/// directly: its own CSP forbids scripts and sandboxes it.
pub async fn logo(State(state): State<AppState>) -> Result<Response, AppError> {
    let logo = state.store.org_logo().await?.ok_or(AppError::NotFound)?;
    let mut response = logo.bytes.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_str(&logo.content_type).map_err(|_| AppError::NotFound)?);
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    // Public, and its address changes with every upload (`?v=`).
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("inline"));
    Ok(response)
}

/// The components, each with an example, in the viewer's language and zone.
pub async fn components(Admin(me): Admin, Page(c): Page) -> Result<Response, AppError> {
    let tr = c.tr;
    let zone = format::zone_of(&me.user);
    let now = Timestamp::now();
    let ago = |h: i64| format::moment(now - SignedDuration::from_hours(h), &zone, tr);
    let tags = vec![
        Tag::new(tr.t("components-example-active"), "ok"),
        Tag::new(tr.t("components-example-waiting"), "warn"),
        Tag::new(tr.t("components-example-problem"), "info"),
        Tag::new(tr.t("components-example-closed"), "off"),
    ];
    let columns = vec![
        Column {
            label: tr.t("field-their-name"),
            href: Some("/admin/components?sort=name&dir=desc".into()),
            sort: Some("ascending"),
        },
        Column { label: tr.t("users-chapter"), href: Some("/admin/components?sort=chapter".into()), sort: None },
        Column::plain(tr.t("users-status")),
        Column::plain(tr.t("users-added")),
    ];
    let rows = vec![
        ("Ana Ruiz".to_owned(), "Bay Area".to_owned(), tags[0].clone(), ago(2)),
        ("Bo Chen".to_owned(), tr.t("users-at-large"), tags[1].clone(), ago(30)),
        ("Dolores Ibarra".to_owned(), "Los Angeles".to_owned(), tags[3].clone(), ago(200)),
    ];
    let summary = vec![
        SummaryRow {
            key: tr.t("field-email"),
            value: "ana@example.org".into(),
            tag: None,
            change: Some(Link::new("/admin/components", tr.t("summary-change"))),
        },
        SummaryRow::new(tr.t("users-role"), format::role(tr, kiteline_core::Role::Coordinator)),
        SummaryRow::tagged(tr.t("users-status"), tags[0].clone()),
    ];
    let card = Card {
        title: "Ana Ruiz".into(),
        href: Some("/admin/components".into()),
        meta: format!("{} · Bay Area", format::role(tr, kiteline_core::Role::Coordinator)),
        tags: vec![tags[0].clone(), Tag::new(tr.t("status-2fa"), "info")],
    };
    let banners = vec![
        Banner::success(tr.t("components-banner-success"), tr.t("components-banner-success-text")),
        Banner::info(tr.t("components-banner-info"), tr.t("components-banner-info-text")),
        Banner::warning(tr.t("components-banner-warning"), tr.t("components-banner-warning-text")),
    ];
    let page = ComponentsPage {
        crumbs: vec![Link::new("/", tr.t("nav-home")), Link::new("/admin/settings", tr.t("settings-title"))],
        columns,
        rows,
        pager: Pager {
            page: 2,
            pages: 3,
            prev: Some("/admin/components?page=1".into()),
            next: Some("/admin/components?page=3".into()),
        },
        tags,
        summary,
        card,
        banners,
        moment: format::moment(now, &zone, tr),
        zone: format::zone_name(&zone),
        c,
    };
    html(StatusCode::OK, page)
}
