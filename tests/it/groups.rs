//! Tag `groups` and `GET /users/{id}/groups`. Groups come from a connection's directory (SCIM);
//! the Management API only reads and deletes them, so the tests write them through the store
//! (what needs no group is in `scenarios/groups.yaml`).

use gatehouse_api::mgmt::groups::{new_body, new_id};
use gatehouse_store::{
    Db,
    groups::{self, GroupRow},
    params,
    tenants::DEFAULT_TENANT,
};
use gatehouse_testkit::{TestServer, backends, spawn::call, spawn_on};
use reqwest::Method;
use serde_json::{Value, json};

async fn connection(s: &TestServer, t: &str, name: &str) -> String {
    let body = json!({"name": name, "strategy": "auth0", "options": {"passwordPolicy": "none"}});
    let (st, c) = call(s, t, Method::POST, "/connections", Some(body)).await;
    assert_eq!(st, 201, "{c}");
    c["id"].as_str().unwrap().to_owned()
}

async fn user(s: &TestServer, t: &str, connection: &str, email: &str) -> String {
    let body = json!({"connection": connection, "email": email, "password": "x-Passw0rd!"});
    let (st, u) = call(s, t, Method::POST, "/users", Some(body)).await;
    assert_eq!(st, 201, "{u}");
    u["user_id"].as_str().unwrap().to_owned()
}

/// A group written as the SCIM endpoint writes one; returns its id.
async fn group(db: &Db, connection_id: &str, name: &str, external_id: Option<&str>) -> String {
    let id = new_id();
    let now = format!("2026-01-01T00:00:{:02}.000Z", name.len() % 60);
    let row = GroupRow {
        id: id.clone(),
        connection_id: connection_id.to_owned(),
        name: name.to_owned(),
        external_id: external_id.map(str::to_owned),
        body: new_body(&id, name, external_id, connection_id, DEFAULT_TENANT, &now),
        created_at: now.clone(),
        updated_at: now,
    };
    groups::insert(db, DEFAULT_TENANT, &row).await.unwrap();
    id
}

async fn member(db: &Db, group_id: &str, member_id: &str, kind: &str) {
    let added = groups::add_member(
        db,
        DEFAULT_TENANT,
        group_id,
        member_id,
        kind,
        "2026-02-02T00:00:00.000Z",
    )
    .await
    .unwrap();
    assert!(added);
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_owned())
        .collect()
}

fn enc(id: &str) -> String {
    id.replace('|', "%7C")
}

async fn get(s: &TestServer, t: &str, path: &str) -> Value {
    let (st, v) = call(s, t, Method::GET, path, None).await;
    assert_eq!(st, 200, "{path}: {v}");
    v
}

async fn count(db: &Db, sql: &str, p: &str) -> i64 {
    db.query_opt(sql, params![DEFAULT_TENANT, p])
        .await
        .unwrap()
        .unwrap()
        .i64("n")
        .unwrap()
}

