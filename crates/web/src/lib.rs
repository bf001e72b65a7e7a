//! Kiteline's HTTP layer: routes, handlers, extractors, errors and the
//! headers every response carries.
//!
//! [`router`] builds the whole application as an axum `Router`, so tests drive
//! it with `tower::ServiceExt::oneshot`, no socket needed.
//!
//! Architecture invariants:
//! * Handlers never build SQL; they call the [`Store`](kiteline_store::Store).
//! * No response refers to another origin; the CSP forbids it anyway.
//! * Logs carry the method, the *route pattern* (never the concrete path, which
//!   may hold a token), the status and the duration — no IPs, no user agents,
//!   no query strings, no form values.

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use kiteline_store::DynStore;
use kiteline_store::vault::Vault;

pub mod error;
pub mod locale;
pub mod mail;
pub mod middleware;
pub mod password;
mod routes;
pub mod tokens;

/// Settings the web layer needs, derived from the configuration.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// The public base URL (no trailing slash), used in links and for HSTS.
    pub public_url: String,
    /// The organization's name, shown in mail.
    pub site_name: String,
    /// `Name <address>` that mail comes from.
    pub mail_from: String,
}

impl WebConfig {
    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: DynStore,
    pub vault: Vault,
    pub config: Arc<WebConfig>,
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let https = state.config.is_https();
    Router::new()
        .route("/", get(routes::home))
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/static/kiteline.css", get(routes::stylesheet))
        .route("/language", post(routes::set_language))
        .route("/setup/{token}", get(routes::setup_form).post(routes::setup_submit))
        .route("/password/{token}", get(routes::password_form).post(routes::password_submit))
        .fallback(routes::not_found)
        .layer(axum::middleware::from_fn(middleware::error_pages))
        .layer(axum::middleware::from_fn(move |req, next| middleware::security_headers(https, req, next)))
        .layer(axum::middleware::from_fn(middleware::access_log))
        .with_state(state)
}

/// The route patterns the application serves, for tests that must cover them all.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/static/kiteline.css"),
    ("POST", "/language"),
    ("GET", "/setup/{token}"),
    ("POST", "/setup/{token}"),
    ("GET", "/password/{token}"),
    ("POST", "/password/{token}"),
];
