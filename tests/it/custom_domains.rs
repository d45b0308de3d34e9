//! Custom domains against a real DNS server: a small authoritative responder on a random UDP port
//! of this test (hickory-proto's message encoding), which the server is configured to ask
//! (`dns_resolver`). Verification finds the records only once the test has put them there;
//! then the default domain can be set. The HTTP behaviour before verification is in
//! scenarios/custom_domains.yaml.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use gatehouse_testkit::{TestServer, backends, spawn::call, spawn_with_dns};
use hickory_proto::{
    op::{Message, MessageType, OpCode, ResponseCode},
    rr::{
        Name, RData, Record, RecordType,
        rdata::{CNAME, TXT},
    },
};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::UdpSocket;

/// The records the test DNS server answers, by (lower-case name with its final dot, type).
type Zone = Arc<Mutex<HashMap<(String, RecordType), RData>>>;

/// Starts the responder; its address and its zone (empty: every name is NXDOMAIN).
async fn dns_server() -> (SocketAddr, Zone) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let zone: Zone = Arc::default();
    let records = zone.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut reply = Message::response(query.metadata.id, OpCode::Query);
            reply.metadata.message_type = MessageType::Response;
            reply.metadata.authoritative = true;
            reply.metadata.recursion_desired = query.metadata.recursion_desired;
            reply.metadata.recursion_available = true;
            for q in &query.queries {
                reply.add_query(q.clone());
                let key = (q.name().to_ascii().to_ascii_lowercase(), q.query_type());
                let found = records.lock().unwrap().get(&key).cloned();
                match found {
                    Some(data) => {
                        reply.add_answer(Record::from_rdata(q.name().clone(), 0, data));
                    }
                    None => reply.metadata.response_code = ResponseCode::NXDomain,
                }
            }
            let bytes = reply.to_vec().unwrap();
            let _ = socket.send_to(&bytes, peer).await;
        }
    });
    (addr, zone)
}

fn put_cname(zone: &Zone, name: &str, target: &str) {
    let target = Name::from_ascii(format!("{target}.")).unwrap();
    zone.lock().unwrap().insert(
        (format!("{name}."), RecordType::CNAME),
        RData::CNAME(CNAME(target)),
    );
}

fn put_txt(zone: &Zone, name: &str, text: &str) {
    zone.lock().unwrap().insert(
        (format!("{name}."), RecordType::TXT),
        RData::TXT(TXT::new(vec![text.to_owned()])),
    );
}

async fn post(s: &TestServer, t: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    call(s, t, Method::POST, path, body).await
}

fn authority(url: &str) -> &str {
    url.split_once("://").map_or(url, |(_, r)| r)
}