#[tokio::test]
async fn list_get_filter_and_page() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = Db::connect(&s.db.url).await.unwrap();
        let (ca, cb) = (
            connection(&s, &t, "dir-a").await,
            connection(&s, &t, "dir-b").await,
        );
        let eng = group(&db, &ca, "Engineering", Some("ext-1")).await;
        let sales = group(&db, &ca, "Sales", Some("ENG_like")).await;
        let ops = group(&db, &ca, "eng-ops", None).await;
        let other = group(&db, &cb, "Engineering", Some("ext-2")).await;
        let all = vec![eng.clone(), sales.clone(), ops.clone(), other.clone()];

        let list = get(&s, &t, "/groups").await;
        assert_eq!(ids(&list), all, "{}", b.name());
        let g = &list[0];
        assert_eq!(
            g.as_object().unwrap().keys().collect::<Vec<_>>(),
            [
                "id",
                "name",
                "external_id",
                "connection_id",
                "tenant_name",
                "created_at",
                "updated_at"
            ]
        );
        assert_eq!(g["tenant_name"], DEFAULT_TENANT);
        assert_eq!(g["connection_id"], ca);
        assert!(eng.starts_with("grp_") && eng.len() == 26);

        let (st, one) = call(&s, &t, Method::GET, &format!("/groups/{eng}"), None).await;
        assert_eq!((st, &one), (200, g));

        // Filters: (query, expected ids).
        let cases: Vec<(String, Vec<String>)> = vec![
            (
                format!("connection_id={ca}"),
                vec![eng.clone(), sales.clone(), ops.clone()],
            ),
            (format!("connection_id={cb}"), vec![other.clone()]),
            ("name=Engineering".into(), vec![eng.clone(), other.clone()]),
            (
                format!("name=Engineering&connection_id={cb}"),
                vec![other.clone()],
            ),
            ("external_id=ext-1".into(), vec![eng.clone()]),
            // `search`: name or external id, case-insensitive, any part.
            (
                "search=eng".into(),
                vec![eng.clone(), sales.clone(), ops.clone(), other.clone()],
            ),
            ("search=ext-".into(), vec![eng.clone(), other.clone()]),
            ("search=eng_".into(), vec![sales.clone()]),
            ("search=%25".into(), vec![]),
            ("name=nobody".into(), vec![]),
        ];
        for (q, want) in cases {
            let v = get(&s, &t, &format!("/groups?{q}")).await;
            assert_eq!(ids(&v), want, "{}: {q}", b.name());
        }

        // Offset pages with totals.
        let v = get(&s, &t, "/groups?per_page=3&page=1&include_totals=true").await;
        assert_eq!(
            (
                v["total"].as_i64(),
                v["start"].as_i64(),
                v["limit"].as_i64()
            ),
            (Some(4), Some(3), Some(3))
        );
        assert_eq!(ids(&v["groups"]), vec![other.clone()]);
        // Checkpoint pages to the end.
        let mut seen = Vec::new();
        let mut from: Option<String> = None;
        loop {
            let q = from
                .as_ref()
                .map_or(String::new(), |f| format!("&from={f}"));
            let v = get(&s, &t, &format!("/groups?take=3{q}")).await;
            seen.extend(ids(&v["groups"]));
            match v.get("next").and_then(Value::as_str) {
                Some(n) => from = Some(n.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, all);
        // `fields`.
        let v = get(
            &s,
            &t,
            "/groups?fields=id,name&include_fields=true&per_page=1",
        )
        .await;
        assert_eq!(v, json!([{"id": eng, "name": "Engineering"}]));
        let v = get(&s, &t, &format!("/groups?fields=created_at,updated_at,tenant_name,external_id&include_fields=false&connection_id={cb}")).await;
        assert_eq!(
            v,
            json!([{"id": other, "name": "Engineering", "connection_id": cb}])
        );
    }
}

