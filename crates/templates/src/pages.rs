//! Page templates. Each struct is one page; askama checks at compile time
//! that the template and the struct agree. Values are HTML-escaped on output.
//!
//! Every page carries `tr` (its translator) and `path` (where the language
//! buttons return to).

use askama::Template;

use crate::Tr;

/// A problem with one form field, shown in the summary and beside the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The id of the input it belongs to.
    pub field: &'static str,
    pub message: String,
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub tr: Tr,
    pub path: String,
}

#[derive(Template)]
#[template(path = "setup.html")]
pub struct SetupPage {
    pub tr: Tr,
    pub path: String,
    pub action: String,
    pub name: String,
    pub email: String,
    pub errors: Vec<FieldError>,
}

#[derive(Template)]
#[template(path = "set_password.html")]
pub struct SetPasswordPage {
    pub tr: Tr,
    pub path: String,
    pub action: String,
    pub email: String,
    pub lead: String,
    pub errors: Vec<FieldError>,
}

/// A page with a heading and one paragraph: confirmations and errors.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub tr: Tr,
    pub path: String,
    pub title: String,
    pub text: String,
}

impl SetupPage {
    pub fn has_error(&self, field: &str) -> bool {
        self.errors.iter().any(|e| e.field == field)
    }
}

impl SetPasswordPage {
    pub fn has_error(&self, field: &str) -> bool {
        self.errors.iter().any(|e| e.field == field)
    }
}

impl MessagePage {
    /// A page for a message id pair `<key>-title` / `<key>-text`.
    pub fn from_key(tr: Tr, path: String, key: &str) -> MessagePage {
        MessagePage { tr, path, title: tr.t(&format!("{key}-title")), text: tr.t(&format!("{key}-text")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Lang;

    #[test]
    fn pages_render_escaped_in_both_languages() {
        for lang in Lang::ALL {
            let tr = Tr::new(lang);
            let html = HomePage { tr, path: "/".into() }.render().unwrap();
            assert!(html.contains(&format!("<html lang=\"{}\">", lang.code())));
            assert!(html.contains(&tr.t("home-title")));
            let page = SetupPage {
                tr,
                path: "/".into(),
                action: "/setup/x".into(),
                name: "<script>alert(1)</script>".into(),
                email: String::new(),
                errors: vec![FieldError { field: "email", message: tr.t("error-email-invalid") }],
            };
            let html = page.render().unwrap();
            assert!(!html.contains("<script>"), "input is escaped");
            assert!(html.contains("aria-invalid=\"true\""));
            assert!(html.contains("href=\"#email\""));
        }
    }

    #[test]
    fn no_page_refers_to_another_origin() {
        let html = HomePage { tr: Tr::new(Lang::En), path: "/".into() }.render().unwrap();
        for needle in ["http://", "https://", "//cdn", "<script"] {
            assert!(!html.contains(needle), "home page contains {needle}");
        }
        assert!(!crate::STYLESHEET.contains("url(http") && !crate::STYLESHEET.contains("@import"));
    }
}
