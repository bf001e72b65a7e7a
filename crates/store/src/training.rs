//! The training series: modules, scheduled sessions and their sign-ups,
//! qualifications (each completion a row, so renewals keep history), the
//! reminders sent before one expires, and a volunteer's standing.

use jiff::Timestamp;
use jiff::civil::Date;
pub use kiteline_core::volunteer::{Completion, Standing};

use crate::audit::AuditEvent;
use crate::db::{Lock, Row, Sql, Tx, args};
use crate::outbox::{self, NewMail};
use crate::{Constraint, Id, Result, Sealed, Store, StoreError, one};

/// A module of the training series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    pub id: Id,
    pub title_en: String,
    pub title_es: String,
    pub description_en: String,
    pub description_es: String,
    /// Order in the series (ascending).
    pub position: i64,
    pub required: bool,
    pub completion: Completion,
    /// `None`: valid forever.
    pub validity_months: Option<u32>,
    pub renewal_window_days: u32,
    /// No longer part of the series (kept for the history it appears in).
    pub retired: bool,
}

impl Module {
    /// The rule's view of this module, titled in `lang` ("en" or "es").
    pub fn rule(&self, lang: &str) -> kiteline_core::volunteer::ModuleRule {
        kiteline_core::volunteer::ModuleRule {
            id: self.id.to_string(),
            title: self.title(lang).to_owned(),
            required: self.required && !self.retired,
            validity_months: self.validity_months,
            renewal_window_days: self.renewal_window_days,
        }
    }

    pub fn title(&self, lang: &str) -> &str {
        if lang == "es" && !self.title_es.is_empty() { &self.title_es } else { &self.title_en }
    }

    pub fn description(&self, lang: &str) -> &str {
        if lang == "es" && !self.description_es.is_empty() { &self.description_es } else { &self.description_en }
    }
}

/// What a coordinator sets on a module.
#[derive(Clone, Debug)]
pub struct ModuleInput {
    pub title_en: String,
    pub title_es: String,
    pub description_en: String,
    pub description_es: String,
    pub position: i64,
    pub required: bool,
    pub completion: Completion,
    pub validity_months: Option<u32>,
    pub renewal_window_days: u32,
    pub retired: bool,
}

/// A scheduled session of a module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainingSession {
    pub id: Id,
    pub module_id: Id,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    /// The zone it was scheduled in (shown beside the viewer's).
    pub time_zone: String,
    pub capacity: u32,
    /// Sealed for the session's id; shown only to those signed up.
    pub video_link: Option<Sealed>,
    pub trainer_id: Option<Id>,
    /// Seats taken.
    pub signed_up: u32,
}

#[derive(Clone, Debug)]
pub struct NewTrainingSession {
    pub id: Id,
    pub module_id: Id,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub time_zone: String,
    pub capacity: u32,
    pub video_link: Option<Sealed>,
    pub trainer_id: Option<Id>,
}

/// One volunteer signed up for one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignUp {
    pub session_id: Id,
    pub user_id: Id,
    pub signed_up_at: Timestamp,
    /// `None` until a trainer or coordinator marks it.
    pub attended: Option<bool>,
    pub marked_by: Option<Id>,
}

/// One completion of one module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qualification {
    pub id: Id,
    pub user_id: Id,
    pub module_id: Id,
    pub starts_on: Date,
    pub expires_on: Option<Date>,
    pub source: Completion,
    pub session_id: Option<Id>,
    pub granted_by: Option<Id>,
    pub created_at: Timestamp,
}

