//! Tag `resource-servers`.

use gatehouse_testkit::{Backend, TestServer, backends, spawn::call, spawn_on};
use reqwest::Method;
use serde_json::{Value, json};

/// The raw reply text, to check key order.
async fn raw(s: &TestServer, t: &str, path: &str) -> (u16, String) {
    let res = s.http.get(s.api(path)).bearer_auth(t).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The reply is `expected`, keys in the same order. PostgreSQL's JSONB keeps no key order, so
/// there the nested objects' order is not compared (the top level's is restored by the API).
fn same_reply(b: &Backend, status: u16, text: &str, expected: &str) {
    assert_eq!(status, 200, "{text}");
    if matches!(b, Backend::Sqlite) {
        assert_eq!(text, expected);
    } else {
        let (got, want): (Value, Value) = (
            serde_json::from_str(text).unwrap(),
            serde_json::from_str(expected).unwrap(),
        );
        assert_eq!(got, want);
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&got), keys(&want));
    }
}

fn enc(s: &str) -> String {
    s.replace('/', "%2F")
}

async fn list_all(s: &TestServer, t: &str) -> Value {
    let (st, v) = call(s, t, Method::GET, "/resource-servers?per_page=100", None).await;
    assert_eq!(st, 200);
    v
}

#[tokio::test]
async fn create_defaults_lookup_by_id_or_identifier() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let ident = "https://uat.api.example.com/TestAccResourceServer";
        let (st, rs) = call(
            &s,
            &t,
            Method::POST,
            "/resource-servers",
            Some(json!({"identifier": ident})),
        )
        .await;
        assert_eq!(st, 201, "{rs}");
        let id = rs["id"].as_str().unwrap().to_owned();
        assert_eq!(id.len(), 24);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        // Exactly Auth0's defaults, in Auth0's key order.
        let expected = format!(
            r#"{{"id":"{id}","identifier":"{ident}","allow_offline_access":false,"skip_consent_for_verifiable_first_party_clients":false,"subject_type_authorization":{{"client":{{"policy":"require_client_grant"}},"user":{{"policy":"allow_all"}}}},"token_lifetime":86400,"token_lifetime_for_web":7200,"signing_alg":"RS256"}}"#
        );
        assert_eq!(rs.to_string(), expected);
        let (st, text) = raw(&s, &t, &format!("/resource-servers/{id}")).await;
        same_reply(&b, st, &text, &expected);
        // By identifier, percent-encoded once and twice.
        let (st, text) = raw(&s, &t, &format!("/resource-servers/{}", enc(ident))).await;
        same_reply(&b, st, &text, &expected);
        let (st, text) = raw(
            &s,
            &t,
            &format!("/resource-servers/{}", enc(ident).replace('%', "%25")),
        )
        .await;
        same_reply(&b, st, &text, &expected);
        // The Management API, by its double-encoded identifier.
        let mgmt = format!("{}/api/v2/", s.url);
        let (st, m) = call(
            &s,
            &t,
            Method::GET,
            &format!("/resource-servers/{}", enc(&mgmt).replace('%', "%25")),
            None,
        )
        .await;
        assert_eq!(st, 200);
        assert_eq!(m["name"], "Auth0 Management API");
        assert_eq!(m["is_system"], true);

        let (st, e) = call(
            &s,
            &t,
            Method::GET,
            "/resource-servers/this-resource-server-does-not-exist",
            None,
        )
        .await;
        assert_eq!(st, 404);
        assert_eq!(
            e,
            json!({"statusCode":404,"error":"Not Found","message":"The resource server does not exist","errorCode":"inexistent_resource_server"})
        );

        // Sent subject types keep their order on create; unsent ones are defaulted.
        let (st, rs) = call(&s, &t, Method::POST, "/resource-servers", Some(json!({
            "name": "Full", "identifier": "https://full", "allow_online_access": true, "token_lifetime_for_web": 3600,
            "subject_type_authorization": {"user": {"policy": "deny_all"}}, "enforce_policies": true,
            "scopes": [{"value": "read:x", "description": "Read"}, {"value": "write:x"}]}))).await;
        assert_eq!(st, 201, "{rs}");
        assert_eq!(
            rs["subject_type_authorization"].to_string(),
            r#"{"user":{"policy":"deny_all"},"client":{"policy":"require_client_grant"}}"#
        );
        assert_eq!(rs["token_lifetime_for_web"], 3600);
        let keys: Vec<&String> = rs.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "id",
                "name",
                "identifier",
                "allow_offline_access",
                "skip_consent_for_verifiable_first_party_clients",
                "allow_online_access",
                "subject_type_authorization",
                "token_lifetime",
                "token_lifetime_for_web",
                "signing_alg",
                "scopes",
                "enforce_policies"
            ]
        );
        assert_eq!(
            rs["scopes"],
            json!([{"value": "read:x", "description": "Read"}, {"value": "write:x"}])
        );
    }
}

