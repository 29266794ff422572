//! A [`Store`](super::Store) in PostgreSQL, shared by several host nodes (`--store
//! postgres://…`): installs, grants, the audit log, plugin KV, timers, delivery logs, cursors,
//! outbox, dead letters, secrets, API tokens and the pseudonym key. It behaves like
//! [`SqliteStore`](super::sqlite::SqliteStore) method by method; the conformance suite runs
//! against both.
//!
//! **Why `tokio-postgres` on a runtime thread of its own.** The store traits are synchronous
//! and are called from tokio worker threads. The blocking `postgres` client drives each call
//! with its own runtime's `block_on`, which panics inside another runtime. Here the connections'
//! I/O tasks run on one dedicated current-thread runtime ([`Driver`]), and a caller polls its
//! query's future on its own thread with a plain parker ([`block_on`]): the client side of
//! `tokio-postgres` only talks to the connection task over channels, so it needs no runtime.
//! Callers can then lend borrowed arguments to a query (no `'static` jobs sent to a worker
//! pool), and blocking is as for SQLite, where a caller waits for the connection's mutex.
//!
//! **Concurrency.** SQLite serialises writers; PostgreSQL with several nodes does not. Every
//! transaction here runs at `SERIALIZABLE` and is retried when PostgreSQL reports a
//! serialization failure or a deadlock ([`PostgresStore::transaction`]), so each one behaves as
//! if it ran alone, as on SQLite: the cursor compare-and-set of commits, per-community log
//! sequences (`log_heads`), dedupe of appended events by key, the admin generation counter and
//! audit `seq` numbers (a counter row, so they are gapless and in commit order, which readers
//! paging with `after_seq` rely on). Inserts that may race use `ON CONFLICT` as well (outbox
//! keys, log heads, the host secret). Every commit is durable (`synchronous_commit` on).

mod admin;
mod community;
mod log;
mod pool;
mod schema;
mod secrets;
pub mod test_server;

use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use self::pool::{Connection, Pool};
use super::admin::StoreError;

pub use self::pool::block_on;

/// How a [`PostgresStore`] connects.
#[derive(Debug, Clone)]
pub struct Options {
    /// Connections opened at most (each serves one transaction at a time).
    pub max_connections: usize,
    /// How long connecting may take before it fails.
    pub connect_timeout: Duration,
    /// Attempts of a transaction that keeps failing to serialize before the error is returned.
    pub max_attempts: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_connections: 8,
            connect_timeout: Duration::from_secs(10),
            max_attempts: 50,
        }
    }
}

/// Community state, the admin model and durable delivery in a PostgreSQL database.
pub struct PostgresStore {
    pool: Pool,
    /// The URL without its password, for messages.
    location: String,
    max_attempts: u32,
}

/// Why a database step failed, before it is described as a [`StoreError`].
pub(crate) enum Fail {
    Sql(tokio_postgres::Error),
    /// A stored value that cannot be read back (bad JSON, unknown capability, ...).
    Data(String),
    Store(StoreError),
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Fail::Sql(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<String> for Fail {
    fn from(e: String) -> Self {
        Fail::Data(e)
    }
}

/// Whether the transaction may succeed when run again.
fn retryable(fail: &Fail) -> bool {
    match fail {
        Fail::Sql(e) => matches!(
            e.code(),
            Some(&SqlState::T_R_SERIALIZATION_FAILURE | &SqlState::T_R_DEADLOCK_DETECTED)
        ),
        _ => false,
    }
}

/// The text of a database error, with PostgreSQL's own message when it sent one.
fn sql_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// `location` without the password of the URL.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// A transaction in progress: synchronous queries on one connection.
pub(crate) struct Tx<'c> {
    conn: &'c mut Connection,
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl Tx<'_> {
    /// Runs a statement; answers the rows it changed.
    pub(crate) fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, Fail> {
        let statement = self.conn.statement(sql)?;
        Ok(block_on(self.conn.client().execute(&statement, params))?)
    }

    /// Runs a query; answers its rows.
    pub(crate) fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, Fail> {
        let statement = self.conn.statement(sql)?;
        Ok(block_on(self.conn.client().query(&statement, params))?)
    }

    /// Runs a query answering at most one row.
    pub(crate) fn query_opt(&mut self, sql: &str, params: Params<'_>) -> Result<Option<Row>, Fail> {
        let statement = self.conn.statement(sql)?;
        Ok(block_on(self.conn.client().query_opt(&statement, params))?)
    }

    /// Runs a query answering exactly one row.
    pub(crate) fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, Fail> {
        let statement = self.conn.statement(sql)?;
        Ok(block_on(self.conn.client().query_one(&statement, params))?)
    }

    /// Whether a query answers a row.
    pub(crate) fn exists(&mut self, sql: &str, params: Params<'_>) -> Result<bool, Fail> {
        Ok(self.query_opt(sql, params)?.is_some())
    }
}

/// Whether a transaction may write.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`) and brings
    /// its schema up to date (creating it on first use). Several nodes may open one database at
    /// once.
    pub fn open(url: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::open_with(url, Options::default())
    }

