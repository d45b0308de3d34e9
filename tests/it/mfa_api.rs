//! MFA over the Authentication API and the Management API (issue 13): a user with a second
//! factor cannot get tokens by password alone; the `mfa_required` answer's token completes the
//! login with a TOTP code (`mfa-otp`), a recovery code (`mfa-recovery-code`) or an e-mailed code
//! (`mfa-oob`, through the real SMTP sink); replayed codes, lockout, and the users'
//! authentication-methods operations. On SQLite and PostgreSQL.

use std::time::Duration;

use aws_lc_rs::hmac;
use gatehouse_store::{Db, docs};
use gatehouse_testkit::{TestServer, backends, smtp::SmtpSink, spawn::call, spawn_on};
use reqwest::Method;
use serde_json::{Value, json};

use crate::login::{PASSWORD, Setup, claims, ok, setup, token};

const TENANT: &str = "default";
const OTP: &str = "http://auth0.com/oauth/grant-type/mfa-otp";
const RECOVERY: &str = "http://auth0.com/oauth/grant-type/mfa-recovery-code";
const OOB: &str = "http://auth0.com/oauth/grant-type/mfa-oob";
const REALM: &str = "http://auth0.com/oauth/grant-type/password-realm";
/// RFC 6238's SHA-1 test key, in base32.
pub(crate) const SEED: &[u8] = b"12345678901234567890";
pub(crate) const SEED_B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn grants() -> Value {
    json!({"grant_types": ["password", REALM, "authorization_code", "refresh_token", OTP, RECOVERY, OOB]})
}

/// The TOTP code of `seed` at step `now/30 + offset` (RFC 6238, SHA-1, 6 digits).
pub(crate) fn totp(seed: &[u8], offset: i64) -> String {
    let step = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        / 30
        + offset;
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, seed),
        &step.to_be_bytes(),
    );
    let h = tag.as_ref();
    let o = usize::from(h[19] & 0x0f);
    let bin = (u32::from(h[o] & 0x7f) << 24)
        | (u32::from(h[o + 1]) << 16)
        | (u32::from(h[o + 2]) << 8)
        | u32::from(h[o + 3]);
    format!("{:06}", bin % 1_000_000)
}

fn base32_decode(s: &str) -> Vec<u8> {
    const SET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buf, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in s.bytes() {
        let v = SET.iter().position(|&b| b == c).unwrap() as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buf >> bits) & 0xff) as u8);
        }
    }
    out
}

/// Turns Guardian factors on (and the policy), as the `guardian` operations store them.
async fn guardian(s: &TestServer, factors: &[&str], policies: Value) {
    let db = Db::connect(&s.db.url).await.unwrap();
    let now = gatehouse_core::time::now();
    for f in factors {
        docs::put(
            &db,
            TENANT,
            "guardian_factor",
            f,
            &json!({"enabled": true}),
            &now,
        )
        .await
        .unwrap();
    }
    docs::put(
        &db,
        TENANT,
        "guardian_policies",
        "settings",
        &policies,
        &now,
    )
    .await
    .unwrap();
}

async fn password(s: &TestServer, x: &Setup, user: &str) -> (u16, Value) {
    token(
        s,
        &[
            ("grant_type", "password"),
            ("client_id", &x.client_id),
            ("client_secret", &x.secret),
            ("username", user),
            ("password", PASSWORD),
            ("scope", "openid profile email offline_access"),
        ],
    )
    .await
}

/// A password login that must be answered `mfa_required`; its mfa_token.
async fn mfa_token(s: &TestServer, x: &Setup, user: &str) -> String {
    let (st, v) = password(s, x, user).await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["error"], "mfa_required", "{v}");
    assert_eq!(
        v["error_description"],
        "Multifactor authentication required"
    );
    v["mfa_token"].as_str().unwrap().to_owned()
}

async fn otp_grant(s: &TestServer, x: &Setup, mfa: &str, otp: &str) -> (u16, Value) {
    token(
        s,
        &[
            ("grant_type", OTP),
            ("client_id", &x.client_id),
            ("client_secret", &x.secret),
            ("mfa_token", mfa),
            ("otp", otp),
        ],
    )
    .await
}

