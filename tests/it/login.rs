//! End-user login over the Authentication API (issue 9, the non-browser part): the password,
//! password-realm, authorization-code and refresh-token grants, brute-force protection,
//! `/userinfo`, `/oauth/revoke`, `/dbconnections/*`, discovery and the post-login trigger.

use std::time::Duration;

use base64::Engine;
use gatehouse_store::{Db, sessions};
use gatehouse_testkit::{TestServer, backends, smtp::SmtpSink, spawn::call, spawn_on};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest;

pub(crate) const API: &str = "https://api.login.example.com/";
pub(crate) const PASSWORD: &str = "Corr3ct-Horse-Battery";

pub(crate) struct Setup {
    pub client_id: String,
    pub secret: String,
    pub user_id: String,
}

pub(crate) async fn ok(s: &TestServer, t: &str, m: Method, path: &str, body: Value) -> Value {
    let (st, v) = call(s, t, m, path, Some(body)).await;
    assert!(st < 300, "{path}: {st} {v}");
    v
}

/// A database connection `conn` with a user `email` / [`PASSWORD`], a regular web client allowed
/// every user grant (with `client` merged into its body) and an API allowing offline access.
pub(crate) async fn setup(
    s: &TestServer,
    t: &str,
    conn: &str,
    email: &str,
    client: Value,
) -> Setup {
    let mut body = json!({
        "name": format!("app-{conn}"),
        "app_type": "regular_web",
        "grant_types": ["password", "http://auth0.com/oauth/grant-type/password-realm",
                        "authorization_code", "refresh_token"],
    });
    if let (Value::Object(b), Value::Object(extra)) = (&mut body, client) {
        b.extend(extra);
    }
    let c = ok(s, t, Method::POST, "/clients", body).await;
    let client_id = c["client_id"].as_str().unwrap().to_owned();
    let secret = c["client_secret"].as_str().unwrap_or_default().to_owned();
    ok(
        s,
        t,
        Method::POST,
        "/connections",
        json!({"name": conn, "strategy": "auth0", "enabled_clients": [client_id],
               "options": {"passwordPolicy": "low"}}),
    )
    .await;
    let (st, _) = call(
        s,
        t,
        Method::POST,
        "/resource-servers",
        Some(
            json!({"identifier": API, "name": "login api", "allow_offline_access": true,
                    "scopes": [{"value": "read:things"}, {"value": "write:things"}]}),
        ),
    )
    .await;
    assert!(st == 201 || st == 409);
    let u = ok(
        s,
        t,
        Method::POST,
        "/users",
        json!({"connection": conn, "email": email, "password": PASSWORD, "name": "Ann Example"}),
    )
    .await;
    Setup {
        client_id,
        secret,
        user_id: u["user_id"].as_str().unwrap().to_owned(),
    }
}

/// `POST /oauth/token` as a form: status and JSON reply.
pub(crate) async fn token(s: &TestServer, form: &[(&str, &str)]) -> (u16, Value) {
    let res = s
        .http
        .post(format!("{}/oauth/token", s.url))
        .form(form)
        .send()
        .await
        .unwrap();
    let st = res.status().as_u16();
    (st, res.json().await.unwrap_or(Value::Null))
}

pub(crate) fn claims(jwt: &str) -> Value {
    let p = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap(),
    )
    .unwrap()
}

async fn realm_login(
    s: &TestServer,
    x: &Setup,
    conn: &str,
    user: &str,
    pw: &str,
    scope: &str,
) -> (u16, Value) {
    token(
        s,
        &[
            (
                "grant_type",
                "http://auth0.com/oauth/grant-type/password-realm",
            ),
            ("client_id", &x.client_id),
            ("client_secret", &x.secret),
            ("realm", conn),
            ("username", user),
            ("password", pw),
            ("scope", scope),
            ("audience", API),
        ],
    )
    .await
}

