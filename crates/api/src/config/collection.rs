//! Collections of configuration objects with generated ids (rules, hooks, forms, profiles, …):
//! one [`Collection`] descriptor per family, served by one set of handlers over the `docs`
//! table.
//!
//! What a descriptor can say beyond the operations: how an id is made, what a new object holds
//! before the body ([`Collection::created`]), the key order of replies, the fields written but
//! never shown, how a PATCH merges, the list's form (a bare array, offset pages or checkpoint
//! pages) and filters, a cap on the number of objects, and **unique keys**: a function of an
//! object that gives the value no other object of the tenant may share (a name; a priority; the
//! trigger of an *enabled* hook). Each unique value is held by a claim document
//! (`<kind>#<unique name>`, keyed by the value) written in the same transaction as the object,
//! so two concurrent writers of the same name serialise on the claim's row and one of them gets
//! the family's conflict error.
//!
//! Real behaviour (validation that needs other objects, sub-resources) stays in the family's
//! file; it can use [`Collection::load`] and [`Collection::store`] and the same claims.

use std::cmp::Ordering;

use serde_json::{Map, Value, json};

use gatehouse_core::{Error, time};
use gatehouse_spec::Op;
use gatehouse_store::{Page, Tx, atomically, docs};

use super::{Merge, merge, remove_path, without_nulls};
use crate::spine::{
    Ctx, Input, Query, Registry, Reply,
    page::{Checkpoint, Paging, project},
};

/// The form of a collection's list reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// Every object, as a bare array (no paging parameters).
    Array,
    /// `page`/`per_page`, and with `include_totals` the envelope `{total, start, limit, <key>}`.
    Offset,
    /// `from`/`take`: `{<key>: [...], next?}`.
    Checkpoint,
    /// Offset pages with the envelope always there (`{<key>, start, limit, total}`), as Auth0's
    /// newer families answer.
    OffsetEnvelope,
}

/// Checks (and may complete) an object about to be stored, given the one it replaces.
pub type Check = fn(&mut Value, Option<&Value>) -> Result<(), Error>;

/// Checks the form of an id given in a path.
pub type IdCheck = fn(&str) -> Result<(), Error>;

/// Whether `e` is the family's `missing` error.
fn is_missing(e: &Error, missing: fn() -> Error) -> bool {
    let m = missing();
    e.status() == m.status() && e.public_message() == m.public_message()
}

/// An object's `name`: the unique key of the families whose names are held once.
pub fn name_of(v: &Value) -> Option<String> {
    v.get("name").and_then(Value::as_str).map(str::to_owned)
}

/// A value no two objects of the tenant may share.
pub struct Unique {
    /// Names the claim documents (`<kind>#<name>`).
    pub name: &'static str,
    /// The value an object holds (`None`: it holds none, e.g. a disabled hook's trigger).
    pub of: fn(&Value) -> Option<String>,
    /// The error when another object holds it.
    pub taken: fn(&Value) -> Error,
}

/// One collection and its operations.
pub struct Collection {
    /// The `docs` kind.
    pub kind: &'static str,
    /// The id field of an object.
    pub id_field: &'static str,
    /// The path parameter that names an object.
    pub id_param: &'static str,
    pub new_id: fn() -> String,
    pub list: Option<Op>,
    pub create: Option<Op>,
    pub get: Option<Op>,
    pub patch: Option<Op>,
    /// Replaces the object with the body (id and creation time kept).
    pub put: Option<Op>,
    pub delete: Option<Op>,
    pub listing: Listing,
    /// The key of the list envelope (`rules`, `flows`, …).
    pub list_key: &'static str,
    /// Which objects a list query keeps (all when `None`).
    pub filter: Option<fn(&Value, &Query) -> bool>,
    /// The order of a list (creation order when `None`).
    pub sort: Option<fn(&Value, &Value) -> Ordering>,
    /// What a new object holds before the body is applied over it (the id and the timestamps
    /// are set by the mechanism); `None`: only the body.
    pub created: Option<fn() -> Value>,
    /// Checks (and may complete) an object about to be stored, given the one it replaces.
    pub check: Option<Check>,
    /// Completes a new object from the tenant's others (e.g. the next free `order`); creations
    /// of the collection then serialise.
    pub assign: Option<fn(&mut Value, &[Value])>,
    pub merge: Merge,
    /// Write `created_at` and `updated_at`.
    pub timestamps: bool,
    /// The order of keys in a reply; keys not named follow in stored order.
    pub order: &'static [&'static str],
    /// Fields written but never shown, as dot paths.
    pub hidden: &'static [&'static str],
    /// The keys a list item shows (all when empty; `fields` may ask for fewer).
    pub summary: &'static [&'static str],
    pub unique: &'static [Unique],
    /// The most objects a tenant may have, and the error beyond it.
    pub cap: Option<(usize, fn() -> Error)>,
    pub missing: fn() -> Error,
    /// Deleting an object that is not there answers 204 (else `missing`).
    pub delete_missing_ok: bool,
    /// Checks the path's id before an object is looked up (an id of the wrong form is a 400
    /// in some families, not a 404).
    pub valid_id: Option<IdCheck>,
    /// Called after every committed write (create, update, remove), e.g. to drop a cache.
    pub written: Option<fn(&Ctx)>,
}

