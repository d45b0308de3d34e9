//! Multi-factor authentication: a user's authenticators (`authenticators`) and the pending MFA
//! steps (`mfa_challenges`: mfa_tokens and out-of-band challenges, found by the SHA-256 of their
//! secret). Secrets arrive here sealed or hashed; the store never sees one in the clear.

use serde_json::Value;

use crate::{DbResult, Exec, Row, Tx, params};

/// One enrolled (or pending) authenticator of a user.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthenticatorRow {
    /// Auth0's id: `{type}|dev_{random}` (e.g. `totp|dev_…`).
    pub id: String,
    pub user_id: String,
    /// The column `type`: totp | email | phone | recovery-code | webauthn-roaming |
    /// webauthn-platform | push-notification | passkey.
    pub kind: String,
    /// False while the enrollment is not verified yet.
    pub confirmed: bool,
    pub name: Option<String>,
    /// Sealed TOTP seed / WebAuthn credential; for a recovery code, its SHA-256 (hex).
    pub secret: Option<String>,
    /// Public fields (email, phone_number, key_id, public_key, …).
    pub data: Value,
    pub created_at: String,
    pub enrolled_at: Option<String>,
    pub last_auth_at: Option<String>,
    /// TOTP: the last accepted time step.
    pub last_step: Option<i64>,
    /// Consecutive wrong codes.
    pub failures: i64,
    /// Unix seconds: codes are refused until then.
    pub locked_until: Option<i64>,
}

const COLUMNS: &str = "id, user_id, type, confirmed, name, secret, data, created_at, enrolled_at, \
     last_auth_at, last_step, failures, locked_until";

impl AuthenticatorRow {
    fn from_row(r: &Row) -> DbResult<Self> {
        Ok(Self {
            id: r.text("id")?,
            user_id: r.text("user_id")?,
            kind: r.text("type")?,
            confirmed: r.bool("confirmed")?,
            name: r.opt_text("name")?,
            secret: r.opt_text("secret")?,
            data: r.json("data")?,
            created_at: r.text("created_at")?,
            enrolled_at: r.opt_text("enrolled_at")?,
            last_auth_at: r.opt_text("last_auth_at")?,
            last_step: r.opt_i64("last_step")?,
            failures: r.i64("failures")?,
            locked_until: r.opt_i64("locked_until")?,
        })
    }
}

pub async fn insert(x: &impl Exec, tenant: &str, a: &AuthenticatorRow) -> DbResult<()> {
    x.execute(
        &format!(
            "INSERT INTO authenticators (tenant_id, {COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ),
        params![
            tenant,
            &a.id,
            &a.user_id,
            &a.kind,
            a.confirmed,
            a.name.clone(),
            a.secret.clone(),
            &a.data,
            &a.created_at,
            a.enrolled_at.clone(),
            a.last_auth_at.clone(),
            a.last_step,
            a.failures,
            a.locked_until
        ],
    )
    .await?;
    Ok(())
}

pub async fn find(x: &impl Exec, tenant: &str, id: &str) -> DbResult<Option<AuthenticatorRow>> {
    x.query_opt(
        &format!("SELECT {COLUMNS} FROM authenticators WHERE tenant_id = $1 AND id = $2"),
        params![tenant, id],
    )
    .await?
    .as_ref()
    .map(AuthenticatorRow::from_row)
    .transpose()
}

/// The authenticator, locked for the caller's transaction (`FOR UPDATE` on PostgreSQL).
pub async fn find_for_update(
    tx: &Tx,
    tenant: &str,
    id: &str,
) -> DbResult<Option<AuthenticatorRow>> {
    tx.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM authenticators WHERE tenant_id = $1 AND id = $2{}",
            tx.for_update()
        ),
        params![tenant, id],
    )
    .await?
    .as_ref()
    .map(AuthenticatorRow::from_row)
    .transpose()
}

