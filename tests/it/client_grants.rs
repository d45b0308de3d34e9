//! Tag `client-grants`.

use gatehouse_testkit::{TestServer, backends, spawn::call, spawn_on};
use reqwest::Method;
use serde_json::{Value, json};

async fn api(s: &TestServer, t: &str, identifier: &str, scopes: &[&str]) {
    let scopes: Vec<Value> = scopes
        .iter()
        .map(|v| json!({"value": v, "description": v}))
        .collect();
    let (st, v) = call(
        s,
        t,
        Method::POST,
        "/resource-servers",
        Some(json!({"identifier": identifier, "scopes": scopes})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
}

async fn all_grants(s: &TestServer, t: &str) -> Value {
    let (st, v) = call(s, t, Method::GET, "/client-grants?per_page=100", None).await;
    assert_eq!(st, 200);
    v
}

#[tokio::test]
async fn grant_lifecycle_drives_tokens() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let aud = "https://api.example.com/orders";
        api(
            &s,
            &t,
            aud,
            &["read:orders", "write:orders", "delete:orders"],
        )
        .await;
        let (st, e) = s.client_credentials(aud, None).await;
        assert_eq!(st, 403, "{e}");

        let (st, g) = call(
            &s,
            &t,
            Method::POST,
            "/client-grants",
            Some(json!({
            "authorization_details_types": ["payment"], "scope": ["read:orders"], "audience": aud,
            "client_id": s.admin_client_id})),
        )
        .await;
        assert_eq!(st, 201, "{g}");
        let id = g["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("cgr_") && id.len() == 20);
        assert_eq!(
            g.to_string(),
            format!(
                r#"{{"id":"{id}","client_id":"{}","audience":"{aud}","scope":["read:orders"],"subject_type":"client","authorization_details_types":["payment"]}}"#,
                s.admin_client_id
            )
        );
        let (st, got) = call(&s, &t, Method::GET, &format!("/client-grants/{id}"), None).await;
        assert_eq!((st, &got), (200, &g));

        let (st, tok) = s.client_credentials(aud, None).await;
        assert_eq!(st, 200, "{tok}");
        assert_eq!(tok["scope"], "read:orders");

        let (st, g2) = call(
            &s,
            &t,
            Method::PATCH,
            &format!("/client-grants/{id}"),
            Some(json!({"scope": ["read:orders", "write:orders"]})),
        )
        .await;
        assert_eq!(st, 200);
        assert_eq!(g2["scope"], json!(["read:orders", "write:orders"]));
        assert_eq!(
            s.client_credentials(aud, None).await.1["scope"],
            "read:orders write:orders"
        );

        // allow_all_scopes hides `scope` and grants every scope of the API.
        let (st, g3) = call(
            &s,
            &t,
            Method::PATCH,
            &format!("/client-grants/{id}"),
            Some(json!({"allow_all_scopes": true})),
        )
        .await;
        assert_eq!(st, 200);
        assert!(g3.get("scope").is_none());
        assert_eq!(g3["allow_all_scopes"], true);
        assert_eq!(
            s.client_credentials(aud, None).await.1["scope"],
            "read:orders write:orders delete:orders"
        );
        let (_, g4) = call(
            &s,
            &t,
            Method::PATCH,
            &format!("/client-grants/{id}"),
            Some(json!({"allow_all_scopes": false, "scope": []})),
        )
        .await;
        assert_eq!(g4["scope"], json!([]));
        assert_eq!(g4["allow_all_scopes"], false);
        let keys: Vec<&String> = g4.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "id",
                "client_id",
                "audience",
                "scope",
                "subject_type",
                "authorization_details_types",
                "allow_all_scopes"
            ]
        );
        assert_eq!(s.client_credentials(aud, None).await.1["scope"], "");

        let (st, body) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/client-grants/{id}"),
            None,
        )
        .await;
        assert_eq!((st, body), (204, Value::Null));
        let (st, e) = call(&s, &t, Method::GET, &format!("/client-grants/{id}"), None).await;
        assert_eq!(st, 404);
        assert_eq!(e["errorCode"], "inexistent_client_grant");
        assert_eq!(s.client_credentials(aud, None).await.0, 403);
        // Deleting again still answers 204, as Auth0 does.
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/client-grants/{id}"),
            None,
        )
        .await;
        assert_eq!(st, 204);
    }
}

