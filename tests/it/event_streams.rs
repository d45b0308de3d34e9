//! Tags `event-streams` and `events`: streams over real HTTP, and their webhooks delivered to a
//! real HTTPS receiver on 127.0.0.1 (the testkit's: the test CA, scripted answers). The testkit
//! starts servers whose deliveries retry after 200 ms, give up after 2 attempts and disable a
//! stream after 3 failed deliveries in a row.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use gatehouse_testkit::{TestServer, backends, receiver::Receiver, spawn::call, spawn_on};
use reqwest::Method;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(15);

async fn ok(s: &TestServer, t: &str, m: Method, path: &str, body: Option<Value>) -> Value {
    let (st, v) = call(s, t, m, path, body).await;
    assert!(st < 300, "{path}: {st} {v}");
    v
}

async fn database(s: &TestServer, t: &str) -> String {
    let name = "events-db";
    ok(
        s,
        t,
        Method::POST,
        "/connections",
        Some(json!({"name": name, "strategy": "auth0"})),
    )
    .await;
    name.to_owned()
}

async fn new_user(s: &TestServer, t: &str, conn: &str, email: &str) -> String {
    let u = ok(
        s,
        t,
        Method::POST,
        "/users",
        Some(json!({"connection": conn, "email": email, "password": "Correct-Horse-42!"})),
    )
    .await;
    u["user_id"].as_str().unwrap().to_owned()
}

fn event_of(r: &gatehouse_testkit::receiver::Received) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