/// A user's authenticators, oldest first.
pub async fn list_for_user(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
) -> DbResult<Vec<AuthenticatorRow>> {
    x.query(
        &format!(
            "SELECT {COLUMNS} FROM authenticators WHERE tenant_id = $1 AND user_id = $2 \
             ORDER BY created_at, id"
        ),
        params![tenant, user_id],
    )
    .await?
    .iter()
    .map(AuthenticatorRow::from_row)
    .collect()
}

/// A user's authenticators, locked for the caller's transaction, oldest first.
pub async fn list_for_user_for_update(
    tx: &Tx,
    tenant: &str,
    user_id: &str,
) -> DbResult<Vec<AuthenticatorRow>> {
    tx.query(
        &format!(
            "SELECT {COLUMNS} FROM authenticators WHERE tenant_id = $1 AND user_id = $2 \
             ORDER BY created_at, id{}",
            tx.for_update()
        ),
        params![tenant, user_id],
    )
    .await?
    .iter()
    .map(AuthenticatorRow::from_row)
    .collect()
}

/// Writes back every column but the id, the user and the creation time.
pub async fn update(x: &impl Exec, tenant: &str, a: &AuthenticatorRow) -> DbResult<()> {
    x.execute(
        "UPDATE authenticators SET type = $3, confirmed = $4, name = $5, secret = $6, data = $7, \
         enrolled_at = $8, last_auth_at = $9, last_step = $10, failures = $11, locked_until = $12 \
         WHERE tenant_id = $1 AND id = $2",
        params![
            tenant,
            &a.id,
            &a.kind,
            a.confirmed,
            a.name.clone(),
            a.secret.clone(),
            &a.data,
            a.enrolled_at.clone(),
            a.last_auth_at.clone(),
            a.last_step,
            a.failures,
            a.locked_until
        ],
    )
    .await?;
    Ok(())
}

/// Deletes one authenticator; true when it existed.
pub async fn delete(x: &impl Exec, tenant: &str, id: &str) -> DbResult<bool> {
    Ok(x.execute(
        "DELETE FROM authenticators WHERE tenant_id = $1 AND id = $2",
        params![tenant, id],
    )
    .await?
        == 1)
}

/// Deletes a user's authenticators (of one type when `kind` is given); how many there were.
pub async fn delete_for_user(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    kind: Option<&str>,
) -> DbResult<u64> {
    match kind {
        Some(k) => {
            x.execute(
                "DELETE FROM authenticators WHERE tenant_id = $1 AND user_id = $2 AND type = $3",
                params![tenant, user_id, k],
            )
            .await
        }
        None => {
            x.execute(
                "DELETE FROM authenticators WHERE tenant_id = $1 AND user_id = $2",
                params![tenant, user_id],
            )
            .await
        }
    }
}

// ---- pending MFA steps -------------------------------------------------------------------------

/// An mfa_token (kind `mfa_token`) or an out-of-band challenge (kind `oob`).
#[derive(Debug, Clone, PartialEq)]
pub struct ChallengeRow {
    /// SHA-256 (hex) of the token / oob_code.
    pub token_hash: String,
    pub kind: String,
    pub user_id: String,
    pub client_id: Option<String>,
    pub body: Value,
    /// Wrong answers so far.
    pub attempts: i64,
    /// Unix seconds.
    pub expires_at: i64,
    pub created_at: String,
}

const CHALLENGE_COLUMNS: &str =
    "token_hash, kind, user_id, client_id, body, attempts, expires_at, created_at";

impl ChallengeRow {
    fn from_row(r: &Row) -> DbResult<Self> {
        Ok(Self {
            token_hash: r.text("token_hash")?,
            kind: r.text("kind")?,
            user_id: r.text("user_id")?,
            client_id: r.opt_text("client_id")?,
            body: r.json("body")?,
            attempts: r.i64("attempts")?,
            expires_at: r.i64("expires_at")?,
            created_at: r.text("created_at")?,
        })
    }

    /// True while unexpired at `now` (unix seconds).
    pub fn is_live(&self, now: i64) -> bool {
        now < self.expires_at
    }
}