#[tokio::test]
async fn bad_requests_change_nothing() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            "/resource-servers",
            Some(json!({"identifier": "https://dup", "name": "One"})),
        )
        .await;
        assert_eq!(st, 201);
        let before = list_all(&s, &t).await;

        let (st, e) = call(
            &s,
            &t,
            Method::POST,
            "/resource-servers",
            Some(json!({"identifier": "https://dup", "name": "Two"})),
        )
        .await;
        assert_eq!(st, 409);
        assert_eq!(
            e,
            json!({"statusCode":409,"error":"Conflict","message":"A resource server with the same identifier already exists","errorCode":"resource_server_conflict"})
        );
        let (st, e) = call(
            &s,
            &t,
            Method::POST,
            "/resource-servers",
            Some(json!({"name": "No identifier"})),
        )
        .await;
        assert_eq!(st, 400);
        assert_eq!(e["errorCode"], "invalid_body");
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            "/resource-servers",
            Some(json!({"identifier": "https://x", "token_lifetime": "long"})),
        )
        .await;
        assert_eq!(st, 400);
        let (st, e) = call(&s, &t, Method::POST, "/resource-servers", Some(json!({"identifier": "https://x", "token_encryption":
            {"format": "compact-nested-jwe", "encryption_key": {"alg": "RSA-OAEP-256", "pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"}}}))).await;
        assert_eq!(st, 400, "{e}");
        // The identifier cannot be changed.
        let (st, e) = call(
            &s,
            &t,
            Method::PATCH,
            "/resource-servers/https:%2F%2Fdup",
            Some(json!({"identifier": "https://other", "name": "Renamed"})),
        )
        .await;
        assert_eq!(st, 400);
        assert_eq!(e["errorCode"], "invalid_body");
        let (st, _) = call(
            &s,
            &t,
            Method::PATCH,
            "/resource-servers/nope",
            Some(json!({"name": "x"})),
        )
        .await;
        assert_eq!(st, 404);
        // Nor can the Management API be deleted or renamed.
        let mgmt = enc(&format!("{}/api/v2/", s.url));
        let (st, e) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/resource-servers/{mgmt}"),
            None,
        )
        .await;
        assert_eq!(st, 400);
        assert_eq!(e["errorCode"], "operation_not_supported");
        for body in [
            json!({"name": "Mine"}),
            json!({"scopes": []}),
            json!({"signing_alg": "HS256"}),
            json!({"subject_type_authorization": {"client": {"policy": "deny_all"}}}),
        ] {
            let (st, e) = call(
                &s,
                &t,
                Method::PATCH,
                &format!("/resource-servers/{mgmt}"),
                Some(body.clone()),
            )
            .await;
            assert_eq!(st, 400, "{body} -> {e}");
        }

        assert_eq!(list_all(&s, &t).await, before);
        // The admin still gets Management API tokens.
        let (st, _) = s.client_credentials(&s.mgmt_audience(), None).await;
        assert_eq!(st, 200);
    }
}

