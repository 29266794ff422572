//! The PostgreSQL schema, versioned in `plaza_schema`, created and migrated on open.
//!
//! It mirrors the SQLite schema at its version 5 (see `storage/sqlite/schema.rs` for what each
//! table is for), with these differences:
//! - Text keys compare and sort bytewise (`COLLATE "C"`), as SQLite's do, whatever the
//!   database's locale: ids are listed and paged in the same order by both stores.
//! - Audit `seq` numbers come from a counter row (`audit_head`) updated in the appending
//!   transaction, not from a sequence: PostgreSQL sequences are handed out before commit, so a
//!   reader paging with `after_seq` could skip an entry committed later with a smaller number.
//! - Texts that come from members or plugins unchecked (message texts, timer names and
//!   payloads) are BYTEA holding their UTF-8: PostgreSQL's TEXT refuses the NUL character,
//!   which SQLite and Rust strings keep.
//! - `host_keys` keeps the pseudonym key every node must share; `api_tokens` the tokens of
//!   `plaza serve`.
//!
//! Two nodes may open a fresh database at once: the migration runs in one transaction holding
//! a transaction-scoped advisory lock, so the second waits and then finds the schema current.

use super::pool::Connection;
use super::sql_text;
use crate::storage::admin::StoreError;

/// The advisory lock key of migrations ("PLZA" as a number).
const MIGRATION_LOCK: i64 = 0x504c_5a41;

/// The migrations, oldest first.
const MIGRATIONS: &[&str] = &[V1];

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

const V1: &str = r#"
CREATE TABLE communities (
    id                  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    created_ms          BIGINT NOT NULL,
    review_fail_policy  TEXT NOT NULL DEFAULT 'fail-open'
        CHECK (review_fail_policy IN ('fail-open', 'fail-closed')),
    signing_policy      TEXT
        CHECK (signing_policy IN ('unsigned-allowed', 'developer-signed', 'platform-reviewed'))
);

CREATE TABLE packages (
    digest         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    plugin_id      TEXT NOT NULL,
    version        TEXT NOT NULL,
    manifest_toml  TEXT NOT NULL,
    component      BYTEA NOT NULL
);

-- `position` is the install order: upserts keep it, a new install gets a larger one.
CREATE TABLE installs (
    position      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community     TEXT COLLATE "C" NOT NULL REFERENCES communities (id),
    plugin_id     TEXT COLLATE "C" NOT NULL,
    digest        TEXT COLLATE "C" NOT NULL REFERENCES packages (digest),
    version       TEXT NOT NULL,
    enabled       BOOLEAN NOT NULL,
    config        TEXT NOT NULL,
    installed_ms  BIGINT NOT NULL,
    limits        TEXT NOT NULL DEFAULT '{}',
    UNIQUE (community, plugin_id)
);

CREATE TABLE grants (
    community   TEXT COLLATE "C" NOT NULL,
    plugin_id   TEXT COLLATE "C" NOT NULL,
    capability  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (community, plugin_id, capability),
    FOREIGN KEY (community, plugin_id) REFERENCES installs (community, plugin_id) ON DELETE CASCADE
);

CREATE TABLE pending_upgrades (
    community     TEXT COLLATE "C" NOT NULL,
    plugin_id     TEXT COLLATE "C" NOT NULL,
    digest        TEXT COLLATE "C" NOT NULL REFERENCES packages (digest),
    version       TEXT NOT NULL,
    requested_ms  BIGINT NOT NULL,
    PRIMARY KEY (community, plugin_id),
    FOREIGN KEY (community, plugin_id) REFERENCES installs (community, plugin_id) ON DELETE CASCADE
);

CREATE TABLE pending_capabilities (
    community   TEXT COLLATE "C" NOT NULL,
    plugin_id   TEXT COLLATE "C" NOT NULL,
    ordinal     BIGINT NOT NULL,
    capability  TEXT NOT NULL,
    PRIMARY KEY (community, plugin_id, ordinal),
    FOREIGN KEY (community, plugin_id) REFERENCES pending_upgrades (community, plugin_id) ON DELETE CASCADE
);

