//! Tag `clients`: applications and their credentials, over real HTTP on every backend.

use gatehouse_testkit::{TestServer, backends, spawn::call, spawn_on};
use reqwest::Method;
use serde_json::{Value, json};

/// The certificate the Terraform provider's tests use (from the recordings).
const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIFWDCCA0ACCQDXqpBo3RUhkzANBgkqhkiG9w0BAQsFADBuMQswCQYDVQQGEwJl\nczEPMA0GA1UECAwGTWFkcmlkMQ8wDQYDVQQHDAZNYWRyaWQxDTALBgNVBAoMBE9r\ndGExDzANBgNVBAsMBkRYLUNEVDEdMBsGA1UEAwwURGV2ZWxvcGVyIEV4cGVyaWVu\nY2UwHhcNMjMwNTE2MDkzMzEzWhcNMzMwNTEzMDkzMzEzWjBuMQswCQYDVQQGEwJl\nczEPMA0GA1UECAwGTWFkcmlkMQ8wDQYDVQQHDAZNYWRyaWQxDTALBgNVBAoMBE9r\ndGExDzANBgNVBAsMBkRYLUNEVDEdMBsGA1UEAwwURGV2ZWxvcGVyIEV4cGVyaWVu\nY2UwggIiMA0GCSqGSIb3DQEBAQUAA4ICDwAwggIKAoICAQCupwRtoZtRk9qRaXD+\nYdtpM9dWo2vaprvNo+7J2YPlOtZB0zx7xykTEI5UMsESRwEATzVvepQzvswYBlca\n9k1nOcMBSmhkJPol9fbntWAbw4jvs/xXCtKCVOuiP2hffaeq1+6Kei8gXJKpytzN\nLPhbqpoNfqb87U4SM4pKFWSkbJSL0inUilrlc4sR9IGWs9jjCK21TpsUcb7GMZem\nv7MlZQfKQSFuTJgTs3aLJAiyF0yfYhCMbE/bFefRsTcZYnAEYfI3pLDAuZm4GjWD\nW0DCm43pO+jSRvEnbikVvFo6GAoTyUStifK44KVwhp4iPRkIrUCEMxK0mCMVJ9KF\ntaKWsFcJ5nQGJxBz6fj766Hl7SwuHvmSezzADF7/5kOAb8TnMfYsRFxak/iE/5s+\nOldEONHWuyVWuNIqEeI1DglscX02uK7jnuhUAyrCR0ayI3Ket+OvbviZIjiNyqfR\nchPuL7QyQl3CrWcTgZCqwjMzW2G9Y63k838mqL0gVhNPrH6QedOdSsnXbsjP+hS5\nPx2PRWqT+Z8otzZpfnD/pmtjoA3D93c1KJ+hFNlyIvD+R7go045l7OR5MKkgkOSO\nCXTqCSiq09XpZUQvwMtW516K5K/zOveai7V5DTmTHhCL5kthRYhA5WDfLWicG0ZP\nzl4p7gmxfmseQH/bHBSU2f+a+QIDAQABMA0GCSqGSIb3DQEBCwUAA4ICAQA7EOsl\nD5WQ+G6T0GhbyTmlC497aULzCdFfkMjlPN2MiVhje0G4u8C5zK6zEkmyWfRkqCIh\n54YLbaZu55MbvwbD64tTWqDMBmmna8HpulFcpi4RM9jGFMqx5/NSHBLqv/BC3UNt\n7c4y4YuLJkB07RljPv07k5sgf9/twF+v7UYVURfutoj0sjOImJMN66YVOTlNoGTS\nTOrDWByqc6eDHSFVU+0urrgos4iF5UN7ovfA8dLBiR7I4S5kVKSKO18UUB4qPIj0\nyMvTImrQXMepVtzaGae1V5BCyx37J12/STcUdE5urtSBjZyaugrTw+C+WHTcS829\nq5jOjmBJgFTIICz8IDTxPZIM+keVyodFOJKRtteT6vWnk8wq9k4U5HRxtdRKc52u\nd3RCO/B+RxbBLzFuKrM402LNe6j6+gek4boPkzfMbEIohJm1ukM4bATfP5gltsGe\n6UvXg7yaM+oW8jBPHK9w5azsqj+SuxqvARchHWRIrYAli5SePbUtmFKC/Lt+pKCK\nqxdawpr8EUrJXvHL3XoNHuGNbVuSm/ep+ge89UAbUEQ90A4w7fuSX5S+pr4nMOTi\nlNZtdWtIC9qcJ2Xmy5gZ+mAh3Wv+96IwQ9MWvtFEXquNNbvJdXVluUPVarNv3T1B\n8GMCiNZ0r6tknDJcnkjmRqiB8o/ExYXRnjHhGQ==\n-----END CERTIFICATE-----\n\n";

