//! Applications to the volunteer program: one per e-mail address (a second
//! one is merged into the first), with the history of who decided what.
//! Accepting one creates the account through the invitation flow, in the
//! same transaction as the decision.

use jiff::Timestamp;
pub use kiteline_core::volunteer::ApplicationStatus;

use crate::audit::AuditEvent;
use crate::db::{Lock, Row, Sql, Tx, args};
use crate::outbox::{self, NewMail};
use crate::users::{Invitation, LinkPurpose, NewLink};
use crate::{Constraint, EmailAddress, Id, Result, Sealed, Store, StoreError, one};

/// What the public form sends, validated by the caller; sealed fields are
/// sealed for this row id.
#[derive(Clone, Debug)]
pub struct NewApplication {
    pub id: Id,
    pub email: EmailAddress,
    pub name: String,
    pub pronouns: String,
    pub phone: Option<Sealed>,
    pub time_zone: String,
    pub languages: String,
    pub chapter_id: Option<Id>,
    pub heard_from: String,
    pub why: Option<Sealed>,
    pub availability: String,
    pub locale: String,
}

/// An application as the review queue lists it (nothing sealed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Application {
    pub id: Id,
    pub email: String,
    pub name: String,
    pub pronouns: String,
    pub time_zone: String,
    pub languages: String,
    pub chapter_id: Option<Id>,
    pub heard_from: String,
    pub availability: String,
    pub locale: String,
    pub status: ApplicationStatus,
    /// How many times this address applied (merged into this one).
    pub submissions: u32,
    /// The account made when it was accepted.
    pub user_id: Option<Id>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One decision, kept as history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub id: Id,
    pub decided_by: Id,
    pub decision: ApplicationStatus,
    /// Sealed for the decision's id.
    pub note: Option<Sealed>,
    pub at: Timestamp,
}

