//! The spine: every `/api/v2` request is routed from the spec, authenticated, scope-checked,
//! answered 501 when no handler exists, validated, and only then dispatched to its family's
//! handler. Families never repeat these steps.

pub mod auth;
pub mod input;
pub mod multipart;
pub mod page;
pub mod router;
pub mod validate;

use std::{future::Future, pin::Pin, sync::Arc};

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::Value;

use gatehouse_core::Error;
use gatehouse_spec::{OPERATIONS, Op};
use gatehouse_store::{Db, Transient};

pub use auth::Principal;
pub use input::{Input, Query, Reply};

use crate::state::{AppState, Tenant};

/// Largest request body accepted (Auth0 refuses large payloads too).
pub const MAX_BODY: usize = 1024 * 1024;

/// Everything a handler may need about the request beyond its input.
#[derive(Clone)]
pub struct Ctx {
    pub state: AppState,
    pub tenant: Arc<Tenant>,
    pub principal: Arc<Principal>,
    pub op: Op,
}

impl Ctx {
    pub fn db(&self) -> &Db {
        &self.state.db
    }

    pub fn tenant_id(&self) -> &str {
        &self.tenant.id
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.principal.has_scope(scope)
    }
}

pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Reply, Error>> + Send>>;
type Handler = Arc<dyn Fn(Ctx, Input) -> HandlerFuture + Send + Sync>;

/// Handlers by operation.
pub struct Registry {
    handlers: Vec<Option<Handler>>,
    /// Operations whose body may set any top-level field to `null` (Auth0 reads it as "unset"
    /// even where the spec's schema does not say nullable).
    null_unsets: Vec<bool>,
    /// Operations that take a larger body than [`MAX_BODY`] (an import's file).
    body_limits: Vec<Option<usize>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            handlers: OPERATIONS.iter().map(|_| None).collect(),
            null_unsets: OPERATIONS.iter().map(|_| false).collect(),
            body_limits: OPERATIONS.iter().map(|_| None).collect(),
        }
    }
}

impl Registry {
    pub fn add<F, Fut>(&mut self, op: Op, f: F)
    where
        F: Fn(Ctx, Input) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Reply, Error>> + Send + 'static,
    {
        if let Some(slot) = self.handlers.get_mut(op as usize) {
            *slot = Some(Arc::new(move |ctx, input| Box::pin(f(ctx, input))));
        }
    }

    /// Lets `op`'s body carry `null` for any top-level field: those are left out of schema validation.
    pub fn allow_null_unset(&mut self, op: Op) {
        if let Some(slot) = self.null_unsets.get_mut(op as usize) {
            *slot = true;
        }
    }

    pub fn null_unsets(&self, op: Op) -> bool {
        self.null_unsets.get(op as usize).copied().unwrap_or(false)
    }

    /// Lets `op`'s body be up to `bytes` long (instead of [`MAX_BODY`]).
    pub fn set_body_limit(&mut self, op: Op, bytes: usize) {
        if let Some(slot) = self.body_limits.get_mut(op as usize) {
            *slot = Some(bytes);
        }
    }

    /// The largest body `op` accepts.
    pub fn body_limit(&self, op: Op) -> usize {
        self.body_limits
            .get(op as usize)
            .copied()
            .flatten()
            .unwrap_or(MAX_BODY)
    }

    pub fn get(&self, op: Op) -> Option<&Handler> {
        self.handlers.get(op as usize).and_then(Option::as_ref)
    }
}

/// Auth0's error JSON with the error's status.
pub fn error_response(e: &Error) -> Response {
    if let Error::Internal(inner) = e {
        tracing::error!(error = ?inner, "internal error");
    }
    let status =
        StatusCode::from_u16(e.status().as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(e.body())).into_response()
}

fn decode(raw: &str) -> Result<String, Error> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| Error::InvalidUri("Path validation error: 'invalid percent-encoding'.".into()))
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

