//! First start of a tenant, idempotent: migrations, the tenant, its signing key, the Management
//! API resource server, the global client, and the admin client with its grant. Nothing is
//! regenerated on restart.

use anyhow::Context;
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Map, Value, json};

use gatehouse_core::{ids, time};
use gatehouse_spec::SCOPES;
use gatehouse_store::{
    Db, Exec, client_grants, client_grants::ClientGrantRow, clients, clients::ClientRow,
    connections, docs, keys, migrate, resource_servers, resource_servers::ResourceServerRow,
    tenants,
};

use crate::{
    keyring::{KeyRing, SharedRing, new_signing_key, signing_certificate},
    mgmt,
    state::Tenant,
};

/// Credentials of the admin client, when the caller chose them.
#[derive(Clone, Default)]
pub struct AdminCredentials {
    pub client_id: Option<String>,
    pub client_secret: Option<secrecy::SecretString>,
}

/// What the first start created and must be told once.
pub struct Bootstrapped {
    pub tenant: Tenant,
    /// Set only when the admin client was created now with generated credentials.
    pub new_admin: Option<(String, String)>,
    pub admin_client_id: String,
}

const META: &str = "gatehouse";

pub async fn bootstrap(
    db: &Db,
    tenant_id: &str,
    issuer: &str,
    admin: &AdminCredentials,
) -> anyhow::Result<Bootstrapped> {
    use secrecy::ExposeSecret;
    migrate(db).await.context("running migrations")?;
    let now = time::now();
    let tx = db.begin().await?;
    if db.dialect() == gatehouse_store::Dialect::Postgres {
        tx.query("SELECT pg_advisory_xact_lock(7274538)", vec![])
            .await?;
    }
    tenants::ensure(&tx, tenant_id, tenant_id, &now).await?;

    // Signing keys: a current key and the next one, published before it is used.
    let ring = ensure_signing_keys(&tx, tenant_id, issuer, &now).await?;
    ensure_encryption_keys(&tx, tenant_id, &now).await?;

    // The Management API: its identifier follows the issuer; its scopes follow the spec.
    let audience = format!("{issuer}api/v2/");
    let scopes: Vec<Value> = SCOPES
        .iter()
        .map(|(v, d)| json!({"value": v, "description": d}))
        .collect();
    let mut meta = docs::get(&tx, tenant_id, META, "bootstrap")
        .await?
        .unwrap_or_else(|| json!({}));
    let api_id = meta
        .get("management_api_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let existing = match &api_id {
        Some(id) => resource_servers::find_for_update(&tx, tenant_id, id).await?,
        None => None,
    };
    let mut api = existing
        .as_deref()
        .cloned()
        .unwrap_or_else(|| ResourceServerRow {
            id: ids::hex24(),
            identifier: audience.clone(),
            is_system: true,
            body: Value::Null,
            created_at: now.clone(),
            updated_at: now.clone(),
        });
    let old_identifier = api.identifier.clone();
    api.identifier = audience.clone();
    if api.body.is_object() {
        // Restart: the identifier follows the issuer and the scopes the spec; what an admin
        // changed (e.g. token_lifetime) stays.
        api.body["identifier"] = json!(audience);
        api.body["scopes"] = json!(scopes);
    } else {
        api.body = json!({
            "id": api.id,
            "name": "Auth0 Management API",
            "identifier": audience,
            "allow_offline_access": false,
            "skip_consent_for_verifiable_first_party_clients": false,
            "token_lifetime": 86400,
            "token_lifetime_for_web": 7200,
            "signing_alg": "RS256",
            "scopes": scopes,
            "is_system": true,
        });
    }
    if let Some(mut locked) = existing {
        api.updated_at = now.clone();
        *locked = api.clone();
        resource_servers::update(&tx, tenant_id, &locked).await?;
        if old_identifier != audience {
            tx.execute(
                "UPDATE client_grants SET audience = $3 WHERE tenant_id = $1 AND audience = $2",
                gatehouse_store::params![tenant_id, &old_identifier, &audience],
            )
            .await?;
        }
    } else {
        resource_servers::insert(&tx, tenant_id, &api).await?;
    }
    set(&mut meta, "management_api_id", &api.id);

    // The global client.
    let global = clients::list(
        &tx,
        tenant_id,
        &clients::ClientFilter {
            is_global: Some(true),
            ..Default::default()
        },
        gatehouse_store::Page::ALL,
    )
    .await?
    .0;
    if global.is_empty() {
        let client_id = ids::client_id();
        let body = json!({
            "tenant": tenant_id,
            "global": true,
            "name": "All Applications",
            "client_id": client_id,
            "is_first_party": true,
            "is_token_endpoint_ip_header_trusted": false,
            "oidc_conformant": true,
            "callbacks": [],
            "jwt_configuration": {"alg": "RS256"},
            "signing_keys": [],
            "sso": false,
            "sso_disabled": false,
            "cross_origin_auth": false,
            "custom_login_page_on": true,
            "refresh_token": {"rotation_type": "non-rotating", "expiration_type": "non-expiring", "leeway": 0,
                "token_lifetime": 2592000, "infinite_token_lifetime": true, "infinite_idle_token_lifetime": true,
                "idle_token_lifetime": 1296000},
        });
        let row = ClientRow {
            client_id,
            name: "All Applications".into(),
            app_type: None,
            is_global: true,
            is_first_party: true,
            client_secret: Some(ids::client_secret()),
            body,
            created_at: now.clone(),
            updated_at: now.clone(),
        };
        clients::insert(&tx, tenant_id, &row).await?;
        // Auth0 lists the global client last.
        tx.execute(
            "UPDATE clients SET seq = $3 WHERE tenant_id = $1 AND client_id = $2",
            gatehouse_store::params![tenant_id, &row.client_id, i64::MAX / 2],
        )
        .await?;
    }

    // The admin client and its grant to the Management API.
    let admin_id = admin.client_id.clone().or_else(|| {
        meta.get("admin_client_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let mut new_admin = None;
    let admin_row = match &admin_id {
        Some(id) => clients::find_for_update(&tx, tenant_id, id).await?,
        None => None,
    };
    let admin_client_id = match admin_row {
        Some(mut row) => {
            if let Some(secret) = &admin.client_secret
                && row.client_secret.as_deref() != Some(secret.expose_secret())
            {
                row.client_secret = Some(secret.expose_secret().to_owned());
                row.updated_at = now.clone();
                clients::update(&tx, tenant_id, &row).await?;
            }
            row.into_inner().client_id
        }
        None => {
            let mut req = Map::new();
            req.insert("name".into(), json!("Gatehouse Admin (Management API)"));
            req.insert("app_type".into(), json!("non_interactive"));
            req.insert(
                "token_endpoint_auth_method".into(),
                json!("client_secret_post"),
            );
            if let Some(id) = &admin_id {
                req.insert("client_id".into(), json!(id));
            }
            if let Some(s) = &admin.client_secret {
                req.insert("client_secret".into(), json!(s.expose_secret()));
            }
            let mut row = mgmt::clients::new_client(req, &now);
            row.body["tenant"] = json!(tenant_id);
            clients::insert(&tx, tenant_id, &row).await?;
            if admin.client_secret.is_none() {
                new_admin = Some((
                    row.client_id.clone(),
                    row.client_secret.clone().unwrap_or_default(),
                ));
            }
            row.client_id
        }
    };
    set(&mut meta, "admin_client_id", &admin_client_id);
    let all_scopes: Vec<&str> = SCOPES.iter().map(|(s, _)| *s).collect();
    match client_grants::find_pair(&tx, tenant_id, &admin_client_id, &audience).await? {
        Some(g) => {
            if g.body.get("scope") != Some(&json!(all_scopes))
                && let Some(mut g) = client_grants::find_for_update(&tx, tenant_id, &g.id).await?
            {
                g.body["scope"] = json!(all_scopes);
                g.updated_at = now.clone();
                client_grants::update(&tx, tenant_id, &g).await?;
            }
        }
        None => {
            let id = ids::prefixed("cgr", 16);
            let g = ClientGrantRow {
                body: json!({"id": id, "client_id": admin_client_id, "audience": audience, "scope": all_scopes, "subject_type": "client"}),
                id,
                client_id: admin_client_id.clone(),
                audience: audience.clone(),
                created_at: now.clone(),
                updated_at: now.clone(),
            };
            client_grants::insert(&tx, tenant_id, &g).await?;
        }
    }
    // The database connection every Auth0 tenant starts with, made once: an admin may delete it.
    if meta.get("default_connection_id").is_none() {
        let id = default_connection(&tx, tenant_id, issuer, &admin_client_id, &now).await?;
        set(&mut meta, "default_connection_id", &id);
    }
    docs::put(&tx, tenant_id, META, "bootstrap", &meta, &now).await?;
    tx.commit().await?;
    Ok(Bootstrapped {
        tenant: Tenant {
            id: tenant_id.to_owned(),
            issuer: issuer.to_owned(),
            keys: SharedRing::new(ring),
        },
        new_admin,
        admin_client_id,
    })
}

/// Creates `Username-Password-Authentication` (strategy `auth0`, Auth0's defaults for a new
/// database connection) enabled for the tenant's admin client, unless a connection of that name
/// exists already. Returns the connection's id.
async fn default_connection(
    tx: &impl Exec,
    tenant_id: &str,
    issuer: &str,
    admin_client_id: &str,
    now: &str,
) -> anyhow::Result<String> {
    const NAME: &str = "Username-Password-Authentication";
    if let Some(existing) = connections::find_by_name(tx, tenant_id, NAME).await? {
        return Ok(existing.id);
    }
    let mut req = Map::new();
    req.insert("name".into(), json!(NAME));
    req.insert("strategy".into(), json!("auth0"));
    let row = mgmt::connections::new_connection(&req, issuer, now)
        .map_err(|e| anyhow::anyhow!("building the default connection: {e}"))?;
    connections::insert(tx, tenant_id, &row).await?;
    connections::set_client(tx, tenant_id, &row.id, admin_client_id, true).await?;
    Ok(row.id)
}

fn set(meta: &mut Value, key: &str, value: &str) {
    if let Some(o) = meta.as_object_mut() {
        o.insert(key.to_owned(), json!(value));
    }
}

/// Makes sure the tenant has a current signing key and a next one (a tenant made before keys
/// rotated has only a current key), each with its certificate; returns the ring they make.
async fn ensure_signing_keys(
    tx: &gatehouse_store::Tx,
    tenant_id: &str,
    issuer: &str,
    now: &str,
) -> anyhow::Result<KeyRing> {
    let mut stored = keys::find_signing_keys_for_update(tx, tenant_id).await?;
    let before = stored.keys.clone();
    for k in stored.keys.iter_mut().filter(|k| k.cert_pem.is_none()) {
        let der = STANDARD.decode(&k.private_der)?;
        k.cert_pem = Some(signing_certificate(&der, issuer)?);
    }
    if !stored.keys.iter().any(|k| k.current && !k.revoked) {
        let mut key = new_signing_key(issuer, now)?;
        key.current = true;
        key.current_since = Some(now.to_owned());
        stored.keys.push(key);
    }
    if !stored.keys.iter().any(|k| k.next && !k.revoked) {
        let mut key = new_signing_key(issuer, now)?;
        key.next = true;
        stored.keys.push(key);
    }
    if stored.keys != before || stored.generation == 0 {
        stored.generation = keys::save_signing_keys(tx, tenant_id, &stored).await?;
    }
    KeyRing::build(&stored, issuer)
}

/// The encryption-key hierarchy every tenant starts with: an active environment root key and an
/// active tenant master key under it.
async fn ensure_encryption_keys(
    tx: &gatehouse_store::Tx,
    tenant_id: &str,
    now: &str,
) -> anyhow::Result<()> {
    let mut stored = keys::find_encryption_keys_for_update(tx, tenant_id).await?;
    if !stored.is_empty() {
        return Ok(());
    }
    let root = mgmt::keys::encryption_key(mgmt::keys::ENVIRONMENT_ROOT, "active", None, now);
    let master = mgmt::keys::encryption_key(
        mgmt::keys::TENANT_MASTER,
        "active",
        Some(root.kid.clone()),
        now,
    );
    stored.push(root);
    stored.push(master);
    keys::save_encryption_keys(tx, tenant_id, &stored, &[]).await?;
    Ok(())
}
