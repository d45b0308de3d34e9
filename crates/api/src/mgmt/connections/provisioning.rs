//! Inbound provisioning of a connection: its SCIM configuration with SCIM tokens, and its
//! directory provisioning (Google Workspace). Both configurations are plain documents kept under
//! the connection's id ([`Sub`]); tokens have their own table because only their hash is kept.

use anyhow::Context;
use aws_lc_rs::digest;
use serde_json::{Map, Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_store::{
    Db, Exec, Page, Tx, atomically,
    connections::{self, ConnectionRow},
    docs,
};

use super::inexistent;
use crate::spine::{Ctx, Input, Reply, page::Checkpoint};

/// A configuration document that hangs off a connection.
pub struct Sub {
    /// The `docs` kind; the document's id is the connection's id.
    pub kind: &'static str,
    supports: fn(&str) -> bool,
    unsupported: fn() -> Error,
    missing: fn() -> Error,
}

pub const SCIM: Sub = Sub {
    kind: "scim_configuration",
    supports: |s| {
        matches!(
            s,
            "samlp" | "oidc" | "okta" | "waad" | "adfs" | "pingfederate"
        )
    },
    unsupported: || {
        Error::NotFound(
            "This connection type does not support SCIM. Please see our documentation for the currently supported connection types: https://auth0.com/docs/authenticate/protocols/scim/configure-inbound-scim.".into(),
        )
    },
    missing: || Error::NotFound("Not Found".into()),
};

pub const DIRECTORY: Sub = Sub {
    kind: "directory_provisioning",
    supports: |s| s == "google-apps",
    unsupported: || {
        Error::bad_body("The connection strategy does not support inbound directory provisioning")
    },
    missing: || Error::NotFound("Directory provisioning configuration not found".into()),
};

/// The document kinds deleted with a connection.
pub const KINDS: &[&str] = &[SCIM.kind, DIRECTORY.kind];

impl Sub {
    /// The connection, when it exists and its strategy supports this configuration.
    async fn connection(
        &self,
        x: &impl Exec,
        tenant: &str,
        id: &str,
    ) -> Result<ConnectionRow, Error> {
        let conn = connections::find(x, tenant, id)
            .await
            .context("finding a connection")?
            .ok_or_else(inexistent)?;
        self.supported(conn)
    }

    /// The connection, unless its strategy does not support this configuration.
    fn supported(&self, conn: ConnectionRow) -> Result<ConnectionRow, Error> {
        if !(self.supports)(&conn.strategy) {
            return Err((self.unsupported)());
        }
        Ok(conn)
    }

    /// The connection as `connection` finds it, locked until the transaction ends: every write
    /// of a connection's configuration, tokens or keys holds the connection's lock.
    async fn connection_locked(
        &self,
        tx: &Tx,
        tenant: &str,
        id: &str,
    ) -> Result<ConnectionRow, Error> {
        let conn = connections::find_for_update(tx, tenant, id)
            .await
            .context("finding a connection")?
            .ok_or_else(inexistent)?;
        self.supported(conn.into_inner())
    }

    /// Changes the connection's configuration with `change`, atomically; the new configuration.
    async fn modify(
        &self,
        db: &Db,
        tenant: &str,
        id: &str,
        change: impl Fn(&ConnectionRow, &mut Value) -> Result<(), Error>,
    ) -> Result<Value, Error> {
        let change = &change;
        atomically(|| async move {
            let tx = db.begin().await.context("starting a transaction")?;
            let conn = self.connection_locked(&tx, tenant, id).await?;
            let mut doc = self
                .get(&tx, tenant, &conn.id)
                .await?
                .ok_or_else(self.missing)?;
            change(&conn, &mut doc)?;
            self.put(&tx, tenant, &conn.id, &doc).await?;
            tx.commit()
                .await
                .context("committing a connection configuration")?;
            Ok(doc)
        })
        .await
    }

    async fn get(&self, x: &impl Exec, tenant: &str, id: &str) -> Result<Option<Value>, Error> {
        Ok(docs::get(x, tenant, self.kind, id)
            .await
            .context("reading a connection configuration")?)
    }

    /// The connection and its configuration; the configuration must exist.
    async fn load(
        &self,
        x: &impl Exec,
        tenant: &str,
        id: &str,
    ) -> Result<(ConnectionRow, Value), Error> {
        let conn = self.connection(x, tenant, id).await?;
        let doc = self
            .get(x, tenant, &conn.id)
            .await?
            .ok_or_else(self.missing)?;
        Ok((conn, doc))
    }

    async fn put(&self, x: &impl Exec, tenant: &str, id: &str, body: &Value) -> Result<(), Error> {
        docs::put(x, tenant, self.kind, id, body, &time::now())
            .await
            .context("storing a connection configuration")?;
        Ok(())
    }

    async fn delete(&self, x: &impl Exec, tenant: &str, id: &str) -> Result<bool, Error> {
        Ok(docs::delete(x, tenant, self.kind, id)
            .await
            .context("deleting a connection configuration")?)
    }

    /// A tenant-wide checkpoint-paged list of this configuration, each shown by `show`.
    async fn list(
        &self,
        ctx: &Ctx,
        input: &Input,
        key: &str,
        show: fn(&Value) -> Value,
    ) -> Result<Reply, Error> {
        let cp = Checkpoint::from_query(&input.query).unwrap_or(Checkpoint {
            from: None,
            take: 50,
        });
        let (items, total) = docs::list(ctx.db(), ctx.tenant_id(), self.kind, cp.store_page())
            .await
            .context("listing connection configurations")?;
        let items = items.iter().map(show).collect();
        Ok(Reply::json(cp.reply(key, items, total)))
    }
}

// ---------------------------------------------------------------- SCIM

/// Auth0's default SCIM → profile mapping, as recorded.
const SCIM_MAPPING: &[(&str, &str)] = &[
    ("userName", "preferred_username"),
    ("emails[primary eq true].value", "email"),
    ("externalId", "app_metadata.external_id"),
    ("active", "blocked"),
    ("displayName", "name"),
    ("name.givenName", "given_name"),
    ("name.familyName", "family_name"),
    ("name.middleName", "app_metadata.middle_name"),
    ("name.honorificPrefix", "app_metadata.honorific_prefix"),
    ("name.honorificSuffix", "app_metadata.honorific_suffix"),
    ("nickName", "nickname"),
    ("photos[type eq \"photo\"].value", "picture"),
    (
        "phoneNumbers[primary eq true].value",
        "app_metadata.primary_phone_number",
    ),
    (
        "phoneNumbers[type eq \"mobile\"].value",
        "app_metadata.mobile_phone_number",
    ),
    (
        "addresses[type eq \"work\"].streetAddress",
        "app_metadata.street_address",
    ),
    ("addresses[type eq \"work\"].locality", "app_metadata.city"),
    ("addresses[type eq \"work\"].region", "app_metadata.state"),
    (
        "addresses[type eq \"work\"].postalCode",
        "app_metadata.postal_code",
    ),
    (
        "addresses[type eq \"work\"].formatted",
        "app_metadata.postal_address",
    ),
    (
        "addresses[type eq \"work\"].country",
        "app_metadata.country",
    ),
    ("profileUrl", "app_metadata.profile_url"),
    ("userType", "app_metadata.user_type"),
    ("title", "app_metadata.title"),
    ("preferredLanguage", "app_metadata.language"),
    ("locale", "app_metadata.locale"),
    ("timezone", "app_metadata.timezone"),
    (
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.employeeNumber",
        "app_metadata.employee_id",
    ),
    (
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.costCenter",
        "app_metadata.cost_center",
    ),
    (
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.organization",
        "app_metadata.organization",
    ),
    (
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.division",
        "app_metadata.division",
    ),
    (
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department",
        "app_metadata.department",
    ),
    (
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager",
        "app_metadata.manager",
    ),
];

fn scim_mapping() -> Value {
    SCIM_MAPPING
        .iter()
        .map(|(scim, auth0)| json!({"scim": scim, "auth0": auth0}))
        .collect()
}

/// A mapping as given, each item with `scim` before `auth0` as Auth0 writes it.
fn scim_items(given: &Value) -> Value {
    given
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| json!({"scim": i.get("scim"), "auth0": i.get("auth0")}))
                .collect()
        })
        .unwrap_or_default()
}