/// The request body as JSON; `None` when the operation takes no body. Any JSON value comes back
/// as it was sent (`null`, an array, a number): the caller validates it against the schema.
fn parse_body(op: Op, headers: &HeaderMap, bytes: &Bytes) -> Result<Option<Value>, Error> {
    let info = op.info();
    if info.body_schema.is_none() {
        return Ok(None);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(Value::Object(serde_json::Map::new())));
    }
    match content_type(headers).as_deref() {
        Some("application/x-www-form-urlencoded")
            if info
                .content_types
                .contains(&"application/x-www-form-urlencoded") =>
        {
            validate::form_to_json(bytes).map(Some)
        }
        None | Some("application/json") => serde_json::from_slice(bytes)
            .map(Some)
            .map_err(|_| Error::bad_body("Invalid request payload JSON format")),
        Some(other) if other.ends_with("+json") => serde_json::from_slice(bytes)
            .map(Some)
            .map_err(|_| Error::bad_body("Invalid request payload JSON format")),
        Some(other) => Err(Error::UnsupportedMediaType(
            format!("Unsupported content type: {other}").into(),
        )),
    }
}

/// A body that could not be read: 413 only when it really exceeds [`MAX_BODY`]; a body the
/// client broke off or framed wrongly (bad chunked encoding) is the client's 400.
fn unreadable_body(e: axum::Error, limit: usize) -> Error {
    let inner = e.into_inner();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&*inner);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return Error::PayloadTooLarge(
                format!("Payload content length greater than maximum allowed: {limit}").into(),
            );
        }
        cause = c.source();
    }
    Error::bad_body("Invalid request payload: the body could not be read")
}

/// The query string's pairs. Percent-escapes that do not decode to UTF-8 are refused (the
/// form decoder would silently turn them into U+FFFD).
fn parse_query(raw: &str) -> Result<Query, Error> {
    let malformed =
        || Error::InvalidQueryString("Query validation error: 'malformed query string'.".into());
    if raw.split('&').any(|pair| {
        percent_encoding::percent_decode_str(pair)
            .decode_utf8()
            .is_err()
    }) {
        return Err(malformed());
    }
    serde_urlencoded::from_str(raw)
        .map(Query)
        .map_err(|_| malformed())
}

/// The one axum handler behind `/api/v2/*`.
pub async fn dispatch(State(state): State<AppState>, req: Request) -> Response {
    match run(state, req).await {
        Ok(r) => r,
        // A conflict between transactions that no handler retried is still not a 500.
        Err(e) if e.is_transient() => error_response(&e.exhausted()),
        Err(e) => error_response(&e),
    }
}

async fn run(state: AppState, req: Request) -> Result<Response, Error> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().strip_prefix("/api/v2").unwrap_or("");
    let matched = match state.routes.find(&parts.method, path) {
        router::Match::Found(m) => m,
        router::Match::NoRoute | router::Match::NoMethod => return Err(Error::RouteNotFound),
    };
    let op = matched.op;
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let tenant = state.tenant_for_host(host);
    let authz = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    let principal = auth::authenticate(&state.token_cache, &tenant, authz)?;
    // From here on the caller is known: a write is logged, answered or refused.
    let audit =
        (parts.method != axum::http::Method::GET).then(|| Audit::of(op, &parts, &principal));
    let logs_state = state.clone();
    let tenant_id = tenant.id.clone();
    let result = authorized(state, parts, body, matched.params, op, tenant, principal).await;
    if let Some(a) = audit {
        let entry = match &result {
            Ok(r) => a.entry("sapi", r.status().as_u16(), None),
            Err(e) => a.entry("fapi", e.status().as_u16(), Some(e.public_message())),
        };
        logs_state.logs.record(&tenant_id, entry).await;
    }
    result
}

/// What the log entry of a Management API write says about its request (never a body, a
/// query string or a token).
struct Audit {
    summary: &'static str,
    method: String,
    path: String,
    ip: Option<String>,
    user_agent: Option<String>,
    client_id: Option<String>,
}

