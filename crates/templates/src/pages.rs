//! Page templates. Each struct is one page; askama checks at compile time
//! that the template and the struct agree. Values are HTML-escaped on output.
//!
//! Every page carries `tr` (its translator) and `path` (where the language
//! buttons return to).

use std::sync::Arc;

use askama::Template;

use crate::{Lang, Tr};

/// The organization as every page shows it: its name, logo and public
/// contact. From the profile admins edit in Settings, falling back to
/// `KITELINE_SITE_NAME`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Site {
    pub name: String,
    pub description_en: String,
    pub description_es: String,
    pub contact_email: String,
    pub postal_address: String,
    /// Bumped at every upload; `None` when there is no logo.
    pub logo_version: Option<i64>,
}

impl Site {
    pub fn named(name: impl Into<String>) -> Site {
        Site { name: name.into(), ..Site::default() }
    }

    /// The description in `lang`, or in the other language if that is all
    /// there is.
    pub fn description(&self, lang: Lang) -> &str {
        let (first, second) = match lang {
            Lang::En => (&self.description_en, &self.description_es),
            Lang::Es => (&self.description_es, &self.description_en),
        };
        if first.trim().is_empty() { second } else { first }
    }

    /// The postal address, one line per entry.
    pub fn address_lines(&self) -> Vec<&str> {
        self.postal_address.lines().map(str::trim).filter(|l| !l.is_empty()).collect()
    }

    pub fn has_contact(&self) -> bool {
        !self.contact_email.is_empty() || !self.postal_address.trim().is_empty()
    }
}

/// What every page's frame needs: the translator, where the language
/// buttons return to, the CSRF token for its forms, the organization, and
/// the signed-in navigation (if any).
#[derive(Clone, Debug)]
pub struct Chrome {
    pub tr: Tr,
    /// A page that answers GET: where the language switch returns to.
    pub path: String,
    pub csrf: String,
    pub nav: Option<Nav>,
    pub site: Arc<Site>,
    /// The page shows a secret once (recovery codes, a new token): leaving
    /// it loses them, so the language switch warns first.
    pub one_time_secret: bool,
}

/// The signed-in part of the header.
#[derive(Clone, Debug, Default)]
pub struct Nav {
    /// Past every login step (not waiting for a second factor or enrolment).
    pub full: bool,
    pub coordinator: bool,
    pub admin: bool,
    /// The signed-in person's name, on the account menu.
    pub name: String,
}

/// One entry of the navigation.
#[derive(Clone, Debug)]
pub struct NavItem {
    pub href: &'static str,
    pub label: String,
    pub current: bool,
}

impl Chrome {
    pub fn new(tr: Tr, path: impl Into<String>, csrf: impl Into<String>, nav: Option<Nav>) -> Chrome {
        Chrome {
            tr,
            path: path.into(),
            csrf: csrf.into(),
            nav,
            site: Arc::new(Site::named("Kiteline")),
            one_time_secret: false,
        }
    }

    pub fn with_site(mut self, site: Arc<Site>) -> Chrome {
        self.site = site;
        self
    }

    /// Marks the page as showing a secret once.
    pub fn secret(mut self) -> Chrome {
        self.one_time_secret = true;
        self
    }

    /// The areas this visitor may reach, the current one marked. Signed-in
    /// people see the areas of their role and nothing more; visitors see the
    /// public areas (more come with the phone line, campaigns and funds).
    pub fn nav_items(&self) -> Vec<NavItem> {
        let p = self.path.as_str();
        let under = |prefix: &str| p == prefix || p.starts_with(&format!("{prefix}/"));
        let item = |href: &'static str, key: &str, current: bool| NavItem { href, label: self.tr.t(key), current };
        let mut items = vec![item("/", "nav-home", p == "/")];
        match &self.nav {
            None => items.push(item("/line", "nav-line", p == "/line" || p == "/apply")),
            Some(n) if n.full => {
                if n.coordinator {
                    items.push(item("/admin/applications", "nav-applications", under("/admin/applications")));
                    items.push(item("/admin/volunteers", "nav-volunteers", under("/admin/volunteers")));
                    items.push(item("/admin/training", "nav-training", under("/admin/training") || under("/training")));
                    items.push(item("/admin/users", "nav-users", under("/admin/users")));
                } else {
                    items.push(item("/training", "nav-training", under("/training")));
                }
                if n.admin {
                    items.push(item("/admin/chapters", "nav-chapters", under("/admin/chapters")));
                    items.push(item("/admin/audit", "nav-audit", under("/admin/audit")));
                    items.push(item(
                        "/admin/settings",
                        "nav-settings",
                        under("/admin/settings") || under("/admin/components"),
                    ));
                }
            }
            Some(_) => {}
        }
        items
    }

