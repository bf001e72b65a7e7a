//! Accounts, the single-use links that set their passwords, and chapters.

use jiff::Timestamp;

use crate::audit::{self, AuditEvent};
use crate::db::{Lock, Row, Sql, Tx, args};
use crate::outbox::{self, NewMail};
use crate::{
    Action, Constraint, EmailAddress, Id, PasswordHash, Result, Role, Sealed, Store, StoreError, TokenDigest, one,
};

/// A user account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: Id,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub has_password: bool,
    pub locale: String,
    pub disabled_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// `None`: at-large.
    pub chapter_id: Option<Id>,
    pub pronouns: String,
    /// IANA zone name.
    pub time_zone: String,
    /// Language codes, comma-separated (`en,es`).
    pub languages: String,
    pub notify_email: bool,
    pub notify_sms: bool,
    pub totp_enabled: bool,
    /// The row's security-relevant columns match their MAC. `false` means
    /// the row was edited outside Kiteline: it must not be trusted.
    pub intact: bool,
}

#[derive(Clone, Debug)]
pub struct NewUser {
    pub email: EmailAddress,
    pub name: String,
    pub role: Role,
    pub locale: String,
    pub chapter_id: Option<Id>,
}

/// What a user may change about themselves; `phone: None` clears it.
#[derive(Clone, Debug)]
pub struct ProfileUpdate {
    pub name: String,
    pub pronouns: String,
    pub time_zone: String,
    pub languages: String,
    pub locale: String,
    pub phone: Option<Sealed>,
    pub notify_email: bool,
    pub notify_sms: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chapter {
    pub id: Id,
    pub name: String,
    /// Accounts in it.
    pub people: u64,
}

/// What a single-use link is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Creates the first admin account; there is no user yet.
    FirstAdmin,
    /// Sets (or resets) the password of an existing user.
    SetPassword,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::FirstAdmin => "first_admin",
            LinkPurpose::SetPassword => "set_password",
        }
    }

    fn parse(s: &str) -> Result<LinkPurpose> {
        match s {
            "first_admin" => Ok(LinkPurpose::FirstAdmin),
            "set_password" => Ok(LinkPurpose::SetPassword),
            _ => Err(StoreError::database("a stored link has an unknown purpose", None)),
        }
    }
}

/// A single-use link that is still usable: unused and unexpired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkToken {
    pub id: Id,
    pub purpose: LinkPurpose,
    pub user_id: Option<Id>,
    pub expires_at: Timestamp,
}

/// A single-use link to store; only its digest is kept.
#[derive(Clone, Debug)]
pub struct NewLink {
    pub id: Id,
    pub purpose: LinkPurpose,
    pub user_id: Option<Id>,
    pub digest: TokenDigest,
    pub expires_at: Timestamp,
}

static INSERT_USER: Sql = Sql::new(
    "INSERT INTO users (id, email, name, role, locale, password_hash, created_at, updated_at, chapter_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
);
/// The columns [`User::from_row`] reads, in order: the record, then the
/// protected columns the row's MAC covers, then the MAC.
macro_rules! user_select {
    () => {
        "SELECT id, email, name, role, password_hash IS NOT NULL, locale, disabled_at, created_at, \
         chapter_id, pronouns, time_zone, languages, notify_email, notify_sms, totp_secret IS NOT NULL, \
         password_hash, totp_secret, row_mac FROM users"
    };
}
static USER_BY_ID: Sql = Sql::new(concat!(user_select!(), " WHERE id = $1"));
static USER_BY_EMAIL: Sql = Sql::new(concat!(user_select!(), " WHERE email = $1"));
static LIST_USERS: Sql = Sql::new(concat!(user_select!(), " ORDER BY disabled_at IS NOT NULL, name, email"));
static PASSWORD_HASH: Sql = Sql::new("SELECT password_hash FROM users WHERE id = $1 AND disabled_at IS NULL");
static COUNT_ACTIVE_ADMINS: Sql = Sql::new("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL");
static SET_PASSWORD: Sql =
    Sql::new("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3 AND disabled_at IS NULL");
static CHANGE_PASSWORD: Sql = Sql::new("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3");
static UPDATE_PROFILE: Sql = Sql::new(
    "UPDATE users SET name = $1, pronouns = $2, time_zone = $3, languages = $4, locale = $5, \
     phone = $6, notify_email = $7, notify_sms = $8, updated_at = $9 WHERE id = $10",
);
static USER_PHONE: Sql = Sql::new("SELECT phone FROM users WHERE id = $1");
static SET_ROLE: Sql = Sql::new("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3");
static DISABLE_USER: Sql =
    Sql::new("UPDATE users SET disabled_at = $1, updated_at = $1 WHERE id = $2 AND disabled_at IS NULL");