impl Qualification {
    pub fn held(&self) -> kiteline_core::volunteer::Held {
        kiteline_core::volunteer::Held {
            module_id: self.module_id.to_string(),
            starts_on: self.starts_on,
            expires_on: self.expires_on,
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewQualification {
    pub id: Id,
    pub user_id: Id,
    pub module_id: Id,
    pub starts_on: Date,
    pub expires_on: Option<Date>,
    pub source: Completion,
    pub session_id: Option<Id>,
    pub granted_by: Option<Id>,
}

static MODULES: Sql = Sql::new(
    "SELECT id, title_en, title_es, description_en, description_es, position, required, completion, \
     validity_months, renewal_window_days, retired FROM training_modules ORDER BY retired, position, title_en, id",
);
static INSERT_MODULE: Sql = Sql::new(
    "INSERT INTO training_modules (id, title_en, title_es, description_en, description_es, position, required, \
     completion, validity_months, renewal_window_days, retired, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
);
static UPDATE_MODULE: Sql = Sql::new(
    "UPDATE training_modules SET title_en = $2, title_es = $3, description_en = $4, description_es = $5, \
     position = $6, required = $7, completion = $8, validity_months = $9, renewal_window_days = $10, \
     retired = $11, updated_at = $12 WHERE id = $1",
);
macro_rules! session_select {
    () => {
        "SELECT s.id, s.module_id, s.starts_at, s.ends_at, s.time_zone, s.capacity, s.video_link, s.trainer_id, \
         (SELECT COUNT(*) FROM session_signups u WHERE u.session_id = s.id) FROM training_sessions s"
    };
}
static SESSIONS_FROM: Sql = Sql::new(concat!(session_select!(), " WHERE s.ends_at > $1 ORDER BY s.starts_at, s.id"));
static SESSION_BY_ID: Sql = Sql::new(concat!(session_select!(), " WHERE s.id = $1"));
static INSERT_SESSION: Sql = Sql::new(
    "INSERT INTO training_sessions (id, module_id, starts_at, ends_at, time_zone, capacity, video_link, \
     trainer_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
);
static CAPACITY: Sql = Sql::new(
    "SELECT capacity, (SELECT COUNT(*) FROM session_signups WHERE session_id = $1) \
     FROM training_sessions WHERE id = $1",
);
static INSERT_SIGNUP: Sql =
    Sql::new("INSERT INTO session_signups (session_id, user_id, signed_up_at) VALUES ($1, $2, $3)");
static DELETE_SIGNUP: Sql =
    Sql::new("DELETE FROM session_signups WHERE session_id = $1 AND user_id = $2 AND attended IS NULL");
static SIGNUPS: Sql = Sql::new(
    "SELECT session_id, user_id, signed_up_at, attended, marked_by FROM session_signups \
     WHERE session_id = $1 ORDER BY signed_up_at, user_id",
);
static SIGNUPS_OF: Sql = Sql::new(
    "SELECT session_id, user_id, signed_up_at, attended, marked_by FROM session_signups \
     WHERE user_id = $1 ORDER BY signed_up_at",
);
static MARK: Sql = Sql::new(
    "UPDATE session_signups SET attended = $3, marked_by = $4, marked_at = $5 WHERE session_id = $1 AND user_id = $2",
);
macro_rules! qualification_select {
    () => {
        "SELECT id, user_id, module_id, starts_on, expires_on, source, session_id, granted_by, created_at \
         FROM qualifications"
    };
}
static QUALIFICATIONS_OF: Sql =
    Sql::new(concat!(qualification_select!(), " WHERE user_id = $1 ORDER BY module_id, starts_on, id"));
static ALL_QUALIFICATIONS: Sql = Sql::new(concat!(qualification_select!(), " ORDER BY user_id, module_id, starts_on"));
static INSERT_QUALIFICATION: Sql = Sql::new(
    "INSERT INTO qualifications (id, user_id, module_id, starts_on, expires_on, source, session_id, granted_by, \
     created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
);
static INSERT_REMINDER: Sql =
    Sql::new("INSERT INTO qualification_reminders (qualification_id, days_ahead, sent_at) VALUES ($1, $2, $3)");
static REMINDED: Sql =
    Sql::new("SELECT COUNT(*) FROM qualification_reminders WHERE qualification_id = $1 AND days_ahead = $2");
static SET_STANDING: Sql = Sql::new("UPDATE users SET standing = $1, paused_until = $2, updated_at = $3 WHERE id = $4");
static STANDINGS: Sql = Sql::new("SELECT id, standing, paused_until FROM users");
static STANDING_OF: Sql = Sql::new("SELECT standing, paused_until FROM users WHERE id = $1");

fn completion(s: &str) -> Result<Completion> {
    Completion::parse(s).ok_or_else(|| StoreError::database("a stored completion kind is unknown", None))
}

fn standing_from(kind: &str, until: Option<Date>) -> Result<Standing> {
    match (kind, until) {
        ("active", _) => Ok(Standing::Active),
        ("alumni", _) => Ok(Standing::Alumni),
        ("paused", Some(until)) => Ok(Standing::Paused { until }),
        _ => Err(StoreError::database("a stored standing is malformed", None)),
    }
}

fn module_from(r: &Row<'_>) -> Result<Module> {
    Ok(Module {
        id: r.get(0)?,
        title_en: r.get(1)?,
        title_es: r.get(2)?,
        description_en: r.get(3)?,
        description_es: r.get(4)?,
        position: r.get(5)?,
        required: r.get(6)?,
        completion: completion(&r.get::<String>(7)?)?,
        validity_months: r.get::<Option<i64>>(8)?.map(|m| m as u32),
        renewal_window_days: r.get(9)?,
        retired: r.get(10)?,
    })
}

fn session_from(r: &Row<'_>) -> Result<TrainingSession> {
    Ok(TrainingSession {
        id: r.get(0)?,
        module_id: r.get(1)?,
        starts_at: r.get(2)?,
        ends_at: r.get(3)?,
        time_zone: r.get(4)?,
        capacity: r.get(5)?,
        video_link: r.get(6)?,
        trainer_id: r.get(7)?,
        signed_up: r.get(8)?,
    })
}

fn signup_from(r: &Row<'_>) -> Result<SignUp> {
    Ok(SignUp {
        session_id: r.get(0)?,
        user_id: r.get(1)?,
        signed_up_at: r.get(2)?,
        attended: r.get(3)?,
        marked_by: r.get(4)?,
    })
}

fn qualification_from(r: &Row<'_>) -> Result<Qualification> {
    Ok(Qualification {
        id: r.get(0)?,
        user_id: r.get(1)?,
        module_id: r.get(2)?,
        starts_on: r.get(3)?,
        expires_on: r.get(4)?,
        source: completion(&r.get::<String>(5)?)?,
        session_id: r.get(6)?,
        granted_by: r.get(7)?,
        created_at: r.get(8)?,
    })
}

fn insert_qualification(tx: &mut Tx<'_>, q: &NewQualification, now: Timestamp) -> Result<()> {
    let (starts, expires) = (q.starts_on.to_string(), q.expires_on.map(|d| d.to_string()));
    tx.execute(
        &INSERT_QUALIFICATION,
        args![
            &q.id,
            &q.user_id,
            &q.module_id,
            &starts,
            expires.as_ref(),
            q.source.as_str(),
            q.session_id.as_ref(),
            q.granted_by.as_ref(),
            now
        ],
    )?;
    Ok(())
}

fn module_args<'a>(id: &'a Id, m: &'a ModuleInput, now: Timestamp) -> [crate::db::Value<'a>; 12] {
    [
        id.into(),
        (&m.title_en).into(),
        (&m.title_es).into(),
        (&m.description_en).into(),
        (&m.description_es).into(),
        m.position.into(),
        m.required.into(),
        m.completion.as_str().into(),
        m.validity_months.into(),
        m.renewal_window_days.into(),
        m.retired.into(),
        now.into(),
    ]
}

impl Store {
    /// The series: current modules in order, then retired ones.
    pub async fn modules(&self) -> Result<Vec<Module>> {
        self.db.read(|tx| tx.query(&MODULES, args![], module_from)).await
    }

    pub async fn create_module(&self, id: Id, m: ModuleInput, audit: AuditEvent, now: Timestamp) -> Result<()> {
        self.audited(audit, now, move |tx| {
            tx.execute(&INSERT_MODULE, &module_args(&id, &m, now))?;
            Ok(())
        })
        .await
    }

    /// `NotFound` if there is no such module.
    pub async fn update_module(&self, id: &Id, m: ModuleInput, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let id = id.clone();
        self.audited(audit, now, move |tx| one(tx.execute(&UPDATE_MODULE, &module_args(&id, &m, now))?)).await
    }

    /// `MissingReference` if the module or trainer does not exist.
    pub async fn schedule_session(&self, s: NewTrainingSession, audit: AuditEvent, now: Timestamp) -> Result<()> {
        self.audited(audit, now, move |tx| {
            tx.execute(
                &INSERT_SESSION,
                args![
                    &s.id,
                    &s.module_id,
                    s.starts_at,
                    s.ends_at,
                    &s.time_zone,
                    s.capacity,
                    s.video_link.as_ref(),
                    s.trainer_id.as_ref(),
                    now
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// Sessions that have not ended by `from`, soonest first.
    pub async fn sessions_from(&self, from: Timestamp) -> Result<Vec<TrainingSession>> {
        self.db.read(move |tx| tx.query(&SESSIONS_FROM, args![from], session_from)).await
    }

    pub async fn training_session(&self, id: &Id) -> Result<Option<TrainingSession>> {
        let id = id.clone();
        self.db.read(move |tx| tx.query_opt(&SESSION_BY_ID, args![&id], session_from)).await
    }

    pub async fn signups(&self, session_id: &Id) -> Result<Vec<SignUp>> {
        let id = session_id.clone();
        self.db.read(move |tx| tx.query(&SIGNUPS, args![&id], signup_from)).await
    }

    pub async fn signups_of(&self, user_id: &Id) -> Result<Vec<SignUp>> {
        let id = user_id.clone();
        self.db.read(move |tx| tx.query(&SIGNUPS_OF, args![&id], signup_from)).await
    }

    /// Takes a seat: `Conflict(SessionFull)` when none is left,
    /// `Conflict(SignUp)` when already signed up, `NotFound` for no session.
    /// Seats are counted under a lock on the session, so two people never
    /// take the last one.
    pub async fn sign_up(&self, session_id: &Id, user_id: &Id, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let (sid, uid) = (session_id.clone(), user_id.clone());
        self.audited(audit, now, move |tx| {
            tx.lock(Lock::on(&format!("training_session:{sid}")))?;
            let (capacity, taken): (u32, u32) =
                tx.query_opt(&CAPACITY, args![&sid], |r| Ok((r.get(0)?, r.get(1)?)))?.ok_or(StoreError::NotFound)?;
            if taken >= capacity {
                return Err(StoreError::Conflict(Constraint::SessionFull));
            }
            tx.execute(&INSERT_SIGNUP, args![&sid, &uid, now])?;
            Ok(())
        })
        .await
    }

    /// Gives a seat back; `NotFound` if not signed up (or already marked).
    pub async fn leave_session(&self, session_id: &Id, user_id: &Id, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let (sid, uid) = (session_id.clone(), user_id.clone());
        self.audited(audit, now, move |tx| {
            tx.lock(Lock::on(&format!("training_session:{sid}")))?;
            one(tx.execute(&DELETE_SIGNUP, args![&sid, &uid])?)
        })
        .await
    }

    /// Marks who attended (`true`) or did not (`false`), and grants the
    /// qualifications attendance earns, in one transaction. `NotFound` if
    /// someone marked is not signed up.
    pub async fn mark_attendance(
        &self,
        session_id: &Id,
        marks: Vec<(Id, bool)>,
        marked_by: &Id,
        grants: Vec<NewQualification>,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        let (sid, by) = (session_id.clone(), marked_by.clone());
        self.audited(audit, now, move |tx| {
            for (user, present) in &marks {
                one(tx.execute(&MARK, args![&sid, user, *present, &by, now])?)?;
            }
            for g in &grants {
                insert_qualification(tx, g, now)?;
            }
            Ok(())
        })
        .await
    }

    /// A qualification granted by sign-off or a shadow shift.
    pub async fn grant_qualification(&self, q: NewQualification, audit: AuditEvent, now: Timestamp) -> Result<()> {
        self.audited(audit, now, move |tx| insert_qualification(tx, &q, now)).await
    }

    pub async fn qualifications_of(&self, user_id: &Id) -> Result<Vec<Qualification>> {
        let id = user_id.clone();
        self.db.read(move |tx| tx.query(&QUALIFICATIONS_OF, args![&id], qualification_from)).await
    }

    pub async fn all_qualifications(&self) -> Result<Vec<Qualification>> {
        self.db.read(|tx| tx.query(&ALL_QUALIFICATIONS, args![], qualification_from)).await
    }

    /// Records that the reminder `days_ahead` of an expiry went out, with its
    /// message, once: `false` (nothing stored) if it was sent before.
    pub async fn send_reminder_once(
        &self,
        qualification_id: &Id,
        days_ahead: i64,
        mail: NewMail,
        now: Timestamp,
    ) -> Result<bool> {
        let id = qualification_id.clone();
        self.db
            .write(move |tx| {
                let sent: u64 = tx.query_one(&REMINDED, args![&id, days_ahead], |r| r.get(0))?;
                if sent > 0 {
                    return Ok(false);
                }
                tx.execute(&INSERT_REMINDER, args![&id, days_ahead, now])?;
                outbox::insert(tx, &mail, now)?;
                Ok(true)
            })
            .await
    }

    /// Sets a volunteer's standing (pause, return, alumni), audited.
    pub async fn set_standing(
        &self,
        user_id: &Id,
        standing: Standing,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        let id = user_id.clone();
        let (kind, until) = match standing {
            Standing::Active => ("active", None),
            Standing::Paused { until } => ("paused", Some(until.to_string())),
            Standing::Alumni => ("alumni", None),
        };
        self.audited(audit, now, move |tx| one(tx.execute(&SET_STANDING, args![kind, until.as_ref(), now, &id])?)).await
    }

    pub async fn standing(&self, user_id: &Id) -> Result<Standing> {
        let id = user_id.clone();
        self.db
            .read(move |tx| {
                let (kind, until): (String, Option<Date>) = tx
                    .query_opt(&STANDING_OF, args![&id], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .ok_or(StoreError::NotFound)?;
                standing_from(&kind, until)
            })
            .await
    }

    /// Every account's standing.
    pub async fn standings(&self) -> Result<Vec<(Id, Standing)>> {
        self.db
            .read(|tx| {
                tx.query(&STANDINGS, args![], |r| {
                    let (kind, until): (String, Option<Date>) = (r.get(1)?, r.get(2)?);
                    Ok((r.get(0)?, standing_from(&kind, until)?))
                })
            })
            .await
    }
}
