//! Tag `connections` (and `GET /clients/{id}/connections`, the tenant-wide SCIM and directory
//! provisioning lists).

use gatehouse_store::{Db, params};
use gatehouse_testkit::{TestServer, backends, spawn::call, spawn_on};
use reqwest::Method;
use serde_json::{Value, json};

async fn create(s: &TestServer, t: &str, body: Value) -> Value {
    let (st, v) = call(s, t, Method::POST, "/connections", Some(body)).await;
    assert_eq!(st, 201, "{v}");
    v
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[tokio::test]
async fn database_connection_crud_and_validation() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;

        // The tenant starts with its database connection, enabled for the admin client.
        let (st, v) = call(
            &s,
            &t,
            Method::GET,
            "/connections?name=Username-Password-Authentication",
            None,
        )
        .await;
        assert_eq!(st, 200);
        assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
        assert_eq!(v[0]["strategy"], "auth0");
        assert_eq!(v[0]["enabled_clients"], json!([s.admin_client_id]));
        assert_eq!(v[0]["options"]["passwordPolicy"], "good");

        let c = create(
            &s,
            &t,
            json!({"name": "Acme-DB", "strategy": "auth0", "metadata": {"k": "v"},
                "options": {"passwordPolicy": "fair", "password_complexity_options": {"min_length": 8},
                    "password_history": {"enable": true, "size": 5}, "requires_username": true,
                    "authentication_methods": {"password": {"enabled": true}}}}),
        )
        .await;
        let cid = id(&c);
        assert!(cid.starts_with("con_") && cid.len() == 20, "{cid}");
        assert_eq!(
            keys(&c),
            [
                "id",
                "options",
                "strategy",
                "name",
                "is_domain_connection",
                "authentication",
                "connected_accounts",
                "enabled_clients",
                "realms",
                "metadata"
            ]
        );
        assert_eq!(c["realms"], json!(["Acme-DB"]));
        assert_eq!(c["enabled_clients"], json!([]));
        let o = &c["options"];
        assert_eq!(o["passwordPolicy"], "fair");
        assert_eq!(o["password_complexity_options"]["min_length"], 8);
        assert_eq!(
            o["mfa"],
            json!({"active": true, "return_enroll_settings": true})
        );
        assert_eq!(o["strategy_version"], 2);
        assert_eq!(o["brute_force_protection"], true);
        assert_eq!(
            o["authentication_methods"]["password"],
            json!({"enabled": true, "api_behavior": "required", "signup_behavior": "allow"})
        );

        let (st, got) = call(&s, &t, Method::GET, &format!("/connections/{cid}"), None).await;
        assert_eq!(st, 200);
        assert_eq!(got, c);
        let (_, p) = call(
            &s,
            &t,
            Method::GET,
            &format!("/connections/{cid}?fields=strategy,name&include_fields=true"),
            None,
        )
        .await;
        assert_eq!(
            keys(&p),
            [
                "id",
                "strategy",
                "name",
                "is_domain_connection",
                "authentication",
                "connected_accounts"
            ]
        );

        // Name conflicts and Auth0's validation messages; nothing is created.
        let (st, e) = call(
            &s,
            &t,
            Method::POST,
            "/connections",
            Some(json!({"name": "Acme-DB", "strategy": "auth0"})),
        )
        .await;
        assert_eq!(st, 409, "{e}");
        for (opts, msg) in [
            (
                json!({"validation": {"username": {"min": 1, "max": 5}}, "attributes": {"email": {"identifier": {"active": true}}}}),
                "Cannot set both options.attributes and options.validation",
            ),
            (
                json!({"requires_username": true, "attributes": {"username": {"identifier": {"active": true}}}}),
                "Cannot set both options.attributes and options.requires_username",
            ),
            (
                json!({"attributes": {"email": {"identifier": {"active": false}}}}),
                "attributes must contain one active identifier",
            ),
        ] {
            let (st, e) = call(
                &s,
                &t,
                Method::POST,
                "/connections",
                Some(json!({"name": "Bad-DB", "strategy": "auth0", "options": opts})),
            )
            .await;
            assert_eq!(st, 400, "{e}");
            assert_eq!(e["message"], msg);
            assert_eq!(e["errorCode"], "invalid_body");
        }
        let (_, v) = call(&s, &t, Method::GET, "/connections?name=Bad-DB", None).await;
        assert_eq!(v, json!([]));

        // PATCH replaces options (keeping what Auth0 keeps) and top-level keys.
        let (st, u) = call(
            &s,
            &t,
            Method::PATCH,
            &format!("/connections/{cid}"),
            Some(json!({"options": {"passwordPolicy": "excellent"}, "display_name": "Acme", "metadata": null})),
        )
        .await;
        assert_eq!(st, 200, "{u}");
        assert_eq!(u["options"]["passwordPolicy"], "excellent");
        assert!(u["options"].get("password_history").is_none());
        assert!(u["options"].get("passkey_options").is_some());
        assert_eq!(u["display_name"], "Acme");
        assert!(u.get("metadata").is_none());
        assert_eq!(u["name"], "Acme-DB");
        let (st, e) = call(
            &s,
            &t,
            Method::PATCH,
            &format!("/connections/{cid}"),
            Some(json!({"options": {"attributes": {"email": {"identifier": {"active": false}}}}})),
        )
        .await;
        assert_eq!(st, 400, "{e}");

        // Lists: strategy filter, totals, checkpoint paging, name order.
        create(&s, &t, json!({"name": "aaa-email", "strategy": "email"})).await;
        let (_, v) = call(&s, &t, Method::GET, "/connections?strategy=auth0", None).await;
        let names: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Acme-DB", "Username-Password-Authentication"]);
        let (_, v) = call(
            &s,
            &t,
            Method::GET,
            "/connections?include_totals=true&per_page=2&page=1",
            None,
        )
        .await;
        assert_eq!(v["total"], 3);
        assert_eq!(v["start"], 2);
        assert_eq!(v["connections"].as_array().unwrap().len(), 1);
        let (_, v) = call(&s, &t, Method::GET, "/connections?take=2", None).await;
        assert_eq!(v["connections"][0]["name"], "aaa-email");
        let next = v["next"].as_str().unwrap().to_owned();
        let (_, v) = call(
            &s,
            &t,
            Method::GET,
            &format!("/connections?take=2&from={next}"),
            None,
        )
        .await;
        assert_eq!(v["connections"].as_array().unwrap().len(), 1);
        assert!(v.get("next").is_none());

        let (st, d) = call(&s, &t, Method::DELETE, &format!("/connections/{cid}"), None).await;
        assert_eq!(st, 202, "{d}");
        assert!(d["deleted_at"].is_string());
        let (st, e) = call(&s, &t, Method::GET, &format!("/connections/{cid}"), None).await;
        assert_eq!(st, 404);
        assert_eq!(e["errorCode"], "inexistent_connection");
    }
}

