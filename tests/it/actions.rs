//! Actions over real HTTP: the Management API's life of an action (build, deploy, versions,
//! bindings, modules) and deployed code running at `/oauth/token` (credentials-exchange) in
//! the embedded engine, on both backends. Test servers give an action 3 s of wall time.

use std::time::{Duration, Instant};

use base64::Engine as _;
use gatehouse_testkit::{TestServer, backends, spawn::call, spawn_on};
use reqwest::Method;
use serde_json::{Value, json};

async fn ok(s: &TestServer, t: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, v) = call(s, t, method, path, body).await;
    assert!(status < 300, "{path}: {status} {v}");
    v
}

/// Creates, deploys and binds a credentials-exchange action; answers its id.
async fn bound_action(s: &TestServer, t: &str, name: &str, code: &str, secrets: Value) -> String {
    let a = ok(
        s,
        t,
        Method::POST,
        "/actions/actions",
        Some(json!({"name": name, "code": code, "secrets": secrets,
                    "supported_triggers": [{"id": "credentials-exchange", "version": "v2"}]})),
    )
    .await;
    let id = a["id"].as_str().unwrap().to_owned();
    ok(
        s,
        t,
        Method::POST,
        &format!("/actions/actions/{id}/deploy"),
        None,
    )
    .await;
    id
}

