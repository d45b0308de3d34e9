//! Tag `jobs`: imports (Auth0's bulk schema, legacy hashes, upsert, errors), exports (csv and
//! ndjson, gzip, download), verification e-mails delivered to a real SMTP server (the testkit's
//! sink) and the ticket link in them.

use std::{io::Read, time::Duration};

use gatehouse_core::legacy_hash::{self, Verdict};
use gatehouse_store::{Db, tenants::DEFAULT_TENANT, users};
use gatehouse_testkit::{TestServer, backends, smtp::SmtpSink, spawn::call, spawn_on};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};

async fn connection(s: &TestServer, t: &str, name: &str) -> String {
    let body = json!({"name": name, "strategy": "auth0", "options": {"passwordPolicy": "none"}});
    let (st, c) = call(s, t, Method::POST, "/connections", Some(body)).await;
    assert_eq!(st, 201, "{c}");
    c["id"].as_str().unwrap().to_owned()
}

/// Points the tenant's e-mail provider at the sink.
pub async fn provider(s: &TestServer, t: &str, sink: &SmtpSink) {
    let body = json!({"name": "smtp", "enabled": true, "default_from_address": "auth@example.com",
        "credentials": {"smtp_host": "127.0.0.1", "smtp_port": sink.port(), "smtp_user": "u", "smtp_pass": "p"}});
    let (st, v) = call(s, t, Method::POST, "/emails/provider", Some(body)).await;
    assert!(st == 201 || st == 200, "{st} {v}");
}