/// A descriptor's defaults for what it does not say.
pub const COLLECTION: Collection = Collection {
    kind: "",
    id_field: "id",
    id_param: "id",
    new_id: gatehouse_core::ids::uuid_v4,
    list: None,
    create: None,
    get: None,
    patch: None,
    put: None,
    delete: None,
    listing: Listing::Array,
    list_key: "",
    filter: None,
    sort: None,
    created: None,
    check: None,
    assign: None,
    merge: Merge::Shallow,
    timestamps: true,
    order: &[],
    hidden: &[],
    summary: &[],
    unique: &[],
    cap: None,
    missing: super::never,
    delete_missing_ok: false,
    valid_id: None,
    written: None,
};

impl Collection {
    pub fn register(&'static self, reg: &mut Registry) {
        if let Some(op) = self.list {
            reg.add(op, move |ctx, input| self.list_handler(ctx, input));
        }
        if let Some(op) = self.create {
            reg.add(op, move |ctx, input| async move {
                let body = Value::Object(input.body_object());
                let obj = self.create_object(&ctx, body).await?;
                Ok(Reply::json(self.shown(obj)))
            });
        }
        if let Some(op) = self.get {
            reg.add(op, move |ctx, input| async move {
                let obj = self.load(&ctx, input.path(self.id_param)).await?;
                Ok(Reply::json(project(self.shown(obj), &input.query)))
            });
        }
        if let Some(op) = self.patch {
            reg.add(op, move |ctx, input| async move {
                let body = Value::Object(input.body_object());
                let obj = self
                    .patch_object(&ctx, input.path(self.id_param), &body)
                    .await?;
                Ok(Reply::json(self.shown(obj)))
            });
        }
        if let Some(op) = self.put {
            reg.add(op, move |ctx, input| async move {
                let id = input.path(self.id_param);
                let body = without_nulls(&Value::Object(input.body_object()));
                let obj = self
                    .update(&ctx, id, move |cur| {
                        let keep = self.kept_on_replace(cur);
                        *cur = body.clone();
                        merge(cur, &keep, Merge::Shallow);
                        Ok(())
                    })
                    .await?;
                Ok(Reply::json(self.shown(obj)))
            });
        }
        if let Some(op) = self.delete {
            reg.add(op, move |ctx, input| async move {
                match self.remove(&ctx, input.path(self.id_param)).await {
                    Err(e) if self.delete_missing_ok && is_missing(&e, self.missing) => {}
                    other => {
                        other?;
                    }
                }
                Ok(Reply::empty())
            });
        }
    }

    /// What an object shows: keys in the descriptor's order, hidden fields out.
    pub fn shown(&self, mut v: Value) -> Value {
        for h in self.hidden {
            remove_path(&mut v, h);
        }
        let Value::Object(mut o) = v else { return v };
        let mut out = Map::new();
        for k in self.order {
            if let Some(x) = o.shift_remove(*k) {
                out.insert((*k).to_owned(), x);
            }
        }
        out.extend(o);
        Value::Object(out)
    }

    /// The stored object (hidden fields included), or the family's `missing` error.
    pub async fn load(&self, ctx: &Ctx, id: &str) -> Result<Value, Error> {
        self.check_id(id)?;
        docs::get(ctx.db(), ctx.tenant_id(), self.kind, id)
            .await?
            .ok_or_else(self.missing)
    }

    /// Every stored object of the tenant, in creation order.
    pub async fn all(&self, ctx: &Ctx) -> Result<Vec<Value>, Error> {
        Ok(docs::list(ctx.db(), ctx.tenant_id(), self.kind, Page::ALL)
            .await?
            .0)
    }

