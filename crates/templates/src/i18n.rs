//! Translations with Fluent, and choosing a language.
//!
//! The language of a page is, in order: the visitor's explicit choice (the
//! `kiteline_lang` cookie set by the language buttons, later a user's profile),
//! then the best match in `Accept-Language`, then English.

use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use unic_langid::LanguageIdentifier;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Es,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Es];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
        }
    }

    /// Accepts a language tag whose primary subtag we translate (`es-MX` → es).
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.code() == primary)
    }

    /// The best language for an `Accept-Language` header value, by q-value
    /// (ties keep the header's order); English when nothing matches.
    pub fn negotiate(accept_language: Option<&str>) -> Lang {
        let Some(header) = accept_language else {
            return Lang::En;
        };
        let mut best: Option<(u16, Lang)> = None;
        for item in header.split(',').take(20) {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("");
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .map_or(1000, |q| (q.clamp(0.0, 1.0) * 1000.0) as u16);
            if q == 0 {
                continue;
            }
            if let Some(lang) = Lang::from_tag(tag)
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }
}

const SOURCES: [(Lang, &str); 2] =
    [(Lang::En, include_str!("../locales/en/kiteline.ftl")), (Lang::Es, include_str!("../locales/es/kiteline.ftl"))];

fn bundles() -> &'static [FluentBundle<FluentResource>; 2] {
    static BUNDLES: OnceLock<[FluentBundle<FluentResource>; 2]> = OnceLock::new();
    BUNDLES.get_or_init(|| SOURCES.map(|(lang, src)| build_bundle(lang, src)))
}

fn build_bundle(lang: Lang, source: &str) -> FluentBundle<FluentResource> {
    let id: LanguageIdentifier = lang.code().parse().expect("static language tag parses");
    let resource = FluentResource::try_new(source.to_owned()).expect("bundled .ftl files parse (checked by tests)");
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // No Unicode isolation marks: both languages are left-to-right, and the
    // marks would end up inside e-mail subjects and form values.
    bundle.set_use_isolating(false);
    bundle.add_resource(resource).expect("no duplicate message ids (checked by tests)");
    bundle
}

/// A translator for one language; what templates call `tr.t("id")` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tr {
    lang: Lang,
}

impl Tr {
    pub fn new(lang: Lang) -> Tr {
        Tr { lang }
    }

    pub fn lang(&self) -> Lang {
        self.lang
    }

    pub fn t(&self, id: &str) -> String {
        self.format(id, None)
    }

    pub fn t_with(&self, id: &str, args: &[(&str, &str)]) -> String {
        let mut fa = FluentArgs::new();
        for (k, v) in args {
            fa.set(*k, *v);
        }
        self.format(id, Some(&fa))
    }

    fn format(&self, id: &str, args: Option<&FluentArgs<'_>>) -> String {
        let bundle = &bundles()[self.lang as usize];
        let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) else {
            // A missing message is a bug the tests catch; show the id, never panic.
            return id.to_owned();
        };
        let mut errors = Vec::new();
        bundle.format_pattern(pattern, args, &mut errors).into_owned()
    }
}

/// Message ids defined for a language (tests compare languages with this).
pub fn message_ids(lang: Lang) -> Vec<String> {
    let src = SOURCES[lang as usize].1;
    let resource = FluentResource::try_new(src.to_owned()).expect("bundled .ftl parses");
    let mut ids: Vec<String> = resource
        .entries()
        .filter_map(|e| match e {
            fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_owned()),
            _ => None,
        })
        .collect();
    ids.sort();
    ids
}