/// An application with its sealed answers and its history.
#[derive(Clone, Debug)]
pub struct ApplicationRecord {
    pub application: Application,
    pub phone: Option<Sealed>,
    pub why: Option<Sealed>,
    pub decisions: Vec<Decision>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submitted {
    New,
    /// Merged into an earlier application from the same address.
    Merged,
}

/// What accepting makes: the account (through the invitation flow) and
/// the profile the applicant already gave.
#[derive(Clone, Debug)]
pub struct Acceptance {
    pub invitation: Invitation,
    pub pronouns: String,
    pub time_zone: String,
    pub languages: String,
    /// The phone, sealed again for the account's row.
    pub phone: Option<Sealed>,
}

/// A coordinator's decision, with everything it sends or makes.
#[derive(Clone, Debug)]
pub struct Decide {
    pub application_id: Id,
    pub decision: ApplicationStatus,
    pub decision_id: Id,
    pub decided_by: Id,
    pub note: Option<Sealed>,
    /// For an acceptance.
    pub accept: Option<Acceptance>,
    /// The message that goes with it (the kind refusal, for a decline).
    pub mail: Option<NewMail>,
}

macro_rules! application_select {
    () => {
        "SELECT id, email, name, pronouns, time_zone, languages, chapter_id, heard_from, availability, locale, \
         status, submissions, user_id, created_at, updated_at, phone, why FROM applications"
    };
}
static BY_ID: Sql = Sql::new(concat!(application_select!(), " WHERE id = $1"));
static ALL: Sql = Sql::new(concat!(application_select!(), " ORDER BY created_at, id"));
static ID_BY_EMAIL: Sql = Sql::new("SELECT id FROM applications WHERE email = $1");
static INSERT: Sql = Sql::new(
    "INSERT INTO applications (id, email, name, pronouns, phone, time_zone, languages, chapter_id, heard_from, \
     why, availability, locale, status, submissions, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'new', 1, $13, $13)",
);
// A merge keeps the newest answers, unless the application was accepted
// (the account exists; its owner edits their own profile). A declined one
// is reopened.
static MERGE: Sql = Sql::new(
    "UPDATE applications SET \
     name = CASE WHEN status = 'accepted' THEN name ELSE $2 END, \
     pronouns = CASE WHEN status = 'accepted' THEN pronouns ELSE $3 END, \
     phone = CASE WHEN status = 'accepted' THEN phone ELSE $4 END, \
     time_zone = CASE WHEN status = 'accepted' THEN time_zone ELSE $5 END, \
     languages = CASE WHEN status = 'accepted' THEN languages ELSE $6 END, \
     chapter_id = CASE WHEN status = 'accepted' THEN chapter_id ELSE $7 END, \
     heard_from = CASE WHEN status = 'accepted' THEN heard_from ELSE $8 END, \
     why = CASE WHEN status = 'accepted' THEN why ELSE $9 END, \
     availability = CASE WHEN status = 'accepted' THEN availability ELSE $10 END, \
     locale = CASE WHEN status = 'accepted' THEN locale ELSE $11 END, \
     status = CASE WHEN status = 'declined' THEN 'new' ELSE status END, \
     submissions = submissions + 1, updated_at = $12 WHERE id = $1",
);
static DECISIONS: Sql = Sql::new(
    "SELECT id, decided_by, decision, note, at FROM application_decisions WHERE application_id = $1 ORDER BY at, id",
);
static INSERT_DECISION: Sql = Sql::new(
    "INSERT INTO application_decisions (id, application_id, decided_by, decision, note, at) \
     VALUES ($1, $2, $3, $4, $5, $6)",
);
static SET_STATUS: Sql = Sql::new("UPDATE applications SET status = $1, user_id = $2, updated_at = $3 WHERE id = $4");
static STATUS_OF: Sql = Sql::new("SELECT status FROM applications WHERE id = $1");
static APPLICANT_PROFILE: Sql = Sql::new(
    "UPDATE users SET pronouns = $1, time_zone = $2, languages = $3, phone = $4, updated_at = $5 WHERE id = $6",
);

fn status(s: &str) -> Result<ApplicationStatus> {
    ApplicationStatus::parse(s).ok_or_else(|| StoreError::database("a stored application status is unknown", None))
}

impl Application {
    fn from_row(r: &Row<'_>) -> Result<Application> {
        Ok(Application {
            id: r.get(0)?,
            email: r.get(1)?,
            name: r.get(2)?,
            pronouns: r.get(3)?,
            time_zone: r.get(4)?,
            languages: r.get(5)?,
            chapter_id: r.get(6)?,
            heard_from: r.get(7)?,
            availability: r.get(8)?,
            locale: r.get(9)?,
            status: status(&r.get::<String>(10)?)?,
            submissions: r.get(11)?,
            user_id: r.get(12)?,
            created_at: r.get(13)?,
            updated_at: r.get(14)?,
        })
    }
}

fn insert_or_merge(tx: &mut Tx<'_>, a: &NewApplication, now: Timestamp) -> Result<Submitted> {
    tx.lock(Lock::on(&format!("application:{}", a.email.as_str())))?;
    let existing: Option<Id> = tx.query_opt(&ID_BY_EMAIL, args![a.email.as_str()], |r| r.get(0))?;
    match existing {
        None => {
            tx.execute(
                &INSERT,
                args![
                    &a.id,
                    a.email.as_str(),
                    &a.name,
                    &a.pronouns,
                    a.phone.as_ref(),
                    &a.time_zone,
                    &a.languages,
                    a.chapter_id.as_ref(),
                    &a.heard_from,
                    a.why.as_ref(),
                    &a.availability,
                    &a.locale,
                    now
                ],
            )?;
            Ok(Submitted::New)
        }
        // The sealed answers are bound to the row id: merging needs them
        // sealed for the existing row, which the caller does on this answer.
        Some(id) if id != a.id => Err(StoreError::Conflict(Constraint::ApplicationEmail)),
        Some(_) => {
            one(tx.execute(
                &MERGE,
                args![
                    &a.id,
                    &a.name,
                    &a.pronouns,
                    a.phone.as_ref(),
                    &a.time_zone,
                    &a.languages,
                    a.chapter_id.as_ref(),
                    &a.heard_from,
                    a.why.as_ref(),
                    &a.availability,
                    &a.locale,
                    now
                ],
            )?)?;
            Ok(Submitted::Merged)
        }
    }
}

impl Store {
    /// The application from this address, if any (its id seals the answers).
    pub async fn application_id_by_email(&self, email: &EmailAddress) -> Result<Option<Id>> {
        let email = email.as_str().to_owned();
        self.db.read(move |tx| tx.query_opt(&ID_BY_EMAIL, args![&email], |r| r.get(0))).await
    }

