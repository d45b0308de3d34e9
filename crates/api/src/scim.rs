//! Inbound SCIM 2.0 (RFC 7643, RFC 7644) of a connection: the `Groups` resource at
//! `/scim/v2/connections/{connection_id}/Groups`, authenticated by the connection's SCIM bearer
//! tokens (`POST /connections/{id}/scim-configuration/tokens`; kept as SHA-256) and their scopes
//! (`get:groups`, `post:groups`, `put:groups`, `patch:groups`, `delete:groups`). Groups written
//! here are the directory groups the Management API's `groups` operations read.
//!
//! A group's members are users of the same connection (or its other groups), by Auth0 user id,
//! as Auth0's SCIM `id` of a user is its `user_id`. A group's `displayName` is unique in its
//! connection.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

use gatehouse_core::time;
use gatehouse_store::{
    Db, Page, Transient, atomically, connections,
    db::is_unique_violation,
    groups::{self, GroupFilter, GroupRow},
    users,
};

use crate::{
    mgmt::{
        connections::scim_token_hash,
        groups::{new_body, new_id},
    },
    state::{AppState, Tenant},
};

const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SCIM_JSON: &str = "application/scim+json";
/// Largest page a list returns (`count` beyond it is lowered to it).
const MAX_COUNT: i64 = 100;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/scim/v2/connections/{connection_id}/Groups",
            get(list_groups).post(create_group),
        )
        .route(
            "/scim/v2/connections/{connection_id}/Groups/{id}",
            get(get_group)
                .put(replace_group)
                .patch(patch_group)
                .delete(delete_group),
        )
}

// ---- errors ---------------------------------------------------------------------------------

/// A SCIM error (RFC 7644 §3.12): `{"schemas", "status", "scimType"?, "detail"}`.
#[derive(Debug)]
pub enum ScimError {
    Status {
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: String,
    },
    Internal(anyhow::Error),
}

impl ScimError {
    fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        Self::Status {
            status,
            scim_type,
            detail: detail.into(),
        }
    }
    fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, None, "Unauthorized")
    }
    fn not_found(id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, format!("Group {id} not found"))
    }
    fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidValue"), detail)
    }
    fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidSyntax"), detail)
    }
}

impl From<anyhow::Error> for ScimError {
    fn from(e: anyhow::Error) -> Self {
        Self::Internal(e)
    }
}

impl Transient for ScimError {
    fn is_transient(&self) -> bool {
        matches!(self, Self::Internal(e) if gatehouse_store::db::is_transient(e))
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let (status, scim_type, detail) = match self {
            Self::Status {
                status,
                scim_type,
                detail,
            } => (status, scim_type, detail),
            Self::Internal(e) => {
                tracing::error!(error = ?e, "SCIM endpoint failure");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    "Internal Server Error".to_owned(),
                )
            }
        };
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": status.as_str(),
            "detail": detail,
        });
        if let Some(t) = scim_type {
            body["scimType"] = json!(t);
        }
        scim_reply(status, body)
    }
}

fn scim_reply(status: StatusCode, body: Value) -> Response {
    let mut res = (status, Json(body)).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    res
}

type ScimResult = Result<Response, ScimError>;

// ---- authentication -------------------------------------------------------------------------

/// The tenant, when the request carries a live SCIM token of `connection_id` with `scope`.
async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    connection_id: &str,
    scope: &str,
) -> Result<std::sync::Arc<Tenant>, ScimError> {
    let tenant = state.tenant_for_host(headers.get(header::HOST).and_then(|h| h.to_str().ok()));
    let secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(ScimError::unauthorized)?;
    // Looked up by the secret's SHA-256: the secret itself is never compared nor stored.
    let (owner, token) =
        connections::find_scim_token(&state.db, &tenant.id, &scim_token_hash(secret))
            .await?
            .ok_or_else(ScimError::unauthorized)?;
    if owner != connection_id {
        return Err(ScimError::unauthorized());
    }
    // `valid_until` is written as `time::now()` writes times: comparable as text.
    if token
        .get("valid_until")
        .and_then(Value::as_str)
        .is_some_and(|until| until <= time::now().as_str())
    {
        return Err(ScimError::unauthorized());
    }
    let allowed = token
        .get("scopes")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|v| v.as_str() == Some(scope)));
    if !allowed {
        return Err(ScimError::new(
            StatusCode::FORBIDDEN,
            None,
            format!("Insufficient scope, expected: {scope}"),
        ));
    }
    Ok(tenant)
}

