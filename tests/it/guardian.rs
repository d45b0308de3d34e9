//! Tag `guardian`, its real behaviour: enrollment tickets (stored hashed, expiring, e-mailed
//! through the tenant's provider to a real SMTP server) and enrollments read and deleted over the
//! MFA core's authenticators. The configuration operations: `scenarios/guardian.yaml`.

use std::time::Duration;

use gatehouse_core::{secret, time};
use gatehouse_store::{Db, jobs, mfa, tenants::DEFAULT_TENANT};
use gatehouse_testkit::{TestServer, backends, smtp::SmtpSink, spawn::call, spawn_on};
use reqwest::Method;
use serde_json::{Value, json};

use crate::jobs::provider;

/// A database user with `email` (`None`: a passwordless SMS user, who has no address); its id.
async fn user(s: &TestServer, t: &str, email: Option<&str>) -> String {
    let (name, strategy, body) = match email {
        Some(e) => (
            "mfa-db",
            "auth0",
            json!({"connection": "mfa-db", "email": e, "password": "x-Passw0rd!-long"}),
        ),
        None => (
            "sms",
            "sms",
            json!({"connection": "sms", "phone_number": "+15550100"}),
        ),
    };
    let conn = json!({"name": name, "strategy": strategy, "options": {"passwordPolicy": "none"}});
    let (st, c) = call(s, t, Method::POST, "/connections", Some(conn)).await;
    assert!(st == 201 || st == 409, "{c}");
    let (st, u) = call(s, t, Method::POST, "/users", Some(body)).await;
    assert_eq!(st, 201, "{u}");
    u["user_id"].as_str().unwrap().to_owned()
}

fn token_of(url: &str) -> String {
    url.split("ticket=").nth(1).unwrap().to_owned()
}