async fn bind(s: &TestServer, t: &str, ids: &[&str]) -> (u16, Value) {
    let bindings: Vec<Value> = ids
        .iter()
        .map(|id| json!({"ref": {"type": "action_id", "value": id}, "display_name": id}))
        .collect();
    call(
        s,
        t,
        Method::PATCH,
        "/actions/triggers/credentials-exchange/bindings",
        Some(json!({ "bindings": bindings })),
    )
    .await
}

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn an_action_is_built_deployed_versioned_and_bound() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let (status, a) = call(
            &s,
            &t,
            Method::POST,
            "/actions/actions",
            Some(json!({"name": "claims", "code": "exports.onExecutePostLogin = async (event, api) => {};",
                        "supported_triggers": [{"id": "post-login", "version": "v3"}],
                        "secrets": [{"name": "KEY", "value": "s3cr3t-value"}]})),
        )
        .await;
        assert_eq!(status, 201, "{a}");
        assert_eq!(a["status"], "pending");
        assert_eq!(a["runtime"], "node22");
        assert_eq!(a["dependencies"], json!([]));
        assert_eq!(a["all_changes_deployed"], false);
        assert_eq!(a["secrets"][0]["name"], "KEY");
        let id = a["id"].as_str().unwrap().to_owned();
        let path = format!("/actions/actions/{id}");

        // Not deployed: it cannot be bound.
        let (status, e) = bind(&s, &t, &[&id]).await;
        assert_eq!(status, 400, "{e}");

        let got = ok(&s, &t, Method::GET, &path, None).await;
        assert_eq!(got["status"], "built");
        assert!(got.get("deployed_version").is_none());

        let (status, v) = call(&s, &t, Method::POST, &format!("{path}/deploy"), None).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["number"], 1);
        assert_eq!(v["deployed"], false);
        assert_eq!(v["action"]["id"], id.as_str());
        let got = ok(&s, &t, Method::GET, &path, None).await;
        assert_eq!(got["deployed_version"]["deployed"], true);
        assert_eq!(got["deployed_version"]["number"], 1);
        assert_eq!(got["current_version"]["status"], "BUILT");
        assert_eq!(got["all_changes_deployed"], true);

        // A change makes a draft; the second deploy is version 2 and the first is no longer
        // deployed.
        let p = ok(
            &s,
            &t,
            Method::PATCH,
            &path,
            Some(json!({"code": "exports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim('x', 1); };"})),
        )
        .await;
        assert_eq!(p["status"], "pending");
        assert_eq!(p["all_changes_deployed"], false);
        let v2 = ok(&s, &t, Method::POST, &format!("{path}/deploy"), None).await;
        assert_eq!(v2["number"], 2);
        let vs = ok(&s, &t, Method::GET, &format!("{path}/versions"), None).await;
        let list = vs["versions"].as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["number"], 2);
        assert_eq!(list[0]["deployed"], true);
        assert_eq!(list[1]["deployed"], false);
        let v1_id = list[1]["id"].as_str().unwrap().to_owned();

        // Roll back to version 1: deployed as version 3, with version 1's code.
        let (status, v3) = call(
            &s,
            &t,
            Method::POST,
            &format!("{path}/versions/{v1_id}/deploy"),
            Some(json!({"update_draft": true})),
        )
        .await;
        assert_eq!(status, 200, "{v3}");
        assert_eq!(v3["number"], 3);
        let got = ok(&s, &t, Method::GET, &path, None).await;
        assert_eq!(got["code"], list[1]["code"]);
        assert_eq!(got["deployed_version"]["number"], 3);

        // Bound, and listed with its action.
        let (status, bound) = call(
            &s,
            &t,
            Method::PATCH,
            "/actions/triggers/post-login/bindings",
            Some(json!({"bindings": [{"ref": {"type": "action_name", "value": "claims"}}]})),
        )
        .await;
        assert_eq!(status, 200, "{bound}");
        assert_eq!(bound["bindings"][0]["display_name"], "claims");
        let listed = ok(
            &s,
            &t,
            Method::GET,
            "/actions/triggers/post-login/bindings?page=0&per_page=100",
            None,
        )
        .await;
        assert_eq!(listed["total"], 1);
        assert_eq!(listed["bindings"][0]["action"]["id"], id.as_str());
        let empty = ok(
            &s,
            &t,
            Method::GET,
            "/actions/triggers/post-login/bindings?page=1&per_page=100",
            None,
        )
        .await;
        assert_eq!(empty, json!({"bindings": [], "page": 1, "per_page": 100}));

        // The action list filters by trigger.
        let l = ok(
            &s,
            &t,
            Method::GET,
            "/actions/actions?triggerId=post-login",
            None,
        )
        .await;
        assert_eq!(l["actions"].as_array().unwrap().len(), 1);
        let l = ok(
            &s,
            &t,
            Method::GET,
            "/actions/actions?triggerId=credentials-exchange",
            None,
        )
        .await;
        assert_eq!(l["actions"], json!([]));

        // The secret's value is never shown.
        for p in [
            path.clone(),
            format!("{path}/versions"),
            "/actions/triggers/post-login/bindings".to_owned(),
            "/actions/actions".to_owned(),
        ] {
            let v = ok(&s, &t, Method::GET, &p, None).await;
            assert!(!v.to_string().contains("s3cr3t-value"), "{p}: {v}");
        }

        // Bound: a delete is refused unless forced, which unbinds it.
        let (status, e) = call(&s, &t, Method::DELETE, &path, None).await;
        assert_eq!(status, 409, "{e}");
        let (status, _) = call(&s, &t, Method::DELETE, &format!("{path}?force=true"), None).await;
        assert_eq!(status, 204);
        let (status, e) = call(&s, &t, Method::GET, &path, None).await;
        assert_eq!(status, 404);
        assert_eq!(e["message"], "That action does not exist.");
        let listed = ok(
            &s,
            &t,
            Method::GET,
            "/actions/triggers/post-login/bindings",
            None,
        )
        .await;
        assert_eq!(listed["bindings"], json!([]));

        // npm dependencies cannot be installed here: the build fails and says why.
        let a = ok(
            &s,
            &t,
            Method::POST,
            "/actions/actions",
            Some(
                json!({"name": "deps", "code": "exports.onExecutePostLogin = async () => {};",
                        "dependencies": [{"name": "lodash", "version": "4.17.21"}],
                        "deploy": true,
                        "supported_triggers": [{"id": "post-login", "version": "v3"}]}),
            ),
        )
        .await;
        let did = a["id"].as_str().unwrap();
        let got = ok(
            &s,
            &t,
            Method::GET,
            &format!("/actions/actions/{did}"),
            None,
        )
        .await;
        assert_eq!(got["status"], "failed");
        // Created, but `deploy: true` could not deploy a failed build.
        assert!(got.get("deployed_version").is_none(), "{got}");
        let (status, e) = call(
            &s,
            &t,
            Method::POST,
            &format!("/actions/actions/{did}/deploy"),
            None,
        )
        .await;
        assert_eq!(status, 400);
        assert!(
            e["message"].as_str().unwrap().contains("lodash@4.17.21"),
            "{e}"
        );

        // As Auth0's, the build does not check the code (Auth0 built and deployed code with a
        // syntax error); running it reports the compiler's error.
        let a = ok(
            &s,
            &t,
            Method::POST,
            "/actions/actions",
            Some(json!({"name": "broken", "code": "exports.onExecutePostLogin = async (event, api) => {",
                        "supported_triggers": [{"id": "post-login", "version": "v3"}]})),
        )
        .await;
        let bid = a["id"].as_str().unwrap();
        let got = ok(
            &s,
            &t,
            Method::GET,
            &format!("/actions/actions/{bid}"),
            None,
        )
        .await;
        assert_eq!(got["status"], "built");
        let r = ok(
            &s,
            &t,
            Method::POST,
            &format!("/actions/actions/{bid}/test"),
            Some(json!({"payload": {}})),
        )
        .await;
        assert_eq!(r["payload"]["error"]["id"], "compilation_failed", "{r}");

        // `deploy: true` on create deploys a draft that builds.
        let a = ok(
            &s,
            &t,
            Method::POST,
            "/actions/actions",
            Some(
                json!({"name": "at once", "code": "exports.onExecutePostLogin = async () => {};",
                        "deploy": true,
                        "supported_triggers": [{"id": "post-login", "version": "v3"}]}),
            ),
        )
        .await;
        let got = ok(
            &s,
            &t,
            Method::GET,
            &format!("/actions/actions/{}", a["id"].as_str().unwrap()),
            None,
        )
        .await;
        assert_eq!(got["deployed_version"]["number"], 1, "{got}");

        let triggers = ok(&s, &t, Method::GET, "/actions/triggers", None).await;
        assert!(
            triggers["triggers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["id"] == "credentials-exchange" && t["default_runtime"] == "node22")
        );
    }
}