pub async fn get_scim(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (_, doc) = SCIM
        .load(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await?;
    Ok(Reply::json(doc))
}

pub async fn post_scim(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let tenant = ctx.tenant_id();
    let tx = ctx.db().begin().await.context("starting a transaction")?;
    let conn = SCIM
        .connection_locked(&tx, tenant, input.path("id"))
        .await?;
    if conn.strategy == "waad"
        && conn.options().get("waad_common_endpoint") == Some(&Value::Bool(true))
    {
        return Err(Error::bad_body(
            "SCIM cannot be enabled for this connection when the Azure AD common endpoint is used.",
        ));
    }
    if SCIM.get(&tx, tenant, &conn.id).await?.is_some() {
        return Err(Error::bad_body(
            "SCIM configuration alreay exists for connection",
        ));
    }
    let req = input.body_object();
    let now = time::now();
    let doc = json!({
        "tenant_name": tenant,
        "connection_id": conn.id,
        "connection_name": conn.name,
        "strategy": conn.strategy,
        "mapping": req.get("mapping").map_or_else(scim_mapping, scim_items),
        "updated_on": now,
        "created_at": now,
        "user_id_attribute": req.get("user_id_attribute").and_then(Value::as_str).unwrap_or("externalId"),
    });
    SCIM.put(&tx, tenant, &conn.id, &doc).await?;
    tx.commit()
        .await
        .context("committing a SCIM configuration")?;
    Ok(Reply::json(doc))
}

pub async fn patch_scim(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let req = input.body_object();
    let doc = SCIM
        .modify(ctx.db(), ctx.tenant_id(), input.path("id"), |_, doc| {
            if let Some(m) = req.get("mapping") {
                doc["mapping"] = scim_items(m);
            }
            if let Some(a) = req.get("user_id_attribute") {
                doc["user_id_attribute"] = a.clone();
            }
            doc["updated_on"] = json!(time::now());
            Ok(())
        })
        .await?;
    Ok(Reply::json(doc))
}

pub async fn delete_scim(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let tenant = ctx.tenant_id();
    let tx = ctx.db().begin().await.context("starting a transaction")?;
    let conn = SCIM
        .connection_locked(&tx, tenant, input.path("id"))
        .await?;
    SCIM.delete(&tx, tenant, &conn.id).await?;
    connections::delete_scim_tokens(&tx, tenant, &conn.id)
        .await
        .context("deleting SCIM tokens")?;
    tx.commit().await.context("committing a SCIM deletion")?;
    Ok(Reply::empty())
}

pub async fn get_scim_default_mapping(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    SCIM.connection(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await?;
    // Auth0 writes `auth0` first here.
    let mapping: Value = SCIM_MAPPING
        .iter()
        .map(|(scim, auth0)| json!({"auth0": auth0, "scim": scim}))
        .collect();
    Ok(Reply::json(json!({ "mapping": mapping })))
}

/// The scopes a SCIM token gets when none are asked for.
const SCIM_SCOPES: &[&str] = &[
    "get:users",
    "post:users",
    "put:users",
    "patch:users",
    "delete:users",
];

/// The SHA-256 (hex) a SCIM secret is stored and looked up by.
pub fn token_hash(token: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

pub async fn post_scim_token(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let tenant = ctx.tenant_id();
    let tx = ctx.db().begin().await.context("starting a transaction")?;
    let conn = SCIM
        .connection_locked(&tx, tenant, input.path("id"))
        .await?;
    if SCIM.get(&tx, tenant, &conn.id).await?.is_none() {
        return Err((SCIM.missing)());
    }
    let existing = connections::scim_tokens(&tx, tenant, &conn.id)
        .await
        .context("listing SCIM tokens")?;
    if existing.len() >= 2 {
        return Err(Error::conflict(
            "conflict",
            "Maximum of 2 tokens already issued for this connection",
        ));
    }
    let req = input.body_object();
    let scopes = req
        .get("scopes")
        .cloned()
        .unwrap_or_else(|| json!(SCIM_SCOPES));
    let now_unix = time::unix_now();
    let now = time::now();
    let mut listed = Map::new();
    let token_id = ids::prefixed("tok", 16);
    listed.insert("token_id".into(), json!(token_id));
    listed.insert("scopes".into(), scopes);
    listed.insert("created_at".into(), json!(now));
    if let Some(lifetime) = req.get("token_lifetime").and_then(Value::as_i64) {
        let until = ::time::OffsetDateTime::from_unix_timestamp(now_unix.saturating_add(lifetime))
            .map_err(|_| {
                Error::bad_body("Payload validation error: 'token_lifetime is out of range'.")
            })?;
        listed.insert("valid_until".into(), json!(time::format(until)));
    }
    let token = format!("tok_{}", ids::client_secret());
    let body = Value::Object(listed.clone());
    connections::insert_scim_token(
        &tx,
        tenant,
        &conn.id,
        &token_id,
        &token_hash(&token),
        &body,
        &now,
    )
    .await
    .context("storing a SCIM token")?;
    tx.commit().await.context("committing a SCIM token")?;
    // The secret is shown this once.
    let mut shown = Map::new();
    shown.insert("token_id".into(), json!(token_id));
    shown.insert("token".into(), json!(token));
    shown.extend(listed.into_iter().filter(|(k, _)| k != "token_id"));
    Ok(Reply::json(Value::Object(shown)))
}

pub async fn get_scim_tokens(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (conn, _) = SCIM
        .load(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await?;
    let tokens = connections::scim_tokens(ctx.db(), ctx.tenant_id(), &conn.id)
        .await
        .context("listing SCIM tokens")?;
    Ok(Reply::json(Value::Array(tokens)))
}

pub async fn delete_scim_token(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let conn = SCIM
        .connection(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await?;
    if !connections::delete_scim_token(ctx.db(), ctx.tenant_id(), &conn.id, input.path("tokenId"))
        .await
        .context("deleting a SCIM token")?
    {
        return Err((SCIM.missing)());
    }
    Ok(Reply::empty())
}

pub async fn get_scim_configurations(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    SCIM.list(&ctx, &input, "scim_configurations", Value::clone)
        .await
}

// ---------------------------------------------------------------- Directory provisioning

/// Auth0's default Google Workspace → profile mapping, as recorded.
const DIRECTORY_MAPPING: &[(&str, &str)] = &[
    ("id", "app_metadata.external_id"),
    ("primaryEmail", "email"),
    ("primaryEmail", "primaryEmail"),
    ("name.fullName", "name"),
    ("name.givenName", "given_name"),
    ("name.familyName", "family_name"),
    ("isAdmin", "isAdmin"),
    ("isAdmin", "is_admin"),
    ("isDelegatedAdmin", "isDelegatedAdmin"),
    ("agreedToTerms", "agreedToTerms"),
    ("agreedToTerms", "tou_accepted"),
    ("suspended", "suspended"),
    ("suspended", "is_suspended"),
    ("suspended", "blocked"),
    ("suspensionReason", "suspensionReason"),
    ("archived", "archived"),
    ("ipWhitelisted", "ipWhitelisted"),
    ("ipWhitelisted", "is_ipWhitelisted"),
    ("kind", "kind"),
    ("etag", "etag"),
    ("customerId", "customerId"),
    ("orgUnitPath", "orgUnitPath"),
    ("emails", "emails"),
    ("phones", "phones"),
    ("externalIds", "externalIds"),
    ("aliases", "aliases"),
    ("addresses", "addresses"),
    ("organizations", "organizations"),
    ("nonEditableAliases", "nonEditableAliases"),
    ("relations", "relations"),
    ("languages", "languages"),
    ("posixAccounts", "posixAccounts"),
    ("notes", "notes"),
    ("websites", "websites"),
    ("locations", "locations"),
    ("keywords", "keywords"),
    ("gender", "gender"),
    ("ims", "ims"),
    ("creationTime", "creationTime"),
    ("lastLoginTime", "lastLoginTime"),
    ("changePasswordAtNextLogin", "changePasswordAtNextLogin"),
    ("isMailboxSetup", "isMailboxSetup"),
    ("includeInGlobalAddressList", "includeInGlobalAddressList"),
    ("thumbnailPhotoUrl", "thumbnailPhotoUrl"),
    ("thumbnailPhotoEtag", "thumbnailPhotoEtag"),
    ("isEnrolledIn2Sv", "isEnrolledIn2Sv"),
    ("isEnforcedIn2Sv", "isEnforcedIn2Sv"),
    ("recoveryEmail", "recoveryEmail"),
    ("recoveryPhone", "recoveryPhone"),
    ("sshPublicKeys", "sshPublicKeys"),
    ("customSchemas", "customSchemas"),
];

fn directory_mapping() -> Value {
    DIRECTORY_MAPPING
        .iter()
        .map(|(idp, auth0)| json!({"idp": idp, "auth0": auth0}))
        .collect()
}

fn directory_items(given: &Value) -> Value {
    given
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| json!({"idp": i.get("idp"), "auth0": i.get("auth0")}))
                .collect()
        })
        .unwrap_or_default()
}

/// What the Google Workspace connection must have enabled for provisioning (messages as the
/// spec gives them).
fn check_setup(conn: &ConnectionRow, synchronize_groups: &str) -> Result<(), Error> {
    let on = |k: &str| conn.options().get(k) == Some(&Value::Bool(true));
    if !on("api_enable_users") {
        return Err(Error::bad_body(
            "The Google Workspace Users API is not enabled on the connection. Select the Enable Users API option and go through the setup again.",
        ));
    }
    if synchronize_groups != "off" {
        if !on("ext_groups") {
            return Err(Error::bad_body(
                "The Groups extended attribute is not enabled on the connection. Select the Groups extended attribute option and go through the setup again.",
            ));
        }
        if !on("api_enable_groups") {
            return Err(Error::bad_body(
                "The Google Workspace Groups API is not enabled on the connection. Select the Enable Groups API option and go through the setup again.",
            ));
        }
    }
    Ok(())
}

/// The configuration as shown: without the synchronized groups, which have their own endpoint.
fn shown(doc: &Value) -> Value {
    let mut d = doc.clone();
    if let Some(o) = d.as_object_mut() {
        o.shift_remove("synchronized_groups");
    }
    d
}

pub async fn get_directory(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (_, doc) = DIRECTORY
        .load(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await?;
    Ok(Reply::json(shown(&doc)))
}

pub async fn post_directory(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let tenant = ctx.tenant_id();
    let tx = ctx.db().begin().await.context("starting a transaction")?;
    let conn = DIRECTORY
        .connection_locked(&tx, tenant, input.path("id"))
        .await?;
    if DIRECTORY.get(&tx, tenant, &conn.id).await?.is_some() {
        return Err(Error::conflict(
            "conflict",
            "Directory provisioning is already enabled on the specified connection",
        ));
    }
    let req = input.body_object();
    let groups = req
        .get("synchronize_groups")
        .and_then(Value::as_str)
        .unwrap_or("off");
    check_setup(&conn, groups)?;
    let now = time::now();
    let doc = json!({
        "connection_id": conn.id,
        "connection_name": conn.name,
        "strategy": conn.strategy,
        "mapping": req.get("mapping").map_or_else(directory_mapping, directory_items),
        "synchronize_automatically": req.get("synchronize_automatically").and_then(Value::as_bool).unwrap_or(false),
        "created_at": now,
        "updated_at": now,
        "synchronize_groups": groups,
        "synchronized_groups": [],
    });
    DIRECTORY.put(&tx, tenant, &conn.id, &doc).await?;
    tx.commit()
        .await
        .context("committing a directory provisioning")?;
    Ok(Reply::json(shown(&doc)))
}

pub async fn patch_directory(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let req = input.body_object();
    let doc = DIRECTORY
        .modify(ctx.db(), ctx.tenant_id(), input.path("id"), |conn, doc| {
            if let Some(m) = req.get("mapping") {
                doc["mapping"] = directory_items(m);
            }
            if let Some(a) = req.get("synchronize_automatically") {
                doc["synchronize_automatically"] = a.clone();
            }
            if let Some(g) = req.get("synchronize_groups").and_then(Value::as_str) {
                check_setup(conn, g)?;
                doc["synchronize_groups"] = json!(g);
            }
            doc["updated_at"] = json!(time::now());
            Ok(())
        })
        .await?;
    Ok(Reply::json(shown(&doc)))
}

pub async fn delete_directory(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let conn = DIRECTORY
        .connection(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await?;
    if !DIRECTORY
        .delete(ctx.db(), ctx.tenant_id(), &conn.id)
        .await?
    {
        return Err((DIRECTORY.missing)());
    }
    Ok(Reply::empty())
}

pub async fn get_directory_default_mapping(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    DIRECTORY
        .connection(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await?;
    Ok(Reply::json(json!({ "mapping": directory_mapping() })))
}

/// `q` of the synchronized groups list: `field:value`, a trailing `*` matching a prefix
/// (case-insensitive), as the Terraform provider's data source sends it.
struct GroupQuery {
    field: String,
    value: String,
    prefix: bool,
}

impl GroupQuery {
    fn parse(q: &str) -> Self {
        let (field, value) = q.split_once(':').unwrap_or(("name", q));
        let value = value.trim().trim_matches('"');
        let (value, prefix) = match value.strip_suffix('*') {
            Some(v) => (v, true),
            None => (value, false),
        };
        Self {
            field: field.trim().to_owned(),
            value: value.to_lowercase(),
            prefix,
        }
    }

    fn matches(&self, group: &Value) -> bool {
        let Some(v) = group.get(&self.field).and_then(Value::as_str) else {
            return false;
        };
        let v = v.to_lowercase();
        if self.prefix {
            v.starts_with(&self.value)
        } else {
            v == self.value
        }
    }
}

/// Synchronized groups, in id order, checkpoint-paged; `q` filters them.
pub async fn get_synchronized_groups(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (_, doc) = DIRECTORY
        .load(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await?;
    let filter = input.query.get("q").map(GroupQuery::parse);
    let groups: Vec<Value> = doc
        .get("synchronized_groups")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|g| filter.as_ref().is_none_or(|f| f.matches(g)))
        .collect();
    let cp = Checkpoint::from_query(&input.query).unwrap_or(Checkpoint {
        from: None,
        take: 50,
    });
    let Page { offset, limit } = cp.store_page();
    let total = groups.len() as i64;
    let page: Vec<Value> = groups
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    Ok(Reply::json(cp.reply("groups", page, total)))
}

/// Replaces the synchronized groups (one entry per id, the last given wins), kept in id order.
pub async fn put_synchronized_groups(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let mut by_id = std::collections::BTreeMap::new();
    for g in input
        .body
        .get("groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(id) = g.get("id").and_then(Value::as_str) {
            by_id.insert(id.to_owned(), g.clone());
        }
    }
    let groups = Value::Array(by_id.into_values().collect());
    DIRECTORY
        .modify(ctx.db(), ctx.tenant_id(), input.path("id"), |_, doc| {
            doc["synchronized_groups"] = groups.clone();
            doc["updated_at"] = json!(time::now());
            Ok(())
        })
        .await?;
    Ok(Reply::empty())
}

pub async fn get_directory_provisionings(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    DIRECTORY
        .list(&ctx, &input, "directory_provisionings", shown)
        .await
}

/// Why a synchronization cannot run: Gatehouse has no client for Google Workspace's
/// Directory API.
const SYNC_UNSUPPORTED: &str = "Gatehouse cannot reach Google Workspace: synchronizing a directory is not supported by this server";

/// An on-demand synchronization. Auth0 queues it and reports the outcome on the provisioning
/// (`last_synchronization_*`); Gatehouse cannot reach Google Workspace, so the attempt fails at
/// once and says so there and in the reply's status.
pub async fn post_synchronization(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let now = time::now();
    let doc = DIRECTORY
        .modify(ctx.db(), ctx.tenant_id(), input.path("id"), |_, doc| {
            if let Some(o) = doc.as_object_mut() {
                o.insert("last_synchronization_status".into(), json!("failed"));
                o.insert("last_synchronization_error".into(), json!(SYNC_UNSUPPORTED));
                o.insert("last_synchronization_at".into(), json!(now));
            }
            Ok(())
        })
        .await?;
    Ok(Reply::json(json!({
        "connection_id": doc.get("connection_id"),
        "synchronization_id": ids::prefixed("sync", 22),
        "status": "failed",
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_mappings_match_the_recordings() {
        assert_eq!(SCIM_MAPPING.len(), 32);
        assert_eq!(DIRECTORY_MAPPING.len(), 51);
        assert_eq!(
            scim_mapping()[0],
            json!({"scim": "userName", "auth0": "preferred_username"})
        );
        assert_eq!(
            scim_items(&json!([{"auth0": "a", "scim": "s"}])).to_string(),
            r#"[{"scim":"s","auth0":"a"}]"#
        );
    }

    #[test]
    fn group_query() {
        let g = json!({"id": "g1", "name": "Engineering"});
        assert!(GroupQuery::parse("name:eng*").matches(&g));
        assert!(GroupQuery::parse("name:Engineering").matches(&g));
        assert!(!GroupQuery::parse("name:zzzznomatch*").matches(&g));
        assert!(!GroupQuery::parse("name:x*").matches(&json!({"id": "g2"})));
        assert!(GroupQuery::parse("id:g1").matches(&g));
    }

    #[test]
    fn token_hash_is_sha256_hex() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
