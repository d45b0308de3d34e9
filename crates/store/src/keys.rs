//! Keys: the tenant's application signing keys (current, next, previous, revoked), the counter
//! that tells every instance their set changed, and the encryption-key hierarchy.

use crate::{DbResult, Exec, Locked, Page, Row, Tx, params};

/// One application signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRow {
    pub kid: String,
    /// PKCS#8 DER, base64.
    pub private_der: String,
    /// The self-signed X.509 certificate of the key (PEM).
    pub cert_pem: Option<String>,
    pub current: bool,
    /// Published in the JWKS, waiting to become current at the next rotation.
    pub next: bool,
    pub revoked: bool,
    pub created_at: String,
    pub current_since: Option<String>,
    pub current_until: Option<String>,
    pub revoked_at: Option<String>,
}

impl SigningKeyRow {
    /// Was current once and is no longer (whether revoked since or not).
    pub fn previous(&self) -> bool {
        !self.current && !self.next && self.current_since.is_some()
    }
}

const SIGNING_COLUMNS: &str = "kid, private_der, cert_pem, current, is_next, revoked, created_at, current_since, current_until, revoked_at";

fn signing_row(r: &Row) -> DbResult<SigningKeyRow> {
    Ok(SigningKeyRow {
        kid: r.text("kid")?,
        private_der: r.text("private_der")?,
        cert_pem: r.opt_text("cert_pem")?,
        current: r.bool("current")?,
        next: r.bool("is_next")?,
        revoked: r.bool("revoked")?,
        created_at: r.text("created_at")?,
        current_since: r.opt_text("current_since")?,
        current_until: r.opt_text("current_until")?,
        revoked_at: r.opt_text("revoked_at")?,
    })
}

/// A tenant's signing keys, oldest first, with the generation they were read at.
#[derive(Debug, Clone, Default)]
pub struct SigningKeys {
    pub generation: i64,
    pub keys: Vec<SigningKeyRow>,
}

pub async fn list_signing_keys(x: &impl Exec, tenant: &str) -> DbResult<SigningKeys> {
    let generation = generation(x, tenant).await?;
    let keys = x
        .query(
            &format!("SELECT {SIGNING_COLUMNS} FROM signing_keys WHERE tenant_id = $1 ORDER BY created_at, kid"),
            params![tenant],
        )
        .await?
        .iter()
        .map(signing_row)
        .collect::<DbResult<_>>()?;
    Ok(SigningKeys { generation, keys })
}

/// The signing-key generation: bumped by every write of the tenant's signing keys (0 before any).
pub async fn generation(x: &impl Exec, tenant: &str) -> DbResult<i64> {
    Ok(x.query_opt(
        "SELECT generation FROM key_generations WHERE tenant_id = $1",
        params![tenant],
    )
    .await?
    .map(|r| r.i64("generation"))
    .transpose()?
    .unwrap_or(0))
}

/// Locks the tenant's keys (signing and encryption) for the rest of `tx`: one row per tenant that
/// every key write locks first, so two rotations (or a rotation and a revocation) never interleave.
async fn lock_tenant_keys(tx: &Tx, tenant: &str) -> DbResult<()> {
    tx.execute(
        "INSERT INTO key_generations (tenant_id, generation) VALUES ($1, 0) ON CONFLICT (tenant_id) DO NOTHING",
        params![tenant],
    )
    .await?;
    tx.query(
        &format!(
            "SELECT generation FROM key_generations WHERE tenant_id = $1{}",
            tx.for_update()
        ),
        params![tenant],
    )
    .await?;
    Ok(())
}

/// The tenant's signing keys, locked for a read-modify-write ([`save_signing_keys`]).
pub async fn find_signing_keys_for_update(tx: &Tx, tenant: &str) -> DbResult<Locked<SigningKeys>> {
    lock_tenant_keys(tx, tenant).await?;
    Ok(Locked::new(list_signing_keys(tx, tenant).await?))
}

/// Writes every key of `keys` (new ones inserted, the others' state updated) and bumps the
/// generation; returns the new generation.
pub async fn save_signing_keys(tx: &Tx, tenant: &str, keys: &Locked<SigningKeys>) -> DbResult<i64> {
    for k in &keys.keys {
        tx.execute(
            "INSERT INTO signing_keys (tenant_id, kid, private_der, cert_pem, current, is_next, revoked, created_at, current_since, current_until, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (tenant_id, kid) DO UPDATE SET cert_pem = excluded.cert_pem, current = excluded.current, \
             is_next = excluded.is_next, revoked = excluded.revoked, current_since = excluded.current_since, \
             current_until = excluded.current_until, revoked_at = excluded.revoked_at",
            params![
                tenant,
                &k.kid,
                &k.private_der,
                k.cert_pem.clone(),
                k.current,
                k.next,
                k.revoked,
                &k.created_at,
                k.current_since.clone(),
                k.current_until.clone(),
                k.revoked_at.clone()
            ],
        )
        .await?;
    }
    tx.execute(
        "UPDATE key_generations SET generation = generation + 1 WHERE tenant_id = $1",
        params![tenant],
    )
    .await?;
    generation(tx, tenant).await
}

