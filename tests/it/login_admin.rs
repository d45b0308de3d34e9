//! The Management API over the login tables (issue 9's admin part), on both backends: tags
//! `sessions`, `refresh-tokens`, `grants`, `device-credentials`, `user-blocks`, and a user's
//! sessions, refresh tokens, revoke-access, connected accounts and federated token sets. Rows
//! are seeded through the store modules against the test server's database.

use gatehouse_store::{
    Db,
    grants::{self, DeviceCredentialRow, GrantRow},
    refresh_tokens::{self, RefreshTokenRow},
    sessions::{self, SessionRow},
    tenants::DEFAULT_TENANT as T,
};
use gatehouse_testkit::{TestServer, backends, spawn::call, spawn_on};
use reqwest::Method;
use serde_json::{Value, json};

fn enc(id: &str) -> String {
    id.replace('|', "%7C")
}

async fn user(s: &TestServer, t: &str, email: &str) -> String {
    let body = json!({"connection": "Username-Password-Authentication", "email": email,
        "password": "Str0ng!Passw0rd-xyz"});
    let (st, u) = call(s, t, Method::POST, "/users", Some(body)).await;
    assert_eq!(st, 201, "{u}");
    u["user_id"].as_str().unwrap().to_owned()
}

/// A session of `user_id` created at second `n` of a fixed day.
async fn session(db: &Db, id: &str, user_id: &str, n: u32) {
    let at = format!("2026-01-01T00:00:{n:02}.000Z");
    let row = SessionRow {
        id: id.into(),
        user_id: user_id.into(),
        cookie_hash: format!("hash-{id}"),
        created_at: at.clone(),
        updated_at: at.clone(),
        authenticated_at: at.clone(),
        last_interacted_at: at,
        expires_at: 4_000_000_000,
        idle_expires_at: 3_900_000_000,
        body: json!({"device": {"initial_ip": "10.0.0.1", "initial_user_agent": "UA/1",
            "last_ip": "10.0.0.2", "last_user_agent": "UA/2"},
            "clients": [{"client_id": "cli"}],
            "authentication": {"methods": [{"name": "pwd", "timestamp": "2026-01-01T00:00:00.000Z"}]}}),
    };
    sessions::insert(db, T, &row).await.unwrap();
}

struct Rt<'a> {
    id: &'a str,
    family: &'a str,
    user: &'a str,
    client: &'a str,
    session: Option<&'a str>,
    rotating: bool,
    rotated: bool,
    n: u32,
}

async fn token(db: &Db, r: Rt<'_>) {
    let row = RefreshTokenRow {
        id: r.id.into(),
        token_hash: format!("hash-{}", r.id),
        family_id: r.family.into(),
        user_id: r.user.into(),
        client_id: r.client.into(),
        session_id: r.session.map(str::to_owned),
        rotating: r.rotating,
        audience: Some("https://api.example.com".into()),
        scope: "openid offline_access read:x".into(),
        created_at: format!("2026-01-01T00:00:{:02}.000Z", r.n),
        last_exchanged_at: None,
        expires_at: Some(4_000_000_000),
        idle_expires_at: None,
        rotated_at: r.rotated.then_some(1_700_000_000),
        body: json!({"device": {"initial_user_agent": "UA/1", "last_user_agent": "UA/2"}}),
    };
    refresh_tokens::insert(db, T, &row).await.unwrap();
}

fn rt<'a>(id: &'a str, user: &'a str, client: &'a str, session: Option<&'a str>, n: u32) -> Rt<'a> {
    Rt {
        id,
        family: id,
        user,
        client,
        session,
        rotating: false,
        rotated: false,
        n,
    }
}

async fn exists(db: &Db, id: &str) -> bool {
    refresh_tokens::find(db, T, id).await.unwrap().is_some()
}