async fn create(s: &TestServer, t: &str, body: Value) -> Value {
    let (st, v) = call(s, t, Method::POST, "/clients", Some(body)).await;
    assert_eq!(st, 201, "{v}");
    v
}

/// `/oauth/token` status for a client-credentials request with these credentials.
async fn token_status(s: &TestServer, id: &str, secret: &str) -> u16 {
    s.http
        .post(format!("{}/oauth/token", s.url))
        .json(
            &json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret,
            "audience": format!("{}/api/v2/", s.url)}),
        )
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[tokio::test]
async fn create_fills_auth0_defaults() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let c = create(&s, &t, json!({"name": "Minimal"})).await;
        assert_eq!(keys(&c)[0], "tenant", "{}", b.name());
        assert_eq!(c["global"], false);
        let id = c["client_id"].as_str().unwrap();
        assert_eq!(id.len(), 32);
        assert_eq!(c["client_secret"].as_str().unwrap().len(), 64);
        assert_eq!(c["is_first_party"], true);
        assert_eq!(c["oidc_conformant"], false);
        assert_eq!(
            c["jwt_configuration"],
            json!({"secret_encoded": false, "lifetime_in_seconds": 36000})
        );
        assert_eq!(
            c["grant_types"],
            json!([
                "authorization_code",
                "implicit",
                "refresh_token",
                "client_credentials"
            ])
        );
        assert_eq!(c["refresh_token"]["token_lifetime"], 2_592_000);
        assert_eq!(c["custom_login_page_on"], true);
        assert!(c.get("app_type").is_none());
        // The create reply is what a GET shows.
        let (st, got) = call(&s, &t, Method::GET, &format!("/clients/{id}"), None).await;
        assert_eq!(st, 200);
        assert_eq!(got, c);

        let spa = create(
            &s,
            &t,
            json!({"name": "SPA", "app_type": "spa", "token_endpoint_auth_method": "none"}),
        )
        .await;
        assert_eq!(
            spa["grant_types"],
            json!(["authorization_code", "implicit", "refresh_token"])
        );
        let m2m = create(
            &s,
            &t,
            json!({"name": "M2M", "app_type": "non_interactive", "token_endpoint_auth_method": "client_secret_post", "jwt_configuration": {"alg": "RS256"}}),
        )
        .await;
        assert_eq!(m2m["refresh_token"]["token_lifetime"], 31_557_600);
        assert_eq!(
            m2m["jwt_configuration"],
            json!({"secret_encoded": false, "alg": "RS256"})
        );
        let tp = create(
            &s,
            &t,
            json!({"name": "3P", "app_type": "regular_web", "is_first_party": false, "third_party_security_mode": "strict"}),
        )
        .await;
        let tp_id = tp["client_id"].as_str().unwrap();
        assert!(tp_id.starts_with("tpc_") && tp_id.len() == 26, "{tp_id}");
        assert_eq!(tp["grant_types"], json!(["authorization_code"]));
        assert_eq!(tp["refresh_token"]["expiration_type"], "expiring");
        let express = create(
            &s,
            &t,
            json!({"name": "Express", "app_type": "express_configuration"}),
        )
        .await;
        assert!(express.get("client_secret").is_none());
        assert_eq!(
            express["client_authentication_methods"],
            json!({"private_key_jwt": {"credentials": []}})
        );
        assert_eq!(express["organization_usage"], "require");
    }
}