CREATE TABLE audit (
    seq         BIGINT PRIMARY KEY,
    time_ms     BIGINT NOT NULL,
    community   TEXT COLLATE "C" NOT NULL,
    plugin      TEXT COLLATE "C" NOT NULL,
    version     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    capability  TEXT,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX audit_by_community ON audit (community, seq);
CREATE INDEX audit_by_plugin ON audit (plugin, seq);

CREATE TABLE audit_head (
    id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL
);
INSERT INTO audit_head (id, seq) VALUES (1, 0);

CREATE TABLE members (
    community     TEXT COLLATE "C" NOT NULL,
    id            TEXT COLLATE "C" NOT NULL,
    display_name  TEXT NOT NULL,
    roles         TEXT NOT NULL,
    is_bot        BOOLEAN NOT NULL,
    PRIMARY KEY (community, id)
);

CREATE TABLE standing (
    community       TEXT COLLATE "C" NOT NULL,
    member          TEXT COLLATE "C" NOT NULL,
    muted_until_ms  BIGINT,
    banned          BOOLEAN NOT NULL,
    PRIMARY KEY (community, member)
);

CREATE TABLE messages (
    seq               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community         TEXT COLLATE "C" NOT NULL,
    message_id        TEXT COLLATE "C" NOT NULL,
    channel           TEXT NOT NULL,
    author            TEXT NOT NULL,
    text              BYTEA NOT NULL, -- UTF-8; may hold NUL, which TEXT refuses
    reply_to          TEXT,
    posted_by_plugin  TEXT,
    deleted           BOOLEAN NOT NULL,
    UNIQUE (community, message_id)
);
CREATE INDEX messages_in_order ON messages (community, seq);

CREATE TABLE kv (
    community  TEXT COLLATE "C" NOT NULL,
    plugin     TEXT COLLATE "C" NOT NULL,
    key        BYTEA NOT NULL,
    value      BYTEA NOT NULL,
    PRIMARY KEY (community, plugin, key)
);

CREATE TABLE timers (
    timer_id   TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    community  TEXT COLLATE "C" NOT NULL,
    plugin     TEXT COLLATE "C" NOT NULL,
    name       BYTEA NOT NULL, -- UTF-8 from the plugin; may hold NUL
    payload    BYTEA NOT NULL,
    due_ms     BIGINT NOT NULL,
    every_ms   BIGINT
);
CREATE INDEX timers_by_due ON timers (due_ms, timer_id);
CREATE INDEX timers_by_plugin ON timers (community, plugin);

CREATE TABLE pseudonyms (
    community  TEXT COLLATE "C" NOT NULL,
    plugin     TEXT COLLATE "C" NOT NULL,
    pseudonym  TEXT COLLATE "C" NOT NULL,
    member     TEXT NOT NULL,
    PRIMARY KEY (community, plugin, pseudonym)
);

CREATE TABLE breakers (
    community        TEXT COLLATE "C" NOT NULL,
    plugin_id        TEXT COLLATE "C" NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('closed', 'open', 'half-open')),
    recent_failures  TEXT NOT NULL,
    trips            BIGINT NOT NULL,
    retry_at_ms      BIGINT,
    PRIMARY KEY (community, plugin_id),
    FOREIGN KEY (community, plugin_id) REFERENCES installs (community, plugin_id) ON DELETE CASCADE
);

CREATE TABLE event_log (
    community    TEXT COLLATE "C" NOT NULL,
    sequence     BIGINT NOT NULL,
    dedupe_key   TEXT COLLATE "C" NOT NULL,
    target       TEXT,
    event        TEXT NOT NULL,
    accepted_ms  BIGINT NOT NULL,
    PRIMARY KEY (community, sequence),
    UNIQUE (community, dedupe_key)
);

CREATE TABLE log_heads (
    community  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    head       BIGINT NOT NULL
);

CREATE TABLE cursors (
    community        TEXT COLLATE "C" NOT NULL,
    plugin           TEXT COLLATE "C" NOT NULL,
    sequence         BIGINT NOT NULL,
    failures         TEXT NOT NULL,
    next_attempt_ms  BIGINT,
    PRIMARY KEY (community, plugin)
);