/// `POST /jobs/users-imports` as multipart/form-data.
async fn import(s: &TestServer, t: &str, fields: &[(&str, &str)], file: &str) -> (u16, Value) {
    let boundary = "gatehouse-test-boundary-7MA4YWxk";
    let mut body = String::new();
    for (k, v) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"users\"; filename=\"users.json\"\r\nContent-Type: application/json\r\n\r\n{file}\r\n--{boundary}--\r\n"
    ));
    let res = s
        .http
        .post(s.api("/jobs/users-imports"))
        .bearer_auth(t)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let st = res.status().as_u16();
    let text = res.text().await.unwrap();
    (st, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Polls the job until it is completed or failed.
pub async fn finished(s: &TestServer, t: &str, id: &str) -> Value {
    for _ in 0..300 {
        let (st, j) = call(s, t, Method::GET, &format!("/jobs/{id}"), None).await;
        assert_eq!(st, 200, "{j}");
        if j["status"] == "completed" || j["status"] == "failed" {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {id} did not finish");
}

async fn identity_hash(s: &TestServer, user_id: &str) -> String {
    let db = Db::connect(&s.db.url).await.unwrap();
    let ids = users::identities(&db, DEFAULT_TENANT, user_id)
        .await
        .unwrap();
    ids[0].password_hash.clone().unwrap()
}

async fn by_email(s: &TestServer, t: &str, email: &str) -> Value {
    let (st, v) = call(
        s,
        t,
        Method::GET,
        &format!("/users-by-email?email={email}"),
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    v[0].clone()
}

#[tokio::test]
async fn import_users_with_legacy_hashes_upsert_and_errors() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let sink = SmtpSink::start().await;
        provider(&s, &t, &sink).await;
        let (st, v) = call(
            &s,
            &t,
            Method::PATCH,
            "/tenants/settings",
            Some(json!({"support_email": "admin@example.com"})),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        let conn = connection(&s, &t, "import-db").await;
        let bcrypt = gatehouse_core::password::hash(&SecretString::from("Bcrypt-Pass1")).unwrap();
        let file = json!([
            {"email": "A@Example.com", "email_verified": true, "password_hash": bcrypt, "given_name": "Ann",
             "user_metadata": {"lang": "fr"}, "app_metadata": {"plan": "gold"}},
            {"email": "b@example.com", "user_id": "legacy-b", "custom_password_hash": {"algorithm": "sha256",
             "hash": {"value": "qpocyxGi7NG5cnHYyHqfZg6gZNVkOXM2kNcycH8i5XQ=", "encoding": "base64",
                      "salt": {"value": "xyz", "position": "suffix"}}}},
            {"email": "a@example.com", "name": "duplicate in the file"},
            {"email": "not-an-email"},
            {"email": "c@example.com", "custom_password_hash": {"algorithm": "ldap",
             "hash": {"value": "{SSHA}vkm9lEJypxEl1MuZu01B6jax6E9zYWx0NDU2Nw=="}}},
            {"email": "d@example.com", "custom_password_hash": {"algorithm": "md4", "hash": {"value": "00"}}},
        ])
        .to_string();
        let (st, job) = import(
            &s,
            &t,
            &[("connection_id", &conn), ("external_id", "batch-1")],
            &file,
        )
        .await;
        assert_eq!(st, 202, "{job}");
        assert_eq!(job["type"], "users_import");
        assert_eq!(job["status"], "pending");
        assert_eq!(job["connection_id"], conn.as_str());
        assert_eq!(job["connection"], "import-db");
        assert_eq!(job["external_id"], "batch-1");
        let id = job["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("job_") && id.len() == 20, "{id}");

        let done = finished(&s, &t, &id).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(
            done["summary"],
            json!({"failed": 3, "updated": 0, "inserted": 3, "total": 6})
        );
        let (st, errors) = call(&s, &t, Method::GET, &format!("/jobs/{id}/errors"), None).await;
        assert_eq!(st, 200, "{errors}");
        let errors = errors.as_array().unwrap();
        assert_eq!(errors.len(), 3, "{errors:?}");
        let codes: Vec<&str> = errors
            .iter()
            .map(|e| e["errors"][0]["code"].as_str().unwrap())
            .collect();
        assert!(codes.contains(&"DUPLICATED_USER"), "{codes:?}");
        assert!(codes.contains(&"INVALID_FORMAT"), "{codes:?}");
        // Password material is never echoed back.
        assert!(
            errors
                .iter()
                .all(|e| e["user"].get("custom_password_hash").is_none())
        );

        let a = by_email(&s, &t, "a@example.com").await;
        assert_eq!(a["email_verified"], true);
        assert_eq!(a["given_name"], "Ann");
        assert_eq!(a["user_metadata"], json!({"lang": "fr"}));
        assert_eq!(a["app_metadata"], json!({"plan": "gold"}));
        assert_eq!(a["identities"][0]["connection"], "import-db");
        let b_user = by_email(&s, &t, "b@example.com").await;
        assert_eq!(b_user["user_id"], "auth0|legacy-b");

        // The imported hashes verify, and a legacy one is upgraded to bcrypt.
        let a_hash = identity_hash(&s, a["user_id"].as_str().unwrap()).await;
        assert_eq!(a_hash, bcrypt);
        let b_hash = identity_hash(&s, "auth0|legacy-b").await;
        assert!(b_hash.starts_with(legacy_hash::CUSTOM_PREFIX), "{b_hash}");
        match legacy_hash::verify_and_upgrade(&SecretString::from("Passw0rd!"), &b_hash).unwrap() {
            Verdict::Upgrade(new) => assert!(new.starts_with("$2b$")),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            legacy_hash::verify_and_upgrade(&SecretString::from("nope"), &b_hash).unwrap(),
            Verdict::Mismatch
        );
        let c_user = by_email(&s, &t, "c@example.com").await;
        let c_hash = identity_hash(&s, c_user["user_id"].as_str().unwrap()).await;
        assert!(legacy_hash::verify(
            &SecretString::from("Passw0rd!"),
            &c_hash
        ));

        // The completion e-mail went to the tenant's support address.
        let mails = sink.wait_for(1, Duration::from_secs(20)).await;
        assert_eq!(mails[0].to, vec!["admin@example.com".to_owned()]);
        assert!(mails[0].subject().contains(&id), "{}", mails[0].subject());
        assert_eq!(mails[0].auth_user.as_deref(), Some("u"));

        // Upsert: the existing user is updated, metadata merged; without it, a duplicate.
        let again = json!([{"email": "a@example.com", "given_name": "Anna", "user_metadata": {"tz": "CET"}}]).to_string();
        let (st, job) = import(
            &s,
            &t,
            &[
                ("connection_id", &conn),
                ("upsert", "true"),
                ("send_completion_email", "false"),
            ],
            &again,
        )
        .await;
        assert_eq!(st, 202, "{job}");
        let done = finished(&s, &t, job["id"].as_str().unwrap()).await;
        assert_eq!(
            done["summary"],
            json!({"failed": 0, "updated": 1, "inserted": 0, "total": 1})
        );
        let (st, _) = call(
            &s,
            &t,
            Method::GET,
            &format!("/jobs/{}/errors", done["id"].as_str().unwrap()),
            None,
        )
        .await;
        assert_eq!(st, 204);
        let a = by_email(&s, &t, "a@example.com").await;
        assert_eq!(a["given_name"], "Anna");
        assert_eq!(a["user_metadata"], json!({"lang": "fr", "tz": "CET"}));
        let (_, job) = import(
            &s,
            &t,
            &[("connection_id", &conn), ("send_completion_email", "false")],
            &again,
        )
        .await;
        let done = finished(&s, &t, job["id"].as_str().unwrap()).await;
        assert_eq!(done["summary"]["failed"], 1, "{done}");
        // No further mail (send_completion_email false).
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(sink.mails().await.len(), 1);
    }
}

#[tokio::test]
async fn import_refusals() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let conn = connection(&s, &t, "import-db").await;
        // Auth0's 500 KB limit (the server's default).
        let big = format!(
            "[{}]",
            vec![r#"{"email":"x@example.com"}"#; 25_000].join(",")
        );
        let (st, v) = import(&s, &t, &[("connection_id", &conn)], &big).await;
        assert_eq!(st, 413, "{v}");
        let (st, v) = import(&s, &t, &[], "[]").await;
        assert_eq!(st, 400, "{v}");
        let (st, v) = import(&s, &t, &[("connection_id", "con_0000000000000000")], "[]").await;
        assert_eq!(st, 400, "{v}");
        let body = json!({"name": "pwless", "strategy": "email"});
        let (st, c) = call(&s, &t, Method::POST, "/connections", Some(body)).await;
        assert_eq!(st, 201, "{c}");
        let (st, v) = import(
            &s,
            &t,
            &[("connection_id", c["id"].as_str().unwrap())],
            "[]",
        )
        .await;
        assert_eq!(st, 400, "{v}");

        // A file that is not an array fails the job, with the reason.
        let (st, job) = import(&s, &t, &[("connection_id", &conn)], "{\"email\": 1").await;
        assert_eq!(st, 202, "{job}");
        let id = job["id"].as_str().unwrap();
        let done = finished(&s, &t, id).await;
        assert_eq!(done["status"], "failed");
        assert!(
            done["status_details"].as_str().unwrap().contains("JSON"),
            "{done}"
        );
        let (st, e) = call(&s, &t, Method::GET, &format!("/jobs/{id}/errors"), None).await;
        assert_eq!(st, 200);
        assert_eq!(e["status"], "failed");
        assert_eq!(e["id"], id);

        let (st, v) = call(&s, &t, Method::GET, "/jobs/job_0000000000000000", None).await;
        assert_eq!(st, 404, "{v}");
        let (st, v) = call(
            &s,
            &t,
            Method::GET,
            "/jobs/job_0000000000000000/errors",
            None,
        )
        .await;
        assert_eq!(st, 404, "{v}");
        let (st, _) = call(&s, &t, Method::GET, "/jobs/nope", None).await;
        assert_eq!(st, 400);
    }
}

fn gunzip(bytes: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut out)
        .unwrap();
    out
}

#[tokio::test]
async fn export_users_as_csv_and_ndjson() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let conn = connection(&s, &t, "export-db").await;
        for i in 0..7 {
            let body = json!({"connection": "export-db", "email": format!("u{i}@example.com"), "password": "x-Passw0rd!",
                "user_metadata": {"n": i, "note": "a, \"quoted\" note"}});
            let (st, u) = call(&s, &t, Method::POST, "/users", Some(body)).await;
            assert_eq!(st, 201, "{u}");
        }
        let req = json!({"connection_id": conn, "format": "csv", "fields": [
            {"name": "email"}, {"name": "user_metadata.n", "export_as": "number"},
            {"name": "user_metadata.note", "export_as": "note"}, {"name": "identities[0].connection", "export_as": "conn"}]});
        let (st, job) = call(&s, &t, Method::POST, "/jobs/users-exports", Some(req)).await;
        assert_eq!(st, 200, "{job}");
        assert_eq!(job["type"], "users_export");
        assert_eq!(job["status"], "pending");
        assert_eq!(job["format"], "csv");
        let done = finished(&s, &t, job["id"].as_str().unwrap()).await;
        assert_eq!(done["status"], "completed", "{done}");
        let location = done["location"].as_str().unwrap();
        assert!(location.starts_with(&s.url), "{location}");
        let res = s.http.get(location).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let csv = gunzip(&res.bytes().await.unwrap());
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "email,number,note,conn");
        assert_eq!(lines.len(), 8, "{csv}");
        assert_eq!(
            lines[1],
            "u0@example.com,0,\"a, \"\"quoted\"\" note\",export-db"
        );

        // ndjson, the whole user, a limit.
        let req = json!({"format": "json", "limit": 3});
        let (st, job) = call(&s, &t, Method::POST, "/jobs/users-exports", Some(req)).await;
        assert_eq!(st, 200, "{job}");
        let done = finished(&s, &t, job["id"].as_str().unwrap()).await;
        let res = s
            .http
            .get(done["location"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        let text = gunzip(&res.bytes().await.unwrap());
        let users: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(users.len(), 3);
        assert!(
            users
                .iter()
                .all(|u| u["user_id"].as_str().unwrap().starts_with("auth0|"))
        );
        assert_eq!(users[0]["email"], "u0@example.com");

        // An unknown location is not found.
        let bad = format!("{}/jobs/exports/{}.json.gz", s.url, "0".repeat(64));
        assert_eq!(s.http.get(&bad).send().await.unwrap().status(), 404);
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            "/jobs/users-exports",
            Some(json!({"connection_id": "con_0000000000000000"})),
        )
        .await;
        assert_eq!(st, 400, "{v}");
    }
}