async fn mfa_call(
    s: &TestServer,
    m: Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = s.http.request(m, format!("{}{path}", s.url));
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let st = res.status().as_u16();
    let text = res.text().await.unwrap();
    (st, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn totp_blocks_password_alone_and_mfa_otp_completes() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let x = setup(&s, &t, "mfa-db", "ann@example.com", grants()).await;
        ok(
            &s,
            &t,
            Method::PATCH,
            "/tenants/settings",
            json!({"default_directory": "mfa-db"}),
        )
        .await;
        guardian(&s, &["otp", "recovery-code"], json!([])).await;

        // No factor enrolled, no policy: the password is enough.
        let (st, v) = password(&s, &x, "ann@example.com").await;
        assert_eq!(st, 200, "{v}");
        assert!(claims(v["id_token"].as_str().unwrap()).get("amr").is_none());

        // An administrator enrolls TOTP: the seed is write-only.
        let path = format!("/users/{}/authentication-methods", x.user_id);
        let (st, m) = call(
            &s,
            &t,
            Method::POST,
            &path,
            Some(json!({"type": "totp", "totp_secret": SEED_B32, "name": "phone app"})),
        )
        .await;
        assert_eq!(st, 201, "{m}");
        assert!(m["id"].as_str().unwrap().starts_with("totp|dev_"), "{m}");
        assert!(!m.to_string().contains(SEED_B32), "{m}");

        // Now the password alone gets no tokens.
        let mfa = mfa_token(&s, &x, "ann@example.com").await;

        // A wrong code, a missing one: Auth0's errors.
        let wrong = if totp(SEED, 0) == "000000" {
            "111111"
        } else {
            "000000"
        };
        let (st, v) = otp_grant(&s, &x, &mfa, wrong).await;
        assert_eq!(
            (st, v.clone()),
            (
                403,
                json!({"error": "invalid_grant", "error_description": "Invalid otp_code."})
            ),
            "{v}"
        );
        let (st, v) = token(
            &s,
            &[
                ("grant_type", OTP),
                ("client_id", &x.client_id),
                ("client_secret", &x.secret),
                ("mfa_token", &mfa),
            ],
        )
        .await;
        assert_eq!(st, 400, "{v}");
        assert_eq!(v["error"], "invalid_request");

        // The right code completes the login; the tokens say MFA was done.
        let code = totp(SEED, 0);
        let (st, v) = otp_grant(&s, &x, &mfa, &code).await;
        assert_eq!(st, 200, "{v}");
        let id = claims(v["id_token"].as_str().unwrap());
        assert_eq!(id["amr"], json!(["mfa"]), "{id}");
        assert_eq!(id["sub"], x.user_id);
        assert_eq!(
            claims(v["access_token"].as_str().unwrap())["amr"],
            json!(["mfa"])
        );
        assert!(v["refresh_token"].is_string(), "{v}");

        // The mfa_token is spent; the same code again (a replay) is refused.
        let (st, v) = otp_grant(&s, &x, &mfa, &code).await;
        assert_eq!(st, 403, "{v}");
        assert_eq!(v["error"], "invalid_grant");
        let mfa2 = mfa_token(&s, &x, "ann@example.com").await;
        let (st, v) = otp_grant(&s, &x, &mfa2, &code).await;
        assert_eq!(
            (st, v["error_description"].clone()),
            (403, json!("Invalid otp_code.")),
            "{v}"
        );
        // An mfa_token of another client is refused; garbage too. Never a 500.
        let (st, v) = otp_grant(&s, &x, "not-a-token", &code).await;
        assert_eq!(
            (st, v["error"].clone()),
            (403, json!("invalid_grant")),
            "{v}"
        );

        // The authenticator shows its use; the list never shows a secret.
        let (st, list) = call(&s, &t, Method::GET, &path, None).await;
        assert_eq!(st, 200, "{list}");
        let totp_row = list
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["type"] == "totp")
            .unwrap()
            .clone();
        assert_eq!(totp_row["confirmed"], true);
        assert_eq!(totp_row["name"], "phone app");
        assert!(totp_row["last_auth_at"].is_string(), "{totp_row}");
        assert!(!list.to_string().contains(SEED_B32));
    }
}

