//! Path, query and body validation against the operation's schemas, with Auth0's messages:
//! `Payload validation error: 'Expected type string but found type integer' on property name.`

use serde_json::{Map, Value};

use gatehouse_core::Error;
use gatehouse_spec::{Op, ParamIn, Validators};

use super::input::Query;

fn located(kind: &str, e: gatehouse_spec::ValidationError) -> String {
    if e.path.is_empty() {
        format!("{kind} validation error: '{}'.", e.message)
    } else {
        format!(
            "{kind} validation error: '{}' on property {}.",
            e.message, e.path
        )
    }
}

/// A query or path value converted to the JSON type its schema declares.
fn typed(op: Op, index: usize, raw: &str) -> Value {
    match Validators::param_type(op, index) {
        Some("integer") => raw
            .parse::<i64>()
            .map_or_else(|_| Value::String(raw.to_owned()), Value::from),
        Some("number") => raw
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Value::String(raw.to_owned()), Value::Number),
        Some("boolean") => match raw {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(raw.to_owned()),
        },
        Some("array") => Value::Array(
            raw.split(',')
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ),
        _ => Value::String(raw.to_owned()),
    }
}

pub fn path(v: &Validators, op: Op, params: &[(&'static str, String)]) -> Result<(), Error> {
    for (i, p) in op.info().params.iter().enumerate() {
        if p.location != ParamIn::Path {
            continue;
        }
        let raw = params
            .iter()
            .find(|(n, _)| *n == p.name)
            .map_or("", |(_, v)| v.as_str());
        v.param(op, i, &typed(op, i, raw))
            .map_err(|e| Error::InvalidUri(located("Path", e).into()))?;
    }
    Ok(())
}

pub fn query(v: &Validators, op: Op, q: &Query) -> Result<(), Error> {
    for (i, p) in op.info().params.iter().enumerate() {
        if p.location != ParamIn::Query {
            continue;
        }
        match q.get(p.name) {
            Some(raw) => v
                .param(op, i, &typed(op, i, raw))
                .map_err(|e| Error::InvalidQueryString(located("Query", e).into()))?,
            None if p.required => {
                return Err(Error::InvalidQueryString(
                    format!(
                        "Query validation error: 'Missing required property: {}'.",
                        p.name
                    )
                    .into(),
                ));
            }
            None => {}
        }
    }
    Ok(())
}

pub fn body(v: &Validators, op: Op, body: &Value) -> Result<(), Error> {
    v.body(op, body)
        .map_err(|e| Error::InvalidBody(located("Payload", e).into()))
}

/// Why U+0000 is refused: PostgreSQL's `text` cannot hold it (SQLite would store it), and no Auth0
/// field takes it; refusing it in the spine answers the same 400 on both backends.
const NUL: &str = "String must not contain the NUL character (\\u0000)";

/// A name or path shown in a message, its NUL characters escaped.
fn shown(s: &str) -> String {
    s.replace('\0', "\\u0000")
}

/// Path parameters carrying U+0000: 400 `invalid_uri`.
pub fn no_nul_in_path(params: &[(&'static str, String)]) -> Result<(), Error> {
    match params.iter().find(|(_, v)| v.contains('\0')) {
        Some((name, _)) => Err(Error::InvalidUri(
            format!("Path validation error: '{NUL}' on property {name}.").into(),
        )),
        None => Ok(()),
    }
}

/// Query names or values carrying U+0000: 400 `invalid_query_string`.
pub fn no_nul_in_query(q: &Query) -> Result<(), Error> {
    match q
        .0
        .iter()
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        Some((name, _)) => Err(Error::InvalidQueryString(
            format!(
                "Query validation error: '{NUL}' on property {}.",
                shown(name)
            )
            .into(),
        )),
        None => Ok(()),
    }
}

/// A body with U+0000 in any string or object key, at any depth: 400 `invalid_body` naming
/// where. The parser bounds the depth (serde_json refuses more than 128 levels).
pub fn no_nul_in_body(body: &Value) -> Result<(), Error> {
    fn find(v: &Value) -> Option<Vec<String>> {
        match v {
            Value::String(s) if s.contains('\0') => Some(Vec::new()),
            Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
                find(item).map(|mut p| {
                    p.push(format!("[{i}]"));
                    p
                })
            }),
            Value::Object(map) => map.iter().find_map(|(k, item)| {
                if k.contains('\0') {
                    return Some(vec![shown(k)]);
                }
                find(item).map(|mut p| {
                    p.push(k.clone());
                    p
                })
            }),
            _ => None,
        }
    }
    let Some(rev) = find(body) else {
        return Ok(());
    };
    let mut path = String::new();
    for seg in rev.iter().rev() {
        if !path.is_empty() && !seg.starts_with('[') {
            path.push('.');
        }
        path.push_str(seg);
    }
    let msg = if path.is_empty() {
        format!("Payload validation error: '{NUL}'.")
    } else {
        format!("Payload validation error: '{NUL}' on property {path}.")
    };
    Err(Error::InvalidBody(msg.into()))
}

/// A form-encoded body as the JSON object Auth0 reads it as (every value a string).
pub fn form_to_json(bytes: &[u8]) -> Result<Value, Error> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
        .map_err(|_| Error::bad_body("Invalid request payload format"))?;
    let mut obj = Map::new();
    for (k, v) in pairs {
        obj.insert(k, Value::String(v));
    }
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        let v = Validators::new().unwrap();
        let e = body(&v, Op::PostClients, &serde_json::json!({"name": 1})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Payload validation error: 'Expected type string but found type integer' on property name."
        );
        let q = Query(vec![("per_page".into(), "abc".into())]);
        let e = query(&v, Op::GetClients, &q).unwrap_err();
        assert_eq!(e.error_code(), Some("invalid_query_string"));
        assert!(e.to_string().contains("on property per_page"), "{e}");
        let q = Query(vec![
            ("per_page".into(), "10".into()),
            ("include_totals".into(), "true".into()),
        ]);
        assert!(query(&v, Op::GetClients, &q).is_ok());
    }

    #[test]
    fn nul_is_refused_with_its_location() {
        let e = no_nul_in_path(&[("id", "a\0b".into())]).unwrap_err();
        assert_eq!(e.error_code(), Some("invalid_uri"));
        assert_eq!(
            e.to_string(),
            "Path validation error: 'String must not contain the NUL character (\\u0000)' on property id."
        );
        let q = Query(vec![("q".into(), "x\0".into())]);
        assert_eq!(
            no_nul_in_query(&q).unwrap_err().error_code(),
            Some("invalid_query_string")
        );
        let body = serde_json::json!({"a": [1, {"b\0c": 2}]});
        let e = no_nul_in_body(&body).unwrap_err();
        assert_eq!(e.error_code(), Some("invalid_body"));
        assert!(
            e.to_string().ends_with("on property a[1].b\\u0000c."),
            "{e}"
        );
        let body = serde_json::json!({"m": {"k": ["ok", "no\0"]}});
        assert!(
            no_nul_in_body(&body)
                .unwrap_err()
                .to_string()
                .ends_with("on property m.k[1].")
        );
        assert!(no_nul_in_body(&serde_json::json!({"a": "fine", "b": [null, 1]})).is_ok());
        assert!(no_nul_in_body(&serde_json::json!("\0")).is_err());
    }
}
