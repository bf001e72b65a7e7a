//! The use-cases that both the web handlers and the command line offer: set
//! up the first administrator, add or invite an account, ask for a password
//! reset, mint an API token.
//!
//! Each makes its secret tokens, renders and seals its mail, and then makes
//! exactly one store call: one transaction, its audit entry included, so an
//! account never exists without its link, nor a link without its message.
//! Links are built here from the one public URL that the server and the CLI
//! both read from the configuration.

use jiff::{SignedDuration, Timestamp};
use kiteline_core::TokenDigest;
use kiteline_store::vault::Vault;
use kiteline_store::{
    Action, ApiToken, AuditEvent, Id, Invitation, LinkPurpose, NewApiToken, NewJob, NewLink, NewUser, Store,
    StoreError, TokenScope, User, new_id,
};
use kiteline_templates::Lang;
use kiteline_templates::mail::MailKind;

use crate::mail::{self, QueueError, Recipient};
use crate::tokens::{self, FIRST_ADMIN_LINK_HOURS, RESET_LINK_HOURS, SET_PASSWORD_LINK_HOURS};

/// What a use-case needs: the store, the vault that seals, and the names
/// and address people see.
#[derive(Clone)]
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub vault: &'a Vault,
    /// The organization's name, as its profile has it.
    pub site_name: String,
    /// The public base URL, no trailing slash.
    pub public_url: &'a str,
}

impl Ctx<'_> {
    fn link(&self, path: &str, token: &str) -> String {
        format!("{}/{path}/{token}", self.public_url)
    }
}

fn hours(h: i64) -> SignedDuration {
    SignedDuration::from_hours(h)
}

/// A fresh first-admin link (older ones stop working); returns its URL.
pub async fn offer_first_admin(ctx: Ctx<'_>, now: Timestamp) -> Result<String, StoreError> {
    let (token, digest) = tokens::generate();
    let link = NewLink {
        id: new_id(now),
        purpose: LinkPurpose::FirstAdmin,
        user_id: None,
        digest,
        expires_at: now + hours(FIRST_ADMIN_LINK_HOURS),
    };
    ctx.store.create_link(link, None, None, now).await?;
    Ok(ctx.link("setup", &token))
}

/// An account made at the command line, with a link to set its password
/// (printed, not mailed). Returns the account and the link's URL.
pub async fn add_user(ctx: Ctx<'_>, user: NewUser, now: Timestamp) -> Result<(User, String), StoreError> {
    let (token, digest) = tokens::generate();
    let id = new_id(now);
    let event = AuditEvent::new(None, Action::UserCreate, &id);
    let invitation =
        Invitation { user, id, link_digest: digest, link_expires: now + hours(SET_PASSWORD_LINK_HOURS), mail: None };
    let created = ctx.store.invite_user(invitation, event, now).await?;
    Ok((created, ctx.link("password", &token)))
}

/// An invitation by `inviter`: the account, its link and the message that
/// carries the link, in the invitee's language, stored together.
pub async fn invite(
    ctx: Ctx<'_>,
    inviter: &User,
    user: NewUser,
    lang: Lang,
    now: Timestamp,
) -> Result<User, QueueError> {
    let (token, digest) = tokens::generate();
    let kind = MailKind::Invitation {
        inviter: inviter.name.clone(),
        link: ctx.link("password", &token),
        hours: SET_PASSWORD_LINK_HOURS as u32,
    };
    let to = Recipient { address: user.email.as_str(), name: &user.name, lang };
    let mail = mail::prepare(ctx.vault, &ctx.site_name, to, &kind, now)?;
    let id = new_id(now);
    let event = AuditEvent::new(Some(&inviter.id), Action::UserInvite, &id);
    let invitation = Invitation {
        user,
        id,
        link_digest: digest,
        link_expires: now + hours(SET_PASSWORD_LINK_HOURS),
        mail: Some(mail),
    };
    Ok(ctx.store.invite_user(invitation, event, now).await?)
}

/// The invitation sent again by `inviter`, with a new link (the old one
/// stops working), in the invitee's language; `NotFound` from the store
/// if they have chosen a password meanwhile.
pub async fn resend_invitation(ctx: Ctx<'_>, inviter: &User, user: &User, now: Timestamp) -> Result<(), QueueError> {
    let (token, digest) = tokens::generate();
    let kind = MailKind::Invitation {
        inviter: inviter.name.clone(),
        link: ctx.link("password", &token),
        hours: SET_PASSWORD_LINK_HOURS as u32,
    };
    let lang = Lang::from_tag(&user.locale).unwrap_or(Lang::En);
    let to = Recipient { address: &user.email, name: &user.name, lang };
    let mail = mail::prepare(ctx.vault, &ctx.site_name, to, &kind, now)?;
    let link = NewLink {
        id: new_id(now),
        purpose: LinkPurpose::SetPassword,
        user_id: Some(user.id.clone()),
        digest,
        expires_at: now + hours(SET_PASSWORD_LINK_HOURS),
    };
    let event = AuditEvent::new(Some(&inviter.id), Action::UserInviteResend, &user.id);
    ctx.store.reissue_invitation(link, mail, event, now).await?;
    Ok(())
}

/// A reset link for `user`, the message that carries it and the entry that
/// records the request, stored together.
pub async fn request_password_reset(ctx: Ctx<'_>, user: &User, now: Timestamp) -> Result<(), QueueError> {
    let (token, digest) = tokens::generate();
    let kind = MailKind::PasswordReset { link: ctx.link("password", &token), hours: RESET_LINK_HOURS as u32 };
    let lang = Lang::from_tag(&user.locale).unwrap_or(Lang::En);
    let to = Recipient { address: &user.email, name: &user.name, lang };
    let mail = mail::prepare(ctx.vault, &ctx.site_name, to, &kind, now)?;
    let link = NewLink {
        id: new_id(now),
        purpose: LinkPurpose::SetPassword,
        user_id: Some(user.id.clone()),
        digest,
        expires_at: now + hours(RESET_LINK_HOURS),
    };
    let event = AuditEvent::new(None, Action::UserPasswordResetRequested, &user.id);
    ctx.store.create_link(link, Some(mail), Some(event), now).await?;
    Ok(())
}

