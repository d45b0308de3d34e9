//! Tag `branding`: the tenant's branding settings (a document: PATCH replaces top-level keys, a
//! `null` removes one), the Universal Login page template and the tenant's theme (one per
//! tenant, as in Auth0: a second answers 409). Phone providers and templates: `phone.rs`.

use serde_json::{Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_spec::Op;
use gatehouse_store::{Tx, atomically, docs};

use super::{DOC, Doc, Merge};
use crate::spine::{Ctx, Input, Registry, Reply};

pub static DOCS: &[Doc] = &[Doc {
    kind: "branding",
    get: Some(Op::GetBranding),
    patch: Some(Op::PatchBranding),
    defaults: Some(|| json!({})),
    merge: Merge::Shallow,
    ..DOC
}];

/// The Universal Login template: real behaviour (its body is a bare string or `{template}`, and
/// PUT answers 201 when it makes the template, 204 when it replaces it).
pub fn register(reg: &mut Registry) {
    reg.add(Op::GetUniversalLogin, get_universal_login);
    reg.add(Op::PutUniversalLogin, put_universal_login);
    reg.add(Op::DeleteUniversalLogin, delete_universal_login);
    reg.add(Op::PostBrandingTheme, post_branding_theme);
    reg.add(Op::GetDefaultBrandingTheme, get_default_branding_theme);
    reg.add(Op::GetBrandingTheme, get_branding_theme);
    reg.add(Op::PatchBrandingTheme, patch_branding_theme);
    reg.add(Op::DeleteBrandingTheme, delete_branding_theme);
}

const TEMPLATE: (&str, &str) = ("universal_login_template", "template");

/// Recorded (TestAccBranding).
fn no_template() -> Error {
    Error::not_found(
        "inexistent_templates_universal_login",
        "Template does not exist.",
    )
}

async fn get_universal_login(ctx: Ctx, _input: Input) -> Result<Reply, Error> {
    let (kind, id) = TEMPLATE;
    let stored = docs::get(ctx.db(), ctx.tenant_id(), kind, id)
        .await?
        .ok_or_else(no_template)?;
    Ok(Reply::json(stored))
}

async fn put_universal_login(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (kind, id) = TEMPLATE;
    let template = match &input.body {
        Value::String(s) => s.clone(),
        other => other
            .get("template")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    };
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let doc = &json!({ "body": template });
    let made = atomically(|| async move {
        let tx = db.begin().await?;
        let existed = docs::lock(&tx, tenant, kind, id).await?.is_some();
        docs::put(&tx, tenant, kind, id, doc, &time::now()).await?;
        tx.commit().await?;
        Ok::<_, Error>(!existed)
    })
    .await?;
    Ok(if made {
        Reply::with_status(201, json!({}))
    } else {
        Reply {
            status: Some(204),
            body: None,
            ..Reply::empty()
        }
    })
}

/// Deleting the template: 204, also when there is none (recorded).
async fn delete_universal_login(ctx: Ctx, _input: Input) -> Result<Reply, Error> {
    let (kind, id) = TEMPLATE;
    docs::delete(ctx.db(), ctx.tenant_id(), kind, id).await?;
    Ok(Reply::empty())
}

// ---- the theme ------------------------------------------------------------------------------

/// The tenant's one theme, stored with its `themeId` (a document, so that "one per tenant" is
/// one row to lock).
const THEME: (&str, &str) = ("branding_theme", "theme");

/// Recorded (TestAccBrandingTheme).
fn no_theme() -> Error {
    Error::not_found(
        "theme_not_found",
        "There was an error retrieving branding settings: invalid theme ID",
    )
}

fn theme_exists() -> Error {
    Error::conflict(
        "theme_conflict",
        "There was an error creating branding settings: theme already exists",
    )
}

/// The theme as shown: the stored settings and its `themeId`.
fn with_theme_id(mut body: Value, id: &str) -> Value {
    if let Value::Object(o) = &mut body {
        o.insert("themeId".into(), json!(id));
    }
    body
}

/// The stored theme when `id` names it (any id when `id` is `None`).
async fn theme(ctx: &Ctx, id: Option<&str>) -> Result<Value, Error> {
    let (kind, key) = THEME;
    docs::get(ctx.db(), ctx.tenant_id(), kind, key)
        .await?
        .filter(|t| id.is_none_or(|id| t.get("themeId").and_then(Value::as_str) == Some(id)))
        .ok_or_else(no_theme)
}

/// Locks the stored theme until the transaction ends; `theme_not_found` unless `id` names it.
async fn lock_theme(tx: &Tx, tenant: &str, id: &str) -> Result<(), Error> {
    let (kind, key) = THEME;
    let current = docs::lock(tx, tenant, kind, key).await?;
    if current.and_then(|t| t.get("themeId").cloned()) != Some(json!(id)) {
        return Err(no_theme());
    }
    Ok(())
}

async fn post_branding_theme(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (kind, key) = THEME;
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let body = &Value::Object(input.body_object());
    let made = atomically(|| async move {
        let tx = db.begin().await?;
        // Made as a placeholder when there is none: the lock makes "only one" hold between
        // concurrent creations; a theme already there is a conflict.
        let current =
            docs::lock_or_create(&tx, tenant, kind, key, &json!({}), &time::now()).await?;
        if current.get("themeId").is_some() {
            return Err(theme_exists());
        }
        let theme = with_theme_id(body.clone(), &ids::client_id());
        docs::put(&tx, tenant, kind, key, &theme, &time::now()).await?;
        tx.commit().await?;
        Ok::<_, Error>(theme)
    })
    .await?;
    Ok(Reply::json(made))
}

async fn get_default_branding_theme(ctx: Ctx, _input: Input) -> Result<Reply, Error> {
    Ok(Reply::json(theme(&ctx, None).await?))
}

async fn get_branding_theme(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    Ok(Reply::json(theme(&ctx, Some(input.path("themeId"))).await?))
}

/// PATCH gives every section (the spec requires them all): the theme is replaced.
async fn patch_branding_theme(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (kind, key) = THEME;
    let (db, tenant, id) = (ctx.db(), ctx.tenant_id(), input.path("themeId"));
    let body = &Value::Object(input.body_object());
    let theme = atomically(|| async move {
        let tx = db.begin().await?;
        lock_theme(&tx, tenant, id).await?;
        let theme = with_theme_id(body.clone(), id);
        docs::put(&tx, tenant, kind, key, &theme, &time::now()).await?;
        tx.commit().await?;
        Ok::<_, Error>(theme)
    })
    .await?;
    Ok(Reply::json(theme))
}

async fn delete_branding_theme(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (kind, key) = THEME;
    let (db, tenant, id) = (ctx.db(), ctx.tenant_id(), input.path("themeId"));
    atomically(|| async move {
        let tx = db.begin().await?;
        lock_theme(&tx, tenant, id).await?;
        docs::delete(&tx, tenant, kind, key).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::empty())
}
