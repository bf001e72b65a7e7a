//! Mail templates: a subject and a plain-text body in the recipient's
//! language, from Fluent messages `mail-<kind>-subject` / `mail-<kind>-body`
//! inside a shared greeting, sign-off and footer.

use askama::Template;

use crate::{Lang, Tr};

/// Which message to write, with what it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailKind {
    /// An operator's check that mail is set up (`kiteline mail test`).
    Test,
    /// A single-use link to choose a password.
    SetPassword { link: String, hours: u32 },
    /// An invitation from `inviter`, with a single-use set-password link.
    Invitation { inviter: String, link: String, hours: u32 },
    /// A password reset link.
    PasswordReset { link: String, hours: u32 },
    /// To an applicant: the application arrived.
    ApplicationReceived,
    /// To coordinators: an application waits in the queue (nothing about
    /// the applicant: the link leads to it, behind a login).
    ApplicationNotice { link: String },
    /// To an applicant who was declined: the organization's kind words.
    ApplicationDeclined { text: String },
    /// A qualification expires in `days` days, on `date`.
    QualificationExpiring { module: String, date: String, days: u32, link: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedMail {
    pub subject: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "mail/message.txt")]
struct MailText<'a> {
    greeting: &'a str,
    body: &'a str,
    signoff: &'a str,
    site: &'a str,
    footer: &'a str,
}

/// Renders a message to `to_name` in `lang`; `site` names the organization.
pub fn render(lang: Lang, to_name: &str, kind: &MailKind, site: &str) -> RenderedMail {
    let tr = Tr::new(lang);
    let (subject, body) = match kind {
        MailKind::Test => (tr.t("mail-test-subject"), tr.t("mail-test-body")),
        MailKind::SetPassword { link, hours } => (
            tr.t("mail-set-password-subject"),
            tr.t_with("mail-set-password-body", &[("link", link), ("hours", &hours.to_string())]),
        ),
        MailKind::Invitation { inviter, link, hours } => (
            tr.t("mail-invite-subject"),
            tr.t_with(
                "mail-invite-body",
                &[("inviter", inviter), ("site", site), ("link", link), ("hours", &hours.to_string())],
            ),
        ),
        MailKind::PasswordReset { link, hours } => {
            (tr.t("mail-reset-subject"), tr.t_with("mail-reset-body", &[("link", link), ("hours", &hours.to_string())]))
        }
        MailKind::ApplicationReceived => {
            (tr.t_with("mail-applied-subject", &[("site", site)]), tr.t_with("mail-applied-body", &[("site", site)]))
        }
        MailKind::ApplicationNotice { link } => {
            (tr.t("mail-application-notice-subject"), tr.t_with("mail-application-notice-body", &[("link", link)]))
        }
        MailKind::ApplicationDeclined { text } => (tr.t_with("mail-declined-subject", &[("site", site)]), text.clone()),
        MailKind::QualificationExpiring { module, date, days, link } => (
            tr.t_with("mail-expiring-subject", &[("module", module)]),
            tr.t_with(
                "mail-expiring-body",
                &[("module", module), ("date", date), ("days", &days.to_string()), ("link", link)],
            ),
        ),
    };
    let text = MailText {
        greeting: &if to_name.trim().is_empty() {
            tr.t("mail-greeting-anonymous")
        } else {
            tr.t_with("mail-greeting", &[("name", to_name)])
        },
        body: &body,
        signoff: &tr.t("mail-signoff"),
        site,
        footer: &tr.t_with("mail-footer", &[("site", site)]),
    }
    .render()
    .expect("plain-text mail template renders");
    RenderedMail { subject, text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_renders_in_both_languages_without_html_escaping() {
        let en = render(Lang::En, "Ana & Bo", &MailKind::Test, "Kiteline");
        assert_eq!(en.subject, "Kiteline test message");
        assert!(en.text.starts_with("Hello Ana & Bo,"), "{}", en.text);
        let es = render(
            Lang::Es,
            "Ana",
            &MailKind::SetPassword { link: "https://x.org/p/abc?d=1&e=2".into(), hours: 72 },
            "Kiteline",
        );
        assert_eq!(es.subject, "Crea tu contraseña de Kiteline");
        assert!(es.text.contains("https://x.org/p/abc?d=1&e=2") && es.text.contains("72 horas"), "{}", es.text);
        assert!(es.text.starts_with("Hola Ana:"));
        assert!(render(Lang::Es, " ", &MailKind::Test, "K").text.starts_with("Hola:\n"));
        assert!(render(Lang::En, "", &MailKind::Test, "K").text.starts_with("Hello,\n"));
    }
}
