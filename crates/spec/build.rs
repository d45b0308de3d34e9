//! Turns the embedded OpenAPI document into `enum Op` and the `OPERATIONS` table.
use std::{env, fmt::Write as _, fs, path::Path};

use serde_json::Value;

fn camel(op_id: &str) -> String {
    op_id
        .split(['_', '-'])
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let src = "management-api.openapi.json";
    println!("cargo:rerun-if-changed={src}");
    let spec: Value = serde_json::from_str(&fs::read_to_string(src)?)?;
    let paths = spec["paths"].as_object().ok_or("spec has no paths")?;
    let mut variants = String::new();
    let mut table = String::new();
    let mut count = 0usize;
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let id = op["operationId"]
                .as_str()
                .ok_or("operation without operationId")?;
            let name = camel(id);
            let tag = op["tags"][0].as_str().unwrap_or("");
            let mut scopes = Vec::new();
            if let Some(sec) = op["security"].as_array() {
                for s in sec {
                    if let Some(list) = s.get("oAuth2ClientCredentials").and_then(Value::as_array) {
                        scopes.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
                    }
                }
            }
            let responses = op["responses"]
                .as_object()
                .ok_or("operation without responses")?;
            let success: u16 = responses
                .keys()
                .filter(|k| k.starts_with('2'))
                .filter_map(|k| k.parse().ok())
                .min()
                .unwrap_or(200);
            let body = op.get("requestBody");
            let content = body
                .and_then(|b| b.get("content"))
                .and_then(Value::as_object);
            let schema_ref = content
                .and_then(|c| c.values().next())
                .and_then(|m| m.get("schema"))
                .map(|s| s.to_string());
            let content_types: Vec<String> = content
                .map(|c| c.keys().cloned().collect())
                .unwrap_or_default();
            let body_required = body
                .and_then(|b| b.get("required"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let mut params = String::new();
            for p in op["parameters"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let loc = match p["in"].as_str() {
                    Some("path") => "ParamIn::Path",
                    Some("query") => "ParamIn::Query",
                    Some("header") => "ParamIn::Header",
                    _ => continue,
                };
                // A parameter whose schema is a `$ref` gets the referenced schema inline, so that
                // its declared type (used to convert the raw query value) is visible.
                let mut schema = p["schema"].clone();
                if let Some(name) = schema
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    && let Some(target) = spec["components"]["schemas"].get(name)
                {
                    schema = target.clone();
                }
                write!(
                    params,
                    "Param {{ name: {:?}, location: {loc}, required: {}, ty: {:?}, schema: {:?} }},",
                    p["name"].as_str().unwrap_or(""),
                    p["required"].as_bool().unwrap_or(false),
                    schema.get("type").and_then(Value::as_str),
                    schema.to_string()
                )?;
            }
            let summary = op["summary"].as_str().unwrap_or("").trim().to_owned();
            writeln!(variants, "    {name},")?;
            writeln!(
                table,
                "    OpInfo {{ op: Op::{name}, id: {id:?}, summary: {summary:?}, tag: {tag:?}, method: Method::{m}, path: {path:?}, scopes: &{scopes:?}, success: {success}, body_schema: {schema_ref:?}, body_required: {body_required}, content_types: &{content_types:?}, params: &[{params}] }},",
                m = method.to_ascii_uppercase(),
            )?;
            count += 1;
        }
    }
    let mut all_scopes = String::new();
    if let Some(s) = spec["components"]["securitySchemes"]["oAuth2ClientCredentials"]["flows"]
        ["clientCredentials"]["scopes"]
        .as_object()
    {
        for (k, v) in s {
            write!(all_scopes, "({k:?}, {:?}),", v.as_str().unwrap_or(""))?;
        }
    }
    let out = format!(
        "/// One variant per operation of the Management API spec, named after its operationId.\n\
         #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]\n\
         pub enum Op {{\n{variants}}}\n\n\
         /// Every operation of the spec, in the spec's order.\n\
         pub static OPERATIONS: [OpInfo; {count}] = [\n{table}];\n\n\
         /// Every scope of the Management API with its description.\n\
         pub static SCOPES: &[(&str, &str)] = &[{all_scopes}];\n"
    );
    let dest = Path::new(&env::var("OUT_DIR")?).join("ops.rs");
    fs::write(dest, out)?;
    Ok(())
}