/// Parses both bundles, failing with the parser's complaint (for tests).
pub fn check_sources() -> Result<(), String> {
    for (lang, src) in SOURCES {
        if let Err((_, errs)) = FluentResource::try_new(src.to_owned()) {
            return Err(format!("{}: {errs:?}", lang.code()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_define_the_same_messages() {
        check_sources().unwrap();
        let (en, es) = (message_ids(Lang::En), message_ids(Lang::Es));
        let missing_es: Vec<_> = en.iter().filter(|i| !es.contains(i)).collect();
        let missing_en: Vec<_> = es.iter().filter(|i| !en.contains(i)).collect();
        assert!(missing_es.is_empty() && missing_en.is_empty(), "es lacks {missing_es:?}; en lacks {missing_en:?}");
    }

    #[test]
    fn every_message_used_by_a_template_or_the_code_exists() {
        let en = message_ids(Lang::En);
        let sources = [
            include_str!("../templates/base.html"),
            include_str!("../templates/home.html"),
            include_str!("../templates/errors.html"),
            include_str!("../templates/setup.html"),
            include_str!("../templates/password_fields.html"),
            include_str!("../templates/set_password.html"),
            include_str!("../templates/login.html"),
            include_str!("../templates/login_2fa.html"),
            include_str!("../templates/reset.html"),
            include_str!("../templates/account.html"),
            include_str!("../templates/account_password.html"),
            include_str!("../templates/account_2fa.html"),
            include_str!("../templates/account_tokens.html"),
            include_str!("../templates/admin_users.html"),
            include_str!("../templates/admin_audit.html"),
            include_str!("../templates/admin_user.html"),
            include_str!("../templates/admin_chapters.html"),
            include_str!("../templates/admin_settings.html"),
            include_str!("../templates/audit_table.html"),
            include_str!("../templates/components.html"),
            include_str!("../templates/confirm.html"),
            include_str!("../templates/dashboard.html"),
            include_str!("../templates/message.html"),
            include_str!("../templates/ui.html"),
            include_str!("../templates/program.html"),
            include_str!("../templates/apply.html"),
            include_str!("../templates/admin_applications.html"),
            include_str!("../templates/admin_application.html"),
            include_str!("../templates/admin_training.html"),
            include_str!("../templates/admin_module.html"),
            include_str!("../templates/module_fields.html"),
            include_str!("../templates/sessions_table.html"),
            include_str!("../templates/training.html"),
            include_str!("../templates/training_session.html"),
            include_str!("../templates/admin_volunteers.html"),
            include_str!("../templates/admin_volunteer.html"),
            include_str!("pages.rs"),
            include_str!("mail.rs"),
        ];
        for src in sources {
            for chunk in src.split(".t(\"").skip(1).chain(src.split(".t_with(\"").skip(1)) {
                let id = chunk.split('"').next().unwrap();
                assert!(en.contains(&id.to_owned()), "message {id:?} is used but not defined");
            }
        }
    }

    #[test]
    fn accept_language_negotiation() {
        assert_eq!(Lang::negotiate(None), Lang::En);
        assert_eq!(Lang::negotiate(Some("es-MX,es;q=0.9,en;q=0.8")), Lang::Es);
        assert_eq!(Lang::negotiate(Some("en-US,en;q=0.9,es;q=0.8")), Lang::En);
        assert_eq!(Lang::negotiate(Some("fr-FR, es;q=0.5")), Lang::Es);
        assert_eq!(Lang::negotiate(Some("de, fr")), Lang::En);
        assert_eq!(Lang::negotiate(Some("es;q=0, en;q=0.1")), Lang::En);
        assert_eq!(Lang::negotiate(Some("en;q=0.2, es;q=0.7")), Lang::Es);
        assert_eq!(Lang::negotiate(Some(";;;,,q=")), Lang::En);
    }

    #[test]
    fn messages_format_with_arguments_and_no_isolation_marks() {
        let es = Tr::new(Lang::Es);
        assert_eq!(es.t("site-name"), "Kiteline");
        let s = es.t_with("setup-done-text", &[("email", "ana@example.org")]);
        assert!(s.contains("ana@example.org") && !s.contains('\u{2068}'), "{s:?}");
        assert_eq!(Tr::new(Lang::En).t("no-such-message"), "no-such-message");
    }
}
