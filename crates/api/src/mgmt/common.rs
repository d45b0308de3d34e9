//! Helpers shared by the families' handlers.

use serde_json::{Map, Value};

/// Merges `patch` into `target` the way Auth0 merges nested client settings: objects merge key
/// by key, recursively; a `null` removes the key; anything else replaces the value in place.
pub fn deep_merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => merge_object(t, p),
        (t, p) => *t = p,
    }
}

/// [`deep_merge`] on two objects.
pub fn merge_object(target: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (k, v) in patch {
        if v.is_null() {
            target.shift_remove(&k);
            continue;
        }
        match target.get_mut(&k) {
            Some(existing @ Value::Object(_)) if v.is_object() => deep_merge(existing, v),
            _ => {
                target.insert(k, v);
            }
        }
    }
}

/// `obj` with its keys in the order of `order`; keys not listed keep their relative order after them.
pub fn order_keys(obj: Map<String, Value>, order: &[&str]) -> Map<String, Value> {
    let mut rest = obj;
    let mut out = Map::with_capacity(rest.len());
    for k in order {
        if let Some(v) = rest.shift_remove(*k) {
            out.insert((*k).to_owned(), v);
        }
    }
    out.extend(rest);
    out
}

/// Checkpoint pagination over rows ordered by `(created_at, id)`: the opaque cursor `from` names
/// the last row seen; `take` (1–100, default 50) rows follow it.
pub struct Keyset {
    pub after: Option<(String, String)>,
    pub take: i64,
}

impl Keyset {
    pub fn from_query(q: &crate::spine::Query) -> Result<Self, gatehouse_core::Error> {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let bad = || gatehouse_core::Error::InvalidQueryString("Invalid value for from".into());
        let after = match q.get("from").filter(|f| !f.is_empty()) {
            None => None,
            Some(f) => {
                let raw = URL_SAFE_NO_PAD.decode(f).map_err(|_| bad())?;
                let s = String::from_utf8(raw).map_err(|_| bad())?;
                let (c, i) = s.split_once('\n').ok_or_else(bad)?;
                Some((c.to_owned(), i.to_owned()))
            }
        };
        Ok(Self {
            after,
            take: q.i64("take").unwrap_or(50).clamp(1, 100),
        })
    }

    pub fn after(&self) -> Option<(&str, &str)> {
        self.after.as_ref().map(|(c, i)| (c.as_str(), i.as_str()))
    }

    /// How many rows to read: one more than `take`, to know whether more follow.
    pub fn limit(&self) -> i64 {
        self.take + 1
    }

    /// `{<key>: [...], next?}` from the rows read (up to `take + 1`): `next` names the last row
    /// shown when more follow.
    pub fn reply<T>(
        &self,
        key: &str,
        mut rows: Vec<T>,
        cursor: impl Fn(&T) -> (String, String),
        render: impl Fn(&T) -> Value,
    ) -> Value {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let more = rows.len() as i64 > self.take;
        rows.truncate(usize::try_from(self.take).unwrap_or(0));
        let mut env = Map::new();
        env.insert(key.into(), Value::Array(rows.iter().map(render).collect()));
        if more && let Some(last) = rows.last() {
            let (c, i) = cursor(last);
            env.insert(
                "next".into(),
                Value::String(URL_SAFE_NO_PAD.encode(format!("{c}\n{i}"))),
            );
        }
        Value::Object(env)
    }
}

/// Unix seconds as Auth0 prints a time.
pub fn unix_time(secs: i64) -> Value {
    time::OffsetDateTime::from_unix_timestamp(secs).map_or(Value::Null, |t| {
        Value::String(gatehouse_core::time::format(t))
    })
}

/// 404 unless the user exists.
pub async fn user_must_exist(
    ctx: &crate::spine::Ctx,
    user_id: &str,
) -> Result<(), gatehouse_core::Error> {
    gatehouse_store::users::find(ctx.db(), ctx.tenant_id(), user_id)
        .await?
        .map(|_| ())
        .ok_or_else(super::users::user_not_found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merges_nested_objects_and_null_deletes() {
        let mut v = json!({"a": {"x": 1, "y": {"p": 1, "q": 2}}, "b": 1});
        deep_merge(
            &mut v,
            json!({"a": {"y": {"q": null, "r": 3}, "z": [1]}, "b": null, "c": "new"}),
        );
        assert_eq!(
            v,
            json!({"a": {"x": 1, "y": {"p": 1, "r": 3}, "z": [1]}, "c": "new"})
        );
    }

    #[test]
    fn replacing_keeps_position_and_arrays_replace() {
        let mut v = json!({"a": 1, "b": [1, 2], "c": 3});
        deep_merge(&mut v, json!({"b": [9], "a": {"k": 1}}));
        assert_eq!(v.to_string(), r#"{"a":{"k":1},"b":[9],"c":3}"#);
        let mut empty = json!({"foo": "zoo"});
        deep_merge(&mut empty, json!({"foo": null}));
        assert_eq!(empty, json!({}));
    }

    #[test]
    fn orders_keys() {
        let o = json!({"c": 3, "x": 0, "a": 1, "b": 2});
        let Value::Object(m) = o else { unreachable!() };
        let out = order_keys(m, &["a", "b", "c", "missing"]);
        assert_eq!(
            Value::Object(out).to_string(),
            r#"{"a":1,"b":2,"c":3,"x":0}"#
        );
    }
}
