//! The visitor's language: a signed-in user's saved language; otherwise the
//! browser's explicit choice (the `kiteline_lang` cookie), then
//! `Accept-Language`, then English.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use kiteline_templates::{Lang, Tr};

pub const LANG_COOKIE: &str = "kiteline_lang";

/// The value of a cookie in the request, if present.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE).and_then(Lang::from_tag).unwrap_or_else(|| {
        Lang::negotiate(headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
    })
}

/// The language of a request: a signed-in user's saved language (one
/// setting, which the language switch changes too); otherwise the
/// browser's explicit choice, then its `Accept-Language`.
pub fn request_lang(headers: &HeaderMap, auth: Option<&crate::security::Auth>) -> Lang {
    if let Some(crate::security::Auth::Signed(s)) = auth
        && let Some(lang) = Lang::from_tag(&s.user.locale)
    {
        return lang;
    }
    lang_of(headers)
}

/// Extracts the translator for this request.
#[derive(Clone, Copy, Debug)]
pub struct Locale(pub Tr);

impl<S: Send + Sync> FromRequestParts<S> for Locale {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Locale(Tr::new(request_lang(&parts.headers, parts.extensions.get::<crate::security::Auth>()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_cookie_wins_over_accept_language() {
        let mut h = HeaderMap::new();
        h.insert("accept-language", HeaderValue::from_static("es-MX,es;q=0.9"));
        assert_eq!(lang_of(&h), Lang::Es);
        h.insert("cookie", HeaderValue::from_static("a=b; kiteline_lang=en"));
        assert_eq!(lang_of(&h), Lang::En);
        h.insert("cookie", HeaderValue::from_static("kiteline_lang=klingon"));
        assert_eq!(lang_of(&h), Lang::Es, "an unknown choice falls back to the header");
    }
}