async fn log_types(s: &TestServer, t: &str) -> Vec<String> {
    // The log writer acknowledges before answering; a short wait covers the reader's view.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (st, v) = call(s, t, Method::GET, "/logs?per_page=100", None).await;
    assert_eq!(st, 200, "{v}");
    v.as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn password_grants_mint_tokens_and_refuse_bad_credentials() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let x = setup(&s, &t, "pw-db", "ann@example.com", json!({})).await;

        let (st, v) = realm_login(
            &s,
            &x,
            "pw-db",
            "Ann@Example.com",
            PASSWORD,
            "openid profile email offline_access read:things nope",
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 86400);
        assert_eq!(
            v["scope"],
            "openid profile email offline_access read:things"
        );
        assert!(v["refresh_token"].as_str().unwrap().len() >= 43);
        let at = claims(v["access_token"].as_str().unwrap());
        assert_eq!(at["sub"], x.user_id.as_str());
        assert_eq!(at["aud"], json!([API, format!("{}/userinfo", s.url)]));
        assert_eq!(at["azp"], x.client_id.as_str());
        assert_eq!(at["iss"], format!("{}/", s.url));
        let id = claims(v["id_token"].as_str().unwrap());
        assert_eq!(id["aud"], x.client_id.as_str());
        assert_eq!(id["email"], "ann@example.com");
        assert_eq!(id["name"], "Ann Example");
        assert!(id["at_hash"].is_string());
        assert!(id["auth_time"].is_i64());

        // logins_count / last_login / last_ip.
        let (_, u) = call(&s, &t, Method::GET, &format!("/users/{}", x.user_id), None).await;
        assert_eq!(u["logins_count"], 1, "{u}");
        assert_eq!(u["last_ip"], "127.0.0.1");
        assert!(u["last_login"].is_string());

        // Wrong password and unknown user: the same answer.
        let (st, wrong) = realm_login(
            &s,
            &x,
            "pw-db",
            "ann@example.com",
            "nope-nope-nope",
            "openid",
        )
        .await;
        assert_eq!(st, 403, "{wrong}");
        assert_eq!(
            wrong,
            json!({"error": "invalid_grant", "error_description": "Wrong email or password."})
        );
        let (st, unknown) =
            realm_login(&s, &x, "pw-db", "who@example.com", PASSWORD, "openid").await;
        assert_eq!((st, unknown), (403, wrong));
        // A realm that is not there, or not enabled for the client.
        let (st, v) =
            realm_login(&s, &x, "no-such-db", "ann@example.com", PASSWORD, "openid").await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(v["error"], "invalid_request");
        // A wrong client secret.
        let (st, v) = token(
            &s,
            &[
                ("grant_type", "password"),
                ("client_id", &x.client_id),
                ("client_secret", "bad"),
                ("username", "ann@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
        assert_eq!((st, v["error"].as_str()), (401, Some("access_denied")));

        // `password`: the tenant's default_directory (the client has several connections).
        ok(
            &s,
            &t,
            Method::PATCH,
            "/tenants/settings",
            json!({"default_directory": "pw-db"}),
        )
        .await;
        let (st, v) = token(
            &s,
            &[
                ("grant_type", "password"),
                ("client_id", &x.client_id),
                ("client_secret", &x.secret),
                ("username", "ann@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["scope"], "openid profile email address phone");
        assert!(v.get("refresh_token").is_none());

        // A client whose grant_types do not allow it.
        let c = ok(
            &s,
            &t,
            Method::POST,
            "/clients",
            json!({"name": "m2m", "app_type": "non_interactive",
            "grant_types": ["client_credentials"]}),
        )
        .await;
        let (st, v) = token(
            &s,
            &[
                ("grant_type", "password"),
                ("client_id", c["client_id"].as_str().unwrap()),
                ("client_secret", c["client_secret"].as_str().unwrap()),
                ("username", "ann@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
        assert_eq!(st, 403, "{v}");
        assert_eq!(v["error"], "unauthorized_client");

        // A blocked user.
        ok(
            &s,
            &t,
            Method::PATCH,
            &format!("/users/{}", x.user_id),
            json!({"blocked": true}),
        )
        .await;
        let (st, v) = realm_login(&s, &x, "pw-db", "ann@example.com", PASSWORD, "openid").await;
        assert_eq!(
            (st, v["error"].as_str()),
            (401, Some("unauthorized")),
            "{v}"
        );

        let types = log_types(&s, &t).await;
        for ty in ["sepft", "fepft", "fp", "fu"] {
            assert!(types.iter().any(|x| x == ty), "{ty} in {types:?}");
        }
        // Never a password or token in a log line.
        let (_, logs) = call(&s, &t, Method::GET, "/logs?per_page=100", None).await;
        let text = logs.to_string();
        assert!(!text.contains(PASSWORD) && !text.contains("nope-nope-nope"));
    }
}

#[tokio::test]
async fn brute_force_blocks_a_user_for_an_ip_after_max_attempts() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let sink = SmtpSink::start().await;
        provider(&s, &t, &sink).await;
        let x = setup(&s, &t, "bf-db", "bob@example.com", json!({})).await;
        for i in 0..10 {
            let (st, v) = realm_login(
                &s,
                &x,
                "bf-db",
                "bob@example.com",
                "wrong-password",
                "openid",
            )
            .await;
            assert_eq!(st, 403, "attempt {i}: {v}");
        }
        // Blocked now, even with the right password.
        let (st, v) = realm_login(&s, &x, "bf-db", "bob@example.com", PASSWORD, "openid").await;
        assert_eq!(st, 429, "{v}");
        assert_eq!(v["error"], "too_many_attempts");
        let types = log_types(&s, &t).await;
        // Logged when the block starts and for the refused attempt.
        assert_eq!(
            types.iter().filter(|x| *x == "limit_wc").count(),
            2,
            "{types:?}"
        );
        // The user_notification shield (on by default) mails the user once, with a link that
        // lifts the block.
        let mails = sink.wait_for(1, Duration::from_secs(20)).await;
        let mail = mails
            .iter()
            .find(|m| m.subject() == "Your account has been blocked")
            .expect("the blocked_account mail");
        assert!(mail.body().contains("127.0.0.1"), "{}", mail.body());
        let link = mail.link("/u/unblock?ticket=").expect("unblock link");
        let page = s.http.get(&link).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let ticket = url::Url::parse(&link)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "ticket")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        let form = [("ticket", ticket.as_str())];
        let done = s
            .http
            .post(format!("{}/u/unblock", s.url))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), 200);
        let (st, v) = realm_login(&s, &x, "bf-db", "bob@example.com", PASSWORD, "openid").await;
        assert_eq!(st, 200, "{v}");
        // The link works once.
        let again = s
            .http
            .post(format!("{}/u/unblock", s.url))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 400);
        assert_eq!(sink.mails().await.len(), 1);
        // Blocked again; the Management API shows the block, and lifting it lets the user in.
        for _ in 0..10 {
            realm_login(
                &s,
                &x,
                "bf-db",
                "bob@example.com",
                "wrong-password",
                "openid",
            )
            .await;
        }
        let (st, v) = call(
            &s,
            &t,
            Method::GET,
            &format!("/user-blocks/{}", x.user_id),
            None,
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["blocked_for"][0]["ip"], "127.0.0.1", "{v}");
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/user-blocks/{}", x.user_id),
            None,
        )
        .await;
        assert!(st == 204 || st == 200, "{st}");
        let (st, v) = realm_login(&s, &x, "bf-db", "bob@example.com", PASSWORD, "openid").await;
        assert_eq!(st, 200, "{v}");

        // An allow-listed IP is never blocked; a success clears the count.
        ok(
            &s,
            &t,
            Method::PATCH,
            "/attack-protection/brute-force-protection",
            json!({"allowlist": ["127.0.0.0/8"], "max_attempts": 2}),
        )
        .await;
        let y = setup(&s, &t, "bf-db2", "cy@example.com", json!({})).await;
        for _ in 0..3 {
            realm_login(
                &s,
                &y,
                "bf-db2",
                "cy@example.com",
                "wrong-password",
                "openid",
            )
            .await;
        }
        let (st, v) = realm_login(&s, &y, "bf-db2", "cy@example.com", PASSWORD, "openid").await;
        assert_eq!(st, 200, "{v}");
        // Disabled protection: no block either.
        ok(
            &s,
            &t,
            Method::PATCH,
            "/attack-protection/brute-force-protection",
            json!({"allowlist": [], "enabled": false}),
        )
        .await;
        for _ in 0..3 {
            realm_login(
                &s,
                &y,
                "bf-db2",
                "cy@example.com",
                "wrong-password",
                "openid",
            )
            .await;
        }
        let (st, _) = realm_login(&s, &y, "bf-db2", "cy@example.com", PASSWORD, "openid").await;
        assert_eq!(st, 200);
    }
}

#[tokio::test]
async fn suspicious_ip_throttling_refuses_an_ip_after_too_many_failures() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let x = setup(&s, &t, "sit-db", "dee@example.com", json!({})).await;
        ok(
            &s,
            &t,
            Method::PATCH,
            "/attack-protection/suspicious-ip-throttling",
            json!({"stage": {"pre-login": {"max_attempts": 3, "rate": 864000},
                             "pre-user-registration": {"max_attempts": 2, "rate": 864000}}}),
        )
        .await;
        let (st, _) = call(&s, &t, Method::GET, "/anomaly/blocks/ips/127.0.0.1", None).await;
        assert_eq!(st, 404);
        // Three failures against three different accounts (no user reaches brute force's 10).
        for who in ["a@example.com", "b@example.com", "dee@example.com"] {
            let (st, v) = realm_login(&s, &x, "sit-db", who, "wrong-password", "openid").await;
            assert_eq!(st, 403, "{who}: {v}");
        }
        // The address is throttled now: even the right password is refused, with a 429.
        let (st, v) = realm_login(&s, &x, "sit-db", "dee@example.com", PASSWORD, "openid").await;
        assert_eq!(st, 429, "{v}");
        assert_eq!(v["error"], "too_many_attempts");
        assert!(
            v["error_description"]
                .as_str()
                .unwrap()
                .starts_with("We have detected suspicious login behavior"),
            "{v}"
        );
        let types = log_types(&s, &t).await;
        assert_eq!(
            types.iter().filter(|x| *x == "limit_mu").count(),
            1,
            "{types:?}"
        );
        let (st, _) = call(&s, &t, Method::GET, "/anomaly/blocks/ips/127.0.0.1", None).await;
        assert_eq!(st, 200);
        // Unblocking the address through the Management API lets the user in again.
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            "/anomaly/blocks/ips/127.0.0.1",
            None,
        )
        .await;
        assert_eq!(st, 204);
        let (st, _) = call(&s, &t, Method::GET, "/anomaly/blocks/ips/127.0.0.1", None).await;
        assert_eq!(st, 404);
        let (st, v) = realm_login(&s, &x, "sit-db", "dee@example.com", PASSWORD, "openid").await;
        assert_eq!(st, 200, "{v}");

        // Sign-ups: every attempt counts, the third is refused.
        for (i, email) in ["s1@example.com", "s2@example.com", "s3@example.com"]
            .iter()
            .enumerate()
        {
            let (st, v) = post_json(
                &s,
                "/dbconnections/signup",
                json!({"client_id": x.client_id, "connection": "sit-db",
                       "email": email, "password": PASSWORD}),
            )
            .await;
            let v: Value = serde_json::from_str(&v).unwrap();
            if i < 2 {
                assert_eq!(st, 200, "{email}: {v}");
            } else {
                assert_eq!(st, 429, "{v}");
                assert_eq!(v["code"], "too_many_attempts", "{v}");
                assert_eq!(v["description"], "Too many signups from the same IP", "{v}");
            }
        }
        let (_, users) = call(&s, &t, Method::GET, "/users?q=email:s3@example.com", None).await;
        assert_eq!(users.as_array().map(Vec::len), Some(0), "{users}");

        // An allow-listed address is never counted; disabled throttling counts nothing.
        ok(
            &s,
            &t,
            Method::PATCH,
            "/attack-protection/suspicious-ip-throttling",
            json!({"allowlist": ["127.0.0.0/8"]}),
        )
        .await;
        let (st, v) = post_json(
            &s,
            "/dbconnections/signup",
            json!({"client_id": x.client_id, "connection": "sit-db",
                   "email": "s4@example.com", "password": PASSWORD}),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        ok(
            &s,
            &t,
            Method::PATCH,
            "/attack-protection/suspicious-ip-throttling",
            json!({"allowlist": [], "enabled": false}),
        )
        .await;
        for who in [
            "c@example.com",
            "d@example.com",
            "e@example.com",
            "f@example.com",
        ] {
            let (st, _) = realm_login(&s, &x, "sit-db", who, "wrong-password", "openid").await;
            assert_eq!(st, 403, "{who}");
        }
        let (st, v) = realm_login(&s, &x, "sit-db", "dee@example.com", PASSWORD, "openid").await;
        assert_eq!(st, 200, "{v}");
        // Today's stats: the two successful logins and the four users created.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (st, v) = call(&s, &t, Method::GET, "/stats/daily", None).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v[0]["logins"], 2, "{v}");
        assert_eq!(v[0]["signups"], 4, "{v}");
    }
}