/// The job kind that looks up a reset request's address and mails the link.
pub const PASSWORD_RESET_JOB: &str = "password_reset";

fn job_context(id: &Id) -> kiteline_core::crypto::FieldContext<'_> {
    kiteline_core::crypto::FieldContext::new("jobs", "sealed_payload", id.as_str())
}

/// A reset request as a job: the address sealed in it, nothing in the clear.
pub fn password_reset_job(vault: &Vault, email: &kiteline_core::EmailAddress, now: Timestamp) -> NewJob {
    let id = new_id(now);
    let sealed = vault.seal(job_context(&id), email.as_str().as_bytes());
    NewJob {
        id,
        kind: PASSWORD_RESET_JOB.to_owned(),
        payload: "{}".to_owned(),
        run_at: now,
        max_attempts: kiteline_core::jobs::DEFAULT_MAX_ATTEMPTS,
        sealed: Some(sealed),
    }
}

/// Runs a reset request's job: if the address has an active, intact
/// account, a reset link and its message (see [`request_password_reset`]);
/// otherwise nothing, silently.
pub async fn run_password_reset(
    ctx: Ctx<'_>,
    job_id: &Id,
    sealed: Option<&kiteline_store::Sealed>,
    now: Timestamp,
) -> Result<(), ResetJobError> {
    let sealed = sealed.ok_or(ResetJobError::Payload)?;
    let plain = ctx.vault.open(job_context(job_id), sealed).map_err(|_| ResetJobError::Payload)?;
    let email =
        std::str::from_utf8(&plain).ok().and_then(kiteline_core::EmailAddress::parse).ok_or(ResetJobError::Payload)?;
    match ctx.store.user_by_email(&email).await? {
        Some(user) if user.disabled_at.is_none() && user.intact => Ok(request_password_reset(ctx, &user, now).await?),
        _ => Ok(()),
    }
}

/// Why a reset job did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ResetJobError {
    /// The sealed address is missing or cannot be opened: retrying cannot help.
    #[error("the job's sealed payload is missing or cannot be opened")]
    Payload,
    #[error(transparent)]
    Mail(#[from] QueueError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How long a new API token works unless another lifetime is chosen.
pub const DEFAULT_TOKEN_DAYS: u32 = 90;
/// The lifetimes a token may be given, in days.
pub const TOKEN_DAYS: [u32; 4] = [7, 30, 90, 365];

/// Mints an API token for `owner` (audited with `actor`, `None` for the
/// command line), working for `days`. Returns its record and the token,
/// which is shown once: only its digest is stored.
pub async fn mint_api_token(
    store: &Store,
    owner: &Id,
    label: &str,
    scope: TokenScope,
    days: u32,
    actor: Option<&Id>,
    now: Timestamp,
) -> Result<(ApiToken, String), StoreError> {
    let (secret, _) = tokens::generate();
    let token = format!("kl_{secret}");
    let id = new_id(now);
    let event = AuditEvent::new(actor, Action::ApiTokenCreate, &id);
    let new = NewApiToken {
        id,
        user_id: owner.clone(),
        label: label.to_owned(),
        scope,
        digest: TokenDigest::of(&token),
        expires_at: now + SignedDuration::from_hours(24 * i64::from(days)),
    };
    let created = store.create_api_token(new, event, now).await?;
    Ok((created, token))
}

/// Reminders 30 and 7 days before a qualification expires, each sent once
/// (the store remembers), in the volunteer's language and on their
/// calendar day. Run by the worker's hourly maintenance; returns how many
/// went out.
pub async fn expiry_reminders(ctx: Ctx<'_>, now: Timestamp) -> Result<usize, QueueError> {
    let users = ctx.store.list_users().await?;
    let modules = ctx.store.modules().await?;
    let all = ctx.store.all_qualifications().await?;
    let mut sent = 0;
    for u in users.iter().filter(|u| u.disabled_at.is_none() && u.has_password && u.intact) {
        let zone = jiff::tz::TimeZone::get(&u.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
        let today = now.to_zoned(zone).date();
        let mine: Vec<_> = all.iter().filter(|q| q.user_id == u.id).collect();
        let held: Vec<_> = mine.iter().map(|q| q.held()).collect();
        let lang = Lang::from_tag(&u.locale).unwrap_or(Lang::En);
        for days in kiteline_core::volunteer::REMINDER_DAYS {
            for due in kiteline_core::volunteer::due_for_reminder(&held, today, days) {
                let Some(q) =
                    mine.iter().find(|q| q.module_id.as_str() == due.module_id && q.expires_on == due.expires_on)
                else {
                    continue;
                };
                let Some(m) = modules.iter().find(|m| m.id == q.module_id && !m.retired) else { continue };
                let kind = MailKind::QualificationExpiring {
                    module: m.title(lang.code()).to_owned(),
                    date: due.expires_on.map(|d| d.to_string()).unwrap_or_default(),
                    days: days as u32,
                    link: format!("{}/training", ctx.public_url),
                };
                let to = Recipient { address: &u.email, name: &u.name, lang };
                let mail = mail::prepare(ctx.vault, &ctx.site_name, to, &kind, now)?;
                if ctx.store.send_reminder_once(&q.id, days, mail, now).await? {
                    sent += 1;
                }
            }
        }
    }
    Ok(sent)
}
