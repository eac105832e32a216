-- keyrotor SQLite schema, version 1.
--
-- One database file may serve several tokens (the PostgreSQL twin of this schema will), so every
-- row carries token_id. Integers are 64-bit INTEGER columns, never raw CK_ULONG bytes. Key material
-- only ever appears sealed (AES-256-GCM under the token's storage key, see src/store/crypt.rs).

-- The token itself: label, serial, the storage key wrapped under each PIN, and the PIN failure
-- counters that drive CKF_USER_PIN_COUNT_LOW / FINAL_TRY / LOCKED.
CREATE TABLE tokens (
    token_id        TEXT    NOT NULL PRIMARY KEY,
    label           TEXT    NOT NULL,
    serial          TEXT    NOT NULL,
    so_key          BLOB    NOT NULL,                 -- WrappedStorageKey under the SO PIN
    user_key        BLOB,                             -- under the user PIN; NULL until C_InitPIN
    so_failures     INTEGER NOT NULL DEFAULT 0 CHECK (so_failures BETWEEN 0 AND 4294967295),
    user_failures   INTEGER NOT NULL DEFAULT 0 CHECK (user_failures BETWEEN 0 AND 4294967295),
    initialized_at  INTEGER NOT NULL                  -- Unix seconds
) STRICT;

-- Token objects. `seq` gives the stable insertion order load_objects promises; AUTOINCREMENT
-- keeps it from ever being reused after a delete.
CREATE TABLE objects (
    seq       INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    token_id  TEXT    NOT NULL REFERENCES tokens (token_id),
    uid       TEXT    NOT NULL,
    public    BLOB    NOT NULL,                       -- public attributes, not secret
    secret    BLOB,                                   -- sealed secret attributes, or NULL
    UNIQUE (token_id, uid)
) STRICT;

-- Change counter per token, bumped in the same transaction as every write. It lives apart from
-- `tokens` so re-initialising a token never moves it backwards (other processes compare it).
CREATE TABLE store_generation (
    token_id    TEXT    NOT NULL PRIMARY KEY,
    generation  INTEGER NOT NULL CHECK (generation >= 0)
) STRICT;
