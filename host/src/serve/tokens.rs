//! API tokens: what they look like, how they are made and checked, and where they are kept.
//!
//! A token is `plaz_` followed by 64 hex digits (32 random bytes from the OS). It is shown once,
//! when it is created; the store keeps only its SHA-256. To check a presented token, its hash
//! is computed, candidates are looked up by the hash's first 8 bytes (an index, not a secret),
//! and the full hashes are compared in constant time, so response times say nothing about how
//! close a guess came. [`Secret`] and [`TokenHash`] print as `<redacted>` in `Debug`, so
//! neither can reach a log line by accident.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::storage::admin::AdminStore;

/// Every token starts with this, so a leaked one is recognisable (and secret scanners can
/// match it).
pub const TOKEN_PREFIX: &str = "plaz_";

/// Random bytes per token.
const TOKEN_BYTES: usize = 32;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Everything: ingest, tokens, every community.
    Operator,
    /// Only the communities listed on the token.
    Admin,
}

impl Role {
    /// Its name in JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = TokenError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(TokenError::Invalid(format!(
                "role {other:?} is unknown: use `operator` or `admin`"
            ))),
        }
    }
}

/// A token as stored and listed: never the token itself or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Its id (what `plaza token revoke` takes).
    pub id: u64,
    /// Who or what it is for.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// For admins: the communities it administers.
    pub communities: Vec<String>,
    /// When it was created, ms since the Unix epoch.
    pub created_ms: u64,
    /// Whether it was revoked.
    pub revoked: bool,
    /// When it was revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_ms: Option<u64>,
}

impl TokenInfo {
    /// Whether this token may administer `community`.
    pub fn may_administer(&self, community: &str) -> bool {
        self.role == Role::Operator || self.communities.iter().any(|c| c == community)
    }
}

/// What an operator asks for when creating a token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// Who or what it is for (1 to 128 printable characters).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// For admins: the communities it administers (at least one). Operators take none.
    #[serde(default)]
    pub communities: Vec<String>,
}