static ENABLE_USER: Sql = Sql::new("UPDATE users SET disabled_at = NULL, updated_at = $1 WHERE id = $2");
static USER_EXISTS: Sql = Sql::new("SELECT 1 FROM users WHERE id = $1");
static PROTECTED: Sql =
    Sql::new("SELECT id, email, role, password_hash, totp_secret, disabled_at, chapter_id FROM users WHERE id = $1");
static ALL_PROTECTED: Sql =
    Sql::new("SELECT id, email, role, password_hash, totp_secret, disabled_at, chapter_id FROM users");
static SET_ROW_MAC: Sql = Sql::new("UPDATE users SET row_mac = $1 WHERE id = $2");

static DELETE_FIRST_ADMIN_LINKS: Sql = Sql::new("DELETE FROM link_tokens WHERE purpose = 'first_admin'");
static INSERT_LINK: Sql = Sql::new(
    "INSERT INTO link_tokens (id, token_hash, purpose, user_id, expires_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6)",
);
static USABLE_LINK: Sql = Sql::new(
    "SELECT id, purpose, user_id, expires_at FROM link_tokens \
     WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
);
static USE_LINK: Sql = Sql::new("UPDATE link_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL");
static RETIRE_USER_LINKS: Sql =
    Sql::new("UPDATE link_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = 'set_password' AND used_at IS NULL");

static SET_LOCALE: Sql = Sql::new("UPDATE users SET locale = $1, updated_at = $2 WHERE id = $3");
static NO_PASSWORD_YET: Sql =
    Sql::new("SELECT COUNT(*) FROM users WHERE id = $1 AND password_hash IS NULL AND disabled_at IS NULL");

static INSERT_CHAPTER: Sql = Sql::new("INSERT INTO chapters (id, name, created_at) VALUES ($1, $2, $3)");
static CHAPTERS: Sql = Sql::new(
    "SELECT c.id, c.name, (SELECT COUNT(*) FROM users u WHERE u.chapter_id = c.id) FROM chapters c ORDER BY c.name",
);
static RENAME_CHAPTER: Sql = Sql::new("UPDATE chapters SET name = $1 WHERE id = $2");
static REMOVE_CHAPTER: Sql = Sql::new("DELETE FROM chapters WHERE id = $1");
static CHAPTER_PEOPLE: Sql = Sql::new("SELECT COUNT(*) FROM users WHERE chapter_id = $1");

/// The protected columns of one row, as read.
struct Protected {
    id: Id,
    email: String,
    role: Role,
    password_hash: Option<String>,
    totp_secret: Option<Vec<u8>>,
    disabled_at: Option<Timestamp>,
    chapter_id: Option<Id>,
}

impl Protected {
    fn mac(&self, key: &[u8; 32]) -> String {
        kiteline_core::account::user_row_mac(
            key,
            &kiteline_core::account::UserRowFields {
                id: self.id.as_str(),
                email: &self.email,
                role: self.role,
                password_hash: self.password_hash.as_deref(),
                totp_secret: self.totp_secret.as_deref(),
                disabled_at_micros: self.disabled_at.map(|t| t.as_microsecond()),
                chapter_id: self.chapter_id.as_ref().map(Id::as_str),
            },
        )
    }

    fn from_row(r: &Row<'_>) -> Result<Protected> {
        Ok(Protected {
            id: r.get(0)?,
            email: r.get(1)?,
            role: role(&r.get::<String>(2)?)?,
            password_hash: r.get(3)?,
            totp_secret: r.get(4)?,
            disabled_at: r.get(5)?,
            chapter_id: r.get(6)?,
        })
    }
}

fn role(s: &str) -> Result<Role> {
    Role::parse(s).ok_or_else(|| StoreError::database("a stored role is unknown", None))
}

/// Recomputes a row's MAC after a change to its protected columns, inside
/// the transaction that made the change.
pub(crate) fn reseal(tx: &mut Tx<'_>, key: &[u8; 32], id: &Id) -> Result<()> {
    let row = tx.query_one(&PROTECTED, args![id], Protected::from_row)?;
    one(tx.execute(&SET_ROW_MAC, args![&row.mac(key), id])?)
}