// ---- the resource ---------------------------------------------------------------------------

fn location(tenant: &Tenant, connection_id: &str, id: &str) -> String {
    format!(
        "{}scim/v2/connections/{connection_id}/Groups/{id}",
        tenant.issuer
    )
}

/// The SCIM representation of a group; `members` unless left out.
async fn resource(
    db: &Db,
    tenant: &Tenant,
    g: &GroupRow,
    with_members: bool,
) -> Result<Value, ScimError> {
    let mut o = Map::new();
    o.insert("schemas".into(), json!([GROUP_SCHEMA]));
    o.insert("id".into(), json!(g.id));
    o.insert("displayName".into(), json!(g.name));
    if let Some(e) = &g.external_id {
        o.insert("externalId".into(), json!(e));
    }
    if with_members {
        let (members, _) = groups::members(db, &tenant.id, &g.id, Page::ALL).await?;
        let members: Vec<Value> = members
            .into_iter()
            .map(|m| {
                let kind = if m.member_type == "group" {
                    "Group"
                } else {
                    "User"
                };
                json!({"value": m.member_id, "type": kind})
            })
            .collect();
        o.insert("members".into(), Value::Array(members));
    }
    o.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": g.created_at,
            "lastModified": g.updated_at,
            "location": location(tenant, &g.connection_id, &g.id),
        }),
    );
    Ok(Value::Object(o))
}

fn parse_body(body: &Bytes) -> Result<Map<String, Value>, ScimError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        _ => Err(ScimError::invalid_syntax(
            "The request body is not a JSON object",
        )),
    }
}

/// `displayName`: 1 to 128 printable ASCII characters (the Management API's group name rule).
fn display_name(v: Option<&Value>) -> Result<String, ScimError> {
    match v.and_then(Value::as_str) {
        Some(n)
            if !n.is_empty() && n.len() <= 128 && n.bytes().all(|b| (0x20..=0x7e).contains(&b)) =>
        {
            Ok(n.to_owned())
        }
        Some(_) => Err(ScimError::invalid_value(
            "displayName must be 1 to 128 printable ASCII characters",
        )),
        None => Err(ScimError::invalid_value("displayName is required")),
    }
}

/// `externalId`: at most 256 characters, no NUL; `null` clears it.
fn external_id(v: Option<&Value>) -> Result<Option<String>, ScimError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= 256 && !s.contains('\0') => Ok(Some(s.clone())),
        Some(_) => Err(ScimError::invalid_value(
            "externalId must be a string of at most 256 characters",
        )),
    }
}

/// The member ids of a `members` value (`[{"value": id}, …]`).
fn member_ids(v: &Value) -> Result<Vec<String>, ScimError> {
    let items = match v {
        Value::Array(a) => a.as_slice(),
        Value::Null => &[],
        single @ Value::Object(_) => std::slice::from_ref(single),
        _ => return Err(ScimError::invalid_value("members must be an array")),
    };
    items
        .iter()
        .map(|m| {
            m.get("value")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty() && !s.contains('\0'))
                .map(str::to_owned)
                .ok_or_else(|| ScimError::invalid_value("each member needs a value (its id)"))
        })
        .collect()
}

/// Adds members, each a user or another group of the connection (else 400, and the
/// transaction the caller holds rolls back).
async fn add_members(
    tx: &gatehouse_store::Tx,
    tenant: &str,
    group: &GroupRow,
    ids: &[String],
    now: &str,
) -> Result<(), ScimError> {
    for id in ids {
        let kind = if id.starts_with("grp_") {
            match groups::find(tx, tenant, id).await? {
                Some(g) if g.connection_id == group.connection_id && g.id != group.id => "group",
                _ => return Err(ScimError::invalid_value(format!("Member {id} not found"))),
            }
        } else {
            match users::find(tx, tenant, id).await? {
                Some(u) if u.connection_id == group.connection_id => "user",
                _ => return Err(ScimError::invalid_value(format!("Member {id} not found"))),
            }
        };
        groups::add_member(tx, tenant, &group.id, id, kind, now).await?;
    }
    Ok(())
}

/// The stored body after a change of name or external id.
fn rebuilt(g: &GroupRow, tenant: &str) -> Value {
    let mut body = new_body(
        &g.id,
        &g.name,
        g.external_id.as_deref(),
        &g.connection_id,
        tenant,
        &g.created_at,
    );
    body["updated_at"] = json!(g.updated_at);
    body
}

