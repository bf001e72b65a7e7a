//! The PostgreSQL engine, for several stateless Kiteline nodes on one database.
//!
//! A deadpool connection pool. A store method's closure runs on tokio's
//! blocking pool and drives tokio-postgres with the runtime's handle, so the
//! same synchronous body serves both engines. Statements are prepared once
//! per connection and cached (deadpool's statement cache). Concurrent
//! transactions on separate connections already share WAL flushes —
//! PostgreSQL's own group commit — so writes are not gathered here.
//!
//! Connections are made without TLS: run PostgreSQL on the same host (a Unix
//! socket: `postgres:///kiteline?host=/run/postgresql`) or a private network.

use std::time::{Duration, SystemTime};

use deadpool_postgres::{ClientWrapper, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::runtime::Handle;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{IsolationLevel, NoTls, Statement};

use super::{Conn, Row, Stmt, Tx, Value, join_error};
use crate::{Constraint, Result, StoreError};

#[derive(Clone)]
pub(crate) struct PgDb {
    pool: Pool,
}

/// A pooled connection, plain or inside a transaction, with the handle that
/// drives its futures from the blocking thread.
pub(crate) enum PgConn<'c> {
    Client { client: &'c ClientWrapper, rt: &'c Handle },
    Tx { tx: &'c deadpool_postgres::Transaction<'c>, rt: &'c Handle },
}

impl PgDb {
    /// Connects a pool of up to `pool_size` connections. With `schema`, every
    /// connection uses it as its search path (tests give each its own).
    pub async fn connect(url: &str, pool_size: usize, schema: Option<&str>) -> Result<PgDb> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|_| StoreError::database("the PostgreSQL URL could not be parsed", None))?;
        match schema {
            Some(schema) => {
                config.options(format!("-c search_path={schema}"));
                config.application_name(format!("kiteline:{schema}"));
            }
            None => {
                config.application_name("kiteline");
            }
        }
        config.connect_timeout(Duration::from_secs(10));
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|_| StoreError::database("cannot build the connection pool", None))?;
        let db = PgDb { pool };
        db.client().await?.simple_query("SELECT 1").await.map_err(error)?;
        Ok(db)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => error(e),
            deadpool_postgres::PoolError::Timeout(_) => {
                StoreError::database("timed out waiting for a PostgreSQL connection", None)
            }
            _ => StoreError::database("no PostgreSQL connection", None),
        })
    }

    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        let mut client = self.client().await?;
        let rt = Handle::current();
        tokio::task::spawn_blocking(move || {
            let tx = rt.block_on(client.transaction()).map_err(error)?;
            in_transaction(&rt, tx, f)
        })
        .await
        .map_err(join_error)?
    }

    pub async fn read<T, F>(&self, f: F, snapshot: bool) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        let mut client = self.client().await?;
        let rt = Handle::current();
        tokio::task::spawn_blocking(move || {
            if snapshot {
                let tx = rt
                    .block_on(
                        client
                            .build_transaction()
                            .isolation_level(IsolationLevel::RepeatableRead)
                            .read_only(true)
                            .start(),
                    )
                    .map_err(error)?;
                in_transaction(&rt, tx, f)
            } else {
                let client: &ClientWrapper = &client;
                f(&mut Tx { conn: Conn::Postgres(PgConn::Client { client, rt: &rt }) })
            }
        })
        .await
        .map_err(join_error)?
    }
}

/// Runs `f` inside `tx`: commits what it did, or rolls it all back on its error.
fn in_transaction<T>(
    rt: &Handle,
    tx: deadpool_postgres::Transaction<'_>,
    f: impl FnOnce(&mut Tx<'_>) -> Result<T>,
) -> Result<T> {
    match f(&mut Tx { conn: Conn::Postgres(PgConn::Tx { tx: &tx, rt }) }) {
        Ok(v) => {
            rt.block_on(tx.commit()).map_err(error)?;
            Ok(v)
        }
        Err(e) => {
            let _ = rt.block_on(tx.rollback());
            Err(e)
        }
    }
}

/// Runs `$body` with `$c` bound to whichever client this connection holds.
macro_rules! on_client {
    ($conn:expr, |$c:ident, $rt:ident| $body:expr) => {
        match $conn {
            PgConn::Client { client: $c, rt: $rt } => $body,
            PgConn::Tx { tx: $c, rt: $rt } => $body,
        }
    };
}

impl PgConn<'_> {
    fn prepare(&self, sql: Stmt<'_>) -> Result<Statement> {
        let text = match sql {
            Stmt::Static(s) => s.for_postgres(),
            Stmt::Dynamic(text) => text,
        };
        on_client!(self, |c, rt| rt.block_on(c.prepare_cached(text))).map_err(error)
    }

    pub fn execute(&mut self, sql: Stmt<'_>, params: &[Value<'_>]) -> Result<u64> {
        let st = self.prepare(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        on_client!(self, |c, rt| rt.block_on(c.execute(&st, &params))).map_err(error)
    }

    pub fn each(
        &mut self,
        sql: Stmt<'_>,
        params: &[Value<'_>],
        f: &mut dyn FnMut(&Row<'_>) -> Result<bool>,
    ) -> Result<()> {
        let st = self.prepare(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        let rows = on_client!(self, |c, rt| rt.block_on(c.query(&st, &params))).map_err(error)?;
        for r in &rows {
            if !f(&Row::Postgres(r))? {
                break;
            }
        }
        Ok(())
    }

    pub fn batch(&mut self, sql: &str) -> std::result::Result<(), tokio_postgres::Error> {
        on_client!(self, |c, rt| rt.block_on(c.batch_execute(sql)))
    }
}

impl ToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
                _ => Err("an integer was bound to a column of another type".into()),
            },
            Value::Bool(b) => b.to_sql(ty, out),
            Value::Text(s) => s.to_sql(ty, out),
            Value::Bytes(b) => b.to_sql(ty, out),
            Value::Time(t) => SystemTime::from(t).to_sql(ty, out),
        }
    }

    /// Any type: `to_sql` converts or refuses per value.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Maps a PostgreSQL error to a [`StoreError`]. Only the SQLSTATE code and
/// the constraint's name are read; the message and `detail`, which can quote
/// row values, are dropped.
pub(super) fn error(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::UNIQUE_VIOLATION {
            return StoreError::Conflict(Constraint::from_postgres(db.constraint()));
        }
        if *code == SqlState::FOREIGN_KEY_VIOLATION {
            return StoreError::Conflict(Constraint::MissingReference);
        }
        if *code == SqlState::CHECK_VIOLATION || *code == SqlState::NOT_NULL_VIOLATION {
            return StoreError::Conflict(Constraint::Check);
        }
        return StoreError::database("PostgreSQL refused the statement", Some(code.code().to_owned()));
    }
    if e.is_closed() {
        return StoreError::database("the PostgreSQL connection is closed", None);
    }
    // Not from the server: connection, protocol or conversion trouble, whose
    // text names sockets and types, never row values.
    StoreError::database("PostgreSQL driver error", Some(e.to_string()))
}
