//! The database schema, as an ordered list of migrations.
//!
//! `MIGRATIONS[i]` takes a database from schema version `i` to `i + 1`; `PRAGMA user_version`
//! records how many have run. [`migrate`] applies the missing ones in one transaction when the
//! store opens. Never edit a migration once released: append a new one.
//!
//! Numbers that are `u64` in Rust (times, durations, sequence numbers) are stored bit-for-bit in
//! SQLite's signed 64-bit integers (see `to_db`/`from_db` in the parent module).

use rusqlite::{Connection, TransactionBehavior};

use super::classify;
use crate::storage::admin::StoreError;

/// `PRAGMA application_id` of a Plaza database ("PLZA").
pub(super) const APPLICATION_ID: i32 = 0x504c_5a41;

/// The migrations, oldest first.
pub(super) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5];

/// Version 1: the admin model and community state.
const V1: &str = r#"
PRAGMA application_id = 1347181121;

-- Admin model ------------------------------------------------------------------------------

CREATE TABLE communities (
    id          TEXT    NOT NULL PRIMARY KEY,
    created_ms  INTEGER NOT NULL
) WITHOUT ROWID;

-- One row per plugin version, stored once by the SHA-256 of its component.
CREATE TABLE packages (
    digest         TEXT NOT NULL PRIMARY KEY,
    plugin_id      TEXT NOT NULL,
    version        TEXT NOT NULL,
    manifest_toml  TEXT NOT NULL,
    component      BLOB NOT NULL
);
CREATE INDEX packages_by_plugin ON packages (plugin_id, version);

-- `position` (the rowid) is the install order: upserts keep it, a new install gets a larger one.
CREATE TABLE installs (
    position      INTEGER PRIMARY KEY,
    community     TEXT    NOT NULL REFERENCES communities (id),
    plugin_id     TEXT    NOT NULL,
    digest        TEXT    NOT NULL REFERENCES packages (digest),
    version       TEXT    NOT NULL,
    enabled       INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    config        TEXT    NOT NULL, -- JSON array of {"key", "value"}, in order
    installed_ms  INTEGER NOT NULL,
    UNIQUE (community, plugin_id)
);
CREATE INDEX installs_in_order ON installs (community, position);

-- One row per granted capability.
CREATE TABLE grants (
    community   TEXT NOT NULL,
    plugin_id   TEXT NOT NULL,
    capability  TEXT NOT NULL,
    PRIMARY KEY (community, plugin_id, capability),
    FOREIGN KEY (community, plugin_id) REFERENCES installs (community, plugin_id) ON DELETE CASCADE
) WITHOUT ROWID;

-- A newer version waiting for approval; at most one per install.
CREATE TABLE pending_upgrades (
    community     TEXT    NOT NULL,
    plugin_id     TEXT    NOT NULL,
    digest        TEXT    NOT NULL REFERENCES packages (digest),
    version       TEXT    NOT NULL,
    requested_ms  INTEGER NOT NULL,
    PRIMARY KEY (community, plugin_id),
    FOREIGN KEY (community, plugin_id) REFERENCES installs (community, plugin_id) ON DELETE CASCADE
) WITHOUT ROWID;