/// Waits until `pred` holds for the stream (or fails the test).
async fn stream_until(s: &TestServer, t: &str, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let v = ok(s, t, Method::GET, &format!("/event-streams/{id}"), None).await;
        if pred(&v) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stream never got there: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn failed_deliveries(s: &TestServer, t: &str, id: &str) -> Vec<Value> {
    let v = ok(
        s,
        t,
        Method::GET,
        &format!("/event-streams/{id}/deliveries"),
        None,
    )
    .await;
    v.as_array().unwrap().clone()
}

/// Waits until the stream has no failed delivery (or fails the test).
async fn no_failed_deliveries(s: &TestServer, t: &str, id: &str) {
    for _ in 0..100 {
        if failed_deliveries(s, t, id).await.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "failed deliveries remain: {:?}",
        failed_deliveries(s, t, id).await
    );
}

#[tokio::test]
async fn webhook_delivery_retry_redelivery_and_suspension() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let rx = Receiver::start().await;
        let conn = database(&s, &t).await;
        let stream = ok(
            &s,
            &t,
            Method::POST,
            "/event-streams",
            Some(json!({
                "name": "hooks",
                "subscriptions": [{"event_type": "user.created"}, {"event_type": "user.updated"}],
                "destination": {"type": "webhook", "configuration": {
                    "webhook_endpoint": rx.url("/events"),
                    "webhook_authorization": {"method": "bearer", "token": "tok-123"}}}
            })),
        )
        .await;
        let sid = stream["id"].as_str().unwrap().to_owned();
        assert_eq!(stream["status"], "enabled");
        assert!(sid.starts_with("est_") && sid.len() == 26, "{sid}");
        assert!(
            !stream.to_string().contains("tok-123"),
            "the token is never shown: {stream}"
        );

        // A user created: its event, as a CloudEvent with the stream's bearer token.
        let uid = new_user(&s, &t, &conn, "ev1@example.com").await;
        let got = rx.wait_for(WAIT, |r| !r.is_empty()).await;
        assert_eq!(got.len(), 1, "{} on {}", got.len(), b.name());
        assert_eq!(
            got[0].header("authorization").as_deref(),
            Some("Bearer tok-123")
        );
        let e = event_of(&got[0]);
        assert_eq!(e["specversion"], "1.0");
        assert_eq!(e["type"], "user.created");
        assert_eq!(e["a0stream"], sid);
        assert!(e["id"].as_str().unwrap().starts_with("evt_"));
        assert_eq!(e["data"]["object"]["user_id"], uid.as_str());
        assert_eq!(e["data"]["object"]["email"], "ev1@example.com");

        // A 500 is retried, with the same event.
        rx.answer(&[500]);
        ok(
            &s,
            &t,
            Method::PATCH,
            &format!("/users/{uid}"),
            Some(json!({"name": "Second"})),
        )
        .await;
        let got = rx.wait_for(WAIT, |r| r.len() >= 3).await;
        assert_eq!(got.len(), 3);
        assert_eq!((got[1].status, got[2].status), (500, 200));
        let (e1, e2) = (event_of(&got[1]), event_of(&got[2]));
        assert_eq!(e1["type"], "user.updated");
        assert_eq!(e1["id"], e2["id"]);
        assert_eq!(e2["data"]["object"]["name"], "Second");
        // The receiver has answered; the delivery's record follows.
        no_failed_deliveries(&s, &t, &sid).await;

        // Both attempts fail: a failed delivery with its attempts, which can be redelivered.
        rx.answer(&[500, 500]);
        ok(
            &s,
            &t,
            Method::PATCH,
            &format!("/users/{uid}"),
            Some(json!({"name": "Third"})),
        )
        .await;
        rx.wait_for(WAIT, |r| r.len() >= 5).await;
        let mut failed = Vec::new();
        for _ in 0..50 {
            failed = failed_deliveries(&s, &t, &sid).await;
            if failed
                .first()
                .is_some_and(|d| d["attempts"].as_array().unwrap().len() == 2)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(failed.len(), 1, "{failed:?}");
        let d = &failed[0];
        assert_eq!(d["status"], "failed");
        assert_eq!(d["event_stream_id"], sid.as_str());
        assert_eq!(d["event_type"], "user.updated");
        assert_eq!(d["attempts"][0]["status"], "failed");
        assert!(
            d["attempts"][1]["error_message"]
                .as_str()
                .unwrap()
                .contains("500")
        );
        let eid = d["id"].as_str().unwrap().to_owned();
        let one = ok(
            &s,
            &t,
            Method::GET,
            &format!("/event-streams/{sid}/deliveries/{eid}"),
            None,
        )
        .await;
        assert_eq!(one["event"]["id"], eid.as_str());
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            &format!("/event-streams/{sid}/redeliver/{eid}"),
            None,
        )
        .await;
        assert_eq!(st, 202);
        let got = rx.wait_for(WAIT, |r| r.len() >= 6).await;
        assert_eq!(event_of(&got[5])["id"], eid.as_str());
        no_failed_deliveries(&s, &t, &sid).await;

        // Three failed deliveries in a row: the stream is disabled, and gets nothing more.
        rx.answer(&[500; 6]);
        for n in 0..3 {
            ok(
                &s,
                &t,
                Method::PATCH,
                &format!("/users/{uid}"),
                Some(json!({"name": format!("Failing {n}")})),
            )
            .await;
        }
        let v = stream_until(&s, &t, &sid, |v| v["status"] == "disabled").await;
        assert_eq!(v["status"], "disabled");
        let before = rx.wait_for(WAIT, |r| r.len() >= 12).await.len();
        assert_eq!(before, 12);
        ok(
            &s,
            &t,
            Method::PATCH,
            &format!("/users/{uid}"),
            Some(json!({"name": "Unheard"})),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            rx.received().len(),
            before,
            "a disabled stream gets no events"
        );

        // Enabled again, a test event reaches it.
        ok(
            &s,
            &t,
            Method::PATCH,
            &format!("/event-streams/{sid}"),
            Some(json!({"status": "enabled"})),
        )
        .await;
        let (st, d) = call(
            &s,
            &t,
            Method::POST,
            &format!("/event-streams/{sid}/test"),
            Some(json!({"event_type": "user.created"})),
        )
        .await;
        assert_eq!(st, 202, "{d}");
        assert_eq!(d["event_type"], "user.created");
        let got = rx.wait_for(WAIT, |r| r.len() > before).await;
        let e = event_of(got.last().unwrap());
        assert_eq!(e["a0purpose"], "test");
        assert_eq!(e["id"], d["id"]);

        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/event-streams/{sid}"),
            None,
        )
        .await;
        assert_eq!(st, 204);
        let (st, _) = call(&s, &t, Method::GET, &format!("/event-streams/{sid}"), None).await;
        assert_eq!(st, 404);
    }
}