#[tokio::test]
async fn enrollment_tickets() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let sink = SmtpSink::start().await;
        provider(&s, &t, &sink).await;
        let db = Db::connect(&s.db.url).await.unwrap();
        let uid = user(&s, &t, Some("enroll@example.com")).await;

        // Without send_mail: a ticket, no mail.
        let body = json!({"user_id": uid, "factor": "otp", "allow_multiple_enrollments": true});
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            "/guardian/enrollments/ticket",
            Some(body),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        let url = v["ticket_url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/guardian/enroll?ticket=", s.url)),
            "{url}"
        );
        let token = token_of(url);
        assert_eq!(v["ticket_id"], json!(token));
        assert!(token.len() >= 43, "256 random bits: {token}");
        // Only the hash is stored, with the factor, for 5 days, unused.
        let row = jobs::find_ticket(&db, DEFAULT_TENANT, &secret::sha256_hex(&token))
            .await
            .unwrap()
            .expect("the ticket is stored under its hash");
        assert_eq!(row.kind, "guardian_enrollment");
        assert_eq!(row.user_id, uid);
        assert_eq!(row.body["factor"], "otp");
        assert_eq!(row.body["allow_multiple_enrollments"], true);
        assert!(row.used_at.is_none());
        let ttl = row.expires_at - time::unix_now();
        assert!((5 * 86_400 - 60..=5 * 86_400).contains(&ttl), "{ttl}");
        assert!(
            jobs::find_ticket(&db, DEFAULT_TENANT, &token)
                .await
                .unwrap()
                .is_none(),
            "the ticket itself is not stored"
        );
        // Two tickets are two different secrets.
        let body = json!({"user_id": uid});
        let (st, v2) = call(
            &s,
            &t,
            Method::POST,
            "/guardian/enrollments/ticket",
            Some(body),
        )
        .await;
        assert_eq!(st, 200, "{v2}");
        assert_ne!(v2["ticket_id"], v["ticket_id"]);

        // send_mail: the link goes to the user's address through the tenant's provider.
        let body = json!({"user_id": uid, "send_mail": true, "factor": "webauthn-roaming"});
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            "/guardian/enrollments/ticket",
            Some(body),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        let mails = sink.wait_for(1, Duration::from_secs(20)).await;
        assert_eq!(mails.len(), 1, "only the ticket with send_mail is e-mailed");
        let m = &mails[0];
        assert!(m.header("To").unwrap().contains("enroll@example.com"));
        assert!(m.subject().contains("multi-factor"), "{}", m.subject());
        assert_eq!(
            m.link("/guardian/enroll").as_deref(),
            v["ticket_url"].as_str()
        );
        // ... or to the address the request gives.
        let body = json!({"user_id": uid, "send_mail": true, "email": "other@example.com"});
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            "/guardian/enrollments/ticket",
            Some(body),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        let mails = sink.wait_for(2, Duration::from_secs(20)).await;
        assert_eq!(mails.len(), 2);
        assert!(mails[1].header("To").unwrap().contains("other@example.com"));
        assert_eq!(
            mails[1].link("/guardian/enroll").as_deref(),
            v["ticket_url"].as_str()
        );

        // Bad input: Auth0's 400s and 404s, nothing stored.
        let body = json!({"user_id": uid, "factor": "email"});
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            "/guardian/enrollments/ticket",
            Some(body),
        )
        .await;
        assert_eq!(st, 400, "e-mail cannot be enrolled through a ticket: {v}");
        assert_eq!(v["errorCode"], "invalid_body");
        let body = json!({"user_id": uid, "factor": "sms"});
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            "/guardian/enrollments/ticket",
            Some(body),
        )
        .await;
        assert_eq!(st, 400, "{v}");
        let body = json!({"user_id": uid, "send_mail": "yes"});
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            "/guardian/enrollments/ticket",
            Some(body),
        )
        .await;
        assert_eq!(st, 400, "{v}");
        let body = json!({"user_id": "auth0|nobody", "send_mail": true});
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            "/guardian/enrollments/ticket",
            Some(body),
        )
        .await;
        assert_eq!(st, 404, "{v}");
        assert_eq!(v["errorCode"], "inexistent_user");
        let phone_only = user(&s, &t, None).await;
        let body = json!({"user_id": phone_only, "send_mail": true});
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            "/guardian/enrollments/ticket",
            Some(body),
        )
        .await;
        assert_eq!(st, 400, "no address to send to: {v}");
        let body = json!({"user_id": phone_only});
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            "/guardian/enrollments/ticket",
            Some(body),
        )
        .await;
        assert_eq!(st, 200, "without send_mail no address is needed: {v}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(sink.mails().await.len(), 2, "no mail for refused tickets");

        // A token without the right scope is refused.
        let weak = s.token_with_scope("read:guardian_factors").await;
        let body = json!({"user_id": uid});
        let (st, _) = call(
            &s,
            &weak,
            Method::POST,
            "/guardian/enrollments/ticket",
            Some(body),
        )
        .await;
        assert_eq!(st, 403);
    }
}

fn authenticator(
    id: &str,
    user_id: &str,
    kind: &str,
    confirmed: bool,
    data: Value,
) -> mfa::AuthenticatorRow {
    mfa::AuthenticatorRow {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        kind: kind.to_owned(),
        confirmed,
        name: None,
        secret: Some("sealed-secret-never-shown".to_owned()),
        data,
        created_at: time::now(),
        enrolled_at: confirmed.then(time::now),
        last_auth_at: None,
        last_step: None,
        failures: 0,
        locked_until: None,
    }
}

