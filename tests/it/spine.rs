//! The spine: authentication, scopes, 501, validation, errors, tokens, restarts.

use gatehouse_testkit::{TestServer, backends, spawn_on};
use serde_json::{Value, json};

async fn get(s: &TestServer, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = s.http.get(s.api(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn tokens_and_authentication() {
    for b in backends() {
        let s = spawn_on(&b).await;
        // Form-encoded, as the official SDKs send it.
        let res = s
            .http
            .post(format!("{}/oauth/token", s.url))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", s.admin_client_id.as_str()),
                ("client_secret", s.admin_client_secret.as_str()),
                ("audience", &format!("{}/api/v2/", s.url)),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let tok: Value = res.json().await.unwrap();
        assert_eq!(tok["token_type"], "Bearer");
        assert_eq!(tok["expires_in"], 86400);
        assert!(tok["scope"].as_str().unwrap().contains("read:clients"));
        let token = tok["access_token"].as_str().unwrap();

        // client_secret_basic
        let res = s
            .http
            .post(format!("{}/oauth/token", s.url))
            .basic_auth(&s.admin_client_id, Some(&s.admin_client_secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("audience", &format!("{}/api/v2/", s.url)),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);

        // Wrong secret, unknown audience.
        let res = s
            .http
            .post(format!("{}/oauth/token", s.url))
            .json(&json!({"grant_type":"client_credentials","client_id":s.admin_client_id,"client_secret":"nope","audience":format!("{}/api/v2/", s.url)}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "access_denied");
        let (st, _) = s.client_credentials("https://elsewhere/", None).await;
        assert_eq!(st, 403);

        // No token, garbage token, a good one.
        let (st, body) = get(&s, "/clients", None).await;
        assert_eq!(st, 401);
        assert_eq!(body["statusCode"], 401);
        let (st, _) = get(&s, "/clients", Some("abc.def.ghi")).await;
        assert_eq!(st, 401);
        let (st, _) = get(&s, "/clients", Some(token)).await;
        assert_eq!(st, 200, "{}", b.name());

        // JWKS and discovery.
        let jwks: Value = s
            .http
            .get(format!("{}/.well-known/jwks.json", s.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(jwks["keys"][0]["kty"], "RSA");
        let x5c = jwks["keys"][0]["x5c"][0].as_str().unwrap().to_owned();
        // A client shows the same certificate as its signing key.
        let client: Value = s
            .http
            .get(s.api(&format!("/clients/{}", s.admin_client_id)))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let cert = client["signing_keys"][0]["cert"].as_str().unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
        assert_eq!(
            cert.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
            x5c
        );
        assert_eq!(client["signing_keys"][0]["subject"], "/CN=127.0.0.1");
        let oidc: Value = s
            .http
            .get(format!("{}/.well-known/openid-configuration", s.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(oidc["issuer"], format!("{}/", s.url));
    }
}

#[tokio::test]
async fn scopes_501_and_errors() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let narrow = s.token_with_scope("read:clients").await;
        let (st, body) = get(&s, "/resource-servers", Some(&narrow)).await;
        assert_eq!(st, 403);
        assert_eq!(body["errorCode"], "insufficient_scope");
        assert_eq!(
            body["message"],
            "Insufficient scope, expected any of: read:resource_servers"
        );

        let token = s.mgmt_token().await;
        // An operation without a handler answers 501 whatever its input (while one is left).
        let unserved = gatehouse_api::coverage()
            .operations
            .into_iter()
            .find(|(info, done)| !done && info.method == gatehouse_spec::Method::GET);
        if let Some((info, _)) = unserved {
            let mut path = String::new();
            let mut in_param = false;
            for c in info.path.chars() {
                match c {
                    '{' => in_param = true,
                    '}' => {
                        in_param = false;
                        path.push('x');
                    }
                    c if !in_param => path.push(c),
                    _ => {}
                }
            }
            let (st, body) = get(&s, &format!("{path}?x=1"), Some(&token)).await;
            assert_eq!(st, 501, "{path}");
            assert_eq!(body["errorCode"], "not_implemented");
        }

        let (st, body) = get(&s, "/no-such-thing", Some(&token)).await;
        assert_eq!(st, 404);
        assert_eq!(body["statusCode"], 404);

        let (st, body) = get(&s, "/clients?per_page=abc", Some(&token)).await;
        assert_eq!(st, 400);
        assert_eq!(body["errorCode"], "invalid_query_string");

        let res = s
            .http
            .post(s.api("/clients"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["errorCode"], "invalid_body");

        let res = s
            .http
            .post(s.api("/clients"))
            .bearer_auth(&token)
            .json(&json!({"name": 12}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            body["message"],
            "Payload validation error: 'Expected type string but found type integer' on property name."
        );

        let big = "x".repeat(2 * 1024 * 1024);
        let res = s
            .http
            .post(s.api("/clients"))
            .bearer_auth(&token)
            .json(&json!({ "name": big }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 413);
        let (st, _) = get(&s, "/clients", Some(&token)).await;
        assert_eq!(st, 200);

        let health = s
            .http
            .get(format!("{}/healthz", s.url))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        let ready = s
            .http
            .get(format!("{}/readyz", s.url))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
    }
}

#[tokio::test]
async fn restart_keeps_keys_and_data() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let token = s.mgmt_token().await;
        let (_, before) = get(&s, "/clients", Some(&token)).await;
        let jwks1: Value = s
            .http
            .get(format!("{}/.well-known/jwks.json", s.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let s = s.restart().await;
        let jwks2: Value = s
            .http
            .get(format!("{}/.well-known/jwks.json", s.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            jwks1["keys"][0]["kid"], jwks2["keys"][0]["kid"],
            "signing key regenerated on restart"
        );
        let token = s.mgmt_token().await;
        let (st, after) = get(&s, "/clients", Some(&token)).await;
        assert_eq!(st, 200);
        assert_eq!(
            before.as_array().map(Vec::len),
            after.as_array().map(Vec::len)
        );
    }
}

/// Every operation of the spec is routed; the README's coverage figure is the real one.
#[test]
fn coverage_matches_readme() {
    let cov = gatehouse_api::coverage();
    assert_eq!(cov.operations.len(), 406);
    let implemented = cov.implemented();
    println!("{implemented} of 406 operations implemented");
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let claim = format!("| Management API operations implemented | {implemented} of 406 |");
    assert!(
        readme.contains(&claim),
        "README's coverage table must say: {claim}"
    );
}

/// A token's lifetime is its API's `token_lifetime`, also after a PATCH of the Management API
/// itself, and a restart keeps what was patched.
#[tokio::test]
async fn token_lifetime_follows_the_api() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let token = s.mgmt_token().await;
        let apis: Value = s
            .http
            .get(s.api("/resource-servers"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mgmt = apis
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["is_system"] == true && a["name"] == "Auth0 Management API")
            .unwrap()
            .clone();
        let res = s
            .http
            .patch(s.api(&format!(
                "/resource-servers/{}",
                mgmt["id"].as_str().unwrap()
            )))
            .bearer_auth(&token)
            .json(&json!({"token_lifetime": 3600}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", b.name());
        let s = s.restart().await;
        let (st, res) = s.client_credentials(&s.mgmt_audience(), None).await;
        assert_eq!(st, 200, "{}", b.name());
        assert_eq!(res["expires_in"], 3600, "{}", b.name());
    }
}
