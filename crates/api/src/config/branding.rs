//! Tag `branding`: the tenant's branding settings (a document: PATCH replaces top-level keys, a
//! `null` removes one) and the Universal Login page template. Themes and phone providers and
//! templates are not built yet and answer 501.

use serde_json::{Value, json};

use gatehouse_core::{Error, time};
use gatehouse_spec::Op;
use gatehouse_store::{atomically, docs};

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
        }
    })
}

/// Deleting the template: 204, also when there is none (recorded).
async fn delete_universal_login(ctx: Ctx, _input: Input) -> Result<Reply, Error> {
    let (kind, id) = TEMPLATE;
    docs::delete(ctx.db(), ctx.tenant_id(), kind, id).await?;
    Ok(Reply::empty())
}