#[tokio::test]
async fn strategy_defaults() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let gh = create(
            &s,
            &t,
            json!({"name": "gh", "strategy": "github", "options": {"client_id": "a", "email": true, "read_org": true, "gist": false}}),
        )
        .await;
        assert_eq!(gh["options"]["scope"], json!(["user:email", "read:org"]));
        assert!(gh.get("show_as_button").is_none());
        let (_, u) = call(
            &s,
            &t,
            Method::PATCH,
            &format!("/connections/{}", id(&gh)),
            Some(json!({"options": {"client_id": "a", "gist": true}})),
        )
        .await;
        assert_eq!(u["options"]["scope"], json!(["gist"]));

        let okta = create(
            &s,
            &t,
            json!({"name": "okta", "strategy": "okta", "options": {"client_id": "1", "issuer": "https://x.okta.com"}}),
        )
        .await;
        assert_eq!(okta["show_as_button"], false);
        assert_eq!(okta["display_name"], "okta");
        assert_eq!(okta["options"]["type"], "back_channel");
        assert_eq!(okta["options"]["schema_version"], "oidc-V4");

        let gw = create(
            &s,
            &t,
            json!({"name": "gw", "strategy": "google-apps", "options": {"domain": "example.com"}}),
        )
        .await;
        assert_eq!(gw["options"]["scope"], json!(["email", "profile"]));
        assert!(
            gw["provisioning_ticket_url"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{}/p/google-apps/", s.url))
        );
    }
}

