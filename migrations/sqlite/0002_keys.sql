-- keyrotor SQLite schema, version 2: data keys, named rotating keys and their versions, the
-- manager lease, and the hash-chained audit log. Times are Unix milliseconds in INTEGER
-- columns; u32 values are checked into range, u64 counters into 0..=i64::MAX.

-- Data keys: 32 random bytes each, sealed under the token master key (the key the PINs
-- unlock). Stored fields are sealed under a data key and name its id, so the data key can be
-- rotated and the fields re-encrypted in batches without re-entering a PIN.
CREATE TABLE data_keys (
    token_id    TEXT    NOT NULL REFERENCES tokens (token_id),
    id          INTEGER NOT NULL CHECK (id BETWEEN 0 AND 4294967295),
    sealed      BLOB    NOT NULL,                   -- empty once retired (erased)
    state       INTEGER NOT NULL CHECK (state IN (1, 2, 3)),   -- 1 active, 2 retiring, 3 retired
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (token_id, id)
) STRICT;

-- At most one active data key per token.
CREATE UNIQUE INDEX data_keys_one_active ON data_keys (token_id) WHERE state = 1;

-- Named keys: the row behind each key's current object.
CREATE TABLE keys (
    token_id          TEXT    NOT NULL REFERENCES tokens (token_id),
    key_uid           TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    ck_id             BLOB    NOT NULL,
    public            BLOB    NOT NULL,             -- encoded attributes of the current object
    policy            TEXT    NOT NULL,             -- JSON
    active_version    INTEGER NOT NULL CHECK (active_version BETWEEN 0 AND 4294967295),
    next_rotation_at  INTEGER,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    PRIMARY KEY (token_id, key_uid),
    UNIQUE (token_id, name)
) STRICT;

-- Versions of named keys. `sealed` is the material sealed under a data key (or a backend's
-- wrapped key / handle); NULL once destroyed. The counters only ever grow.
CREATE TABLE key_versions (
    token_id        TEXT    NOT NULL,
    key_uid         TEXT    NOT NULL,
    version         INTEGER NOT NULL CHECK (version BETWEEN 0 AND 4294967295),
    version_uid     TEXT    NOT NULL,
    state           INTEGER NOT NULL CHECK (state BETWEEN 0 AND 255),
    held            INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1)),   -- admin disable
    created_at      INTEGER NOT NULL,
    activated_at    INTEGER,
    deactivated_at  INTEGER,
    grace_at        INTEGER,
    revoked_at      INTEGER,
    destroyed_at    INTEGER,
    compromised_at  INTEGER,
    sealed          BLOB,
    encrypt_count   INTEGER NOT NULL DEFAULT 0 CHECK (encrypt_count >= 0),
    decrypt_count   INTEGER NOT NULL DEFAULT 0 CHECK (decrypt_count >= 0),
    iv_reserved     INTEGER NOT NULL DEFAULT 0 CHECK (iv_reserved >= 0),
    PRIMARY KEY (token_id, key_uid, version),
    UNIQUE (token_id, version_uid),
    FOREIGN KEY (token_id, key_uid) REFERENCES keys (token_id, key_uid) ON DELETE CASCADE
) STRICT;

-- The manager lease: one leader per token across all processes sharing the file.
CREATE TABLE leases (
    token_id    TEXT    NOT NULL PRIMARY KEY,
    holder      TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;

-- The audit log, one hash chain per token (see src/audit/chain.rs for the hash).
CREATE TABLE audit_log (
    token_id   TEXT    NOT NULL REFERENCES tokens (token_id),
    seq        INTEGER NOT NULL CHECK (seq >= 1),
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    event      TEXT    NOT NULL,
    key_name   TEXT,
    version    INTEGER CHECK (version BETWEEN 0 AND 4294967295),
    detail     TEXT    NOT NULL,                    -- JSON
    prev_hash  BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash       BLOB    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (token_id, seq)
) STRICT;