impl NewToken {
    /// Checks the name and that the communities fit the role.
    pub fn validate(&self) -> Result<(), TokenError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
            return Err(TokenError::Invalid(format!(
                "token name {:?} must be 1 to 128 printable characters",
                self.name
            )));
        }
        match self.role {
            Role::Operator if !self.communities.is_empty() => Err(TokenError::Invalid(
                "an operator token covers every community; list communities only for an admin token".into(),
            )),
            Role::Admin if self.communities.is_empty() => Err(TokenError::Invalid(
                "an admin token needs at least one community it administers".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// A token in clear text, held only long enough to show it once.
pub struct Secret(String);

impl Secret {
    /// The token text (`plaz_...`): print it for the operator, never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The SHA-256 of a token: what the store keeps.
#[derive(Clone, Copy)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// Hashes a well-formed token; `None` for text that is not one (so nothing else is ever
    /// looked up).
    pub fn of(presented: &str) -> Option<TokenHash> {
        let hex_part = presented.strip_prefix(TOKEN_PREFIX)?;
        if hex_part.len() != TOKEN_BYTES * 2 || !hex_part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(TokenHash(Sha256::digest(presented.as_bytes()).into()))
    }

    /// The index key candidates are looked up by: the hash's first 8 bytes.
    pub fn lookup_key(&self) -> i64 {
        i64::from_be_bytes(self.0[..8].try_into().expect("8 bytes"))
    }

    /// Compares in constant time: every byte is looked at whatever the first difference.
    pub fn matches(&self, other: &TokenHash) -> bool {
        let mut difference = 0u8;
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            difference |= a ^ b;
        }
        std::hint::black_box(difference) == 0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}

/// Why a token operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The request is invalid (name, role, communities).
    #[error("{0}")]
    Invalid(String),
    /// No token has this id.
    #[error("there is no token {0}")]
    NotFound(u64),
    /// An admin token names a community that does not exist.
    #[error("community `{0}` does not exist; create it before making a token for it")]
    NoSuchCommunity(String),
    /// The token store failed.
    #[error("token store: {0}")]
    Store(String),
}

impl From<TokenError> for super::errors::ApiError {
    fn from(e: TokenError) -> Self {
        use super::errors::ApiError;
        match e {
            TokenError::Invalid(_) => ApiError::bad_request(e.to_string()),
            TokenError::NotFound(_) | TokenError::NoSuchCommunity(_) => ApiError::not_found(e.to_string()),
            TokenError::Store(_) => ApiError::internal(e.to_string()),
        }
    }
}

/// Where tokens are kept. Implementations store hashes only.
pub trait TokenStore: Send + Sync {
    /// Stores a new token's record and hash; answers the record with its id.
    fn insert(&self, token: &NewToken, hash: &TokenHash, now_ms: u64) -> Result<TokenInfo, TokenError>;
    /// Tokens whose hash has this [lookup key](TokenHash::lookup_key), revoked ones included,
    /// each with its hash.
    fn candidates(&self, lookup_key: i64) -> Result<Vec<(TokenInfo, TokenHash)>, TokenError>;
    /// Every token, by id.
    fn list(&self) -> Result<Vec<TokenInfo>, TokenError>;
    /// Revokes a token (again is fine); answers its record.
    fn revoke(&self, id: u64, now_ms: u64) -> Result<TokenInfo, TokenError>;
}

/// Checks that every community of an admin token exists: a misspelt one would make a token
/// that silently administers nothing.
pub fn check_communities(store: &dyn AdminStore, token: &NewToken) -> Result<(), TokenError> {
    for c in &token.communities {
        if !store
            .community_exists(c)
            .map_err(|e| TokenError::Store(e.to_string()))?
        {
            return Err(TokenError::NoSuchCommunity(c.clone()));
        }
    }
    Ok(())
}

/// Makes a token: stores its hash and answers the record and the token, to be shown once.
pub fn create(store: &dyn TokenStore, token: &NewToken, now_ms: u64) -> Result<(TokenInfo, Secret), TokenError> {
    token.validate()?;
    let mut bytes = crate::dispatch::pseudonym::Pseudonyms::random_secret()
        .map_err(|e| TokenError::Store(format!("reading random bytes: {e}")))?;
    let secret = Secret(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)));
    bytes.fill(0);
    let hash = TokenHash::of(secret.expose()).expect("a generated token is well formed");
    let info = store.insert(token, &hash, now_ms)?;
    Ok((info, secret))
}

/// The live (not revoked) token `presented` is, if any.
pub fn authenticate(store: &dyn TokenStore, presented: &str) -> Result<Option<TokenInfo>, TokenError> {
    let Some(hash) = TokenHash::of(presented) else {
        return Ok(None);
    };
    let mut found = None;
    // Look at every candidate, not just up to the first match.
    for (info, stored) in store.candidates(hash.lookup_key())? {
        if stored.matches(&hash) && !info.revoked {
            found = Some(info);
        }
    }
    Ok(found)
}

/// A token's columns as the database stores keep them (`id, name, role, communities,
/// created_ms, revoked_ms, hash`), back as its record and hash.
pub(crate) struct TokenColumns {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub communities: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
    pub hash: Vec<u8>,
}

impl TokenColumns {
    /// The record and hash; the error says which column was bad.
    pub(crate) fn decode(self) -> Result<(TokenInfo, TokenHash), String> {
        let role: Role = self.role.parse().map_err(|e: TokenError| e.to_string())?;
        let communities: Vec<String> =
            serde_json::from_str(&self.communities).map_err(|e| format!("token communities: {e}"))?;
        let hash: [u8; 32] = self
            .hash
            .try_into()
            .map_err(|_| "a token hash is not 32 bytes".to_string())?;
        Ok((
            TokenInfo {
                id: self.id as u64,
                name: self.name,
                role,
                communities,
                created_ms: self.created_ms as u64,
                revoked: self.revoked_ms.is_some(),
                revoked_ms: self.revoked_ms.map(|t| t as u64),
            },
            TokenHash(hash),
        ))
    }
}

