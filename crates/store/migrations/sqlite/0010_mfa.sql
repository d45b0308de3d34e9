-- Multi-factor authentication (issue 13). Secrets are never stored in the clear: TOTP seeds and
-- WebAuthn credentials are sealed (AES-256-GCM under the tenant's MFA data key, see
-- crates/api/src/mfa/keys.rs); recovery codes, OTP codes and mfa_tokens are kept only as their
-- SHA-256 (hex). Times that expire are unix seconds (BIGINT), times shown are RFC 3339.

-- A user's enrolled (or pending) authentication method / MFA enrollment.
CREATE TABLE authenticators (
    tenant_id    TEXT NOT NULL,
    -- Auth0's id, e.g. "totp|dev_XXXXXXXXXXXXXXXX", "email|dev_…", "recovery-code|dev_…",
    -- "webauthn-roaming|dev_…", "phone|dev_…"
    id           TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    -- totp | email | phone | recovery-code | webauthn-roaming | webauthn-platform |
    -- push-notification | passkey
    type         TEXT NOT NULL,
    -- false: enrollment started, not yet verified
    confirmed    INTEGER NOT NULL,
    name         TEXT,
    -- sealed TOTP seed / WebAuthn credential JSON; recovery-code: sha256_hex of the code.
    -- Never shown.
    secret       TEXT,
    -- public fields: email, phone_number, preferred_authentication_method, key_id, public_key,
    -- relying_party_identifier, link_id, ...
    data         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    enrolled_at  TEXT,
    last_auth_at TEXT,
    -- TOTP: the last accepted time step (a replay of it, or of an earlier one, is refused)
    last_step    BIGINT,
    -- consecutive wrong codes
    failures     BIGINT NOT NULL DEFAULT 0,
    -- unix seconds: codes refused until then
    locked_until BIGINT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX authenticators_user ON authenticators (tenant_id, user_id, created_at);

-- A pending MFA step: an mfa_token (kind 'mfa_token') or a challenge (kind 'oob' for e-mail/SMS
-- codes and push; body holds the code's hash, binding_method, authenticator_id, the mfa_token's
-- hash). Only the SHA-256 of the secret is stored.
CREATE TABLE mfa_challenges (
    tenant_id  TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    kind       TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    client_id  TEXT,
    body       TEXT NOT NULL,
    attempts   BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, token_hash)
);
CREATE INDEX mfa_challenges_user ON mfa_challenges (tenant_id, user_id);
CREATE INDEX mfa_challenges_expiry ON mfa_challenges (tenant_id, expires_at);
