//! The visitor's language: their explicit choice (the `kiteline_lang` cookie)
//! first, then `Accept-Language`, then English.

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

/// Extracts the translator for this request.
#[derive(Clone, Copy, Debug)]
pub struct Locale(pub Tr);

impl<S: Send + Sync> FromRequestParts<S> for Locale {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // An explicit choice on this browser wins; then a signed-in user's
        // saved language; then the browser's Accept-Language.
        if let Some(lang) = cookie(&parts.headers, LANG_COOKIE).and_then(Lang::from_tag) {
            return Ok(Locale(Tr::new(lang)));
        }
        if let Some(crate::security::Auth::Signed(s)) = parts.extensions.get::<crate::security::Auth>()
            && let Some(lang) = Lang::from_tag(&s.user.locale)
        {
            return Ok(Locale(Tr::new(lang)));
        }
        Ok(Locale(Tr::new(lang_of(&parts.headers))))
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