fn ids(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn sessions_are_read_patched_paged_and_revoked_with_their_tokens() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = Db::connect(&s.db.url).await.unwrap();
        let a = user(&s, &t, "sa@example.com").await;
        let bu = user(&s, &t, "sb@example.com").await;
        session(&db, "ses_a1", &a, 1).await;
        session(&db, "ses_a2", &a, 2).await;
        session(&db, "ses_b1", &bu, 3).await;
        token(&db, rt("rt_a1", &a, "cli", Some("ses_a1"), 1)).await;
        token(&db, rt("rt_a2", &a, "cli", Some("ses_a2"), 2)).await;
        token(&db, rt("rt_a0", &a, "cli", None, 3)).await;
        token(&db, rt("rt_b1", &bu, "cli", Some("ses_b1"), 4)).await;

        let (st, v) = call(&s, &t, Method::GET, "/sessions/ses_a1", None).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["id"], "ses_a1");
        assert_eq!(v["user_id"], a.as_str());
        assert_eq!(v["created_at"], "2026-01-01T00:00:01.000Z");
        assert_eq!(v["expires_at"], "2096-10-02T07:06:40.000Z");
        assert_eq!(v["device"]["last_ip"], "10.0.0.2");
        assert_eq!(v["clients"], json!([{"client_id": "cli"}]));
        assert_eq!(v["authentication"]["methods"][0]["name"], "pwd");
        assert!(v.get("cookie_hash").is_none());
        let (st, v) = call(&s, &t, Method::GET, "/sessions/ses_nope", None).await;
        assert_eq!((st, v["statusCode"].as_i64()), (404, Some(404)));

        // PATCH replaces session_metadata; an empty object clears it.
        let (st, v) = call(
            &s,
            &t,
            Method::PATCH,
            "/sessions/ses_a1",
            Some(json!({"session_metadata": {"k": "v"}})),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["session_metadata"], json!({"k": "v"}));
        let (_, v) = call(&s, &t, Method::GET, "/sessions/ses_a1", None).await;
        assert_eq!(v["session_metadata"], json!({"k": "v"}));
        assert_eq!(v["device"]["initial_ip"], "10.0.0.1");
        let (st, v) = call(
            &s,
            &t,
            Method::PATCH,
            "/sessions/ses_a1",
            Some(json!({"session_metadata": {}})),
        )
        .await;
        assert_eq!(st, 200);
        assert!(v.get("session_metadata").is_none(), "{v}");
        let (st, _) = call(
            &s,
            &t,
            Method::PATCH,
            "/sessions/ses_nope",
            Some(json!({"session_metadata": {"k": "v"}})),
        )
        .await;
        assert_eq!(st, 404);

        // A user's sessions, checkpoint-paged.
        let path = format!("/users/{}/sessions", enc(&a));
        let (st, v) = call(&s, &t, Method::GET, &format!("{path}?take=1"), None).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(ids(&v["sessions"]), ["ses_a1"]);
        let next = v["next"].as_str().unwrap().to_owned();
        let (_, v) = call(
            &s,
            &t,
            Method::GET,
            &format!("{path}?take=1&from={next}"),
            None,
        )
        .await;
        assert_eq!(ids(&v["sessions"]), ["ses_a2"]);
        assert!(v.get("next").is_none(), "{v}");
        let (_, v) = call(&s, &t, Method::GET, &path, None).await;
        assert_eq!(ids(&v["sessions"]), ["ses_a1", "ses_a2"]);
        let (st, _) = call(&s, &t, Method::GET, &format!("{path}?from=%25%25"), None).await;
        assert_eq!(st, 400);
        let (st, v) = call(&s, &t, Method::GET, "/users/auth0%7Cnobody/sessions", None).await;
        assert_eq!(
            (st, v["errorCode"].as_str()),
            (404, Some("inexistent_user"))
        );

        // Revoking a session deletes the refresh tokens issued in it, and only those.
        let (st, _) = call(&s, &t, Method::POST, "/sessions/ses_a1/revoke", None).await;
        assert_eq!(st, 202);
        assert!(!exists(&db, "rt_a1").await);
        assert!(exists(&db, "rt_a2").await && exists(&db, "rt_a0").await);
        let (st, _) = call(&s, &t, Method::GET, "/sessions/ses_a1", None).await;
        assert_eq!(st, 404);
        let (st, _) = call(&s, &t, Method::POST, "/sessions/ses_a1/revoke", None).await;
        assert_eq!(st, 404);
        // DELETE too; an unknown one is 202 (the spec lists no 404).
        let (st, _) = call(&s, &t, Method::DELETE, "/sessions/ses_a2", None).await;
        assert_eq!(st, 202);
        assert!(!exists(&db, "rt_a2").await && exists(&db, "rt_a0").await);
        assert!(sessions::find(&db, T, "ses_a2").await.unwrap().is_none());
        let (st, _) = call(&s, &t, Method::DELETE, "/sessions/ses_a2", None).await;
        assert_eq!(st, 202);

        // All of a user's sessions, with their tokens; the other user's stay.
        session(&db, "ses_a3", &a, 5).await;
        token(&db, rt("rt_a3", &a, "cli", Some("ses_a3"), 5)).await;
        let (st, _) = call(&s, &t, Method::DELETE, &path, None).await;
        assert_eq!(st, 202);
        assert!(!exists(&db, "rt_a3").await && exists(&db, "rt_a0").await);
        let (_, v) = call(&s, &t, Method::GET, &path, None).await;
        assert_eq!(v, json!({"sessions": []}));
        assert!(sessions::find(&db, T, "ses_b1").await.unwrap().is_some());
        assert!(exists(&db, "rt_b1").await);
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            "/users/auth0%7Cnobody/sessions",
            None,
        )
        .await;
        assert_eq!(st, 404);
    }
}