#[tokio::test]
async fn members_and_user_groups() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = Db::connect(&s.db.url).await.unwrap();
        let c = connection(&s, &t, "dir").await;
        let u1 = user(&s, &t, "dir", "one@example.com").await;
        let u2 = user(&s, &t, "dir", "two@example.com").await;
        let g1 = group(&db, &c, "Engineering", Some("e1")).await;
        let g2 = group(&db, &c, "Platform", None).await;
        member(&db, &g1, &u1, "user").await;
        member(&db, &g1, &u2, "user").await;
        member(&db, &g1, &g2, "group").await;
        member(&db, &g2, &u1, "user").await;
        // Adding again changes nothing.
        assert!(
            !groups::add_member(&db, DEFAULT_TENANT, &g1, &u1, "user", "x")
                .await
                .unwrap()
        );

        let v = get(&s, &t, &format!("/groups/{g1}/members")).await;
        assert_eq!(
            v,
            json!({"members": [
                {"id": u1, "member_type": "user", "type": "connection", "connection_id": c, "created_at": "2026-02-02T00:00:00.000Z"},
                {"id": u2, "member_type": "user", "type": "connection", "connection_id": c, "created_at": "2026-02-02T00:00:00.000Z"},
                {"id": g2, "member_type": "group", "type": "connection", "connection_id": c, "created_at": "2026-02-02T00:00:00.000Z"},
            ]})
        );
        // Checkpoint pages of one, `fields`.
        let mut seen = Vec::new();
        let mut from: Option<String> = None;
        loop {
            let q = from
                .as_ref()
                .map_or(String::new(), |f| format!("&from={f}"));
            let v = get(
                &s,
                &t,
                &format!("/groups/{g1}/members?take=1&fields=id,member_type{q}"),
            )
            .await;
            let page = v["members"].as_array().unwrap();
            assert_eq!(page.len(), 1);
            assert_eq!(page[0].as_object().unwrap().len(), 2);
            seen.push(page[0]["id"].as_str().unwrap().to_owned());
            match v.get("next").and_then(Value::as_str) {
                Some(n) => from = Some(n.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, vec![u1.clone(), u2.clone(), g2.clone()]);

        // A user's groups, with the membership's time.
        let v = get(&s, &t, &format!("/users/{}/groups", enc(&u1))).await;
        assert_eq!(ids(&v), vec![g1.clone(), g2.clone()]);
        assert_eq!(v[0]["membership_created_at"], "2026-02-02T00:00:00.000Z");
        assert_eq!(v[0]["name"], "Engineering");
        assert_eq!(v[0]["external_id"], "e1");
        let v = get(
            &s,
            &t,
            &format!(
                "/users/{}/groups?include_totals=true&per_page=1&page=1",
                enc(&u1)
            ),
        )
        .await;
        assert_eq!(v["total"], 2);
        assert_eq!(ids(&v["groups"]), vec![g2.clone()]);
        let v = get(&s, &t, &format!("/users/{}/groups?take=1", enc(&u1))).await;
        assert_eq!(ids(&v["groups"]), vec![g1.clone()]);
        assert_eq!(v["next"], "1");
        let v = get(
            &s,
            &t,
            &format!("/users/{}/groups?fields=id,membership_created_at", enc(&u2)),
        )
        .await;
        assert_eq!(
            v,
            json!([{"id": g1, "membership_created_at": "2026-02-02T00:00:00.000Z"}])
        );

        // Deleting a group removes its memberships, and its membership in other groups.
        let (st, _) = call(&s, &t, Method::DELETE, &format!("/groups/{g2}"), None).await;
        assert_eq!(st, 204);
        let (st, _) = call(&s, &t, Method::GET, &format!("/groups/{g2}"), None).await;
        assert_eq!(st, 404);
        let v = get(&s, &t, &format!("/users/{}/groups", enc(&u1))).await;
        assert_eq!(ids(&v), vec![g1.clone()]);
        let v = get(&s, &t, &format!("/groups/{g1}/members")).await;
        assert_eq!(v["members"].as_array().unwrap().len(), 2);
        let n = "SELECT COUNT(*) AS n FROM directory_group_members WHERE tenant_id = $1 AND group_id = $2";
        assert_eq!(count(&db, n, &g2).await, 0);

        // Deleting a user removes their memberships.
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/users/{}", enc(&u1)),
            None,
        )
        .await;
        assert_eq!(st, 204);
        let v = get(&s, &t, &format!("/groups/{g1}/members")).await;
        assert_eq!(v["members"][0]["id"], u2);
        assert_eq!(v["members"].as_array().unwrap().len(), 1);
        let by_member = "SELECT COUNT(*) AS n FROM directory_group_members WHERE tenant_id = $1 AND member_id = $2";
        assert_eq!(count(&db, by_member, &u1).await, 0);
    }
}

#[tokio::test]
async fn deleting_a_connection_removes_its_groups() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = Db::connect(&s.db.url).await.unwrap();
        let (ca, cb) = (
            connection(&s, &t, "dir-a").await,
            connection(&s, &t, "dir-b").await,
        );
        let ub = user(&s, &t, "dir-b", "b@example.com").await;
        let ua = user(&s, &t, "dir-a", "a@example.com").await;
        let ga = group(&db, &ca, "A", None).await;
        let gb = group(&db, &cb, "B", None).await;
        member(&db, &ga, &ua, "user").await;
        member(&db, &ga, &ub, "user").await;
        member(&db, &gb, &ub, "user").await;
        member(&db, &gb, &ua, "user").await;

        let (st, v) = call(&s, &t, Method::DELETE, &format!("/connections/{ca}"), None).await;
        assert_eq!(st, 202, "{v}");
        let v = get(&s, &t, "/groups").await;
        assert_eq!(ids(&v), vec![gb.clone()]);
        let n = "SELECT COUNT(*) AS n FROM directory_group_members WHERE tenant_id = $1 AND group_id = $2";
        assert_eq!(count(&db, n, &ga).await, 0);
        // The connection's users left the other connection's groups too.
        let v = get(&s, &t, &format!("/groups/{gb}/members")).await;
        assert_eq!(v["members"].as_array().unwrap().len(), 1);
        assert_eq!(v["members"][0]["id"], ub);
    }
}

/// A SCIM request with a bearer secret: the status and the JSON body (`Null` when none).
async fn scim(
    s: &TestServer,
    secret: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = s
        .http
        .request(method, format!("{}/scim/v2/connections/{path}", s.url))
        .bearer_auth(secret);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(b.to_string());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    if status != 204 {
        let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert_eq!(ct, "application/scim+json", "{path}");
    }
    let text = res.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, v)
}

