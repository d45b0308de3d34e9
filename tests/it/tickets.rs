//! Tag `tickets`: e-mail verification and password change tickets, and the pages their links
//! open (GET shows, POST acts once).

use std::time::Duration;

use gatehouse_store::{Db, tenants::DEFAULT_TENANT, users};
use gatehouse_testkit::{TestServer, backends, spawn::call, spawn_on};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn user(s: &TestServer, t: &str, policy: &str, email: &str) -> String {
    let name = format!("db-{policy}");
    let body = json!({"name": name, "strategy": "auth0", "options": {"passwordPolicy": policy}});
    let (st, c) = call(s, t, Method::POST, "/connections", Some(body)).await;
    assert!(st == 201 || st == 409, "{c}");
    let body = json!({"connection": name, "email": email, "password": "x-Passw0rd!-long"});
    let (st, u) = call(s, t, Method::POST, "/users", Some(body)).await;
    assert_eq!(st, 201, "{u}");
    u["user_id"].as_str().unwrap().to_owned()
}

fn token_of(ticket: &str) -> String {
    ticket
        .split("ticket=")
        .nth(1)
        .unwrap()
        .trim_end_matches('#')
        .to_owned()
}

#[tokio::test]
async fn email_verification_ticket() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let id = user(&s, &t, "none", "ev@example.com").await;
        let body = json!({"user_id": id, "result_url": "https://app.example.com/done?x=1", "includeEmailInRedirect": true});
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            "/tickets/email-verification",
            Some(body),
        )
        .await;
        assert_eq!(st, 201, "{v}");
        let ticket = v["ticket"].as_str().unwrap();
        assert!(
            ticket.starts_with(&format!("{}/u/email-verification?ticket=", s.url)),
            "{ticket}"
        );
        assert!(ticket.ends_with('#'));
        let token = token_of(ticket);
        assert!(token.len() >= 43, "at least 256 bits: {token}");

        // GET only shows; the user is not verified yet.
        let page = browser().get(ticket).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert_eq!(page.headers()["cache-control"], "no-store");
        let html = page.text().await.unwrap();
        assert!(html.contains(&token), "the form carries the ticket");
        let (_, u) = call(&s, &t, Method::GET, &format!("/users/{id}"), None).await;
        assert_eq!(u["email_verified"], false);

        let post = |tok: String| {
            let url = format!("{}/u/email-verification", s.url);
            async move {
                browser()
                    .post(url)
                    .form(&[("ticket", tok)])
                    .send()
                    .await
                    .unwrap()
            }
        };
        let res = post(token.clone()).await;
        assert_eq!(res.status(), 303);
        let to = res.headers()["location"].to_str().unwrap();
        let u2 = url::Url::parse(to).unwrap();
        let q: Vec<(String, String)> = u2.query_pairs().into_owned().collect();
        assert_eq!(u2.path(), "/done");
        assert!(q.contains(&("x".into(), "1".into())));
        assert!(q.contains(&("success".into(), "true".into())));
        assert!(q.contains(&("email".into(), "ev@example.com".into())));
        let (_, u) = call(&s, &t, Method::GET, &format!("/users/{id}"), None).await;
        assert_eq!(u["email_verified"], true);

        // Single use.
        assert_eq!(post(token.clone()).await.status(), 400);
        assert_eq!(browser().get(ticket).send().await.unwrap().status(), 400);
        assert_eq!(post("forged".into()).await.status(), 400);

        // Expiry.
        let body = json!({"user_id": id, "ttl_sec": 1});
        let (_, v) = call(
            &s,
            &t,
            Method::POST,
            "/tickets/email-verification",
            Some(body),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(
            post(token_of(v["ticket"].as_str().unwrap())).await.status(),
            400
        );

        // No result_url: a confirmation page.
        let (_, v) = call(
            &s,
            &t,
            Method::POST,
            "/tickets/email-verification",
            Some(json!({"user_id": id})),
        )
        .await;
        let res = post(token_of(v["ticket"].as_str().unwrap())).await;
        assert_eq!(res.status(), 200);
        assert!(res.text().await.unwrap().contains("verified"));

        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            "/tickets/email-verification",
            Some(json!({"user_id": "auth0|nobody"})),
        )
        .await;
        assert_eq!(st, 404, "{v}");
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            "/tickets/email-verification",
            Some(json!({})),
        )
        .await;
        assert_eq!(st, 400, "{v}");
    }
}

#[tokio::test]
async fn password_change_ticket() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let id = user(&s, &t, "good", "pc@example.com").await;
        let body = json!({"user_id": id, "mark_email_as_verified": true});
        let (st, v) = call(&s, &t, Method::POST, "/tickets/password-change", Some(body)).await;
        assert_eq!(st, 201, "{v}");
        let ticket = v["ticket"].as_str().unwrap();
        assert!(
            ticket.starts_with(&format!("{}/u/reset-verify?ticket=", s.url)),
            "{ticket}"
        );
        let token = token_of(ticket);
        let page = browser().get(ticket).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("name=\"password\""));

        let url = format!("{}/u/reset-verify", s.url);
        let post = |pw: &str, confirm: &str| {
            let form = [
                ("ticket", token.clone()),
                ("password", pw.to_owned()),
                ("confirm", confirm.to_owned()),
            ];
            let url = url.clone();
            async move { browser().post(url).form(&form).send().await.unwrap() }
        };
        let res = post("New-Passw0rd!", "Other-Passw0rd!").await;
        assert_eq!(res.status(), 400);
        assert!(res.text().await.unwrap().contains("do not match"));
        // The connection's policy ("good": 8 characters, three of four kinds).
        let res = post("short", "short").await;
        assert_eq!(res.status(), 400);
        let res = post("New-Passw0rd!", "New-Passw0rd!").await;
        assert_eq!(res.status(), 200);
        let db = Db::connect(&s.db.url).await.unwrap();
        let ids = users::identities(&db, DEFAULT_TENANT, &id).await.unwrap();
        let h = ids[0].password_hash.clone().unwrap();
        assert!(gatehouse_core::password::verify(
            &SecretString::from("New-Passw0rd!"),
            &h
        ));
        let (_, u) = call(&s, &t, Method::GET, &format!("/users/{id}"), None).await;
        assert_eq!(u["email_verified"], true);
        // Single use.
        assert_eq!(
            post("Third-Passw0rd!", "Third-Passw0rd!").await.status(),
            400
        );

        // By e-mail and connection.
        let conn = u["identities"][0]["connection"]
            .as_str()
            .unwrap()
            .to_owned();
        let (_, c) = call(&s, &t, Method::GET, "/connections?name=db-good", None).await;
        let conn_id = c[0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{conn} {c}"))
            .to_owned();
        let body = json!({"email": "PC@example.com", "connection_id": conn_id, "result_url": "https://app.example.com/pw"});
        let (st, v) = call(&s, &t, Method::POST, "/tickets/password-change", Some(body)).await;
        assert_eq!(st, 201, "{v}");
        let body = json!({"user_id": "auth0|nobody"});
        let (st, v) = call(&s, &t, Method::POST, "/tickets/password-change", Some(body)).await;
        assert_eq!(st, 404, "{v}");
        let body: Value =
            json!({"user_id": id, "result_url": "https://a.example.com", "client_id": "x"});
        let (st, v) = call(&s, &t, Method::POST, "/tickets/password-change", Some(body)).await;
        assert_eq!(st, 400, "{v}");
    }
}