#[tokio::test]
async fn modules_are_published_in_versions_and_used_by_actions() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let (status, m) = call(
            &s,
            &t,
            Method::POST,
            "/actions/modules",
            Some(json!({"name": "shared", "code": "module.exports = { hi: () => 'hi' };"})),
        )
        .await;
        assert_eq!(status, 201, "{m}");
        assert_eq!(m["all_changes_published"], false);
        assert!(m.get("latest_version").is_none());
        let mid = m["id"].as_str().unwrap().to_owned();
        let (status, dup) = call(
            &s,
            &t,
            Method::POST,
            "/actions/modules",
            Some(json!({"name": "shared", "code": ""})),
        )
        .await;
        assert_eq!(status, 409, "{dup}");

        let (status, v1) = call(
            &s,
            &t,
            Method::POST,
            &format!("/actions/modules/{mid}/versions"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{v1}");
        assert_eq!(v1["version_number"], 1);
        ok(
            &s,
            &t,
            Method::PATCH,
            &format!("/actions/modules/{mid}"),
            Some(json!({"code": "module.exports = { hi: () => 'hello' };"})),
        )
        .await;
        let v2 = ok(
            &s,
            &t,
            Method::POST,
            &format!("/actions/modules/{mid}/versions"),
            None,
        )
        .await;
        assert_eq!(v2["version_number"], 2);
        let vs = ok(
            &s,
            &t,
            Method::GET,
            &format!("/actions/modules/{mid}/versions?page=0&per_page=50"),
            None,
        )
        .await;
        assert_eq!(vs["versions"][0]["version_number"], 2);
        assert_eq!(vs["total"], 2);

        let a = ok(
            &s,
            &t,
            Method::POST,
            "/actions/actions",
            Some(
                json!({"name": "uses",
                        "code": "const shared = require('actions:shared');\nexports.onExecutePostLogin = async (event, api) => { api.idToken.setCustomClaim('said', shared.hi()); };",
                        "supported_triggers": [{"id": "post-login", "version": "v3"}],
                        "modules": [{"module_id": mid, "module_version_id": v1["id"]}]}),
            ),
        )
        .await;
        assert_eq!(a["modules"][0]["module_name"], "shared");
        assert_eq!(a["modules"][0]["module_version_number"], 1);
        // The action runs with the module version it names (v1 says 'hi', v2 'hello').
        let r = ok(
            &s,
            &t,
            Method::POST,
            &format!("/actions/actions/{}/test", a["id"].as_str().unwrap()),
            Some(json!({"payload": {}})),
        )
        .await;
        assert_eq!(r["payload"]["commands"][0]["value"], "hi", "{r}");
        let users = ok(
            &s,
            &t,
            Method::GET,
            &format!("/actions/modules/{mid}/actions"),
            None,
        )
        .await;
        assert_eq!(users["actions"][0]["action_name"], "uses");
        let got = ok(
            &s,
            &t,
            Method::GET,
            &format!("/actions/modules/{mid}"),
            None,
        )
        .await;
        assert_eq!(got["actions_using_module_total"], 1);
        assert_eq!(got["latest_version"]["version_number"], 2);

        // In use: the module cannot be deleted.
        let (status, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/actions/modules/{mid}"),
            None,
        )
        .await;
        assert_eq!(status, 412);
        let aid = a["id"].as_str().unwrap();
        ok(
            &s,
            &t,
            Method::DELETE,
            &format!("/actions/actions/{aid}"),
            None,
        )
        .await;
        let (status, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/actions/modules/{mid}"),
            None,
        )
        .await;
        assert_eq!(status, 204);
    }
}

