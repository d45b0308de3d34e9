//! Scenario files: a test written as data, replayed against a running server.
//!
//! A scenario is a YAML file with a list of steps, each one Management API call and what its reply
//! must show:
//!
//! ```yaml
//! steps:
//!   - call: POST /organizations
//!     body: {name: acme, display_name: Acme}
//!     status: 201
//!     save: {org: id}              # `${org}` is now the reply's `id`
//!   - call: GET /roles?type=organization&owner_id=${org}
//!     status: 200
//!     expect: {roles: [{name: Org Reader, owner_id: "${org}"}], total: 1}
//!     absent: [roles.0.description] # dot paths that must not be in the reply
//! ```
//!
//! - `call` is the method and the path under `/api/v2`; `body` is sent as JSON.
//! - `status` must be equal.
//! - `expect` is compared as the cassettes are: every key it has must be in the reply with an
//!   equal value, recursively; an array must have the same length and its elements are compared
//!   in order. `null` inside it expects a JSON null. With `exact: true` the reply must equal
//!   `expect`, nothing more; `empty: true` expects a reply without a body.
//! - `save` names values of the reply (dot paths, array indexes as numbers) for later steps;
//!   `${name}` in a later `call`, `body` or `expect` string is replaced by the value (a string
//!   that is only `${name}` becomes the value itself, whatever its JSON type). An empty path
//!   saves the whole reply (`expect: "${created}"` then checks that a later reply shows all of it).
//!
//! [`run`] gives the first difference with the file and the step.

use std::{collections::HashMap, path::Path};

use serde::Deserialize;
use serde_json::Value;

use crate::{TestServer, spawn::call};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    call: String,
    #[serde(default)]
    body: Option<Value>,
    status: u16,
    #[serde(default)]
    expect: Option<Value>,
    #[serde(default)]
    exact: bool,
    #[serde(default)]
    empty: bool,
    #[serde(default)]
    absent: Vec<String>,
    #[serde(default)]
    save: HashMap<String, String>,
    /// What the step shows, for the failure message.
    #[serde(default)]
    why: Option<String>,
}

/// Runs the scenario file `path` against `server` with the Management API token `token`; the
/// first difference, named by file and step.
pub async fn run(server: &TestServer, token: &str, path: &Path) -> Result<(), String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let scenario: Scenario =
        serde_yaml_ng::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))?;
    let mut vars: HashMap<String, Value> = HashMap::new();
    for (i, step) in scenario.steps.iter().enumerate() {
        let whence = format!(
            "{} step {} ({}){}",
            path.display(),
            i + 1,
            step.call,
            step.why
                .as_deref()
                .map(|w| format!(": {w}"))
                .unwrap_or_default()
        );
        let line = substitute_str(&step.call, &vars);
        let (method, target) = line
            .split_once(' ')
            .ok_or_else(|| format!("{whence}: `call` is `METHOD /path`"))?;
        let method =
            reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| format!("{whence}: {e}"))?;
        let body = step.body.as_ref().map(|b| substitute(b, &vars));
        let (status, reply) = call(server, token, method, target, body).await;
        if status != step.status {
            return Err(format!(
                "{whence}: status {status}, expected {}; reply {reply}",
                step.status
            ));
        }
        if step.empty && !reply.is_null() {
            return Err(format!("{whence}: expected no body; reply {reply}"));
        }
        if let Some(expect) = &step.expect {
            let expect = substitute(expect, &vars);
            if step.exact && expect != reply {
                return Err(format!(
                    "{whence}: expected exactly {expect}\n  reply: {reply}"
                ));
            }
            matches(&expect, &reply, "$")
                .map_err(|diff| format!("{whence}: {diff}\n  reply: {reply}"))?;
        }
        if let Some(p) = step.absent.iter().find(|p| lookup(&reply, p).is_some()) {
            return Err(format!("{whence}: `{p}` should be absent; reply {reply}"));
        }
        for (name, p) in &step.save {
            let v = lookup(&reply, p)
                .ok_or_else(|| format!("{whence}: nothing at `{p}` to save; reply {reply}"))?;
            vars.insert(name.clone(), v.clone());
        }
    }
    Ok(())
}

/// The value at a dot path (`roles.0.id`); an empty path is the value itself.
fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .filter(|s| !s.is_empty())
        .try_fold(v, |cur, seg| match cur {
            Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            Value::Object(o) => o.get(seg),
            _ => None,
        })
}

fn substitute_str(s: &str, vars: &HashMap<String, Value>) -> String {
    let mut out = s.to_owned();
    for (name, v) in vars {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out = out.replace(&format!("${{{name}}}"), &text);
    }
    out
}

fn substitute(v: &Value, vars: &HashMap<String, Value>) -> Value {
    match v {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}'))
                && let Some(val) = vars.get(name)
            {
                return val.clone();
            }
            Value::String(substitute_str(s, vars))
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, vars)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (substitute_str(k, vars), substitute(x, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether `got` shows everything `expect` has (see the module's rules); the first difference.
fn matches(expect: &Value, got: &Value, at: &str) -> Result<(), String> {
    match (expect, got) {
        (Value::Object(e), Value::Object(g)) => {
            for (k, ev) in e {
                let gv = g
                    .get(k)
                    .ok_or_else(|| format!("{at}.{k}: missing (expected {ev})"))?;
                matches(ev, gv, &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(g)) => {
            if e.len() != g.len() {
                return Err(format!("{at}: expected {} items, got {}", e.len(), g.len()));
            }
            for (i, (ev, gv)) in e.iter().zip(g).enumerate() {
                matches(ev, gv, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Number(e), Value::Number(g)) if e.as_f64() == g.as_f64() => Ok(()),
        _ if expect == got => Ok(()),
        _ => Err(format!("{at}: expected {expect}, got {got}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subset_rules() {
        let got = json!({"a": 1, "b": [{"x": 1, "y": 2}], "c": null});
        assert!(matches(&json!({"a": 1}), &got, "$").is_ok());
        assert!(matches(&json!({"b": [{"y": 2}]}), &got, "$").is_ok());
        assert!(matches(&json!({"c": null}), &got, "$").is_ok());
        assert!(matches(&json!({"b": []}), &got, "$").is_err());
        assert!(matches(&json!({"a": 2}), &got, "$").is_err());
        assert!(matches(&json!({"d": 1}), &got, "$").is_err());
    }

    #[test]
    fn variables_and_paths() {
        let mut vars = HashMap::new();
        vars.insert("org".to_owned(), json!("org_1"));
        vars.insert("n".to_owned(), json!(3));
        assert_eq!(
            substitute(
                &json!({"id": "${org}", "n": "${n}", "p": "/o/${org}"}),
                &vars
            ),
            json!({"id": "org_1", "n": 3, "p": "/o/org_1"})
        );
        let v = json!({"roles": [{"id": "r1"}]});
        assert_eq!(lookup(&v, "roles.0.id"), Some(&json!("r1")));
        assert_eq!(lookup(&v, "roles.1.id"), None);
    }
}
