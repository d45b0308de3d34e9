//! The authentication matrix: every one of the spec's 406 operations, called with every kind of
//! bad credential, answers 401 (or 403 for a valid token lacking the scope) with Auth0's error
//! JSON, before any handler runs; afterwards the tenant is unchanged.

use aws_lc_rs::hmac;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use gatehouse_core::{jwt::SigningKey, time::unix_now};
use gatehouse_spec::OPERATIONS;
use gatehouse_testkit::{TestServer, backends, spawn::call, spawn_on};
use reqwest::Method as M;
use serde_json::{Value, json};

use crate::hostile::{assert_healthy, method, tenant_snapshot};

/// A bad credential and the answer every operation must give it.
struct Bad {
    name: &'static str,
    /// The `Authorization` header (`None`: no header at all).
    header: Option<String>,
    /// Auth0's message for it (`None`: only checked to be there).
    message: Option<String>,
}

fn jwt(header: &Value, claims: &Value, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string()),
        B64.encode(sig)
    )
}

/// The server's own key, as a test can reach it through the running server's state.
fn server_key(s: &TestServer) -> (String, std::sync::Arc<gatehouse_api::state::Tenant>) {
    let tenant = s.running.as_ref().unwrap().state.tenant_for_host(None);
    (tenant.issuer.clone(), tenant)
}

async fn bad_credentials(s: &TestServer, token: &str) -> Vec<Bad> {
    let (issuer, tenant) = server_key(s);
    let now = unix_now();
    let claims = |exp: i64| {
        json!({
            "iss": issuer,
            "sub": format!("{}@clients", s.admin_client_id),
            "aud": s.mgmt_audience(),
            "iat": now - 120,
            "exp": exp,
            "scope": "read:clients create:clients update:clients delete:clients",
            "gty": "client-credentials",
            "azp": s.admin_client_id,
        })
    };
    let kid = tenant.keys().signing.kid.clone();

    // A real token whose payload was swapped for one with more scopes: its signature no longer fits.
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged = claims(now + 3600);
    forged["scope"] = json!("delete:clients delete:users create:clients");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(forged.to_string()),
        parts[2]
    );

    // A well-formed token signed by a key the server does not know.
    let (stranger, _) = SigningKey::generate("unknown-kid".into()).unwrap();
    let unknown_kid = stranger.sign(&claims(now + 3600)).unwrap();
    // The same key under the server's own kid.
    let (impostor, _) = SigningKey::generate(kid.clone()).unwrap();
    let wrong_key = impostor.sign(&claims(now + 3600)).unwrap();

    let none = jwt(
        &json!({"alg": "none", "typ": "JWT", "kid": kid}),
        &claims(now + 3600),
        b"",
    );

    // HS256 keyed with the server's public key (PEM), the classic algorithm confusion.
    let pem = format!(
        "-----BEGIN RSA PUBLIC KEY-----\n{}\n-----END RSA PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(tenant.keys().signing.public_der())
    );
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": kid});
    let signing_input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims(now + 3600).to_string())
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, pem.as_bytes());
    let tag = hmac::sign(&key, signing_input.as_bytes());
    let hs256 = format!("{signing_input}.{}", B64.encode(tag.as_ref()));

    let expired = tenant.keys().signing.sign(&claims(now - 60)).unwrap();
    let wrong_issuer = {
        let mut c = claims(now + 3600);
        c["iss"] = json!("https://elsewhere.example/");
        tenant.keys().signing.sign(&c).unwrap()
    };

    // A real token from the server, for another API of the tenant.
    let other = "https://other-api.example/";
    let (st, rs) = call(
        s,
        token,
        M::POST,
        "/resource-servers",
        Some(json!({"name": "other", "identifier": other, "scopes": [{"value": "read:things"}]})),
    )
    .await;
    assert_eq!(st, 201, "{rs}");
    let (st, g) = call(
        s,
        token,
        M::POST,
        "/client-grants",
        Some(json!({"client_id": s.admin_client_id, "audience": other, "scope": ["read:things"]})),
    )
    .await;
    assert_eq!(st, 201, "{g}");
    let (st, v) = s.client_credentials(other, None).await;
    assert_eq!(st, 200, "{v}");
    let other_api = v["access_token"].as_str().unwrap().to_owned();

    let bearer = |t: &str| Some(format!("Bearer {t}"));
    let msg = |m: &str| Some(m.to_owned());
    vec![
        Bad {
            name: "no token",
            header: None,
            message: msg("Missing authentication"),
        },
        Bad {
            name: "not a bearer",
            header: Some(format!("Basic {}", B64.encode("a:b"))),
            message: msg("Bad HTTP authentication header format"),
        },
        Bad {
            name: "garbage",
            header: bearer("garbage"),
            message: msg("Bad HTTP authentication header format"),
        },
        Bad {
            name: "three garbage segments",
            header: bearer("abc.def.ghi"),
            message: None,
        },
        Bad {
            name: "bad signature (payload swapped)",
            header: bearer(&tampered),
            message: msg("Invalid signature received for JSON Web Token validation"),
        },
        Bad {
            name: "unknown kid",
            header: bearer(&unknown_kid),
            message: msg("Invalid token"),
        },
        Bad {
            name: "another key under the server's kid",
            header: bearer(&wrong_key),
            message: msg("Invalid signature received for JSON Web Token validation"),
        },
        Bad {
            name: "alg none",
            header: bearer(&none),
            message: msg("Invalid token"),
        },
        Bad {
            name: "HS256 keyed with the public key",
            header: bearer(&hs256),
            message: msg("Invalid token"),
        },
        Bad {
            name: "expired",
            header: bearer(&expired),
            message: msg("Expired token received for JSON Web Token validation"),
        },
        Bad {
            name: "another issuer",
            header: bearer(&wrong_issuer),
            message: msg("Invalid token"),
        },
        Bad {
            name: "another API's audience",
            header: bearer(&other_api),
            message: msg(&format!("Bad audience: \"{other}\"")),
        },
    ]
}