async fn scim_connection(s: &TestServer, t: &str, name: &str, scopes: Value) -> (String, String) {
    let body = json!({"name": name, "strategy": "okta", "options": {"client_id": "1"}});
    let (st, c) = call(s, t, Method::POST, "/connections", Some(body)).await;
    assert_eq!(st, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_owned();
    let base = format!("/connections/{id}/scim-configuration");
    let (st, v) = call(s, t, Method::POST, &base, Some(json!({}))).await;
    assert_eq!(st, 201, "{v}");
    let (st, tok) = call(
        s,
        t,
        Method::POST,
        &format!("{base}/tokens"),
        Some(json!({"scopes": scopes})),
    )
    .await;
    assert_eq!(st, 201, "{tok}");
    (id, tok["token"].as_str().unwrap().to_owned())
}

/// A user of `connection_id`: made in a database connection, then moved there directly (the
/// Management API creates no users in enterprise connections; SCIM Users is not served yet).
async fn user_of(s: &TestServer, t: &str, db: &Db, connection_id: &str, email: &str) -> String {
    let u = user(s, t, "users-db", email).await;
    db.execute(
        "UPDATE users SET connection_id = $3 WHERE tenant_id = $1 AND user_id = $2",
        params![DEFAULT_TENANT, &u, connection_id],
    )
    .await
    .unwrap();
    u
}

#[tokio::test]
async fn scim_groups_fill_the_groups() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = Db::connect(&s.db.url).await.unwrap();
        connection(&s, &t, "users-db").await;
        let all = json!([
            "get:groups",
            "post:groups",
            "put:groups",
            "patch:groups",
            "delete:groups"
        ]);
        let (c, secret) = scim_connection(&s, &t, "okta-a", all.clone()).await;
        let (c2, secret2) = scim_connection(&s, &t, "okta-b", all).await;
        let (_, read_only) = {
            let base = format!("/connections/{c}/scim-configuration/tokens");
            let (st, tok) = call(
                &s,
                &t,
                Method::POST,
                &base,
                Some(json!({"scopes": ["get:groups"]})),
            )
            .await;
            assert_eq!(st, 201, "{tok}");
            ((), tok["token"].as_str().unwrap().to_owned())
        };
        let u1 = user_of(&s, &t, &db, &c, "u1@example.com").await;
        let u2 = user_of(&s, &t, &db, &c, "u2@example.com").await;
        let elsewhere = user_of(&s, &t, &db, &c2, "u3@example.com").await;
        let groups_path = format!("{c}/Groups");

        // Authentication: no token, a wrong one, another connection's, too few scopes.
        for (secret, status) in [
            ("", 401),
            ("nope", 401),
            (secret2.as_str(), 401),
            (read_only.as_str(), 403),
        ] {
            let (st, e) = scim(
                &s,
                secret,
                Method::POST,
                &groups_path,
                Some(json!({"displayName": "x"})),
            )
            .await;
            assert_eq!(st, status, "{e}");
            assert_eq!(
                e["schemas"][0],
                "urn:ietf:params:scim:api:messages:2.0:Error"
            );
            assert_eq!(e["status"], status.to_string());
        }

        // Create with members.
        let (st, g) = scim(
            &s,
            &secret,
            Method::POST,
            &groups_path,
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Engineering", "externalId": "okta-eng",
                "members": [{"value": u1}, {"value": u2}],
            })),
        )
        .await;
        assert_eq!(st, 201, "{g}");
        let gid = g["id"].as_str().unwrap().to_owned();
        assert!(gid.starts_with("grp_"));
        assert_eq!(g["displayName"], "Engineering");
        assert_eq!(
            g["members"],
            json!([{"value": u1, "type": "User"}, {"value": u2, "type": "User"}])
        );
        assert_eq!(g["meta"]["resourceType"], "Group");
        assert!(
            g["meta"]["location"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/scim/v2/connections/{c}/Groups/{gid}"))
        );

        // The Management API sees it.
        let v = get(&s, &t, &format!("/groups/{gid}")).await;
        assert_eq!(
            (
                v["name"].as_str(),
                v["external_id"].as_str(),
                v["connection_id"].as_str()
            ),
            (Some("Engineering"), Some("okta-eng"), Some(c.as_str()))
        );
        let v = get(&s, &t, &format!("/users/{}/groups", enc(&u2))).await;
        assert_eq!(ids(&v), vec![gid.clone()]);

        // Bad creates change nothing: duplicate name, unknown member, a member of another
        // connection, no displayName, not JSON.
        let bad = [
            (json!({"displayName": "Engineering"}), 409),
            (
                json!({"displayName": "Other", "members": [{"value": "auth0|nobody"}]}),
                400,
            ),
            (
                json!({"displayName": "Other", "members": [{"value": elsewhere}]}),
                400,
            ),
            (json!({"externalId": "x"}), 400),
            (json!({"displayName": ""}), 400),
        ];
        for (body, status) in bad {
            let (st, e) = scim(&s, &secret, Method::POST, &groups_path, Some(body.clone())).await;
            assert_eq!(st, status, "{body}: {e}");
        }
        let v = get(&s, &t, "/groups").await;
        assert_eq!(ids(&v), vec![gid.clone()]);

        // List with a filter; read-only tokens may read.
        let (st, l) = scim(
            &s,
            &read_only,
            Method::GET,
            &format!("{groups_path}?filter=displayName%20eq%20%22Engineering%22"),
            None,
        )
        .await;
        assert_eq!(st, 200, "{l}");
        assert_eq!(
            (l["totalResults"].as_i64(), l["Resources"][0]["id"].as_str()),
            (Some(1), Some(gid.as_str()))
        );
        let (_, l) = scim(
            &s,
            &secret,
            Method::GET,
            &format!("{groups_path}?filter=displayName%20eq%20%22Nope%22"),
            None,
        )
        .await;
        assert_eq!(l["totalResults"], 0);
        let (_, l) = scim(
            &s,
            &secret,
            Method::GET,
            &format!("{groups_path}?excludedAttributes=members"),
            None,
        )
        .await;
        assert!(l["Resources"][0].get("members").is_none());
        // Another connection's token sees none of it.
        let (st, l) = scim(&s, &secret2, Method::GET, &format!("{c2}/Groups"), None).await;
        assert_eq!((st, l["totalResults"].as_i64()), (200, Some(0)));
        let (st, _) = scim(
            &s,
            &secret2,
            Method::GET,
            &format!("{c2}/Groups/{gid}"),
            None,
        )
        .await;
        assert_eq!(st, 404);

        // PATCH: remove one member, rename; then add back.
        let patch = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "remove", "path": format!("members[value eq \"{u1}\"]")},
                {"op": "replace", "value": {"displayName": "Eng"}},
            ],
        });
        let (st, g) = scim(
            &s,
            &secret,
            Method::PATCH,
            &format!("{groups_path}/{gid}"),
            Some(patch),
        )
        .await;
        assert_eq!(st, 200, "{g}");
        assert_eq!(g["displayName"], "Eng");
        assert_eq!(g["members"], json!([{"value": u2, "type": "User"}]));
        let v = get(&s, &t, &format!("/users/{}/groups", enc(&u1))).await;
        assert_eq!(v, json!([]));
        // A PATCH naming an unknown member changes nothing.
        let patch = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "replace", "path": "displayName", "value": "Renamed"},
                {"op": "add", "path": "members", "value": [{"value": "auth0|nobody"}]},
            ],
        });
        let (st, _) = scim(
            &s,
            &secret,
            Method::PATCH,
            &format!("{groups_path}/{gid}"),
            Some(patch),
        )
        .await;
        assert_eq!(st, 400);
        let v = get(&s, &t, &format!("/groups/{gid}")).await;
        assert_eq!(v["name"], "Eng");

        // PUT replaces name, external id and members.
        let (st, g) = scim(
            &s,
            &secret,
            Method::PUT,
            &format!("{groups_path}/{gid}"),
            Some(json!({"displayName": "Platform", "members": [{"value": u1}]})),
        )
        .await;
        assert_eq!(st, 200, "{g}");
        assert!(g.get("externalId").is_none());
        assert_eq!(g["members"], json!([{"value": u1, "type": "User"}]));
        let v = get(&s, &t, &format!("/groups/{gid}/members")).await;
        assert_eq!(v["members"][0]["id"], u1);
        assert_eq!(v["members"].as_array().unwrap().len(), 1);

        // DELETE.
        let (st, _) = scim(
            &s,
            &secret,
            Method::DELETE,
            &format!("{groups_path}/{gid}"),
            None,
        )
        .await;
        assert_eq!(st, 204);
        let (st, _) = scim(
            &s,
            &secret,
            Method::GET,
            &format!("{groups_path}/{gid}"),
            None,
        )
        .await;
        assert_eq!(st, 404);
        let (st, _) = call(&s, &t, Method::GET, &format!("/groups/{gid}"), None).await;
        assert_eq!(st, 404);
    }
}
