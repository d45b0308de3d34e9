//! Tag `prompts`, rendering (Advanced Customizations for Universal Login): per prompt and screen
//! one document. A screen never configured shows the standard rendering; PATCH replaces the
//! top-level keys it gives (a `null` returns one to its default; `filters` then reads `null`)
//! and answers with only what it was sent, nulls left out (recorded: TestAccPromptScreenSettings
//! #0, #4, #25, #35). The list shows the screens that have been configured.

use serde_json::{Map, Value, json};

use gatehouse_core::{Error, time};
use gatehouse_spec::Op;
use gatehouse_store::{Page, Tx, atomically, docs};

use super::{DOC, Doc, Merge, merge, without_nulls};
use crate::spine::{
    Ctx, Input, Registry, Reply,
    page::{Paging, project},
};

/// Where a screen's settings are kept (`{prompt}/{screen}`), what they show before any write,
/// and how a write applies. Its operations are served below: every reply names the tenant,
/// the prompt and the screen, and PATCH echoes the request.
static RENDERING: Doc = Doc {
    kind: "prompt_rendering",
    key: &["prompt", "screen"],
    defaults: Some(standard),
    merge: Merge::Shallow,
    ..DOC
};

/// A screen never configured: rendered by Universal Login itself.
fn standard() -> Value {
    json!({
        "rendering_mode": "standard",
        "context_configuration": [],
        "default_head_tags_disabled": false,
        "head_tags": [],
        "filters": null,
        "use_page_template": false
    })
}

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetRendering, get_rendering);
    reg.add(Op::PatchRendering, patch_rendering);
    reg.add(Op::GetAllRendering, list_rendering);
    reg.add(Op::PatchBulkRendering, patch_bulk_rendering);
}

/// A screen's settings as shown: tenant, prompt and screen first, then the settings over the
/// defaults.
fn shown(tenant: &str, prompt: &str, screen: &str, stored: Option<Value>) -> Result<Value, Error> {
    let mut out = Map::new();
    out.insert("tenant".into(), json!(tenant));
    out.insert("prompt".into(), json!(prompt));
    out.insert("screen".into(), json!(screen));
    if let Value::Object(settings) = RENDERING.shown(stored)? {
        for (k, v) in settings {
            out.entry(k).or_insert(v);
        }
    }
    Ok(Value::Object(out))
}

fn doc_id(prompt: &str, screen: &str) -> String {
    format!("{prompt}/{screen}")
}

async fn get_rendering(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (prompt, screen) = (input.path("prompt"), input.path("screen"));
    let id = doc_id(prompt, screen);
    let stored = docs::get(ctx.db(), ctx.tenant_id(), RENDERING.kind, &id).await?;
    Ok(Reply::json(shown(ctx.tenant_id(), prompt, screen, stored)?))
}

/// Applies one screen's changes inside `tx` (the document locked, made first when new).
async fn apply(
    tx: &Tx,
    tenant: &str,
    prompt: &str,
    screen: &str,
    body: &Value,
) -> Result<(), Error> {
    let (id, now) = (doc_id(prompt, screen), time::now());
    let initial = json!({ "prompt": prompt, "screen": screen });
    let mut doc = docs::lock_or_create(tx, tenant, RENDERING.kind, &id, &initial, &now).await?;
    merge(&mut doc, body, RENDERING.merge);
    // The key stays what the path or the config names.
    merge(&mut doc, &initial, Merge::Shallow);
    docs::put(tx, tenant, RENDERING.kind, &id, &doc, &now).await?;
    Ok(())
}

async fn patch_rendering(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let (prompt, screen) = (input.path("prompt"), input.path("screen"));
    let body = &Value::Object(input.body_object());
    atomically(|| async move {
        let tx = db.begin().await?;
        apply(&tx, tenant, prompt, screen, body).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::json(without_nulls(body)))
}

/// Every configured screen's settings, as shown.
async fn configured(ctx: &Ctx) -> Result<Vec<Value>, Error> {
    // At most one document per (prompt, screen) pair of the spec's enums: a bounded list.
    let page = Page {
        offset: 0,
        limit: 100_000,
    };
    let (docs, _) = docs::list(ctx.db(), ctx.tenant_id(), RENDERING.kind, page).await?;
    docs.into_iter()
        .map(|d| {
            let key = |k: &str| {
                d.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let (prompt, screen) = (key("prompt"), key("screen"));
            shown(ctx.tenant_id(), &prompt, &screen, Some(d))
        })
        .collect()
}

/// Query `prompt`, `screen` (comma lists) and `rendering_mode` filter; paging and `fields` as
/// in every list.
async fn list_rendering(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let q = &input.query;
    let prompts = q.list("prompt");
    let screens = q.list("screen");
    let mode = q.get("rendering_mode");
    let admits = |list: &Option<Vec<String>>, v: &Value| {
        list.as_ref()
            .is_none_or(|l| v.as_str().is_some_and(|s| l.iter().any(|x| x == s)))
    };
    let all: Vec<Value> = configured(&ctx)
        .await?
        .into_iter()
        .filter(|c| admits(&prompts, &c["prompt"]) && admits(&screens, &c["screen"]))
        .filter(|c| mode.is_none_or(|m| c["rendering_mode"] == json!(m)))
        .collect();
    let paging = Paging::from_query(q);
    let page = paging.store_page();
    let total = i64::try_from(all.len()).unwrap_or(i64::MAX);
    let items: Vec<Value> = all
        .into_iter()
        .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(page.limit).unwrap_or(0))
        .map(|c| project(c, q))
        .collect();
    Ok(Reply::json(paging.reply("configs", items, total)))
}

/// Every config applies, or none: one transaction. The rows are locked in key order (so that
/// two bulk updates cannot deadlock); a screen named twice gets its changes in request order.
async fn patch_bulk_rendering(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let configs: Vec<Value> = input
        .body
        .get("configs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let key = |c: &Value| {
        let s = |k: &str| {
            c.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        (s("prompt"), s("screen"))
    };
    let mut order: Vec<&Value> = configs.iter().collect();
    order.sort_by_key(|c| key(c));
    let order = &order;
    atomically(|| async move {
        let tx = db.begin().await?;
        for c in order {
            let (prompt, screen) = key(c);
            apply(&tx, tenant, &prompt, &screen, c).await?;
        }
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    let echoed: Vec<Value> = configs.iter().map(without_nulls).collect();
    Ok(Reply::json(json!({ "configs": echoed })))
}