/// A path of the spec with every `{param}` filled.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "x" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// One request: the status and the JSON body.
async fn send(s: &TestServer, m: M, path: &str, authz: Option<&str>) -> (u16, Value) {
    let mut req = s.http.request(m.clone(), s.api(path));
    if let Some(h) = authz {
        req = req.header("authorization", h);
    }
    if matches!(m, M::POST | M::PUT | M::PATCH) {
        req = req.json(&json!({}));
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_operation_refuses_bad_credentials() {
    assert_eq!(OPERATIONS.len(), 406);
    for b in backends() {
        let s = spawn_on(&b).await;
        let token = s.mgmt_token().await;
        let bad = bad_credentials(&s, &token).await;
        // Two one-scope tokens: every operation needs a scope at least one of them lacks.
        let narrow = [
            ("read:stats", s.token_with_scope("read:stats").await),
            ("read:clients", s.token_with_scope("read:clients").await),
        ];
        let before = tenant_snapshot(&s, &token).await;
        let mut failures = Vec::new();
        let mut requests = 0;
        for info in &OPERATIONS {
            let path = concrete(info.path);
            let m = method(info.method);
            for cred in &bad {
                let (st, body) = send(&s, m.clone(), &path, cred.header.as_deref()).await;
                requests += 1;
                let ok = st == 401
                    && body["statusCode"] == 401
                    && body["error"] == "Unauthorized"
                    && body.get("errorCode").is_none()
                    && cred
                        .message
                        .as_ref()
                        .map_or(body["message"].is_string(), |msg| body["message"] == *msg);
                if !ok {
                    failures.push(format!(
                        "{} {} [{}]: {st} {body}",
                        info.method.as_str(),
                        info.path,
                        cred.name
                    ));
                }
            }
            let Some((scope, narrow)) = narrow.iter().find(|(sc, _)| !info.scopes.contains(sc))
            else {
                failures.push(format!("{}: both narrow tokens have its scope", info.id));
                continue;
            };
            let (st, body) = send(&s, m.clone(), &path, Some(&format!("Bearer {narrow}"))).await;
            requests += 1;
            let expected = format!(
                "Insufficient scope, expected any of: {}",
                info.scopes.join(",")
            );
            if !(st == 403
                && body["statusCode"] == 403
                && body["error"] == "Forbidden"
                && body["errorCode"] == "insufficient_scope"
                && body["message"] == expected)
            {
                failures.push(format!(
                    "{} {} [only {scope}]: {st} {body}",
                    info.method.as_str(),
                    info.path
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {requests} requests not refused as Auth0 does on {}:\n{}",
            failures.len(),
            b.name(),
            failures.join("\n")
        );
        assert_healthy(&s).await;
        let after = tenant_snapshot(&s, &token).await;
        assert_eq!(before, after, "the tenant changed on {}", b.name());
        println!("{requests} requests refused on {}", b.name());
    }
}