#[tokio::test]
async fn patch_replaces_top_level_and_merges_nested() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let c = create(
            &s,
            &t,
            json!({"name": "P", "app_type": "native", "client_metadata": {"foo": "zoo", "keep": "me"},
                "initiate_login_uri": "https://example.com/login", "callbacks": ["https://a"],
                "mobile": {"android": {"app_package_name": "com.a"}, "ios": {"team_id": "1111111111"}},
                "native_social_login": {"apple": {"enabled": true}, "facebook": {"enabled": true}}}),
        )
        .await;
        let path = format!("/clients/{}", c["client_id"].as_str().unwrap());
        let (st, p) = call(
            &s,
            &t,
            Method::PATCH,
            &path,
            Some(json!({"client_metadata": {"foo": null}, "initiate_login_uri": "", "callbacks": [],
                "jwt_configuration": {"alg": "RS256"}, "mobile": {"android": {"app_package_name": "com.b"}},
                "native_social_login": {"facebook": {"enabled": false}}, "description": "",
                "session_transfer": {"delegation": null}})),
        )
        .await;
        assert_eq!(st, 200, "{p}");
        assert_eq!(p["client_metadata"], json!({"keep": "me"}));
        assert!(p.get("initiate_login_uri").is_none());
        assert_eq!(p["callbacks"], json!([]));
        assert_eq!(p["description"], "");
        assert_eq!(
            p["jwt_configuration"],
            json!({"secret_encoded": false, "lifetime_in_seconds": 36000, "alg": "RS256"})
        );
        assert_eq!(
            p["mobile"],
            json!({"android": {"app_package_name": "com.b"}, "ios": {"team_id": "1111111111"}})
        );
        assert_eq!(
            p["native_social_login"],
            json!({"apple": {"enabled": true}, "facebook": {"enabled": false}})
        );
        assert_eq!(p["session_transfer"]["enforce_device_binding"], "ip");
        let (_, got) = call(&s, &t, Method::GET, &path, None).await;
        assert_eq!(got, p);

        // Top-level null removes the key, even where the published schema is not nullable.
        let (st, p) = call(
            &s,
            &t,
            Method::PATCH,
            &path,
            Some(json!({"addons": {"slack": {"team": "x"}}})),
        )
        .await;
        assert_eq!(st, 200, "{p}");
        assert_eq!(p["addons"], json!({"slack": {"team": "x"}}));
        let (st, p) = call(
            &s,
            &t,
            Method::PATCH,
            &path,
            Some(json!({"addons": null, "mobile": null})),
        )
        .await;
        assert_eq!(st, 200, "{p}");
        assert!(p.get("addons").is_none() && p.get("mobile").is_none());

        // A bad body is refused and changes nothing.
        let (st, e) = call(
            &s,
            &t,
            Method::PATCH,
            &path,
            Some(json!({"name": "changed", "callbacks": "nope"})),
        )
        .await;
        assert_eq!(st, 400);
        assert_eq!(e["errorCode"], "invalid_body");
        let (_, after) = call(&s, &t, Method::GET, &path, None).await;
        assert_eq!(after, p);
        let (st, _) = call(&s, &t, Method::PATCH, &path, Some(json!({"nope": 1}))).await;
        assert_eq!(st, 400);
    }
}

#[tokio::test]
async fn secret_is_shown_only_with_read_client_keys() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let c = create(
            &s,
            &t,
            json!({"name": "S", "token_endpoint_auth_method": "client_secret_post"}),
        )
        .await;
        let path = format!("/clients/{}", c["client_id"].as_str().unwrap());
        let narrow = s.token_with_scope("read:clients").await;
        let (st, v) = call(&s, &narrow, Method::GET, &path, None).await;
        assert_eq!(st, 200);
        assert!(v.get("client_secret").is_none(), "{v}");
        let (_, list) = call(&s, &narrow, Method::GET, "/clients", None).await;
        assert!(
            list.as_array()
                .unwrap()
                .iter()
                .all(|c| c.get("client_secret").is_none())
        );
        let keys_token = s.token_with_scope("read:clients read:client_keys").await;
        let (_, v) = call(&s, &keys_token, Method::GET, &path, None).await;
        assert_eq!(v["client_secret"], c["client_secret"]);
        // Without update:client_keys the secret cannot be changed.
        let upd = s.token_with_scope("update:clients").await;
        let (st, _) = call(
            &s,
            &upd,
            Method::PATCH,
            &path,
            Some(json!({"client_secret": "x".repeat(40)})),
        )
        .await;
        assert_eq!(st, 403);
        let (st, v) = call(
            &s,
            &t,
            Method::PATCH,
            &path,
            Some(json!({"client_secret": "y".repeat(40)})),
        )
        .await;
        assert_eq!(st, 200);
        assert_eq!(v["client_secret"], "y".repeat(40));
    }
}