#[tokio::test]
async fn enrollments_get_and_delete() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = Db::connect(&s.db.url).await.unwrap();
        let uid = user(&s, &t, Some("enrolled@example.com")).await;
        let totp = authenticator("totp|dev_Tq1pZ8a2Xw3", &uid, "totp", true, json!({}));
        let phone = authenticator(
            "phone|dev_Ph0neXy9",
            &uid,
            "phone",
            false,
            json!({"phone_number": "+15550123"}),
        );
        mfa::insert(&db, DEFAULT_TENANT, &totp).await.unwrap();
        mfa::insert(&db, DEFAULT_TENANT, &phone).await.unwrap();

        let (st, v) = call(
            &s,
            &t,
            Method::GET,
            "/guardian/enrollments/totp%7Cdev_Tq1pZ8a2Xw3",
            None,
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["id"], "totp|dev_Tq1pZ8a2Xw3");
        assert_eq!(v["status"], "confirmed");
        assert!(v["enrolled_at"].is_string());
        assert!(v.get("secret").is_none() && !v.to_string().contains("sealed-secret"));

        // Auth0's ids may come without their type.
        let (st, v) = call(
            &s,
            &t,
            Method::GET,
            "/guardian/enrollments/dev_Ph0neXy9",
            None,
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(
            v,
            json!({"id": "phone|dev_Ph0neXy9", "status": "pending", "phone_number": "+15550123"})
        );

        // ... or with Auth0's prefix for a phone.
        let (st, v) = call(
            &s,
            &t,
            Method::GET,
            "/guardian/enrollments/sms%7Cdev_Ph0neXy9",
            None,
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["id"], "phone|dev_Ph0neXy9");
        let (st, _) = call(
            &s,
            &t,
            Method::GET,
            "/guardian/enrollments/email%7Cdev_Ph0neXy9",
            None,
        )
        .await;
        assert_eq!(st, 404, "not an e-mail enrollment");
        let (st, v) = call(
            &s,
            &t,
            Method::DELETE,
            "/guardian/enrollments/dev_Ph0neXy9",
            None,
        )
        .await;
        assert_eq!(st, 204, "{v}");
        let (st, v) = call(
            &s,
            &t,
            Method::GET,
            "/guardian/enrollments/dev_Ph0neXy9",
            None,
        )
        .await;
        assert_eq!(st, 404);
        assert_eq!(v["errorCode"], "enrollment_not_found");
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            "/guardian/enrollments/dev_Ph0neXy9",
            None,
        )
        .await;
        assert_eq!(st, 404);
        // The other enrollment is still there.
        assert!(
            mfa::find(&db, DEFAULT_TENANT, "totp|dev_Tq1pZ8a2Xw3")
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            mfa::find(&db, DEFAULT_TENANT, "phone|dev_Ph0neXy9")
                .await
                .unwrap()
                .is_none()
        );

        let weak = s.token_with_scope("read:guardian_enrollments").await;
        let (st, _) = call(
            &s,
            &weak,
            Method::DELETE,
            "/guardian/enrollments/dev_Tq1pZ8a2Xw3",
            None,
        )
        .await;
        assert_eq!(st, 403);
        let (st, _) = call(
            &s,
            &weak,
            Method::GET,
            "/guardian/enrollments/dev_Tq1pZ8a2Xw3",
            None,
        )
        .await;
        assert_eq!(st, 200);
    }
}

/// The WebAuthn settings (outside the spec, served beside the spine) are logged as every other
/// Management API write, refused ones too; a read is not.
#[tokio::test]
async fn webauthn_settings_writes_are_logged() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let path = "/guardian/factors/webauthn-roaming/settings";
        let body = json!({"userVerification": "preferred"});
        let (st, v) = call(&s, &t, Method::PUT, path, Some(body)).await;
        assert_eq!(st, 200, "{v}");
        let (st, _) = call(&s, &t, Method::PUT, path, Some(json!({"colour": 1}))).await;
        assert_eq!(st, 400);
        let (st, _) = call(&s, &t, Method::GET, path, None).await;
        assert_eq!(st, 200);
        let weak = s.token_with_scope("read:guardian_factors").await;
        let (st, _) = call(&s, &weak, Method::PUT, path, Some(json!({}))).await;
        assert_eq!(st, 403);

        let (st, all) = call(&s, &t, Method::GET, "/logs", None).await;
        assert_eq!(st, 200, "{all}");
        let ours: Vec<&Value> = all
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["details"]["request"]["path"]
                    == "/api/v2/guardian/factors/webauthn-roaming/settings"
            })
            .collect();
        let kinds: Vec<&str> = ours.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["fapi", "fapi", "sapi"], "newest first: {all}");
        assert_eq!(ours[2]["client_id"], s.admin_client_id.as_str());
        assert_eq!(ours[2]["details"]["response"]["statusCode"], 200);
        assert_eq!(ours[0]["details"]["response"]["statusCode"], 403);
    }
}
