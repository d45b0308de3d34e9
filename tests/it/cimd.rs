//! CIMD: a metadata document on a private address is refused before any connection is made.
//! (Fetching a real document needs an HTTPS server with a publicly trusted certificate: not
//! tested here; the mapping is unit-tested in crates/api/src/mgmt/clients/cimd.rs.)

use std::time::Duration;

use gatehouse_testkit::{backends, spawn::call, spawn_on};
use reqwest::Method;
use serde_json::json;
use tokio::net::TcpListener;

#[tokio::test]
async fn private_addresses_are_refused_without_a_connection() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        // A listener on a loopback address the URL rules do not name: only the address vetting
        // can keep the server from connecting to it.
        let listener = TcpListener::bind("127.0.0.2:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        for op in ["preview", "register"] {
            for url in [
                format!("https://127.0.0.2:{port}/client.json"),
                format!("https://[::ffff:127.0.0.2]:{port}/client.json"),
                "https://127.0.0.1/client.json".to_owned(),
                "https://10.0.0.1/client.json".to_owned(),
                "https://169.254.169.254/latest/meta-data".to_owned(),
                "http://example.com/client.json".to_owned(),
            ] {
                let (st, v) = call(
                    &s,
                    &t,
                    Method::POST,
                    &format!("/clients/cimd/{op}"),
                    Some(json!({"external_client_id": url})),
                )
                .await;
                assert_eq!(st, 400, "[{}] {op} {url}: {v}", b.name());
                assert_eq!(v["errorCode"], "invalid_body");
            }
        }
        let accepted = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
        assert!(
            accepted.is_err(),
            "the server connected to a private address"
        );
        let (_, clients) = call(&s, &t, Method::GET, "/clients?is_first_party=false", None).await;
        assert_eq!(clients, json!([]));
    }
}