async fn refresh(s: &TestServer, x: &Setup, rt: &str, scope: Option<&str>) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", x.client_id.as_str()),
        ("client_secret", x.secret.as_str()),
        ("refresh_token", rt),
    ];
    if let Some(sc) = scope {
        form.push(("scope", sc));
    }
    token(s, &form).await
}

#[tokio::test]
async fn refresh_tokens_rotate_detect_reuse_and_narrow_scopes() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let x = setup(
            &s,
            &t,
            "rt-db",
            "dan@example.com",
            json!({"refresh_token": {
            "rotation_type": "rotating", "expiration_type": "expiring", "leeway": 0,
            "token_lifetime": 3600, "idle_token_lifetime": 1800,
            "infinite_token_lifetime": false, "infinite_idle_token_lifetime": false}}),
        )
        .await;
        let (st, v) = realm_login(
            &s,
            &x,
            "rt-db",
            "dan@example.com",
            PASSWORD,
            "openid email offline_access read:things",
        )
        .await;
        assert_eq!(st, 200, "{v}");
        let rt1 = v["refresh_token"].as_str().unwrap().to_owned();

        // A narrower scope is allowed, a wider one refused.
        let (st, v2) = refresh(&s, &x, &rt1, Some("openid read:things offline_access")).await;
        assert_eq!(st, 200, "{v2}");
        assert_eq!(v2["scope"], "openid read:things offline_access");
        let rt2 = v2["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(rt1, rt2);
        assert!(v2["id_token"].is_string());
        let (st, v) = refresh(&s, &x, &rt2, Some("openid write:things")).await;
        assert_eq!(st, 403, "{v}");
        assert_eq!(v["error"], "invalid_scope");

        // rt1 was rotated: its reuse (leeway 0) revokes the family, rt2 included.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (st, v) = refresh(&s, &x, &rt1, None).await;
        assert_eq!(st, 403, "{v}");
        assert_eq!(v["error"], "invalid_grant");
        let (st, _) = refresh(&s, &x, &rt2, None).await;
        assert_eq!(st, 403, "the family is revoked");

        // Non-rotating: the same token again and again, none in the reply.
        let y = setup(&s, &t, "rt-db2", "eve@example.com", json!({})).await;
        let (_, v) = realm_login(
            &s,
            &y,
            "rt-db2",
            "eve@example.com",
            PASSWORD,
            "openid offline_access",
        )
        .await;
        let rt = v["refresh_token"].as_str().unwrap().to_owned();
        for _ in 0..2 {
            let (st, v) = refresh(&s, &y, &rt, None).await;
            assert_eq!(st, 200, "{v}");
            assert!(v.get("refresh_token").is_none());
        }
        // Another client cannot use it; garbage is refused.
        let (st, _) = refresh(&s, &x, &rt, None).await;
        assert_eq!(st, 403);
        let (st, v) = refresh(&s, &y, "garbage", None).await;
        assert_eq!((st, v["error"].as_str()), (403, Some("invalid_grant")));

        // Revocation (RFC 7009): 200, and the token no longer works.
        let res = s
            .http
            .post(format!("{}/oauth/revoke", s.url))
            .json(&json!({"client_id": y.client_id, "client_secret": y.secret, "token": rt}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let (st, _) = refresh(&s, &y, &rt, None).await;
        assert_eq!(st, 403);
        let res = s
            .http
            .post(format!("{}/oauth/revoke", s.url))
            .json(&json!({"client_id": y.client_id, "client_secret": y.secret}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let types = log_types(&s, &t).await;
        for ty in ["sertft", "fertft", "srrt"] {
            assert!(types.iter().any(|x| x == ty), "{ty} in {types:?}");
        }
    }
}

/// Stores an authorization code as `/authorize` does (Contract 2) and answers it.
pub(crate) async fn code_for(
    s: &TestServer,
    client_id: &str,
    user_id: &str,
    extra: Value,
) -> String {
    let db = Db::connect(&s.db.url).await.unwrap();
    let code = gatehouse_core::ids::hex_key(32);
    let hash = hex::encode(sha2::Sha256::digest(code.as_bytes()));
    let mut body = json!({
        "client_id": client_id, "redirect_uri": null, "user_id": user_id,
        "scope": "openid profile email offline_access", "audience": null, "nonce": "n-1",
        "code_challenge": null, "code_challenge_method": null, "session_id": "sess_1",
        "auth_time": gatehouse_core::time::unix_now(), "organization": null, "amr": ["pwd"],
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    let tenant = gatehouse_store::tenants::DEFAULT_TENANT;
    sessions::insert_code(
        &db,
        tenant,
        &hash,
        client_id,
        &body,
        gatehouse_core::time::unix_now() + 60,
    )
    .await
    .unwrap();
    code
}

fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

#[tokio::test]
async fn authorization_codes_are_single_use_with_pkce_and_redirect_checks() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let x = setup(&s, &t, "ac-db", "fay@example.com", json!({})).await;

        // A confidential client with its secret and redirect_uri.
        let code = code_for(
            &s,
            &x.client_id,
            &x.user_id,
            json!({"redirect_uri": "https://app.example.com/cb"}),
        )
        .await;
        let form = |code: &str, redirect: &str| {
            vec![
                ("grant_type", "authorization_code".to_owned()),
                ("client_id", x.client_id.clone()),
                ("client_secret", x.secret.clone()),
                ("code", code.to_owned()),
                ("redirect_uri", redirect.to_owned()),
            ]
        };
        let send = |f: Vec<(&'static str, String)>| {
            let s = &s;
            async move {
                let res = s
                    .http
                    .post(format!("{}/oauth/token", s.url))
                    .form(&f)
                    .send()
                    .await
                    .unwrap();
                let st = res.status().as_u16();
                (st, res.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let (st, v) = send(form(&code, "https://evil.example.com/cb")).await;
        assert_eq!(st, 403, "{v}");
        // The mismatch spent the code: single use whatever happened.
        let (st, v) = send(form(&code, "https://app.example.com/cb")).await;
        assert_eq!(
            (st, v["error"].as_str()),
            (403, Some("invalid_grant")),
            "{v}"
        );

        let code = code_for(
            &s,
            &x.client_id,
            &x.user_id,
            json!({"redirect_uri": "https://app.example.com/cb"}),
        )
        .await;
        let (st, v) = send(form(&code, "https://app.example.com/cb")).await;
        assert_eq!(st, 200, "{v}");
        let id = claims(v["id_token"].as_str().unwrap());
        assert_eq!(id["nonce"], "n-1");
        assert_eq!(id["sid"], "sess_1");
        let rt = v["refresh_token"].as_str().unwrap().to_owned();
        // A replay: invalid_grant, and the refresh token it issued is revoked.
        let (st, v) = send(form(&code, "https://app.example.com/cb")).await;
        assert_eq!(st, 403, "{v}");
        assert_eq!(
            v,
            json!({"error": "invalid_grant", "error_description": "Invalid authorization code"})
        );
        let (st, _) = refresh(&s, &x, &rt, None).await;
        assert_eq!(st, 403, "the replay revoked the refresh token");
        let (st, _) = send(form("no-such-code", "https://app.example.com/cb")).await;
        assert_eq!(st, 403);

        // A public client: PKCE alone (S256), a wrong verifier refused, none without PKCE.
        let p = ok(&s, &t, Method::POST, "/clients", json!({"name": "spa", "app_type": "spa",
            "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"]})).await;
        let pid = p["client_id"].as_str().unwrap().to_owned();
        let verifier = "a-verifier-of-enough-length-0123456789-abcdefghij";
        let pkce = json!({"code_challenge": s256(verifier), "code_challenge_method": "S256"});
        let public = |code: &str, v: Option<&str>| {
            let mut f = vec![
                ("grant_type", "authorization_code".to_owned()),
                ("client_id", pid.clone()),
                ("code", code.to_owned()),
            ];
            if let Some(v) = v {
                f.push(("code_verifier", v.to_owned()));
            }
            f
        };
        let code = code_for(&s, &pid, &x.user_id, pkce.clone()).await;
        let (st, v) = send(public(
            &code,
            Some("a-wrong-verifier-of-enough-length-0123456789-abc"),
        ))
        .await;
        assert_eq!(st, 403, "{v}");
        let code = code_for(&s, &pid, &x.user_id, pkce.clone()).await;
        let (st, v) = send(public(&code, Some(verifier))).await;
        assert_eq!(st, 200, "{v}");
        let code = code_for(&s, &pid, &x.user_id, json!({})).await;
        let (st, v) = send(public(&code, None)).await;
        assert_eq!(st, 401, "{v}");
        // Plain.
        let code = code_for(
            &s,
            &pid,
            &x.user_id,
            json!({"code_challenge": verifier, "code_challenge_method": "plain"}),
        )
        .await;
        let (st, v) = send(public(&code, Some(verifier))).await;
        assert_eq!(st, 200, "{v}");
        // Another client's code.
        let code = code_for(&s, &x.client_id, &x.user_id, json!({})).await;
        let (st, _) = send(public(&code, Some(verifier))).await;
        assert_eq!(st, 403);

        // Two simultaneous redemptions of one code: exactly one succeeds.
        for _ in 0..3 {
            let code = code_for(&s, &x.client_id, &x.user_id, json!({})).await;
            let f = vec![
                ("grant_type", "authorization_code".to_owned()),
                ("client_id", x.client_id.clone()),
                ("client_secret", x.secret.clone()),
                ("code", code),
            ];
            let (a, b) = tokio::join!(send(f.clone()), send(f));
            let oks = [a.0, b.0].iter().filter(|s| **s == 200).count();
            assert_eq!(oks, 1, "{a:?} {b:?}");
        }
        let types = log_types(&s, &t).await;
        for ty in ["seacft", "feacft"] {
            assert!(types.iter().any(|x| x == ty), "{ty} in {types:?}");
        }
    }
}

#[tokio::test]
async fn userinfo_discovery_and_post_login_actions() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let x = setup(&s, &t, "ui-db", "gus@example.com", json!({})).await;
        ok(
            &s,
            &t,
            Method::PATCH,
            "/tenants/settings",
            json!({"default_directory": "ui-db"}),
        )
        .await;
        let (_, v) = token(
            &s,
            &[
                ("grant_type", "password"),
                ("client_id", &x.client_id),
                ("client_secret", &x.secret),
                ("username", "gus@example.com"),
                ("password", PASSWORD),
                ("scope", "openid email"),
            ],
        )
        .await;
        let at = v["access_token"].as_str().unwrap().to_owned();
        let res = s
            .http
            .get(format!("{}/userinfo", s.url))
            .bearer_auth(&at)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let u: Value = res.json().await.unwrap();
        assert_eq!(
            u,
            json!({"sub": x.user_id, "email": "gus@example.com", "email_verified": false})
        );
        let res = s
            .http
            .post(format!("{}/userinfo", s.url))
            .bearer_auth(&at)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let res = s
            .http
            .get(format!("{}/userinfo", s.url))
            .bearer_auth("not.a.token")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert!(
            res.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
        let res = s
            .http
            .get(format!("{}/userinfo", s.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert!(res.headers().contains_key("www-authenticate"));
        // A Management API token is not for /userinfo.
        let res = s
            .http
            .get(format!("{}/userinfo", s.url))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);

        let d: Value = s
            .http
            .get(format!("{}/.well-known/openid-configuration", s.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for (k, path) in [
            ("authorization_endpoint", "authorize"),
            ("token_endpoint", "oauth/token"),
            ("userinfo_endpoint", "userinfo"),
            ("revocation_endpoint", "oauth/revoke"),
            ("end_session_endpoint", "oidc/logout"),
            ("jwks_uri", ".well-known/jwks.json"),
        ] {
            assert_eq!(d[k], format!("{}/{path}", s.url), "{k}");
        }
        assert!(
            d["grant_types_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("refresh_token"))
        );
        assert_eq!(
            d["code_challenge_methods_supported"],
            json!(["S256", "plain"])
        );

        // post-login: a custom claim, then a denial.
        let code = "exports.onExecutePostLogin = async (event, api) => {\n\
            if (event.user.email === 'deny@example.com') { api.access.deny('no entry'); return; }\n\
            api.accessToken.setCustomClaim('https://x/plan', 'gold');\n\
            api.idToken.setCustomClaim('https://x/who', event.user.email);\n};";
        let a = ok(
            &s,
            &t,
            Method::POST,
            "/actions/actions",
            json!({"name": "pl", "code": code,
            "supported_triggers": [{"id": "post-login", "version": "v3"}]}),
        )
        .await;
        let aid = a["id"].as_str().unwrap().to_owned();
        ok(
            &s,
            &t,
            Method::POST,
            &format!("/actions/actions/{aid}/deploy"),
            json!({}),
        )
        .await;
        ok(&s, &t, Method::PATCH, "/actions/triggers/post-login/bindings",
            json!({"bindings": [{"ref": {"type": "action_id", "value": aid}, "display_name": "pl"}]})).await;
        let (st, v) = token(
            &s,
            &[
                ("grant_type", "password"),
                ("client_id", &x.client_id),
                ("client_secret", &x.secret),
                ("username", "gus@example.com"),
                ("password", PASSWORD),
                ("scope", "openid email"),
                ("audience", API),
            ],
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(
            claims(v["access_token"].as_str().unwrap())["https://x/plan"],
            "gold"
        );
        assert_eq!(
            claims(v["id_token"].as_str().unwrap())["https://x/who"],
            "gus@example.com"
        );
        ok(
            &s,
            &t,
            Method::POST,
            "/users",
            json!({"connection": "ui-db", "email": "deny@example.com", "password": PASSWORD}),
        )
        .await;
        let (st, v) = token(
            &s,
            &[
                ("grant_type", "password"),
                ("client_id", &x.client_id),
                ("client_secret", &x.secret),
                ("username", "deny@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
        assert_eq!(st, 403, "{v}");
        assert_eq!(
            v,
            json!({"error": "access_denied", "error_description": "no entry"})
        );
    }
}

async fn provider(s: &TestServer, t: &str, sink: &SmtpSink) {
    let body = json!({"name": "smtp", "enabled": true, "default_from_address": "auth@example.com",
        "credentials": {"smtp_host": "127.0.0.1", "smtp_port": sink.port(), "smtp_user": "u", "smtp_pass": "p"}});
    let (st, v) = call(s, t, Method::POST, "/emails/provider", Some(body)).await;
    assert!(st == 201 || st == 200, "{st} {v}");
}

async fn post_json(s: &TestServer, path: &str, body: Value) -> (u16, String) {
    let res = s
        .http
        .post(format!("{}{path}", s.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let st = res.status().as_u16();
    (st, res.text().await.unwrap())
}

#[tokio::test]
async fn signup_and_change_password_send_their_mails() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let sink = SmtpSink::start().await;
        provider(&s, &t, &sink).await;
        let x = setup(&s, &t, "su-db", "first@example.com", json!({})).await;

        let (st, v) = post_json(
            &s,
            "/dbconnections/signup",
            json!({"client_id": x.client_id, "connection": "su-db",
            "email": "New@Example.com", "password": PASSWORD, "given_name": "New"}),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        let v: Value = serde_json::from_str(&v).unwrap();
        assert_eq!(v["email"], "new@example.com");
        assert_eq!(v["email_verified"], false);
        assert_eq!(v["given_name"], "New");
        assert_eq!(v["_id"].as_str().unwrap().len(), 24);
        let (_, users) = call(
            &s,
            &t,
            Method::GET,
            "/users-by-email?email=new@example.com",
            None,
        )
        .await;
        assert_eq!(
            users[0]["user_id"],
            format!("auth0|{}", v["_id"].as_str().unwrap())
        );
        let mails = sink.wait_for(1, Duration::from_secs(20)).await;
        assert!(
            mails
                .iter()
                .any(|m| m.body().contains("/u/email-verification?ticket=")),
            "verification mail"
        );

        // The same rules as POST /users: a duplicate, a weak password.
        let (st, v) = post_json(
            &s,
            "/dbconnections/signup",
            json!({"client_id": x.client_id, "connection": "su-db",
            "email": "new@example.com", "password": PASSWORD}),
        )
        .await;
        assert_eq!(st, 400, "{v}");
        let v: Value = serde_json::from_str(&v).unwrap();
        assert_eq!(v["code"], "invalid_signup");
        let (st, v) = post_json(
            &s,
            "/dbconnections/signup",
            json!({"client_id": x.client_id, "connection": "su-db",
            "email": "weak@example.com", "password": "a"}),
        )
        .await;
        assert_eq!(st, 400, "{v}");
        let v: Value = serde_json::from_str(&v).unwrap();
        assert_eq!(v["code"], "invalid_password");
        assert_eq!(v["name"], "PasswordStrengthError");
        let (st, _) = post_json(
            &s,
            "/dbconnections/signup",
            json!({"client_id": x.client_id, "connection": "other",
            "email": "z@example.com", "password": PASSWORD}),
        )
        .await;
        assert_eq!(st, 400);

        // change_password: the same answer for a user that does not exist; a mail for one that does.
        let (st, v) = post_json(
            &s,
            "/dbconnections/change_password",
            json!({"client_id": x.client_id,
            "connection": "su-db", "email": "nobody@example.com"}),
        )
        .await;
        assert_eq!(
            (st, v.as_str()),
            (200, "We've just sent you an email to reset your password.")
        );
        let (st, v) = post_json(
            &s,
            "/dbconnections/change_password",
            json!({"client_id": x.client_id,
            "connection": "su-db", "email": "first@example.com"}),
        )
        .await;
        assert_eq!(
            (st, v.as_str()),
            (200, "We've just sent you an email to reset your password.")
        );
        let mails = sink.wait_for(2, Duration::from_secs(20)).await;
        let reset = mails
            .iter()
            .find_map(|m| m.link("/u/reset-verify"))
            .expect("reset link");
        assert!(mails.iter().all(|m| !m.body().contains("nobody@")));
        // The link works: the page, then the new password, then a login with it.
        let page = s.http.get(&reset).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let ticket = url::Url::parse(&reset)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "ticket")
            .unwrap()
            .1
            .into_owned();
        let new_pw = "N3w-Passw0rd-Long!";
        let res = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(format!("{}/u/reset-verify", s.url))
            .form(&[
                ("ticket", ticket.as_str()),
                ("password", new_pw),
                ("confirm", new_pw),
            ])
            .send()
            .await
            .unwrap();
        assert!(
            res.status().is_success() || res.status().is_redirection(),
            "{}",
            res.status()
        );
        let (st, v) = realm_login(&s, &x, "su-db", "first@example.com", new_pw, "openid").await;
        assert_eq!(st, 200, "{v}");
        let types = log_types(&s, &t).await;
        for ty in ["ss", "fs", "scpr", "fcpr"] {
            assert!(types.iter().any(|x| x == ty), "{ty} in {types:?}");
        }
    }
}

#[tokio::test]
async fn refresh_tokens_expire_by_the_clients_lifetimes() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let x = setup(
            &s,
            &t,
            "ex-db",
            "hal@example.com",
            json!({"refresh_token": {
            "rotation_type": "non-rotating", "expiration_type": "expiring",
            "token_lifetime": 7200, "idle_token_lifetime": 3600,
            "infinite_token_lifetime": false, "infinite_idle_token_lifetime": false}}),
        )
        .await;
        let login = || {
            realm_login(
                &s,
                &x,
                "ex-db",
                "hal@example.com",
                PASSWORD,
                "openid offline_access",
            )
        };
        let (_, v) = login().await;
        let rt = v["refresh_token"].as_str().unwrap().to_owned();
        let db = Db::connect(&s.db.url).await.unwrap();
        let hash = hex::encode(sha2::Sha256::digest(rt.as_bytes()));
        let tenant = gatehouse_store::tenants::DEFAULT_TENANT;
        let row = gatehouse_store::refresh_tokens::find_by_hash(&db, tenant, &hash)
            .await
            .unwrap()
            .unwrap();
        let now = gatehouse_core::time::unix_now();
        assert!((row.expires_at.unwrap() - now - 7200).abs() <= 5, "{row:?}");
        assert!(
            (row.idle_expires_at.unwrap() - now - 3600).abs() <= 5,
            "{row:?}"
        );
        // Only the SHA-256 is stored.
        assert_ne!(row.token_hash, rt);
        let (st, _) = refresh(&s, &x, &rt, None).await;
        assert_eq!(st, 200);

        // The idle lifetime passed: refused, and the token is gone.
        db.execute(
            "UPDATE refresh_tokens SET idle_expires_at = 1 WHERE tenant_id = $1 AND token_hash = $2",
            vec![tenant.into(), hash.as_str().into()],
        )
        .await
        .unwrap();
        let (st, v) = refresh(&s, &x, &rt, None).await;
        assert_eq!(
            (st, v["error"].as_str()),
            (403, Some("invalid_grant")),
            "{v}"
        );
        assert!(
            gatehouse_store::refresh_tokens::find_by_hash(&db, tenant, &hash)
                .await
                .unwrap()
                .is_none()
        );

        // The absolute lifetime passed.
        let (_, v) = login().await;
        let rt = v["refresh_token"].as_str().unwrap().to_owned();
        let hash = hex::encode(sha2::Sha256::digest(rt.as_bytes()));
        db.execute(
            "UPDATE refresh_tokens SET expires_at = 1 WHERE tenant_id = $1 AND token_hash = $2",
            vec![tenant.into(), hash.as_str().into()],
        )
        .await
        .unwrap();
        let (st, _) = refresh(&s, &x, &rt, None).await;
        assert_eq!(st, 403);
    }
}

#[tokio::test]
async fn bad_input_gets_oauth_errors_never_a_500() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let x = setup(&s, &t, "bad-db", "ivy@example.com", json!({})).await;
        let cid = x.client_id.as_str();
        let forms: Vec<Vec<(&str, &str)>> = vec![
            vec![],
            vec![("grant_type", "authorization_code")],
            vec![("grant_type", "authorization_code"), ("client_id", cid)],
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", cid),
                ("code", "x"),
                ("code_verifier", "\u{0}"),
            ],
            vec![("grant_type", "refresh_token"), ("client_id", cid)],
            vec![
                ("grant_type", "refresh_token"),
                ("client_id", "nobody"),
                ("refresh_token", "x"),
            ],
            vec![
                ("grant_type", "password"),
                ("client_id", cid),
                ("client_secret", &x.secret),
            ],
            vec![
                ("grant_type", "password"),
                ("client_id", cid),
                ("client_secret", &x.secret),
                ("username", "a"),
                ("password", ""),
            ],
            vec![
                (
                    "grant_type",
                    "http://auth0.com/oauth/grant-type/password-realm",
                ),
                ("client_id", cid),
                ("client_secret", &x.secret),
                ("username", "a"),
                ("password", "b"),
            ],
            vec![
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", cid),
            ],
        ];
        for f in &forms {
            let (st, v) = token(&s, f).await;
            assert!((400..500).contains(&st), "{f:?}: {st} {v}");
            assert!(
                v["error"].is_string() && v["error_description"].is_string(),
                "{f:?}: {v}"
            );
        }
        for (path, body) in [
            ("/oauth/token", "{not json"),
            ("/oauth/revoke", "{not json"),
            ("/dbconnections/signup", "{not json"),
            ("/dbconnections/change_password", "[1, 2]"),
            ("/dbconnections/signup", "{\"client_id\": 5}"),
        ] {
            let res = s
                .http
                .post(format!("{}{path}", s.url))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let st = res.status().as_u16();
            assert!((400..500).contains(&st), "{path} {body}: {st}");
        }
        for body in [
            json!({"client_id": cid}),
            json!({"client_id": cid, "connection": "bad-db", "password": PASSWORD, "email": "not-an-email"}),
            json!({"client_id": cid, "connection": "bad-db", "password": PASSWORD, "email": "n\u{0}ul@example.com"}),
            json!({"client_id": "nobody", "connection": "bad-db", "password": PASSWORD, "email": "z@example.com"}),
        ] {
            let (st, v) = post_json(&s, "/dbconnections/signup", body.clone()).await;
            assert_eq!(st, 400, "{body}: {v}");
        }
        let (st, _) = post_json(
            &s,
            "/dbconnections/change_password",
            json!({"client_id": cid, "connection": "bad-db"}),
        )
        .await;
        assert_eq!(st, 400);
        let res = s
            .http
            .post(format!("{}/userinfo", s.url))
            .body("access_token=%00")
            .header("content-type", "application/x-www-form-urlencoded")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
    }
}