#[tokio::test]
async fn basic_and_custom_header_authorization_and_deleted_users() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let rx = Receiver::start().await;
        let conn = database(&s, &t).await;
        for (path, auth) in [
            (
                "/basic",
                json!({"method": "basic", "username": "admin", "password": "pw-1"}),
            ),
            (
                "/custom",
                json!({"method": "custom_header", "header_key": "x-hook-secret", "header_value": "sv-1"}),
            ),
        ] {
            let v = ok(
                &s,
                &t,
                Method::POST,
                "/event-streams",
                Some(json!({
                    "subscriptions": [{"event_type": "user.deleted"}],
                    "destination": {"type": "webhook", "configuration": {
                        "webhook_endpoint": rx.url(path), "webhook_authorization": auth}}
                })),
            )
            .await;
            let shown = v["destination"]["configuration"]["webhook_authorization"].clone();
            assert!(shown.get("password").is_none() && shown.get("header_value").is_none());
        }
        let uid = new_user(&s, &t, &conn, "gone@example.com").await;
        ok(&s, &t, Method::DELETE, &format!("/users/{uid}"), None).await;
        let got = rx.wait_for(WAIT, |r| r.len() >= 2).await;
        assert_eq!(got.len(), 2, "only user.deleted is subscribed");
        let basic = format!("Basic {}", STANDARD.encode("admin:pw-1"));
        assert!(
            got.iter()
                .any(|r| r.header("authorization").as_deref() == Some(basic.as_str()))
        );
        assert!(
            got.iter()
                .any(|r| r.header("x-hook-secret").as_deref() == Some("sv-1"))
        );
        for r in &got {
            let e = event_of(r);
            assert_eq!(e["type"], "user.deleted");
            assert_eq!(e["data"]["object"]["user_id"], uid.as_str());
        }
    }
}

#[tokio::test]
async fn stream_ids_event_types_and_listing() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let (st, v) = call(
            &s,
            &t,
            Method::GET,
            "/event-streams/est_invalid_id_1234567890",
            None,
        )
        .await;
        assert_eq!(
            (st, v["errorCode"].as_str()),
            (400, Some("invalid_uri")),
            "{v}"
        );
        let (st, v) = call(
            &s,
            &t,
            Method::GET,
            "/event-streams/est_invalid_id_1234567890x",
            None,
        )
        .await;
        assert_eq!(st, 400, "{v}");
        assert!(v["message"].as_str().unwrap().contains("event-stream-id"));
        let (st, _) = call(
            &s,
            &t,
            Method::GET,
            "/event-streams/est_aaaaaaaaaaaaaaaaaaaaaa",
            None,
        )
        .await;
        assert_eq!(st, 404);
        let bridge = json!({"type": "eventbridge", "configuration": {
            "aws_account_id": "242849305777", "aws_region": "us-east-1"}});
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            "/event-streams",
            Some(
                json!({"subscriptions": [{"event_type": "user.exploded"}], "destination": bridge}),
            ),
        )
        .await;
        assert_eq!(st, 400, "{v}");
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            "/event-streams",
            Some(json!({"destination": {"type": "webhook", "configuration": {
                "webhook_endpoint": "https://example.com/x",
                "webhook_authorization": {"method": "bearer"}}}})),
        )
        .await;
        assert_eq!(st, 400, "a bearer stream needs its token: {v}");
        let made = ok(
            &s,
            &t,
            Method::POST,
            "/event-streams",
            Some(json!({"name": "bridge", "subscriptions": [{"event_type": "user.created"}], "destination": bridge})),
        )
        .await;
        assert!(
            made["destination"]["configuration"]["aws_partner_event_source"]
                .as_str()
                .unwrap()
                .starts_with("aws.partner/auth0.com/")
        );
        let bid = made["id"].as_str().unwrap().to_owned();
        let redeliver = format!("/event-streams/{bid}/redeliver");
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            &redeliver,
            Some(json!({"date_from": "soon"})),
        )
        .await;
        assert_eq!(
            (st, v["errorCode"].as_str()),
            (400, Some("invalid_body")),
            "{v}"
        );
        let body = json!({"statuses": ["failed"], "event_types": ["user.created"]});
        let (st, v) = call(&s, &t, Method::POST, &redeliver, Some(body.clone())).await;
        assert_eq!((st, &v), (202, &body));
        let list = ok(&s, &t, Method::GET, "/event-streams", None).await;
        assert_eq!(list["eventStreams"].as_array().unwrap().len(), 1, "{list}");
        // A destination keeps its type.
        let (st, _) = call(
            &s,
            &t,
            Method::PATCH,
            &format!("/event-streams/{}", made["id"].as_str().unwrap()),
            Some(json!({"destination": {"type": "webhook", "configuration": {
                "webhook_endpoint": "https://example.com/x",
                "webhook_authorization": {"method": "bearer", "token": "t"}}}})),
        )
        .await;
        assert_eq!(st, 400);
    }
}