#[tokio::test]
async fn repeated_wrong_codes_lock_the_authenticator() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let x = setup(&s, &t, "lock-db", "lock@example.com", grants()).await;
        ok(
            &s,
            &t,
            Method::PATCH,
            "/tenants/settings",
            json!({"default_directory": "lock-db"}),
        )
        .await;
        guardian(&s, &["otp"], json!([])).await;
        let path = format!("/users/{}/authentication-methods", x.user_id);
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            &path,
            Some(json!({"type": "totp", "totp_secret": SEED_B32})),
        )
        .await;
        assert_eq!(st, 201);
        let mfa = mfa_token(&s, &x, "lock@example.com").await;
        let right: Vec<String> = (-1..=1).map(|o| totp(SEED, o)).collect();
        let wrong = (0..1_000_000)
            .map(|n| format!("{n:06}"))
            .find(|c| !right.contains(c))
            .unwrap();
        for i in 1..10 {
            let (st, v) = otp_grant(&s, &x, &mfa, &wrong).await;
            assert_eq!(st, 403, "attempt {i}: {v}");
        }
        let (st, v) = otp_grant(&s, &x, &mfa, &wrong).await;
        assert_eq!(st, 429, "{v}");
        assert_eq!(v["error"], "too_many_attempts");
        // Locked: even the right code is refused now.
        let (st, v) = otp_grant(&s, &x, &mfa, &totp(SEED, 0)).await;
        assert_eq!(
            (st, v["error"].clone()),
            (429, json!("too_many_attempts")),
            "{v}"
        );
    }
}

#[tokio::test]
async fn recovery_codes_work_once_and_are_replaced() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let x = setup(&s, &t, "rc-db", "rc@example.com", grants()).await;
        ok(
            &s,
            &t,
            Method::PATCH,
            "/tenants/settings",
            json!({"default_directory": "rc-db"}),
        )
        .await;
        guardian(&s, &["otp", "recovery-code"], json!([])).await;
        let path = format!("/users/{}/authentication-methods", x.user_id);
        call(
            &s,
            &t,
            Method::POST,
            &path,
            Some(json!({"type": "totp", "totp_secret": SEED_B32})),
        )
        .await;
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            &format!("/users/{}/recovery-code-regeneration", x.user_id),
            Some(json!({})),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        let code = v["recovery_code"].as_str().unwrap().to_owned();
        assert_eq!(code.len(), 24);
        // Never shown again.
        let (_, list) = call(&s, &t, Method::GET, &path, None).await;
        assert!(!list.to_string().contains(&code), "{list}");
        assert!(
            list.as_array()
                .unwrap()
                .iter()
                .any(|a| a["type"] == "recovery-code")
        );

        let rc = |mfa: String, code: String| {
            let x = &x;
            let s = &s;
            async move {
                token(
                    s,
                    &[
                        ("grant_type", RECOVERY),
                        ("client_id", &x.client_id),
                        ("client_secret", &x.secret),
                        ("mfa_token", &mfa),
                        ("recovery_code", &code),
                    ],
                )
                .await
            }
        };
        let mfa = mfa_token(&s, &x, "rc@example.com").await;
        let (st, v) = rc(mfa, "WRONGWRONGWRONGWRONGWRON".into()).await;
        assert_eq!(
            (st, v["error"].clone()),
            (403, json!("invalid_grant")),
            "{v}"
        );
        let mfa = mfa_token(&s, &x, "rc@example.com").await;
        let (st, v) = rc(mfa, code.clone()).await;
        assert_eq!(st, 200, "{v}");
        let fresh = v["recovery_code"].as_str().unwrap().to_owned();
        assert_eq!(fresh.len(), 24);
        assert_ne!(fresh, code);
        assert_eq!(
            claims(v["id_token"].as_str().unwrap())["amr"],
            json!(["mfa"])
        );
        // The used code is spent; the new one works.
        let mfa = mfa_token(&s, &x, "rc@example.com").await;
        let (st, _) = rc(mfa, code.to_lowercase()).await;
        assert_eq!(st, 403);
        let mfa = mfa_token(&s, &x, "rc@example.com").await;
        let (st, v) = rc(mfa, fresh.clone()).await;
        assert_eq!(st, 200, "{v}");
    }
}