/// Seals every row (the migration that introduces the MAC). Without the key
/// only an empty table can be sealed.
pub(crate) fn seal_all(tx: &mut Tx<'_>, key: Option<&[u8; 32]>) -> Result<()> {
    let rows = tx.query(&ALL_PROTECTED, args![], Protected::from_row)?;
    if rows.is_empty() {
        return Ok(());
    }
    let key = key.ok_or(StoreError::Unsupported("sealing user rows needs the key file's keys"))?;
    for row in rows {
        tx.execute(&SET_ROW_MAC, args![&row.mac(key), &row.id])?;
    }
    Ok(())
}

impl User {
    /// Reads a row of [`user_select`], checking its MAC under `key`.
    fn from_row(key: &[u8; 32], r: &Row<'_>) -> Result<User> {
        let mut user = User::record(r)?;
        let protected = Protected {
            id: user.id.clone(),
            email: user.email.clone(),
            role: user.role,
            password_hash: r.get(15)?,
            totp_secret: r.get(16)?,
            disabled_at: user.disabled_at,
            chapter_id: user.chapter_id.clone(),
        };
        let stored: Option<String> = r.get(17)?;
        let expected = protected.mac(key);
        user.intact =
            stored.is_some_and(|m| kiteline_core::crypto::constant_time_eq(m.as_bytes(), expected.as_bytes()));
        Ok(user)
    }

    fn record(r: &Row<'_>) -> Result<User> {
        Ok(User {
            id: r.get(0)?,
            email: r.get(1)?,
            name: r.get(2)?,
            role: role(&r.get::<String>(3)?)?,
            has_password: r.get(4)?,
            locale: r.get(5)?,
            disabled_at: r.get(6)?,
            created_at: r.get(7)?,
            chapter_id: r.get(8)?,
            pronouns: r.get(9)?,
            time_zone: r.get(10)?,
            languages: r.get(11)?,
            notify_email: r.get(12)?,
            notify_sms: r.get(13)?,
            totp_enabled: r.get(14)?,
            intact: false,
        })
    }
}

impl LinkToken {
    fn from_row(r: &Row<'_>) -> Result<LinkToken> {
        let purpose: String = r.get(1)?;
        Ok(LinkToken {
            id: r.get(0)?,
            purpose: LinkPurpose::parse(&purpose)?,
            user_id: r.get(2)?,
            expires_at: r.get(3)?,
        })
    }
}

pub(crate) fn by_id(tx: &mut Tx<'_>, key: &[u8; 32], id: &Id) -> Result<Option<User>> {
    tx.query_opt(&USER_BY_ID, args![id], |r| User::from_row(key, r))
}

pub(crate) fn insert(
    tx: &mut Tx<'_>,
    key: &[u8; 32],
    user: &NewUser,
    id: &Id,
    password: Option<&PasswordHash>,
    now: Timestamp,
) -> Result<()> {
    let role = user.role.as_str();
    tx.execute(
        &INSERT_USER,
        args![id, user.email.as_str(), &user.name, role, &user.locale, password, now, user.chapter_id.as_ref()],
    )?;
    reseal(tx, key, id)
}

pub(crate) fn insert_link(tx: &mut Tx<'_>, link: &NewLink, now: Timestamp) -> Result<()> {
    if link.purpose == LinkPurpose::FirstAdmin {
        tx.execute(&DELETE_FIRST_ADMIN_LINKS, args![])?;
    }
    let purpose = link.purpose.as_str();
    tx.execute(&INSERT_LINK, args![&link.id, &link.digest, purpose, link.user_id.as_ref(), link.expires_at, now])?;
    Ok(())
}

fn usable(tx: &mut Tx<'_>, digest: &TokenDigest, now: Timestamp) -> Result<Option<LinkToken>> {
    tx.query_opt(&USABLE_LINK, args![digest, now], LinkToken::from_row)
}

/// The usable link with this digest and purpose; `NotFound` otherwise.
fn usable_for(tx: &mut Tx<'_>, digest: &TokenDigest, purpose: LinkPurpose, now: Timestamp) -> Result<LinkToken> {
    usable(tx, digest, now)?.filter(|l| l.purpose == purpose).ok_or(StoreError::NotFound)
}

/// Marks a usable link used; `NotFound` if another use got there first.
fn spend(tx: &mut Tx<'_>, link: &LinkToken, now: Timestamp) -> Result<()> {
    one(tx.execute(&USE_LINK, args![now, &link.id])?)
}

