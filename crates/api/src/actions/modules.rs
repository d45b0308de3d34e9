//! Action modules: shared code with its own secrets and dependencies, published as numbered,
//! immutable versions that actions reference (`modules: [{module_id, module_version_id}]`).
//! A module is a collection document (`action_module`, names unique per tenant); its versions
//! are documents of the kind `action_module_version/{module id}`.

use serde_json::{Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_spec::Op;
use gatehouse_store::{Page, atomically, docs};

use super::versions::Versions;
use super::{ACTIONS, apply_draft, sparse_page, str_of, window};
use crate::config::collection::{COLLECTION, Collection, Unique, name_of};
use crate::spine::{Ctx, Input, Query, Registry, Reply};

const SECRET_VALUES: &str = "secret_values";

static MODULES: Collection = Collection {
    kind: "action_module",
    order: &[
        "id",
        "name",
        "code",
        "dependencies",
        "secrets",
        "all_changes_published",
        "actions_using_module_total",
        "created_at",
        "updated_at",
        "latest_version",
    ],
    hidden: &[SECRET_VALUES],
    unique: &[Unique {
        name: "name",
        of: name_of,
        taken: name_taken,
    }],
    missing: no_module,
    ..COLLECTION
};

/// A module's versions: the order of their keys as recorded
/// (TestAccActionModuleMultipleVersions).
pub(crate) static VERSIONS: Versions = Versions {
    parent: &MODULES,
    parent_param: "id",
    id_param: "versionId",
    page: full_page,
    prefix: "action_module_version",
    number_key: "version_number",
    order: VERSION_ORDER,
    missing: no_version,
};

const VERSION_ORDER: &[&str] = &[
    "id",
    "module_id",
    "version_number",
    "code",
    "secrets",
    "dependencies",
    "created_at",
];

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetActionModules, list);
    reg.add(Op::PostActionModule, create);
    reg.add(Op::GetActionModule, get);
    reg.add(Op::PatchActionModule, patch);
    reg.add(Op::DeleteActionModule, delete);
    reg.add(Op::GetActionModuleActions, module_actions);
    VERSIONS.register(reg, Op::GetActionModuleVersions, Op::GetActionModuleVersion);
    reg.add(Op::PostActionModuleVersion, publish);
    reg.add(Op::PostActionModuleRollback, roll_back);
}

fn no_module() -> Error {
    Error::NotFound("That module does not exist.".into())
}

fn no_version() -> Error {
    Error::NotFound("That module version does not exist.".into())
}

fn name_taken(v: &Value) -> Error {
    Error::ConflictPlain(
        format!(
            "A module with the name '{}' already exists.",
            name_of(v).unwrap_or_default()
        )
        .into(),
    )
}

/// The actions whose draft uses a module, each with the version it uses.
fn users_of(actions: &[Value], module_id: &str) -> Vec<Value> {
    actions
        .iter()
        .filter_map(|a| {
            let m = a
                .get("modules")
                .and_then(Value::as_array)?
                .iter()
                .find(|m| str_of(m, "module_id") == module_id)?;
            Some(json!({
                "action_id": str_of(a, "id"),
                "action_name": str_of(a, "name"),
                "module_version_id": m.get("module_version_id"),
                "module_version_number": m.get("module_version_number"),
            }))
        })
        .collect()
}

/// A module as replies show it, with the number of actions using it.
fn shown(m: Value, actions: &[Value]) -> Value {
    let n = users_of(actions, str_of(&m, "id")).len();
    let mut m = MODULES.shown(m);
    if let Value::Object(o) = &mut m {
        o.insert("actions_using_module_total".into(), json!(n));
    }
    MODULES.shown(m)
}

/// `latest_version` on the module: the version without its module id and date.
fn latest(v: &Value) -> Value {
    json!({
        "id": v.get("id"),
        "version_number": v.get("version_number"),
        "code": v.get("code"),
        "dependencies": v.get("dependencies"),
        "secrets": v.get("secrets"),
    })
}

/// An action's `modules` as it is stored and shown: each reference completed with the module's
/// name and the version's number. A module or version that does not exist is a 404.
pub(crate) async fn resolve(ctx: &Ctx, refs: &Value) -> Result<Value, Error> {
    let refs = refs
        .as_array()
        .ok_or_else(|| Error::bad_body("modules must be an array"))?;
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        let module_id = str_of(r, "module_id");
        let version_id = str_of(r, "module_version_id");
        let module = MODULES.load(ctx, module_id).await?;
        let version = VERSIONS
            .find(ctx.db(), ctx.tenant_id(), module_id, version_id)
            .await?;
        out.push(json!({
            "module_id": module_id,
            "module_name": str_of(&module, "name"),
            "module_version_id": version_id,
            "module_version_number": version.get("version_number"),
        }));
    }
    Ok(Value::Array(out))
}

async fn list(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let actions = ACTIONS.all(&ctx).await?;
    let items: Vec<Value> = MODULES
        .all(&ctx)
        .await?
        .into_iter()
        .map(|m| {
            let number = m.pointer("/latest_version/version_number").cloned();
            let mut s = shown(m, &actions);
            if let Value::Object(o) = &mut s {
                o.shift_remove("latest_version");
                if let Some(n) = number {
                    o.insert("latest_version_number".into(), n);
                }
            }
            s
        })
        .collect();
    Ok(Reply::json(full_page("modules", items, &input.query)))
}

/// The modules service's list envelope: every key there, zeros included, `total` counting the
/// items of the page (recorded: TestAccActionModuleVersionsDataSource).
fn full_page(key: &str, items: Vec<Value>, q: &Query) -> Value {
    let (window, page, per_page) = window(items, q);
    json!({ key: window.clone(), "total": window.len(), "page": page, "per_page": per_page })
}

