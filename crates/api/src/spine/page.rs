//! The shared conventions of list endpoints: offset pagination (`page`, `per_page`,
//! `include_totals`), checkpoint pagination (`from`, `take`) and `fields` projection.

use serde_json::{Map, Value, json};

use gatehouse_store::Page;

use super::input::Query;

pub const DEFAULT_PER_PAGE: i64 = 50;

/// Offset pagination as asked for by the query.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub page: i64,
    pub per_page: i64,
    pub include_totals: bool,
}

impl Paging {
    pub fn from_query(q: &Query) -> Self {
        Self {
            page: q.i64("page").unwrap_or(0).max(0),
            per_page: q.i64("per_page").unwrap_or(DEFAULT_PER_PAGE).clamp(0, 100),
            include_totals: q.bool("include_totals").unwrap_or(false),
        }
    }

    pub fn store_page(&self) -> Page {
        Page {
            offset: self.page.saturating_mul(self.per_page),
            limit: self.per_page,
        }
    }

    /// A bare array, or with `include_totals` the envelope `{total, start, limit, <key>}`.
    pub fn reply(&self, key: &str, items: Vec<Value>, total: i64) -> Value {
        if !self.include_totals {
            return Value::Array(items);
        }
        let mut env = Map::new();
        env.insert("total".into(), json!(total));
        env.insert("start".into(), json!(self.store_page().offset));
        env.insert("limit".into(), json!(self.per_page));
        env.insert(key.into(), Value::Array(items));
        Value::Object(env)
    }
}

/// Checkpoint pagination: `take` items after the opaque cursor `from`.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub from: Option<String>,
    pub take: i64,
}

impl Checkpoint {
    /// Present when the query uses `take` or `from`.
    pub fn from_query(q: &Query) -> Option<Self> {
        if q.get("take").is_none() && q.get("from").is_none() {
            return None;
        }
        Some(Self {
            from: q.get("from").map(str::to_owned),
            take: q.i64("take").unwrap_or(50).clamp(1, 100),
        })
    }

    /// The cursor is the offset of the next item, as an opaque string.
    pub fn offset(&self) -> i64 {
        self.from
            .as_deref()
            .and_then(|f| f.parse().ok())
            .unwrap_or(0)
            .max(0)
    }

    pub fn store_page(&self) -> Page {
        Page {
            offset: self.offset(),
            limit: self.take,
        }
    }

    /// `{<key>: [...], next?}`: `next` only when more items follow.
    pub fn reply(&self, key: &str, items: Vec<Value>, total: i64) -> Value {
        let next = self.offset() + items.len() as i64;
        let mut env = Map::new();
        env.insert(key.into(), Value::Array(items));
        if next < total {
            env.insert("next".into(), Value::String(next.to_string()));
        }
        Value::Object(env)
    }
}

/// Applies `fields` / `include_fields` to one object. Dotted names (`jwt_configuration.alg`)
/// select inside nested objects.
pub fn project(v: Value, q: &Query) -> Value {
    let Some(fields) = q.list("fields") else {
        return v;
    };
    let include = q.bool("include_fields").unwrap_or(true);
    let Value::Object(mut obj) = v else { return v };
    if include {
        let mut out = Map::new();
        for (k, val) in obj {
            let nested: Vec<&str> = fields
                .iter()
                .filter_map(|f| f.strip_prefix(k.as_str()).and_then(|r| r.strip_prefix('.')))
                .collect();
            if fields.contains(&k) {
                out.insert(k, val);
            } else if !nested.is_empty()
                && let Value::Object(inner) = val
            {
                let picked: Map<String, Value> = inner
                    .into_iter()
                    .filter(|(ik, _)| nested.contains(&ik.as_str()))
                    .collect();
                out.insert(k, Value::Object(picked));
            }
        }
        Value::Object(out)
    } else {
        for f in &fields {
            match f.split_once('.') {
                Some((outer, inner)) => {
                    if let Some(Value::Object(o)) = obj.get_mut(outer) {
                        o.remove(inner);
                    }
                }
                None => {
                    obj.remove(f.as_str());
                }
            }
        }
        Value::Object(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Query {
        Query(
            pairs
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn envelope_matches_auth0() {
        let p = Paging::from_query(&q(&[("include_totals", "true"), ("per_page", "50")]));
        let v = p.reply("clients", vec![json!({"a":1})], 1);
        assert_eq!(
            v.to_string(),
            r#"{"total":1,"start":0,"limit":50,"clients":[{"a":1}]}"#
        );
        let p = Paging::from_query(&q(&[("page", "2"), ("per_page", "10")]));
        assert_eq!(p.store_page().offset, 20);
        assert_eq!(p.reply("clients", vec![], 0), json!([]));
    }

    #[test]
    fn checkpoint_next() {
        let c = Checkpoint::from_query(&q(&[("take", "2")])).unwrap();
        assert_eq!(
            c.reply("x", vec![json!(1), json!(2)], 3),
            json!({"x":[1,2],"next":"2"})
        );
        let c = Checkpoint::from_query(&q(&[("take", "2"), ("from", "2")])).unwrap();
        assert_eq!(c.reply("x", vec![json!(3)], 3), json!({"x":[3]}));
        assert!(Checkpoint::from_query(&q(&[("per_page", "2")])).is_none());
    }

    #[test]
    fn projection() {
        let v = json!({"a":1,"b":2,"j":{"alg":"RS256","x":1}});
        assert_eq!(
            project(v.clone(), &q(&[("fields", "a,j.alg")])),
            json!({"a":1,"j":{"alg":"RS256"}})
        );
        assert_eq!(
            project(
                v.clone(),
                &q(&[("fields", "a"), ("include_fields", "false")])
            ),
            json!({"b":2,"j":{"alg":"RS256","x":1}})
        );
        assert_eq!(project(v.clone(), &q(&[])), v);
    }
}