fn uniqueness(name: &str) -> ScimError {
    ScimError::new(
        StatusCode::CONFLICT,
        Some("uniqueness"),
        format!("A group named {name} already exists"),
    )
}

// ---- handlers -------------------------------------------------------------------------------

/// `filter` as SCIM clients send it for groups: `displayName eq "…"` or `externalId eq "…"`.
fn parse_filter(f: &str) -> Result<(&'static str, String), ScimError> {
    let f = f.trim();
    let bad = || ScimError::invalid_value(format!("Unsupported filter: {f}"));
    let (attr, rest) = f.split_once(char::is_whitespace).ok_or_else(bad)?;
    let (op, value) = rest
        .trim_start()
        .split_once(char::is_whitespace)
        .ok_or_else(bad)?;
    if !op.eq_ignore_ascii_case("eq") {
        return Err(bad());
    }
    let value: String = serde_json::from_str::<String>(value.trim()).map_err(|_| bad())?;
    let attr = if attr.eq_ignore_ascii_case("displayName") {
        "displayName"
    } else if attr.eq_ignore_ascii_case("externalId") {
        "externalId"
    } else {
        return Err(bad());
    };
    Ok((attr, value))
}

async fn list_groups(
    State(state): State<AppState>,
    Path(connection_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ScimResult {
    let tenant = authorize(&state, &headers, &connection_id, "get:groups").await?;
    let mut f = GroupFilter {
        connection_id: Some(connection_id.clone()),
        ..Default::default()
    };
    if let Some(filter) = q.get("filter") {
        match parse_filter(filter)? {
            ("displayName", v) => f.name = Some(v),
            (_, v) => f.external_id = Some(v),
        }
    }
    let int = |k: &str| -> Result<Option<i64>, ScimError> {
        q.get(k)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ScimError::invalid_value(format!("{k} must be an integer")))
            })
            .transpose()
    };
    let start = int("startIndex")?.unwrap_or(1).max(1);
    let count = int("count")?.unwrap_or(MAX_COUNT).clamp(0, MAX_COUNT);
    let with_members = !q.get("excludedAttributes").is_some_and(|e| {
        e.split(',')
            .any(|a| a.trim().eq_ignore_ascii_case("members"))
    });
    let page = Page {
        offset: start - 1,
        limit: count,
    };
    let (rows, total) = groups::list(&state.db, &tenant.id, &f, page).await?;
    let mut items = Vec::with_capacity(rows.len());
    for g in &rows {
        items.push(resource(&state.db, &tenant, g, with_members).await?);
    }
    Ok(scim_reply(
        StatusCode::OK,
        json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": items.len(),
            "Resources": items,
        }),
    ))
}

/// The group `id` of the connection (another connection's group is not found).
async fn find_group(
    x: &impl gatehouse_store::Exec,
    tenant: &str,
    connection_id: &str,
    id: &str,
) -> Result<GroupRow, ScimError> {
    groups::find(x, tenant, id)
        .await?
        .filter(|g| g.connection_id == connection_id)
        .ok_or_else(|| ScimError::not_found(id))
}