    /// The account menu's links (signed in past every step).
    pub fn account_items(&self) -> Vec<NavItem> {
        let p = self.path.as_str();
        let item = |href: &'static str, key: &str| NavItem { href, label: self.tr.t(key), current: p == href };
        match &self.nav {
            Some(n) if n.full => vec![
                item("/account", "nav-account"),
                item("/account/password", "password-change-title"),
                item("/account/2fa", "twofa-title"),
                item("/account/tokens", "tokens-title"),
            ],
            _ => vec![],
        }
    }
}

/// A problem with one form field, shown in the summary and beside the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The id of the input it belongs to.
    pub field: &'static str,
    pub message: String,
}

// ------------------------------------------------------------ components
//
// The pieces pages are built from, rendered by the macros in `ui.html` and
// shown together on the components page (`/admin/components`).

/// A link with its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub href: String,
    pub label: String,
}

impl Link {
    pub fn new(href: impl Into<String>, label: impl Into<String>) -> Link {
        Link { href: href.into(), label: label.into() }
    }
}

/// A status tag: a short word with a tone (`ok`, `info`, `warn`, `off`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    pub text: String,
    pub tone: &'static str,
}

impl Tag {
    pub fn new(text: impl Into<String>, tone: &'static str) -> Tag {
        Tag { text: text.into(), tone }
    }
}

/// A moment shown in the viewer's time zone, the zone named
/// (`Dec 2, 2026, 8:20 AM PST`), with the exact instant for machines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Moment {
    /// RFC 3339, for `<time datetime>`.
    pub iso: String,
    pub text: String,
}

/// A column heading of a data table, a link when the table sorts by it.
#[derive(Clone, Debug)]
pub struct Column {
    pub label: String,
    /// The link that sorts by this column (the other way if it is current).
    pub href: Option<String>,
    /// `ascending` or `descending` when the table is sorted by it.
    pub sort: Option<&'static str>,
}

impl Column {
    pub fn ascending(&self) -> bool {
        self.sort == Some("ascending")
    }

    pub fn plain(label: impl Into<String>) -> Column {
        Column { label: label.into(), href: None, sort: None }
    }
}

/// Where a paginated table is, and the links around it.
#[derive(Clone, Debug, Default)]
pub struct Pager {
    pub page: u32,
    pub pages: u32,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    pub fn needed(&self) -> bool {
        self.prev.is_some() || self.next.is_some()
    }
}

/// A notification banner: a title, a line of text, and a tone
/// (`success`, `info`, `warning`). Success banners are announced politely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Banner {
    pub tone: &'static str,
    pub title: String,
    pub text: String,
}

impl Banner {
    pub fn is_success(&self) -> bool {
        self.tone == "success"
    }

    pub fn success(title: impl Into<String>, text: impl Into<String>) -> Banner {
        Banner { tone: "success", title: title.into(), text: text.into() }
    }
    pub fn info(title: impl Into<String>, text: impl Into<String>) -> Banner {
        Banner { tone: "info", title: title.into(), text: text.into() }
    }
    pub fn warning(title: impl Into<String>, text: impl Into<String>) -> Banner {
        Banner { tone: "warning", title: title.into(), text: text.into() }
    }
}

/// One row of a summary list: a key, its value, and perhaps a link to
/// change it.
#[derive(Clone, Debug)]
pub struct SummaryRow {
    pub key: String,
    pub value: String,
    pub tag: Option<Tag>,
    pub change: Option<Link>,
}