#[tokio::test]
async fn enabled_clients_in_both_directions() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let (st, cl) = call(
            &s,
            &t,
            Method::POST,
            "/clients",
            Some(json!({"name": "app"})),
        )
        .await;
        assert_eq!(st, 201);
        let client = cl["client_id"].as_str().unwrap().to_owned();
        let c = create(
            &s,
            &t,
            json!({"name": "db2", "strategy": "auth0", "enabled_clients": [client]}),
        )
        .await;
        let cid = id(&c);
        assert_eq!(c["enabled_clients"], json!([client]));

        let (st, v) = call(
            &s,
            &t,
            Method::GET,
            &format!("/connections/{cid}/clients"),
            None,
        )
        .await;
        assert_eq!(st, 200);
        assert_eq!(v, json!({"clients": [{"client_id": client}]}));
        let (st, v) = call(
            &s,
            &t,
            Method::GET,
            &format!("/clients/{client}/connections"),
            None,
        )
        .await;
        assert_eq!(st, 200, "{v}");
        // A new client is enabled on the connections other clients use (the tenant's
        // Username-Password-Authentication, enabled for the admin client), as Auth0 does.
        let mut names: Vec<&str> = v["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["Username-Password-Authentication", "db2"], "{v}");

        // Enable the admin client too, then disable the app; an unknown client changes nothing.
        let (st, _) = call(
            &s,
            &t,
            Method::PATCH,
            &format!("/connections/{cid}/clients"),
            Some(json!([{"client_id": s.admin_client_id, "status": true}, {"client_id": client, "status": false}])),
        )
        .await;
        assert_eq!(st, 204);
        let (st, e) = call(
            &s,
            &t,
            Method::PATCH,
            &format!("/connections/{cid}/clients"),
            Some(json!([{"client_id": client, "status": true}, {"client_id": "nope", "status": true}])),
        )
        .await;
        assert_eq!(st, 404, "{e}");
        let (_, v) = call(&s, &t, Method::GET, &format!("/connections/{cid}"), None).await;
        assert_eq!(v["enabled_clients"], json!([s.admin_client_id]));

        // PATCH /connections replaces the list; deleting a client removes it everywhere.
        let (st, v) = call(
            &s,
            &t,
            Method::PATCH,
            &format!("/connections/{cid}"),
            Some(json!({"enabled_clients": [client, s.admin_client_id]})),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        let (_, v) = call(
            &s,
            &t,
            Method::GET,
            &format!("/connections/{cid}/clients?take=1"),
            None,
        )
        .await;
        assert_eq!(v["clients"].as_array().unwrap().len(), 1);
        assert!(v["next"].is_string());
        let (st, _) = call(&s, &t, Method::DELETE, &format!("/clients/{client}"), None).await;
        assert_eq!(st, 204);
        let (_, v) = call(&s, &t, Method::GET, &format!("/connections/{cid}"), None).await;
        assert_eq!(v["enabled_clients"], json!([s.admin_client_id]));
    }
}

#[tokio::test]
async fn deleting_a_connection_deletes_its_users() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let c = create(&s, &t, json!({"name": "with-users", "strategy": "auth0"})).await;
        let other = create(&s, &t, json!({"name": "other", "strategy": "auth0"})).await;
        let db = Db::connect(&s.db.url).await.unwrap();
        let tenant = db
            .query_opt(
                "SELECT tenant_id FROM connections WHERE id = $1",
                params![id(&c)],
            )
            .await
            .unwrap()
            .unwrap()
            .text("tenant_id")
            .unwrap();
        for (user, conn) in [("auth0|u1", &c), ("auth0|u2", &c), ("auth0|u3", &other)] {
            db.execute(
                "INSERT INTO users (tenant_id, user_id, connection_id, connection, provider, body, seq, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 'auth0', $5, 1, 'now', 'now')",
                params![&tenant, user, id(conn), conn["name"].as_str().unwrap(), json!({})],
            )
            .await
            .unwrap();
            db.execute(
                "INSERT INTO user_keys (tenant_id, connection_id, kind, value, identity_user_id, user_id) \
                 VALUES ($1, $2, 'email', $3, $3, $3)",
                params![&tenant, id(conn), user],
            )
            .await
            .unwrap();
        }
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/connections/{}", id(&c)),
            None,
        )
        .await;
        assert_eq!(st, 202);
        let n = |sql: &'static str| {
            let db = &db;
            let tenant = tenant.clone();
            async move {
                db.query_opt(sql, params![&tenant])
                    .await
                    .unwrap()
                    .unwrap()
                    .i64("n")
                    .unwrap()
            }
        };
        assert_eq!(
            n("SELECT COUNT(*) AS n FROM users WHERE tenant_id = $1").await,
            1
        );
        assert_eq!(
            n("SELECT COUNT(*) AS n FROM user_keys WHERE tenant_id = $1").await,
            1
        );
    }
}