async fn get_group(
    State(state): State<AppState>,
    Path((connection_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ScimResult {
    let tenant = authorize(&state, &headers, &connection_id, "get:groups").await?;
    let g = find_group(&state.db, &tenant.id, &connection_id, &id).await?;
    Ok(scim_reply(
        StatusCode::OK,
        resource(&state.db, &tenant, &g, true).await?,
    ))
}

async fn create_group(
    State(state): State<AppState>,
    Path(connection_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let tenant = authorize(&state, &headers, &connection_id, "post:groups").await?;
    let req = parse_body(&body)?;
    let name = display_name(req.get("displayName"))?;
    let ext = external_id(req.get("externalId"))?;
    let members = req
        .get("members")
        .map(member_ids)
        .transpose()?
        .unwrap_or_default();
    let (db, t, conn) = (&state.db, tenant.id.as_str(), connection_id.as_str());
    let (name, ext, members) = (&name, &ext, &members);
    let g = atomically(|| async move {
        let tx = db.begin().await?;
        let now = time::now();
        let id = new_id();
        let g = GroupRow {
            body: new_body(&id, name, ext.as_deref(), conn, t, &now),
            id,
            connection_id: conn.to_owned(),
            name: name.clone(),
            external_id: ext.clone(),
            created_at: now.clone(),
            updated_at: now.clone(),
        };
        if let Err(e) = groups::insert(&tx, t, &g).await {
            return Err(if is_unique_violation(&e) {
                uniqueness(name)
            } else {
                e.into()
            });
        }
        add_members(&tx, t, &g, members, &now).await?;
        tx.commit().await?;
        Ok::<_, ScimError>(g)
    })
    .await?;
    let mut res = scim_reply(
        StatusCode::CREATED,
        resource(&state.db, &tenant, &g, true).await?,
    );
    if let Ok(loc) = HeaderValue::from_str(&location(&tenant, &connection_id, &g.id)) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(res)
}

/// What a PUT or PATCH changes.
#[derive(Default)]
struct Change {
    name: Option<String>,
    external_id: Option<Option<String>>,
    /// Replace all members with these.
    set_members: Option<Vec<String>>,
    add: Vec<String>,
    remove: Vec<String>,
    remove_all: bool,
}

/// Applies `change` to the group in one transaction; the group afterwards.
async fn apply(
    db: &Db,
    tenant: &str,
    connection_id: &str,
    id: &str,
    change: &Change,
) -> Result<GroupRow, ScimError> {
    atomically(|| async move {
        let tx = db.begin().await?;
        let mut g = groups::find_for_update(&tx, tenant, id)
            .await?
            .filter(|g| g.connection_id == connection_id)
            .ok_or_else(|| ScimError::not_found(id))?;
        let now = time::now();
        if let Some(n) = &change.name {
            g.name = n.clone();
        }
        if let Some(e) = &change.external_id {
            g.external_id = e.clone();
        }
        g.updated_at = now.clone();
        g.body = rebuilt(&g, tenant);
        if let Err(e) = groups::update(&tx, tenant, &g).await {
            return Err(if is_unique_violation(&e) {
                uniqueness(&g.name)
            } else {
                e.into()
            });
        }
        if change.remove_all || change.set_members.is_some() {
            groups::clear_members(&tx, tenant, id).await?;
        }
        if let Some(m) = &change.set_members {
            add_members(&tx, tenant, &g, m, &now).await?;
        }
        for m in &change.remove {
            groups::remove_member(&tx, tenant, id, m).await?;
        }
        add_members(&tx, tenant, &g, &change.add, &now).await?;
        tx.commit().await?;
        Ok::<_, ScimError>(g.into_inner())
    })
    .await
}

async fn replace_group(
    State(state): State<AppState>,
    Path((connection_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let tenant = authorize(&state, &headers, &connection_id, "put:groups").await?;
    let req = parse_body(&body)?;
    let change = Change {
        name: Some(display_name(req.get("displayName"))?),
        external_id: Some(external_id(req.get("externalId"))?),
        set_members: Some(
            req.get("members")
                .map(member_ids)
                .transpose()?
                .unwrap_or_default(),
        ),
        ..Default::default()
    };
    let g = apply(&state.db, &tenant.id, &connection_id, &id, &change).await?;
    Ok(scim_reply(
        StatusCode::OK,
        resource(&state.db, &tenant, &g, true).await?,
    ))
}

/// `members[value eq "id"]`: the id.
fn member_filter(path: &str) -> Option<String> {
    let inner = path
        .strip_prefix("members[")
        .or_else(|| path.strip_prefix("Members["))?
        .strip_suffix(']')?;
    let (attr, value) = inner.trim().split_once(char::is_whitespace)?;
    let (op, value) = value.trim_start().split_once(char::is_whitespace)?;
    if !attr.eq_ignore_ascii_case("value") || !op.eq_ignore_ascii_case("eq") {
        return None;
    }
    serde_json::from_str::<String>(value.trim()).ok()
}

/// One PatchOp operation folded into `change`.
fn patch_op(change: &mut Change, op: &Value) -> Result<(), ScimError> {
    let kind = op
        .get("op")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| ScimError::invalid_syntax("Each operation needs an op"))?;
    let path = op.get("path").and_then(Value::as_str).map(str::trim);
    let value = op.get("value");
    match (kind.as_str(), path) {
        ("add" | "replace", None) => {
            // The value is a partial resource.
            let Some(Value::Object(o)) = value else {
                return Err(ScimError::invalid_value(
                    "An operation without a path needs an object value",
                ));
            };
            for (k, v) in o {
                patch_attribute(change, &kind, k, Some(v))?;
            }
            Ok(())
        }
        (_, Some(p)) if member_filter(p).is_some() && kind == "remove" => {
            change.remove.extend(member_filter(p));
            Ok(())
        }
        (_, Some(p)) => patch_attribute(change, &kind, p, value),
        _ => Err(ScimError::invalid_value("Unsupported operation")),
    }
}

fn patch_attribute(
    change: &mut Change,
    kind: &str,
    attr: &str,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if attr.eq_ignore_ascii_case("displayName") {
        if kind == "remove" {
            return Err(ScimError::new(
                StatusCode::BAD_REQUEST,
                Some("mutability"),
                "displayName cannot be removed",
            ));
        }
        change.name = Some(display_name(value)?);
    } else if attr.eq_ignore_ascii_case("externalId") {
        change.external_id = Some(if kind == "remove" {
            None
        } else {
            external_id(value)?
        });
    } else if attr.eq_ignore_ascii_case("members") {
        let ids = value.map(member_ids).transpose()?.unwrap_or_default();
        match kind {
            "add" => change.add.extend(ids),
            "replace" => {
                change.set_members = Some(ids);
                change.add.clear();
                change.remove.clear();
            }
            "remove" if ids.is_empty() => change.remove_all = true,
            "remove" => change.remove.extend(ids),
            _ => return Err(ScimError::invalid_value("Unsupported operation")),
        }
    } else {
        return Err(ScimError::new(
            StatusCode::BAD_REQUEST,
            Some("invalidPath"),
            format!("Unsupported path: {attr}"),
        ));
    }
    Ok(())
}

async fn patch_group(
    State(state): State<AppState>,
    Path((connection_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let tenant = authorize(&state, &headers, &connection_id, "patch:groups").await?;
    let req = parse_body(&body)?;
    let schema_ok = req
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|v| v.as_str() == Some(PATCH_SCHEMA)));
    let ops = req.get("Operations").and_then(Value::as_array);
    let (true, Some(ops)) = (schema_ok, ops) else {
        return Err(ScimError::invalid_syntax(
            "A PatchOp message with Operations is expected",
        ));
    };
    let mut change = Change::default();
    for op in ops {
        patch_op(&mut change, op)?;
    }
    let g = apply(&state.db, &tenant.id, &connection_id, &id, &change).await?;
    Ok(scim_reply(
        StatusCode::OK,
        resource(&state.db, &tenant, &g, true).await?,
    ))
}

async fn delete_group(
    State(state): State<AppState>,
    Path((connection_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ScimResult {
    let tenant = authorize(&state, &headers, &connection_id, "delete:groups").await?;
    let (db, t, conn, id) = (
        &state.db,
        tenant.id.as_str(),
        connection_id.as_str(),
        id.as_str(),
    );
    atomically(|| async move {
        let tx = db.begin().await?;
        groups::find_for_update(&tx, t, id)
            .await?
            .filter(|g| g.connection_id == conn)
            .ok_or_else(|| ScimError::not_found(id))?;
        groups::delete(&tx, t, id).await?;
        tx.commit().await?;
        Ok::<_, ScimError>(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        assert_eq!(
            parse_filter(r#"displayName eq "Eng \"A\"""#).ok(),
            Some(("displayName", r#"Eng "A""#.to_owned()))
        );
        assert_eq!(
            parse_filter(r#"externalid EQ "x""#).ok(),
            Some(("externalId", "x".to_owned()))
        );
        assert!(parse_filter(r#"displayName co "x""#).is_err());
        assert!(parse_filter("displayName eq x").is_err());
        assert_eq!(
            member_filter(r#"members[value eq "auth0|1"]"#),
            Some("auth0|1".to_owned())
        );
        assert_eq!(member_filter("members"), None);
    }

    #[test]
    fn patch_ops_fold() {
        let mut c = Change::default();
        for op in [
            json!({"op": "Add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]}),
            json!({"op": "remove", "path": "members[value eq \"u3\"]"}),
            json!({"op": "replace", "value": {"displayName": "New", "externalId": "e"}}),
        ] {
            patch_op(&mut c, &op).ok();
        }
        assert_eq!(c.add, vec!["u1", "u2"]);
        assert_eq!(c.remove, vec!["u3"]);
        assert_eq!(c.name.as_deref(), Some("New"));
        assert_eq!(c.external_id, Some(Some("e".to_owned())));
        assert!(patch_op(&mut c, &json!({"op": "remove", "path": "displayName"})).is_err());
        assert!(
            patch_op(
                &mut c,
                &json!({"op": "add", "path": "nickname", "value": "x"})
            )
            .is_err()
        );
    }
}