/// A new account and the link that sets its password, mailed or printed.
#[derive(Clone, Debug)]
pub struct Invitation {
    pub user: NewUser,
    pub id: Id,
    pub link_digest: TokenDigest,
    pub link_expires: Timestamp,
    /// The invitation message, queued in the same transaction.
    pub mail: Option<NewMail>,
}

impl Store {
    /// Creates a user without a password or link (fixtures, tools);
    /// `Conflict(UserEmail)` if the address is taken.
    pub async fn create_user(&self, user: NewUser, id: Id, now: Timestamp) -> Result<User> {
        let key = self.row_key()?;
        self.db
            .write(move |tx| {
                insert(tx, &key, &user, &id, None, now)?;
                by_id(tx, &key, &id)?.ok_or(StoreError::NotFound)
            })
            .await
    }

    pub async fn user_by_id(&self, id: &Id) -> Result<Option<User>> {
        let (id, key) = (id.clone(), self.row_key()?);
        self.db.read(move |tx| by_id(tx, &key, &id)).await
    }

    pub async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>> {
        let (email, key) = (email.clone(), self.row_key()?);
        self.db.read(move |tx| tx.query_opt(&USER_BY_EMAIL, args![email.as_str()], |r| User::from_row(&key, r))).await
    }

    /// For a login: the account with this address and, if it is active and
    /// its row intact, its password hash — one read, whatever the answer, so
    /// known and unknown addresses cost the same.
    pub async fn login_candidate(&self, email: &EmailAddress) -> Result<Option<(User, Option<PasswordHash>)>> {
        let (email, key) = (email.clone(), self.row_key()?);
        self.db
            .read(move |tx| {
                let found = tx.query_opt(&USER_BY_EMAIL, args![email.as_str()], |r| {
                    let user = User::from_row(&key, r)?;
                    let hash: Option<PasswordHash> = r.get(15)?;
                    Ok((user, hash))
                })?;
                Ok(found.map(|(user, hash)| {
                    let usable = user.intact && user.disabled_at.is_none();
                    (user, hash.filter(|_| usable))
                }))
            })
            .await
    }

    /// The stored password hash of an active user whose row is intact.
    pub async fn password_hash(&self, user_id: &Id) -> Result<Option<PasswordHash>> {
        let (id, key) = (user_id.clone(), self.row_key()?);
        self.db
            .read(move |tx| {
                let Some(user) = by_id(tx, &key, &id)? else { return Ok(None) };
                if !user.intact || user.disabled_at.is_some() {
                    return Ok(None);
                }
                Ok(tx.query_opt(&PASSWORD_HASH, args![&id], |r| r.get(0))?.flatten())
            })
            .await
    }

    pub async fn count_active_admins(&self) -> Result<u64> {
        self.db.read(|tx| tx.query_one(&COUNT_ACTIVE_ADMINS, args![], |r| r.get(0))).await
    }

    pub async fn list_users(&self) -> Result<Vec<User>> {
        let key = self.row_key()?;
        self.db.read(move |tx| tx.query(&LIST_USERS, args![], |r| User::from_row(&key, r))).await
    }

    /// Stores a new link (a new first-admin link replaces older ones), with
    /// the message that carries it and its audit entry, in one transaction.
    pub async fn create_link(
        &self,
        link: NewLink,
        mail: Option<NewMail>,
        audit: Option<AuditEvent>,
        now: Timestamp,
    ) -> Result<()> {
        self.maybe_audited(audit, now, move |tx| {
            insert_link(tx, &link, now)?;
            if let Some(mail) = &mail {
                outbox::insert(tx, mail, now)?;
            }
            Ok(())
        })
        .await
    }

    /// The link with this digest if it is unused and unexpired.
    pub async fn usable_link(&self, digest: &TokenDigest, now: Timestamp) -> Result<Option<LinkToken>> {
        let digest = digest.clone();
        self.db.read(move |tx| usable(tx, &digest, now)).await
    }