#[tokio::test]
async fn refresh_tokens_are_listed_read_patched_and_revoked_by_family() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = Db::connect(&s.db.url).await.unwrap();
        let a = user(&s, &t, "ra@example.com").await;
        let bu = user(&s, &t, "rb@example.com").await;
        token(&db, rt("rt_1", &a, "c1", Some("ses_x"), 1)).await;
        // rt_1's predecessor, replaced by rotation: same family, not listed.
        let mut old = rt("rt_0", &a, "c1", Some("ses_x"), 0);
        (old.family, old.rotating, old.rotated) = ("rt_1", true, true);
        token(&db, old).await;
        token(&db, rt("rt_2", &a, "c2", None, 2)).await;
        token(&db, rt("rt_3", &a, "c1", None, 3)).await;
        token(&db, rt("rt_b", &bu, "c1", None, 4)).await;

        let base = format!("/refresh-tokens?user_id={}", enc(&a));
        let (st, v) = call(&s, &t, Method::GET, &base, None).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(ids(&v["refresh_tokens"]), ["rt_1", "rt_2", "rt_3"]);
        assert!(v.get("next").is_none());
        let r1 = &v["refresh_tokens"][0];
        assert_eq!(r1["client_id"], "c1");
        assert_eq!(r1["session_id"], "ses_x");
        assert_eq!(r1["rotating"], false);
        assert_eq!(r1["created_at"], "2026-01-01T00:00:01.000Z");
        assert_eq!(r1["expires_at"], "2096-10-02T07:06:40.000Z");
        assert_eq!(r1["idle_expires_at"], Value::Null);
        assert_eq!(r1["device"]["last_user_agent"], "UA/2");
        assert_eq!(
            r1["resource_servers"],
            json!([{"audience": "https://api.example.com", "scopes": "openid offline_access read:x"}])
        );
        assert!(r1.get("token_hash").is_none());
        let (_, v) = call(&s, &t, Method::GET, &format!("{base}&client_id=c1"), None).await;
        assert_eq!(ids(&v["refresh_tokens"]), ["rt_1", "rt_3"]);
        let (_, v) = call(&s, &t, Method::GET, &format!("{base}&take=2"), None).await;
        assert_eq!(ids(&v["refresh_tokens"]), ["rt_1", "rt_2"]);
        let next = v["next"].as_str().unwrap().to_owned();
        let (_, v) = call(
            &s,
            &t,
            Method::GET,
            &format!("{base}&take=2&from={next}"),
            None,
        )
        .await;
        assert_eq!(ids(&v["refresh_tokens"]), ["rt_3"]);
        let (_, v) = call(
            &s,
            &t,
            Method::GET,
            &format!("{base}&fields=id,client_id"),
            None,
        )
        .await;
        assert_eq!(
            v["refresh_tokens"][0],
            json!({"id": "rt_1", "client_id": "c1"})
        );
        let (st, _) = call(
            &s,
            &t,
            Method::GET,
            "/refresh-tokens?user_id=auth0%7Cnobody",
            None,
        )
        .await;
        assert_eq!(st, 404);
        let (st, _) = call(&s, &t, Method::GET, "/refresh-tokens", None).await;
        assert_eq!(st, 400);

        // The user's list: `tokens`.
        let upath = format!("/users/{}/refresh-tokens", enc(&a));
        let (st, v) = call(&s, &t, Method::GET, &format!("{upath}?take=1"), None).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(ids(&v["tokens"]), ["rt_1"]);
        assert!(v["next"].is_string());
        let (st, _) = call(
            &s,
            &t,
            Method::GET,
            "/users/auth0%7Cnobody/refresh-tokens",
            None,
        )
        .await;
        assert_eq!(st, 404);

        let (st, v) = call(&s, &t, Method::GET, "/refresh-tokens/rt_2", None).await;
        assert_eq!((st, v["id"].as_str()), (200, Some("rt_2")));
        let (st, _) = call(&s, &t, Method::GET, "/refresh-tokens/rt_nope", None).await;
        assert_eq!(st, 404);
        let (st, v) = call(
            &s,
            &t,
            Method::PATCH,
            "/refresh-tokens/rt_2",
            Some(json!({"refresh_token_metadata": {"device": "phone"}})),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["refresh_token_metadata"], json!({"device": "phone"}));
        let (_, v) = call(&s, &t, Method::GET, "/refresh-tokens/rt_2", None).await;
        assert_eq!(v["refresh_token_metadata"], json!({"device": "phone"}));
        let (st, _) = call(
            &s,
            &t,
            Method::PATCH,
            "/refresh-tokens/rt_nope",
            Some(json!({"refresh_token_metadata": {"a": "b"}})),
        )
        .await;
        assert_eq!(st, 404);

        // Revoking one token revokes its rotation family.
        let (st, _) = call(&s, &t, Method::DELETE, "/refresh-tokens/rt_1", None).await;
        assert_eq!(st, 202);
        assert!(!exists(&db, "rt_1").await && !exists(&db, "rt_0").await);
        assert!(exists(&db, "rt_2").await);
        let (st, _) = call(&s, &t, Method::DELETE, "/refresh-tokens/rt_1", None).await;
        assert_eq!(st, 202);

        // POST /refresh-tokens/revoke: by ids (only the user's when user_id is given), by user
        // and client, and nothing named is a 400.
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            "/refresh-tokens/revoke",
            Some(json!({"ids": ["rt_b", "rt_2"], "user_id": a})),
        )
        .await;
        assert_eq!(st, 202);
        assert!(!exists(&db, "rt_2").await && exists(&db, "rt_b").await);
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            "/refresh-tokens/revoke",
            Some(json!({"user_id": bu, "client_id": "c2"})),
        )
        .await;
        assert_eq!(st, 202);
        assert!(exists(&db, "rt_b").await);
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            "/refresh-tokens/revoke",
            Some(json!({"client_id": "c1"})),
        )
        .await;
        assert_eq!(st, 202);
        assert!(!exists(&db, "rt_b").await && !exists(&db, "rt_3").await);
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            "/refresh-tokens/revoke",
            Some(json!({})),
        )
        .await;
        assert_eq!(st, 400);

        // All of a user's tokens.
        token(&db, rt("rt_4", &a, "c1", None, 5)).await;
        token(&db, rt("rt_5", &bu, "c1", None, 6)).await;
        let (st, _) = call(&s, &t, Method::DELETE, &upath, None).await;
        assert_eq!(st, 202);
        assert!(!exists(&db, "rt_4").await && exists(&db, "rt_5").await);
        let (_, v) = call(&s, &t, Method::GET, &upath, None).await;
        assert_eq!(v, json!({"tokens": []}));
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            "/users/auth0%7Cnobody/refresh-tokens",
            None,
        )
        .await;
        assert_eq!(st, 404);
    }
}