impl SummaryRow {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> SummaryRow {
        SummaryRow { key: key.into(), value: value.into(), tag: None, change: None }
    }
    pub fn tagged(key: impl Into<String>, tag: Tag) -> SummaryRow {
        SummaryRow { key: key.into(), value: String::new(), tag: Some(tag), change: None }
    }
}

/// A person or object in short: a name linking to its page, a line under
/// it, and tags.
#[derive(Clone, Debug)]
pub struct Card {
    pub title: String,
    pub href: Option<String>,
    pub meta: String,
    pub tags: Vec<Tag>,
}

/// The second step of a destructive action: what will happen, a button
/// that does it (a POST), and a way back. No JavaScript.
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub c: Chrome,
    pub crumbs: Vec<Link>,
    pub title: String,
    pub text: String,
    /// Consequences, one per line.
    pub consequences: Vec<String>,
    pub action: String,
    pub button: String,
    pub cancel: Link,
    /// The action needs a fresh code from the admin's authenticator.
    pub needs_code: bool,
    pub errors: Vec<FieldError>,
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
    /// What to do next (a button-styled link), so no page is a dead end.
    pub next: Option<Link>,
    /// A second line, such as what comes after the next step.
    pub then: Option<String>,
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
    ApplyPage,
    VolunteersPage,
    VolunteerPage,
    TrainingAdminPage,
    ModulePage,
    SessionPage,
    TrainingPage,
    ApplicationPage,
    ConfirmPage,
    SettingsPage,
    ChaptersPage,
    PersonPage,
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
        MessagePage {
            c,
            title: tr.t(&format!("{key}-title")),
            text: tr.t(&format!("{key}-text")),
            next: Some(Link::new("/", tr.t("nav-home"))),
            then: None,
        }
    }

    pub fn with_next(mut self, next: Link) -> MessagePage {
        self.next = Some(next);
        self
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
    pub email: String,
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
    /// Time zone names to choose from: the usual ones first, then the rest.
    pub zones_common: Vec<&'static str>,
    pub zones_other: Vec<String>,
    pub sessions: Vec<SessionRow>,
    pub banner: Option<Banner>,
    pub errors: Vec<FieldError>,
}

