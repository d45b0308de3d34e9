//! Hostile input, as data: each scenario is one request and the answer it must get. Whatever the
//! input — NUL characters, megabyte strings, 10,000 levels of nesting, `null` or non-object bodies,
//! bad percent-encoding, broken chunked framing, huge headers, wrong content types — the server
//! answers an Auth0-shaped 4xx (never a 5xx), stays healthy, and stores nothing.

use std::time::Duration;

use gatehouse_spec::Method;
use gatehouse_testkit::{TestServer, backends, spawn::call, spawn_on};
use reqwest::Method as M;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the tenant holds, as the Management API lists it: equal before and after means nothing
/// was written.
pub async fn tenant_snapshot(s: &TestServer, token: &str) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    for path in [
        "/clients?per_page=100",
        "/connections?per_page=100",
        "/resource-servers?per_page=100",
        "/client-grants?per_page=100",
        "/users?per_page=100",
    ] {
        let (st, v) = call(s, token, M::GET, path, None).await;
        assert_eq!(st, 200, "{path}: {v}");
        out.push((path, v));
    }
    out
}

/// `/healthz` answers 200.
pub async fn assert_healthy(s: &TestServer) {
    let res = s
        .http
        .get(format!("{}/healthz", s.url))
        .send()
        .await
        .expect("healthz");
    assert_eq!(res.status(), 200, "server unhealthy after hostile input");
}

