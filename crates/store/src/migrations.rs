//! Embedded migrations, one list per engine, and the rules that guard them:
//! a migration once applied is never edited (its checksum is recorded and
//! compared at every start), and a database newer than the binary is refused.

use sha2::{Digest, Sha256};

use crate::{Result, StoreError};

pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

pub(crate) const SQLITE: &[Migration] = &[
    Migration { version: 1, name: "foundation", sql: include_str!("../migrations/sqlite/0001_foundation.sql") },
    Migration { version: 2, name: "accounts", sql: include_str!("../migrations/sqlite/0002_accounts.sql") },
    Migration { version: 3, name: "hardening", sql: include_str!("../migrations/sqlite/0003_hardening.sql") },
    Migration { version: 4, name: "organization", sql: include_str!("../migrations/sqlite/0004_organization.sql") },
    Migration { version: 5, name: "volunteers", sql: include_str!("../migrations/sqlite/0005_volunteers.sql") },
    Migration { version: 6, name: "shifts", sql: include_str!("../migrations/sqlite/0006_shifts.sql") },
];

pub(crate) const POSTGRES: &[Migration] = &[
    Migration { version: 1, name: "foundation", sql: include_str!("../migrations/postgres/0001_foundation.sql") },
    Migration { version: 2, name: "accounts", sql: include_str!("../migrations/postgres/0002_accounts.sql") },
    Migration { version: 3, name: "hardening", sql: include_str!("../migrations/postgres/0003_hardening.sql") },
    Migration { version: 4, name: "organization", sql: include_str!("../migrations/postgres/0004_organization.sql") },
    Migration { version: 5, name: "volunteers", sql: include_str!("../migrations/postgres/0005_volunteers.sql") },
    Migration { version: 6, name: "shifts", sql: include_str!("../migrations/postgres/0006_shifts.sql") },
];

/// The migration after which every user row carries its MAC: it is filled
/// in, under the key file's key, in the transaction that applies it.
pub(crate) const USER_ROW_MACS: i64 = 3;

/// A migration applied by this call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i64,
    pub name: String,
}

impl Migration {
    pub fn checksum(&self) -> String {
        kiteline_core::crypto::hex(&Sha256::digest(self.sql.as_bytes()))
    }
}

/// Compares what the database says was applied with what this binary carries
/// and returns the migrations still to apply, in order.
pub(crate) fn pending<'a>(known: &'a [Migration], applied: &[(i64, String)]) -> Result<Vec<&'a Migration>> {
    for (version, checksum) in applied {
        match known.iter().find(|m| m.version == *version) {
            None => {
                return Err(StoreError::Migration(format!(
                    "the database has migration {version}, which this Kiteline does not know; it is newer than this binary"
                )));
            }
            Some(m) if m.checksum() != *checksum => {
                return Err(StoreError::Migration(format!(
                    "migration {version} ({}) was changed after it was applied; applied migrations must never be edited",
                    m.name
                )));
            }
            Some(_) => {}
        }
    }
    Ok(known.iter().filter(|m| !applied.iter().any(|(v, _)| *v == m.version)).collect())
}