#[tokio::test]
async fn credentials_exchange_actions_run_at_the_token_endpoint() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let claim = bound_action(
            &s,
            &t,
            "add a claim",
            "exports.onExecuteCredentialsExchange = async (event, api) => {\n\
               console.log('exchange for', event.client.client_id);\n\
               api.accessToken.setCustomClaim('https://example.com/tier', event.secrets.TIER);\n\
               api.accessToken.setCustomClaim('iss', 'forged');\n\
             };",
            json!([{"name": "TIER", "value": "gold"}]),
        )
        .await;
        let (status, e) = bind(&s, &t, &[&claim]).await;
        assert_eq!(status, 200, "{e}");

        let (status, tok) = s.client_credentials(&s.mgmt_audience(), None).await;
        assert_eq!(status, 200, "{tok}");
        let c = jwt_claims(tok["access_token"].as_str().unwrap());
        assert_eq!(c["https://example.com/tier"], "gold");
        // A restricted claim is not changed.
        assert_ne!(c["iss"], "forged");

        // The execution was recorded, with the action's logs.
        let db = gatehouse_store::Db::connect(&s.db.url).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let record = loop {
            let rows = db
                .query(
                    "SELECT body FROM docs WHERE kind = $1",
                    vec!["action_execution".into()],
                )
                .await
                .unwrap();
            if let Some(r) = rows.first() {
                break r.json("body").unwrap();
            }
            assert!(Instant::now() < deadline, "no execution record");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let eid = record["id"].as_str().unwrap();
        let got = ok(
            &s,
            &t,
            Method::GET,
            &format!("/actions/executions/{eid}"),
            None,
        )
        .await;
        assert_eq!(got["trigger_id"], "credentials-exchange");
        assert_eq!(got["results"][0]["action_name"], "add a claim");
        assert!(
            got["results"][0]["logs"]
                .as_str()
                .unwrap()
                .contains("exchange for")
        );

        // api.access.deny refuses the token with the action's code and reason.
        let deny = bound_action(
            &s,
            &t,
            "deny",
            "exports.onExecuteCredentialsExchange = async (event, api) => {\n\
               api.access.deny('invalid_request', 'Not on weekends');\n\
             };",
            json!([]),
        )
        .await;
        bind(&s, &t, &[&claim, &deny]).await;
        let (status, e) = s.client_credentials(&s.mgmt_audience(), None).await;
        assert_eq!(status, 400, "{e}");
        assert_eq!(e["error"], "invalid_request");
        assert_eq!(e["error_description"], "Not on weekends");

        let deny_access = bound_action(
            &s,
            &t,
            "deny access",
            "exports.onExecuteCredentialsExchange = async (event, api) => {\n\
               api.access.deny('access_denied', 'No tokens for you');\n\
             };",
            json!([]),
        )
        .await;
        bind(&s, &t, &[&deny_access]).await;
        let (status, e) = s.client_credentials(&s.mgmt_audience(), None).await;
        assert_eq!(status, 403, "{e}");
        assert_eq!(e["error"], "access_denied");

        // An endless loop is stopped at the time limit and fails the request; the server
        // goes on serving.
        let spin = bound_action(
            &s,
            &t,
            "spin",
            "exports.onExecuteCredentialsExchange = async () => { while (true) {} };",
            json!([]),
        )
        .await;
        bind(&s, &t, &[&spin]).await;
        let started = Instant::now();
        let (status, e) = s.client_credentials(&s.mgmt_audience(), None).await;
        assert_eq!(status, 403, "{e}");
        assert_eq!(e["error"], "access_denied");
        assert!(started.elapsed() < Duration::from_secs(10));

        // api.cache persists between an action's executions.
        let counter = bound_action(
            &s,
            &t,
            "counter",
            "exports.onExecuteCredentialsExchange = async (event, api) => {\n\
               const n = Number((api.cache.get('n') || {}).value || 0) + 1;\n\
               api.cache.set('n', String(n));\n\
               api.accessToken.setCustomClaim('https://example.com/n', n);\n\
             };",
            json!([]),
        )
        .await;
        bind(&s, &t, &[&counter]).await;
        for want in 1..=2 {
            let (status, tok) = s.client_credentials(&s.mgmt_audience(), None).await;
            assert_eq!(status, 200, "{tok}");
            let c = jwt_claims(tok["access_token"].as_str().unwrap());
            assert_eq!(c["https://example.com/n"], want);
        }

        // Unbound, tokens are plain again.
        bind(&s, &t, &[]).await;
        let (status, tok) = s.client_credentials(&s.mgmt_audience(), None).await;
        assert_eq!(status, 200, "{tok}");
        assert!(
            jwt_claims(tok["access_token"].as_str().unwrap())
                .get("https://example.com/tier")
                .is_none()
        );
    }
}