CREATE TABLE dead_letters (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    community  TEXT COLLATE "C" NOT NULL,
    plugin     TEXT COLLATE "C" NOT NULL,
    sequence   BIGINT NOT NULL,
    event      TEXT NOT NULL,
    failures   TEXT NOT NULL,
    dead_ms    BIGINT NOT NULL
);
CREATE INDEX dead_letters_by_install ON dead_letters (community, plugin, id);

CREATE TABLE outbox (
    position      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key           TEXT COLLATE "C" NOT NULL UNIQUE,
    community     TEXT COLLATE "C" NOT NULL,
    plugin        TEXT COLLATE "C" NOT NULL,
    action        TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    delivered_ms  BIGINT
);
CREATE INDEX outbox_undelivered ON outbox (position) WHERE delivered_ms IS NULL;
CREATE INDEX outbox_by_community ON outbox (community, position);

CREATE TABLE admin_generation (
    id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    generation  BIGINT NOT NULL
);
INSERT INTO admin_generation (id, generation) VALUES (1, 0);

CREATE TABLE api_tokens (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('operator', 'admin')),
    communities  TEXT NOT NULL,
    lookup       BIGINT NOT NULL,
    hash         BYTEA NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_ms   BIGINT NOT NULL,
    revoked_ms   BIGINT
);
CREATE INDEX api_tokens_by_lookup ON api_tokens (lookup);

CREATE TABLE install_secrets (
    community   TEXT COLLATE "C" NOT NULL,
    plugin      TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    nonce       BYTEA NOT NULL,
    ciphertext  BYTEA NOT NULL,
    hosts       TEXT NOT NULL,
    set_ms      BIGINT NOT NULL,
    PRIMARY KEY (community, plugin, name)
);

CREATE TABLE host_keys (
    name   TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    value  BYTEA NOT NULL
);
"#;

/// Brings the schema up to date in one transaction under the migration lock; refuses a
/// database written by a newer Plaza.
pub(super) fn migrate(conn: &mut Connection, location: &str) -> Result<(), StoreError> {
    let fail = |doing: &str, e: tokio_postgres::Error| StoreError::Open {
        path: location.to_string(),
        reason: format!("{doing}: {}", sql_text(&e)),
    };
    conn.batch("BEGIN").map_err(|e| fail("starting the migration", e))?;
    let result = (|| {
        conn.batch(&format!(
            "SELECT pg_advisory_xact_lock({MIGRATION_LOCK});
             CREATE TABLE IF NOT EXISTS plaza_schema (
                 id       INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
                 version  INTEGER NOT NULL
             );
             INSERT INTO plaza_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;"
        ))
        .map_err(|e| fail("locking the schema", e))?;
        let found: i32 = super::block_on(
            conn.client()
                .query_one("SELECT version FROM plaza_schema WHERE id = 1", &[]),
        )
        .map_err(|e| fail("reading the schema version", e))?
        .get(0);
        let applied = usize::try_from(found).unwrap_or(usize::MAX);
        if applied > MIGRATIONS.len() {
            return Err(StoreError::TooNew {
                path: location.to_string(),
                found: u32::try_from(found).unwrap_or(u32::MAX),
                supported: SCHEMA_VERSION,
            });
        }
        for (index, script) in MIGRATIONS.iter().enumerate().skip(applied) {
            conn.batch(script)
                .map_err(|e| fail(&format!("applying schema migration {}", index + 1), e))?;
        }
        conn.batch(&format!(
            "UPDATE plaza_schema SET version = {SCHEMA_VERSION} WHERE id = 1"
        ))
        .map_err(|e| fail("recording the schema version", e))?;
        conn.batch("COMMIT").map_err(|e| fail("committing the schema", e))?;
        if applied < MIGRATIONS.len() {
            tracing::info!(
                database = location,
                from = applied,
                to = SCHEMA_VERSION,
                "migrated the Plaza database schema"
            );
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = conn.batch("ROLLBACK");
    }
    result
}
