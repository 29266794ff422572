//! API tokens in the embedded database (`api_tokens` in `plaza.db`), on a connection of their
//! own: the CLI (`plaza token ...`) and a running `plaza serve` share the table, so a token
//! revoked from the command line is refused on the server's next request.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use super::tokens::{NewToken, TokenColumns, TokenError, TokenHash, TokenInfo, TokenStore};
use crate::storage::sqlite::{flush_delivery_groups, SqliteStore, DB_FILE_NAME};

/// Tokens in `plaza.db`.
pub struct SqliteTokenStore {
    conn: Mutex<Connection>,
    /// The database file.
    path: PathBuf,
}

fn store_error(doing: &str) -> impl Fn(rusqlite::Error) -> TokenError + '_ {
    move |e| {
        let text = e.to_string();
        if text.contains("no such table: api_tokens") {
            TokenError::Store(format!(
                "{doing}: this database has no token table (it was made by an unreleased build \
                 of schema version 3); start from a fresh data directory"
            ))
        } else {
            TokenError::Store(format!("{doing}: {text}"))
        }
    }
}

const COLUMNS: &str = "id, name, role, communities, created_ms, revoked_ms, hash";

fn row_to_token(row: &rusqlite::Row<'_>) -> rusqlite::Result<(TokenInfo, TokenHash)> {
    let columns = TokenColumns {
        id: row.get(0)?,
        name: row.get(1)?,
        role: row.get(2)?,
        communities: row.get(3)?,
        created_ms: row.get(4)?,
        revoked_ms: row.get(5)?,
        hash: row.get(6)?,
    };
    columns
        .decode()
        .map_err(|what| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, what.into()))
}

impl SqliteTokenStore {
    /// Opens the tokens of the data directory's database, creating the database (and bringing
    /// its schema up to date) on first use.
    pub fn open(data_dir: &Path) -> Result<SqliteTokenStore, TokenError> {
        // The admin store owns the schema: opening it migrates.
        drop(SqliteStore::open(data_dir).map_err(|e| TokenError::Store(e.to_string()))?);
        let path = data_dir.join(DB_FILE_NAME);
        let conn = Connection::open(&path).map_err(store_error("opening the database"))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(store_error("setting the busy timeout"))?;
        // A revoke must survive a power loss: sync every (rare) token write.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(store_error("setting synchronous = FULL"))?;
        Ok(SqliteTokenStore {
            conn: Mutex::new(conn),
            path,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A delivery group of this process may hold the write lock across an await.
        flush_delivery_groups(&self.path);
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn by_id(conn: &Connection, id: u64) -> Result<Option<TokenInfo>, TokenError> {
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM api_tokens WHERE id = ?1"),
            [id as i64],
            row_to_token,
        )
        .optional()
        .map(|found| found.map(|(info, _)| info))
        .map_err(store_error("reading a token"))
    }
}

impl TokenStore for SqliteTokenStore {
    fn insert(&self, token: &NewToken, hash: &TokenHash, now_ms: u64) -> Result<TokenInfo, TokenError> {
        let conn = self.lock();
        let communities = serde_json::to_string(&token.communities).expect("strings serialize");
        conn.execute(
            "INSERT INTO api_tokens (name, role, communities, lookup, hash, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                token.name.trim(),
                token.role.name(),
                communities,
                hash.lookup_key(),
                &hash.0[..],
                now_ms as i64
            ],
        )
        .map_err(store_error("storing a token"))?;
        let id = conn.last_insert_rowid() as u64;
        SqliteTokenStore::by_id(&conn, id)?.ok_or_else(|| TokenError::Store(format!("token {id} vanished")))
    }

    fn candidates(&self, lookup_key: i64) -> Result<Vec<(TokenInfo, TokenHash)>, TokenError> {
        let conn = self.lock();
        let mut statement = conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM api_tokens WHERE lookup = ?1"))
            .map_err(store_error("looking up a token"))?;
        let rows = statement
            .query_map([lookup_key], row_to_token)
            .map_err(store_error("looking up a token"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(store_error("looking up a token"))
    }

    fn list(&self) -> Result<Vec<TokenInfo>, TokenError> {
        let conn = self.lock();
        let mut statement = conn
            .prepare(&format!("SELECT {COLUMNS} FROM api_tokens ORDER BY id"))
            .map_err(store_error("listing tokens"))?;
        let rows = statement
            .query_map([], row_to_token)
            .map_err(store_error("listing tokens"))?;
        rows.map(|r| r.map(|(info, _)| info))
            .collect::<rusqlite::Result<_>>()
            .map_err(store_error("listing tokens"))
    }

    fn revoke(&self, id: u64, now_ms: u64) -> Result<TokenInfo, TokenError> {
        let conn = self.lock();
        conn.execute(
            "UPDATE api_tokens SET revoked_ms = coalesce(revoked_ms, ?2) WHERE id = ?1",
            params![id as i64, now_ms as i64],
        )
        .map_err(store_error("revoking a token"))?;
        SqliteTokenStore::by_id(&conn, id)?.ok_or(TokenError::NotFound(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::tokens::{authenticate, create, Role};

    #[test]
    fn tokens_survive_reopening_and_only_hashes_are_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteTokenStore::open(dir.path()).unwrap();
        let new = NewToken {
            name: "town admins".into(),
            role: Role::Admin,
            communities: vec!["town".into(), "gown".into()],
        };
        let (info, secret) = create(&store, &new, 42).unwrap();
        assert_eq!(info.communities, ["town", "gown"]);
        drop(store);

        let store = SqliteTokenStore::open(dir.path()).unwrap();
        assert_eq!(authenticate(&store, secret.expose()).unwrap(), Some(info.clone()));
        assert_eq!(store.list().unwrap(), std::slice::from_ref(&info));
        let bytes = std::fs::read(dir.path().join(DB_FILE_NAME)).unwrap();
        let wal = std::fs::read(dir.path().join(format!("{DB_FILE_NAME}-wal"))).unwrap_or_default();
        let needle = &secret.expose().as_bytes()[5..];
        for file in [&bytes, &wal] {
            assert!(!file.windows(needle.len()).any(|w| w == needle), "the token is on disk");
        }
        let revoked = store.revoke(info.id, 50).unwrap();
        assert!(revoked.revoked && revoked.revoked_ms == Some(50));
        assert_eq!(store.revoke(info.id, 60).unwrap().revoked_ms, Some(50));
        assert_eq!(authenticate(&store, secret.expose()).unwrap(), None);
        assert_eq!(store.revoke(99, 60), Err(TokenError::NotFound(99)));
    }
}