/// The next Server-Sent Events message's data, as JSON.
async fn next_message(res: &mut reqwest::Response, buf: &mut String) -> Value {
    loop {
        if let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            assert!(frame.starts_with("event: message\n"), "{frame}");
            let data = frame
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap();
            return serde_json::from_str(data).unwrap();
        }
        let chunk = tokio::time::timeout(WAIT, res.chunk())
            .await
            .expect("a message in time")
            .unwrap()
            .expect("the stream goes on");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

async fn subscribe(s: &TestServer, t: &str, query: &str) -> reqwest::Response {
    let res = s
        .http
        .get(s.api(&format!("/events{query}")))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    res
}

#[tokio::test]
async fn events_subscription_over_server_sent_events() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let conn = database(&s, &t).await;
        let mut res = subscribe(&s, &t, "?event_type=user.created").await;
        let mut buf = String::new();
        let first = next_message(&mut res, &mut buf).await;
        assert_eq!(first["type"], "offset-only", "{first}");

        let one = new_user(&s, &t, &conn, "sse1@example.com").await;
        ok(
            &s,
            &t,
            Method::PATCH,
            &format!("/users/{one}"),
            Some(json!({"name": "not for this subscription"})),
        )
        .await;
        let two = new_user(&s, &t, &conn, "sse2@example.com").await;
        let m1 = next_message(&mut res, &mut buf).await;
        assert_eq!(m1["type"], "user.created", "{m1}");
        assert_eq!(m1["event"]["data"]["object"]["user_id"], one.as_str());
        assert_eq!(m1["event"]["specversion"], "1.0");
        let m2 = next_message(&mut res, &mut buf).await;
        assert_eq!(m2["event"]["data"]["object"]["user_id"], two.as_str());
        drop(res);

        // Resumed after the first message's offset: the second comes again.
        let from = m1["offset"].as_str().unwrap().to_owned();
        let mut res = subscribe(&s, &t, &format!("?from={from}")).await;
        let mut buf = String::new();
        next_message(&mut res, &mut buf).await;
        let again = next_message(&mut res, &mut buf).await;
        // Without a type filter the update comes first, then the second user.
        assert_eq!(again["type"], "user.updated", "{again}");
        let again = next_message(&mut res, &mut buf).await;
        assert_eq!(again["event"]["id"], m2["event"]["id"]);

        let (st, v) = call(&s, &t, Method::GET, "/events?from=nonsense", None).await;
        assert_eq!(st, 400, "{v}");
    }
}