/// One key of the encryption-key hierarchy. `type` is a keyword in Rust: `kind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionKeyRow {
    pub kid: String,
    pub kind: String,
    pub state: String,
    pub parent_kid: Option<String>,
    pub public_key: Option<String>,
    /// The private half of a pending public wrapping key (PKCS#8 DER, base64).
    pub wrapping_der: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub seq: i64,
}

const ENCRYPTION_COLUMNS: &str =
    "kid, type, state, parent_kid, public_key, wrapping_der, created_at, updated_at, seq";

fn encryption_row(r: &Row) -> DbResult<EncryptionKeyRow> {
    Ok(EncryptionKeyRow {
        kid: r.text("kid")?,
        kind: r.text("type")?,
        state: r.text("state")?,
        parent_kid: r.opt_text("parent_kid")?,
        public_key: r.opt_text("public_key")?,
        wrapping_der: r.opt_text("wrapping_der")?,
        created_at: r.text("created_at")?,
        updated_at: r.text("updated_at")?,
        seq: r.i64("seq")?,
    })
}

/// A page of the tenant's encryption keys, newest first, and how many there are.
pub async fn list_encryption_keys(
    x: &impl Exec,
    tenant: &str,
    page: Page,
) -> DbResult<(Vec<EncryptionKeyRow>, i64)> {
    let rows = x
        .query(
            &format!(
                "SELECT {ENCRYPTION_COLUMNS} FROM encryption_keys WHERE tenant_id = $1 ORDER BY seq DESC, kid LIMIT $2 OFFSET $3"
            ),
            params![tenant, page.limit, page.offset],
        )
        .await?
        .iter()
        .map(encryption_row)
        .collect::<DbResult<_>>()?;
    let total = x
        .query_opt(
            "SELECT COUNT(*) AS n FROM encryption_keys WHERE tenant_id = $1",
            params![tenant],
        )
        .await?
        .map(|r| r.i64("n"))
        .transpose()?
        .unwrap_or(0);
    Ok((rows, total))
}

pub async fn find_encryption_key(
    x: &impl Exec,
    tenant: &str,
    kid: &str,
) -> DbResult<Option<EncryptionKeyRow>> {
    x.query_opt(
        &format!(
            "SELECT {ENCRYPTION_COLUMNS} FROM encryption_keys WHERE tenant_id = $1 AND kid = $2"
        ),
        params![tenant, kid],
    )
    .await?
    .map(|r| encryption_row(&r))
    .transpose()
}

/// Every encryption key of the tenant, locked for a read-modify-write
/// ([`save_encryption_keys`]).
pub async fn find_encryption_keys_for_update(
    tx: &Tx,
    tenant: &str,
) -> DbResult<Locked<Vec<EncryptionKeyRow>>> {
    lock_tenant_keys(tx, tenant).await?;
    let rows = tx
        .query(
            &format!("SELECT {ENCRYPTION_COLUMNS} FROM encryption_keys WHERE tenant_id = $1 ORDER BY seq, kid"),
            params![tenant],
        )
        .await?
        .iter()
        .map(encryption_row)
        .collect::<DbResult<_>>()?;
    Ok(Locked::new(rows))
}

/// Writes every key of `keys` whose content differs from `before` (new ones inserted).
pub async fn save_encryption_keys(
    tx: &Tx,
    tenant: &str,
    keys: &Locked<Vec<EncryptionKeyRow>>,
    before: &[EncryptionKeyRow],
) -> DbResult<()> {
    for k in keys.iter().filter(|k| !before.contains(k)) {
        tx.execute(
            "INSERT INTO encryption_keys (tenant_id, kid, type, state, parent_kid, public_key, wrapping_der, created_at, updated_at, seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (tenant_id, kid) DO UPDATE SET state = excluded.state, parent_kid = excluded.parent_kid, \
             public_key = excluded.public_key, wrapping_der = excluded.wrapping_der, updated_at = excluded.updated_at",
            params![
                tenant,
                &k.kid,
                &k.kind,
                &k.state,
                k.parent_kid.clone(),
                k.public_key.clone(),
                k.wrapping_der.clone(),
                &k.created_at,
                &k.updated_at,
                k.seq
            ],
        )
        .await?;
    }
    Ok(())
}
