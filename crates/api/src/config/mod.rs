//! The configuration families: descriptors over the `docs` table, served by one set of handlers.
//!
//! A [`Doc`] describes one configuration document and the operations on it: where it is kept
//! (`kind`, and the path parameters that key it — none for a tenant-wide singleton), what it shows
//! before anything was written ([`Doc::defaults`]; `None` means "not there yet": reads answer
//! `missing`), how a PATCH applies ([`Merge`]), and which fields are written but never shown.
//! Each family file lists its descriptors and only adds code for real behaviour.
//!
//! Every write is one transaction that locks the document (created first when it is new, so
//! that concurrent first writers serialise on one row).

pub mod attack_protection;
pub mod branding;
pub mod collection;
pub mod custom_domains;
pub mod emails;
pub mod forms;
pub mod guardian;
pub mod hooks;
pub mod network_acls;
pub mod phone;
pub mod profiles;
pub mod prompts;
pub mod rendering;
pub mod rules;
pub mod signals;
pub mod tenants;

use serde_json::{Map, Value};

use gatehouse_core::{Error, time};
use gatehouse_spec::Op;
use gatehouse_store::{atomically, docs};

use crate::spine::{Ctx, Input, Registry, Reply};

/// Registers every configuration family.
pub fn register(reg: &mut Registry) {
    for d in tenants::DOCS
        .iter()
        .chain(attack_protection::DOCS)
        .chain(emails::DOCS)
        .chain(prompts::DOCS)
        .chain(branding::DOCS)
        .chain(phone::DOCS)
        .chain(guardian::DOCS)
    {
        d.register(reg);
    }
    branding::register(reg);
    phone::register(reg);
    guardian::register(reg);
    rendering::register(reg);
    custom_domains::register(reg);
    rules::register(reg);
    hooks::register(reg);
    forms::register(reg);
    profiles::register(reg);
    network_acls::register(reg);
    signals::register(reg);
}

/// How a PATCH body applies to the stored document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// Objects merge key by key at every depth; `null` removes a key (its default shows again).
    Deep,
    /// Top-level keys are replaced whole; `null` removes a key.
    Shallow,
}

/// One configuration document and its operations.
pub struct Doc {
    /// The `docs` kind.
    pub kind: &'static str,
    /// The path parameters whose values key the document, in order (empty: one per tenant).
    pub key: &'static [&'static str],
    pub get: Option<Op>,
    pub patch: Option<Op>,
    /// Replaces the document with the body (when the descriptor has `create`, it must exist).
    pub put: Option<Op>,
    /// Makes the document; answers `conflict` when there is one. With `create`, PATCH and PUT
    /// answer `missing` until it is made.
    pub create: Option<Op>,
    /// Where `create` finds the document's key: this body field (else the path's `key`).
    pub body_key: Option<&'static str>,
    pub delete: Option<Op>,
    /// What the document shows before anything was written, and under what was written; `None`:
    /// nothing until it is made (reads, PATCH and DELETE answer `missing`).
    pub defaults: Option<fn() -> Value>,
    pub merge: Merge,
    /// Fields that are written but never shown back (secrets), as dot paths.
    pub hidden: &'static [&'static str],
    /// The error when the document is not there (`defaults` is `None`).
    pub missing: fn() -> Error,
    /// The error when `create` finds a document there already.
    pub conflict: fn() -> Error,
    /// Real behaviour of a PATCH beyond the merge: called with the stored document and the body
    /// before they merge.
    pub before_patch: Option<fn(&mut Value, &Value)>,
    /// What every write leaves in the stored document (e.g. empty objects dropped).
    pub normalize: Option<fn(&mut Value)>,
}

/// A descriptor's defaults for what it does not say: no operations, shown as stored, deep merge.
pub const DOC: Doc = Doc {
    kind: "",
    key: &[],
    get: None,
    patch: None,
    put: None,
    create: None,
    body_key: None,
    delete: None,
    defaults: None,
    merge: Merge::Deep,
    hidden: &[],
    missing: never,
    conflict: never,
    before_patch: None,
    normalize: None,
};

