//! Tags `forms` and `flows`: forms (the nodes, steps and ending of a hosted form), flows (the
//! actions a form's ending or flow node runs), the flows' vault connections (credentials a flow
//! action uses: written and never shown) and the flows' executions.
//!
//! As Auth0 answers, members that are empty are not shown (a form sent `"messages": {}` shows
//! no `messages`), a PATCH replaces each top-level member it sends, and errors carry no
//! `errorCode`. Gatehouse does not run flows (they are started by hosted forms, which the
//! login pages do not serve yet): a flow has no executions, and says so truthfully.

use serde_json::{Map, Value, json};

use gatehouse_core::{Error, ids};
use gatehouse_spec::Op;

use super::collection::{COLLECTION, Collection, Listing};
use crate::spine::{
    Ctx, Input, Query, Registry, Reply, page::Checkpoint, page::Paging, page::project,
};

pub static FORMS: Collection = Collection {
    kind: "form",
    new_id: form_id,
    create: Some(Op::CreateForm),
    patch: Some(Op::PatchForm),
    delete: Some(Op::DeleteForm),
    listing: Listing::Offset,
    list_key: "forms",
    created: Some(new_form),
    check: Some(drop_empty_members),
    order: &[
        "id",
        "name",
        "messages",
        "languages",
        "translations",
        "nodes",
        "start",
        "ending",
        "style",
        "created_at",
        "updated_at",
        "embedded_at",
        "submitted_at",
    ],
    summary: &[
        "id",
        "name",
        "flow_count",
        "created_at",
        "updated_at",
        "embedded_at",
        "submitted_at",
    ],
    missing: no_form,
    ..COLLECTION
};

pub static FLOWS: Collection = Collection {
    kind: "flow",
    new_id: flow_id,
    create: Some(Op::PostFlows),
    patch: Some(Op::PatchFlowsById),
    delete: Some(Op::DeleteFlowsById),
    listing: Listing::Offset,
    list_key: "flows",
    check: Some(drop_empty_members),
    order: &[
        "id",
        "name",
        "actions",
        "created_at",
        "updated_at",
        "executed_at",
    ],
    summary: &[
        "id",
        "name",
        "form_count",
        "created_at",
        "updated_at",
        "executed_at",
    ],
    missing: no_flow,
    ..COLLECTION
};

/// A vault connection's keys, in Auth0's order (a list item shows them all but `setup`).
const CONNECTION_KEYS: &[&str] = &[
    "id",
    "app_id",
    "environment",
    "name",
    "account_name",
    "ready",
    "created_at",
    "updated_at",
    "refreshed_at",
    "fingerprint",
];

pub static VAULT: Collection = Collection {
    kind: "flow_vault_connection",
    new_id: connection_id,
    get: Some(Op::GetFlowsVaultConnectionsById),
    delete: Some(Op::DeleteFlowsVaultConnectionsById),
    listing: Listing::Offset,
    list_key: "connections",
    list: Some(Op::GetFlowsVaultConnections),
    check: Some(connection_state),
    order: CONNECTION_KEYS,
    hidden: &[SETUP],
    summary: CONNECTION_KEYS,
    missing: no_connection,
    ..COLLECTION
};

pub fn register(reg: &mut Registry) {
    FORMS.register(reg);
    FLOWS.register(reg);
    VAULT.register(reg);
    reg.add(Op::GetForms, list_forms);
    reg.add(Op::GetForm, get_form);
    reg.add(Op::GetFlows, list_flows);
    reg.add(Op::GetFlowsById, get_flow);
    reg.add(Op::PostFlowsVaultConnections, create_connection);
    reg.add(Op::PatchFlowsVaultConnectionsById, patch_connection);
    reg.add(Op::GetFlowsExecutions, list_executions);
    reg.add(Op::GetFlowsExecutionsByExecutionId, get_execution);
    reg.add(Op::DeleteFlowsExecutionsByExecutionId, delete_execution);
}

/// `<prefix>_` and 22 base58 characters, as Auth0's form, flow and connection ids.
fn form_id() -> String {
    format!("ap_{}", ids::base58(22))
}

fn flow_id() -> String {
    format!("af_{}", ids::base58(22))
}

fn connection_id() -> String {
    format!("ac_{}", ids::base58(22))
}

// Recorded: TestAccFormDataSource#2, TestAccFlowDataSource#2, TestAccVaultConnectionDataSource#2.
fn no_form() -> Error {
    Error::NotFound("Form not found".into())
}

fn no_flow() -> Error {
    Error::NotFound("Flow not found".into())
}

fn no_connection() -> Error {
    Error::NotFound("Connection not found".into())
}

/// A form without an ending resumes the login flow (recorded: go-auth0 TestFormManager_Update#0).
fn new_form() -> Value {
    json!({"ending": {"resume_flow": true}})
}

/// Members that are empty (`{}`, `[]`) are not kept: Auth0 shows none of them.
fn drop_empty_members(v: &mut Value, _: Option<&Value>) -> Result<(), Error> {
    if let Value::Object(o) = v {
        o.retain(|_, x| match x {
            Value::Object(m) => !m.is_empty(),
            Value::Array(a) => !a.is_empty(),
            _ => true,
        });
    }
    Ok(())
}

