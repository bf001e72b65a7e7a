//! The organization's public profile: its name and description (English and
//! Spanish), public contact, logo, and the public URL the running server
//! builds links with (so the command line builds the same ones).

use jiff::Timestamp;

use crate::audit::AuditEvent;
use crate::db::{Sql, Tx, args};
use crate::{Result, Store};

/// What the public pages show about the organization.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrgProfile {
    /// Empty: the configured `KITELINE_SITE_NAME`.
    pub name: String,
    pub description_en: String,
    pub description_es: String,
    pub contact_email: String,
    /// Several lines, such as a PO box.
    pub postal_address: String,
    /// `Some(version)` when a logo is stored; the version changes with it.
    pub logo_version: Option<i64>,
    pub public_url: String,
    /// The phone line program's public page, in each language.
    pub program_en: String,
    pub program_es: String,
    /// Where applicants and volunteers reach the coordination team.
    pub coordination_email: String,
    /// The message a declined applicant gets, in each language (empty: Kiteline's own).
    pub decline_en: String,
    pub decline_es: String,
}

/// What an admin edits about the phone line program.
#[derive(Clone, Debug, Default)]
pub struct ProgramUpdate {
    pub program_en: String,
    pub program_es: String,
    pub coordination_email: String,
    pub decline_en: String,
    pub decline_es: String,
}

/// What an admin edits in settings.
#[derive(Clone, Debug)]
pub struct OrgProfileUpdate {
    pub name: String,
    pub description_en: String,
    pub description_es: String,
    pub contact_email: String,
    pub postal_address: String,
}

/// A stored logo, already sanitized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logo {
    pub bytes: Vec<u8>,
    /// `image/png` or `image/svg+xml`.
    pub content_type: String,
    pub version: i64,
}

static ENSURE: Sql = Sql::new("INSERT INTO org_profile (id, updated_at) VALUES (1, $1) ON CONFLICT (id) DO NOTHING");
static PROFILE: Sql = Sql::new(
    "SELECT name, description_en, description_es, contact_email, postal_address, \
     CASE WHEN logo IS NULL THEN NULL ELSE logo_version END, public_url, program_en, program_es, \
     coordination_email, decline_en, decline_es FROM org_profile WHERE id = 1",
);
static UPDATE: Sql = Sql::new(
    "UPDATE org_profile SET name = $1, description_en = $2, description_es = $3, contact_email = $4, \
     postal_address = $5, updated_at = $6 WHERE id = 1",
);
static SET_LOGO: Sql = Sql::new(
    "UPDATE org_profile SET logo = $1, logo_type = $2, logo_version = logo_version + 1, updated_at = $3 WHERE id = 1",
);
static LOGO: Sql = Sql::new("SELECT logo, logo_type, logo_version FROM org_profile WHERE id = 1 AND logo IS NOT NULL");
static UPDATE_PROGRAM: Sql = Sql::new(
    "UPDATE org_profile SET program_en = $1, program_es = $2, coordination_email = $3, decline_en = $4, \
     decline_es = $5, updated_at = $6 WHERE id = 1",
);
static SET_PUBLIC_URL: Sql = Sql::new("UPDATE org_profile SET public_url = $1 WHERE id = 1");

fn ensure(tx: &mut Tx<'_>, now: Timestamp) -> Result<()> {
    tx.execute(&ENSURE, args![now])?;
    Ok(())
}

impl Store {
    /// The profile (empty fields when nothing was set yet).
    pub async fn org_profile(&self) -> Result<OrgProfile> {
        self.db
            .read(|tx| {
                Ok(tx
                    .query_opt(&PROFILE, args![], |r| {
                        Ok(OrgProfile {
                            name: r.get(0)?,
                            description_en: r.get(1)?,
                            description_es: r.get(2)?,
                            contact_email: r.get(3)?,
                            postal_address: r.get(4)?,
                            logo_version: r.get(5)?,
                            public_url: r.get(6)?,
                            program_en: r.get(7)?,
                            program_es: r.get(8)?,
                            coordination_email: r.get(9)?,
                            decline_en: r.get(10)?,
                            decline_es: r.get(11)?,
                        })
                    })?
                    .unwrap_or_default())
            })
            .await
    }

    pub async fn update_org_profile(&self, p: OrgProfileUpdate, audit: AuditEvent, now: Timestamp) -> Result<()> {
        self.audited(audit, now, move |tx| {
            ensure(tx, now)?;
            tx.execute(
                &UPDATE,
                args![&p.name, &p.description_en, &p.description_es, &p.contact_email, &p.postal_address, now],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn update_program(&self, p: ProgramUpdate, audit: AuditEvent, now: Timestamp) -> Result<()> {
        self.audited(audit, now, move |tx| {
            ensure(tx, now)?;
            tx.execute(
                &UPDATE_PROGRAM,
                args![&p.program_en, &p.program_es, &p.coordination_email, &p.decline_en, &p.decline_es, now],
            )?;
            Ok(())
        })
        .await
    }

    /// Stores a sanitized logo, or removes it (`None`).
    pub async fn set_org_logo(
        &self,
        logo: Option<(Vec<u8>, &'static str)>,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        self.audited(audit, now, move |tx| {
            ensure(tx, now)?;
            let (bytes, kind) = logo.map_or((None, None), |(b, k)| (Some(b), Some(k)));
            tx.execute(&SET_LOGO, args![bytes.as_ref(), kind, now])?;
            Ok(())
        })
        .await
    }

    pub async fn org_logo(&self) -> Result<Option<Logo>> {
        self.db
            .read(|tx| {
                tx.query_opt(&LOGO, args![], |r| {
                    Ok(Logo { bytes: r.get(0)?, content_type: r.get(1)?, version: r.get(2)? })
                })
            })
            .await
    }

    /// Records the public URL the server builds its links with.
    pub async fn record_public_url(&self, url: &str, now: Timestamp) -> Result<()> {
        let url = url.to_owned();
        self.db
            .write(move |tx| {
                ensure(tx, now)?;
                tx.execute(&SET_PUBLIC_URL, args![&url])?;
                Ok(())
            })
            .await
    }
}
