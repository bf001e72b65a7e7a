//! Kiteline's presentation: askama templates (checked at compile time),
//! the stylesheet, and translations in English and Spanish (Fluent).
//!
//! Architecture invariant: nothing rendered here refers to another origin —
//! no fonts, scripts, images or styles from elsewhere — and pages work without
//! JavaScript (the one script only adds conveniences).

pub mod i18n;
pub mod mail;
pub mod pages;

pub use i18n::{Lang, Tr};

/// The version shown by `/healthz` and used to bust the stylesheet cache.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The stylesheet, served from `/static/kiteline.css`.
pub const STYLESHEET: &str = include_str!("../static/kiteline.css");

/// The only script: small enhancements (the browser's time zone offered
/// on the profile form). Every page works without it.
pub const SCRIPT: &str = include_str!("../static/kiteline.js");

/// The favicon, served from `/static/favicon.svg` (and `/favicon.ico`).
pub const FAVICON: &str = include_str!("../static/favicon.svg");
