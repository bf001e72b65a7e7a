//! Page templates. Each struct is one page; askama checks at compile time
//! that the template and the struct agree. Values are HTML-escaped on output.
//!
//! Every page carries `tr` (its translator) and `path` (where the language
//! buttons return to).

use askama::Template;

use crate::Tr;

/// What every page's frame needs: the translator, where the language
/// buttons return to, the CSRF token for its forms, and the signed-in
/// navigation (if any).
#[derive(Clone, Debug)]
pub struct Chrome {
    pub tr: Tr,
    pub path: String,
    pub csrf: String,
    pub nav: Option<Nav>,
}

/// The signed-in part of the header.
#[derive(Clone, Debug, Default)]
pub struct Nav {
    /// Past every login step (not waiting for a second factor or enrolment).
    pub full: bool,
    pub coordinator: bool,
    pub admin: bool,
}

impl Chrome {
    pub fn new(tr: Tr, path: impl Into<String>, csrf: impl Into<String>, nav: Option<Nav>) -> Chrome {
        Chrome { tr, path: path.into(), csrf: csrf.into(), nav }
    }
}

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
    pub c: Chrome,
}

#[derive(Template)]
#[template(path = "setup.html")]
pub struct SetupPage {
    pub c: Chrome,
    pub action: String,
    pub name: String,
    pub email: String,
    pub errors: Vec<FieldError>,
}

#[derive(Template)]
#[template(path = "set_password.html")]
pub struct SetPasswordPage {
    pub c: Chrome,
    pub action: String,
    pub email: String,
    pub lead: String,
    pub errors: Vec<FieldError>,
}

/// A page with a heading and one paragraph: confirmations and errors.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub c: Chrome,
    pub title: String,
    pub text: String,
}

/// `has_error(field)` for pages with an error summary.
macro_rules! field_errors {
    ($($page:ty),*) => {$(
        impl $page {
            pub fn has_error(&self, field: &str) -> bool {
                self.errors.iter().any(|e| e.field == field)
            }
        }
    )*};
}

field_errors!(
    SetupPage,
    SetPasswordPage,
    LoginPage,
    TotpPage,
    ResetPage,
    AccountPage,
    PasswordChangePage,
    TwoFactorPage,
    TokensPage,
    UsersPage,
    AuditPage
);

impl MessagePage {
    /// A page for a message id pair `<key>-title` / `<key>-text`.
    pub fn from_key(c: Chrome, key: &str) -> MessagePage {
        let tr = c.tr;
        MessagePage { c, title: tr.t(&format!("{key}-title")), text: tr.t(&format!("{key}-text")) }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub c: Chrome,
    pub email: String,
    pub errors: Vec<FieldError>,
}

#[derive(Template)]
#[template(path = "login_2fa.html")]
pub struct TotpPage {
    pub c: Chrome,
    pub errors: Vec<FieldError>,
}

#[derive(Template)]
#[template(path = "reset.html")]
pub struct ResetPage {
    pub c: Chrome,
    pub sent: bool,
    pub errors: Vec<FieldError>,
}

/// The profile form's values, as shown.
#[derive(Clone, Debug, Default)]
pub struct ProfileForm {
    pub name: String,
    pub pronouns: String,
    pub time_zone: String,
    /// (code, label, checked)
    pub languages: Vec<(&'static str, &'static str, bool)>,
    pub locale: String,
    pub phone: String,
    pub notify_email: bool,
    pub notify_sms: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub c: Chrome,
    pub email: String,
    pub role: String,
    pub chapter: String,
    pub form: ProfileForm,
    pub saved: bool,
    pub errors: Vec<FieldError>,
}

#[derive(Template)]
#[template(path = "account_password.html")]
pub struct PasswordChangePage {
    pub c: Chrome,
    pub done: bool,
    pub errors: Vec<FieldError>,
}

#[derive(Template)]
#[template(path = "account_2fa.html")]
pub struct TwoFactorPage {
    pub c: Chrome,
    /// Shown to coordinators and admins who must enrol first.
    pub required: bool,
    pub enabled: bool,
    pub codes_left_text: String,
    pub can_disable: bool,
    /// The enrolment QR code as inline SVG, while a secret is pending.
    pub qr_svg: Option<String>,
    pub secret: String,
    /// Recovery codes just made, shown once.
    pub new_codes: Vec<String>,
    pub errors: Vec<FieldError>,
}

#[derive(Clone, Debug)]
pub struct TokenRow {
    pub id: String,
    pub label: String,
    pub scope: String,
    pub created: String,
    pub last_used: String,
    pub expires: String,
    pub revoked: bool,
    pub expired: bool,
}

#[derive(Template)]
#[template(path = "account_tokens.html")]
pub struct TokensPage {
    pub c: Chrome,
    pub tokens: Vec<TokenRow>,
    pub new_token: Option<String>,
    pub scopes: Vec<&'static str>,
    /// Lifetimes offered: days, and how they read.
    pub lifetimes: Vec<(u32, String)>,
    /// Admin scope is offered, so the form asks for a fresh code.
    pub admin_scope_offered: bool,
    pub errors: Vec<FieldError>,
}

#[derive(Clone, Debug)]
pub struct UserRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: String,
    pub role_code: &'static str,
    pub chapter: String,
    pub status: String,
    pub disabled: bool,
    pub has_2fa: bool,
    pub is_self: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
pub struct UsersPage {
    pub c: Chrome,
    pub users: Vec<UserRow>,
    pub chapters: Vec<(String, String)>,
    pub all_roles: Vec<&'static str>,
    pub invite_roles: Vec<&'static str>,
    pub is_admin: bool,
    pub invite_name: String,
    pub invite_email: String,
    pub notice: Option<String>,
    pub errors: Vec<FieldError>,
}

impl UsersPage {
    pub fn is_role(&self, role: &str, user: &UserRow) -> bool {
        role == user.role_code
    }
}

#[derive(Clone, Debug)]
pub struct AuditRow {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
pub struct AuditPage {
    pub c: Chrome,
    pub entries: Vec<AuditRow>,
    pub f_actor: String,
    pub f_action: String,
    pub f_object_type: String,
    pub f_object_id: String,
    pub f_since: String,
    pub f_until: String,
    pub next_href: Option<String>,
    pub errors: Vec<FieldError>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Lang;

    #[test]
    fn pages_render_escaped_in_both_languages() {
        for lang in Lang::ALL {
            let tr = Tr::new(lang);
            let html = HomePage { c: Chrome::new(tr, "/", "tok", None) }.render().unwrap();
            assert!(html.contains(&format!("<html lang=\"{}\">", lang.code())));
            assert!(html.contains(&tr.t("home-title")));
            let page = SetupPage {
                c: Chrome::new(tr, "/", "tok", None),
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
        let html = HomePage {
            c: Chrome::new(Tr::new(Lang::En), "/", "tok", Some(Nav { full: true, coordinator: true, admin: true })),
        }
        .render()
        .unwrap();
        for needle in ["http://", "https://", "//cdn", "<script"] {
            assert!(!html.contains(needle), "home page contains {needle}");
        }
        assert!(!crate::STYLESHEET.contains("url(http") && !crate::STYLESHEET.contains("@import"));
    }
}