#[tokio::test]
async fn patch_replaces_keys_and_keeps_order() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let (_, rs) = call(
            &s,
            &t,
            Method::POST,
            "/resource-servers",
            Some(json!({"identifier": "https://api.example.com/p"})),
        )
        .await;
        let id = rs["id"].as_str().unwrap().to_owned();
        let path = format!("/resource-servers/{id}");
        let pem = include_str!("../../crates/api/src/mgmt/testdata/token_encryption_cert.pem");
        let (st, v) = call(&s, &t, Method::PATCH, &path, Some(json!({
            "name": "Patched", "allow_offline_access": true, "enforce_policies": false,
            "subject_type_authorization": {"user": {"policy": "deny_all"}, "client": {"policy": "deny_all"}},
            "consent_policy": "transactional-authorization-with-mfa",
            "authorization_details": [{"type": "payment"}],
            "token_encryption": {"format": "compact-nested-jwe", "encryption_key": {"name": "k", "alg": "RSA-OAEP-256", "pem": pem}},
            "proof_of_possession": {"mechanism": "dpop", "required": true, "required_for": "all_clients"}}))).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["name"], "Patched");
        // The stored subject types keep their place (SQLite keeps nested key order).
        let sta = r#"{"client":{"policy":"deny_all"},"user":{"policy":"deny_all"}}"#;
        if matches!(b, Backend::Sqlite) {
            assert_eq!(v["subject_type_authorization"].to_string(), sta);
        } else {
            assert_eq!(
                v["subject_type_authorization"],
                serde_json::from_str::<Value>(sta).unwrap()
            );
        }
        assert_eq!(
            v["token_encryption"].to_string(),
            r#"{"encryption_key":{"name":"k","alg":"RSA-OAEP-256","thumbprint_sha256":"w0kIFOc-q7KKK-pa2Uj5b_Cl3f0hAgFeseLg8iEmWu0"},"format":"compact-nested-jwe"}"#
        );
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "id",
                "name",
                "identifier",
                "allow_offline_access",
                "skip_consent_for_verifiable_first_party_clients",
                "subject_type_authorization",
                "token_lifetime",
                "token_lifetime_for_web",
                "signing_alg",
                "enforce_policies",
                "token_encryption",
                "consent_policy",
                "authorization_details",
                "proof_of_possession"
            ]
        );

        // proof_of_possession is replaced, not merged; null removes a key; by identifier too.
        let by_ident = format!("/resource-servers/{}", enc("https://api.example.com/p"));
        let (st, v) = call(&s, &t, Method::PATCH, &by_ident, Some(json!({
            "proof_of_possession": {"mechanism": "mtls", "required": true}, "authorization_details": null,
            "token_encryption": null, "scopes": [{"value": "read:posts", "description": "Can read posts"}]}))).await;
        assert_eq!(st, 200);
        assert_eq!(
            v["proof_of_possession"],
            json!({"mechanism": "mtls", "required": true})
        );
        assert!(v.get("authorization_details").is_none() && v.get("token_encryption").is_none());
        let (_, v) = call(
            &s,
            &t,
            Method::PATCH,
            &by_ident,
            Some(json!({"scopes": []})),
        )
        .await;
        assert_eq!(v["scopes"], json!([]));
        let (_, got) = call(&s, &t, Method::GET, &path, None).await;
        assert_eq!(got, v);
    }
}