pub async fn insert_challenge(x: &impl Exec, tenant: &str, c: &ChallengeRow) -> DbResult<()> {
    x.execute(
        &format!(
            "INSERT INTO mfa_challenges (tenant_id, {CHALLENGE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ),
        params![
            tenant,
            &c.token_hash,
            &c.kind,
            &c.user_id,
            c.client_id.clone(),
            &c.body,
            c.attempts,
            c.expires_at,
            &c.created_at
        ],
    )
    .await?;
    Ok(())
}

/// The step a secret's hash names (live or not: the caller checks [`ChallengeRow::is_live`]).
pub async fn find_challenge(
    x: &impl Exec,
    tenant: &str,
    token_hash: &str,
) -> DbResult<Option<ChallengeRow>> {
    x.query_opt(
        &format!(
            "SELECT {CHALLENGE_COLUMNS} FROM mfa_challenges WHERE tenant_id = $1 AND token_hash = $2"
        ),
        params![tenant, token_hash],
    )
    .await?
    .as_ref()
    .map(ChallengeRow::from_row)
    .transpose()
}

/// The step, locked for the caller's transaction.
pub async fn find_challenge_for_update(
    tx: &Tx,
    tenant: &str,
    token_hash: &str,
) -> DbResult<Option<ChallengeRow>> {
    tx.query_opt(
        &format!(
            "SELECT {CHALLENGE_COLUMNS} FROM mfa_challenges WHERE tenant_id = $1 AND token_hash = $2{}",
            tx.for_update()
        ),
        params![tenant, token_hash],
    )
    .await?
    .as_ref()
    .map(ChallengeRow::from_row)
    .transpose()
}

/// Writes back a step's wrong answers and body.
pub async fn update_challenge(x: &impl Exec, tenant: &str, c: &ChallengeRow) -> DbResult<()> {
    x.execute(
        "UPDATE mfa_challenges SET attempts = $3, body = $4 WHERE tenant_id = $1 AND token_hash = $2",
        params![tenant, &c.token_hash, c.attempts, &c.body],
    )
    .await?;
    Ok(())
}

/// Deletes one step (used or withdrawn); true when it existed.
pub async fn delete_challenge(x: &impl Exec, tenant: &str, token_hash: &str) -> DbResult<bool> {
    Ok(x.execute(
        "DELETE FROM mfa_challenges WHERE tenant_id = $1 AND token_hash = $2",
        params![tenant, token_hash],
    )
    .await?
        == 1)
}

/// Deletes a user's pending steps (of one kind when given); how many.
pub async fn delete_challenges_for_user(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    kind: Option<&str>,
) -> DbResult<u64> {
    match kind {
        Some(k) => {
            x.execute(
                "DELETE FROM mfa_challenges WHERE tenant_id = $1 AND user_id = $2 AND kind = $3",
                params![tenant, user_id, k],
            )
            .await
        }
        None => {
            x.execute(
                "DELETE FROM mfa_challenges WHERE tenant_id = $1 AND user_id = $2",
                params![tenant, user_id],
            )
            .await
        }
    }
}

/// How many unexpired steps of `kind` the user has at `now`.
pub async fn count_live_challenges(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    kind: &str,
    now: i64,
) -> DbResult<i64> {
    x.query_opt(
        "SELECT COUNT(*) AS n FROM mfa_challenges WHERE tenant_id = $1 AND user_id = $2 \
         AND kind = $3 AND expires_at > $4",
        params![tenant, user_id, kind, now],
    )
    .await?
    .map_or(Ok(0), |r| r.i64("n"))
}

/// Deletes steps that expired before `before` (unix seconds); how many.
pub async fn prune_challenges(x: &impl Exec, tenant: &str, before: i64) -> DbResult<u64> {
    x.execute(
        "DELETE FROM mfa_challenges WHERE tenant_id = $1 AND expires_at < $2",
        params![tenant, before],
    )
    .await
}