#[tokio::test]
async fn mfa_api_enrolls_otp_and_email_and_challenges() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let sink = SmtpSink::start().await;
        let body = json!({"name": "smtp", "enabled": true, "default_from_address": "auth@example.com",
            "credentials": {"smtp_host": "127.0.0.1", "smtp_port": sink.port(), "smtp_user": "u", "smtp_pass": "p"}});
        let (st, v) = call(&s, &t, Method::POST, "/emails/provider", Some(body)).await;
        assert!(st == 201 || st == 200, "{st} {v}");
        let x = setup(&s, &t, "api-db", "bo@example.com", grants()).await;
        ok(
            &s,
            &t,
            Method::PATCH,
            "/tenants/settings",
            json!({"default_directory": "api-db"}),
        )
        .await;
        guardian(
            &s,
            &["otp", "email", "recovery-code"],
            json!(["all-applications"]),
        )
        .await;

        // The policy asks every login for MFA, even before any enrollment.
        let mfa = mfa_token(&s, &x, "bo@example.com").await;
        let (st, v) = mfa_call(&s, Method::GET, "/mfa/authenticators", Some(&mfa), None).await;
        assert_eq!((st, v.clone()), (200, json!([])), "{v}");
        let (st, _) = mfa_call(&s, Method::GET, "/mfa/authenticators", Some("nope"), None).await;
        assert_eq!(st, 401);
        // Hostile input: Auth0-shaped 4xx, never a 500 (on PostgreSQL too).
        let (st, _) = mfa_call(
            &s,
            Method::DELETE,
            "/mfa/authenticators/totp%7C%00",
            Some(&mfa),
            None,
        )
        .await;
        assert_eq!(st, 404);
        let res = s
            .http
            .post(format!("{}/mfa/associate", s.url))
            .bearer_auth(&mfa)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 400);
        let (st, v) = mfa_call(&s, Method::POST, "/mfa/challenge", None, Some(json!({}))).await;
        assert_eq!(st, 400, "{v}");
        let (st, v) = mfa_call(
            &s,
            Method::POST,
            "/mfa/challenge",
            None,
            Some(json!({"client_id": x.client_id, "client_secret": x.secret,
                        "mfa_token": "x\u{0}y", "challenge_type": ["otp", 5]})),
        )
        .await;
        assert!(st == 400 || st == 403, "{st} {v}");

        // Associate an authenticator app: secret, barcode, the first recovery code.
        let (st, v) = mfa_call(
            &s,
            Method::POST,
            "/mfa/associate",
            Some(&mfa),
            Some(json!({"client_id": x.client_id, "client_secret": x.secret,
                        "authenticator_types": ["otp"]})),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["authenticator_type"], "otp");
        let secret = v["secret"].as_str().unwrap().to_owned();
        assert!(
            v["barcode_uri"]
                .as_str()
                .unwrap()
                .starts_with("otpauth://totp/")
        );
        assert!(v["barcode_uri"].as_str().unwrap().contains(&secret));
        assert_eq!(v["recovery_codes"].as_array().unwrap().len(), 1);
        let (_, v) = mfa_call(&s, Method::GET, "/mfa/authenticators", Some(&mfa), None).await;
        let otp_row = v
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["authenticator_type"] == "otp")
            .unwrap()
            .clone();
        assert_eq!(otp_row["active"], false, "{v}");

        // The first code confirms the enrollment and completes the login.
        let seed = base32_decode(&secret);
        let (st, v) = otp_grant(&s, &x, &mfa, &totp(&seed, 0)).await;
        assert_eq!(st, 200, "{v}");
        let mfa = mfa_token(&s, &x, "bo@example.com").await;
        let (_, v) = mfa_call(&s, Method::GET, "/mfa/authenticators", Some(&mfa), None).await;
        assert!(
            v.as_array()
                .unwrap()
                .iter()
                .any(|a| a["authenticator_type"] == "otp" && a["active"] == true),
            "{v}"
        );
        // An mfa_token proves the password only: no second enrollment, no deletion with it.
        let (st, v) = mfa_call(
            &s,
            Method::POST,
            "/mfa/associate",
            Some(&mfa),
            Some(json!({"authenticator_types": ["otp"]})),
        )
        .await;
        assert_eq!(
            (st, v["error"].clone()),
            (403, json!("access_denied")),
            "{v}"
        );
        let otp_id = otp_row["id"].as_str().unwrap();
        let (st, _) = mfa_call(
            &s,
            Method::DELETE,
            &format!("/mfa/authenticators/{}", otp_id.replace('|', "%7C")),
            Some(&mfa),
            None,
        )
        .await;
        assert_eq!(st, 403);

        // Challenge for otp: nothing is sent, the app shows the code.
        let (st, v) = mfa_call(
            &s,
            Method::POST,
            "/mfa/challenge",
            None,
            Some(json!({"client_id": x.client_id, "client_secret": x.secret,
                        "mfa_token": mfa, "challenge_type": "otp"})),
        )
        .await;
        assert_eq!(
            (st, v.clone()),
            (200, json!({"challenge_type": "otp"})),
            "{v}"
        );

        // E-mail: an administrator adds an e-mail method; the challenge mails a code.
        let (st, m) = call(
            &s,
            &t,
            Method::POST,
            &format!("/users/{}/authentication-methods", x.user_id),
            Some(json!({"type": "email", "email": "bo.mfa@example.com"})),
        )
        .await;
        assert_eq!(st, 201, "{m}");
        let (st, v) = mfa_call(
            &s,
            Method::POST,
            "/mfa/challenge",
            None,
            Some(json!({"client_id": x.client_id, "client_secret": x.secret,
                        "mfa_token": mfa, "challenge_type": "oob",
                        "authenticator_id": m["id"]})),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["challenge_type"], "oob");
        assert_eq!(v["binding_method"], "prompt");
        let oob = v["oob_code"].as_str().unwrap().to_owned();
        let mails = sink.wait_for(1, Duration::from_secs(20)).await;
        let mail = mails
            .iter()
            .find(|m| m.to.iter().any(|t| t.contains("bo.mfa@example.com")))
            .expect("the code's mail");
        let body = mail.body();
        let code: String = body
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .expect("a 6-digit code")
            .to_owned();
        let oob_grant = |binding: String| {
            let (s, x, mfa, oob) = (&s, &x, mfa.clone(), oob.clone());
            async move {
                token(
                    s,
                    &[
                        ("grant_type", OOB),
                        ("client_id", &x.client_id),
                        ("client_secret", &x.secret),
                        ("mfa_token", &mfa),
                        ("oob_code", &oob),
                        ("binding_code", &binding),
                    ],
                )
                .await
            }
        };
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let (st, v) = oob_grant(wrong.into()).await;
        assert_eq!(
            (st, v["error"].clone()),
            (403, json!("invalid_grant")),
            "{v}"
        );
        let (st, v) = oob_grant(code.clone()).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(
            claims(v["id_token"].as_str().unwrap())["amr"],
            json!(["mfa"])
        );
        // The code is single-use.
        let (st, _) = oob_grant(code).await;
        assert_eq!(st, 403);

        // Codes in flight are limited: the mailbox is not a target.
        let mfa = mfa_token(&s, &x, "bo@example.com").await;
        let challenge = json!({"client_id": x.client_id, "client_secret": x.secret,
                               "mfa_token": mfa, "challenge_type": "oob",
                               "authenticator_id": m["id"]});
        for i in 0..5 {
            let (st, v) = mfa_call(
                &s,
                Method::POST,
                "/mfa/challenge",
                None,
                Some(challenge.clone()),
            )
            .await;
            assert_eq!(st, 200, "challenge {i}: {v}");
        }
        let (st, v) = mfa_call(&s, Method::POST, "/mfa/challenge", None, Some(challenge)).await;
        assert_eq!(
            (st, v["error"].clone()),
            (429, json!("too_many_requests")),
            "{v}"
        );
    }
}