    /// Uses a set-password link (an invitation or a reset): in one
    /// transaction, checks it is usable, spends it and the user's other open
    /// links, stores the new password hash, ends every session and revokes
    /// every API token of the account (whoever held the old password may
    /// hold those too), and audits it. `NotFound` otherwise.
    pub async fn use_set_password_link(
        &self,
        digest: &TokenDigest,
        password: PasswordHash,
        now: Timestamp,
    ) -> Result<User> {
        let (digest, keys) = (digest.clone(), self.keys()?);
        self.db
            .write(move |tx| {
                let link = usable_for(tx, &digest, LinkPurpose::SetPassword, now)?;
                let user_id = link.user_id.clone().ok_or(StoreError::NotFound)?;
                spend(tx, &link, now)?;
                one(tx.execute(&SET_PASSWORD, args![&password, now, &user_id])?)?;
                reseal(tx, &keys.user_rows, &user_id)?;
                tx.execute(&RETIRE_USER_LINKS, args![now, &user_id])?;
                crate::sessions::end_all(tx, &user_id, None)?;
                crate::api_tokens::revoke_all(tx, &user_id, now)?;
                let event = AuditEvent::new(Some(&user_id), Action::UserPasswordSet, &user_id);
                audit::append(tx, &keys.audit, &event, now)?;
                by_id(tx, &keys.user_rows, &user_id)?.ok_or(StoreError::NotFound)
            })
            .await
    }

    /// Uses a first-admin link: in one transaction, checks it is usable and
    /// that no active admin exists, creates the admin with the password
    /// hash, spends the link and audits it. `NotFound` if the link is not
    /// usable, `Conflict(AdminExists)` if an admin appeared meanwhile.
    pub async fn use_first_admin_link(
        &self,
        digest: &TokenDigest,
        user: NewUser,
        id: Id,
        password: PasswordHash,
        now: Timestamp,
    ) -> Result<User> {
        let (digest, keys) = (digest.clone(), self.keys()?);
        self.db
            .write(move |tx| {
                // Serialises first-admin creation across nodes.
                tx.lock(Lock::FirstAdmin)?;
                let link = usable_for(tx, &digest, LinkPurpose::FirstAdmin, now)?;
                let admins: u64 = tx.query_one(&COUNT_ACTIVE_ADMINS, args![], |r| r.get(0))?;
                if admins > 0 {
                    return Err(StoreError::Conflict(Constraint::AdminExists));
                }
                insert(tx, &keys.user_rows, &user, &id, Some(&password), now)?;
                spend(tx, &link, now)?;
                audit::append(tx, &keys.audit, &AuditEvent::new(Some(&id), Action::UserFirstAdmin, &id), now)?;
                by_id(tx, &keys.user_rows, &id)?.ok_or(StoreError::NotFound)
            })
            .await
    }

