//! Tenants (their signing keys: [`crate::keys`]).

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