    async fn list_handler(&'static self, ctx: Ctx, input: Input) -> Result<Reply, Error> {
        let items = self.all(&ctx).await?;
        Ok(Reply::json(self.page(items, &input.query)))
    }

    /// A list reply of `items` (stored objects) for the query: filtered, sorted, paged in the
    /// descriptor's form, each item shown (its summary keys only, when it has them) and
    /// projected by `fields`.
    pub fn page(&self, mut items: Vec<Value>, q: &Query) -> Value {
        if let Some(keep) = self.filter {
            items.retain(|v| keep(v, q));
        }
        if let Some(cmp) = self.sort {
            items.sort_by(cmp);
        }
        let total = items.len() as i64;
        let window = |page: Page| -> Vec<Value> {
            items
                .iter()
                .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
                .take(usize::try_from(page.limit).unwrap_or(usize::MAX))
                .map(|v| project(self.summary_of(self.shown(v.clone())), q))
                .collect()
        };
        match self.listing {
            Listing::Array => Value::Array(window(Page::ALL)),
            Listing::Offset => {
                let p = Paging::from_query(q);
                p.reply(self.list_key, window(p.store_page()), total)
            }
            Listing::OffsetEnvelope => {
                let p = Paging {
                    include_totals: true,
                    ..Paging::from_query(q)
                };
                p.reply(self.list_key, window(p.store_page()), total)
            }
            Listing::Checkpoint => {
                let c = Checkpoint::from_query(q).unwrap_or(Checkpoint {
                    from: None,
                    take: 50,
                });
                c.reply(self.list_key, window(c.store_page()), total)
            }
        }
    }

    /// A list item: only the summary keys, when the descriptor has them.
    fn summary_of(&self, v: Value) -> Value {
        match v {
            Value::Object(o) if !self.summary.is_empty() => Value::Object(
                o.into_iter()
                    .filter(|(k, _)| self.summary.contains(&k.as_str()))
                    .collect(),
            ),
            other => other,
        }
    }

    /// Makes an object from `body` over the descriptor's new-object fields; answers the stored
    /// object.
    pub async fn create_object(&self, ctx: &Ctx, body: Value) -> Result<Value, Error> {
        let mut obj = self.created.map_or_else(|| json!({}), |f| f());
        merge(&mut obj, &body, Merge::Shallow);
        let id = (self.new_id)();
        let now = time::now();
        if let Value::Object(o) = &mut obj {
            o.shift_insert(0, self.id_field.to_owned(), json!(id));
            if self.timestamps {
                o.insert("created_at".into(), json!(now));
                o.insert("updated_at".into(), json!(now));
            }
        }
        if let Some(check) = self.check {
            check(&mut obj, None)?;
        }
        let (db, tenant) = (ctx.db(), ctx.tenant_id());
        let (obj_ref, id_ref) = (&obj, id.as_str());
        atomically(|| async move {
            let tx = db.begin().await?;
            let now = time::now();
            let mut obj = obj_ref.clone();
            if self.cap.is_some() || self.assign.is_some() {
                // Creations serialise on the collection's own claim row, so that the count and
                // what `assign` saw hold until the commit.
                docs::lock_or_create(&tx, tenant, &self.claim_kind("count"), "", &json!({}), &now)
                    .await?;
                let (others, n) = docs::list(&tx, tenant, self.kind, Page::ALL).await?;
                if let Some((most, too_many)) = self.cap
                    && usize::try_from(n).unwrap_or(usize::MAX) >= most
                {
                    return Err(too_many());
                }
                if let Some(assign) = self.assign {
                    assign(&mut obj, &others);
                }
            }
            self.claim(&tx, tenant, id_ref, &obj, None, &now).await?;
            docs::put(&tx, tenant, self.kind, id_ref, &obj, &now).await?;
            tx.commit().await?;
            Ok::<_, Error>(obj)
        })
        .await
        .inspect(|_| self.was_written(ctx))
    }