    /// Creates an account with a link that sets its password (and the
    /// invitation message, when it is mailed), audited, in one transaction.
    pub async fn invite_user(&self, invitation: Invitation, audit: AuditEvent, now: Timestamp) -> Result<User> {
        let (link_id, key) = (crate::new_id(now), self.row_key()?);
        self.audited(audit, now, move |tx| {
            let Invitation { user, id, link_digest, link_expires, mail } = invitation;
            insert(tx, &key, &user, &id, None, now)?;
            let link = NewLink {
                id: link_id,
                purpose: LinkPurpose::SetPassword,
                user_id: Some(id.clone()),
                digest: link_digest,
                expires_at: link_expires,
            };
            insert_link(tx, &link, now)?;
            if let Some(mail) = &mail {
                outbox::insert(tx, mail, now)?;
            }
            by_id(tx, &key, &id)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    /// Updates a user's own profile, audited as their own change.
    pub async fn update_profile(&self, user_id: &Id, p: ProfileUpdate, now: Timestamp) -> Result<()> {
        let id = user_id.clone();
        let event = AuditEvent::new(Some(user_id), Action::UserProfileUpdate, user_id);
        self.audited(event, now, move |tx| {
            let params = args![
                &p.name,
                &p.pronouns,
                &p.time_zone,
                &p.languages,
                &p.locale,
                p.phone.as_ref(),
                p.notify_email,
                p.notify_sms,
                now,
                &id
            ];
            one(tx.execute(&UPDATE_PROFILE, params)?)
        })
        .await
    }

    /// The sealed phone number.
    pub async fn user_phone(&self, user_id: &Id) -> Result<Option<Sealed>> {
        let id = user_id.clone();
        self.db.read(move |tx| Ok(tx.query_opt(&USER_PHONE, args![&id], |r| r.get(0))?.flatten())).await
    }

    /// Changes a role and ends the user's sessions (a privilege change).
    pub async fn set_role(&self, user_id: &Id, role: Role, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let (id, key) = (user_id.clone(), self.row_key()?);
        self.audited(audit, now, move |tx| {
            one(tx.execute(&SET_ROLE, args![role.as_str(), now, &id])?)?;
            reseal(tx, &key, &id)?;
            crate::sessions::end_all(tx, &id, None)?;
            Ok(())
        })
        .await
    }

    /// Disables an account (ending every session and revoking every API
    /// token at once) or re-enables it (tokens stay revoked).
    pub async fn set_disabled(&self, user_id: &Id, disabled: bool, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let (id, key) = (user_id.clone(), self.row_key()?);
        self.audited(audit, now, move |tx| {
            if tx.query_opt(&USER_EXISTS, args![&id], |_| Ok(()))?.is_none() {
                return Err(StoreError::NotFound);
            }
            if disabled {
                tx.execute(&DISABLE_USER, args![now, &id])?;
                crate::sessions::end_all(tx, &id, None)?;
                crate::api_tokens::revoke_all(tx, &id, now)?;
            } else {
                tx.execute(&ENABLE_USER, args![now, &id])?;
            }
            reseal(tx, &key, &id)
        })
        .await
    }

    /// Stores a new password hash and ends the user's other sessions.
    pub async fn change_password(
        &self,
        user_id: &Id,
        password: PasswordHash,
        keep_session: Option<&TokenDigest>,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        let (id, keep, key) = (user_id.clone(), keep_session.cloned(), self.row_key()?);
        self.audited(audit, now, move |tx| {
            one(tx.execute(&CHANGE_PASSWORD, args![&password, now, &id])?)?;
            reseal(tx, &key, &id)?;
            crate::sessions::end_all(tx, &id, keep.as_ref())?;
            Ok(())
        })
        .await
    }

    /// Sends an invitation again: the account's open set-password links stop
    /// working and a new one is stored with the message that carries it and
    /// the audit entry, in one transaction. `NotFound` unless the account
    /// exists, is enabled and has no password yet.
    pub async fn reissue_invitation(
        &self,
        link: NewLink,
        mail: NewMail,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        self.audited(audit, now, move |tx| {
            let user_id = link.user_id.clone().ok_or(StoreError::NotFound)?;
            let waiting: u64 = tx.query_one(&NO_PASSWORD_YET, args![&user_id], |r| r.get(0))?;
            if waiting == 0 {
                return Err(StoreError::NotFound);
            }
            tx.execute(&RETIRE_USER_LINKS, args![now, &user_id])?;
            insert_link(tx, &link, now)?;
            outbox::insert(tx, &mail, now)
        })
        .await
    }

    /// The language a user reads Kiteline and its mail in (the language
    /// switch of a signed-in user), audited as a profile change.
    pub async fn set_locale(&self, user_id: &Id, locale: &str, now: Timestamp) -> Result<()> {
        let (id, locale) = (user_id.clone(), locale.to_owned());
        let event = AuditEvent::new(Some(user_id), Action::UserProfileUpdate, user_id);
        self.audited(event, now, move |tx| one(tx.execute(&SET_LOCALE, args![&locale, now, &id])?)).await
    }

    /// `Conflict(ChapterName)` if a chapter has this name.
    pub async fn create_chapter(&self, id: Id, name: &str, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let name = name.to_owned();
        self.audited(audit, now, move |tx| {
            tx.execute(&INSERT_CHAPTER, args![&id, &name, now])?;
            Ok(())
        })
        .await
    }

    pub async fn chapters(&self) -> Result<Vec<Chapter>> {
        self.db
            .read(|tx| {
                tx.query(&CHAPTERS, args![], |r| Ok(Chapter { id: r.get(0)?, name: r.get(1)?, people: r.get(2)? }))
            })
            .await
    }

    /// `Conflict(ChapterName)` if another chapter has the name; `NotFound`.
    pub async fn rename_chapter(&self, id: &Id, name: &str, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let (id, name) = (id.clone(), name.to_owned());
        self.audited(audit, now, move |tx| one(tx.execute(&RENAME_CHAPTER, args![&name, &id])?)).await
    }

    /// Removes an empty chapter: `Conflict(MissingReference)` while anyone
    /// is in it (move them first); `NotFound`.
    pub async fn remove_chapter(&self, id: &Id, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let id = id.clone();
        self.audited(audit, now, move |tx| {
            let people: u64 = tx.query_one(&CHAPTER_PEOPLE, args![&id], |r| r.get(0))?;
            if people > 0 {
                return Err(StoreError::Conflict(Constraint::MissingReference));
            }
            one(tx.execute(&REMOVE_CHAPTER, args![&id])?)
        })
        .await
    }
}
