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
}
