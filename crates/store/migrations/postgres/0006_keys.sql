-- Signing-key rotation: the pre-published next key, when a key was current, when it was revoked.
ALTER TABLE signing_keys ADD COLUMN is_next BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE signing_keys ADD COLUMN current_since TEXT;
ALTER TABLE signing_keys ADD COLUMN current_until TEXT;
ALTER TABLE signing_keys ADD COLUMN revoked_at TEXT;
UPDATE signing_keys SET current_since = created_at WHERE current;

-- A counter bumped by every change of a tenant's signing keys: instances compare it to reload
-- their key ring.
CREATE TABLE key_generations (
    tenant_id  TEXT PRIMARY KEY,
    generation BIGINT NOT NULL
);

-- The encryption-key hierarchy (root keys, tenant master keys) as the API shows it. Key material
-- is never stored: only a customer key's pending public wrapping key (private half, PKCS#8 DER
-- base64) until its import.
CREATE TABLE encryption_keys (
    tenant_id    TEXT NOT NULL,
    kid          TEXT NOT NULL,
    type         TEXT NOT NULL,
    state        TEXT NOT NULL,
    parent_kid   TEXT,
    public_key   TEXT,
    wrapping_der TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kid)
);
CREATE INDEX encryption_keys_seq ON encryption_keys (tenant_id, seq);
