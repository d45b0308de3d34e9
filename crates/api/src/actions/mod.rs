//! Tag `actions`: customer code that runs at Auth0's triggers.
//!
//! An action is a draft (`code`, `dependencies`, `runtime`, `secrets`, `modules`) that is
//! *built* when written and *deployed* as an immutable, numbered version; trigger bindings
//! (`bindings.rs`) order the deployed versions that run at a trigger; `run.rs` runs them in the
//! embedded engine (`gatehouse-actions`) and keeps each execution's record; `modules.rs` holds
//! the shared code modules and their published versions.
//!
//! The build is this server's: npm dependencies cannot be installed here, so a draft that
//! names any fails its build with an error saying so (Auth0 reports a failed build the same
//! way: `status: "failed"`, and the deploy refused). Like Auth0's, the build does not check
//! the code: Auth0 built and deployed code with a syntax error (recorded:
//! TestAccTriggerAction); such code fails when it runs, with the compiler's message.
//! A write's reply says `pending`, as Auth0's does, since Auth0 builds after answering; the
//! build here is done when the write commits, and every later read shows its result.

pub mod bindings;
pub mod modules;
pub mod run;
pub mod triggers;
mod versions;

use serde_json::{Map, Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_spec::Op;
use gatehouse_store::{Page, Tx, atomically, docs};

use crate::config::collection::{COLLECTION, Collection};
use crate::spine::{Ctx, Input, Query, Registry, Reply, page::project};

pub use run::Runtime;

pub(crate) const ACTION: &str = "action";
/// Where an action's (and a version's) secret values are kept; never shown.
const SECRET_VALUES: &str = "secret_values";
/// Why the draft's last build failed; never shown as such (the deploy refusal says it).
const BUILD_ERRORS: &str = "build_errors";

pub(crate) static ACTIONS: Collection = Collection {
    kind: ACTION,
    get: Some(Op::GetAction),
    order: &[
        "id",
        "name",
        "supported_triggers",
        "created_at",
        "updated_at",
        "code",
        "dependencies",
        "runtime",
        "status",
        "secrets",
        "modules",
        "current_version",
        "deployed_version",
        "all_changes_deployed",
    ],
    hidden: &[SECRET_VALUES, BUILD_ERRORS],
    missing: no_action,
    ..COLLECTION
};

/// An action's versions: the order of their keys as Auth0 answers them (recorded:
/// TestAccAction).
pub(crate) static VERSIONS: versions::Versions = versions::Versions {
    parent: &ACTIONS,
    parent_param: "actionId",
    id_param: "id",
    page: sparse_page,
    prefix: "action_version",
    number_key: "number",
    order: VERSION_ORDER,
    missing: no_version,
};

const VERSION_ORDER: &[&str] = &[
    "action_id",
    "code",
    "dependencies",
    "id",
    "deployed",
    "number",
    "built_at",
    "secrets",
    "modules",
    "status",
    "created_at",
    "updated_at",
    "runtime",
    "supported_triggers",
    "action",
];

pub fn register(reg: &mut Registry) {
    ACTIONS.register(reg);
    reg.add(Op::GetActions, list);
    reg.add(Op::PostAction, create);
    reg.add(Op::PatchAction, patch);
    reg.add(Op::DeleteAction, delete);
    reg.add(Op::PostDeployAction, deploy);
    reg.add(Op::PostDeployDraftVersion, roll_back);
    VERSIONS.register(reg, Op::GetActionVersions, Op::GetActionVersion);
    reg.add(Op::PostTestAction, run::test);
    reg.add(Op::GetExecution, run::get_execution);
    reg.add(Op::GetTriggers, |_ctx, _input| async {
        Ok(Reply::json(triggers::list()))
    });
    bindings::register(reg);
    modules::register(reg);
}

/// Recorded (TestAccEventStreamAction): a plain 404, no errorCode.
pub(crate) fn no_action() -> Error {
    Error::NotFound("That action does not exist.".into())
}

fn no_version() -> Error {
    Error::NotFound("That action version does not exist.".into())
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The ids of the triggers an action supports.
pub(crate) fn trigger_ids(action: &Value) -> Vec<String> {
    action
        .get("supported_triggers")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .filter_map(|t| t.get("id").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A list page in the form of Auth0's actions service: `{<key>, total, page, per_page}` where
/// `total` counts the items of this page and a zero `total` or `page` is left out (recorded:
/// TestAccTriggerAction; the SDKs page on while `total` is above zero).
pub(crate) fn sparse_page(key: &str, items: Vec<Value>, q: &Query) -> Value {
    let (window, page, per_page) = window(items, q);
    let mut env = Map::new();
    let n = window.len();
    env.insert(key.into(), Value::Array(window));
    if n > 0 {
        env.insert("total".into(), json!(n));
    }
    if page > 0 {
        env.insert("page".into(), json!(page));
    }
    if per_page > 0 {
        env.insert("per_page".into(), json!(per_page));
    }
    Value::Object(env)
}

/// The page `q` asks for: the items, the page number and the page size (Auth0's default 20).
pub(crate) fn window(items: Vec<Value>, q: &Query) -> (Vec<Value>, i64, i64) {
    let page = q.i64("page").unwrap_or(0).max(0);
    let per_page = q.i64("per_page").unwrap_or(20).clamp(1, 100);
    let skip = usize::try_from(page.saturating_mul(per_page)).unwrap_or(usize::MAX);
    let take = usize::try_from(per_page).unwrap_or(usize::MAX);
    let window = items.into_iter().skip(skip).take(take).collect();
    (window, page, per_page)
}

/// Secrets as a reply shows them (`[{name, updated_at}]`) and their values, from a request's
/// `[{name, value}]`: the secrets `before` had keep their place, a name sent without a value
/// keeps its value, and every secret is stamped `now` (recorded: TestAccAction #17).
fn secrets_from(
    sent: &[Value],
    before: Option<&Map<String, Value>>,
    before_order: &[String],
    now: &str,
) -> Result<(Vec<Value>, Map<String, Value>), Error> {
    let mut values = Map::new();
    let mut names: Vec<String> = Vec::new();
    for s in sent {
        let name = s
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Error::bad_body("A secret needs a name"))?;
        let value = match s.get("value").and_then(Value::as_str) {
            Some(v) => json!(v),
            None => before
                .and_then(|b| b.get(name))
                .cloned()
                .unwrap_or_else(|| json!("")),
        };
        values.insert(name.to_owned(), value);
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    let mut ordered: Vec<&String> = before_order.iter().filter(|n| names.contains(n)).collect();
    ordered.extend(names.iter().filter(|n| !before_order.contains(n)));
    let shown = ordered
        .into_iter()
        .map(|n| json!({"name": n, "updated_at": now}))
        .collect();
    Ok((shown, values))
}

/// Applies a request body to a draft (an action's or a module's): the `fields` it sends (a
/// `null` leaves a field as it is), and its `secrets`, which replace the draft's (see
/// [`secrets_from`]). Creation applies the body to the family's new draft.
fn apply_draft(draft: &mut Value, body: &Map<String, Value>, fields: &[&str]) -> Result<(), Error> {
    let before_values = draft.get(SECRET_VALUES).and_then(Value::as_object).cloned();
    let before_order = secret_names(draft);
    let Value::Object(o) = draft else {
        return Ok(());
    };
    for k in fields {
        if let Some(v) = body.get(*k).filter(|v| !v.is_null()) {
            o.insert((*k).into(), v.clone());
        }
    }
    if let Some(sent) = body.get("secrets").and_then(Value::as_array) {
        let (secrets, values) =
            secrets_from(sent, before_values.as_ref(), &before_order, &time::now())?;
        o.insert("secrets".into(), Value::Array(secrets));
        o.insert(SECRET_VALUES.into(), Value::Object(values));
    }
    Ok(())
}

/// The fields of an action's draft a body may set.
const DRAFT_FIELDS: &[&str] = &[
    "name",
    "supported_triggers",
    "code",
    "dependencies",
    "runtime",
];

fn secret_names(a: &Value) -> Vec<String> {
    a.get("secrets")
        .and_then(Value::as_array)
        .map(|s| {
            s.iter()
                .filter_map(|x| x.get("name").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Builds the draft: it must need no npm package.
fn build(a: &mut Value) {
    let mut errors = Vec::new();
    let deps: Vec<String> = a
        .get("dependencies")
        .and_then(Value::as_array)
        .map(|d| {
            d.iter()
                .map(|x| format!("{}@{}", str_of(x, "name"), str_of(x, "version")))
                .collect()
        })
        .unwrap_or_default();
    if !deps.is_empty() {
        errors.push(json!({
            "id": "dependencies_not_installed",
            "msg": format!(
                "npm dependencies cannot be installed on this server: {}",
                deps.join(", ")
            ),
        }));
    }
    if let Value::Object(o) = a {
        let status = if errors.is_empty() { "built" } else { "failed" };
        o.insert("status".into(), json!(status));
        o.insert(BUILD_ERRORS.into(), Value::Array(errors));
    }
}

/// A write's reply: the build is reported as queued, as Auth0 answers.
fn as_written(mut shown: Value) -> Value {
    if let Value::Object(o) = &mut shown {
        o.insert("status".into(), json!("pending"));
    }
    shown
}

async fn list(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let q = &input.query;
    let mut items = ACTIONS.all(&ctx).await?;
    items.retain(|a| {
        q.get("triggerId")
            .is_none_or(|t| trigger_ids(a).iter().any(|x| x == t))
            && q.get("actionName").is_none_or(|n| str_of(a, "name") == n)
            && q
                .bool("deployed")
                .is_none_or(|d| a.get("deployed_version").is_some() == d)
            // No action of this server comes from a marketplace integration.
            && q.bool("installed") != Some(true)
    });
    let shown = items
        .into_iter()
        .map(|a| project(ACTIONS.shown(a), q))
        .collect();
    Ok(Reply::json(sparse_page("actions", shown, q)))
}

async fn create(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let body = input.body_object();
    // Auth0's defaults for what a new action's body leaves out (recorded: TestAccAction).
    let mut a = json!({
        "code": "",
        "dependencies": [],
        "runtime": triggers::DEFAULT_RUNTIME,
        "secrets": [],
        "all_changes_deployed": false,
        SECRET_VALUES: {},
    });
    apply_draft(&mut a, &body, DRAFT_FIELDS)?;
    if let (Some(m), Value::Object(o)) = (body.get("modules"), &mut a) {
        o.insert("modules".into(), modules::resolve(&ctx, m).await?);
    }
    build(&mut a);
    let created = ACTIONS.create_object(&ctx, a).await?;
    let mut reply = as_written(ACTIONS.shown(created.clone()));
    // `deploy: true` deploys what was built; a draft whose build failed stays undeployed, as
    // its status says (the action is created either way).
    if body.get("deploy").and_then(Value::as_bool) == Some(true)
        && str_of(&created, "status") == "built"
    {
        let id = str_of(&created, "id").to_owned();
        deploy_version(&ctx, &id, None).await?;
        reply = as_written(ACTIONS.shown(ACTIONS.load(&ctx, &id).await?));
    }
    Ok(Reply::json(reply))
}

async fn patch(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let body = input.body_object();
    let modules = match body.get("modules") {
        Some(m) => Some(modules::resolve(&ctx, m).await?),
        None => None,
    };
    let (body, modules) = (&body, &modules);
    let updated = ACTIONS
        .update(&ctx, input.path("id"), move |a| {
            apply_draft(a, body, DRAFT_FIELDS)?;
            let Value::Object(o) = a else {
                return Err(no_action());
            };
            if let Some(m) = modules {
                o.insert("modules".into(), m.clone());
            }
            o.insert("all_changes_deployed".into(), json!(false));
            build(a);
            Ok(())
        })
        .await?;
    Ok(Reply::json(as_written(ACTIONS.shown(updated))))
}

/// Deletes an action and its versions. A bound action is refused unless `force=true`, which
/// unbinds it first (in the same transaction).
async fn delete(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let id = input.path("id");
    let force = input.query.bool("force").unwrap_or(false);
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    atomically(|| async move {
        let tx = db.begin().await?;
        if !delete_in(&tx, tenant, id, force).await? {
            return Err(no_action());
        }
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    ctx.state.actions.invalidate(tenant);
    Ok(Reply::empty())
}

/// Deletes an action with its versions in the caller's transaction (bound to a trigger: a
/// conflict unless `force`, which unbinds it); `false` when there is no such action. The caller
/// drops the cached bindings after its commit.
pub(crate) async fn delete_in(tx: &Tx, tenant: &str, id: &str, force: bool) -> Result<bool, Error> {
    let now = time::now();
    let Some(action) = docs::lock(tx, tenant, ACTION, id).await? else {
        return Ok(false);
    };
    for trigger in trigger_ids(&action) {
        if let Some(mut b) = docs::lock(tx, tenant, bindings::BINDINGS, &trigger).await?
            && bindings::unbind(&mut b, id)
        {
            if !force {
                return Err(Error::ConflictPlain(
                    "Unable to delete an action bound to a trigger.".into(),
                ));
            }
            docs::put(tx, tenant, bindings::BINDINGS, &trigger, &b, &now).await?;
        }
    }
    let kind = VERSIONS.kind(id);
    for v in docs::list(tx, tenant, &kind, Page::ALL).await?.0 {
        docs::delete(tx, tenant, &kind, str_of(&v, "id")).await?;
    }
    docs::delete(tx, tenant, ACTION, id).await?;
    Ok(true)
}

/// `POST /actions/actions/{id}/deploy`: the draft becomes a new version, deployed. Auth0
/// answers 200 (recorded, 11 times; the spec says 202).
async fn deploy(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let v = deploy_version(&ctx, input.path("id"), None).await?;
    Ok(Reply::with_status(200, v))
}

/// `POST /actions/actions/{actionId}/versions/{id}/deploy`: rolls back to a version by
/// deploying a copy of it as the next version; `update_draft` also makes it the draft.
async fn roll_back(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let update_draft = input
        .body
        .get("update_draft")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let v = deploy_version(
        &ctx,
        input.path("actionId"),
        Some((input.path("id"), update_draft)),
    )
    .await?;
    Ok(Reply::with_status(200, v))
}

/// Deploys the draft (`from: None`) or a copy of one of its versions: one transaction with the
/// action's row locked. Answers the new version as Auth0 does, as it was queued (`deployed:
/// false`, not yet `built_at`), with the action's summary.
async fn deploy_version(ctx: &Ctx, id: &str, from: Option<(&str, bool)>) -> Result<Value, Error> {
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let reply = atomically(|| async move {
        let tx = db.begin().await?;
        let now = time::now();
        let mut action = docs::lock(&tx, tenant, ACTION, id)
            .await?
            .ok_or_else(no_action)?;
        let kind = VERSIONS.kind(id);
        let versions = VERSIONS.newest_first(&tx, tenant, id).await?;
        let number = VERSIONS.next_number(&versions);
        let source = match from {
            None => {
                if str_of(&action, "status") != "built" {
                    return Err(not_built(&action));
                }
                action.clone()
            }
            Some((vid, _)) => versions
                .iter()
                .find(|v| str_of(v, "id") == vid)
                .cloned()
                .ok_or_else(no_version)?,
        };
        let vid = ids::uuid_v4();
        let mut version = Map::new();
        version.insert("action_id".into(), json!(id));
        for k in ["code", "dependencies"] {
            version.insert(k.into(), source.get(k).cloned().unwrap_or(json!([])));
        }
        version.insert("id".into(), json!(vid));
        version.insert("deployed".into(), json!(false));
        version.insert("number".into(), json!(number));
        version.insert(
            "secrets".into(),
            source.get("secrets").cloned().unwrap_or(json!([])),
        );
        if let Some(m) = source.get("modules") {
            version.insert("modules".into(), m.clone());
        }
        version.insert("status".into(), json!("built"));
        version.insert("created_at".into(), json!(now));
        version.insert("updated_at".into(), json!(now));
        for k in ["runtime", "supported_triggers", SECRET_VALUES] {
            if let Some(v) = source.get(k) {
                version.insert(k.into(), v.clone());
            }
        }
        let queued = Value::Object(version.clone());
        version.insert("deployed".into(), json!(true));
        version.insert("built_at".into(), json!(now));
        let version = Value::Object(version);
        if let Some(prev) = action
            .pointer("/deployed_version/id")
            .and_then(Value::as_str)
            && let Some(mut p) = docs::lock(&tx, tenant, &kind, prev).await?
        {
            if let Value::Object(o) = &mut p {
                o.insert("deployed".into(), json!(false));
            }
            docs::put(&tx, tenant, &kind, prev, &p, &now).await?;
        }
        docs::put(&tx, tenant, &kind, &vid, &version, &now).await?;
        let update_draft = from.is_none_or(|(_, u)| u);
        if let Value::Object(o) = &mut action {
            if from.is_some() && update_draft {
                for k in [
                    "code",
                    "dependencies",
                    "runtime",
                    "secrets",
                    "modules",
                    SECRET_VALUES,
                ] {
                    match version.get(k) {
                        Some(v) => o.insert(k.into(), v.clone()),
                        None => o.shift_remove(k),
                    };
                }
                o.insert("status".into(), json!("built"));
                o.insert("updated_at".into(), json!(now));
            }
            o.insert("current_version".into(), compact(&version));
            o.insert("deployed_version".into(), shown_version(version.clone()));
            o.insert("all_changes_deployed".into(), json!(update_draft));
        }
        docs::put(&tx, tenant, ACTION, id, &action, &now).await?;
        tx.commit().await?;
        let mut reply = shown_version(queued);
        if let Value::Object(o) = &mut reply {
            o.insert("action".into(), summary(&action, false));
        }
        Ok::<_, Error>(reply)
    })
    .await?;
    ctx.state.actions.invalidate(tenant);
    Ok(reply)
}

/// Auth0's refusal of a deploy before the build succeeded, with the build's errors.
fn not_built(action: &Value) -> Error {
    let why: Vec<&str> = action
        .get(BUILD_ERRORS)
        .and_then(Value::as_array)
        .map(|e| e.iter().map(|x| str_of(x, "msg")).collect())
        .unwrap_or_default();
    let mut msg = "A draft must be in the 'built' state before it can be deployed.".to_owned();
    if !why.is_empty() {
        msg.push_str(&format!(" The build failed: {}", why.join("; ")));
    }
    Error::BadRequestPlain(msg.into())
}

/// A version as an action or a deploy shows it: no `action_id` (only lists and the version's
/// own GET show it).
fn shown_version(v: Value) -> Value {
    let mut v = VERSIONS.shown(v);
    if let Value::Object(o) = &mut v {
        o.shift_remove("action_id");
    }
    v
}

/// `current_version`: Auth0's compact form of the deployed version (status in capitals,
/// `build_time`).
fn compact(v: &Value) -> Value {
    json!({
        "id": v.get("id"),
        "code": v.get("code"),
        "runtime": v.get("runtime"),
        "status": "BUILT",
        "number": v.get("number"),
        "build_time": v.get("built_at"),
        "created_at": v.get("created_at"),
        "updated_at": v.get("updated_at"),
    })
}

/// An action as a version or a binding embeds it.
pub(crate) fn summary(a: &Value, versions: bool) -> Value {
    let mut o = Map::new();
    for k in [
        "id",
        "name",
        "supported_triggers",
        "created_at",
        "updated_at",
    ] {
        if let Some(v) = a.get(k) {
            o.insert(k.into(), v.clone());
        }
    }
    if versions {
        for k in ["current_version", "deployed_version"] {
            if let Some(v) = a.get(k) {
                o.insert(k.into(), v.clone());
            }
        }
    }
    o.insert("all_changes_deployed".into(), json!(false));
    Value::Object(o)
}