#[tokio::test]
async fn custom_domains_verify_through_dns_then_default() {
    for b in backends() {
        let (dns, zone) = dns_server().await;
        let s = spawn_with_dns(&b, dns).await;
        let t = s.mgmt_token().await;
        let who = b.name();

        let (st, managed) = post(
            &s,
            &t,
            "/custom-domains",
            Some(json!({"domain": "login.example.test", "type": "auth0_managed_certs"})),
        )
        .await;
        assert_eq!(st, 201, "{who}: {managed}");
        let mid = managed["custom_domain_id"].as_str().unwrap().to_owned();
        assert!(mid.starts_with("cd_") && mid.len() == 19, "{mid}");
        let target = format!(
            "default-cd-{}.edge.tenants.127.0.0.1",
            mid.trim_start_matches("cd_").to_ascii_lowercase()
        );
        assert_eq!(
            managed["verification"]["methods"],
            json!([{"name": "CNAME", "record": target, "domain": "login.example.test"}]),
            "{who}"
        );

        let (st, selfm) = post(
            &s,
            &t,
            "/custom-domains",
            Some(json!({"domain": "sso.example.test", "type": "self_managed_certs"})),
        )
        .await;
        assert_eq!(st, 201, "{who}: {selfm}");
        let sid = selfm["custom_domain_id"].as_str().unwrap().to_owned();
        let txt = selfm["verification"]["methods"][0]["record"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(txt.len(), 36, "{who}: a UUID: {txt}");
        assert_eq!(
            selfm["verification"]["methods"][0]["domain"],
            "_cf-custom-hostname.sso.example.test"
        );

        // Nothing in DNS yet: still pending, as Auth0 answers (201: the status the spine gives
        // verify, from the provider's cassettes; the spec says 200).
        let (st, v) = post(&s, &t, &format!("/custom-domains/{mid}/verify"), None).await;
        assert_eq!(st, 201, "{who}: {v}");
        assert_eq!(v["status"], "pending_verification", "{who}: {v}");
        assert!(v.get("origin_domain_name").is_none(), "{who}: {v}");
        assert!(v["verification"].get("status").is_none(), "{who}: {v}");
        let (_, r) = post(&s, &t, &format!("/custom-domains/{mid}/test"), None).await;
        assert_eq!(r["success"], false, "{who}: {r}");

        // A CNAME to somewhere else, and a TXT record with the wrong text, do not verify.
        put_cname(&zone, "login.example.test", "elsewhere.example.net");
        put_txt(
            &zone,
            "_cf-custom-hostname.sso.example.test",
            "not-the-record",
        );
        let (_, v) = post(&s, &t, &format!("/custom-domains/{mid}/verify"), None).await;
        assert_eq!(v["status"], "pending_verification", "{who}: {v}");
        let (_, v) = post(&s, &t, &format!("/custom-domains/{sid}/verify"), None).await;
        assert_eq!(v["status"], "pending_verification", "{who}: {v}");
        assert!(v.get("cname_api_key").is_none(), "{who}: {v}");

        // A domain must be verified before it is the default.
        let (st, e) = call(
            &s,
            &t,
            Method::PATCH,
            "/custom-domains/default",
            Some(json!({"domain": "login.example.test"})),
        )
        .await;
        assert_eq!(st, 400, "{who}: {e}");

        // The right records: ready.
        put_cname(&zone, "login.example.test", &target.to_ascii_uppercase());
        let (st, v) = post(&s, &t, &format!("/custom-domains/{mid}/verify"), None).await;
        assert_eq!(st, 201, "{who}: {v}");
        assert_eq!(v["status"], "ready", "{who}: {v}");
        assert_eq!(v["verification"]["status"], "verified", "{who}: {v}");
        assert!(
            v["verification"]["last_verified_at"].is_string(),
            "{who}: {v}"
        );
        assert_eq!(v["origin_domain_name"], target.as_str(), "{who}: {v}");
        assert!(
            v.get("cname_api_key").is_none(),
            "{who}: auth0-managed: {v}"
        );
        let (_, g) = call(&s, &t, Method::GET, &format!("/custom-domains/{mid}"), None).await;
        assert_eq!(g["status"], "ready", "{who}: {g}");

        put_txt(&zone, "_cf-custom-hostname.sso.example.test", &txt);
        let (_, v) = post(&s, &t, &format!("/custom-domains/{sid}/verify"), None).await;
        assert_eq!(v["status"], "ready", "{who}: {v}");
        let key = v["cname_api_key"].as_str().unwrap_or_default();
        assert!(
            key.len() == 128 && key.chars().all(|c| c.is_ascii_hexdigit()),
            "{who}: {v}"
        );
        let (_, g) = call(&s, &t, Method::GET, &format!("/custom-domains/{sid}"), None).await;
        assert_eq!(g["status"], "ready", "{who}: {g}");
        assert!(
            g.get("cname_api_key").is_none(),
            "{who}: only in verify: {g}"
        );
        let (_, r) = post(&s, &t, &format!("/custom-domains/{sid}/test"), None).await;
        assert_eq!(r, json!({"success": true}), "{who}");

        // No default yet: the server's own name.
        let canonical = json!({"domain": authority(&s.url)});
        let (st, d) = call(&s, &t, Method::GET, "/custom-domains/default", None).await;
        assert_eq!((st, &d), (200, &canonical), "{who}");

        let (st, d) = call(
            &s,
            &t,
            Method::PATCH,
            "/custom-domains/default",
            Some(json!({"domain": "login.example.test"})),
        )
        .await;
        assert_eq!(st, 200, "{who}: {d}");
        assert_eq!(
            (&d["custom_domain_id"], &d["primary"], &d["is_default"]),
            (&json!(mid), &json!(true), &json!(true)),
            "{who}: {d}"
        );
        let (_, d) = call(&s, &t, Method::GET, "/custom-domains/default", None).await;
        assert_eq!(d["custom_domain_id"], mid.as_str(), "{who}: {d}");

        // Another default: the previous one loses both flags.
        let (st, d) = call(
            &s,
            &t,
            Method::PATCH,
            "/custom-domains/default",
            Some(json!({"domain": "SSO.example.test"})),
        )
        .await;
        assert_eq!(st, 200, "{who}: {d}");
        assert_eq!(d["custom_domain_id"], sid.as_str(), "{who}: {d}");
        let (_, all) = call(&s, &t, Method::GET, "/custom-domains", None).await;
        let flags: Vec<(Value, Value, Value)> = all
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["custom_domain_id"].clone(),
                    d["primary"].clone(),
                    d["is_default"].clone(),
                )
            })
            .collect();
        assert_eq!(
            flags,
            vec![
                (json!(mid), json!(false), json!(false)),
                (json!(sid), json!(true), json!(true))
            ],
            "{who}"
        );

        // Deleting the default leaves none.
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/custom-domains/{sid}"),
            None,
        )
        .await;
        assert_eq!(st, 204, "{who}");
        let (_, d) = call(&s, &t, Method::GET, "/custom-domains/default", None).await;
        assert_eq!(d, canonical, "{who}");
    }
}

/// Concurrent creations of one name (in different cases): exactly one is made, the others are
/// 409, none fails otherwise.
#[tokio::test]
async fn one_name_one_domain_under_concurrency() {
    for b in backends() {
        let s = gatehouse_testkit::spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let sends = (0..12).map(|i| {
            let name = if i % 2 == 0 {
                "race.example.test"
            } else {
                "RACE.example.test"
            };
            let body = json!({"domain": name, "type": "self_managed_certs"});
            let (s, t) = (&s, &t);
            async move { post(s, t, "/custom-domains", Some(body)).await.0 }
        });
        let mut statuses = futures::future::join_all(sends).await;
        statuses.sort_unstable();
        let mut expected = vec![201];
        expected.extend([409; 11]);
        assert_eq!(statuses, expected, "{}", b.name());
        let (_, all) = call(&s, &t, Method::GET, "/custom-domains", None).await;
        assert_eq!(all.as_array().map(Vec::len), Some(1), "{}: {all}", b.name());
    }
}
