//! Kiteline's HTTP layer: routes, handlers, extractors, errors and the
//! headers every response carries.
//!
//! [`router`] builds the whole application as an axum `Router` from one table
//! ([`route_table`]), so tests drive it with `tower::ServiceExt::oneshot` and
//! can require that every route appears in the access matrix.
//!
//! Architecture invariants:
//! * Handlers never build SQL; they call the [`Store`](kiteline_store::Store),
//!   one method per user action, or a use-case in [`actions`] that does.
//! * No response refers to another origin; the CSP forbids it anyway.
//! * Who may reach a handler is in its signature: an extractor from
//!   [`security`] (`Member`, `Staff`, `Admin`, `Enrolling`, `AwaitingCode`,
//!   `api::Caller`) — never a check hidden in the body alone.
//! * Logs carry the method, the *route pattern* (never the concrete path, which
//!   may hold a token), the status and the duration — no IPs, no user agents,
//!   no query strings, no form values, no session ids.

use std::sync::Arc;

use axum::Router;
use axum::routing::{MethodRouter, get, post};
use kiteline_store::SharedStore;
use kiteline_store::vault::Vault;

mod account;
pub mod actions;
pub mod api;
mod api_program;
mod applications;
mod audit_log;
mod auth;
mod chapters;
mod clearance;
mod dashboard;
pub mod device;
pub mod error;
pub mod format;
pub mod locale;
pub mod logo;
pub mod mail;
pub mod middleware;
pub mod multipart;
mod openapi;
mod pages_fields;
pub mod password;
mod people;
mod program;
mod routes;
pub mod security;
mod settings;
pub mod site;
pub mod tokens;
mod training;
mod volunteers;

/// Settings the web layer needs, derived from the configuration.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// The public base URL (no trailing slash), used in links and for HSTS.
    pub public_url: String,
    /// The organization's name, shown in mail.
    pub site_name: String,
    /// `Name <address>` that mail comes from.
    pub mail_from: String,
    /// A header carrying the client address when behind a proxy
    /// (`X-Forwarded-For`); `None` uses the socket's peer address.
    pub client_ip_header: Option<String>,
    /// How many proxies append to that header: the address is taken this
    /// many entries from the right.
    pub trusted_proxies: usize,
    /// Coordinators of a chapter also see at-large volunteers.
    pub chapter_coordinators_see_at_large: bool,
    /// A request body must have arrived this long after the request began.
    pub body_timeout: std::time::Duration,
    /// A request must be answered within this.
    pub request_timeout: std::time::Duration,
    /// The country calling code (digits, no `+`) added to phone numbers
    /// written without one; `None` refuses such numbers.
    pub default_calling_code: Option<String>,
    /// Mail leaves through SMTP; otherwise it is written to a folder and
    /// pages that "send" mail say so.
    pub mail_sent: bool,
}

impl AppState {
    /// What the use-cases in [`actions`] need.
    pub fn ctx(&self) -> actions::Ctx<'_> {
        actions::Ctx {
            store: &self.store,
            vault: &self.vault,
            site_name: self.site.current().name.clone(),
            public_url: &self.config.public_url,
        }
    }
}

