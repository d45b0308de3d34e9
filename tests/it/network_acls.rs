//! Network ACL enforcement over real HTTP: the test connects from 127.0.0.1, so an ACL on
//! 127.0.0.0/8 (or ::1) applies to it. The test's own Management API calls carry a user agent
//! that an `allow` ACL at priority 1 lets through the management scope, so no step can lock
//! the test out of removing what it made.

use gatehouse_testkit::{TestServer, backends, spawn_on};
use reqwest::Method;
use serde_json::{Value, json};

const ADMIN_AGENT: &str = "gatehouse-acl-test-admin";

/// A Management API call with a user agent (`None`: reqwest sends none).
async fn api(
    s: &TestServer,
    token: &str,
    agent: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = s.http.request(method, s.api(path)).bearer_auth(token);
    if let Some(a) = agent {
        req = req.header("user-agent", a);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn admin(
    s: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let (status, v) = api(s, token, Some(ADMIN_AGENT), method, path, body).await;
    assert!(status < 300, "{path}: {status} {v}");
    v
}

async fn token_status(s: &TestServer) -> (u16, Value) {
    s.client_credentials(&s.mgmt_audience(), None).await
}

fn acl(description: &str, priority: i64, scope: &str, action: Value, matches: Value) -> Value {
    json!({"description": description, "active": true, "priority": priority,
           "rule": {"scope": scope, "action": action, "match": matches}})
}

#[tokio::test]
async fn a_blocked_cidr_gets_403_on_oauth_token() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let local = json!({"ipv4_cidrs": ["127.0.0.0/8"], "ipv6_cidrs": ["::1/128"]});

        // The test's own management calls stay allowed, whatever comes later.
        admin(
            &s,
            &t,
            Method::POST,
            "/network-acls",
            Some(acl(
                "test admin",
                1,
                "management",
                json!({"allow": true}),
                json!({"user_agents": [ADMIN_AGENT]}),
            )),
        )
        .await;

        let block = admin(
            &s,
            &t,
            Method::POST,
            "/network-acls",
            Some(acl(
                "block local",
                20,
                "authentication",
                json!({"block": true}),
                local.clone(),
            )),
        )
        .await;
        let block_id = block["id"].as_str().unwrap().to_owned();
        let (status, v) = token_status(&s).await;
        assert_eq!(status, 403, "{}: {v}", b.name());
        assert_eq!(v["error"], "access_denied");
        // The discovery document is the Authentication API too.
        let res = s
            .http
            .get(format!("{}/.well-known/openid-configuration", s.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 403);
        // The management scope is not the authentication scope.
        let (status, _) = api(&s, &t, None, Method::GET, "/network-acls", None).await;
        assert_eq!(status, 200);

        // An allow rule evaluated first (lower priority number) lets it through.
        let allow = admin(
            &s,
            &t,
            Method::POST,
            "/network-acls",
            Some(acl(
                "allow local",
                10,
                "authentication",
                json!({"allow": true}),
                json!({"ipv4_cidrs": ["127.0.0.1"], "ipv6_cidrs": ["::1"]}),
            )),
        )
        .await;
        let allow_id = allow["id"].as_str().unwrap().to_owned();
        assert_eq!(token_status(&s).await.0, 200, "{}", b.name());
        admin(
            &s,
            &t,
            Method::DELETE,
            &format!("/network-acls/{allow_id}"),
            None,
        )
        .await;
        assert_eq!(token_status(&s).await.0, 403);

        // An inactive ACL does nothing.
        admin(
            &s,
            &t,
            Method::PATCH,
            &format!("/network-acls/{block_id}"),
            Some(json!({"active": false})),
        )
        .await;
        assert_eq!(token_status(&s).await.0, 200);
        admin(
            &s,
            &t,
            Method::PATCH,
            &format!("/network-acls/{block_id}"),
            Some(json!({"active": true})),
        )
        .await;
        assert_eq!(token_status(&s).await.0, 403);

        // A management-scope ACL leaves /oauth/token alone and blocks /api/v2 (but for the
        // test's own allowed agent).
        admin(
            &s,
            &t,
            Method::PUT,
            &format!("/network-acls/{block_id}"),
            Some(acl(
                "block local management",
                20,
                "management",
                json!({"block": true}),
                local.clone(),
            )),
        )
        .await;
        assert_eq!(token_status(&s).await.0, 200);
        let (status, v) = api(&s, &t, None, Method::GET, "/clients", None).await;
        assert_eq!(status, 403);
        assert_eq!(
            v,
            json!({"statusCode": 403, "error": "Forbidden", "message": v["message"]})
        );

        // A redirect.
        admin(
            &s,
            &t,
            Method::PUT,
            &format!("/network-acls/{block_id}"),
            Some(acl(
                "send away",
                20,
                "tenant",
                json!({"redirect": true, "redirect_uri": "https://example.com/denied"}),
                local,
            )),
        )
        .await;
        let no_redirects = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let res = no_redirects
            .get(format!("{}/.well-known/jwks.json", s.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 302);
        assert_eq!(res.headers()["location"], "https://example.com/denied");

        // Deleting the ACL restores access.
        admin(
            &s,
            &t,
            Method::DELETE,
            &format!("/network-acls/{block_id}"),
            None,
        )
        .await;
        assert_eq!(token_status(&s).await.0, 200);
        let (status, _) = api(&s, &t, None, Method::GET, "/clients", None).await;
        assert_eq!(status, 200);
    }
}
