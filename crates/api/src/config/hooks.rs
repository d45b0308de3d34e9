//! Tag `hooks`: hooks are stored and listed as Auth0 keeps them (ids are ULIDs; a name is held
//! by one hook; one *enabled* hook per trigger), with their secrets written and never shown
//! (`_VALUE_NOT_SHOWN_`). Gatehouse does not run hook code: hooks are Auth0's deprecated
//! extensibility, and the engine that runs customer code is Actions'.

use serde_json::{Map, Value, json};

use gatehouse_core::{Error, ids};
use gatehouse_spec::Op;

use super::collection::{COLLECTION, Collection, Listing, Unique, name_of};
use crate::spine::{Ctx, Input, Query, Registry, Reply};

/// Where a hook's secrets are kept in its document (never shown).
const SECRETS: &str = "secrets";
const NOT_SHOWN: &str = "_VALUE_NOT_SHOWN_";
/// Auth0: "A hook can have a maximum of 20 secrets".
const MAX_SECRETS: usize = 20;

pub static HOOKS: Collection = Collection {
    kind: "hook",
    new_id: ids::ulid,
    list: Some(Op::GetHooks),
    create: Some(Op::PostHooks),
    get: Some(Op::GetHooksById),
    patch: Some(Op::PatchHooksById),
    delete: Some(Op::DeleteHooksById),
    listing: Listing::Offset,
    list_key: "hooks",
    filter: Some(filter),
    created: Some(new_hook),
    timestamps: false,
    order: &[
        "id",
        "name",
        "script",
        "dependencies",
        "triggerId",
        "enabled",
    ],
    hidden: &[SECRETS],
    unique: &[
        Unique {
            name: "name",
            of: name_of,
            taken: name_taken,
        },
        Unique {
            name: "enabled_trigger",
            of: enabled_trigger,
            taken: trigger_taken,
        },
    ],
    missing: no_hook,
    ..COLLECTION
};

pub fn register(reg: &mut Registry) {
    HOOKS.register(reg);
    reg.add(Op::GetSecrets, get_secrets);
    reg.add(Op::PostSecrets, add_secrets);
    reg.add(Op::PatchSecrets, update_secrets);
    reg.add(Op::DeleteSecrets, delete_secrets);
}

/// Recorded (go-auth0 TestHookManager_Delete).
fn no_hook() -> Error {
    Error::not_found("HookDoesNotExist", "Error: Hook does not exist")
}

/// A new hook is disabled and has no dependencies (recorded: TestAccHook#0).
fn new_hook() -> Value {
    json!({"dependencies": {}, "enabled": false})
}

/// The trigger an enabled hook holds; a disabled hook holds none.
fn enabled_trigger(v: &Value) -> Option<String> {
    if v.get("enabled").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    v.get("triggerId")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

// The conflict replies are not recorded; the spec lists 409 for both.
fn name_taken(v: &Value) -> Error {
    Error::conflict(
        "HookConflict",
        format!(
            "Error: A hook with the name {} already exists",
            name_of(v).unwrap_or_default()
        ),
    )
}

fn trigger_taken(v: &Value) -> Error {
    Error::conflict(
        "HookConflict",
        format!(
            "Error: Only one active hook allowed for \"{}\" extensibility point",
            enabled_trigger(v).unwrap_or_default()
        ),
    )
}

fn filter(hook: &Value, q: &Query) -> bool {
    let enabled = q
        .bool("enabled")
        .is_none_or(|want| hook.get("enabled").and_then(Value::as_bool) == Some(want));
    let trigger = q
        .get("triggerId")
        .is_none_or(|want| hook.get("triggerId").and_then(Value::as_str) == Some(want));
    enabled && trigger
}

fn secrets_of(hook: &Value) -> Map<String, Value> {
    hook.get(SECRETS)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The names of a hook's secrets, each value shown as `_VALUE_NOT_SHOWN_`.
async fn get_secrets(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let hook = HOOKS.load(&ctx, input.path("id")).await?;
    let shown: Map<String, Value> = secrets_of(&hook)
        .into_iter()
        .map(|(k, _)| (k, json!(NOT_SHOWN)))
        .collect();
    Ok(Reply::json(Value::Object(shown)))
}

/// Adds secrets; a name the hook has already is a conflict (change it with PATCH).
async fn add_secrets(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let body = input.body_object();
    HOOKS
        .update(&ctx, input.path("id"), |hook| {
            let mut secrets = secrets_of(hook);
            if let Some(name) = body.keys().find(|k| secrets.contains_key(*k)) {
                return Err(Error::conflict(
                    "HookSecretConflict",
                    format!("Error: Secret \"{name}\" already exists"),
                ));
            }
            secrets.extend(body.clone());
            put_secrets(hook, secrets)
        })
        .await?;
    Ok(Reply::json(json!({})))
}

/// Changes the values of secrets the hook has; a name it does not have is not found.
async fn update_secrets(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let body = input.body_object();
    HOOKS
        .update(&ctx, input.path("id"), |hook| {
            let mut secrets = secrets_of(hook);
            if let Some(name) = body.keys().find(|k| !secrets.contains_key(*k)) {
                return Err(Error::not_found(
                    "HookSecretDoesNotExist",
                    format!("Error: Secret \"{name}\" does not exist"),
                ));
            }
            secrets.extend(body.clone());
            put_secrets(hook, secrets)
        })
        .await?;
    Ok(Reply::json(json!({})))
}

/// Removes the named secrets (names the hook does not have are ignored).
async fn delete_secrets(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let names = input.body_strings("");
    let names: Vec<String> = match input.body.as_array() {
        Some(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        None => names,
    };
    HOOKS
        .update(&ctx, input.path("id"), |hook| {
            let mut secrets = secrets_of(hook);
            secrets.retain(|k, _| !names.contains(k));
            put_secrets(hook, secrets)
        })
        .await?;
    Ok(Reply::empty())
}

fn put_secrets(hook: &mut Value, secrets: Map<String, Value>) -> Result<(), Error> {
    if secrets.len() > MAX_SECRETS {
        return Err(Error::bad_body(format!(
            "A hook can have a maximum of {MAX_SECRETS} secrets"
        )));
    }
    if let Value::Object(o) = hook {
        o.insert(SECRETS.into(), Value::Object(secrets));
    }
    Ok(())
}