-- The capabilities a pending upgrade adds, in the order given.
CREATE TABLE pending_capabilities (
    community   TEXT    NOT NULL,
    plugin_id   TEXT    NOT NULL,
    ordinal     INTEGER NOT NULL,
    capability  TEXT    NOT NULL,
    PRIMARY KEY (community, plugin_id, ordinal),
    FOREIGN KEY (community, plugin_id) REFERENCES pending_upgrades (community, plugin_id) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE audit (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ms     INTEGER NOT NULL,
    community   TEXT    NOT NULL,
    plugin      TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    capability  TEXT,
    outcome     TEXT    NOT NULL,
    detail      TEXT    NOT NULL
);
CREATE INDEX audit_by_community ON audit (community, seq);
CREATE INDEX audit_by_plugin ON audit (plugin, seq);

-- Community state ---------------------------------------------------------------------------
-- Keyed by community id without a foreign key to `communities`: like the in-memory store,
-- the host records what events say about any community.

CREATE TABLE members (
    community     TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    display_name  TEXT    NOT NULL,
    roles         TEXT    NOT NULL, -- JSON array of role names
    is_bot        INTEGER NOT NULL CHECK (is_bot IN (0, 1)),
    PRIMARY KEY (community, id)
) WITHOUT ROWID;

-- Moderation state; kept when a member leaves.
CREATE TABLE standing (
    community       TEXT    NOT NULL,
    member          TEXT    NOT NULL,
    muted_until_ms  INTEGER,
    banned          INTEGER NOT NULL CHECK (banned IN (0, 1)),
    PRIMARY KEY (community, member)
) WITHOUT ROWID;

-- `seq` (the rowid) is the posting order; re-posting an id updates the row in place.
CREATE TABLE messages (
    seq               INTEGER PRIMARY KEY,
    community         TEXT    NOT NULL,
    message_id        TEXT    NOT NULL,
    channel           TEXT    NOT NULL,
    author            TEXT    NOT NULL,
    text              TEXT    NOT NULL,
    reply_to          TEXT,
    posted_by_plugin  TEXT,
    deleted           INTEGER NOT NULL CHECK (deleted IN (0, 1)),
    UNIQUE (community, message_id)
);
CREATE INDEX messages_in_order ON messages (community, seq);

-- Keys are BLOBs (UTF-8 bytes) so ranges, order and sizes are by bytes.
CREATE TABLE kv (
    community  TEXT NOT NULL,
    plugin     TEXT NOT NULL,
    key        BLOB NOT NULL,
    value      BLOB NOT NULL,
    PRIMARY KEY (community, plugin, key)
) WITHOUT ROWID;

CREATE TABLE timers (
    timer_id   TEXT    NOT NULL PRIMARY KEY,
    community  TEXT    NOT NULL,
    plugin     TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    due_ms     INTEGER NOT NULL,
    every_ms   INTEGER
);
CREATE INDEX timers_by_due ON timers (due_ms, timer_id);
CREATE INDEX timers_by_plugin ON timers (community, plugin);

CREATE TABLE pseudonyms (
    community  TEXT NOT NULL,
    plugin     TEXT NOT NULL,
    pseudonym  TEXT NOT NULL,
    member     TEXT NOT NULL,
    PRIMARY KEY (community, plugin, pseudonym)
) WITHOUT ROWID;
"#;

/// Version 2: review fail policies, per-install limits, circuit breakers and held events.
const V2: &str = r#"
ALTER TABLE communities ADD COLUMN review_fail_policy TEXT NOT NULL DEFAULT 'fail-open'
    CHECK (review_fail_policy IN ('fail-open', 'fail-closed'));

-- JSON object of the limits the admin set ({"memory_mb", "cpu_ms", "wall_clock_ms", "fuel"},
-- each present only when set).
ALTER TABLE installs ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';

-- An install's circuit breaker; no row: never tripped (closed).
CREATE TABLE breakers (
    community        TEXT    NOT NULL,
    plugin_id        TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('closed', 'open', 'half-open')),
    recent_failures  TEXT    NOT NULL, -- JSON array of failure times (ms), oldest first
    trips            INTEGER NOT NULL,
    retry_at_ms      INTEGER,
    PRIMARY KEY (community, plugin_id),
    FOREIGN KEY (community, plugin_id) REFERENCES installs (community, plugin_id) ON DELETE CASCADE
) WITHOUT ROWID;

-- Events kept for a quarantined install until it can take them. AUTOINCREMENT: hold ids only
-- increase and are never reused, even after the newest is released.
CREATE TABLE held_events (
    hold_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    community  TEXT    NOT NULL,
    plugin_id  TEXT    NOT NULL,
    event      TEXT    NOT NULL, -- the event as JSON, delivery facts included
    FOREIGN KEY (community, plugin_id) REFERENCES installs (community, plugin_id) ON DELETE CASCADE
);
CREATE INDEX held_events_by_install ON held_events (community, plugin_id, hold_id);
"#;

/// Version 3: durable delivery. Per-community event logs and per-install cursors replace the
/// held events of version 2 (an install's held events are the log entries after its cursor).
const V3: &str = r#"

-- Each community's events in sequence order (from 1, no gaps; pruning removes a prefix).
CREATE TABLE event_log (
    community    TEXT    NOT NULL,
    sequence     INTEGER NOT NULL,
    dedupe_key   TEXT    NOT NULL, -- the event id, or `replay:{id}` for a replayed dead letter
    target       TEXT,             -- the only plugin that receives it (timers, replays)
    event        TEXT    NOT NULL, -- the event as JSON, sequence included
    accepted_ms  INTEGER NOT NULL,
    PRIMARY KEY (community, sequence),
    UNIQUE (community, dedupe_key)
) WITHOUT ROWID;

-- The last sequence of each community's log; survives pruning, so sequences never repeat.
CREATE TABLE log_heads (
    community  TEXT    NOT NULL PRIMARY KEY,
    head       INTEGER NOT NULL
) WITHOUT ROWID;

-- Where each install is in its community's log, and the failures of the entry after it.
CREATE TABLE cursors (
    community        TEXT    NOT NULL,
    plugin           TEXT    NOT NULL,
    sequence         INTEGER NOT NULL,
    failures         TEXT    NOT NULL, -- JSON array of attempt failures, oldest first
    next_attempt_ms  INTEGER,
    PRIMARY KEY (community, plugin)
) WITHOUT ROWID;

CREATE TABLE dead_letters (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    community  TEXT    NOT NULL,
    plugin     TEXT    NOT NULL,
    sequence   INTEGER NOT NULL,
    event      TEXT    NOT NULL,
    failures   TEXT    NOT NULL,
    dead_ms    INTEGER NOT NULL
);
CREATE INDEX dead_letters_by_install ON dead_letters (community, plugin, id);

