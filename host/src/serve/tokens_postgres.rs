//! API tokens in the PostgreSQL store (`api_tokens`), shared by every node: a token made or
//! revoked through one node (or `plaza token … --store postgres://…`) holds on all of them from
//! their next request.

use std::sync::Arc;

use super::tokens::{NewToken, TokenColumns, TokenError, TokenHash, TokenInfo, TokenStore};
use crate::storage::admin::StoreError;
use crate::storage::postgres::{Fail, PostgresStore, Tx};

/// Tokens in a [`PostgresStore`].
pub struct PostgresTokenStore {
    store: Arc<PostgresStore>,
}

const COLUMNS: &str = "id, name, role, communities, created_ms, revoked_ms, hash";

fn store_error(e: StoreError) -> TokenError {
    TokenError::Store(e.to_string())
}

fn tokens(tx: &mut Tx<'_>, filter: &str, value: Option<i64>) -> Result<Vec<(TokenInfo, TokenHash)>, Fail> {
    let sql = format!("SELECT {COLUMNS} FROM api_tokens {filter} ORDER BY id");
    let rows = match value {
        Some(v) => tx.query(&sql, &[&v]),
        None => tx.query(&sql, &[]),
    };
    let rows = rows?;
    rows.iter()
        .map(|row| {
            TokenColumns {
                id: row.get(0),
                name: row.get(1),
                role: row.get(2),
                communities: row.get(3),
                created_ms: row.get(4),
                revoked_ms: row.get(5),
                hash: row.get(6),
            }
            .decode()
            .map_err(Fail::Data)
        })
        .collect()
}

impl PostgresTokenStore {
    /// The tokens of `store`.
    pub fn new(store: Arc<PostgresStore>) -> PostgresTokenStore {
        PostgresTokenStore { store }
    }

    fn by_id(&self, id: u64) -> Result<Option<TokenInfo>, TokenError> {
        let found = self
            .store
            .read("reading a token", |tx| tokens(tx, "WHERE id = $1", Some(id as i64)))
            .map_err(store_error)?;
        Ok(found.into_iter().next().map(|(info, _)| info))
    }
}

impl TokenStore for PostgresTokenStore {
    fn insert(&self, token: &NewToken, hash: &TokenHash, now_ms: u64) -> Result<TokenInfo, TokenError> {
        let communities = serde_json::to_string(&token.communities).expect("strings serialize");
        let id: i64 = self
            .store
            .write("storing a token", |tx| {
                Ok(tx
                    .query_one(
                        "INSERT INTO api_tokens (name, role, communities, lookup, hash, created_ms)
                         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                        &[
                            &token.name.trim(),
                            &token.role.name(),
                            &communities,
                            &hash.lookup_key(),
                            &&hash.0[..],
                            &(now_ms as i64),
                        ],
                    )?
                    .get(0))
            })
            .map_err(store_error)?;
        self.by_id(id as u64)?
            .ok_or_else(|| TokenError::Store(format!("token {id} vanished")))
    }

    fn candidates(&self, lookup_key: i64) -> Result<Vec<(TokenInfo, TokenHash)>, TokenError> {
        self.store
            .read("looking up a token", |tx| {
                tokens(tx, "WHERE lookup = $1", Some(lookup_key))
            })
            .map_err(store_error)
    }

    fn list(&self) -> Result<Vec<TokenInfo>, TokenError> {
        let all = self
            .store
            .read("listing tokens", |tx| tokens(tx, "", None))
            .map_err(store_error)?;
        Ok(all.into_iter().map(|(info, _)| info).collect())
    }

    fn revoke(&self, id: u64, now_ms: u64) -> Result<TokenInfo, TokenError> {
        self.store
            .write("revoking a token", |tx| {
                tx.execute(
                    "UPDATE api_tokens SET revoked_ms = coalesce(revoked_ms, $2) WHERE id = $1",
                    &[&(id as i64), &(now_ms as i64)],
                )?;
                Ok(())
            })
            .map_err(store_error)?;
        self.by_id(id)?.ok_or(TokenError::NotFound(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::tokens::{authenticate, create, Role};
    use crate::storage::postgres::test_server::PostgresServer;

    #[test]
    fn tokens_are_shared_by_nodes_and_only_hashes_are_stored() {
        let server = PostgresServer::start();
        let url = server.database();
        let node_a = PostgresTokenStore::new(Arc::new(PostgresStore::open(&url).unwrap()));
        let node_b = PostgresTokenStore::new(Arc::new(PostgresStore::open(&url).unwrap()));
        let new = NewToken {
            name: "town admins".into(),
            role: Role::Admin,
            communities: vec!["town".into()],
        };
        let (info, secret) = create(&node_a, &new, 42).unwrap();
        assert_eq!(authenticate(&node_b, secret.expose()).unwrap(), Some(info.clone()));
        assert_eq!(node_b.list().unwrap(), std::slice::from_ref(&info));
        let revoked = node_b.revoke(info.id, 50).unwrap();
        assert_eq!(revoked.revoked_ms, Some(50));
        assert_eq!(authenticate(&node_a, secret.expose()).unwrap(), None);
        assert_eq!(node_a.revoke(99, 60), Err(TokenError::NotFound(99)));
    }
}