    /// Changes an object in one transaction with its row locked: `change` edits the stored
    /// object, the descriptor's `check` and unique keys are applied, and the result is stored.
    pub async fn update<F>(&self, ctx: &Ctx, id: &str, change: F) -> Result<Value, Error>
    where
        F: Fn(&mut Value) -> Result<(), Error> + Send + Sync,
    {
        self.check_id(id)?;
        let (db, tenant) = (ctx.db(), ctx.tenant_id());
        let change = &change;
        atomically(|| async move {
            let tx = db.begin().await?;
            let now = time::now();
            let before = docs::lock(&tx, tenant, self.kind, id)
                .await?
                .ok_or_else(self.missing)?;
            let mut next = before.clone();
            change(&mut next)?;
            if let Value::Object(o) = &mut next {
                // The id is the path's, whatever the body said.
                o.insert(self.id_field.to_owned(), json!(id));
                if self.timestamps {
                    o.insert("updated_at".into(), json!(now));
                }
            }
            if let Some(check) = self.check {
                check(&mut next, Some(&before))?;
            }
            self.claim(&tx, tenant, id, &next, Some(&before), &now)
                .await?;
            docs::put(&tx, tenant, self.kind, id, &next, &now).await?;
            tx.commit().await?;
            Ok::<_, Error>(next)
        })
        .await
        .inspect(|_| self.was_written(ctx))
    }

    /// Applies a PATCH body to an object with the descriptor's merge (see [`Self::update`]).
    pub async fn patch_object(&self, ctx: &Ctx, id: &str, body: &Value) -> Result<Value, Error> {
        let how = self.merge;
        self.update(ctx, id, move |cur| {
            merge(cur, body, how);
            Ok(())
        })
        .await
    }

    /// Deletes an object and frees what it held; `missing` when there is none.
    pub async fn remove(&self, ctx: &Ctx, id: &str) -> Result<Value, Error> {
        self.check_id(id)?;
        let (db, tenant) = (ctx.db(), ctx.tenant_id());
        atomically(|| async move {
            let tx = db.begin().await?;
            let before = docs::lock(&tx, tenant, self.kind, id)
                .await?
                .ok_or_else(self.missing)?;
            self.remove_locked(&tx, tenant, id, &before).await?;
            tx.commit().await?;
            Ok::<_, Error>(before)
        })
        .await
        .inspect(|_| self.was_written(ctx))
    }

    /// Deletes an object the caller's transaction has locked (`before`, as `docs::lock` read
    /// it) and frees what it held; for a family whose delete writes more in the same
    /// transaction.
    pub async fn remove_locked(
        &self,
        tx: &Tx,
        tenant: &str,
        id: &str,
        before: &Value,
    ) -> Result<(), Error> {
        for u in self.unique {
            if let Some(v) = (u.of)(before) {
                self.release(tx, tenant, u, &v, id).await?;
            }
        }
        docs::delete(tx, tenant, self.kind, id).await?;
        Ok(())
    }

    fn check_id(&self, id: &str) -> Result<(), Error> {
        self.valid_id.map_or(Ok(()), |valid| valid(id))
    }

    fn was_written(&self, ctx: &Ctx) {
        if let Some(written) = self.written {
            written(ctx);
        }
    }

    /// What a PUT keeps of the object it replaces: its id and creation time.
    fn kept_on_replace(&self, cur: &Value) -> Value {
        let mut keep = Map::new();
        for k in [self.id_field, "created_at"] {
            if let Some(v) = cur.get(k) {
                keep.insert(k.to_owned(), v.clone());
            }
        }
        Value::Object(keep)
    }

    fn claim_kind(&self, name: &str) -> String {
        format!("{}#{name}", self.kind)
    }

    /// Takes the unique values `next` holds (and frees those `before` held and `next` does not).
    async fn claim(
        &self,
        tx: &Tx,
        tenant: &str,
        id: &str,
        next: &Value,
        before: Option<&Value>,
        now: &str,
    ) -> Result<(), Error> {
        for u in self.unique {
            let old = before.and_then(|b| (u.of)(b));
            let new = (u.of)(next);
            if old == new {
                continue;
            }
            if let Some(old) = &old {
                self.release(tx, tenant, u, old, id).await?;
            }
            if let Some(new) = &new {
                let mine = json!({ "id": id });
                let held =
                    docs::lock_or_create(tx, tenant, &self.claim_kind(u.name), new, &mine, now)
                        .await?;
                if held != mine {
                    return Err((u.taken)(next));
                }
            }
        }
        Ok(())
    }

    async fn release(
        &self,
        tx: &Tx,
        tenant: &str,
        u: &Unique,
        value: &str,
        id: &str,
    ) -> Result<(), Error> {
        let kind = self.claim_kind(u.name);
        if let Some(held) = docs::lock(tx, tenant, &kind, value).await?
            && held.get("id").and_then(Value::as_str) == Some(id)
        {
            docs::delete(tx, tenant, &kind, value).await?;
        }
        Ok(())
    }
}
