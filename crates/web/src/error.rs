//! The error policy, in one place.
//!
//! * What the visitor did wrong (a bad form, an unusable link, a missing page)
//!   becomes a 4xx page in their language that says what to do. Such errors are
//!   not logged as errors.
//! * Everything else (database down, a bug) is logged once at `error` with a
//!   short reference, and the visitor gets a 500 page with that reference and
//!   nothing of the internals.
//!
//! Handlers return [`AppError`]; [`crate::middleware::error_pages`] renders the
//! page, because only it knows the visitor's language.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Marks a response whose body the error-page middleware must render.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorPage {
    NotFound,
    BadRequest,
    Forbidden,
    Csrf,
    /// Seconds to wait.
    RateLimited(u64),
    /// Too busy now; seconds to wait.
    Busy(u64),
    /// The proxy's client-address header could not be used.
    ClientAddress,
    /// The request body did not arrive in time.
    RequestTimeout,
    /// The request body was larger than Kiteline reads.
    TooLarge,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("bad request")]
    BadRequest,
    #[error("forbidden")]
    Forbidden,
    #[error("missing or wrong CSRF token")]
    Csrf,
    #[error("rate limited for {0} s")]
    RateLimited(u64),
    #[error("busy for {0} s")]
    Busy(u64),
    #[error("unusable client-address header")]
    ClientAddress,
    #[error("request body timed out")]
    RequestTimeout,
    /// A form body larger than Kiteline reads.
    #[error("request body too large")]
    TooLarge,
    #[error("internal: {0}")]
    Internal(String),
}

/// The one place a store's `NotFound` becomes a 404: handlers just use `?`.
/// A conflict a handler did not turn into a form error is a bug (500).
impl From<kiteline_store::StoreError> for AppError {
    fn from(e: kiteline_store::StoreError) -> Self {
        match e {
            kiteline_store::StoreError::NotFound => AppError::NotFound,
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<crate::mail::QueueError> for AppError {
    fn from(e: crate::mail::QueueError) -> Self {
        match e {
            crate::mail::QueueError::Store(e) => e.into(),
            header => AppError::Internal(header.to_string()),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, page) = match self {
            AppError::NotFound => (StatusCode::NOT_FOUND, ErrorPage::NotFound),
            AppError::BadRequest => (StatusCode::BAD_REQUEST, ErrorPage::BadRequest),
            AppError::Forbidden => (StatusCode::FORBIDDEN, ErrorPage::Forbidden),
            AppError::Csrf => (StatusCode::FORBIDDEN, ErrorPage::Csrf),
            AppError::ClientAddress => (StatusCode::BAD_REQUEST, ErrorPage::ClientAddress),
            AppError::RequestTimeout => (StatusCode::REQUEST_TIMEOUT, ErrorPage::RequestTimeout),
            AppError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, ErrorPage::TooLarge),
            AppError::RateLimited(s) => {
                let mut r =
                    (StatusCode::TOO_MANY_REQUESTS, [(axum::http::header::RETRY_AFTER, s.to_string())]).into_response();
                r.extensions_mut().insert(ErrorPage::RateLimited(s));
                return r;
            }
            AppError::Busy(s) => {
                let mut r = (StatusCode::SERVICE_UNAVAILABLE, [(axum::http::header::RETRY_AFTER, s.to_string())])
                    .into_response();
                r.extensions_mut().insert(ErrorPage::Busy(s));
                return r;
            }
            AppError::Internal(detail) => {
                let reference = kiteline_core::crypto::hex(&kiteline_store::random_bytes::<4>());
                tracing::error!(reference, error = %detail, "request failed");
                let mut r = (StatusCode::INTERNAL_SERVER_ERROR, ()).into_response();
                r.extensions_mut().insert(ErrorPage::Internal);
                r.extensions_mut().insert(ErrorReference(reference));
                return r;
            }
        };
        let mut r = status.into_response();
        r.extensions_mut().insert(page);
        r
    }
}

/// The reference logged with an internal error, shown on its page.
#[derive(Clone, Debug)]
pub struct ErrorReference(pub String);