#[tokio::test]
async fn rotate_secret_retires_the_old_one() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let c = create(
            &s,
            &t,
            json!({"name": "R", "app_type": "non_interactive", "token_endpoint_auth_method": "client_secret_post"}),
        )
        .await;
        let id = c["client_id"].as_str().unwrap();
        let old = c["client_secret"].as_str().unwrap();
        // Authenticated (refused only for lack of a grant), not 401.
        assert_ne!(token_status(&s, id, old).await, 401);
        let (st, r) = call(
            &s,
            &t,
            Method::POST,
            &format!("/clients/{id}/rotate-secret"),
            None,
        )
        .await;
        assert_eq!(st, 200, "{r}");
        let new = r["client_secret"].as_str().unwrap();
        assert_ne!(new, old);
        assert_eq!(new.len(), 64);
        assert_eq!(r["name"], "R");
        assert_eq!(token_status(&s, id, old).await, 401);
        assert_ne!(token_status(&s, id, new).await, 401);
        let (st, e) = call(&s, &t, Method::POST, "/clients/nope/rotate-secret", None).await;
        assert_eq!(
            (st, e["errorCode"].as_str()),
            (404, Some("inexistent_client"))
        );
    }
}

#[tokio::test]
async fn list_filters_and_pages() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        create(&s, &t, json!({"name": "A", "app_type": "spa"})).await;
        create(&s, &t, json!({"name": "B", "app_type": "native"})).await;
        create(&s, &t, json!({"name": "C", "is_first_party": false})).await;
        // The Terraform provider's lookup of the global client.
        let (st, v) = call(
            &s,
            &t,
            Method::GET,
            "/clients?fields=client_id&include_fields=true&include_totals=true&is_global=true&per_page=50",
            None,
        )
        .await;
        assert_eq!(st, 200);
        assert_eq!(keys(&v), ["total", "start", "limit", "clients"]);
        assert_eq!(v["total"], 1);
        assert_eq!(v["limit"], 50);
        assert_eq!(keys(&v["clients"][0]), ["tenant", "client_id"]);
        let global_id = v["clients"][0]["client_id"].as_str().unwrap().to_owned();

        // Everything: bootstrap's admin client, the three, and the global client last.
        let (_, all) = call(&s, &t, Method::GET, "/clients", None).await;
        let all = all.as_array().unwrap();
        assert_eq!(all.len(), 5);
        assert_eq!(all[4]["client_id"], global_id.as_str());
        assert_eq!(all[4]["global"], true);
        assert_eq!(all[4]["name"], "All Applications");
        let (_, p) = call(
            &s,
            &t,
            Method::GET,
            "/clients?per_page=2&page=1&include_totals=true",
            None,
        )
        .await;
        assert_eq!(
            (p["total"].as_i64(), p["start"].as_i64()),
            (Some(5), Some(2))
        );
        assert_eq!(p["clients"][0]["name"], "B");
        let (_, p) = call(
            &s,
            &t,
            Method::GET,
            "/clients?app_type=spa,native&fields=name",
            None,
        )
        .await;
        assert_eq!(
            p,
            json!([{"tenant": p[0]["tenant"], "name": "A"}, {"tenant": p[0]["tenant"], "name": "B"}])
        );
        let (_, p) = call(
            &s,
            &t,
            Method::GET,
            "/clients?is_first_party=false&fields=name",
            None,
        )
        .await;
        assert_eq!(p.as_array().unwrap().len(), 1);
        assert_eq!(p[0]["name"], "C");
        let (_, p) = call(&s, &t, Method::GET, "/clients?take=2", None).await;
        assert_eq!(p["clients"].as_array().unwrap().len(), 2);
        let (_, p2) = call(
            &s,
            &t,
            Method::GET,
            &format!("/clients?take=10&from={}", p["next"].as_str().unwrap()),
            None,
        )
        .await;
        assert_eq!(p2["clients"].as_array().unwrap().len(), 3);
        assert!(p2.get("next").is_none());
        let (st, e) = call(&s, &t, Method::GET, "/clients?app_type=bogus", None).await;
        assert_eq!(
            (st, e["errorCode"].as_str()),
            (400, Some("invalid_query_string"))
        );
    }
}