/// The answer a scenario must get.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// This status with Auth0's error JSON and this `errorCode`.
    Auth0(u16, &'static str),
    /// This status with Auth0's error JSON, exactly this message and errorCode `invalid_body`.
    Message(&'static str),
    /// Any 4xx with Auth0's error JSON (the exact code is the validator's business).
    Refused,
    /// The token endpoint's OAuth error: this status and `error`.
    OAuth(u16, &'static str),
    /// Raw connections: a 4xx status line, or the connection closed without an answer; never 5xx.
    RawRefused,
    /// Raw connections: exactly this status line.
    Raw(u16),
}

enum Body {
    None,
    Json(Value),
    Bytes(&'static str, Vec<u8>),
}

struct Case {
    name: String,
    method: M,
    /// Below `/api/v2`, unless it starts with `/oauth`.
    path: String,
    body: Body,
    want: Want,
}

fn case(
    name: impl Into<String>,
    method: M,
    path: impl Into<String>,
    body: Body,
    want: Want,
) -> Case {
    Case {
        name: name.into(),
        method,
        path: path.into(),
        body,
        want,
    }
}

fn raw_json(text: &str) -> Body {
    Body::Bytes("application/json", text.as_bytes().to_vec())
}

/// `depth` nested objects (`{"a":{"a":…}}`) as JSON text.
fn nested_objects(depth: usize) -> String {
    let mut s = String::with_capacity(depth * 6 + 2);
    for _ in 0..depth {
        s.push_str("{\"a\":");
    }
    s.push('1');
    s.push_str(&"}".repeat(depth));
    s
}

/// Ids of real objects, so that scenarios reach the body and the handlers.
struct Ids {
    client: String,
    connection: String,
    resource_server: String,
    grant: String,
    user: String,
}

async fn seed(s: &TestServer, token: &str) -> Ids {
    let (st, c) = call(
        s,
        token,
        M::POST,
        "/clients",
        Some(json!({"name": "hostile-app"})),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    let (st, conn) = call(
        s,
        token,
        M::POST,
        "/connections",
        Some(json!({"name": "hostile-db", "strategy": "auth0"})),
    )
    .await;
    assert_eq!(st, 201, "{conn}");
    let (st, rs) = call(
        s,
        token,
        M::POST,
        "/resource-servers",
        Some(json!({"name": "hostile-api", "identifier": "https://hostile.example/", "scopes": [{"value": "read:x"}]})),
    )
    .await;
    assert_eq!(st, 201, "{rs}");
    let (st, g) = call(
        s,
        token,
        M::POST,
        "/client-grants",
        Some(json!({"client_id": c["client_id"], "audience": "https://hostile.example/", "scope": ["read:x"]})),
    )
    .await;
    assert_eq!(st, 201, "{g}");
    let (st, u) = call(
        s,
        token,
        M::POST,
        "/users",
        Some(json!({"connection": "Username-Password-Authentication", "email": "hostile@example.com", "password": "Hostile-Passw0rd!"})),
    )
    .await;
    assert_eq!(st, 201, "{u}");
    let id = |v: &Value, k: &str| v[k].as_str().unwrap().to_owned();
    Ids {
        client: id(&c, "client_id"),
        connection: id(&conn, "id"),
        resource_server: id(&rs, "id"),
        grant: id(&g, "id"),
        user: id(&u, "user_id"),
    }
}

fn enc(id: &str) -> String {
    id.replace('|', "%7C")
}

fn api_scenarios(ids: &Ids) -> Vec<Case> {
    let (cid, conn, rs, grant) = (
        ids.client.as_str(),
        ids.connection.as_str(),
        ids.resource_server.as_str(),
        ids.grant.as_str(),
    );
    let uid = enc(&ids.user);
    let nul_path = Want::Auth0(400, "invalid_uri");
    let nul_query = Want::Auth0(400, "invalid_query_string");
    let bad_body = Want::Auth0(400, "invalid_body");
    let mb = "x".repeat(1_000_000);
    let mut v = vec![
        // NUL in path ids.
        case(
            "NUL in a client id",
            M::GET,
            format!("/clients/{cid}%00"),
            Body::None,
            nul_path,
        ),
        case(
            "NUL alone as an id",
            M::GET,
            "/connections/%00",
            Body::None,
            nul_path,
        ),
        case(
            "NUL in a user id",
            M::GET,
            format!("/users/{uid}%00x"),
            Body::None,
            nul_path,
        ),
        case(
            "NUL in a delete",
            M::DELETE,
            format!("/resource-servers/{rs}%00"),
            Body::None,
            nul_path,
        ),
        case(
            "NUL in a patched id",
            M::PATCH,
            "/client-grants/a%00b",
            Body::Json(json!({"scope": []})),
            nul_path,
        ),
        case(
            "NUL in a nested path id",
            M::GET,
            format!("/users/{uid}/identities/x%00"),
            Body::None,
            Want::Refused,
        ),
        // NUL in the query.
        case(
            "NUL in fields",
            M::GET,
            "/clients?fields=name%00",
            Body::None,
            nul_query,
        ),
        case(
            "NUL in a v3 search",
            M::GET,
            "/users?q=name%3A%22a%00%22&search_engine=v3",
            Body::None,
            nul_query,
        ),
        case(
            "NUL in users-by-email",
            M::GET,
            "/users-by-email?email=a%00%40example.com",
            Body::None,
            nul_query,
        ),
        case(
            "NUL in a connection filter",
            M::GET,
            "/connections?name=%00",
            Body::None,
            nul_query,
        ),
        case(
            "NUL in a query name",
            M::GET,
            "/clients?x%00=1",
            Body::None,
            nul_query,
        ),
        case(
            "NUL in a grant filter",
            M::GET,
            "/client-grants?audience=https%3A%2F%2Fx%00",
            Body::None,
            nul_query,
        ),
        // NUL in bodies: values and keys, at any depth.
        case(
            "NUL in a client name",
            M::POST,
            "/clients",
            Body::Json(json!({"name": "a\u{0}b"})),
            bad_body,
        ),
        case(
            "NUL in a metadata key",
            M::POST,
            "/clients",
            Body::Json(json!({"name": "ok", "client_metadata": {"k\u{0}": "v"}})),
            bad_body,
        ),
        case(
            "NUL in a patched description",
            M::PATCH,
            format!("/clients/{cid}"),
            Body::Json(json!({"description": "\u{0}"})),
            bad_body,
        ),
        case(
            "NUL in a form body",
            M::POST,
            "/clients",
            Body::Bytes("application/x-www-form-urlencoded", b"name=a%00b".to_vec()),
            bad_body,
        ),
        case(
            "NUL in a connection name",
            M::POST,
            "/connections",
            Body::Json(json!({"name": "c\u{0}x", "strategy": "auth0"})),
            bad_body,
        ),
        case(
            "NUL in connection options",
            M::PATCH,
            format!("/connections/{conn}"),
            Body::Json(json!({"options": {"k\u{0}": 1}})),
            bad_body,
        ),
        case(
            "NUL in an API identifier",
            M::POST,
            "/resource-servers",
            Body::Json(json!({"name": "n", "identifier": "https://nul\u{0}/"})),
            bad_body,
        ),
        case(
            "NUL in a scope",
            M::PATCH,
            format!("/resource-servers/{rs}"),
            Body::Json(json!({"scopes": [{"value": "read:\u{0}"}]})),
            bad_body,
        ),
        case(
            "NUL in a grant",
            M::POST,
            "/client-grants",
            Body::Json(
                json!({"client_id": format!("{cid}\u{0}"), "audience": "https://hostile.example/", "scope": []}),
            ),
            bad_body,
        ),
        case(
            "NUL in a patched grant",
            M::PATCH,
            format!("/client-grants/{grant}"),
            Body::Json(json!({"scope": ["read:\u{0}"]})),
            bad_body,
        ),
        case(
            "NUL in user metadata keys",
            M::POST,
            "/users",
            Body::Json(
                json!({"connection": "Username-Password-Authentication", "email": "nul@example.com", "password": "Hostile-Passw0rd!", "user_metadata": {"deep": {"k\u{0}": 1}}}),
            ),
            bad_body,
        ),
        case(
            "NUL in an email",
            M::POST,
            "/users",
            Body::Json(
                json!({"connection": "Username-Password-Authentication", "email": "n\u{0}ul@example.com", "password": "Hostile-Passw0rd!"}),
            ),
            bad_body,
        ),
        case(
            "NUL in app metadata values",
            M::PATCH,
            format!("/users/{uid}"),
            Body::Json(json!({"app_metadata": {"a": ["ok", "\u{0}"]}})),
            bad_body,
        ),
        case(
            "NUL in enabled clients",
            M::PATCH,
            format!("/connections/{conn}/clients"),
            Body::Json(json!([{"client_id": "a\u{0}", "status": true}])),
            bad_body,
        ),
        // Megabyte strings.
        case(
            "1 MB client description",
            M::POST,
            "/clients",
            Body::Json(json!({"name": "big", "description": mb})),
            bad_body,
        ),
        case(
            "1 MB connection name",
            M::POST,
            "/connections",
            Body::Json(json!({"name": mb, "strategy": "auth0"})),
            bad_body,
        ),
        case(
            "1 MB API identifier",
            M::POST,
            "/resource-servers",
            Body::Json(json!({"name": "n", "identifier": mb})),
            bad_body,
        ),
        case(
            "1 MB user name",
            M::PATCH,
            format!("/users/{uid}"),
            Body::Json(json!({"name": mb})),
            bad_body,
        ),
        case(
            "16 KB search query",
            M::GET,
            format!("/users?search_engine=v3&q={}", "a".repeat(16_384)),
            Body::None,
            Want::Refused,
        ),
        case(
            "over 1 MiB of JSON",
            M::POST,
            "/clients",
            Body::Json(json!({"name": "x".repeat(1_100_000)})),
            Want::Auth0(413, "payload_too_large"),
        ),
        // Deep nesting (serde_json refuses more than 128 levels).
        case(
            "10k nested objects",
            M::POST,
            "/clients",
            raw_json(&format!(
                "{{\"name\":\"n\",\"client_metadata\":{}}}",
                nested_objects(10_000)
            )),
            Want::Message("Invalid request payload JSON format"),
        ),
        case(
            "10k nested arrays",
            M::PATCH,
            format!("/users/{uid}"),
            raw_json(&format!(
                "{{\"app_metadata\":{{\"a\":{}1{}}}}}",
                "[".repeat(10_000),
                "]".repeat(10_000)
            )),
            Want::Message("Invalid request payload JSON format"),
        ),
        case(
            "200 nested objects in metadata",
            M::PATCH,
            format!("/clients/{cid}"),
            raw_json(&format!("{{\"client_metadata\":{}}}", nested_objects(200))),
            Want::Message("Invalid request payload JSON format"),
        ),
        // Bad percent-encoding.
        case(
            "invalid UTF-8 in a path id",
            M::GET,
            "/clients/%FF%FE",
            Body::None,
            nul_path,
        ),
        case(
            "truncated UTF-8 in a path id",
            M::GET,
            "/users/%E2%82",
            Body::None,
            nul_path,
        ),
        case(
            "invalid UTF-8 in the query",
            M::GET,
            "/clients?fields=%FF",
            Body::None,
            nul_query,
        ),
        case(
            "invalid UTF-8 in a search",
            M::GET,
            "/users?search_engine=v3&q=%C3%28",
            Body::None,
            nul_query,
        ),
        case(
            "a lone percent sign",
            M::GET,
            "/clients/%zz",
            Body::None,
            Want::Refused,
        ),
        // Wrong content types and bytes.
        case(
            "text/plain",
            M::POST,
            "/clients",
            Body::Bytes("text/plain", br#"{"name":"t"}"#.to_vec()),
            Want::Auth0(415, "unsupported_media_type"),
        ),
        case(
            "XML",
            M::POST,
            "/connections",
            Body::Bytes("application/xml", b"<connection/>".to_vec()),
            Want::Auth0(415, "unsupported_media_type"),
        ),
        case(
            "multipart",
            M::PATCH,
            format!("/clients/{cid}"),
            Body::Bytes("multipart/form-data; boundary=x", b"--x--".to_vec()),
            Want::Auth0(415, "unsupported_media_type"),
        ),
        case(
            "a form where the schema wants an array",
            M::PATCH,
            format!("/connections/{conn}/clients"),
            Body::Bytes("application/x-www-form-urlencoded", b"client_id=x".to_vec()),
            bad_body,
        ),
        case(
            "Latin-1 bytes as JSON",
            M::POST,
            "/clients",
            Body::Bytes(
                "application/json; charset=latin1",
                b"{\"name\":\"caf\xe9\"}".to_vec(),
            ),
            bad_body,
        ),
        case(
            "binary as JSON",
            M::POST,
            "/resource-servers",
            Body::Bytes("application/json", vec![0, 159, 146, 150, 0]),
            bad_body,
        ),
    ];
    // Non-object bodies on every create and update of these families.
    let targets = [
        (M::POST, "/clients".to_owned()),
        (M::POST, "/connections".to_owned()),
        (M::POST, "/resource-servers".to_owned()),
        (M::POST, "/client-grants".to_owned()),
        (M::POST, "/users".to_owned()),
        (M::PATCH, format!("/clients/{cid}")),
        (M::PATCH, format!("/connections/{conn}")),
        (M::PATCH, format!("/resource-servers/{rs}")),
        (M::PATCH, format!("/client-grants/{grant}")),
        (M::PATCH, format!("/users/{uid}")),
    ];
    for (method, path) in targets {
        v.push(case(
            format!("null body on {method} {path}"),
            method.clone(),
            path.clone(),
            raw_json("null"),
            Want::Message("Payload validation error: 'Expected type object but found type null'."),
        ));
        for (what, text) in [
            ("array", "[]"),
            ("number", "42"),
            ("string", "\"s\""),
            ("boolean", "true"),
        ] {
            v.push(case(
                format!("{what} body on {method} {path}"),
                method.clone(),
                path.clone(),
                raw_json(text),
                bad_body,
            ));
        }
    }
    // `null` on every implemented operation whose body schema refuses it (a few, such as
    // post_scim-configuration, declare `["object","null"]`): validated like any other body.
    let validators = gatehouse_spec::Validators::new().unwrap();
    for (info, done) in gatehouse_api::coverage().operations {
        if !done || info.body_schema.is_none() || validators.body(info.op, &Value::Null).is_ok() {
            continue;
        }
        let path = fill(&enum_params_filled(info), ids);
        v.push(case(
            format!("null body on {}", info.id),
            method(info.method),
            path,
            raw_json("null"),
            bad_body,
        ));
    }
    v
}

pub fn method(m: Method) -> M {
    M::from_bytes(m.as_str().as_bytes()).unwrap()
}

/// The operation's path with each path parameter that has an enum (a template or prompt name)
/// set to its first value, so that the body is what is judged.
fn enum_params_filled(info: &gatehouse_spec::OpInfo) -> String {
    let mut path = info.path.to_owned();
    for p in info.params {
        let schema: Value = serde_json::from_str(p.schema).unwrap_or(Value::Null);
        if let Some(first) = schema["enum"].get(0).and_then(Value::as_str) {
            path = path.replace(&format!("{{{}}}", p.name), first);
        } else if let Some(id) = schema["pattern"].as_str().and_then(sample_id) {
            path = path.replace(&format!("{{{}}}", p.name), &id);
        } else if let Some(n) = schema["minLength"].as_u64()
            && schema["maxLength"].as_u64() == Some(n)
        {
            // An id of a fixed length (an event stream's): one of that length.
            path = path.replace(&format!("{{{}}}", p.name), &"x".repeat(n as usize));
        }
    }
    path
}

/// An id that a pattern of the form `^rul_[A-Za-z0-9]{16}$` takes (`rul_0000000000000000`).
fn sample_id(pattern: &str) -> Option<String> {
    let rest = pattern.strip_prefix('^')?.strip_suffix('$')?;
    let (prefix, class) = rest.split_once('_')?;
    let n: usize = class
        .strip_prefix("[A-Za-z0-9]{")?
        .strip_suffix('}')?
        .parse()
        .ok()?;
    Some(format!("{prefix}_{}", "0".repeat(n)))
}

/// A spec path with its `{param}`s filled from real objects where the name says which.
fn fill(path: &str, ids: &Ids) -> String {
    let mut out = String::new();
    for seg in path.split('/').skip(1) {
        out.push('/');
        let value = match seg {
            "{id}" if path.starts_with("/clients") => ids.client.clone(),
            "{id}" if path.starts_with("/connections") => ids.connection.clone(),
            "{id}" if path.starts_with("/resource-servers") => ids.resource_server.clone(),
            "{id}" if path.starts_with("/client-grants") => ids.grant.clone(),
            "{id}" if path.starts_with("/users") => enc(&ids.user),
            s if s.starts_with('{') => "x".to_owned(),
            s => s.to_owned(),
        };
        out.push_str(&value);
    }
    out
}

fn token_scenarios(s: &TestServer) -> Vec<Case> {
    let aud = s.mgmt_audience();
    let bad = Want::OAuth(400, "invalid_request");
    let form = |body: String| Body::Bytes("application/x-www-form-urlencoded", body.into_bytes());
    vec![
        case(
            "NUL in a JSON client_id",
            M::POST,
            "/oauth/token",
            Body::Json(
                json!({"grant_type": "client_credentials", "client_id": "a\u{0}", "client_secret": "s", "audience": aud}),
            ),
            bad,
        ),
        case(
            "NUL in a JSON audience",
            M::POST,
            "/oauth/token",
            Body::Json(
                json!({"grant_type": "client_credentials", "client_id": s.admin_client_id, "client_secret": s.admin_client_secret, "audience": format!("{aud}\u{0}")}),
            ),
            bad,
        ),
        case(
            "NUL in a form client_id",
            M::POST,
            "/oauth/token",
            form(format!(
                "grant_type=client_credentials&client_id=a%00&client_secret=s&audience={aud}"
            )),
            bad,
        ),
        case(
            "NUL in a form scope",
            M::POST,
            "/oauth/token",
            form(format!(
                "grant_type=client_credentials&client_id={}&client_secret={}&audience={aud}&scope=read%00",
                s.admin_client_id, s.admin_client_secret
            )),
            bad,
        ),
        case(
            "a null token request",
            M::POST,
            "/oauth/token",
            raw_json("null"),
            bad,
        ),
        case(
            "a 10k-deep token request",
            M::POST,
            "/oauth/token",
            raw_json(&nested_objects(10_000)),
            bad,
        ),
    ]
}

/// Runs one scenario; `Err` says how the answer differs from the one wanted.
async fn run_case(s: &TestServer, token: &str, c: &Case) -> Result<(), String> {
    let url = if c.path.starts_with("/oauth") {
        format!("{}{}", s.url, c.path)
    } else {
        s.api(&c.path)
    };
    let mut req = s.http.request(c.method.clone(), url);
    if !c.path.starts_with("/oauth") {
        req = req.bearer_auth(token);
    }
    req = match &c.body {
        Body::None => req,
        Body::Json(v) => req.json(v),
        Body::Bytes(ct, b) => req.header("content-type", *ct).body(b.clone()),
    };
    let res = req
        .send()
        .await
        .map_err(|e| format!("{}: {:.300}", c.name, e.to_string()))?;
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    let ctx = format!("{}: {status} {text:.300}", c.name);
    let body: Value = serde_json::from_str(&text).map_err(|_| format!("{ctx} (not JSON)"))?;
    let check = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("{ctx} ({what})"))
        }
    };
    check(status < 500, "a 5xx")?;
    match c.want {
        Want::OAuth(st, error) => {
            check(status == st, &format!("wanted {st}"))?;
            check(body["error"] == error, &format!("wanted error {error}"))?;
            return check(
                body["error_description"].is_string(),
                "no error_description",
            );
        }
        Want::Raw(_) | Want::RawRefused => return Err(format!("{ctx} (a raw scenario)")),
        _ => {}
    }
    check(
        body["statusCode"] == status && body["error"].is_string() && body["message"].is_string(),
        "not Auth0's error JSON",
    )?;
    match c.want {
        Want::Auth0(st, code) => check(
            status == st && body["errorCode"] == code,
            &format!("wanted {st} {code}"),
        ),
        Want::Message(msg) => check(
            status == 400 && body["errorCode"] == "invalid_body" && body["message"] == msg,
            &format!("wanted 400 invalid_body {msg}"),
        ),
        _ => check((400..500).contains(&status), "wanted a 4xx"),
    }
}

/// Sends raw bytes on a fresh connection (the server may stop reading early) and returns the
/// status line's code, or `None` when the server closed the connection without answering.
async fn raw(s: &TestServer, bytes: &[u8]) -> Option<u16> {
    let addr = s.url.trim_start_matches("http://");
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let _ = sock.write_all(bytes).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), sock.read_to_end(&mut buf)).await;
    let head = String::from_utf8_lossy(&buf);
    head.strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
}