#[tokio::test]
async fn revoke_access_takes_sessions_and_tokens() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = Db::connect(&s.db.url).await.unwrap();
        let a = user(&s, &t, "va@example.com").await;
        let path = format!("/users/{}/revoke-access", enc(&a));
        session(&db, "ses_1", &a, 1).await;
        session(&db, "ses_2", &a, 2).await;
        token(&db, rt("rt_1", &a, "c", Some("ses_1"), 1)).await;
        token(&db, rt("rt_2", &a, "c", Some("ses_2"), 2)).await;
        token(&db, rt("rt_0", &a, "c", None, 3)).await;

        // One session: it and its tokens.
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            &path,
            Some(json!({"session_id": "ses_1"})),
        )
        .await;
        assert_eq!(st, 202);
        assert!(sessions::find(&db, T, "ses_1").await.unwrap().is_none());
        assert!(sessions::find(&db, T, "ses_2").await.unwrap().is_some());
        assert!(!exists(&db, "rt_1").await && exists(&db, "rt_2").await);
        // Another user's session is not touched.
        let other = user(&s, &t, "vb@example.com").await;
        session(&db, "ses_o", &other, 4).await;
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            &path,
            Some(json!({"session_id": "ses_o"})),
        )
        .await;
        assert_eq!(st, 202);
        assert!(sessions::find(&db, T, "ses_o").await.unwrap().is_some());
        // Every session, the tokens preserved.
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            &path,
            Some(json!({"preserve_refresh_tokens": true})),
        )
        .await;
        assert_eq!(st, 202);
        assert!(sessions::find(&db, T, "ses_2").await.unwrap().is_none());
        assert!(exists(&db, "rt_2").await && exists(&db, "rt_0").await);
        // Everything.
        let (st, _) = call(&s, &t, Method::POST, &path, Some(json!({}))).await;
        assert_eq!(st, 202);
        assert!(!exists(&db, "rt_2").await && !exists(&db, "rt_0").await);
        assert!(sessions::find(&db, T, "ses_o").await.unwrap().is_some());
    }
}

