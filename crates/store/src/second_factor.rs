//! The second factor: TOTP secrets (sealed), used time steps, recovery codes
//! (kept only as digests).

use jiff::Timestamp;

use crate::audit::AuditEvent;
use crate::db::{Sql, Tx, args};
use crate::{Id, Result, Sealed, Store, TokenDigest, one, sessions, users};

/// A user's second-factor secrets, sealed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TotpState {
    pub pending: Option<Sealed>,
    pub active: Option<Sealed>,
    pub last_step: Option<i64>,
}

/// Everything that completing enrolment changes, together.
#[derive(Clone, Debug)]
pub struct Enrolment {
    /// The confirmed secret, sealed for `users.totp_secret`.
    pub sealed_secret: Sealed,
    /// The time step of the code that confirmed it (spent).
    pub step: i64,
    /// Digests of the new recovery codes, replacing any old ones.
    pub recovery_codes: Vec<TokenDigest>,
    /// The session that enrolled gets a new id (old, new), with the factor
    /// proved now.
    pub rotate_session: Option<(TokenDigest, TokenDigest)>,
}

static TOTP_STATE: Sql = Sql::new("SELECT totp_pending, totp_secret, totp_last_step FROM users WHERE id = $1");
static SET_TOTP_PENDING: Sql = Sql::new("UPDATE users SET totp_pending = $1 WHERE id = $2");
static ENABLE_TOTP: Sql = Sql::new(
    "UPDATE users SET totp_secret = $4, totp_pending = NULL, totp_last_step = $1, updated_at = $2 \
     WHERE id = $3 AND totp_pending IS NOT NULL AND (totp_last_step IS NULL OR totp_last_step < $1)",
);
static ACCEPT_TOTP_STEP: Sql = Sql::new(
    "UPDATE users SET totp_last_step = $1 \
     WHERE id = $2 AND totp_secret IS NOT NULL AND (totp_last_step IS NULL OR totp_last_step < $1)",
);
static DISABLE_TOTP: Sql =
    Sql::new("UPDATE users SET totp_secret = NULL, totp_pending = NULL, updated_at = $1 WHERE id = $2");
static DELETE_RECOVERY_CODES: Sql = Sql::new("DELETE FROM recovery_codes WHERE user_id = $1");
static INSERT_RECOVERY_CODE: Sql = Sql::new("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)");
static USE_RECOVERY_CODE: Sql =
    Sql::new("UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL");
static RECOVERY_CODES_LEFT: Sql =
    Sql::new("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL");

fn replace_codes(tx: &mut Tx<'_>, user: &Id, codes: &[TokenDigest]) -> Result<()> {
    tx.execute(&DELETE_RECOVERY_CODES, args![user])?;
    for code in codes {
        tx.execute(&INSERT_RECOVERY_CODE, args![user, code])?;
    }
    Ok(())
}

fn disable(tx: &mut Tx<'_>, key: &[u8; 32], user: &Id, now: Timestamp) -> Result<()> {
    one(tx.execute(&DISABLE_TOTP, args![now, user])?)?;
    users::reseal(tx, key, user)?;
    replace_codes(tx, user, &[])
}

impl Store {
    /// `NotFound` if there is no such user.
    pub async fn totp_state(&self, user_id: &Id) -> Result<TotpState> {
        let id = user_id.clone();
        self.db
            .read(move |tx| {
                tx.query_one(&TOTP_STATE, args![&id], |r| {
                    Ok(TotpState { pending: r.get(0)?, active: r.get(1)?, last_step: r.get(2)? })
                })
            })
            .await
    }

    pub async fn set_totp_pending(&self, user_id: &Id, sealed: Option<Sealed>) -> Result<()> {
        let id = user_id.clone();
        self.db.write(move |tx| one(tx.execute(&SET_TOTP_PENDING, args![sealed.as_ref(), &id])?)).await
    }

    /// Completes enrolment, in one transaction: stores the confirmed secret
    /// as active, clears the pending one, records its step as used, replaces
    /// the recovery codes, rotates the session and audits it. `NotFound` if
    /// nothing was pending or the step is not new.
    pub async fn enable_totp(&self, user_id: &Id, e: Enrolment, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let (id, key) = (user_id.clone(), self.row_key()?);
        self.audited(audit, now, move |tx| {
            one(tx.execute(&ENABLE_TOTP, args![e.step, now, &id, &e.sealed_secret])?)?;
            users::reseal(tx, &key, &id)?;
            replace_codes(tx, &id, &e.recovery_codes)?;
            if let Some((old, new)) = &e.rotate_session {
                sessions::rotate(tx, old, new, Some(now))?;
            }
            Ok(())
        })
        .await
    }

    /// Records `step` as used if it is later than the last; false on replay.
    pub async fn accept_totp_step(&self, user_id: &Id, step: i64) -> Result<bool> {
        let id = user_id.clone();
        self.db.write(move |tx| Ok(tx.execute(&ACCEPT_TOTP_STEP, args![step, &id])? == 1)).await
    }

    /// Turns the user's own second factor off (and drops their recovery codes).
    pub async fn disable_totp(&self, user_id: &Id, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let (id, key) = (user_id.clone(), self.row_key()?);
        self.audited(audit, now, move |tx| disable(tx, &key, &id, now)).await
    }

    /// An admin clears someone's lost second factor: secret and codes gone,
    /// every session ended and every API token revoked (they enrol again at
    /// next login), audited.
    pub async fn reset_second_factor(&self, user_id: &Id, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let (id, key) = (user_id.clone(), self.row_key()?);
        self.audited(audit, now, move |tx| {
            disable(tx, &key, &id, now)?;
            sessions::end_all(tx, &id, None)?;
            crate::api_tokens::revoke_all(tx, &id, now)?;
            Ok(())
        })
        .await
    }

    pub async fn replace_recovery_codes(
        &self,
        user_id: &Id,
        codes: Vec<TokenDigest>,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        let id = user_id.clone();
        self.audited(audit, now, move |tx| replace_codes(tx, &id, &codes)).await
    }

    /// Spends an unused recovery code; false if there is none with this digest.
    pub async fn use_recovery_code(&self, user_id: &Id, code: &TokenDigest, now: Timestamp) -> Result<bool> {
        let (id, code) = (user_id.clone(), code.clone());
        self.db.write(move |tx| Ok(tx.execute(&USE_RECOVERY_CODE, args![now, &id, &code])? == 1)).await
    }

    pub async fn recovery_codes_left(&self, user_id: &Id) -> Result<u32> {
        let id = user_id.clone();
        self.db.read(move |tx| tx.query_one(&RECOVERY_CODES_LEFT, args![&id], |r| r.get(0))).await
    }
}
