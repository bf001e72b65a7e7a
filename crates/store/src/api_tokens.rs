//! API tokens: bearer tokens for `/api/v1`, kept only as digests.

use jiff::Timestamp;

use crate::audit::AuditEvent;
use crate::db::{Row, Sql, Tx, args};
use crate::users::{self, User};
use crate::{Id, Result, Store, StoreError, TokenDigest, one};

/// What an API token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TokenScope {
    Read,
    Write,
    Admin,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Write => "write",
            TokenScope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<TokenScope> {
        match s {
            "read" => Some(TokenScope::Read),
            "write" => Some(TokenScope::Write),
            "admin" => Some(TokenScope::Admin),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    pub id: Id,
    pub user_id: Id,
    pub label: String,
    pub scope: TokenScope,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub expires_at: Timestamp,
}

impl ApiToken {
    /// Usable now: neither revoked nor expired.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// A token to store; only its digest is kept.
#[derive(Clone, Debug)]
pub struct NewApiToken {
    pub id: Id,
    pub user_id: Id,
    pub label: String,
    pub scope: TokenScope,
    pub digest: TokenDigest,
    /// When it stops working (chosen when it is made; 90 days by default).
    pub expires_at: Timestamp,
}

static INSERT_API_TOKEN: Sql = Sql::new(
    "INSERT INTO api_tokens (id, user_id, label, scope, token_hash, created_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)",
);
macro_rules! token_select {
    () => {
        "SELECT id, user_id, label, scope, created_at, last_used_at, revoked_at, expires_at FROM api_tokens"
    };
}
static API_TOKENS_OF: Sql = Sql::new(concat!(token_select!(), " WHERE user_id = $1 ORDER BY created_at, id"));
static API_TOKEN_BY_DIGEST: Sql =
    Sql::new(concat!(token_select!(), " WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2"));
static TOUCH_API_TOKEN: Sql = Sql::new("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2");
static REVOKE_API_TOKEN: Sql =
    Sql::new("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL");
static REVOKE_ALL: Sql = Sql::new("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL");

/// Revokes every live token of `user` inside the caller's transaction.
pub(crate) fn revoke_all(tx: &mut Tx<'_>, user: &Id, now: Timestamp) -> Result<u64> {
    tx.execute(&REVOKE_ALL, args![now, user])
}

impl ApiToken {
    fn from_row(r: &Row<'_>) -> Result<ApiToken> {
        let scope: String = r.get(3)?;
        Ok(ApiToken {
            id: r.get(0)?,
            user_id: r.get(1)?,
            label: r.get(2)?,
            scope: TokenScope::parse(&scope)
                .ok_or_else(|| StoreError::database("a stored token scope is unknown", None))?,
            created_at: r.get(4)?,
            last_used_at: r.get(5)?,
            revoked_at: r.get(6)?,
            expires_at: r.get(7)?,
        })
    }
}

impl Store {
    /// Stores a new token with its audit entry; `Conflict(ApiTokenDigest)`
    /// for a digest in use, `Conflict(MissingReference)` for no such user.
    pub async fn create_api_token(&self, token: NewApiToken, audit: AuditEvent, now: Timestamp) -> Result<ApiToken> {
        self.audited(audit, now, move |tx| {
            let t = token;
            let scope = t.scope.as_str();
            tx.execute(&INSERT_API_TOKEN, args![&t.id, &t.user_id, &t.label, scope, &t.digest, now, t.expires_at])?;
            Ok(ApiToken {
                id: t.id,
                user_id: t.user_id,
                label: t.label,
                scope: t.scope,
                created_at: now,
                last_used_at: None,
                revoked_at: None,
                expires_at: t.expires_at,
            })
        })
        .await
    }

    pub async fn api_tokens_of(&self, user_id: &Id) -> Result<Vec<ApiToken>> {
        let id = user_id.clone();
        self.db.read(move |tx| tx.query(&API_TOKENS_OF, args![&id], ApiToken::from_row)).await
    }

    /// The live (unrevoked, unexpired) token with this digest and its user,
    /// if that user is active. The caller checks `User::intact`.
    pub async fn api_token_by_digest(&self, digest: &TokenDigest, now: Timestamp) -> Result<Option<(ApiToken, User)>> {
        let (digest, key) = (digest.clone(), self.row_key()?);
        self.db
            .read(move |tx| {
                let Some(tok) = tx.query_opt(&API_TOKEN_BY_DIGEST, args![&digest, now], ApiToken::from_row)? else {
                    return Ok(None);
                };
                Ok(users::by_id(tx, &key, &tok.user_id)?.filter(|u| u.disabled_at.is_none()).map(|u| (tok, u)))
            })
            .await
    }

    pub async fn touch_api_token(&self, id: &Id, now: Timestamp) -> Result<()> {
        let id = id.clone();
        self.db
            .write(move |tx| {
                tx.execute(&TOUCH_API_TOKEN, args![now, &id])?;
                Ok(())
            })
            .await
    }

    /// Revokes one of `user_id`'s tokens; `NotFound` if it is not theirs.
    pub async fn revoke_api_token(&self, id: &Id, user_id: &Id, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let (id, user) = (id.clone(), user_id.clone());
        self.audited(audit, now, move |tx| one(tx.execute(&REVOKE_API_TOKEN, args![now, &id, &user])?)).await
    }
}