/// Tokens in memory, for tests and embedding.
#[derive(Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<BTreeMap<u64, (TokenInfo, TokenHash)>>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryTokenStore::default()
    }
}

impl TokenStore for MemoryTokenStore {
    fn insert(&self, token: &NewToken, hash: &TokenHash, now_ms: u64) -> Result<TokenInfo, TokenError> {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let id = tokens.keys().next_back().map_or(1, |last| last + 1);
        let info = TokenInfo {
            id,
            name: token.name.trim().to_string(),
            role: token.role,
            communities: token.communities.clone(),
            created_ms: now_ms,
            revoked: false,
            revoked_ms: None,
        };
        tokens.insert(id, (info.clone(), *hash));
        Ok(info)
    }

    fn candidates(&self, lookup_key: i64) -> Result<Vec<(TokenInfo, TokenHash)>, TokenError> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        Ok(tokens
            .values()
            .filter(|(_, hash)| hash.lookup_key() == lookup_key)
            .cloned()
            .collect())
    }

    fn list(&self) -> Result<Vec<TokenInfo>, TokenError> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        Ok(tokens.values().map(|(info, _)| info.clone()).collect())
    }

    fn revoke(&self, id: u64, now_ms: u64) -> Result<TokenInfo, TokenError> {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let (info, _) = tokens.get_mut(&id).ok_or(TokenError::NotFound(id))?;
        if !info.revoked {
            info.revoked = true;
            info.revoked_ms = Some(now_ms);
        }
        Ok(info.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin_of(communities: &[&str]) -> NewToken {
        NewToken {
            name: "town admins".into(),
            role: Role::Admin,
            communities: communities.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn a_token_is_the_prefix_and_64_hex_digits_and_only_its_hash_is_kept() {
        let store = MemoryTokenStore::new();
        let (info, secret) = create(&store, &admin_of(&["town"]), 5).unwrap();
        let text = secret.expose();
        assert!(text.starts_with("plaz_") && text.len() == 5 + 64, "{text}");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        let kept = store.tokens.lock().unwrap();
        let (_, hash) = &kept[&info.id];
        assert_eq!(hex::encode(hash.0), hex::encode(Sha256::digest(text.as_bytes())));
        assert_eq!(format!("{hash:?}"), "TokenHash(<redacted>)");
    }

    #[test]
    fn authenticate_finds_live_tokens_only() {
        let store = MemoryTokenStore::new();
        let (info, secret) = create(&store, &admin_of(&["town"]), 5).unwrap();
        assert_eq!(authenticate(&store, secret.expose()).unwrap(), Some(info.clone()));
        let (_, other) = create(&store, &admin_of(&["town"]), 6).unwrap();
        assert_ne!(secret.expose(), other.expose());
        let mut wrong = secret.expose().to_string();
        let last = if wrong.ends_with('0') { "1" } else { "0" };
        wrong.replace_range(wrong.len() - 1.., last);
        assert_eq!(authenticate(&store, &wrong).unwrap(), None);
        assert_eq!(authenticate(&store, "plaz_short").unwrap(), None);
        assert_eq!(authenticate(&store, &secret.expose()[5..]).unwrap(), None);
        store.revoke(info.id, 7).unwrap();
        assert_eq!(authenticate(&store, secret.expose()).unwrap(), None);
    }

    #[test]
    fn roles_and_communities_must_fit() {
        assert!(admin_of(&[]).validate().is_err());
        let operator = NewToken {
            name: "ops".into(),
            role: Role::Operator,
            communities: vec!["town".into()],
        };
        assert!(operator.validate().is_err());
        assert!(NewToken {
            name: " ".into(),
            ..admin_of(&["town"])
        }
        .validate()
        .is_err());
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn hashes_compare_in_full() {
        let a = TokenHash([7; 32]);
        let mut b = TokenHash([7; 32]);
        assert!(a.matches(&b));
        b.0[31] = 8;
        assert!(!a.matches(&b));
    }
}