#[tokio::test]
async fn user_access_grants_do_not_issue_client_tokens() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let aud = "https://api.example.com/users-only";
        api(&s, &t, aud, &["read:x"]).await;
        let (st, g) = call(&s, &t, Method::POST, "/client-grants", Some(json!({"client_id": s.admin_client_id, "audience": aud, "scope": ["read:x"], "subject_type": "user"}))).await;
        assert_eq!(st, 201);
        assert_eq!(g["subject_type"], "user");
        assert_eq!(s.client_credentials(aud, None).await.0, 403);
    }
}

#[tokio::test]
async fn bad_creates_change_nothing() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let aud = "https://api.example.com/x";
        api(&s, &t, aud, &[]).await;
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            "/client-grants",
            Some(json!({"client_id": s.admin_client_id, "audience": aud, "scope": []})),
        )
        .await;
        assert_eq!(st, 201);
        let before = all_grants(&s, &t).await;

        let cases = [
            (
                json!({"client_id": s.admin_client_id, "audience": aud, "scope": ["a"]}),
                409,
                "client_grant_conflict",
            ),
            (
                json!({"client_id": s.admin_client_id, "audience": "https://nope", "scope": []}),
                404,
                "inexistent_resource_server",
            ),
            (
                json!({"client_id": "no-such-client", "audience": aud, "scope": []}),
                404,
                "inexistent_client",
            ),
            (json!({"audience": aud, "scope": []}), 400, "invalid_body"),
            (
                json!({"client_id": s.admin_client_id, "default_for": "third_party_clients", "audience": aud}),
                400,
                "invalid_body",
            ),
            (
                json!({"client_id": s.admin_client_id, "audience": aud, "scope": "read:x"}),
                400,
                "invalid_body",
            ),
            (
                json!({"client_id": s.admin_client_id, "audience": aud, "subject_type": "robot"}),
                400,
                "invalid_body",
            ),
        ];
        for (body, status, code) in cases {
            let (st, e) = call(&s, &t, Method::POST, "/client-grants", Some(body.clone())).await;
            assert_eq!(
                (st, e["errorCode"].as_str()),
                (status, Some(code)),
                "{body} -> {e}"
            );
        }
        let (st, e) = call(
            &s,
            &t,
            Method::POST,
            "/client-grants",
            Some(json!({"client_id": s.admin_client_id, "audience": aud})),
        )
        .await;
        assert_eq!(st, 409);
        assert_eq!(e["statusCode"], 409);
        assert_eq!(e["error"], "Conflict");

        let (st, _) = call(
            &s,
            &t,
            Method::PATCH,
            "/client-grants/cgr_doesnotexist0000",
            Some(json!({"scope": []})),
        )
        .await;
        assert_eq!(st, 404);
        let id = before[1]["id"].as_str().unwrap();
        let (st, _) = call(
            &s,
            &t,
            Method::PATCH,
            &format!("/client-grants/{id}"),
            Some(json!({"audience": "https://other"})),
        )
        .await;
        assert_eq!(st, 400);
        let (st, _) = call(
            &s,
            &t,
            Method::PATCH,
            &format!("/client-grants/{id}"),
            Some(json!({"scope": [""]})),
        )
        .await;
        assert_eq!(st, 400);

        assert_eq!(all_grants(&s, &t).await, before);
    }
}