impl AccountPage {
    pub fn is_zone(&self, zone: &str) -> bool {
        self.form.time_zone == zone
    }
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
    /// (value, label)
    pub scopes: Vec<(&'static str, String)>,
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
    pub chapter: String,
    pub status: Tag,
    pub two_step: bool,
    pub added: Moment,
}

/// The people list: a sortable, paginated data table and the invitation form.
#[derive(Template)]
#[template(path = "admin_users.html")]
pub struct UsersPage {
    pub c: Chrome,
    pub banner: Option<Banner>,
    pub columns: Vec<Column>,
    pub users: Vec<UserRow>,
    pub pager: Pager,
    /// How many people the list holds in all.
    pub total: usize,
    /// (id, name, selected) of the chapters the viewer may invite into.
    pub chapters: Vec<(String, String, bool)>,
    /// (value, label, selected) of the roles the viewer may give.
    pub invite_roles: Vec<(&'static str, String, bool)>,
    pub invite_name: String,
    pub invite_email: String,
    pub invite_lang: String,
    pub errors: Vec<FieldError>,
}

/// One person: their details, and what the viewer may do about them.
#[derive(Template)]
#[template(path = "admin_user.html")]
pub struct PersonPage {
    pub c: Chrome,
    pub crumbs: Vec<Link>,
    pub banner: Option<Banner>,
    pub id: String,
    pub name: String,
    pub status: Tag,
    pub details: Vec<SummaryRow>,
    /// The viewer is an admin and this is someone else.
    pub can_manage: bool,
    /// (value, label, current)
    pub roles: Vec<(&'static str, String, bool)>,
    pub disabled: bool,
    pub has_2fa: bool,
    /// An invitation that has not been used yet can be sent again.
    pub can_resend: bool,
    pub recent: Vec<AuditRow>,
    pub errors: Vec<FieldError>,
}

#[derive(Clone, Debug)]
pub struct ChapterRow {
    pub id: String,
    pub name: String,
    pub people: u64,
    pub rename_value: String,
    pub rename_error: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_chapters.html")]
pub struct ChaptersPage {
    pub c: Chrome,
    pub banner: Option<Banner>,
    pub chapters: Vec<ChapterRow>,
    pub new_name: String,
    pub errors: Vec<FieldError>,
}

#[derive(Clone, Debug)]
pub struct AuditRow {
    pub seq: i64,
    pub at: Moment,
    /// Who acted: a name, its id on hover and linked to their page.
    pub actor: Option<Link>,
    pub actor_id: String,
    pub action: String,
    pub action_code: String,
    /// What it was about: a name or a short description.
    pub object: String,
    pub object_href: Option<String>,
    pub object_id: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
pub struct AuditPage {
    pub c: Chrome,
    pub entries: Vec<AuditRow>,
    /// (code, label, selected)
    pub actions: Vec<(&'static str, String, bool)>,
    pub f_person: String,
    /// People the list is narrowed to, by name.
    pub people: Vec<Link>,
    pub f_since: String,
    pub f_until: String,
    pub f_views: bool,
    /// The zone times are shown in.
    pub zone: String,
    pub next_href: Option<String>,
    pub filtered: bool,
    pub errors: Vec<FieldError>,
}

/// The organization's profile, as the settings form shows it.
#[derive(Clone, Debug, Default)]
pub struct OrgForm {
    pub name: String,
    pub description_en: String,
    pub description_es: String,
    pub contact_email: String,
    pub postal_address: String,
}

#[derive(Template)]
#[template(path = "admin_settings.html")]
pub struct SettingsPage {
    pub c: Chrome,
    pub banner: Option<Banner>,
    pub form: OrgForm,
    pub program: ProgramForm,
    pub has_logo: bool,
    /// Mail leaves through SMTP (otherwise it is written to a folder).
    pub mail_sent: bool,
    pub public_url: String,
    pub errors: Vec<FieldError>,
}

impl SettingsPage {
    /// How the server is set up, as a summary list.
    pub fn server_rows(&self) -> Vec<SummaryRow> {
        let tr = self.c.tr;
        let mail = if self.mail_sent {
            Tag::new(tr.t("settings-mail-smtp"), "ok")
        } else {
            Tag::new(tr.t("settings-mail-folder"), "warn")
        };
        vec![
            SummaryRow::new(tr.t("settings-public-url"), self.public_url.clone()),
            SummaryRow::tagged(tr.t("settings-mail"), mail),
        ]
    }
}

/// What a signed-in person sees first.
#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub c: Chrome,
    pub name: String,
    pub banner: Option<Banner>,
    /// Steps still to take, each a link.
    pub next_steps: Vec<Link>,
    pub staff: bool,
    pub admin: bool,
    /// (label, number, link)
    pub counts: Vec<(String, usize, String)>,
    pub pending: Vec<Card>,
    pub recent: Vec<AuditRow>,
    pub mail_sent: bool,
    /// A volunteer's training card: whether they are cleared, the next
    /// step (a link), and their qualifications (title, until).
    pub training: Option<TrainingCard>,
}

#[derive(Clone, Debug)]
pub struct TrainingCard {
    pub cleared: Tag,
    pub reasons: Vec<String>,
    pub next: Option<Link>,
    pub next_text: String,
    pub held: Vec<(String, String)>,
}

/// The component set, each with an example, for later pages to reuse.
#[derive(Template)]
#[template(path = "components.html")]
pub struct ComponentsPage {
    pub c: Chrome,
    pub crumbs: Vec<Link>,
    pub columns: Vec<Column>,
    pub rows: Vec<(String, String, Tag, Moment)>,
    pub pager: Pager,
    pub tags: Vec<Tag>,
    pub summary: Vec<SummaryRow>,
    pub card: Card,
    pub banners: Vec<Banner>,
    pub moment: Moment,
    pub zone: String,
}

/// The phone line program's public page.
#[derive(Template)]
#[template(path = "program.html")]
pub struct ProgramPage {
    pub c: Chrome,
    /// The organization's text in the page's language (paragraphs), or
    /// Kiteline's own when it wrote none.
    pub text: Vec<String>,
    pub coordination_email: String,
    /// "Open Friday to Monday, 8 am to 6 pm Pacific", once shifts exist.
    pub hours: Option<String>,
}

/// The application form's answers, as typed.
#[derive(Clone, Debug, Default)]
pub struct ApplyForm {
    pub name: String,
    pub pronouns: String,
    pub email: String,
    pub phone: String,
    pub time_zone: String,
    pub why: String,
    pub agree_training: bool,
    pub agree_shifts: bool,
}

/// One day of the availability grid: its label and (value, part label, checked).
#[derive(Clone, Debug)]
pub struct DayRow {
    pub day: &'static str,
    pub label: String,
    pub parts: Vec<(String, String, bool)>,
}

#[derive(Template)]
#[template(path = "apply.html")]
pub struct ApplyPage {
    pub c: Chrome,
    pub form: ApplyForm,
    /// (value, label, selected) — the chapters, at-large first.
    pub chapters: Vec<(String, String, bool)>,
    pub zones_common: Vec<&'static str>,
    pub zones_other: Vec<String>,
    /// (code, label, checked)
    pub languages: Vec<(&'static str, &'static str, bool)>,
    /// (code, label, selected)
    pub heard: Vec<(&'static str, String, bool)>,
    pub days: Vec<DayRow>,
    pub errors: Vec<FieldError>,
}

impl ApplyPage {
    pub fn is_zone(&self, zone: &str) -> bool {
        self.form.time_zone == zone
    }
}

/// The program's settings: its page and the messages applicants get.
#[derive(Clone, Debug, Default)]
pub struct ProgramForm {
    pub program_en: String,
    pub program_es: String,
    pub coordination_email: String,
    pub decline_en: String,
    pub decline_es: String,
}

/// One application in the review queue.
#[derive(Clone, Debug)]
pub struct ApplicationRow {
    pub id: String,
    pub name: String,
    pub chapter: String,
    pub languages: String,
    pub status: Tag,
    pub submitted: Moment,
    pub submissions: u32,
}

#[derive(Template)]
#[template(path = "admin_applications.html")]
pub struct ApplicationsPage {
    pub c: Chrome,
    pub rows: Vec<ApplicationRow>,
    /// (value, label, selected)
    pub statuses: Vec<(&'static str, String, bool)>,
    pub chapters: Vec<(String, String, bool)>,
    pub filtered: bool,
}

/// One decision in an application's history.
#[derive(Clone, Debug)]
pub struct DecisionRow {
    pub at: Moment,
    pub by: String,
    pub decision: Tag,
    pub note: String,
}

#[derive(Template)]
#[template(path = "admin_application.html")]
pub struct ApplicationPage {
    pub c: Chrome,
    pub crumbs: Vec<Link>,
    pub banner: Option<Banner>,
    pub id: String,
    pub name: String,
    pub status: Tag,
    pub answers: Vec<SummaryRow>,
    pub why: String,
    /// (value, label, checked) — the decisions still open.
    pub decisions: Vec<(&'static str, String, bool)>,
    pub note: String,
    pub history: Vec<DecisionRow>,
    /// The account made when accepted.
    pub account: Option<Link>,
    pub errors: Vec<FieldError>,
}

/// A module as the training pages list it.
#[derive(Clone, Debug)]
pub struct ModuleRow {
    pub id: String,
    pub title: String,
    pub description: String,
    pub required: bool,
    pub completion: String,
    pub validity: String,
    pub retired: bool,
    /// The viewer's standing on it (volunteers' page): a tag and a line.
    pub mine: Option<(Tag, String)>,
}

/// A scheduled session as lists show it.
#[derive(Clone, Debug)]
pub struct TrainingSessionRow {
    pub id: String,
    pub module: String,
    pub starts: Moment,
    pub ends: Moment,
    pub seats: String,
    pub full: bool,
    pub trainer: String,
    /// The viewer is signed up.
    pub mine: bool,
}

/// The values of the module form, as typed.
#[derive(Clone, Debug, Default)]
pub struct ModuleForm {
    pub title_en: String,
    pub title_es: String,
    pub description_en: String,
    pub description_es: String,
    pub position: String,
    pub required: bool,
    pub completion: String,
    pub validity_months: String,
    pub renewal_window_days: String,
    pub retired: bool,
}

/// The values of the session form, as typed.
#[derive(Clone, Debug, Default)]
pub struct SessionForm {
    pub module: String,
    pub date: String,
    pub start: String,
    pub end: String,
    pub time_zone: String,
    pub capacity: String,
    pub video_link: String,
    pub trainer: String,
}

/// The coordinators' training page: the series and the schedule.
#[derive(Template)]
#[template(path = "admin_training.html")]
pub struct TrainingAdminPage {
    pub c: Chrome,
    pub banner: Option<Banner>,
    pub modules: Vec<ModuleRow>,
    pub sessions: Vec<TrainingSessionRow>,
    pub module_form: ModuleForm,
    pub session_form: SessionForm,
    /// (value, label) of modules completed by attending a session.
    pub session_modules: Vec<(String, String)>,
    pub trainers: Vec<(String, String)>,
    pub completions: Vec<(&'static str, String)>,
    pub zones: Vec<&'static str>,
    pub errors: Vec<FieldError>,
}

impl TrainingAdminPage {
    pub fn is_completion(&self, value: &str) -> bool {
        self.module_form.completion == value
    }
    pub fn is_session_module(&self, value: &str) -> bool {
        self.session_form.module == value
    }
    pub fn is_trainer(&self, value: &str) -> bool {
        self.session_form.trainer == value
    }
    pub fn is_zone(&self, value: &str) -> bool {
        self.session_form.time_zone == value
    }
}

#[derive(Template)]
#[template(path = "admin_module.html")]
pub struct ModulePage {
    pub c: Chrome,
    pub crumbs: Vec<Link>,
    pub id: String,
    pub title: String,
    pub module_form: ModuleForm,
    pub completions: Vec<(&'static str, String)>,
    pub errors: Vec<FieldError>,
}

impl ModulePage {
    pub fn is_completion(&self, value: &str) -> bool {
        self.module_form.completion == value
    }
}

/// A volunteer's own training page.
#[derive(Template)]
#[template(path = "training.html")]
pub struct TrainingPage {
    pub c: Chrome,
    pub banner: Option<Banner>,
    /// "active", "paused" or "alumni", for the break form.
    pub standing: &'static str,
    pub paused_until: String,
    pub errors: Vec<FieldError>,
    pub cleared: Tag,
    pub reasons: Vec<String>,
    pub modules: Vec<ModuleRow>,
    pub sessions: Vec<TrainingSessionRow>,
    pub zone: String,
}

/// One person on a session's roster.
#[derive(Clone, Debug)]
pub struct RosterRow {
    pub user_id: String,
    pub name: String,
    /// "present", "absent" or "" (not marked).
    pub attended: &'static str,
}

#[derive(Template)]
#[template(path = "training_session.html")]
pub struct SessionPage {
    pub c: Chrome,
    pub crumbs: Vec<Link>,
    pub banner: Option<Banner>,
    pub id: String,
    pub module: String,
    pub description: String,
    pub details: Vec<SummaryRow>,
    /// Shown only to those signed up, the trainer and coordinators.
    pub video_link: Option<String>,
    pub signed_up: bool,
    pub can_sign_up: bool,
    pub can_leave: bool,
    /// A trainer or coordinator: the roster and the attendance form.
    pub can_mark: bool,
    pub started: bool,
    pub roster: Vec<RosterRow>,
    pub errors: Vec<FieldError>,
}

/// One row of the volunteer directory.
#[derive(Clone, Debug)]
pub struct VolunteerRow {
    pub href: String,
    pub name: String,
    pub status: Tag,
    pub progress: String,
    pub chapter: String,
    pub languages: String,
    pub time_zone: String,
}

#[derive(Template)]
#[template(path = "admin_volunteers.html")]
pub struct VolunteersPage {
    pub c: Chrome,
    pub rows: Vec<VolunteerRow>,
    pub statuses: Vec<(&'static str, String, bool)>,
    pub chapters: Vec<(String, String, bool)>,
    pub languages: Vec<(&'static str, &'static str, bool)>,
    pub filtered: bool,
    /// The filters, for the export form to repeat.
    pub f_status: String,
    pub f_chapter: String,
    pub f_language: String,
    pub errors: Vec<FieldError>,
}

/// One qualification in a volunteer's history.
#[derive(Clone, Debug)]
pub struct QualificationRow {
    pub module: String,
    pub from: String,
    pub until: String,
    pub how: String,
    pub by: String,
    pub valid: bool,
}

#[derive(Template)]
#[template(path = "admin_volunteer.html")]
pub struct VolunteerPage {
    pub c: Chrome,
    pub crumbs: Vec<Link>,
    pub banner: Option<Banner>,
    pub id: String,
    pub name: String,
    pub cleared: Tag,
    pub reasons: Vec<String>,
    pub details: Vec<SummaryRow>,
    pub qualifications: Vec<QualificationRow>,
    pub sessions: Vec<TrainingSessionRow>,
    /// (value, label) of modules a coordinator may grant.
    pub grantable: Vec<(String, String)>,
    pub grant_date: String,
    /// "active", "paused" or "alumni".
    pub standing: &'static str,
    pub paused_until: String,
    pub errors: Vec<FieldError>,
}

/// One session on the account page.
#[derive(Clone, Debug)]
pub struct SessionRow {
    /// A keyed handle for the session, which the end form posts.
    pub handle: String,
    pub device: String,
    pub started: Moment,
    pub last_used: Moment,
    pub current: bool,
    pub remembered: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Lang;