fn raw_scenarios(s: &TestServer, token: &str) -> Vec<(&'static str, Vec<u8>, Want)> {
    let host = s.url.trim_start_matches("http://").to_owned();
    let head = |extra: &str| {
        format!(
            "POST /api/v2/clients HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nConnection: close\r\n{extra}"
        )
    };
    let mut big_chunked = head("Transfer-Encoding: chunked\r\n\r\n").into_bytes();
    let chunk = format!("{{\"name\":\"{}\"}}", "y".repeat(2 * 1024 * 1024));
    big_chunked.extend(format!("{:x}\r\n{chunk}\r\n0\r\n\r\n", chunk.len()).into_bytes());
    let mut many = head("");
    for i in 0..200 {
        many.push_str(&format!("X-Hostile-{i}: {}\r\n", "v".repeat(50)));
    }
    many.push_str("Content-Length: 2\r\n\r\n{}");
    vec![
        (
            "malformed chunk size",
            head("Transfer-Encoding: chunked\r\n\r\nzz\r\n{\"name\":\"c\"}\r\n0\r\n\r\n").into_bytes(),
            Want::Raw(400),
        ),
        (
            "chunk longer than announced",
            head("Transfer-Encoding: chunked\r\n\r\n2\r\n{\"name\":\"c\"}\r\n0\r\n\r\n").into_bytes(),
            Want::Raw(400),
        ),
        ("a valid chunked body over 1 MiB", big_chunked, Want::Raw(413)),
        (
            "a 1 MB header",
            format!("{}X-Big: {}\r\nContent-Length: 2\r\n\r\n{{}}", head(""), "h".repeat(1_000_000)).into_bytes(),
            Want::RawRefused,
        ),
        ("200 headers", many.into_bytes(), Want::RawRefused),
        (
            "a header with a NUL",
            format!("{}X-Nul: a\0b\r\nContent-Length: 2\r\n\r\n{{}}", head("")).into_bytes(),
            Want::RawRefused,
        ),
        (
            "a NUL in the request target",
            format!("GET /api/v2/clients/a\0b HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").into_bytes(),
            Want::RawRefused,
        ),
    ]
}

