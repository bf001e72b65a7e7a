//! Middleware every response passes through: the access log, the security
//! headers, and the rendering of error pages in the visitor's language.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kiteline_templates::Tr;
use kiteline_templates::pages::{Chrome, MessagePage};

use crate::error::{ErrorPage, ErrorReference};
use crate::locale::lang_of;

/// One line per request: method, route pattern, status, milliseconds.
///
/// The route *pattern* (`/setup/{token}`), never the path, so tokens and ids
/// stay out of logs; no query, no client address, no user agent.
pub async fn access_log(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route =
        req.extensions().get::<MatchedPath>().map_or_else(|| "(unmatched)".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(target: "kiteline::http", %method, route, status, ms = format_args!("{ms:.1}"), "request");
    response
}

/// The policy every response carries. `default-src 'self'` and no inline
/// script; nothing may frame us; no referrer leaves; nothing sniffed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub async fn security_headers(https: bool, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    // A handler may set a stricter policy (the logo does).
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    h.insert("permissions-policy", HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"));
    if https {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    }
    // Pages are private unless a handler says otherwise (the stylesheet does).
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    h.insert(header::VARY, HeaderValue::from_static("Cookie, Accept-Language"));
    response
}

/// Gives error responses a page in the visitor's language: those marked with
/// [`ErrorPage`] by a handler, and axum's own plain-text rejections (a form
/// that does not parse, a wrong method).
pub async fn error_pages(State(state): State<crate::AppState>, req: Request, next: Next) -> Response {
    let lang = crate::locale::request_lang(req.headers(), req.extensions().get::<crate::security::Auth>());
    let site = state.site.current();
    let csrf = req.extensions().get::<crate::security::CsrfToken>().map(|t| t.0.clone()).unwrap_or_default();
    let nav = req.extensions().get::<crate::security::Auth>().and_then(|a| a.nav());
    let api = req.uri().path().starts_with("/api/");
    let response = next.run(req).await;
    let status = response.status();
    // The API answers its errors in JSON, as its document says.
    if api {
        let is_json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.to_str().is_ok_and(|v| v.starts_with("application/json")));
        if status.is_client_error() || status.is_server_error() {
            if is_json {
                return response;
            }
            let message = status.canonical_reason().unwrap_or("error").to_ascii_lowercase();
            let (mut parts, _) = response.into_parts();
            parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            parts.headers.remove(header::CONTENT_LENGTH);
            let body = serde_json::json!({ "error": message }).to_string();
            return Response::from_parts(parts, axum::body::Body::from(body));
        }
        return response;
    }
    let marked = response.extensions().get::<ErrorPage>().copied();
    let is_plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.to_str().is_ok_and(|v| v.starts_with("text/plain")));
    let page = match marked {
        Some(p) => p,
        None if status.is_client_error() && is_plain => ErrorPage::BadRequest,
        None if status == StatusCode::METHOD_NOT_ALLOWED => ErrorPage::BadRequest,
        _ => return response,
    };
    let reference = response.extensions().get::<ErrorReference>().cloned();
    let (mut parts, _) = response.into_parts();
    let c = Chrome::new(Tr::new(lang), "/", csrf, nav).with_site(site);
    let body = render_error(c, page, reference);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// An error page for middleware that runs before the page context exists
/// (the CSRF check): in the visitor's language, without navigation.
pub fn early_error_page(
    headers: &axum::http::HeaderMap,
    site: std::sync::Arc<kiteline_templates::pages::Site>,
    error: crate::error::AppError,
) -> Response {
    let response = error.into_response();
    let Some(page) = response.extensions().get::<ErrorPage>().copied() else { return response };
    let (mut parts, _) = response.into_parts();
    let body = render_error(Chrome::new(Tr::new(lang_of(headers)), "/", "", None).with_site(site), page, None);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    Response::from_parts(parts, axum::body::Body::from(body))
}

fn render_error(c: Chrome, page: ErrorPage, reference: Option<ErrorReference>) -> String {
    let tr = c.tr;
    let key = match page {
        ErrorPage::NotFound => "not-found",
        ErrorPage::BadRequest => "bad-request",
        ErrorPage::Forbidden => "forbidden",
        ErrorPage::Csrf => "csrf",
        ErrorPage::RateLimited(_) => "rate-limited",
        ErrorPage::Busy(_) => "busy",
        ErrorPage::ClientAddress => "client-address",
        ErrorPage::RequestTimeout => "request-timeout",
        ErrorPage::TooLarge => "too-large",
        ErrorPage::Internal => "server-error",
    };
    let mut message = MessagePage::from_key(c, key);
    if let ErrorPage::RateLimited(seconds) = page {
        message.text = tr.t_with("rate-limited-text", &[("seconds", &seconds.to_string())]);
    }
    if let ErrorPage::Busy(seconds) = page {
        message.text = tr.t_with("busy-text", &[("seconds", &seconds.to_string())]);
    }
    if let Some(ErrorReference(r)) = reference {
        message.text = format!("{} (ref {r})", message.text);
    }
    askama::Template::render(&message).unwrap_or_else(|_| "error".into())
}

/// A request that is not answered within `limit` gets 503 (a page in the
/// visitor's language, with `Retry-After`).
pub async fn request_timeout(
    limit: Duration,
    site: std::sync::Arc<crate::site::SiteCache>,
    req: Request,
    next: Next,
) -> Response {
    let headers = req.headers().clone();
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(target: "kiteline::http", limit_s = limit.as_secs(), "request timed out");
            early_error_page(&headers, site.current(), crate::error::AppError::Busy(5))
        }
    }
}

/// Gives the request body a deadline: a body that has not fully arrived
/// `limit` after the request began fails with [`BodyTimedOut`] (a trickled
/// body no longer holds a connection open indefinitely).
pub async fn body_deadline(limit: Duration, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::Body::new(Deadline { inner: body, sleep: Box::pin(tokio::time::sleep(limit)) });
    next.run(Request::from_parts(parts, body)).await
}

/// The error a body past its deadline yields.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

struct Deadline {
    inner: axum::body::Body,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for Deadline {
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