#[tokio::test]
async fn delete_and_errors() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let c = create(&s, &t, json!({"name": "D"})).await;
        let path = format!("/clients/{}", c["client_id"].as_str().unwrap());
        let (st, e) = call(&s, &t, Method::GET, "/clients/doesnotexist", None).await;
        assert_eq!(st, 404);
        assert_eq!(
            e,
            json!({"statusCode": 404, "error": "Not Found", "message": "The client does not exist", "errorCode": "inexistent_client"})
        );
        let (st, _) = call(
            &s,
            &t,
            Method::PATCH,
            "/clients/doesnotexist",
            Some(json!({"name": "x"})),
        )
        .await;
        assert_eq!(st, 404);
        let (st, _) = call(
            &s,
            &t,
            Method::GET,
            "/clients/doesnotexist/connections",
            None,
        )
        .await;
        assert_eq!(st, 404);
        // A new client is enabled on the tenant's database connection (the admin client uses it).
        let (st, v) = call(&s, &t, Method::GET, &format!("{path}/connections"), None).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(
            v["connections"][0]["name"],
            json!("Username-Password-Authentication"),
            "{v}"
        );
        assert_eq!(v["connections"].as_array().map(Vec::len), Some(1), "{v}");
        let (st, e) = call(
            &s,
            &t,
            Method::POST,
            "/clients",
            Some(json!({"name": "x", "app_type": "nope"})),
        )
        .await;
        assert_eq!((st, e["errorCode"].as_str()), (400, Some("invalid_body")));

        let (_, g) = call(&s, &t, Method::GET, "/clients?is_global=true", None).await;
        let gid = g[0]["client_id"].as_str().unwrap();
        let (st, e) = call(&s, &t, Method::DELETE, &format!("/clients/{gid}"), None).await;
        assert_eq!(st, 400, "{e}");
        let (st, _) = call(&s, &t, Method::GET, &format!("/clients/{gid}"), None).await;
        assert_eq!(st, 200);

        let (st, v) = call(&s, &t, Method::DELETE, &path, None).await;
        assert_eq!((st, v), (204, Value::Null));
        let (st, _) = call(&s, &t, Method::GET, &path, None).await;
        assert_eq!(st, 404);
        let (st, _) = call(&s, &t, Method::DELETE, &path, None).await;
        assert_eq!(st, 204);
        let narrow = s.token_with_scope("read:clients").await;
        let (st, e) = call(
            &s,
            &narrow,
            Method::DELETE,
            &format!("/clients/{gid}"),
            None,
        )
        .await;
        assert_eq!(
            (st, e["errorCode"].as_str()),
            (403, Some("insufficient_scope"))
        );
    }
}