-- What the platform must be told, in commit order; `key` is the idempotency key.
CREATE TABLE outbox (
    position      INTEGER PRIMARY KEY AUTOINCREMENT,
    key           TEXT    NOT NULL UNIQUE,
    community     TEXT    NOT NULL,
    plugin        TEXT    NOT NULL,
    action        TEXT    NOT NULL, -- JSON
    created_ms    INTEGER NOT NULL,
    delivered_ms  INTEGER
);
CREATE INDEX outbox_undelivered ON outbox (position) WHERE delivered_ms IS NULL;
CREATE INDEX outbox_by_community ON outbox (community, position);

-- Counts changes to communities and installs, so a host notices another process's admin
-- changes (a revoke from the CLI while `plaza deliver` runs) and reloads.
CREATE TABLE admin_generation (
    id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    generation  INTEGER NOT NULL
);
INSERT INTO admin_generation (id, generation) VALUES (1, 0);

-- Events version 2 held for quarantined installs move into the log, for those installs only,
-- with cursors before them: nothing held is lost.
INSERT INTO event_log (community, sequence, dedupe_key, target, event, accepted_ms)
    SELECT community, ROW_NUMBER() OVER (PARTITION BY community ORDER BY hold_id), 'held:' || hold_id,
           plugin_id, event, 0
    FROM held_events;
INSERT INTO log_heads (community, head) SELECT community, count(*) FROM held_events GROUP BY community;
INSERT INTO cursors (community, plugin, sequence, failures)
    SELECT DISTINCT community, plugin_id, 0, '[]' FROM held_events;
DROP TABLE held_events;

-- API tokens of `plaza serve`: only each token's SHA-256 is kept (the token is shown once).
-- `lookup` (the hash's first 8 bytes) finds candidates; the full hash is compared in constant time.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,
    role         TEXT    NOT NULL CHECK (role IN ('operator', 'admin')),
    communities  TEXT    NOT NULL, -- JSON array of the communities an admin token administers
    lookup       INTEGER NOT NULL,
    hash         BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_ms   INTEGER NOT NULL,
    revoked_ms   INTEGER
);
CREATE INDEX api_tokens_by_lookup ON api_tokens (lookup);
"#;

/// Version 4: a community's own signing policy (NULL: the operator's; it may only be stricter,
/// which the host checks when it is set).
const V4: &str = r#"
ALTER TABLE communities ADD COLUMN signing_policy TEXT
    CHECK (signing_policy IN ('unsigned-allowed', 'developer-signed', 'platform-reviewed'));
"#;

/// Version 5: install secrets for outbound HTTP, sealed by the admin layer (XChaCha20-Poly1305
/// under the operator's key, bound to community, plugin and name); never stored in the clear.
const V5: &str = r#"
CREATE TABLE install_secrets (
    community   TEXT    NOT NULL,
    plugin      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    nonce       BLOB    NOT NULL,
    ciphertext  BLOB    NOT NULL,
    hosts       TEXT    NOT NULL, -- JSON array; empty: any host on the install's allowlist
    set_ms      INTEGER NOT NULL,
    PRIMARY KEY (community, plugin, name)
) WITHOUT ROWID;
"#;

/// Brings the schema up to date in one transaction: checks it is a Plaza database no newer than
/// this build, then applies the missing migrations.
pub(super) fn migrate(conn: &mut Connection, location: &str) -> Result<(), StoreError> {
    let at = |doing: &'static str| move |e: rusqlite::Error| classify(location, doing, e, true);
    let not_plaza = |reason: String| StoreError::Open {
        path: location.to_string(),
        reason: format!("it is not a Plaza database ({reason})"),
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(at("locking the database to check its schema"))?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(at("reading the schema version"))?;
    let supported = MIGRATIONS.len();
    let Ok(applied) = usize::try_from(found) else {
        return Err(not_plaza(format!("schema version {found}")));
    };
    if applied > supported {
        return Err(StoreError::TooNew {
            path: location.to_string(),
            found: u32::try_from(found).unwrap_or(u32::MAX),
            supported: supported as u32,
        });
    }
    if applied == 0 {
        let objects: i64 = tx
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(at("reading the schema"))?;
        if objects > 0 {
            return Err(not_plaza(format!(
                "it has {objects} schema objects but no Plaza schema version"
            )));
        }
    } else {
        let id: i32 = tx
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(at("reading the application id"))?;
        if id != APPLICATION_ID {
            return Err(not_plaza(format!("application id {id:#x}")));
        }
    }
    for (index, script) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.execute_batch(script).map_err(|e| {
            let doing = format!("applying schema migration {}", index + 1);
            classify(location, &doing, e, true)
        })?;
    }
    if applied < supported {
        tx.pragma_update(None, "user_version", supported as i64)
            .map_err(at("recording the schema version"))?;
    }
    tx.commit().map_err(at("committing the schema migrations"))?;
    if applied < supported {
        tracing::info!(
            database = location,
            from = applied,
            to = supported,
            "migrated the Plaza database schema"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_id_in_the_script_matches_the_constant() {
        assert!(V1.contains(&format!("PRAGMA application_id = {APPLICATION_ID};")));
    }
}