#[tokio::test]
async fn organization_events() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let rx = Receiver::start().await;
        let conn = database(&s, &t).await;
        ok(
            &s,
            &t,
            Method::POST,
            "/event-streams",
            Some(json!({
                "subscriptions": [{"event_type": "organization.created"},
                                  {"event_type": "organization.member.added"},
                                  {"event_type": "organization.deleted"}],
                "destination": {"type": "webhook", "configuration": {
                    "webhook_endpoint": rx.url("/orgs"),
                    "webhook_authorization": {"method": "bearer", "token": "t"}}}
            })),
        )
        .await;
        let uid = new_user(&s, &t, &conn, "member@example.com").await;
        let org = ok(
            &s,
            &t,
            Method::POST,
            "/organizations",
            Some(json!({"name": "acme", "display_name": "Acme"})),
        )
        .await;
        let oid = org["id"].as_str().unwrap().to_owned();
        ok(
            &s,
            &t,
            Method::POST,
            &format!("/organizations/{oid}/members"),
            Some(json!({"members": [uid]})),
        )
        .await;
        ok(
            &s,
            &t,
            Method::DELETE,
            &format!("/organizations/{oid}"),
            None,
        )
        .await;
        let got = rx.wait_for(WAIT, |r| r.len() >= 3).await;
        let mut types: Vec<String> = got
            .iter()
            .map(|r| event_of(r)["type"].as_str().unwrap().to_owned())
            .collect();
        types.sort();
        assert_eq!(
            types,
            [
                "organization.created",
                "organization.deleted",
                "organization.member.added"
            ]
        );
        for r in &got {
            let e = event_of(r);
            match e["type"].as_str().unwrap() {
                "organization.member.added" => {
                    assert_eq!(e["data"]["object"]["organization"]["id"], oid.as_str());
                    assert_eq!(e["data"]["object"]["user"]["user_id"], uid.as_str());
                }
                _ => {
                    assert_eq!(e["data"]["object"]["id"], oid.as_str());
                    assert_eq!(e["data"]["object"]["display_name"], "Acme");
                }
            }
        }
    }
}

#[tokio::test]
async fn an_action_destination_runs_its_action() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let conn = database(&s, &t).await;
        let code = "exports.onExecuteEventStream = async (event, api) => { \
                    if (event.message.type === 'user.updated') \
                    throw new Error('refused ' + event.message.data.object.user_id); };";
        let action = ok(
            &s,
            &t,
            Method::POST,
            "/actions/actions",
            Some(
                json!({"name": "on-events", "code": code, "runtime": "node22",
                        "supported_triggers": [{"id": "event-stream", "version": "v1"}]}),
            ),
        )
        .await;
        let aid = action["id"].as_str().unwrap().to_owned();
        ok(
            &s,
            &t,
            Method::POST,
            &format!("/actions/actions/{aid}/deploy"),
            None,
        )
        .await;
        let stream = ok(
            &s,
            &t,
            Method::POST,
            "/event-streams",
            Some(json!({
                "subscriptions": [{"event_type": "user.created"}, {"event_type": "user.updated"}],
                "destination": {"type": "action", "configuration": {"action_id": aid}}
            })),
        )
        .await;
        let sid = stream["id"].as_str().unwrap().to_owned();
        let uid = new_user(&s, &t, &conn, "act@example.com").await;
        ok(
            &s,
            &t,
            Method::PATCH,
            &format!("/users/{uid}"),
            Some(json!({"name": "Updated"})),
        )
        .await;
        let mut failed = Vec::new();
        for _ in 0..100 {
            failed = failed_deliveries(&s, &t, &sid).await;
            if failed
                .first()
                .is_some_and(|d| d["attempts"].as_array().unwrap().len() == 2)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(failed.len(), 1, "only the update fails: {failed:?}");
        assert_eq!(failed[0]["event_type"], "user.updated");
        let why = failed[0]["attempts"][0]["error_message"].as_str().unwrap();
        assert!(why.contains(&format!("refused {uid}")), "{why}");

        // The stream's action goes with it.
        ok(
            &s,
            &t,
            Method::DELETE,
            &format!("/event-streams/{sid}"),
            None,
        )
        .await;
        let (st, _) = call(
            &s,
            &t,
            Method::GET,
            &format!("/actions/actions/{aid}"),
            None,
        )
        .await;
        assert_eq!(st, 404);
    }
}