    fn staff_nav() -> Option<Nav> {
        Some(Nav { full: true, coordinator: true, admin: true, name: "Ana".into() })
    }

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
        let site = Site { contact_email: "line@example.org".into(), ..Site::named("Line") };
        let html = HomePage { c: Chrome::new(Tr::new(Lang::En), "/", "tok", staff_nav()).with_site(Arc::new(site)) }
            .render()
            .unwrap();
        for needle in ["http://", "https://", "//cdn", "<script"] {
            assert!(!html.contains(needle), "home page contains {needle}");
        }
        assert!(!crate::STYLESHEET.contains("url(http") && !crate::STYLESHEET.contains("@import"));
        assert!(!crate::SCRIPT.contains("http") && !crate::SCRIPT.contains("fetch("));
    }

    #[test]
    fn navigation_shows_what_the_role_may_reach() {
        let tr = Tr::new(Lang::En);
        let hrefs = |nav: Option<Nav>| -> Vec<&'static str> {
            Chrome::new(tr, "/admin/users/x", "", nav).nav_items().iter().map(|i| i.href).collect()
        };
        assert_eq!(hrefs(None), ["/", "/line"]);
        let volunteer = Nav { full: true, name: "V".into(), ..Nav::default() };
        assert_eq!(hrefs(Some(volunteer)), ["/", "/training"]);
        let coordinator = Nav { full: true, coordinator: true, name: "C".into(), ..Nav::default() };
        assert_eq!(
            hrefs(Some(coordinator)),
            ["/", "/admin/applications", "/admin/volunteers", "/admin/training", "/admin/users"]
        );
        assert_eq!(
            hrefs(staff_nav()),
            [
                "/",
                "/admin/applications",
                "/admin/volunteers",
                "/admin/training",
                "/admin/users",
                "/admin/chapters",
                "/admin/audit",
                "/admin/settings"
            ]
        );
        let enrolling = Nav { full: false, coordinator: false, admin: false, name: "E".into() };
        assert_eq!(hrefs(Some(enrolling.clone())), ["/"]);
        assert!(Chrome::new(tr, "/", "", Some(enrolling)).account_items().is_empty());
        let current: Vec<_> =
            Chrome::new(tr, "/admin/users/x", "", staff_nav()).nav_items().into_iter().filter(|i| i.current).collect();
        assert_eq!(current.len(), 1);
        assert_eq!(current[0].href, "/admin/users");
    }

    #[test]
    fn the_site_description_falls_back_to_the_other_language() {
        let site = Site { description_en: "English only".into(), ..Site::named("Line") };
        assert_eq!(site.description(Lang::Es), "English only");
        let site = Site { postal_address: "PO Box 1\n\n  Oakland, CA  \n".into(), ..site };
        assert_eq!(site.address_lines(), ["PO Box 1", "Oakland, CA"]);
    }
}
