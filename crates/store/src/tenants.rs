//! Tenants and their signing keys.

use crate::{DbResult, Exec, params};

pub const DEFAULT_TENANT: &str = "default";

/// Where a tenant's settings (`GET/PATCH /tenants/settings`) live: the `docs` document of this
/// kind and id. The tenant-settings family must store them there, since other code (the token
/// endpoint's one query) reads settings from that row directly.
pub const SETTINGS_KIND: &str = "tenant_settings";
/// The id of the tenant-settings document (see [`SETTINGS_KIND`]).
pub const SETTINGS_ID: &str = "settings";

pub async fn ensure(x: &impl Exec, id: &str, name: &str, now: &str) -> DbResult<bool> {
    let n = x
        .execute(
            "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            params![id, name, now],
        )
        .await?;
    Ok(n > 0)
}

#[derive(Debug, Clone)]
pub struct SigningKeyRow {
    pub kid: String,
    /// PKCS#8 DER, base64.
    pub private_der: String,
    /// The self-signed X.509 certificate of the key (PEM), as Auth0 shows it in `signing_keys`.
    pub cert_pem: Option<String>,
    pub current: bool,
    pub revoked: bool,
    pub created_at: String,
}

pub async fn list_signing_keys(x: &impl Exec, tenant: &str) -> DbResult<Vec<SigningKeyRow>> {
    x.query(
        "SELECT kid, private_der, cert_pem, current, revoked, created_at FROM signing_keys WHERE tenant_id = $1 ORDER BY created_at",
        params![tenant],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(SigningKeyRow {
            kid: r.text("kid")?,
            private_der: r.text("private_der")?,
            cert_pem: r.opt_text("cert_pem")?,
            current: r.bool("current")?,
            revoked: r.bool("revoked")?,
            created_at: r.text("created_at")?,
        })
    })
    .collect()
}

pub async fn insert_signing_key(x: &impl Exec, tenant: &str, key: &SigningKeyRow) -> DbResult<()> {
    x.execute(
        "INSERT INTO signing_keys (tenant_id, kid, private_der, cert_pem, current, revoked, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params![tenant, &key.kid, &key.private_der, key.cert_pem.clone(), key.current, key.revoked, &key.created_at],
    )
    .await?;
    Ok(())
}