impl WebConfig {
    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// The origin (`scheme://host[:port]`) of the public URL, which an
    /// `Origin` header of a same-site form post must equal.
    pub fn origin(&self) -> &str {
        let after_scheme = self.public_url.find("://").map_or(0, |i| i + 3);
        match self.public_url[after_scheme..].find('/') {
            Some(i) => &self.public_url[..after_scheme + i],
            None => &self.public_url,
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: SharedStore,
    pub vault: Vault,
    pub config: Arc<WebConfig>,
    pub limits: Arc<security::RateLimits>,
    /// The organization's profile, as every page shows it.
    pub site: Arc<site::SiteCache>,
}

/// Every route: method, path pattern, handler.
pub fn route_table() -> Vec<(&'static str, &'static str, MethodRouter<AppState>)> {
    vec![
        ("GET", "/", get(dashboard::home)),
        ("GET", "/healthz", get(routes::healthz)),
        ("GET", "/readyz", get(routes::readyz)),
        ("GET", "/static/kiteline.css", get(routes::stylesheet)),
        ("GET", "/static/kiteline.js", get(routes::script)),
        ("GET", "/static/favicon.svg", get(routes::favicon)),
        ("GET", "/favicon.ico", get(routes::favicon)),
        ("GET", "/logo", get(settings::logo)),
        ("POST", "/language", post(routes::set_language)),
        ("GET", "/line", get(program::program)),
        ("GET", "/apply", get(program::apply_form)),
        ("POST", "/apply", post(program::apply_submit)),
        ("GET", "/setup/{token}", get(routes::setup_form)),
        ("POST", "/setup/{token}", post(routes::setup_submit)),
        ("GET", "/password/{token}", get(routes::password_form)),
        ("POST", "/password/{token}", post(routes::password_submit)),
        ("GET", "/login", get(auth::login_form)),
        ("POST", "/login", post(auth::login_submit)),
        ("GET", "/login/2fa", get(auth::code_form)),
        ("POST", "/login/2fa", post(auth::code_submit)),
        ("POST", "/logout", post(auth::logout)),
        ("POST", "/logout/everywhere", post(auth::logout_everywhere)),
        ("GET", "/password/reset", get(auth::reset_form)),
        ("POST", "/password/reset", post(auth::reset_submit)),
        ("GET", "/account", get(account::profile_form)),
        ("POST", "/account", post(account::profile_submit)),
        ("POST", "/account/sessions/end", post(account::session_end)),
        ("GET", "/account/password", get(account::password_form)),
        ("POST", "/account/password", post(account::password_submit)),
        ("GET", "/account/2fa", get(account::two_factor)),
        ("POST", "/account/2fa/setup", post(account::two_factor_setup)),
        ("POST", "/account/2fa/confirm", post(account::two_factor_confirm)),
        ("POST", "/account/2fa/recovery-codes", post(account::two_factor_new_codes)),
        ("POST", "/account/2fa/disable", post(account::two_factor_disable)),
        ("GET", "/account/tokens", get(account::tokens)),
        ("POST", "/account/tokens", post(account::token_create)),
        ("GET", "/account/tokens/{id}/revoke", get(account::token_revoke_confirm)),
        ("POST", "/account/tokens/{id}/revoke", post(account::token_revoke)),
        ("GET", "/admin/users", get(people::list)),
        ("POST", "/admin/users/invite", post(people::invite)),
        ("GET", "/admin/users/{id}", get(people::person)),
        ("POST", "/admin/users/{id}/resend", post(people::resend)),
        ("POST", "/admin/users/{id}/role", post(people::change_role)),
        ("GET", "/admin/users/{id}/disable", get(people::disable_confirm)),
        ("POST", "/admin/users/{id}/disable", post(people::disable)),
        ("POST", "/admin/users/{id}/enable", post(people::enable)),
        ("GET", "/admin/users/{id}/reset-2fa", get(people::reset_confirm)),
        ("POST", "/admin/users/{id}/reset-2fa", post(people::reset_second_factor)),
        ("GET", "/admin/applications", get(applications::list)),
        ("GET", "/admin/applications/{id}", get(applications::show)),
        ("POST", "/admin/applications/{id}/decide", post(applications::decide)),
        ("GET", "/admin/training", get(training::admin)),
        ("POST", "/admin/training/modules", post(training::create_module)),
        ("GET", "/admin/training/modules/{id}", get(training::module)),
        ("POST", "/admin/training/modules/{id}", post(training::update_module)),
        ("POST", "/admin/training/sessions", post(training::schedule)),
        ("GET", "/training", get(training::mine)),
        ("POST", "/training/pause", post(volunteers::pause)),
        ("POST", "/training/resume", post(volunteers::resume)),
        ("GET", "/admin/volunteers", get(volunteers::list)),
        ("POST", "/admin/volunteers/export", post(volunteers::export)),
        ("GET", "/admin/volunteers/{id}", get(volunteers::show)),
        ("POST", "/admin/volunteers/{id}/grant", post(volunteers::grant)),
        ("POST", "/admin/volunteers/{id}/standing", post(volunteers::set_standing)),
        ("GET", "/training/sessions/{id}", get(training::session)),
        ("POST", "/training/sessions/{id}/signup", post(training::sign_up)),
        ("POST", "/training/sessions/{id}/leave", post(training::leave)),
        ("POST", "/training/sessions/{id}/attendance", post(training::attendance)),
        ("GET", "/admin/chapters", get(chapters::list)),
        ("POST", "/admin/chapters", post(chapters::add)),
        ("POST", "/admin/chapters/{id}/rename", post(chapters::rename)),
        ("GET", "/admin/chapters/{id}/remove", get(chapters::remove_confirm)),
        ("POST", "/admin/chapters/{id}/remove", post(chapters::remove)),
        ("GET", "/admin/audit", get(audit_log::list)),
        ("POST", "/admin/audit", post(audit_log::find)),
        ("GET", "/admin/settings", get(settings::form)),
        ("POST", "/admin/settings", post(settings::save)),
        ("POST", "/admin/settings/logo", post(settings::logo_upload)),
        ("POST", "/admin/settings/program", post(program::program_settings)),
        ("GET", "/admin/components", get(settings::components)),
        ("GET", "/api/v1/me", get(api::me)),
        ("POST", "/api/v1/me/logout-everywhere", post(api::logout_everywhere)),
        ("GET", "/api/v1/users", get(api::users)),
        ("GET", "/api/v1/openapi.json", get(openapi::document)),
        ("GET", "/api/v1/applications", get(api_program::applications)),
        ("GET", "/api/v1/applications/{id}", get(api_program::application)),
        ("POST", "/api/v1/applications/{id}/decision", post(api_program::decide)),
        ("GET", "/api/v1/volunteers", get(api_program::volunteers)),
        ("GET", "/api/v1/volunteers/{id}", get(api_program::volunteer)),
        ("POST", "/api/v1/volunteers/{id}/qualifications", post(api_program::grant)),
        ("GET", "/api/v1/training/modules", get(api_program::modules)),
        ("GET", "/api/v1/training/sessions", get(api_program::sessions)),
        ("POST", "/api/v1/training/sessions", post(api_program::schedule)),
        ("GET", "/api/v1/training/sessions/{id}", get(api_program::session)),
        ("POST", "/api/v1/training/sessions/{id}/attendance", post(api_program::attendance)),
    ]
}

/// The page (answering GET) that a form answered at `path` (matched by the
/// route `pattern`) belongs to: the path itself if its route answers GET,
/// otherwise the nearest parent whose route does, else `/`. The language
/// switch returns there, so it never lands on a 405 or a 404.
pub fn page_for(pattern: &str, path: &str) -> String {
    static GET_PATTERNS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    let patterns = GET_PATTERNS.get_or_init(|| {
        route_table()
            .into_iter()
            .filter(|(m, p, _)| *m == "GET" && !p.starts_with("/api/") && !p.starts_with("/static/"))
            .map(|(_, p, _)| p)
            .collect()
    });
    let pattern_segments: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let path_segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if pattern_segments.len() != path_segments.len() {
        return "/".to_owned();
    }
    for n in (2..=pattern_segments.len()).rev() {
        if patterns.contains(&pattern_segments[..n].join("/").as_str()) {
            return path_segments[..n].join("/");
        }
    }
    "/".to_owned()
}

/// The (method, pattern) of every route, for tests.
pub fn routes() -> Vec<(&'static str, &'static str)> {
    route_table().into_iter().map(|(m, p, _)| (m, p)).collect()
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let https = state.config.is_https();
    let (body_timeout, request_timeout) = (state.config.body_timeout, state.config.request_timeout);
    let site = state.site.clone();
    let mut r: Router<AppState> = Router::new();
    let mut by_path: Vec<(&'static str, MethodRouter<AppState>)> = Vec::new();
    for (_, path, handler) in route_table() {
        match by_path.iter_mut().find(|(p, _)| *p == path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(handler),
            None => by_path.push((path, handler)),
        }
    }
    for (path, handler) in by_path {
        r = r.route(path, handler);
    }
    r.fallback(routes::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::error_pages))
        .layer(axum::middleware::from_fn_with_state(state.clone(), security::load_session))
        .layer(axum::middleware::from_fn_with_state(state.clone(), security::csrf))
        .layer(axum::middleware::from_fn(move |req, next| middleware::body_deadline(body_timeout, req, next)))
        .layer(axum::middleware::from_fn(move |req, next| {
            middleware::request_timeout(request_timeout, site.clone(), req, next)
        }))
        .layer(axum::middleware::from_fn(move |req, next| middleware::security_headers(https, req, next)))
        .layer(axum::middleware::from_fn(middleware::access_log))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_form_answer_maps_to_the_page_it_belongs_to() {
        let id = "01JD0000000000000000000000";
        for (pattern, path, page) in [
            ("/account/2fa/recovery-codes", "/account/2fa/recovery-codes".to_owned(), "/account/2fa".to_owned()),
            ("/account/2fa/confirm", "/account/2fa/confirm".into(), "/account/2fa".into()),
            ("/account/tokens", "/account/tokens".into(), "/account/tokens".into()),
            ("/admin/users/invite", "/admin/users/invite".into(), "/admin/users".into()),
            ("/admin/users/{id}/role", format!("/admin/users/{id}/role"), format!("/admin/users/{id}")),
            ("/admin/chapters/{id}/rename", format!("/admin/chapters/{id}/rename"), "/admin/chapters".into()),
            ("/account/sessions/end", "/account/sessions/end".into(), "/account".into()),
            ("/logout", "/logout".into(), "/".into()),
            ("/language", "/language".into(), "/".into()),
            ("/password/{token}", "/password/abc".into(), "/password/abc".into()),
            ("/nowhere/{x}", "/nowhere/at/all".into(), "/".into()),
        ] {
            assert_eq!(super::page_for(pattern, &path), page, "{path}");
        }
    }
}
