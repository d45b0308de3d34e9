//! Trigger bindings: the ordered list of deployed actions that run at a trigger. One document
//! per trigger (`action_bindings`, keyed by the trigger's id) holds `[{id, action_id,
//! display_name, created_at, updated_at}]`; a PATCH replaces the whole list, and (as Auth0
//! does, recorded: TestAccTriggerActions) gives every binding a new id.

use serde_json::{Map, Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_spec::Op;
use gatehouse_store::{atomically, docs};

use super::{ACTION, ACTIONS, no_action, sparse_page, str_of, summary, trigger_ids, triggers};
use crate::spine::{Ctx, Input, Registry, Reply};

pub(crate) const BINDINGS: &str = "action_bindings";
/// Binding-level secrets (`bindings[].secrets`), kept and never shown.
const SECRET_VALUES: &str = "secret_values";

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetBindings, get_bindings);
    reg.add(Op::PatchBindings, patch_bindings);
}

fn trigger_of(input: &Input) -> Result<&'static triggers::TriggerInfo, Error> {
    let id = input.path("triggerId");
    let t = triggers::find(id)
        .ok_or_else(|| Error::NotFound(format!("The trigger {id} does not exist.").into()))?;
    if t.entity_bound {
        return Err(Error::BadRequestPlain(
            "cannot list action bindings for an entity-bound trigger".into(),
        ));
    }
    Ok(t)
}

/// The stored bindings of a trigger's document.
pub(crate) fn stored(doc: &Value) -> Vec<Value> {
    doc.get("bindings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Removes an action's bindings from a trigger's document; whether it had any.
pub(crate) fn unbind(doc: &mut Value, action_id: &str) -> bool {
    let mut list = stored(doc);
    let before = list.len();
    list.retain(|b| str_of(b, "action_id") != action_id);
    let changed = list.len() != before;
    if let Value::Object(o) = doc {
        o.insert("bindings".into(), Value::Array(list));
    }
    changed
}

/// A binding as Auth0 shows it, with its action's summary and versions.
fn shown(b: &Value, trigger: &str, action: Option<&Value>) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(str_of(b, "id")));
    o.insert("trigger_id".into(), json!(trigger));
    if let Some(a) = action {
        o.insert("action".into(), summary(a, true));
    }
    for k in ["created_at", "updated_at", "display_name"] {
        if let Some(v) = b.get(k) {
            o.insert(k.into(), v.clone());
        }
    }
    Value::Object(o)
}

async fn render(ctx: &Ctx, trigger: &str, list: &[Value]) -> Result<Vec<Value>, Error> {
    let mut out = Vec::with_capacity(list.len());
    for b in list {
        let action = docs::get(ctx.db(), ctx.tenant_id(), ACTION, str_of(b, "action_id")).await?;
        out.push(shown(b, trigger, action.as_ref()));
    }
    Ok(out)
}

async fn get_bindings(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let t = trigger_of(&input)?;
    let doc = docs::get(ctx.db(), ctx.tenant_id(), BINDINGS, t.id).await?;
    let list = doc.as_ref().map(stored).unwrap_or_default();
    let items = render(&ctx, t.id, &list).await?;
    Ok(Reply::json(sparse_page("bindings", items, &input.query)))
}

/// What one entry of a PATCH names: an action by id or name, or an existing binding.
enum Ref {
    Action(String),
    Name(String),
    Binding(String),
}

fn parse_ref(item: &Value) -> Result<Ref, Error> {
    let r = item.get("ref").unwrap_or(&Value::Null);
    let value = r
        .get("value")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::bad_body("A binding's ref needs a value"))?
        .to_owned();
    // The spec's default type is `action_name`.
    Ok(
        match r
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("action_name")
        {
            "action_id" => Ref::Action(value),
            "binding_id" => Ref::Binding(value),
            _ => Ref::Name(value),
        },
    )
}

/// Replaces a trigger's bindings. Each named action must exist, support the trigger and have a
/// deployed version; the actions are locked with the trigger's document, so an action cannot be
/// deleted or changed half-way.
async fn patch_bindings(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let t = trigger_of(&input)?;
    let items = input
        .body
        .get("bindings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let refs = items.iter().map(parse_ref).collect::<Result<Vec<_>, _>>()?;
    let actions = ACTIONS.all(&ctx).await?;
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let (items, refs, actions) = (&items, &refs, &actions);
    let list = atomically(|| async move {
        let tx = db.begin().await?;
        let now = time::now();
        let mut doc = docs::lock_or_create(&tx, tenant, BINDINGS, t.id, &json!({}), &now).await?;
        let old = stored(&doc);
        let mut ids_wanted = Vec::with_capacity(refs.len());
        for r in refs {
            let id = match r {
                Ref::Action(id) => id.clone(),
                Ref::Name(name) => actions
                    .iter()
                    .find(|a| str_of(a, "name") == name)
                    .map(|a| str_of(a, "id").to_owned())
                    .ok_or_else(no_action)?,
                Ref::Binding(bid) => old
                    .iter()
                    .find(|b| str_of(b, "id") == bid)
                    .map(|b| str_of(b, "action_id").to_owned())
                    .ok_or_else(|| {
                        Error::NotFound(format!("The binding {bid} does not exist.").into())
                    })?,
            };
            ids_wanted.push(id);
        }
        let mut sorted = ids_wanted.clone();
        sorted.sort();
        sorted.dedup();
        let mut locked = Map::new();
        for id in &sorted {
            let a = docs::lock(&tx, tenant, ACTION, id)
                .await?
                .ok_or_else(no_action)?;
            if !trigger_ids(&a).iter().any(|x| x == t.id) {
                return Err(Error::BadRequestPlain(
                    format!(
                        "The action '{}' does not support the trigger '{}'.",
                        str_of(&a, "name"),
                        t.id
                    )
                    .into(),
                ));
            }
            if a.get("deployed_version").is_none() {
                return Err(Error::BadRequestPlain(
                    format!(
                        "The action '{}' has not been deployed yet: deploy it before binding it.",
                        str_of(&a, "name")
                    )
                    .into(),
                ));
            }
            locked.insert(id.clone(), a);
        }
        let mut list = Vec::with_capacity(items.len());
        for (item, id) in items.iter().zip(&ids_wanted) {
            let name = item
                .get("display_name")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| {
                    locked
                        .get(id)
                        .map(|a| str_of(a, "name").to_owned())
                        .unwrap_or_default()
                });
            let mut b = json!({
                "id": ids::uuid_v4(),
                "action_id": id,
                "created_at": now,
                "updated_at": now,
                "display_name": name,
            });
            if let (Some(secrets), Value::Object(o)) =
                (item.get("secrets").and_then(Value::as_array), &mut b)
            {
                let values: Map<String, Value> = secrets
                    .iter()
                    .filter_map(|s| {
                        Some((s.get("name")?.as_str()?.to_owned(), s.get("value")?.clone()))
                    })
                    .collect();
                o.insert(SECRET_VALUES.into(), Value::Object(values));
            }
            list.push(b);
        }
        if let Value::Object(o) = &mut doc {
            o.insert("bindings".into(), Value::Array(list.clone()));
        }
        docs::put(&tx, tenant, BINDINGS, t.id, &doc, &now).await?;
        tx.commit().await?;
        let shown: Vec<Value> = list
            .iter()
            .map(|b| shown(b, t.id, locked.get(str_of(b, "action_id"))))
            .collect();
        Ok::<_, Error>(shown)
    })
    .await?;
    ctx.state.actions.invalidate(tenant);
    Ok(Reply::json(json!({ "bindings": list })))
}