async fn create(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let body = input.body_object();
    let mut m = json!({
        "code": "",
        "dependencies": [],
        "secrets": [],
        "all_changes_published": false,
        SECRET_VALUES: {},
    });
    apply_draft(&mut m, &body, &["name", "code", "dependencies"])?;
    let created = MODULES.create_object(&ctx, m).await?;
    let id = str_of(&created, "id").to_owned();
    let created = if body.get("publish").and_then(Value::as_bool) == Some(true) {
        publish_version(&ctx, &id, None).await?;
        MODULES.load(&ctx, &id).await?
    } else {
        created
    };
    let actions = ACTIONS.all(&ctx).await?;
    Ok(Reply::json(shown(created, &actions)))
}

async fn get(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let m = MODULES.load(&ctx, input.path("id")).await?;
    let actions = ACTIONS.all(&ctx).await?;
    Ok(Reply::json(shown(m, &actions)))
}

async fn patch(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let body = &input.body_object();
    let updated = MODULES
        .update(&ctx, input.path("id"), move |m| {
            apply_draft(m, body, &["code", "dependencies"])?;
            let Value::Object(o) = m else {
                return Err(no_module());
            };
            o.insert("all_changes_published".into(), json!(false));
            Ok(())
        })
        .await?;
    let actions = ACTIONS.all(&ctx).await?;
    Ok(Reply::json(shown(updated, &actions)))
}

/// Deletes a module and its versions in one transaction with the module's row locked; refused
/// (412, as the spec lists) while an action uses it. An action written at the same moment may
/// still name the module (its write checks the module outside this transaction); running it
/// then finds no such module, and its `require` fails.
async fn delete(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let id = input.path("id");
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let kind = VERSIONS.kind(id);
    let kind = &kind;
    atomically(|| async move {
        let tx = db.begin().await?;
        let module = docs::lock(&tx, tenant, MODULES.kind, id)
            .await?
            .ok_or_else(no_module)?;
        let actions = docs::list(&tx, tenant, super::ACTION, Page::ALL).await?.0;
        if !users_of(&actions, id).is_empty() {
            return Err(Error::PreconditionFailed(
                "The module is used by actions: remove it from them before deleting it.".into(),
            ));
        }
        for v in docs::list(&tx, tenant, kind, Page::ALL).await?.0 {
            docs::delete(&tx, tenant, kind, str_of(&v, "id")).await?;
        }
        MODULES.remove_locked(&tx, tenant, id, &module).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::empty())
}

async fn module_actions(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let id = input.path("id");
    MODULES.load(&ctx, id).await?;
    let actions = ACTIONS.all(&ctx).await?;
    Ok(Reply::json(sparse_page(
        "actions",
        users_of(&actions, id),
        &input.query,
    )))
}

/// `POST /actions/modules/{id}/versions`: publishes the draft as the next version (200, no
/// body sent; recorded).
async fn publish(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let v = publish_version(&ctx, input.path("id"), None).await?;
    Ok(Reply::with_status(200, VERSIONS.shown(v)))
}

/// `POST /actions/modules/{id}/rollback`: the version named becomes the draft and is published
/// again as the next version.
async fn roll_back(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let id = input.path("id");
    let vid = input
        .body
        .get("module_version_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    publish_version(&ctx, id, Some(vid)).await?;
    let m = MODULES.load(&ctx, id).await?;
    let number = m.pointer("/latest_version/version_number").cloned();
    let actions = ACTIONS.all(&ctx).await?;
    let mut m = shown(m, &actions);
    if let (Value::Object(o), Some(n)) = (&mut m, number) {
        o.insert("latest_version_number".into(), n);
    }
    Ok(Reply::json(m))
}

/// Publishes the draft (or, to roll back, a copy of version `from`, which also becomes the
/// draft): one transaction with the module's row locked.
async fn publish_version(ctx: &Ctx, id: &str, from: Option<&str>) -> Result<Value, Error> {
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    atomically(|| async move {
        let tx = db.begin().await?;
        let now = time::now();
        let mut m = docs::lock(&tx, tenant, MODULES.kind, id)
            .await?
            .ok_or_else(no_module)?;
        let kind = VERSIONS.kind(id);
        let versions = VERSIONS.newest_first(&tx, tenant, id).await?;
        let number = VERSIONS.next_number(&versions);
        let source = match from {
            None => m.clone(),
            Some(vid) => versions
                .iter()
                .find(|v| str_of(v, "id") == vid)
                .cloned()
                .ok_or_else(no_version)?,
        };
        let vid = ids::uuid_v4();
        let version = json!({
            "id": vid,
            "module_id": id,
            "version_number": number,
            "code": source.get("code"),
            "secrets": source.get("secrets").cloned().unwrap_or(json!([])),
            "dependencies": source.get("dependencies").cloned().unwrap_or(json!([])),
            "created_at": now,
            SECRET_VALUES: source.get(SECRET_VALUES).cloned().unwrap_or(json!({})),
        });
        docs::put(&tx, tenant, &kind, &vid, &version, &now).await?;
        if let Value::Object(o) = &mut m {
            if from.is_some() {
                for k in ["code", "secrets", "dependencies", SECRET_VALUES] {
                    if let Some(v) = version.get(k) {
                        o.insert(k.into(), v.clone());
                    }
                }
                o.insert("updated_at".into(), json!(now));
            }
            o.insert("all_changes_published".into(), json!(true));
            o.insert("latest_version".into(), latest(&version));
        }
        docs::put(&tx, tenant, MODULES.kind, id, &m, &now).await?;
        tx.commit().await?;
        Ok::<_, Error>(version)
    })
    .await
}
