//! Tokens that carry authorization: RBAC `permissions` by token dialect, and organizations for
//! client credentials (`organization_usage`, `allow_any_organization`, associations, names).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use gatehouse_store::{Db, docs, params, tenants};
use gatehouse_testkit::{TestServer, backends, spawn::call, spawn_on};
use reqwest::Method;
use serde_json::{Value, json};

/// The tenant the test servers serve.
const TENANT: &str = tenants::DEFAULT_TENANT;

/// A client-credentials request of the admin client with extra parameters (form-encoded, as
/// the SDKs send it): the status and the reply.
async fn token(s: &TestServer, audience: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", s.admin_client_id.as_str()),
        ("client_secret", s.admin_client_secret.as_str()),
        ("audience", audience),
    ];
    form.extend_from_slice(extra);
    let res = s
        .http
        .post(format!("{}/oauth/token", s.url))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// The header and the claims of a JWT (not verified: the signature is tested elsewhere).
fn decode(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let mut part = || -> Value {
        serde_json::from_slice(&B64.decode(parts.next().unwrap()).unwrap()).unwrap()
    };
    let header = part();
    (header, part())
}

async fn create_api(s: &TestServer, t: &str, identifier: &str, extra: Value) {
    let mut body = json!({
        "identifier": identifier,
        "scopes": [
            {"value": "read:things", "description": "r"},
            {"value": "write:things", "description": "w"},
            {"value": "delete:things", "description": "d"},
        ],
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (st, v) = call(s, t, Method::POST, "/resource-servers", Some(body)).await;
    assert_eq!(st, 201, "{v}");
}

async fn create_grant(s: &TestServer, t: &str, audience: &str, extra: Value) -> String {
    let mut body = json!({
        "client_id": s.admin_client_id,
        "audience": audience,
        "scope": ["read:things", "write:things"],
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (st, g) = call(s, t, Method::POST, "/client-grants", Some(body)).await;
    assert_eq!(st, 201, "{g}");
    g["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn permissions_follow_rbac_and_dialect() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        // (enforce_policies, token_dialect, permissions expected, RFC 9068 profile)
        let cases: &[(Option<bool>, Option<&str>, bool, bool)] = &[
            (None, None, false, false),
            (Some(true), None, false, false),
            (Some(true), Some("access_token"), false, false),
            (Some(true), Some("access_token_authz"), true, false),
            (Some(false), Some("access_token_authz"), false, false),
            (Some(true), Some("rfc9068_profile"), false, true),
            (Some(true), Some("rfc9068_profile_authz"), true, true),
            (Some(false), Some("rfc9068_profile_authz"), false, true),
        ];
        for (i, (enforce, dialect, perms, rfc)) in cases.iter().enumerate() {
            let aud = format!("https://rbac{i}.example.com");
            let mut extra = json!({});
            if let Some(e) = enforce {
                extra["enforce_policies"] = json!(e);
            }
            if let Some(d) = dialect {
                extra["token_dialect"] = json!(d);
            }
            create_api(&s, &t, &aud, extra).await;
            create_grant(&s, &t, &aud, json!({})).await;
            let case = format!("{} case {i}: {enforce:?} {dialect:?}", b.name());

            let (st, tok) = token(&s, &aud, &[]).await;
            assert_eq!(st, 200, "{case}: {tok}");
            assert_eq!(tok["scope"], "read:things write:things", "{case}");
            let (header, claims) = decode(tok["access_token"].as_str().unwrap());
            let want_perms = perms.then(|| json!(["read:things", "write:things"]));
            assert_eq!(claims.get("permissions").cloned(), want_perms, "{case}");
            assert_eq!(claims["scope"], "read:things write:things", "{case}");
            assert_eq!(claims["aud"], aud, "{case}");
            assert_eq!(
                claims["sub"],
                format!("{}@clients", s.admin_client_id),
                "{case}"
            );
            if *rfc {
                assert_eq!(header["typ"], "at+jwt", "{case}");
                assert_eq!(claims["client_id"], s.admin_client_id, "{case}");
                assert!(
                    claims["jti"].as_str().is_some_and(|j| j.len() > 16),
                    "{case}"
                );
                assert!(claims.get("azp").is_none(), "{case}");
            } else {
                assert_eq!(header["typ"], "JWT", "{case}");
                assert_eq!(claims["azp"], s.admin_client_id, "{case}");
                assert_eq!(claims["gty"], "client-credentials", "{case}");
                assert!(claims.get("client_id").is_none(), "{case}");
            }

            // A narrower `scope` narrows the permissions with it.
            let (st, tok) = token(&s, &aud, &[("scope", "write:things delete:things")]).await;
            assert_eq!(st, 200, "{case}: {tok}");
            assert_eq!(tok["scope"], "write:things", "{case}");
            let (_, claims) = decode(tok["access_token"].as_str().unwrap());
            let want_perms = perms.then(|| json!(["write:things"]));
            assert_eq!(claims.get("permissions").cloned(), want_perms, "{case}");
        }

        // The typed columns follow a PATCH: RBAC off, then on again with another dialect.
        let (st, list) = call(&s, &t, Method::GET, "/resource-servers", None).await;
        assert_eq!(st, 200);
        let id = list
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["identifier"] == "https://rbac3.example.com")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let path = format!("/resource-servers/{id}");
        let aud = "https://rbac3.example.com";
        let (st, v) = call(
            &s,
            &t,
            Method::PATCH,
            &path,
            Some(json!({"enforce_policies": false})),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        let (_, tok) = token(&s, aud, &[]).await;
        let (_, claims) = decode(tok["access_token"].as_str().unwrap());
        assert!(claims.get("permissions").is_none(), "{claims}");
        let (st, v) = call(
            &s,
            &t,
            Method::PATCH,
            &path,
            Some(json!({"enforce_policies": true, "token_dialect": "rfc9068_profile_authz"})),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        let (_, tok) = token(&s, aud, &[]).await;
        let (header, claims) = decode(tok["access_token"].as_str().unwrap());
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(
            claims["permissions"],
            json!(["read:things", "write:things"])
        );
    }
}

/// How a case names its organization.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Named {
    Nothing,
    /// The associated organization, by id.
    AssociatedId,
    /// The organization no grant is associated with, by id.
    OtherId,
    /// The associated organization, by name.
    AssociatedName,
    /// No organization has it as id or name.
    Unknown,
}

/// What Auth0 answers (as this server implements it): `Ok(org_id)` or the status and `error`.
fn expected(
    usage: Option<&str>,
    any: bool,
    named: Named,
    names_allowed: bool,
    ids: (&str, &str),
) -> Result<Option<String>, (u16, &'static str)> {
    let usage = usage.unwrap_or("deny");
    if named == Named::Nothing {
        return if usage == "require" {
            Err((400, "invalid_request"))
        } else {
            Ok(None)
        };
    }
    if usage == "deny" {
        return Err((400, "invalid_request"));
    }
    let (org, associated) = match named {
        Named::AssociatedId => (ids.0, true),
        Named::OtherId => (ids.1, false),
        Named::AssociatedName if names_allowed => (ids.0, true),
        _ => return Err((400, "invalid_request")),
    };
    if !any && !associated {
        return Err((403, "access_denied"));
    }
    Ok(Some(org.to_owned()))
}

async fn insert_org(db: &Db, id: &str, name: &str) {
    db.execute(
        "INSERT INTO organizations (tenant_id, id, name, body, seq, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        params![TENANT, id, name, json!({"id": id, "name": name}), gatehouse_store::seq_now(), "2026-01-01T00:00:00.000Z"],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn organizations_for_client_credentials() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = Db::connect(&s.db.url).await.unwrap();
        let (org_a, org_b) = ("org_aaaaaaaaaaaaaaaa", "org_bbbbbbbbbbbbbbbb");
        insert_org(&db, org_a, "acme").await;
        insert_org(&db, org_b, "globex").await;

        // One API and grant per (organization_usage, allow_any_organization), each grant
        // associated with `acme` only.
        let usages = [None, Some("deny"), Some("allow"), Some("require")];
        let mut grants = Vec::new();
        for (i, usage) in usages.iter().enumerate() {
            for any in [false, true] {
                let aud = format!("https://org{i}-{any}.example.com");
                create_api(&s, &t, &aud, json!({})).await;
                let mut extra = json!({"allow_any_organization": any});
                if let Some(u) = usage {
                    extra["organization_usage"] = json!(u);
                }
                let gid = create_grant(&s, &t, &aud, extra).await;
                db.execute(
                    "INSERT INTO organization_client_grants (tenant_id, organization_id, grant_id, seq) VALUES ($1, $2, $3, $4)",
                    params![TENANT, org_a, &gid, gatehouse_store::seq_now()],
                )
                .await
                .unwrap();
                grants.push((aud, *usage, any));
            }
        }

        for names_allowed in [None, Some(false), Some(true)] {
            if let Some(allowed) = names_allowed {
                docs::put(
                    &db,
                    TENANT,
                    tenants::SETTINGS_KIND,
                    tenants::SETTINGS_ID,
                    &json!({"friendly_name": "x", "allow_organization_name_in_authentication_api": allowed}),
                    "2026-01-01T00:00:00.000Z",
                )
                .await
                .unwrap();
            }
            let allowed = names_allowed == Some(true);
            for (aud, usage, any) in &grants {
                for named in [
                    Named::Nothing,
                    Named::AssociatedId,
                    Named::OtherId,
                    Named::AssociatedName,
                    Named::Unknown,
                ] {
                    let param = match named {
                        Named::Nothing => None,
                        Named::AssociatedId => Some(org_a),
                        Named::OtherId => Some(org_b),
                        Named::AssociatedName => Some("acme"),
                        Named::Unknown => Some("org_cccccccccccccccc"),
                    };
                    let extra: Vec<(&str, &str)> =
                        param.map(|p| ("organization", p)).into_iter().collect();
                    let (st, tok) = token(&s, aud, &extra).await;
                    let case = format!(
                        "{}: usage {usage:?}, any {any}, {named:?}, names {names_allowed:?}",
                        b.name()
                    );
                    match expected(*usage, *any, named, allowed, (org_a, org_b)) {
                        Ok(org) => {
                            assert_eq!(st, 200, "{case}: {tok}");
                            let (_, claims) = decode(tok["access_token"].as_str().unwrap());
                            assert_eq!(
                                claims.get("org_id").and_then(Value::as_str),
                                org.as_deref(),
                                "{case}"
                            );
                            let want_name = org
                                .as_ref()
                                .filter(|_| allowed)
                                .map(|o| if o == org_a { "acme" } else { "globex" });
                            assert_eq!(
                                claims.get("org_name").and_then(Value::as_str),
                                want_name,
                                "{case}"
                            );
                            assert_eq!(tok["scope"], "read:things write:things", "{case}");
                        }
                        Err((status, error)) => {
                            assert_eq!(
                                (st, tok["error"].as_str()),
                                (status, Some(error)),
                                "{case}: {tok}"
                            );
                            assert!(tok["error_description"].as_str().is_some(), "{case}");
                        }
                    }
                }
            }
        }

        // The organization checks come after the grant's: an API without a grant is still
        // 403, whatever `organization` says; a grant without `organization_usage` denies.
        let (st, _) = token(&s, &s.mgmt_audience(), &[("organization", org_a)]).await;
        assert_eq!(
            st, 400,
            "the Management API grant denies organizations by default"
        );
        create_api(&s, &t, "https://nogrant.example.com", json!({})).await;
        let (st, e) = token(
            &s,
            "https://nogrant.example.com",
            &[("organization", org_a)],
        )
        .await;
        assert_eq!(
            (st, e["error"].as_str()),
            (403, Some("access_denied")),
            "{e}"
        );
        // An empty `organization` is no organization.
        let (st, tok) = token(&s, "https://org3-true.example.com", &[("organization", "")]).await;
        assert_eq!(
            (st, tok["error"].as_str()),
            (400, Some("invalid_request")),
            "{tok}"
        );
        let (st, tok) = token(
            &s,
            "https://org2-false.example.com",
            &[("organization", "")],
        )
        .await;
        assert_eq!(st, 200, "{tok}");
        let (_, claims) = decode(tok["access_token"].as_str().unwrap());
        assert!(claims.get("org_id").is_none());
    }
}

/// Without an `audience`, a client-credentials token is for the tenant's `default_audience`
/// (tenant settings); with neither, Auth0's 403. An `audience` given wins over the default.
#[tokio::test]
async fn default_audience_stands_in_for_a_missing_one() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let (st, v) = token(&s, "", &[]).await;
        assert_eq!(st, 403, "{v}");
        assert_eq!(
            v["error_description"],
            "No audience parameter was provided, and no default audience has been configured"
        );
        create_api(&s, &t, "https://other.example.com", json!({})).await;
        let (st, v) = call(
            &s,
            &t,
            Method::PATCH,
            "/tenants/settings",
            Some(json!({"default_audience": s.mgmt_audience()})),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        let (st, v) = token(&s, "", &[]).await;
        assert_eq!(st, 200, "{}: {v}", b.name());
        let (_, claims) = decode(v["access_token"].as_str().unwrap());
        assert_eq!(claims["aud"], json!(s.mgmt_audience()), "{claims}");
        // A given audience wins: the admin client has no grant to this one.
        let (st, v) = token(&s, "https://other.example.com", &[]).await;
        assert_eq!(st, 403, "{v}");
        assert!(
            v["error_description"]
                .as_str()
                .unwrap()
                .contains("https://other.example.com"),
            "{v}"
        );
    }
}
