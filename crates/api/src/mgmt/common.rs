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