async fn grant(db: &Db, id: &str, user: &str, client: &str, aud: &str, n: u32) {
    let g = GrantRow {
        id: id.into(),
        user_id: user.into(),
        client_id: client.into(),
        audience: aud.into(),
        scope: vec!["openid".into(), "read:x".into()],
        created_at: format!("2026-01-01T00:00:{n:02}.000Z"),
    };
    grants::upsert(db, T, &g).await.unwrap();
}

#[tokio::test]
async fn grants_are_filtered_paged_and_revoked_with_their_tokens() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = Db::connect(&s.db.url).await.unwrap();
        let a = user(&s, &t, "ga@example.com").await;
        let bu = user(&s, &t, "gb@example.com").await;
        grant(&db, "g1", &a, "c1", "https://one", 1).await;
        grant(&db, "g2", &a, "c2", "https://one", 2).await;
        grant(&db, "g3", &bu, "c1", "https://two", 3).await;
        token(&db, rt("rt_a1", &a, "c1", None, 1)).await;
        token(&db, rt("rt_a2", &a, "c2", None, 2)).await;
        token(&db, rt("rt_b1", &bu, "c1", None, 3)).await;

        let (st, v) = call(&s, &t, Method::GET, "/grants", None).await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(ids(&v), ["g1", "g2", "g3"]);
        assert_eq!(
            v[0],
            json!({"id": "g1", "clientID": "c1", "user_id": a, "audience": "https://one",
                "scope": ["openid", "read:x"]})
        );
        let (_, v) = call(
            &s,
            &t,
            Method::GET,
            &format!("/grants?user_id={}", enc(&a)),
            None,
        )
        .await;
        assert_eq!(ids(&v), ["g1", "g2"]);
        let (_, v) = call(&s, &t, Method::GET, "/grants?client_id=c1", None).await;
        assert_eq!(ids(&v), ["g1", "g3"]);
        let (_, v) = call(&s, &t, Method::GET, "/grants?audience=https://two", None).await;
        assert_eq!(ids(&v), ["g3"]);
        let (_, v) = call(
            &s,
            &t,
            Method::GET,
            "/grants?per_page=1&page=1&include_totals=true",
            None,
        )
        .await;
        assert_eq!(v["total"], 3);
        assert_eq!(v["start"], 1);
        assert_eq!(v["limit"], 1);
        assert_eq!(ids(&v["grants"]), ["g2"]);

        // A grant revoked takes its user's tokens for its client.
        let (st, _) = call(&s, &t, Method::DELETE, "/grants/g1", None).await;
        assert_eq!(st, 204);
        assert!(!exists(&db, "rt_a1").await);
        assert!(exists(&db, "rt_a2").await && exists(&db, "rt_b1").await);
        let (st, _) = call(&s, &t, Method::DELETE, "/grants/g1", None).await;
        assert_eq!(st, 204);
        let (st, _) = call(&s, &t, Method::DELETE, "/grants", None).await;
        assert_eq!(st, 400);
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/grants?user_id={}", enc(&a)),
            None,
        )
        .await;
        assert_eq!(st, 204);
        assert!(!exists(&db, "rt_a2").await && exists(&db, "rt_b1").await);
        let (_, v) = call(&s, &t, Method::GET, "/grants", None).await;
        assert_eq!(ids(&v), ["g3"]);
    }
}