#[tokio::test]
async fn list_filters_and_pagination() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let auds: Vec<String> = (0..3)
            .map(|i| format!("https://api{i}.example.com/"))
            .collect();
        for a in &auds {
            api(&s, &t, a, &["read:data"]).await;
        }
        let admin = s.admin_client_id.clone();
        let mk = |body: Value| {
            let s = &s;
            let t = &t;
            async move {
                let (st, v) = call(s, t, Method::POST, "/client-grants", Some(body)).await;
                assert_eq!(st, 201, "{v}");
                v
            }
        };
        mk(json!({"client_id": admin, "audience": auds[0], "scope": []})).await;
        mk(json!({"client_id": admin, "audience": auds[1], "scope": [], "subject_type": "user", "allow_any_organization": true, "organization_usage": "allow"})).await;
        let d = mk(json!({"audience": auds[2], "scope": ["read:data"], "default_for": "third_party_clients"})).await;
        assert!(d.get("client_id").is_none());
        assert_eq!(d["subject_type"], "client");

        let list = |q: &str| {
            let s = &s;
            let t = &t;
            let q = q.to_owned();
            async move {
                let (st, v) = call(s, t, Method::GET, &format!("/client-grants{q}"), None).await;
                assert_eq!(st, 200, "{q}: {v}");
                v
            }
        };
        // The admin's grant to the Management API comes first, then creation order.
        let all = list("").await;
        assert_eq!(all.as_array().unwrap().len(), 4);
        assert_eq!(all[0]["audience"], format!("{}/api/v2/", s.url));

        let v = list(&format!(
            "?audience={}&client_id={admin}&include_totals=true&per_page=50",
            urlenc(&auds[0])
        ))
        .await;
        assert_eq!(v["total"], 1);
        assert_eq!(v["start"], 0);
        assert_eq!(v["limit"], 50);
        assert_eq!(v["client_grants"][0]["audience"], auds[0]);
        let v = list(&format!(
            "?audience={}&client_id=someone-else&include_totals=true",
            urlenc(&auds[0])
        ))
        .await;
        assert_eq!(
            v,
            json!({"total": 0, "start": 0, "limit": 50, "client_grants": []})
        );

        assert_eq!(
            list(&format!("?client_id={admin}"))
                .await
                .as_array()
                .unwrap()
                .len(),
            3
        );
        let v = list("?subject_type=user").await;
        assert_eq!(v.as_array().unwrap().len(), 1);
        assert_eq!(v[0]["audience"], auds[1]);
        assert_eq!(
            list("?allow_any_organization=true").await[0]["audience"],
            auds[1]
        );
        let v = list("?default_for=third_party_clients&include_totals=true").await;
        assert_eq!(v["total"], 1);
        assert_eq!(v["client_grants"][0]["id"], d["id"]);
        let v = list("?subject_type=client&include_totals=true&per_page=1&page=1").await;
        assert_eq!(v["total"], 3);
        assert_eq!(v["client_grants"][0]["audience"], auds[0]);

        // With `take`, the checkpoint form wins.
        let v = list(&format!(
            "?client_id={admin}&include_totals=true&per_page=50&take=100"
        ))
        .await;
        assert_eq!(
            v.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["client_grants"]
        );
        assert_eq!(v["client_grants"].as_array().unwrap().len(), 3);
        let first = list("?take=2").await;
        assert_eq!(first["client_grants"].as_array().unwrap().len(), 2);
        let next = first["next"].as_str().unwrap();
        let rest = list(&format!("?take=2&from={next}")).await;
        assert_eq!(rest["client_grants"].as_array().unwrap().len(), 2);
        assert!(rest.get("next").is_none());
        assert_ne!(
            first["client_grants"][0]["id"],
            rest["client_grants"][0]["id"]
        );

        let (st, _) = call(
            &s,
            &t,
            Method::GET,
            "/client-grants?subject_type=robot",
            None,
        )
        .await;
        assert_eq!(st, 400);
    }
}

#[tokio::test]
async fn organizations_of_a_grant() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let grants = all_grants(&s, &t).await;
        let id = grants[0]["id"].as_str().unwrap();
        let path = format!("/client-grants/{id}/organizations");
        assert_eq!(
            call(&s, &t, Method::GET, &path, None).await,
            (200, json!([]))
        );
        assert_eq!(
            call(
                &s,
                &t,
                Method::GET,
                &format!("{path}?include_totals=true&take=50"),
                None
            )
            .await,
            (200, json!({"organizations": []}))
        );
        assert_eq!(
            call(
                &s,
                &t,
                Method::GET,
                &format!("{path}?include_totals=true&per_page=10"),
                None
            )
            .await,
            (
                200,
                json!({"total": 0, "start": 0, "limit": 10, "organizations": []})
            )
        );
        let (st, e) = call(
            &s,
            &t,
            Method::GET,
            "/client-grants/cgr_nope/organizations",
            None,
        )
        .await;
        assert_eq!(st, 404);
        assert_eq!(e["errorCode"], "inexistent_client_grant");
        // The scope is the organization one, not read:client_grants.
        let narrow = s.token_with_scope("read:client_grants").await;
        assert_eq!(call(&s, &narrow, Method::GET, &path, None).await.0, 403);
    }
}

fn urlenc(s: &str) -> String {
    s.replace(':', "%3A").replace('/', "%2F")
}