#[tokio::test]
async fn verification_email_job_sends_a_working_link() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let sink = SmtpSink::start().await;
        provider(&s, &t, &sink).await;
        connection(&s, &t, "mail-db").await;
        let body = json!({"template": "verify_email", "enabled": true, "from": "Team <team@example.com>",
            "subject": "Verify {{ user.email }}", "syntax": "liquid",
            "body": "<p>Hi {{ user.email }}, click <a href=\"{{ url }}\">here</a>.</p>",
            "resultUrl": "https://app.example.com/verified", "urlLifetimeInSeconds": 600});
        let (st, v) = call(&s, &t, Method::POST, "/email-templates", Some(body)).await;
        assert_eq!(st, 200, "{v}");
        let body =
            json!({"connection": "mail-db", "email": "v@example.com", "password": "x-Passw0rd!"});
        let (st, u) = call(&s, &t, Method::POST, "/users", Some(body)).await;
        assert_eq!(st, 201, "{u}");
        let user_id = u["user_id"].as_str().unwrap().to_owned();

        let (st, job) = call(
            &s,
            &t,
            Method::POST,
            "/jobs/verification-email",
            Some(json!({"user_id": user_id})),
        )
        .await;
        assert_eq!(st, 201, "{job}");
        assert_eq!(job["type"], "verification_email");
        let done = finished(&s, &t, job["id"].as_str().unwrap()).await;
        assert_eq!(done["status"], "completed", "{done}");

        let mails = sink.wait_for(1, Duration::from_secs(20)).await;
        let m = &mails[0];
        assert_eq!(m.to, vec!["v@example.com".to_owned()]);
        assert_eq!(m.from, "team@example.com");
        assert_eq!(m.subject(), "Verify v@example.com");
        let link = m
            .link("/u/email-verification")
            .unwrap_or_else(|| panic!("{}", m.body()));
        let ticket = link
            .split("ticket=")
            .nth(1)
            .unwrap()
            .trim_end_matches('#')
            .to_owned();
        let no_redirect = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let page = no_redirect.get(&link).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("<form method=\"post\""));
        let res = no_redirect
            .post(format!("{}/u/email-verification", s.url))
            .form(&[("ticket", ticket.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "{:?}", res.text().await);
        let to = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            to.starts_with("https://app.example.com/verified?success=true&message="),
            "{to}"
        );
        let (_, u) = call(&s, &t, Method::GET, &format!("/users/{user_id}"), None).await;
        assert_eq!(u["email_verified"], true);

        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            "/jobs/verification-email",
            Some(json!({"user_id": "auth0|nobody"})),
        )
        .await;
        assert_eq!(st, 404, "{v}");
    }
}