    /// [`open`](Self::open) with options.
    pub fn open_with(url: &str, options: Options) -> Result<PostgresStore, StoreError> {
        let location = redact(url);
        let open_error = |reason: String| StoreError::Open {
            path: location.clone(),
            reason,
        };
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| open_error(format!("not a PostgreSQL connection URL: {e}")))?;
        config.connect_timeout(options.connect_timeout);
        config.application_name("plaza");
        let pool = Pool::new(config, options.max_connections.max(1)).map_err(open_error)?;
        let store = PostgresStore {
            pool,
            location,
            max_attempts: options.max_attempts.max(1),
        };
        // Connect once now, so a bad address or password is reported by `open`.
        {
            let mut conn = store.pool.checkout().map_err(|e| store.open_error(&e))?;
            schema::migrate(conn.get(), &store.location)?;
        }
        Ok(store)
    }

    /// The database URL, without its password.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn open_error(&self, e: &str) -> StoreError {
        StoreError::Open {
            path: self.location.clone(),
            reason: format!("cannot connect: {e}"),
        }
    }

    fn describe(&self, doing: &str, fail: Fail) -> StoreError {
        match fail {
            Fail::Sql(e) if e.is_closed() => StoreError::Db {
                doing: doing.to_string(),
                reason: format!("the connection to {} was lost: {e}", self.location),
            },
            Fail::Sql(e) => StoreError::Db {
                doing: doing.to_string(),
                reason: sql_text(&e),
            },
            Fail::Data(reason) => StoreError::Corrupt {
                path: self.location.clone(),
                reason: format!("{doing}: {reason}"),
            },
            Fail::Store(e) => e,
        }
    }

    /// Runs `f` in a `SERIALIZABLE` transaction, committed only when it succeeds; runs it again
    /// (on a fresh snapshot) when PostgreSQL could not serialize it with a concurrent one.
    pub(crate) fn transaction<T>(
        &self,
        doing: &str,
        access: Access,
        mut f: impl FnMut(&mut Tx<'_>) -> Result<T, Fail>,
    ) -> Result<T, StoreError> {
        let begin = match access {
            Access::Read => "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY",
            Access::Write => "BEGIN ISOLATION LEVEL SERIALIZABLE",
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut checked_out = self.pool.checkout().map_err(|e| StoreError::Db {
                doing: doing.to_string(),
                reason: format!("cannot connect to {}: {e}", self.location),
            })?;
            let conn = checked_out.get();
            let result = (|| {
                conn.batch(begin)?;
                let value = f(&mut Tx { conn: &mut *conn })?;
                conn.batch("COMMIT")?;
                Ok(value)
            })();
            let fail = match result {
                Ok(value) => return Ok(value),
                Err(fail) => fail,
            };
            // Harmless after a failed COMMIT; a dead connection is dropped by the pool.
            let _ = conn.batch("ROLLBACK");
            drop(checked_out);
            if !retryable(&fail) || attempt >= self.max_attempts {
                return Err(self.describe(doing, fail));
            }
            // Spread the retries of transactions that collided, so they do not collide again.
            let jitter = u64::from(std::process::id() ^ attempt.wrapping_mul(2_654_435_761)) % 5;
            std::thread::sleep(Duration::from_millis(u64::from(attempt.min(20)) + jitter));
        }
    }

    /// A write transaction.
    pub(crate) fn write<T>(&self, doing: &str, f: impl FnMut(&mut Tx<'_>) -> Result<T, Fail>) -> Result<T, StoreError> {
        self.transaction(doing, Access::Write, f)
    }

    /// A read-only transaction.
    pub(crate) fn read<T>(&self, doing: &str, f: impl FnMut(&mut Tx<'_>) -> Result<T, Fail>) -> Result<T, StoreError> {
        self.transaction(doing, Access::Read, f)
    }

    /// A read; on failure logs it and answers `fallback` (see [`CommunityStore`](super::CommunityStore)).
    fn read_or<T>(&self, doing: &str, fallback: T, f: impl FnMut(&mut Tx<'_>) -> Result<T, Fail>) -> T {
        self.read(doing, f).unwrap_or_else(|error| {
            tracing::error!(database = %self.location, %error, "store read failed");
            fallback
        })
    }
}

#[cfg(test)]
mod tests;
