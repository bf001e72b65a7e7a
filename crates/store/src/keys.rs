//! Data keys, wrapped by the key file's key-encryption keys.

use jiff::Timestamp;

use crate::db::{Sql, args};
use crate::{Result, Store, one};

/// A wrapped data key as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDataKey {
    pub version: u32,
    pub wrapped: Vec<u8>,
}

static DATA_KEYS: Sql = Sql::new("SELECT version, wrapped FROM data_keys ORDER BY version");
static INSERT_DATA_KEY: Sql = Sql::new("INSERT INTO data_keys (version, wrapped, created_at) VALUES ($1, $2, $3)");
static REWRAP_DATA_KEY: Sql = Sql::new("UPDATE data_keys SET wrapped = $1 WHERE version = $2");

impl Store {
    pub async fn data_keys(&self) -> Result<Vec<StoredDataKey>> {
        self.db
            .read(|tx| tx.query(&DATA_KEYS, args![], |r| Ok(StoredDataKey { version: r.get(0)?, wrapped: r.get(1)? })))
            .await
    }

    /// `Conflict(DataKeyVersion)` if the version exists (another node won).
    pub async fn insert_data_key(&self, key: StoredDataKey, now: Timestamp) -> Result<()> {
        self.db
            .write(move |tx| {
                tx.execute(&INSERT_DATA_KEY, args![key.version, &key.wrapped, now])?;
                Ok(())
            })
            .await
    }

    /// Replaces a data key's wrapping (KEK rotation); the key itself is
    /// unchanged. `NotFound` if there is no such version.
    pub async fn rewrap_data_key(&self, version: u32, wrapped: &[u8]) -> Result<()> {
        let wrapped = wrapped.to_vec();
        self.db.write(move |tx| one(tx.execute(&REWRAP_DATA_KEY, args![&wrapped, version])?)).await
    }
}