#[tokio::test]
async fn the_test_endpoint_runs_a_draft_within_its_limits() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let create = |name: &str, code: &str| {
            json!({"name": name, "code": code,
                   "secrets": [{"name": "GREETING", "value": "hello"}],
                   "supported_triggers": [{"id": "post-login", "version": "v3"}]})
        };
        let a = ok(
            &s,
            &t,
            Method::POST,
            "/actions/actions",
            Some(create(
                "greet",
                "exports.onExecutePostLogin = async (event, api) => {\n\
                   console.log(event.secrets.GREETING, event.user.email);\n\
                   api.idToken.setCustomClaim('greeting', event.secrets.GREETING);\n\
                   if (event.user.blocked) api.access.deny('blocked');\n\
                 };",
            )),
        )
        .await;
        let id = a["id"].as_str().unwrap();
        let (status, r) = call(
            &s,
            &t,
            Method::POST,
            &format!("/actions/actions/{id}/test"),
            Some(json!({"payload": {"user": {"email": "a@example.com", "blocked": true}}})),
        )
        .await;
        assert_eq!(status, 200, "{r}");
        let p = &r["payload"];
        assert_eq!(p["logs"].as_str().unwrap().trim(), "hello a@example.com");
        let cmds = p["commands"].as_array().unwrap();
        assert_eq!(cmds[0]["type"], "IdTokenSetCustomClaim");
        assert_eq!(cmds[0]["value"], "hello");
        assert_eq!(cmds[1]["type"], "AccessDeny");
        assert!(p.get("error").is_none(), "{p}");

        // A memory bomb is stopped by the memory limit; the server goes on serving.
        let bomb = ok(
            &s,
            &t,
            Method::POST,
            "/actions/actions",
            Some(create(
                "bomb",
                "exports.onExecutePostLogin = async () => { const a = []; while (true) a.push(new Array(100000).fill(1)); };",
            )),
        )
        .await;
        let bid = bomb["id"].as_str().unwrap();
        let (status, r) = call(
            &s,
            &t,
            Method::POST,
            &format!("/actions/actions/{bid}/test"),
            Some(json!({"payload": {}})),
        )
        .await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(
            r["payload"]["error"]["id"], "execution_out_of_memory",
            "{r}"
        );
        let again = ok(&s, &t, Method::GET, &format!("/actions/actions/{id}"), None).await;
        assert_eq!(again["name"], "greet");
    }
}

/// Concurrent deploys of one action: each is its own version, numbered without gap or repeat,
/// and exactly one is deployed.
#[tokio::test]
async fn concurrent_deploys_number_versions_once_each() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let a = ok(
            &s,
            &t,
            Method::POST,
            "/actions/actions",
            Some(
                json!({"name": "racy", "code": "exports.onExecutePostLogin = async () => {};",
                        "supported_triggers": [{"id": "post-login", "version": "v3"}]}),
            ),
        )
        .await;
        let id = a["id"].as_str().unwrap().to_owned();
        let path = format!("/actions/actions/{id}/deploy");
        let replies =
            futures::future::join_all((0..8).map(|_| call(&s, &t, Method::POST, &path, None)))
                .await;
        let mut numbers: Vec<i64> = replies
            .iter()
            .map(|(status, v)| {
                assert_eq!(*status, 200, "{v}");
                v["number"].as_i64().unwrap()
            })
            .collect();
        numbers.sort();
        assert_eq!(numbers, (1..=8).collect::<Vec<_>>());
        let vs = ok(
            &s,
            &t,
            Method::GET,
            &format!("/actions/actions/{id}/versions?per_page=100"),
            None,
        )
        .await;
        let deployed: Vec<&Value> = vs["versions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["deployed"] == true)
            .collect();
        assert_eq!(deployed.len(), 1, "{vs}");
        let got = ok(&s, &t, Method::GET, &format!("/actions/actions/{id}"), None).await;
        assert_eq!(got["deployed_version"]["id"], deployed[0]["id"]);
    }
}