#[tokio::test]
async fn keys_are_provisioned_and_rotated() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = create(&s, &t, json!({"name": "db", "strategy": "auth0"})).await;
        let (st, e) = call(
            &s,
            &t,
            Method::GET,
            &format!("/connections/{}/keys", id(&db)),
            None,
        )
        .await;
        assert_eq!(st, 400, "{e}");
        assert_eq!(e["message"], "keys are not available for this connection");

        let c = create(
            &s,
            &t,
            json!({"name": "oidc-keys", "strategy": "oidc", "options": {"client_id": "x", "issuer": "https://idp.example"}}),
        )
        .await;
        let path = format!("/connections/{}/keys", id(&c));
        let (st, v) = call(&s, &t, Method::GET, &path, None).await;
        assert_eq!((st, v), (200, json!([])));
        let (st, e) = call(&s, &t, Method::POST, &format!("{path}/rotate"), None).await;
        assert_eq!(st, 400, "{e}");

        let (st, created) = call(&s, &t, Method::POST, &path, None).await;
        assert_eq!(st, 201, "{created}");
        assert_eq!(created.as_array().unwrap().len(), 2);
        assert_eq!(created[0]["current"], true);
        assert_eq!(created[1]["next"], true);
        assert_eq!(created[0]["subject_dn"], "/CN=oidc-keys");
        assert!(!created.to_string().contains("PRIVATE"));
        let (st, _) = call(&s, &t, Method::POST, &path, None).await;
        assert_eq!(st, 409);

        let (st, next) = call(&s, &t, Method::POST, &format!("{path}/rotate"), None).await;
        assert_eq!(st, 201, "{next}");
        assert_eq!(next["next"], true);
        let (_, all) = call(&s, &t, Method::GET, &path, None).await;
        let all = all.as_array().unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0]["kid"], created[1]["kid"]);
        assert_eq!(all[0]["current"], true);
        assert_eq!(all[1]["kid"], created[0]["kid"]);
        assert_eq!(all[1]["previous"], true);
        assert_eq!(all[2]["kid"], next["kid"]);
        // A second rotation drops the oldest key.
        call(&s, &t, Method::POST, &format!("{path}/rotate"), None).await;
        let (_, all) = call(&s, &t, Method::GET, &path, None).await;
        let kids: Vec<&Value> = all.as_array().unwrap().iter().map(|k| &k["kid"]).collect();
        assert_eq!(kids.len(), 3);
        assert!(!kids.contains(&&created[0]["kid"]));

        // A connection created for Private Key JWT gets its keys at once.
        let pk = create(
            &s,
            &t,
            json!({"name": "okta-pk", "strategy": "okta", "options": {"client_id": "x", "token_endpoint_auth_method": "private_key_jwt"}}),
        )
        .await;
        let (_, v) = call(
            &s,
            &t,
            Method::GET,
            &format!("/connections/{}/keys", id(&pk)),
            None,
        )
        .await;
        assert_eq!(v.as_array().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn scim_configuration_and_tokens() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = create(&s, &t, json!({"name": "db", "strategy": "auth0"})).await;
        let (st, e) = call(
            &s,
            &t,
            Method::POST,
            &format!("/connections/{}/scim-configuration", id(&db)),
            Some(json!({})),
        )
        .await;
        assert_eq!(st, 404);
        assert!(e.get("errorCode").is_none());
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .starts_with("This connection type does not support SCIM")
        );

        let c = create(
            &s,
            &t,
            json!({"name": "okta", "strategy": "okta", "options": {"client_id": "1"}}),
        )
        .await;
        let base = format!("/connections/{}/scim-configuration", id(&c));
        let (st, e) = call(&s, &t, Method::GET, &base, None).await;
        assert_eq!(
            (st, e),
            (
                404,
                json!({"statusCode": 404, "error": "Not Found", "message": "Not Found"})
            )
        );
        let (st, cfg) = call(&s, &t, Method::POST, &base, Some(json!({}))).await;
        assert_eq!(st, 201, "{cfg}");
        assert_eq!(cfg["connection_name"], "okta");
        assert_eq!(cfg["strategy"], "okta");
        assert_eq!(cfg["user_id_attribute"], "externalId");
        assert_eq!(cfg["mapping"].as_array().unwrap().len(), 32);
        let (st, _) = call(&s, &t, Method::POST, &base, Some(json!({}))).await;
        assert_eq!(st, 400);
        let (st, p) = call(
            &s,
            &t,
            Method::PATCH,
            &base,
            Some(json!({"user_id_attribute": "userName", "mapping": [{"auth0": "email", "scim": "emails"}]})),
        )
        .await;
        assert_eq!(st, 200, "{p}");
        assert_eq!(p["mapping"], json!([{"scim": "emails", "auth0": "email"}]));
        let (_, dm) = call(
            &s,
            &t,
            Method::GET,
            &format!("{base}/default-mapping"),
            None,
        )
        .await;
        assert_eq!(
            dm["mapping"][0],
            json!({"auth0": "preferred_username", "scim": "userName"})
        );

        // A token's secret is shown once and stored only as its hash.
        let (st, tok) = call(
            &s,
            &t,
            Method::POST,
            &format!("{base}/tokens"),
            Some(json!({"scopes": ["get:users"], "token_lifetime": 3600})),
        )
        .await;
        assert_eq!(st, 201, "{tok}");
        let secret = tok["token"].as_str().unwrap().to_owned();
        assert!(secret.len() > 40);
        assert!(tok["valid_until"].is_string());
        let (_, list) = call(&s, &t, Method::GET, &format!("{base}/tokens"), None).await;
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["token_id"], tok["token_id"]);
        assert!(!list.to_string().contains(&secret));
        let store = Db::connect(&s.db.url).await.unwrap();
        let hash = gatehouse_api::mgmt::connections::scim_token_hash(&secret);
        let row = store
            .query_opt(
                "SELECT body FROM scim_tokens WHERE token_hash = $1",
                params![&hash],
            )
            .await
            .unwrap();
        assert!(row.is_some());
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            &format!("{base}/tokens"),
            Some(json!({})),
        )
        .await;
        assert_eq!(st, 201);
        let (st, e) = call(
            &s,
            &t,
            Method::POST,
            &format!("{base}/tokens"),
            Some(json!({})),
        )
        .await;
        assert_eq!(st, 409, "{e}");
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("{base}/tokens/{}", tok["token_id"].as_str().unwrap()),
            None,
        )
        .await;
        assert_eq!(st, 204);

        let (_, all) = call(
            &s,
            &t,
            Method::GET,
            "/connections-scim-configurations",
            None,
        )
        .await;
        assert_eq!(all["scim_configurations"].as_array().unwrap().len(), 1);
        let (st, _) = call(&s, &t, Method::DELETE, &base, None).await;
        assert_eq!(st, 204);
        let (_, all) = call(
            &s,
            &t,
            Method::GET,
            "/connections-scim-configurations",
            None,
        )
        .await;
        assert_eq!(all, json!({"scim_configurations": []}));
        let left = store
            .query_opt("SELECT COUNT(*) AS n FROM scim_tokens", vec![])
            .await
            .unwrap()
            .unwrap()
            .i64("n")
            .unwrap();
        assert_eq!(left, 0);
    }
}