#[tokio::test]
async fn device_credentials_list_public_keys_and_refresh_tokens() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = Db::connect(&s.db.url).await.unwrap();
        let a = user(&s, &t, "da@example.com").await;
        let bu = user(&s, &t, "db@example.com").await;
        for (id, u, c, n) in [
            ("dcr_AAAAAAAAAAAAAAA1", &a, "c1", 1),
            ("dcr_AAAAAAAAAAAAAAA2", &bu, "c2", 2),
        ] {
            let d = DeviceCredentialRow {
                id: id.into(),
                user_id: u.clone(),
                client_id: c.into(),
                kind: "public_key".into(),
                device_name: format!("phone {n}"),
                device_id: format!("00{n}"),
                value: Some("c2VjcmV0LWtleQ==".into()),
                created_at: format!("2026-01-01T00:00:{n:02}.000Z"),
            };
            grants::insert_device_credential(&db, T, &d).await.unwrap();
        }
        token(&db, rt("rt_plain", &a, "c1", None, 3)).await;
        let mut rot = rt("rt_rot", &a, "c1", None, 4);
        rot.rotating = true;
        token(&db, rot).await;

        let (st, v) = call(
            &s,
            &t,
            Method::GET,
            "/device-credentials?type=public_key",
            None,
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(
            v[0],
            json!({"id": "dcr_AAAAAAAAAAAAAAA1", "device_name": "phone 1", "device_id": "001",
                "type": "public_key", "user_id": a, "client_id": "c1"})
        );
        assert_eq!(v.as_array().unwrap().len(), 2);
        let q = format!("/device-credentials?type=public_key&user_id={}", enc(&bu));
        let (_, v) = call(&s, &t, Method::GET, &q, None).await;
        assert_eq!(ids(&v), ["dcr_AAAAAAAAAAAAAAA2"]);
        let (_, v) = call(
            &s,
            &t,
            Method::GET,
            "/device-credentials?type=public_key&client_id=c1&fields=id,device_name",
            None,
        )
        .await;
        assert_eq!(
            v,
            json!([{"id": "dcr_AAAAAAAAAAAAAAA1", "device_name": "phone 1"}])
        );
        let (_, v) = call(
            &s,
            &t,
            Method::GET,
            "/device-credentials?type=public_key&per_page=1&page=1&include_totals=true",
            None,
        )
        .await;
        assert_eq!(
            (v["total"].as_i64(), v["start"].as_i64()),
            (Some(2), Some(1))
        );
        assert_eq!(ids(&v["device_credentials"]), ["dcr_AAAAAAAAAAAAAAA2"]);
        // No type: refresh tokens (Auth0's default when paging, and it always pages).
        let (_, v) = call(
            &s,
            &t,
            Method::GET,
            &format!("/device-credentials?user_id={}", enc(&a)),
            None,
        )
        .await;
        assert_eq!(
            v,
            json!([{"id": "rt_plain", "device_name": "UA/2", "type": "refresh_token",
            "user_id": a, "client_id": "c1"}])
        );
        let (_, v) = call(
            &s,
            &t,
            Method::GET,
            "/device-credentials?type=rotating_refresh_token",
            None,
        )
        .await;
        assert_eq!(ids(&v), ["rt_rot"]);
        let (st, _) = call(&s, &t, Method::GET, "/device-credentials?type=other", None).await;
        assert_eq!(st, 400);

        // Creating needs a user's token (`create:current_user_device_credentials`): a client's
        // token names no user.
        let body = json!({"device_name": "x", "type": "public_key", "value": "c2VjcmV0", "device_id": "0a"});
        let ct = s
            .token_with_scope("create:current_user_device_credentials")
            .await;
        let (st, _) = call(
            &s,
            &ct,
            Method::POST,
            "/device-credentials",
            Some(body.clone()),
        )
        .await;
        assert_eq!(st, 400);
        let mut bad = body.clone();
        bad.as_object_mut().unwrap().remove("device_id");
        let (st, _) = call(&s, &ct, Method::POST, "/device-credentials", Some(bad)).await;
        assert_eq!(st, 400);
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            "/device-credentials",
            Some(body.clone()),
        )
        .await;
        assert_eq!(st, 400);
        let rt = s.token_with_scope("read:users").await;
        let (st, _) = call(&s, &rt, Method::POST, "/device-credentials", Some(body)).await;
        assert_eq!(st, 403);

        // Delete a public key, and a refresh token through the same operation.
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            "/device-credentials/dcr_AAAAAAAAAAAAAAA1",
            None,
        )
        .await;
        assert_eq!(st, 204);
        let (_, v) = call(
            &s,
            &t,
            Method::GET,
            "/device-credentials?type=public_key",
            None,
        )
        .await;
        assert_eq!(ids(&v), ["dcr_AAAAAAAAAAAAAAA2"]);
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            "/device-credentials/dcr_AAAAAAAAAAAAAAA1",
            None,
        )
        .await;
        assert_eq!(st, 204);
        let (st, _) = call(&s, &t, Method::DELETE, "/device-credentials/bad-id", None).await;
        assert_eq!(st, 400);
    }
}