#[tokio::test]
async fn credentials_lifecycle() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let c = create(
            &s,
            &t,
            json!({"name": "K", "app_type": "non_interactive", "token_endpoint_auth_method": "client_secret_post", "jwt_configuration": {"alg": "RS256"}}),
        )
        .await;
        let id = c["client_id"].as_str().unwrap();
        let base = format!("/clients/{id}/credentials");
        let (st, v) = call(&s, &t, Method::GET, &base, None).await;
        assert_eq!((st, v), (200, json!([])));

        let (st, pk) = call(
            &s,
            &t,
            Method::POST,
            &base,
            Some(json!({"name": "Credential A", "credential_type": "public_key", "pem": CERT, "alg": "RS256",
                "parse_expiry_from_cert": false, "expires_at": "2096-05-13T09:33:13Z"})),
        )
        .await;
        assert_eq!(st, 201, "{pk}");
        assert_eq!(
            keys(&pk),
            [
                "id",
                "credential_type",
                "kid",
                "alg",
                "name",
                "created_at",
                "updated_at",
                "expires_at"
            ]
        );
        let cred = pk["id"].as_str().unwrap();
        assert!(cred.starts_with("cred_") && cred.len() == 27);
        assert_eq!(pk["kid"], "w0kIFOc-q7KKK-pa2Uj5b_Cl3f0hAgFeseLg8iEmWu0");
        assert_eq!(pk["expires_at"], "2096-05-13T09:33:13.000Z");
        assert!(pk.get("pem").is_none());

        let (st, x) = call(
            &s,
            &t,
            Method::POST,
            &base,
            Some(json!({"name": "X", "credential_type": "x509_cert", "pem": CERT})),
        )
        .await;
        assert_eq!(st, 201, "{x}");
        assert_eq!(
            x["thumbprint_sha256"],
            "irPW_52cQKIRPeblpAs2LjaUELUxnh5Vi7_1idgHX7w"
        );
        assert_eq!(x["expires_at"], "2033-05-13T09:33:13.000Z");
        let (st, dn) = call(
            &s,
            &t,
            Method::POST,
            &base,
            Some(json!({"credential_type": "cert_subject_dn", "pem": CERT})),
        )
        .await;
        assert_eq!(st, 201, "{dn}");
        assert_eq!(
            dn["subject_dn"],
            "C=es\nST=Madrid\nL=Madrid\nO=Okta\nOU=DX-CDT\nCN=Developer Experience"
        );
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            &base,
            Some(json!({"credential_type": "public_key", "pem": "junk"})),
        )
        .await;
        assert_eq!(st, 400);

        let (_, list) = call(
            &s,
            &t,
            Method::GET,
            &format!("{base}?include_totals=true&per_page=50"),
            None,
        )
        .await;
        assert_eq!(list.as_array().unwrap().len(), 3);
        let (st, one) = call(&s, &t, Method::GET, &format!("{base}/{cred}"), None).await;
        assert_eq!((st, &one), (200, &pk));
        let (st, p) = call(
            &s,
            &t,
            Method::PATCH,
            &format!("{base}/{cred}"),
            Some(json!({"expires_at": null})),
        )
        .await;
        assert_eq!(st, 200, "as the live API answers (the spec says 201)");
        assert!(p.get("expires_at").is_none());

        // Linking the credential as the authentication method hides the secret; switching back shows it.
        let cpath = format!("/clients/{id}");
        let (st, v) = call(&s, &t, Method::PATCH, &cpath, Some(json!({"client_authentication_methods": {"private_key_jwt": {"credentials": [{"id": "cred_doesnotexist1234567890"}]}}, "token_endpoint_auth_method": null}))).await;
        assert_eq!(st, 400, "{v}");
        let (_, unchanged) = call(&s, &t, Method::GET, &cpath, None).await;
        assert_eq!(
            unchanged["token_endpoint_auth_method"],
            "client_secret_post"
        );
        let (st, v) = call(&s, &t, Method::PATCH, &cpath, Some(json!({"client_authentication_methods": {"private_key_jwt": {"credentials": [{"id": cred}]}}, "token_endpoint_auth_method": null}))).await;
        assert_eq!(st, 200, "{v}");
        assert!(v.get("client_secret").is_none() && v.get("token_endpoint_auth_method").is_none());
        assert_eq!(
            v["client_authentication_methods"]["private_key_jwt"]["credentials"],
            json!([{"id": cred}])
        );
        let (_, v) = call(&s, &t, Method::PATCH, &cpath, Some(json!({"client_authentication_methods": null, "token_endpoint_auth_method": "client_secret_post"}))).await;
        assert_eq!(v["client_secret"], c["client_secret"]);

        let (st, _) = call(&s, &t, Method::DELETE, &format!("{base}/{cred}"), None).await;
        assert_eq!(st, 204);
        let (st, _) = call(&s, &t, Method::GET, &format!("{base}/{cred}"), None).await;
        assert_eq!(st, 404);
        let (st, e) = call(&s, &t, Method::GET, "/clients/nope/credentials", None).await;
        assert_eq!(
            (st, e["errorCode"].as_str()),
            (404, Some("inexistent_client"))
        );
        // Deleting the client takes its credentials along.
        call(&s, &t, Method::DELETE, &cpath, None).await;
        let (st, _) = call(
            &s,
            &t,
            Method::GET,
            &format!("{base}/{}", x["id"].as_str().unwrap()),
            None,
        )
        .await;
        assert_eq!(st, 404);
    }
}