#[tokio::test]
async fn list_filters_and_pages() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        for i in 0..5 {
            let (st, _) = call(
                &s,
                &t,
                Method::POST,
                "/resource-servers",
                Some(json!({"identifier": format!("https://api{i}"), "name": format!("API {i}")})),
            )
            .await;
            assert_eq!(st, 201);
        }
        let all = list_all(&s, &t).await;
        let names: Vec<&str> = all
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "Auth0 Management API",
                "API 0",
                "API 1",
                "API 2",
                "API 3",
                "API 4"
            ]
        );

        let (st, v) = call(
            &s,
            &t,
            Method::GET,
            "/resource-servers?include_totals=true&per_page=2&page=1",
            None,
        )
        .await;
        assert_eq!(st, 200);
        assert_eq!(v["total"], 6);
        assert_eq!(v["start"], 2);
        assert_eq!(v["limit"], 2);
        let page: Vec<&str> = v["resource_servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(page, ["API 1", "API 2"]);

        let (st, v) = call(&s, &t, Method::GET, "/resource-servers?identifiers=https%3A%2F%2Fapi1&identifiers=https%3A%2F%2Fapi3&include_totals=true", None).await;
        assert_eq!(st, 200);
        assert_eq!(v["total"], 2);
        let ids: Vec<&str> = v["resource_servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["identifier"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["https://api1", "https://api3"]);

        let (st, _) = call(&s, &t, Method::GET, "/resource-servers?per_page=0", None).await;
        assert_eq!(st, 400);
    }
}

#[tokio::test]
async fn delete_removes_api_and_its_grants() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let ident = "https://api.example.com/deleted";
        let (_, rs) = call(
            &s,
            &t,
            Method::POST,
            "/resource-servers",
            Some(json!({"identifier": ident, "scopes": [{"value": "read:x"}]})),
        )
        .await;
        let (st, g) = call(
            &s,
            &t,
            Method::POST,
            "/client-grants",
            Some(json!({"client_id": s.admin_client_id, "audience": ident, "scope": ["read:x"]})),
        )
        .await;
        assert_eq!(st, 201);
        let (st, _) = s.client_credentials(ident, None).await;
        assert_eq!(st, 200);

        let (st, body) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/resource-servers/{}", enc(ident)),
            None,
        )
        .await;
        assert_eq!((st, body), (204, Value::Null));
        let (st, _) = call(
            &s,
            &t,
            Method::GET,
            &format!("/resource-servers/{}", rs["id"].as_str().unwrap()),
            None,
        )
        .await;
        assert_eq!(st, 404);
        let (st, _) = call(
            &s,
            &t,
            Method::GET,
            &format!("/client-grants/{}", g["id"].as_str().unwrap()),
            None,
        )
        .await;
        assert_eq!(st, 404);
        let (st, e) = s.client_credentials(ident, None).await;
        assert_eq!(st, 403, "{e}");
        // Deleting again answers 204.
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/resource-servers/{}", rs["id"].as_str().unwrap()),
            None,
        )
        .await;
        assert_eq!(st, 204);
    }
}

#[tokio::test]
async fn management_api_token_lifetime_and_my_account_api() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let mgmt = format!("{}/api/v2/", s.url);
        let (st, v) = call(&s, &t, Method::PATCH, &format!("/resource-servers/{}", enc(&mgmt)),
            Some(json!({"token_lifetime": 3600, "name": "Auth0 Management API", "subject_type_authorization": {"user": {"policy": "allow_all"}}}))).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["token_lifetime"], 3600);
        let (st, tok) = s.client_credentials(&mgmt, None).await;
        assert_eq!(st, 200);
        assert_eq!(tok["expires_in"], 3600);

        // `{issuer}me/` is the system My Account API: Auth0's name and settings, deletable.
        let me = format!("{}/me/", s.url);
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            "/resource-servers",
            Some(json!({"name": "Mine", "identifier": me,
            "authorization_policy": {"policy_id": "019b76da-a800-73c9-b656-b349ae415c17"}})),
        )
        .await;
        assert_eq!(st, 201, "{v}");
        assert_eq!(v["name"], "Auth0 My Account API");
        assert_eq!(v["is_system"], true);
        assert_eq!(v["token_lifetime"], 600);
        assert_eq!(
            v["authorization_policy"],
            json!({"policy_id": "019b76da-a800-73c9-b656-b349ae415c17"})
        );
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/resource-servers/{}", v["id"].as_str().unwrap()),
            None,
        )
        .await;
        assert_eq!(st, 204);
    }
}