impl Audit {
    fn of(op: Op, parts: &axum::http::request::Parts, p: &Principal) -> Self {
        Self {
            summary: op.info().summary,
            method: parts.method.as_str().to_ascii_lowercase(),
            path: parts.uri.path().to_owned(),
            ip: parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned),
            client_id: p.client_id.clone(),
        }
    }

    fn entry(self, code: &str, status: u16, error: Option<String>) -> crate::logs::Entry {
        let mut response = serde_json::json!({ "statusCode": status });
        if let Some(e) = error {
            response["error"] = Value::String(e);
        }
        crate::logs::Entry::new(code, self.summary)
            .set("client_id", self.client_id.clone())
            .set("ip", self.ip.clone())
            .set("user_agent", self.user_agent.clone())
            .details(serde_json::json!({
                "request": {
                    "method": self.method,
                    "path": self.path,
                    "channel": "api",
                    "ip": self.ip,
                    "userAgent": self.user_agent,
                    "auth": {"strategy": "jwt", "credentials": {"client_id": self.client_id}},
                },
                "response": response,
            }))
    }
}

async fn authorized(
    state: AppState,
    parts: axum::http::request::Parts,
    body: Body,
    params: Vec<(&'static str, String)>,
    op: Op,
    tenant: Arc<Tenant>,
    principal: Arc<Principal>,
) -> Result<Response, Error> {
    auth::check_scopes(&principal, op.info().scopes)?;
    let Some(handler) = state.registry.get(op).cloned() else {
        return Err(Error::NotImplemented(op.info().id));
    };

    let params = params
        .into_iter()
        .map(|(name, raw)| Ok((name, decode(&raw)?)))
        .collect::<Result<Vec<_>, Error>>()?;
    validate::no_nul_in_path(&params)?;
    validate::path(&state.validators, op, &params)?;
    let query = parse_query(parts.uri.query().unwrap_or(""))?;
    validate::no_nul_in_query(&query)?;
    validate::query(&state.validators, op, &query)?;
    let limit = state.registry.body_limit(op);
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| unreadable_body(e, limit))?;
    let body = match parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        Some(ct)
            if content_type(&parts.headers).as_deref() == Some("multipart/form-data")
                && op.info().content_types.contains(&"multipart/form-data") =>
        {
            Some(multipart::to_json(ct, bytes).await?)
        }
        _ => parse_body(op, &parts.headers, &bytes)?,
    };
    if let Some(b) = &body {
        validate::no_nul_in_body(b)?;
    }
    // Every body the operation takes is validated, whatever its JSON type (`null` included).
    match &body {
        None => {}
        Some(Value::Object(o)) if state.registry.null_unsets(op) => {
            let set: serde_json::Map<String, Value> = o
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            // A body of nulls only unsets: there is nothing left to validate.
            if !set.is_empty() || o.is_empty() {
                validate::body(&state.validators, op, &Value::Object(set))?;
            }
        }
        Some(b) => validate::body(&state.validators, op, b)?,
    }
    let body = body.unwrap_or(Value::Null);

    let ctx = Ctx {
        state,
        tenant,
        principal,
        op,
    };
    let reply = handler(
        ctx,
        Input {
            path: params,
            query,
            body,
        },
    )
    .await?;
    let status = reply.status.unwrap_or_else(|| op.success_status());
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if let Some(s) = reply.stream {
        return Ok((status, [(header::CONTENT_TYPE, s.content_type)], s.body).into_response());
    }
    Ok(match reply.body {
        Some(v) => (status, axum::Json(v)).into_response(),
        // No body and no status of its own: the spec's 200 becomes 204; a handler that asks
        // for 200 explicitly gets an empty 200.
        None if status == StatusCode::OK && reply.status.is_none() => {
            (StatusCode::NO_CONTENT, Body::empty()).into_response()
        }
        None => (status, Body::empty()).into_response(),
    })
}