#[tokio::test]
async fn directory_provisioning() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = create(&s, &t, json!({"name": "db", "strategy": "auth0"})).await;
        let (st, e) = call(
            &s,
            &t,
            Method::GET,
            &format!("/connections/{}/directory-provisioning", id(&db)),
            None,
        )
        .await;
        assert_eq!(st, 400, "{e}");

        let c = create(
            &s,
            &t,
            json!({"name": "gw", "strategy": "google-apps", "options": {"domain": "example.com", "api_enable_users": true, "ext_groups": true, "api_enable_groups": true}}),
        )
        .await;
        let base = format!("/connections/{}/directory-provisioning", id(&c));
        let (st, _) = call(&s, &t, Method::GET, &base, None).await;
        assert_eq!(st, 404);
        let (st, d) = call(&s, &t, Method::POST, &base, Some(json!({}))).await;
        assert_eq!(st, 201, "{d}");
        assert_eq!(d["mapping"].as_array().unwrap().len(), 51);
        assert_eq!(d["synchronize_groups"], "off");
        assert_eq!(d["synchronize_automatically"], false);
        let (st, _) = call(&s, &t, Method::POST, &base, Some(json!({}))).await;
        assert_eq!(st, 409);
        let (st, p) = call(
            &s,
            &t,
            Method::PATCH,
            &base,
            Some(json!({"mapping": [{"auth0": "email", "idp": "primaryEmail"}], "synchronize_groups": "selected"})),
        )
        .await;
        assert_eq!(st, 200, "{p}");
        assert_eq!(
            p["mapping"],
            json!([{"idp": "primaryEmail", "auth0": "email"}])
        );
        let (st, _) = call(
            &s,
            &t,
            Method::PUT,
            &format!("{base}/synchronized-groups"),
            Some(json!({"groups": [{"id": "zeta"}, {"id": "alpha"}]})),
        )
        .await;
        assert_eq!(st, 204);
        let (_, g) = call(
            &s,
            &t,
            Method::GET,
            &format!("{base}/synchronized-groups?take=50"),
            None,
        )
        .await;
        assert_eq!(g, json!({"groups": [{"id": "alpha"}, {"id": "zeta"}]}));
        let (_, dm) = call(
            &s,
            &t,
            Method::GET,
            &format!("{base}/default-mapping"),
            None,
        )
        .await;
        assert_eq!(
            dm["mapping"][0],
            json!({"idp": "id", "auth0": "app_metadata.external_id"})
        );
        let (_, all) = call(
            &s,
            &t,
            Method::GET,
            "/connections-directory-provisionings",
            None,
        )
        .await;
        assert_eq!(all["directory_provisionings"].as_array().unwrap().len(), 1);
        assert!(
            all["directory_provisionings"][0]
                .get("synchronized_groups")
                .is_none()
        );

        // Deleting the connection deletes its configuration.
        call(
            &s,
            &t,
            Method::DELETE,
            &format!("/connections/{}", id(&c)),
            None,
        )
        .await;
        let (_, all) = call(
            &s,
            &t,
            Method::GET,
            "/connections-directory-provisionings",
            None,
        )
        .await;
        assert_eq!(all, json!({"directory_provisionings": []}));
    }
}