/// The default `missing`/`conflict` of a descriptor that can always be read.
pub fn never() -> Error {
    Error::NotFound("Not Found".into())
}

impl Doc {
    fn register(&'static self, reg: &mut Registry) {
        if let Some(op) = self.get {
            reg.add(op, move |ctx, input| self.read(ctx, input));
        }
        if let Some(op) = self.patch {
            reg.add(op, move |ctx, input| self.write(ctx, input, Write::Patch));
            // A `null` removes a setting (its default shows again), whatever the schema says.
            reg.allow_null_unset(op);
        }
        if let Some(op) = self.put {
            reg.add(op, move |ctx, input| self.write(ctx, input, Write::Put));
        }
        if let Some(op) = self.create {
            reg.add(op, move |ctx, input| self.write(ctx, input, Write::Create));
        }
        if let Some(op) = self.delete {
            reg.add(op, move |ctx, input| self.remove(ctx, input));
        }
    }

    /// The document's id: the key's path parameters joined by `/` (`settings` when it has none);
    /// for `create` with a `body_key`, that body field, which the other writes may repeat but not
    /// contradict.
    fn id(&self, input: &Input, how: Option<Write>) -> Result<String, Error> {
        let given = self
            .body_key
            .and_then(|field| Some((field, input.body.get(field)?.as_str()?)));
        match (how, given) {
            (Some(Write::Create), Some((_, v))) => Ok(v.to_owned()),
            (Some(Write::Create), None) if self.body_key.is_some() => Err(Error::bad_body(
                "Payload validation error: the document's key is missing from the body.",
            )),
            (Some(_), Some((field, v))) if v != self.path_id(input) => Err(Error::bad_body(
                format!("The {field} property provided in payload must match {field} in the URL."),
            )),
            _ => Ok(self.path_id(input)),
        }
    }

    fn path_id(&self, input: &Input) -> String {
        if self.key.is_empty() {
            return gatehouse_store::tenants::SETTINGS_ID.to_owned();
        }
        self.key
            .iter()
            .map(|k| input.path(k))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// What the API shows of a stored document (or of none): the defaults under it, the hidden
    /// fields taken out.
    pub fn shown(&self, stored: Option<Value>) -> Result<Value, Error> {
        let mut v = match (self.defaults, stored) {
            (Some(defaults), Some(stored)) => {
                let mut d = defaults();
                merge(&mut d, &stored, Merge::Deep);
                d
            }
            (Some(defaults), None) => defaults(),
            (None, Some(stored)) => stored,
            (None, None) => return Err((self.missing)()),
        };
        for h in self.hidden {
            remove_path(&mut v, h);
        }
        Ok(v)
    }

    async fn read(&'static self, ctx: Ctx, input: Input) -> Result<Reply, Error> {
        let id = self.id(&input, None)?;
        let stored = docs::get(ctx.db(), ctx.tenant_id(), self.kind, &id).await?;
        Ok(Reply::json(fields(self.shown(stored)?, &input)))
    }

    async fn write(&'static self, ctx: Ctx, input: Input, how: Write) -> Result<Reply, Error> {
        let (db, tenant) = (ctx.db(), ctx.tenant_id());
        let id = &self.id(&input, Some(how))?;
        let body = &Value::Object(input.body_object());
        let stored = atomically(|| async move {
            let tx = db.begin().await?;
            let now = time::now();
            let current = if self.defaults.is_some() {
                // A document with defaults is always there: the first write makes it.
                let empty = Value::Object(Map::new());
                Some(docs::lock_or_create(&tx, tenant, self.kind, id, &empty, &now).await?)
            } else {
                docs::lock(&tx, tenant, self.kind, id).await?
            };
            let mut next = match (how, current) {
                (Write::Create, Some(_)) if self.defaults.is_none() => {
                    return Err((self.conflict)());
                }
                (Write::Patch | Write::Put, None) if self.create.is_some() => {
                    return Err((self.missing)());
                }
                (Write::Patch, Some(mut cur)) => {
                    if let Some(hook) = self.before_patch {
                        hook(&mut cur, body);
                    }
                    merge(&mut cur, body, self.merge);
                    cur
                }
                (Write::Patch, None) => without_nulls(body),
                (Write::Put | Write::Create, _) => without_nulls(body),
            };
            if let Some(normalize) = self.normalize {
                normalize(&mut next);
            }
            docs::put(&tx, tenant, self.kind, id, &next, &now).await?;
            tx.commit().await?;
            Ok::<_, Error>(next)
        })
        .await?;
        Ok(Reply::json(self.shown(Some(stored))?))
    }

    /// Deletes the document; as in Auth0, deleting one that is not there is no error.
    async fn remove(&'static self, ctx: Ctx, input: Input) -> Result<Reply, Error> {
        let id = self.id(&input, None)?;
        docs::delete(ctx.db(), ctx.tenant_id(), self.kind, &id).await?;
        Ok(Reply::empty())
    }
}

/// `fields` / `include_fields` of a read: only (or all but) the named top-level keys.
fn fields(v: Value, input: &Input) -> Value {
    let Some(list) = input.query.list("fields") else {
        return v;
    };
    let include = input.query.bool("include_fields").unwrap_or(true);
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(k, _)| list.iter().any(|f| f == k) == include)
                .collect(),
        ),
        other => other,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    Patch,
    Put,
    Create,
}

