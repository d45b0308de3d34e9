//! Tenant logs and log streams over real HTTP, on both backends: Management API writes and
//! token exchanges become entries (`sapi`, `fapi`, `seccft`, `feccft`) that `/logs` searches and
//! pages, and an HTTP log stream delivers them to a real HTTPS receiver — with its
//! authorization, format and filters, retried after a 500, and suspended after failing on.

use std::time::Duration;

use gatehouse_testkit::{TestServer, backends, receiver::Receiver, spawn::call, spawn_on};
use reqwest::Method;
use serde_json::{Value, json};

async fn ok(s: &TestServer, t: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, v) = call(s, t, method, path, body).await;
    assert!(status < 300, "{path}: {status} {v}");
    v
}

fn types(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn writes_and_exchanges_are_logged_and_searchable() {
    for backend in backends() {
        let s = spawn_on(&backend).await;
        let t = s.mgmt_token().await;
        let c = ok(
            &s,
            &t,
            Method::POST,
            "/clients",
            Some(json!({"name": "logged"})),
        )
        .await;
        // A refused write (after authentication) is a failure entry.
        let (st, _) = call(&s, &t, Method::POST, "/clients", Some(json!({"name": 7}))).await;
        assert_eq!(st, 400);
        // A read is not logged.
        ok(&s, &t, Method::GET, "/clients", None).await;
        // A failed exchange.
        let res = s
            .http
            .post(format!("{}/oauth/token", s.url))
            .json(
                &json!({"grant_type": "client_credentials", "client_id": c["client_id"],
                          "client_secret": "wrong", "audience": format!("{}/api/v2/", s.url)}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);

        let all = ok(&s, &t, Method::GET, "/logs", None).await;
        let kinds = types(&all);
        // Newest first: the failed exchange, the refused write, the write, the exchange that
        // gave this test its token.
        assert_eq!(kinds[..4], ["feccft", "fapi", "sapi", "seccft"], "{all}");
        let sapi = &all[2];
        assert_eq!(sapi["description"], "Create a client");
        assert_eq!(sapi["client_id"], s.admin_client_id.as_str());
        assert_eq!(sapi["details"]["request"]["method"], "post");
        assert_eq!(sapi["details"]["response"]["statusCode"], 201);
        assert!(sapi["date"].is_string() && sapi["log_id"] == sapi["_id"]);
        assert!(!all.to_string().contains("wrong"), "no secret in the log");
        assert_eq!(all[0]["client_id"], c["client_id"]);

        // Search, one entry, checkpoint paging, totals, fields, sort.
        let q = ok(&s, &t, Method::GET, "/logs?q=type:sapi", None).await;
        assert_eq!(types(&q), ["sapi"]);
        let q = ok(
            &s,
            &t,
            Method::GET,
            "/logs?q=type:seccft%20OR%20type:feccft&include_totals=true",
            None,
        )
        .await;
        assert_eq!(q["total"], 2, "{q}");
        let id = sapi["log_id"].as_str().unwrap();
        let one = ok(&s, &t, Method::GET, &format!("/logs/{id}"), None).await;
        assert_eq!(one["type"], "sapi");
        let (st, _) = call(&s, &t, Method::GET, "/logs/900123", None).await;
        assert_eq!(st, 404);
        let first = ok(&s, &t, Method::GET, "/logs?take=2", None).await;
        assert_eq!(
            types(&first),
            ["seccft", "sapi"],
            "oldest first from the start"
        );
        let from = first[1]["log_id"].as_str().unwrap();
        let next = ok(
            &s,
            &t,
            Method::GET,
            &format!("/logs?from={from}&take=5"),
            None,
        )
        .await;
        assert_eq!(types(&next)[0], "fapi");
        let f = ok(
            &s,
            &t,
            Method::GET,
            "/logs?fields=type,date&sort=date:1",
            None,
        )
        .await;
        assert_eq!(f[0].as_object().unwrap().len(), 2);
        assert_eq!(f[0]["type"], "seccft");
        let (st, e) = call(&s, &t, Method::GET, "/logs?q=type:(", None).await;
        assert_eq!(st, 400, "{e}");
        let (st, _) = call(&s, &t, Method::GET, "/logs?page=10&per_page=100", None).await;
        assert_eq!(st, 400);
    }
}

#[tokio::test]
async fn http_stream_delivers_retries_and_suspends() {
    for backend in backends() {
        let s = spawn_on(&backend).await;
        let t = s.mgmt_token().await;
        let rx = Receiver::start().await;
        let stream = ok(
            &s,
            &t,
            Method::POST,
            "/log-streams",
            Some(json!({"name": "siem", "type": "http",
                "filters": [{"type": "category", "name": "management.success"}],
                "sink": {"httpEndpoint": rx.url("/logs"), "httpContentFormat": "JSONARRAY",
                         "httpContentType": "application/json", "httpAuthorization": "Bearer s3cret",
                         "httpCustomHeaders": [{"header": "x-tenant", "value": "t1"}]}})),
        )
        .await;
        assert_eq!(stream["status"], "active");
        assert_eq!(stream["isPriority"], false);
        assert!(stream["id"].as_str().unwrap().starts_with("lst_"));

        // The first delivery fails (500) and is retried.
        rx.answer(&[500]);
        ok(
            &s,
            &t,
            Method::POST,
            "/roles",
            Some(json!({"name": "streamed"})),
        )
        .await;
        let got = rx
            .wait_for(Duration::from_secs(10), |g| {
                g.iter().any(|r| r.status == 200)
            })
            .await;
        assert!(got.len() >= 2, "a retry after the 500: {got:?}");
        let last = got.last().unwrap();
        assert_eq!(
            last.header("authorization").as_deref(),
            Some("Bearer s3cret")
        );
        assert_eq!(last.header("x-tenant").as_deref(), Some("t1"));
        let body: Value = serde_json::from_slice(&last.body).unwrap();
        let entries = body.as_array().unwrap();
        // Only management successes: the stream's own creation and the role.
        assert!(
            entries.iter().all(|e| e["data"]["type"] == "sapi"),
            "{body}"
        );
        assert!(
            entries
                .iter()
                .any(|e| e["data"]["description"] == "Create a role"),
            "{body}"
        );
        assert!(entries.iter().all(|e| e["log_id"] == e["data"]["log_id"]));

        // A receiver that keeps failing: the stream is suspended.
        rx.answer(&[503; 40]);
        ok(&s, &t, Method::POST, "/roles", Some(json!({"name": "r2"}))).await;
        let id = stream["id"].as_str().unwrap();
        let mut status = Value::Null;
        for _ in 0..300 {
            let st = ok(&s, &t, Method::GET, &format!("/log-streams/{id}"), None).await;
            status = st["status"].clone();
            if status == "suspended" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, "suspended");
        // Reactivated, it delivers what it held.
        let before = rx.received().len();
        rx.answer(&[]);
        let patched = ok(
            &s,
            &t,
            Method::PATCH,
            &format!("/log-streams/{id}"),
            Some(json!({"status": "active"})),
        )
        .await;
        assert_eq!(patched["status"], "active");
        let got = rx
            .wait_for(Duration::from_secs(30), |g| {
                g.iter()
                    .skip(before)
                    .any(|r| r.status == 200 && r.text().contains("Create a role"))
            })
            .await;
        assert!(
            got.iter()
                .skip(before)
                .any(|r| r.status == 200 && r.text().contains("Create a role")),
            "what was held is delivered after reactivation"
        );
        ok(&s, &t, Method::DELETE, &format!("/log-streams/{id}"), None).await;
        let (st, _) = call(&s, &t, Method::GET, &format!("/log-streams/{id}"), None).await;
        assert_eq!(st, 404);
    }
}

#[tokio::test]
async fn sinks_keep_their_secrets_as_auth0_shows_them() {
    for backend in backends() {
        let s = spawn_on(&backend).await;
        let t = s.mgmt_token().await;
        let m = ok(
            &s,
            &t,
            Method::POST,
            "/log-streams",
            Some(
                json!({"name": "mp", "type": "mixpanel", "sink": {"mixpanelRegion": "us",
                "mixpanelProjectId": "123", "mixpanelServiceAccountUsername": "svc",
                "mixpanelServiceAccountPassword": "pw-secret"}}),
            ),
        )
        .await;
        assert_eq!(m["sink"]["mixpanelServiceAccountPassword"], "********");
        let all = ok(&s, &t, Method::GET, "/log-streams", None).await;
        assert!(!all.to_string().contains("pw-secret"));
        assert!(!all.to_string().contains("_private"));
        let eb = ok(
            &s,
            &t,
            Method::POST,
            "/log-streams",
            Some(json!({"name": "eb", "type": "eventbridge",
                "sink": {"awsAccountId": "999999999999", "awsRegion": "us-west-2"}})),
        )
        .await;
        let src = eb["sink"]["awsPartnerEventSource"].as_str().unwrap();
        assert!(src.starts_with("aws.partner/auth0.com/") && src.ends_with("/auth0.logs"));
        let id = eb["id"].as_str().unwrap();
        let (st, _) = call(
            &s,
            &t,
            Method::PATCH,
            &format!("/log-streams/{id}"),
            Some(json!({"sink": {"datadogApiKey": "x", "datadogRegion": "us"}})),
        )
        .await;
        assert_eq!(st, 400, "an EventBridge sink cannot change");
        let d = ok(
            &s,
            &t,
            Method::POST,
            "/log-streams",
            Some(json!({"name": "dd", "type": "datadog",
                "pii_config": {"log_fields": ["email"]},
                "sink": {"datadogRegion": "us", "datadogApiKey": "k"}})),
        )
        .await;
        assert_eq!(d["pii_config"]["method"], "hash");
        assert_eq!(d["pii_config"]["algorithm"], "xxhash");
    }
}