#[tokio::test]
async fn hostile_input_is_refused_cleanly() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let token = s.mgmt_token().await;
        let ids = seed(&s, &token).await;
        let before = tenant_snapshot(&s, &token).await;
        let cases = api_scenarios(&ids);
        assert!(cases.len() > 100, "{}", cases.len());
        let tokens = token_scenarios(&s);
        let raws = raw_scenarios(&s, &token);
        let total = cases.len() + tokens.len() + raws.len();
        let mut failures = Vec::new();
        for c in cases.iter().chain(tokens.iter()) {
            if let Err(e) = run_case(&s, &token, c).await {
                failures.push(e);
            }
        }
        for (name, bytes, want) in raws {
            let got = raw(&s, &bytes).await;
            let ok = match want {
                Want::Raw(st) => got == Some(st),
                _ => got.is_none_or(|st| (400..500).contains(&st)),
            };
            if !ok {
                failures.push(format!("{name}: {got:?}, wanted {want:?}"));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} scenarios failed on {}:\n{}",
            failures.len(),
            total,
            b.name(),
            failures.join("\n")
        );
        assert_healthy(&s).await;
        let after = tenant_snapshot(&s, &token).await;
        assert_eq!(
            before,
            after,
            "hostile input changed the tenant on {}",
            b.name()
        );
    }
}

/// `GET /connections/{id}/status` of an available connection: `200 OK`, as the spec says.
#[tokio::test]
async fn connection_status_is_200() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let token = s.mgmt_token().await;
        let ids = seed(&s, &token).await;
        let (st, body) = call(
            &s,
            &token,
            M::GET,
            &format!("/connections/{}/status", ids.connection),
            None,
        )
        .await;
        assert_eq!((st, body), (200, Value::Null), "{}", b.name());
        let (st, body) = call(&s, &token, M::GET, "/connections/con_nope/status", None).await;
        assert_eq!(st, 404, "{body}");
    }
}

/// `gatehouse ops --list | head`: a reader that goes away is no panic, and the exit status is 0.
#[test]
fn ops_list_into_a_closed_pipe() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["ops", "--list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before the first line is written.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr:.300}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr:.300}");
}