#[tokio::test]
async fn user_blocks_read_login_failures() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = Db::connect(&s.db.url).await.unwrap();
        let a = user(&s, &t, "ba@example.com").await;
        let now = gatehouse_core::time::now();
        let block = |ip: &'static str| {
            let (db, a, now) = (db.clone(), a.clone(), now.clone());
            async move {
                let tx = db.begin().await.unwrap();
                let (n, blocked) = grants::record_failure(&tx, T, &a, ip, 2, &now)
                    .await
                    .unwrap();
                let again = grants::record_failure(&tx, T, &a, ip, 2, &now)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                assert_eq!((n, blocked, again), (1, false, (2, true)));
            }
        };
        block("10.0.0.1").await;
        block("10.0.0.2").await;
        // One failure only: not blocked.
        let tx = db.begin().await.unwrap();
        grants::record_failure(&tx, T, &a, "10.0.0.3", 2, &now)
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let id = enc(&a);
        let want = |ident: &str| {
            json!({"blocked_for": [
            {"identifier": ident, "ip": "10.0.0.1", "connection": "Username-Password-Authentication"},
            {"identifier": ident, "ip": "10.0.0.2", "connection": "Username-Password-Authentication"}]})
        };
        let (st, v) = call(&s, &t, Method::GET, &format!("/user-blocks/{id}"), None).await;
        assert_eq!((st, v), (200, want("ba@example.com")));
        let (st, v) = call(
            &s,
            &t,
            Method::GET,
            "/user-blocks?identifier=BA@example.com",
            None,
        )
        .await;
        assert_eq!((st, v), (200, want("BA@example.com")));
        let (_, v) = call(
            &s,
            &t,
            Method::GET,
            "/user-blocks?identifier=nobody@example.com",
            None,
        )
        .await;
        assert_eq!(v, json!({"blocked_for": []}));
        // consider_brute_force_enablement: blocks count while the protection is on.
        let q = format!("/user-blocks/{id}?consider_brute_force_enablement=true");
        let (_, v) = call(&s, &t, Method::GET, &q, None).await;
        assert_eq!(v, want("ba@example.com"));
        let (st, _) = call(
            &s,
            &t,
            Method::PATCH,
            "/attack-protection/brute-force-protection",
            Some(json!({"enabled": false})),
        )
        .await;
        assert_eq!(st, 200);
        let (_, v) = call(&s, &t, Method::GET, &q, None).await;
        assert_eq!(v, json!({"blocked_for": []}));
        let (_, v) = call(&s, &t, Method::GET, &format!("/user-blocks/{id}"), None).await;
        assert_eq!(v, want("ba@example.com"));

        // Unblocking by identifier, then by id.
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            "/user-blocks?identifier=ba@example.com",
            None,
        )
        .await;
        assert_eq!(st, 204);
        let (_, v) = call(&s, &t, Method::GET, &format!("/user-blocks/{id}"), None).await;
        assert_eq!(v, json!({"blocked_for": []}));
        assert!(!grants::is_blocked(&db, T, &a, "10.0.0.1").await.unwrap());
        block("10.0.0.1").await;
        let (st, _) = call(&s, &t, Method::DELETE, &format!("/user-blocks/{id}"), None).await;
        assert_eq!(st, 204);
        assert!(grants::blocks_of(&db, T, &a).await.unwrap().is_empty());
        let (st, _) = call(&s, &t, Method::DELETE, "/user-blocks/auth0%7Cnobody", None).await;
        assert_eq!(st, 404);
    }
}

#[tokio::test]
async fn connected_accounts_and_federated_token_sets_are_empty() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let a = enc(&user(&s, &t, "fa@example.com").await);
        let (st, v) = call(
            &s,
            &t,
            Method::GET,
            &format!("/users/{a}/connected-accounts"),
            None,
        )
        .await;
        assert_eq!((st, v), (200, json!({"connected_accounts": []})));
        let (st, v) = call(
            &s,
            &t,
            Method::GET,
            &format!("/users/{a}/federated-connections-tokensets"),
            None,
        )
        .await;
        assert_eq!((st, v), (200, json!([])));
        let (st, _) = call(
            &s,
            &t,
            Method::GET,
            "/users/auth0%7Cnobody/federated-connections-tokensets",
            None,
        )
        .await;
        assert_eq!(st, 404);
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/users/{a}/federated-connections-tokensets/fcts_1"),
            None,
        )
        .await;
        assert_eq!(st, 204);
    }
}