/// The flows a form runs: its flow nodes' and its ending's `flow_id`s.
fn flows_of(form: &Value) -> Vec<&str> {
    let nodes = form
        .get("nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|n| n.get("type").and_then(Value::as_str) == Some("FLOW"))
        .filter_map(|n| n.pointer("/config/flow_id").and_then(Value::as_str));
    let ending = form
        .pointer("/ending/after_submit/flow_id")
        .and_then(Value::as_str);
    let mut all: Vec<&str> = nodes.chain(ending).collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Whether the query's `hydrate` asks for `what`.
fn hydrates(q: &Query, what: &str) -> bool {
    q.list("hydrate")
        .is_some_and(|l| l.iter().any(|h| h == what))
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    if let Value::Object(o) = &mut v {
        o.insert(key.to_owned(), value);
    }
    v
}

/// A form, with `flow_count` when `hydrate` asks for it.
fn hydrated_form(form: Value, q: &Query) -> Value {
    if hydrates(q, "flow_count") {
        let n = flows_of(&form).len();
        with(form, "flow_count", json!(n))
    } else {
        form
    }
}

async fn list_forms(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let q = &input.query;
    let forms = FORMS.all(&ctx).await?;
    let forms = forms.into_iter().map(|f| hydrated_form(f, q)).collect();
    Ok(Reply::json(FORMS.page(forms, q)))
}

async fn get_form(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let form = FORMS.load(&ctx, input.path("id")).await?;
    let form = hydrated_form(form, &input.query);
    Ok(Reply::json(project(FORMS.shown(form), &input.query)))
}

/// Flows with `form_count` (how many forms run each) when `hydrate` asks for it.
async fn hydrated_flows(ctx: &Ctx, flows: Vec<Value>, q: &Query) -> Result<Vec<Value>, Error> {
    if !hydrates(q, "form_count") {
        return Ok(flows);
    }
    let forms = FORMS.all(ctx).await?;
    Ok(flows
        .into_iter()
        .map(|flow| {
            let id = flow.get("id").and_then(Value::as_str).unwrap_or_default();
            let n = forms.iter().filter(|f| flows_of(f).contains(&id)).count();
            with(flow, "form_count", json!(n))
        })
        .collect())
}

async fn list_flows(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let q = &input.query;
    let flows = FLOWS.all(&ctx).await?;
    let flows = hydrated_flows(&ctx, flows, q).await?;
    Ok(Reply::json(FLOWS.page(flows, q)))
}

async fn get_flow(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let flow = FLOWS.load(&ctx, input.path("id")).await?;
    let mut flows = hydrated_flows(&ctx, vec![flow], &input.query).await?;
    let flow = flows.pop().unwrap_or(Value::Null);
    Ok(Reply::json(project(FLOWS.shown(flow), &input.query)))
}

/// Where a connection's credentials are kept (never shown).
const SETUP: &str = "setup";

/// A connection is `ready` once it has credentials; its `fingerprint` changes with every
/// write (as Auth0's does), and `account_name` names a bearer token's account without
/// showing the token.
fn connection_state(v: &mut Value, _: Option<&Value>) -> Result<(), Error> {
    let Value::Object(o) = v else { return Ok(()) };
    let setup = o.get(SETUP).and_then(Value::as_object).cloned();
    o.insert("ready".into(), json!(setup.is_some()));
    o.insert("fingerprint".into(), json!(ids::hex_key(16)));
    match setup.as_ref().and_then(account_name) {
        Some(name) => o.insert("account_name".into(), json!(name)),
        None => o.remove("account_name"),
    };
    Ok(())
}

/// `Bearer abc***xyz` for a bearer token: its first and last three characters (Auth0's
/// label, recorded in go-auth0 TestFlowVaultConnectionManager_Create#0); none for other kinds.
fn account_name(setup: &Map<String, Value>) -> Option<String> {
    if setup.get("type").and_then(Value::as_str) != Some("BEARER") {
        return None;
    }
    let token: Vec<char> = setup.get("token")?.as_str()?.chars().collect();
    if token.len() < 8 {
        return Some("Bearer ***".into());
    }
    let head: String = token[..3].iter().collect();
    let tail: String = token[token.len() - 3..].iter().collect();
    Some(format!("Bearer {head}***{tail}"))
}

/// A write's reply shows `refreshed_at: null` until the credentials were refreshed (recorded:
/// TestAccVaultConnection#0, #4; reads leave it out).
fn written_connection(v: Value) -> Value {
    let mut shown = VAULT.shown(v);
    if let Value::Object(o) = &mut shown {
        o.entry("refreshed_at").or_insert(Value::Null);
    }
    VAULT.shown(shown)
}

async fn create_connection(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let conn = VAULT
        .create_object(&ctx, Value::Object(input.body_object()))
        .await?;
    Ok(Reply::json(written_connection(conn)))
}

async fn patch_connection(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let body = Value::Object(input.body_object());
    let conn = VAULT.patch_object(&ctx, input.path("id"), &body).await?;
    Ok(Reply::json(written_connection(conn)))
}

/// A flow's executions: none, since Gatehouse has not run any flow. The reply takes the form
/// the query asks for (checkpoint, offset with totals, or a bare array).
async fn list_executions(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    FLOWS.load(&ctx, input.path("flow_id")).await?;
    let q = &input.query;
    let body = match Checkpoint::from_query(q) {
        Some(c) => c.reply("executions", vec![], 0),
        None => Paging::from_query(q).reply("executions", vec![], 0),
    };
    Ok(Reply::json(body))
}

fn no_execution() -> Error {
    Error::NotFound("Flow execution not found".into())
}

async fn get_execution(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    FLOWS.load(&ctx, input.path("flow_id")).await?;
    Err(no_execution())
}

/// Deleting an execution that is not there is no error (the spec lists no 404).
async fn delete_execution(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    FLOWS.load(&ctx, input.path("flow_id")).await?;
    Ok(Reply::empty())
}
