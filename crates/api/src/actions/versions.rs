//! The numbered, immutable versions of actions (deploys) and of modules (publications): each a
//! document of the kind `<prefix>/<parent id>`, numbered from 1 by `number_key`.

use serde_json::{Map, Value};

use gatehouse_core::Error;
use gatehouse_spec::Op;
use gatehouse_store::{Exec, Page, docs};

use super::SECRET_VALUES;
use crate::config::collection::Collection;
use crate::spine::{Ctx, Input, Query, Registry, Reply};

pub(crate) struct Versions {
    /// The collection of the versions' parents, and the path parameters naming a parent and
    /// one of its versions.
    pub parent: &'static Collection,
    pub parent_param: &'static str,
    pub id_param: &'static str,
    /// The list's envelope.
    pub page: fn(&str, Vec<Value>, &Query) -> Value,
    pub prefix: &'static str,
    /// The key holding a version's number (`number`, `version_number`).
    pub number_key: &'static str,
    /// The order of a version's keys in replies.
    pub order: &'static [&'static str],
    pub missing: fn() -> Error,
}

impl Versions {
    /// Serves the list of a parent's versions (newest first) and one version.
    pub fn register(&'static self, reg: &mut Registry, list: Op, get: Op) {
        reg.add(list, move |ctx, input| self.list(ctx, input));
        reg.add(get, move |ctx, input| self.get(ctx, input));
    }

    async fn list(&'static self, ctx: Ctx, input: Input) -> Result<Reply, Error> {
        let parent = input.path(self.parent_param);
        self.parent.load(&ctx, parent).await?;
        let vs = self.newest_first(ctx.db(), ctx.tenant_id(), parent).await?;
        let shown = vs.into_iter().map(|v| self.shown(v)).collect();
        Ok(Reply::json((self.page)("versions", shown, &input.query)))
    }

    async fn get(&'static self, ctx: Ctx, input: Input) -> Result<Reply, Error> {
        let parent = input.path(self.parent_param);
        self.parent.load(&ctx, parent).await?;
        let v = self
            .find(ctx.db(), ctx.tenant_id(), parent, input.path(self.id_param))
            .await?;
        Ok(Reply::json(self.shown(v)))
    }

    pub fn kind(&self, parent: &str) -> String {
        format!("{}/{parent}", self.prefix)
    }

    fn number(&self, v: &Value) -> Option<i64> {
        v.get(self.number_key).and_then(Value::as_i64)
    }

    /// Every version of `parent`, newest first.
    pub async fn newest_first(
        &self,
        x: &impl Exec,
        tenant: &str,
        parent: &str,
    ) -> Result<Vec<Value>, Error> {
        let mut vs = docs::list(x, tenant, &self.kind(parent), Page::ALL)
            .await?
            .0;
        vs.sort_by_key(|v| std::cmp::Reverse(self.number(v)));
        Ok(vs)
    }

    /// The version named `id` of `parent`, or the family's `missing` error.
    pub async fn find(
        &self,
        x: &impl Exec,
        tenant: &str,
        parent: &str,
        id: &str,
    ) -> Result<Value, Error> {
        docs::get(x, tenant, &self.kind(parent), id)
            .await?
            .ok_or_else(self.missing)
    }

    /// The number the next version of `versions` takes.
    pub fn next_number(&self, versions: &[Value]) -> i64 {
        versions
            .iter()
            .filter_map(|v| self.number(v))
            .max()
            .unwrap_or(0)
            + 1
    }

    /// A version as replies show it: keys in order, secret values out.
    pub fn shown(&self, v: Value) -> Value {
        let Value::Object(mut o) = v else { return v };
        o.shift_remove(SECRET_VALUES);
        let mut out = Map::new();
        for k in self.order {
            if let Some(x) = o.shift_remove(*k) {
                out.insert((*k).to_owned(), x);
            }
        }
        out.extend(o);
        Value::Object(out)
    }
}