#[tokio::test]
async fn configuration_secrets_are_shown_encrypted() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let c = create(
            &s,
            &t,
            json!({"name": "custom-db", "strategy": "auth0", "options": {"configuration": {"api_key": "s3cr3t-value"}}}),
        )
        .await;
        let shown = c["options"]["configuration"]["api_key"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(!c.to_string().contains("s3cr3t-value"));
        let (_, got) = call(
            &s,
            &t,
            Method::GET,
            &format!("/connections/{}", id(&c)),
            None,
        )
        .await;
        assert!(!got.to_string().contains("s3cr3t-value"));

        // Sending the shown value back keeps the secret; a new plain value replaces it.
        let (st, u) = call(
            &s,
            &t,
            Method::PATCH,
            &format!("/connections/{}", id(&c)),
            Some(json!({"options": {"configuration": {"api_key": shown, "other": "plain-2"}}})),
        )
        .await;
        assert_eq!(st, 200, "{u}");
        assert!(!u.to_string().contains("plain-2"));
        let db = Db::connect(&s.db.url).await.unwrap();
        let body = db
            .query_opt(
                "SELECT body FROM connections WHERE id = $1",
                params![id(&c)],
            )
            .await
            .unwrap()
            .unwrap()
            .json("body")
            .unwrap();
        assert_eq!(
            body["options"]["configuration"],
            json!({"api_key": "s3cr3t-value", "other": "plain-2"})
        );
    }
}
