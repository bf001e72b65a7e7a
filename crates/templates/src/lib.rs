//! Kiteline's presentation: askama templates (checked at compile time),
//! the stylesheet, and translations in English and Spanish (Fluent).
//!
//! Architecture invariant: nothing rendered here refers to another origin —
//! no fonts, scripts, images or styles from elsewhere — and pages work without
//! JavaScript.

pub mod i18n;
pub mod mail;
pub mod pages;

pub use i18n::{Lang, Tr};

/// The version shown by `/healthz` and used to bust the stylesheet cache.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The stylesheet, served from `/static/kiteline.css`.
pub const STYLESHEET: &str = include_str!("../static/kiteline.css");