/// Applies `patch` to `target`: keys replaced (objects merged at every depth with
/// [`Merge::Deep`]); a `null` removes the key.
pub fn merge(target: &mut Value, patch: &Value, how: Merge) {
    let (Value::Object(t), Value::Object(p)) = (&mut *target, patch) else {
        *target = without_nulls(patch);
        return;
    };
    for (k, v) in p {
        match (how, v, t.get_mut(k)) {
            (_, Value::Null, _) => {
                t.remove(k);
            }
            (Merge::Deep, Value::Object(_), Some(existing @ Value::Object(_))) => {
                merge(existing, v, how);
            }
            _ => {
                t.insert(k.clone(), without_nulls(v));
            }
        }
    }
}

/// Removes the value at the dot path `path` (`recaptcha_v2.secret`), if there is one.
pub(crate) fn remove_path(v: &mut Value, path: &str) {
    let (parent, last) = match path.rsplit_once('.') {
        Some((p, l)) => (
            p.split('.').try_fold(&mut *v, |cur, seg| cur.get_mut(seg)),
            l,
        ),
        None => (Some(&mut *v), path),
    };
    if let Some(Value::Object(o)) = parent {
        o.remove(last);
    }
}

/// `v` without the object keys whose value is `null`, at every depth.
pub(crate) fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deep_and_shallow_merges() {
        let mut deep = json!({"a": {"x": 1, "y": 2}, "b": 1, "c": 3});
        merge(
            &mut deep,
            &json!({"a": {"y": 5, "z": null}, "b": null, "d": {"q": null}}),
            Merge::Deep,
        );
        assert_eq!(deep, json!({"a": {"x": 1, "y": 5}, "c": 3, "d": {}}));

        let mut shallow = json!({"a": {"x": 1, "y": 2}, "b": 1});
        merge(&mut shallow, &json!({"a": {"y": 5}}), Merge::Shallow);
        assert_eq!(shallow, json!({"a": {"y": 5}, "b": 1}));
    }

    fn defaults() -> Value {
        json!({"enabled": false, "shields": ["block"], "stage": {"pre-login": {"max_attempts": 100}}})
    }

    #[test]
    fn shown_is_defaults_under_stored_without_hidden() {
        let d = Doc {
            kind: "k",
            defaults: Some(defaults),
            hidden: &["secret", "stage.pre-login.rate"],
            ..DOC
        };
        assert_eq!(d.shown(None).unwrap(), defaults());
        assert_eq!(
            d.shown(Some(
                json!({"enabled": true, "stage": {"pre-login": {"rate": 5}}, "secret": "s"})
            ))
            .unwrap(),
            json!({"enabled": true, "shields": ["block"], "stage": {"pre-login": {"max_attempts": 100}}})
        );
        let none = Doc {
            defaults: None,
            ..d
        };
        assert_eq!(none.shown(None).unwrap_err().status().as_u16(), 404);
    }
}