#[tokio::test]
async fn users_authentication_methods_round_trip() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let x = setup(&s, &t, "am-db", "am@example.com", grants()).await;
        ok(
            &s,
            &t,
            Method::PATCH,
            "/tenants/settings",
            json!({"default_directory": "am-db"}),
        )
        .await;
        guardian(&s, &["otp", "email", "sms"], json!([])).await;
        let base = format!("/users/{}/authentication-methods", x.user_id);
        let (st, v) = call(&s, &t, Method::GET, &base, None).await;
        assert_eq!((st, v), (200, json!([])));
        let (st, v) = call(
            &s,
            &t,
            Method::GET,
            "/users/auth0%7Cnobody/authentication-methods",
            None,
        )
        .await;
        assert_eq!(st, 404, "{v}");

        let (st, phone) = call(
            &s,
            &t,
            Method::POST,
            &base,
            Some(json!({"type": "phone", "phone_number": "+15555550123", "name": "cell"})),
        )
        .await;
        assert_eq!(st, 201, "{phone}");
        assert_eq!(phone["preferred_authentication_method"], "sms");
        let pid = phone["id"].as_str().unwrap().to_owned();
        let one = format!("{base}/{}", pid.replace('|', "%7C"));
        let (st, v) = call(
            &s,
            &t,
            Method::PATCH,
            &one,
            Some(json!({"name": "work", "preferred_authentication_method": "voice"})),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["name"], "work");
        assert_eq!(v["preferred_authentication_method"], "voice");
        let (st, v) = call(&s, &t, Method::GET, &one, None).await;
        assert_eq!((st, v["name"].clone()), (200, json!("work")));

        // Bad input: Auth0's 400s, never a 500.
        let (st, v) = call(&s, &t, Method::POST, &base, Some(json!({"type": "totp"}))).await;
        assert_eq!(st, 400, "{v}");
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            &base,
            Some(json!({"type": "totp", "totp_secret": "@@@"})),
        )
        .await;
        assert_eq!(st, 400, "{v}");

        // Replace all: the phone goes, a TOTP and an e-mail come.
        let (st, v) = call(
            &s,
            &t,
            Method::PUT,
            &base,
            Some(json!([{"type": "totp", "totp_secret": SEED_B32},
                        {"type": "email", "email": "am2@example.com"}])),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v.as_array().unwrap().len(), 2);
        let (_, list) = call(
            &s,
            &t,
            Method::GET,
            &format!("{base}?include_totals=true&per_page=1&page=0"),
            None,
        )
        .await;
        assert_eq!(list["total"], 2, "{list}");
        assert_eq!(list["authenticators"].as_array().unwrap().len(), 1);
        let (st, _) = call(&s, &t, Method::GET, &one, None).await;
        assert_eq!(st, 404);

        // Enrollments (Guardian's view) of the confirmed ones.
        let (st, e) = call(
            &s,
            &t,
            Method::GET,
            &format!("/users/{}/enrollments", x.user_id),
            None,
        )
        .await;
        assert_eq!(st, 200, "{e}");
        assert!(
            e.as_array()
                .unwrap()
                .iter()
                .any(|e| e["type"] == "authenticator" && e["status"] == "confirmed"),
            "{e}"
        );

        // The user now needs MFA; removing the TOTP provider and the rest lifts it.
        let (st, _) = password(&s, &x, "am@example.com").await;
        assert_eq!(st, 403);
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/users/{}/multifactor/google-authenticator", x.user_id),
            None,
        )
        .await;
        assert_eq!(st, 204);
        let (_, list) = call(&s, &t, Method::GET, &base, None).await;
        assert!(
            !list.as_array().unwrap().iter().any(|a| a["type"] == "totp"),
            "{list}"
        );
        let (st, _) = call(&s, &t, Method::DELETE, &base, None).await;
        assert_eq!(st, 204);
        let (_, list) = call(&s, &t, Method::GET, &base, None).await;
        assert_eq!(list, json!([]));
        let (st, v) = password(&s, &x, "am@example.com").await;
        assert_eq!(st, 200, "{v}");

        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            &format!(
                "/users/{}/multifactor/actions/invalidate-remember-browser",
                x.user_id
            ),
            Some(json!({})),
        )
        .await;
        assert_eq!(st, 204);
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/users/{}/authenticators", x.user_id),
            None,
        )
        .await;
        assert_eq!(st, 204);

        // Deleting the user deletes its authenticators.
        ok(
            &s,
            &t,
            Method::POST,
            &base,
            json!({"type": "email", "email": "am3@example.com"}),
        )
        .await;
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/users/{}", x.user_id),
            None,
        )
        .await;
        assert_eq!(st, 204);
        let db = Db::connect(&s.db.url).await.unwrap();
        let left = gatehouse_store::mfa::list_for_user(&db, TENANT, &x.user_id)
            .await
            .unwrap();
        assert!(left.is_empty());
    }
}