    /// Stores an application, or merges it into the earlier one from the
    /// same address (`Conflict(ApplicationEmail)` if `a.id` is not that
    /// one's id: seal again for it and retry), with the messages it sends
    /// (the applicant's confirmation, the coordinators' notices) and its
    /// audit entry, in one transaction.
    pub async fn submit_application(
        &self,
        a: NewApplication,
        mails: Vec<NewMail>,
        now: Timestamp,
    ) -> Result<Submitted> {
        let event = AuditEvent::new(None, crate::Action::ApplicationSubmit, &a.id);
        self.audited(event, now, move |tx| {
            let submitted = insert_or_merge(tx, &a, now)?;
            for m in &mails {
                outbox::insert(tx, m, now)?;
            }
            Ok(submitted)
        })
        .await
    }

    /// Every application, oldest first (the queue's order).
    pub async fn applications(&self) -> Result<Vec<Application>> {
        self.db.read(|tx| tx.query(&ALL, args![], Application::from_row)).await
    }

    pub async fn application(&self, id: &Id) -> Result<Option<ApplicationRecord>> {
        let id = id.clone();
        self.db
            .read(move |tx| {
                let Some((application, phone, why)) = tx.query_opt(&BY_ID, args![&id], |r| {
                    Ok((Application::from_row(r)?, r.get::<Option<Sealed>>(15)?, r.get::<Option<Sealed>>(16)?))
                })?
                else {
                    return Ok(None);
                };
                let decisions = tx.query(&DECISIONS, args![&id], |r| {
                    Ok(Decision {
                        id: r.get(0)?,
                        decided_by: r.get(1)?,
                        decision: status(&r.get::<String>(2)?)?,
                        note: r.get(3)?,
                        at: r.get(4)?,
                    })
                })?;
                Ok(Some(ApplicationRecord { application, phone, why, decisions }))
            })
            .await
    }

    /// Records a decision with its note and everything it makes — for an
    /// acceptance the account, its invitation link and message; for a
    /// decline its message — and the audit entry, in one transaction.
    /// `Conflict(ApplicationDecided)` if the application cannot take that
    /// decision any more (decided meanwhile); `NotFound`.
    pub async fn decide_application(&self, d: Decide, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let key = self.row_key()?;
        self.audited(audit, now, move |tx| {
            tx.lock(Lock::on(&format!("application-decision:{}", d.application_id)))?;
            let current: String =
                tx.query_opt(&STATUS_OF, args![&d.application_id], |r| r.get(0))?.ok_or(StoreError::NotFound)?;
            if !status(&current)?.can_become(d.decision) {
                return Err(StoreError::Conflict(Constraint::ApplicationDecided));
            }
            let decision = d.decision.as_str();
            tx.execute(
                &INSERT_DECISION,
                args![&d.decision_id, &d.application_id, &d.decided_by, decision, d.note.as_ref(), now],
            )?;
            let mut user_id = None;
            if let Some(a) = &d.accept {
                let inv = &a.invitation;
                crate::users::insert(tx, &key, &inv.user, &inv.id, None, now)?;
                tx.execute(
                    &APPLICANT_PROFILE,
                    args![&a.pronouns, &a.time_zone, &a.languages, a.phone.as_ref(), now, &inv.id],
                )?;
                let link = NewLink {
                    id: crate::new_id(now),
                    purpose: LinkPurpose::SetPassword,
                    user_id: Some(inv.id.clone()),
                    digest: inv.link_digest.clone(),
                    expires_at: inv.link_expires,
                };
                crate::users::insert_link(tx, &link, now)?;
                if let Some(m) = &inv.mail {
                    outbox::insert(tx, m, now)?;
                }
                user_id = Some(inv.id.clone());
            }
            if let Some(m) = &d.mail {
                outbox::insert(tx, m, now)?;
            }
            one(tx.execute(&SET_STATUS, args![decision, user_id.as_ref(), now, &d.application_id])?)
        })
        .await
    }
}
