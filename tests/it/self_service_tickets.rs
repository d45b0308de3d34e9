//! SSO tickets of self-service profiles: the URL is the issuer's, its ticket is random and
//! opens the wizard's address until it is revoked (the wizard itself answers 501: not served
//! yet), and a ticket goes with its profile.

use gatehouse_testkit::{backends, spawn::call, spawn_on};
use reqwest::Method;
use serde_json::json;

/// The ticket of a ticket URL.
fn ticket_of(url: &str) -> String {
    url.split_once("?ticket=")
        .map(|(_, t)| t.to_owned())
        .unwrap()
}

#[tokio::test]
async fn tickets_open_the_wizard_until_revoked() {
    for backend in backends() {
        let s = spawn_on(&backend).await;
        let token = s.mgmt_token().await;
        let (st, ssp) = call(
            &s,
            &token,
            Method::POST,
            "/self-service-profiles",
            Some(json!({"name": "p"})),
        )
        .await;
        assert_eq!(st, 201, "{ssp}");
        let id = ssp["id"].as_str().unwrap().to_owned();

        let path = format!("/self-service-profiles/{id}/sso-ticket");
        let body =
            json!({"connection_config": {"name": "acme-sso"}, "enabled_clients": [], "ttl_sec": 0});
        let (st, t1) = call(&s, &token, Method::POST, &path, Some(body.clone())).await;
        assert_eq!(st, 201, "{t1}");
        let url = t1["ticket"].as_str().unwrap().to_owned();
        assert!(
            url.starts_with(&format!("{}/self-service/connections-flow?ticket=", s.url)),
            "{url}"
        );
        let ticket = ticket_of(&url);
        assert_eq!(ticket.len(), 32);
        assert!(ticket.chars().all(|c| c.is_ascii_alphanumeric()));
        let (_, t2) = call(
            &s,
            &token,
            Method::POST,
            &path,
            Some(json!({"ttl_sec": 60})),
        )
        .await;
        let other = ticket_of(t2["ticket"].as_str().unwrap());
        assert_ne!(ticket, other);

        let open = |t: String| {
            let http = reqwest::Client::new();
            let url = format!("{}/self-service/connections-flow?ticket={t}", s.url);
            async move { http.get(url).send().await.unwrap().status().as_u16() }
        };
        assert_eq!(
            open(ticket.clone()).await,
            501,
            "a valid ticket: the wizard is not served yet"
        );
        assert_eq!(open("x".repeat(32)).await, 404);

        let (st, _) = call(
            &s,
            &token,
            Method::POST,
            "/self-service-profiles/ssp_nope/sso-ticket",
            Some(json!({})),
        )
        .await;
        assert_eq!(st, 404);

        let revoke = format!("/self-service-profiles/{id}/sso-ticket/{ticket}/revoke");
        let (st, body) = call(&s, &token, Method::POST, &revoke, None).await;
        assert_eq!((st, body), (202, json!({})));
        assert_eq!(open(ticket.clone()).await, 404, "a revoked ticket");
        let (st, body) = call(&s, &token, Method::POST, &revoke, None).await;
        assert_eq!((st, body), (202, json!({})), "revoking again is no error");

        assert_eq!(open(other.clone()).await, 501);
        let (st, _) = call(
            &s,
            &token,
            Method::DELETE,
            &format!("/self-service-profiles/{id}"),
            None,
        )
        .await;
        assert_eq!(st, 204);
        assert_eq!(open(other).await, 404, "a ticket goes with its profile");
    }
}
