-- keyrotor SQLite schema, version 3: which store generation last changed each key, so a
-- process that sees the generation move re-reads only the keys that changed instead of all
-- of them (a 100,000-key store takes ~0.4 s to read in full).
--
-- Triggers stamp the key on every change to its row or its versions with the generation the
-- writing transaction commits (the current one plus one: `commit` bumps it once per write).
-- Writes that do not bump the generation (usage counts, IV blocks) stamp it too; a reader then
-- picks the key up with the next change it is told about, which is harmless.

ALTER TABLE keys ADD COLUMN changed_gen INTEGER NOT NULL DEFAULT 0 CHECK (changed_gen >= 0);

CREATE INDEX keys_changed ON keys (token_id, changed_gen);

CREATE TRIGGER keys_stamp_insert AFTER INSERT ON keys
BEGIN
    UPDATE keys SET changed_gen = COALESCE(
        (SELECT generation FROM store_generation WHERE token_id = NEW.token_id), 0) + 1
    WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER keys_stamp_update
AFTER UPDATE OF name, ck_id, public, policy, active_version, next_rotation_at, updated_at ON keys
BEGIN
    UPDATE keys SET changed_gen = COALESCE(
        (SELECT generation FROM store_generation WHERE token_id = NEW.token_id), 0) + 1
    WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER key_versions_stamp_insert AFTER INSERT ON key_versions
BEGIN
    UPDATE keys SET changed_gen = COALESCE(
        (SELECT generation FROM store_generation WHERE token_id = NEW.token_id), 0) + 1
    WHERE token_id = NEW.token_id AND key_uid = NEW.key_uid;
END;

CREATE TRIGGER key_versions_stamp_update AFTER UPDATE ON key_versions
BEGIN
    UPDATE keys SET changed_gen = COALESCE(
        (SELECT generation FROM store_generation WHERE token_id = NEW.token_id), 0) + 1
    WHERE token_id = NEW.token_id AND key_uid = NEW.key_uid;
END;

CREATE TRIGGER key_versions_stamp_delete AFTER DELETE ON key_versions
BEGIN
    UPDATE keys SET changed_gen = COALESCE(
        (SELECT generation FROM store_generation WHERE token_id = OLD.token_id), 0) + 1
    WHERE token_id = OLD.token_id AND key_uid = OLD.key_uid;
END;
