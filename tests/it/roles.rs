//! Tag `roles`, and users' roles and permissions: what the scenario files (`roles_lifecycle`,
//! `role_permissions`, `role_users`, `user_roles_and_permissions`) cannot show — ids' form,
//! exact replies, paging over many users, order-free sets, cascades seen in the database,
//! all-or-nothing writes and concurrent assignments.

use std::collections::BTreeSet;

use gatehouse_store::Db;
use gatehouse_testkit::{Backend, TestServer, backends, spawn::call, spawn_on};
use reqwest::Method;
use serde_json::{Value, json};

const API: &str = "https://api.example.com/roles-test";

fn enc(id: &str) -> String {
    id.replace('|', "%7C")
}

async fn new_role(s: &TestServer, t: &str, name: &str) -> String {
    let (st, r) = call(s, t, Method::POST, "/roles", Some(json!({"name": name}))).await;
    assert_eq!(st, 200, "{r}");
    r["id"].as_str().unwrap().to_owned()
}

async fn new_user(s: &TestServer, t: &str, n: usize) -> String {
    let (st, u) = call(
        s,
        t,
        Method::POST,
        "/users",
        Some(json!({"connection": "Username-Password-Authentication", "email": format!("user{n}@example.com"), "password": "Correct-Horse-9-Battery"})),
    )
    .await;
    assert_eq!(st, 201, "{u}");
    u["user_id"].as_str().unwrap().to_owned()
}

/// An API with the scopes `read:x`, `write:x`, `admin:x`.
async fn new_api(s: &TestServer, t: &str) {
    let (st, rs) = call(
        s,
        t,
        Method::POST,
        "/resource-servers",
        Some(
            json!({"identifier": API, "name": "Roles Test API", "scopes": [
                {"value": "read:x", "description": "Read X"},
                {"value": "write:x", "description": "Write X"},
                {"value": "admin:x", "description": "Administer X"}
            ]}),
        ),
    )
    .await;
    assert_eq!(st, 201, "{rs}");
}

fn perm(name: &str) -> Value {
    json!({"resource_server_identifier": API, "permission_name": name})
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v[key].as_str().unwrap().to_owned())
        .collect()
}

async fn count(db: &Db, sql: &str) -> i64 {
    db.query_opt(&format!("SELECT COUNT(*) AS n FROM {sql}"), vec![])
        .await
        .unwrap()
        .unwrap()
        .i64("n")
        .unwrap()
}

fn tenant_of(s: &TestServer) -> String {
    s.running
        .as_ref()
        .unwrap()
        .state
        .tenant_for_host(None)
        .id
        .clone()
}

/// What the scenarios (`roles_lifecycle.yaml`, `role_permissions.yaml`, `role_users.yaml`,
/// `user_roles_and_permissions.yaml`) cannot show: the id's form, and replies that must be
/// exactly so (a scenario matches a subset).
#[tokio::test]
async fn ids_and_exact_replies() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        new_api(&s, &t).await;
        let (st, r) = call(
            &s,
            &t,
            Method::POST,
            "/roles",
            Some(json!({"name": "Reader"})),
        )
        .await;
        assert_eq!(st, 200, "{r}");
        let id = r["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("rol_") && id.len() == 20, "{id}");
        assert_eq!(
            r,
            json!({"id": id, "name": "Reader", "description": null, "type": "tenant"})
        );
        let u = enc(&new_user(&s, &t, 1).await);
        let cases = [
            (
                Method::GET,
                format!("/roles/{id}"),
                None,
                200,
                json!({"id": id, "name": "Reader", "description": "", "type": "tenant"}),
            ),
            (
                Method::POST,
                format!("/roles/{id}/permissions"),
                Some(json!({"permissions": [perm("read:x")]})),
                201,
                json!({}),
            ),
            (
                Method::POST,
                format!("/roles/{id}/users"),
                Some(json!({"users": [new_user(&s, &t, 2).await]})),
                200,
                json!({}),
            ),
            (
                Method::POST,
                format!("/users/{u}/permissions"),
                Some(json!({"permissions": [perm("read:x")]})),
                201,
                json!({}),
            ),
            (Method::DELETE, format!("/roles/{id}"), None, 200, json!({})),
        ];
        for (m, path, body, status, want) in cases {
            let got = call(&s, &t, m.clone(), &path, body).await;
            assert_eq!(got, (status, want), "{m} {path}");
        }
    }
}

/// Pages of a role's users, ordered by user id: offset pages and checkpoint pages of every
/// size walk the same order (the rest of `role_users.yaml`).
#[tokio::test]
async fn users_of_a_role_page_by_offset_and_checkpoint() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let role = new_role(&s, &t, "Member").await;
        let mut users = Vec::new();
        for n in 0..7 {
            users.push(new_user(&s, &t, n).await);
        }
        let path = format!("/roles/{role}/users");
        let (st, _) = call(&s, &t, Method::POST, &path, Some(json!({"users": users}))).await;
        assert_eq!(st, 200);
        let mut sorted = users.clone();
        sorted.sort();

        // Offset pages.
        let (st, p) = call(
            &s,
            &t,
            Method::GET,
            &format!("{path}?include_totals=true&per_page=3&page=2"),
            None,
        )
        .await;
        assert_eq!(st, 200);
        assert_eq!(p["total"], 7);
        assert_eq!(names(&p["users"], "user_id"), sorted[6..]);
        let first = &p["users"][0];
        let n = users.iter().position(|u| *u == sorted[6]).unwrap();
        assert_eq!(first["email"], format!("user{n}@example.com"));
        assert!(
            first["picture"].is_string() && first["name"].is_string(),
            "{first}"
        );

        // Checkpoint pages to the end: every user once, in order; no `next` on the last page.
        for take in [1usize, 3, 7, 100] {
            let mut seen = Vec::new();
            let mut from: Option<String> = None;
            loop {
                let q = match &from {
                    Some(f) => format!("{path}?take={take}&from={f}"),
                    None => format!("{path}?take={take}"),
                };
                let (st, page) = call(&s, &t, Method::GET, &q, None).await;
                assert_eq!(st, 200, "{page}");
                let got = names(&page["users"], "user_id");
                assert!(got.len() <= take);
                seen.extend(got);
                match page.get("next").and_then(Value::as_str) {
                    Some(n) => from = Some(n.to_owned()),
                    None => break,
                }
            }
            assert_eq!(seen, sorted, "take={take}");
        }
        // `take` with the offset parameters the Terraform provider sends: checkpoint wins.
        let (st, page) = call(
            &s,
            &t,
            Method::GET,
            &format!("{path}?include_totals=true&per_page=50&take=100"),
            None,
        )
        .await;
        assert_eq!(st, 200);
        assert_eq!(names(&page["users"], "user_id"), sorted);
        assert!(page.get("next").is_none() && page.get("total").is_none());
    }
}

/// A permission a user has directly and from two roles lists each source once; the roles'
/// order is their ids', so the set is compared (the rest is `user_roles_and_permissions.yaml`).
#[tokio::test]
async fn a_permission_from_several_sources() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        new_api(&s, &t).await;
        let reader = new_role(&s, &t, "Reader").await;
        let writer = new_role(&s, &t, "Writer").await;
        let u = enc(&new_user(&s, &t, 1).await);
        for (m, path, body) in [
            (
                Method::POST,
                format!("/roles/{reader}/permissions"),
                json!({"permissions": [perm("read:x")]}),
            ),
            (
                Method::POST,
                format!("/roles/{writer}/permissions"),
                json!({"permissions": [perm("read:x")]}),
            ),
            (
                Method::POST,
                format!("/users/{u}/roles"),
                json!({"roles": [writer, reader]}),
            ),
            (
                Method::POST,
                format!("/users/{u}/permissions"),
                json!({"permissions": [perm("read:x")]}),
            ),
        ] {
            let (st, v) = call(&s, &t, m, &path, Some(body)).await;
            assert!(st < 300, "{path}: {v}");
        }
        let (st, perms) = call(
            &s,
            &t,
            Method::GET,
            &format!("/users/{u}/permissions"),
            None,
        )
        .await;
        assert_eq!(st, 200);
        assert_eq!(names(&perms, "permission_name"), ["read:x"]);
        let sources: BTreeSet<String> = perms[0]["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(Value::to_string)
            .collect();
        let want: BTreeSet<String> = [
            json!({"source_id": "", "source_name": "", "source_type": "DIRECT"}),
            json!({"source_id": reader, "source_name": "Reader", "source_type": "ROLE"}),
            json!({"source_id": writer, "source_name": "Writer", "source_type": "ROLE"}),
        ]
        .iter()
        .map(Value::to_string)
        .collect();
        assert_eq!(sources, want);
    }
}

#[tokio::test]
async fn deletes_take_what_hung_on_them() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = Db::connect(&s.db.url).await.unwrap();
        let tenant = tenant_of(&s);
        new_api(&s, &t).await;
        let role = new_role(&s, &t, "Doomed").await;
        let keep = new_role(&s, &t, "Kept").await;
        let (a, bb) = (new_user(&s, &t, 1).await, new_user(&s, &t, 2).await);
        for r in [&role, &keep] {
            call(
                &s,
                &t,
                Method::POST,
                &format!("/roles/{r}/permissions"),
                Some(json!({"permissions": [perm("read:x"), perm("write:x")]})),
            )
            .await;
            call(
                &s,
                &t,
                Method::POST,
                &format!("/roles/{r}/users"),
                Some(json!({"users": [a, bb]})),
            )
            .await;
        }
        call(
            &s,
            &t,
            Method::POST,
            &format!("/users/{}/permissions", enc(&a)),
            Some(json!({"permissions": [perm("write:x"), perm("admin:x")]})),
        )
        .await;
        // An organization member's role and membership (written as the organizations family does).
        let rows: [(&str, Vec<gatehouse_store::P>); 2] = [
            (
                "INSERT INTO user_roles (tenant_id, user_id, organization_id, role_id, seq) VALUES ($1, $2, 'org_1', $3, 1)",
                vec![tenant.clone().into(), a.clone().into(), role.clone().into()],
            ),
            (
                "INSERT INTO organization_members (tenant_id, organization_id, user_id, seq, created_at) VALUES ($1, 'org_1', $2, 1, 'now')",
                vec![tenant.clone().into(), a.clone().into()],
            ),
        ];
        for (sql, ps) in rows {
            db.execute(sql, ps).await.unwrap();
        }
        assert_eq!(count(&db, "user_roles").await, 5);

        // Deleting a role: its permissions and every assignment, organization ones included.
        let (st, _) = call(&s, &t, Method::DELETE, &format!("/roles/{role}"), None).await;
        assert_eq!(st, 200);
        assert_eq!(
            count(&db, &format!("role_permissions WHERE role_id = '{role}'")).await,
            0
        );
        assert_eq!(
            count(&db, &format!("user_roles WHERE role_id = '{role}'")).await,
            0
        );
        assert_eq!(count(&db, "user_roles").await, 2);

        // A resource server PATCH that drops a scope: that permission goes from roles and users.
        let (st, _) = call(
            &s,
            &t,
            Method::PATCH,
            &format!("/resource-servers/{}", API.replace('/', "%2F")),
            Some(json!({"scopes": [{"value": "read:x"}, {"value": "admin:x"}]})),
        )
        .await;
        assert_eq!(st, 200);
        assert_eq!(
            count(&db, "role_permissions WHERE permission_name = 'write:x'").await,
            0
        );
        assert_eq!(
            count(&db, "user_permissions WHERE permission_name = 'write:x'").await,
            0
        );
        assert_eq!(count(&db, "role_permissions").await, 1);
        assert_eq!(count(&db, "user_permissions").await, 1);

        // Deleting a user: its roles, direct permissions and memberships.
        let (st, _) = call(&s, &t, Method::DELETE, &format!("/users/{}", enc(&a)), None).await;
        assert_eq!(st, 204);
        for table in ["user_roles", "user_permissions", "organization_members"] {
            assert_eq!(
                count(&db, &format!("{table} WHERE user_id = '{a}'")).await,
                0,
                "{table}"
            );
        }
        let (_, users) = call(&s, &t, Method::GET, &format!("/roles/{keep}/users"), None).await;
        assert_eq!(names(&users, "user_id"), std::slice::from_ref(&bb));

        // Deleting the API: every permission of it.
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/resource-servers/{}", API.replace('/', "%2F")),
            None,
        )
        .await;
        assert_eq!(st, 204);
        assert_eq!(count(&db, "role_permissions").await, 0);
        assert_eq!(count(&db, "user_permissions").await, 0);
    }
}

/// A trigger that fails the write of one row, to break a multi-row write half-way.
async fn break_writes(db: &Db, b: &Backend, table: &str, event: &str, column: &str, value: &str) {
    let row = if event == "DELETE" { "OLD" } else { "NEW" };
    match b {
        Backend::Sqlite => {
            db.execute(
                &format!("CREATE TRIGGER boom BEFORE {event} ON {table} WHEN {row}.{column} = '{value}' BEGIN SELECT RAISE(ABORT, 'boom'); END"),
                vec![],
            )
            .await
            .unwrap();
        }
        Backend::Postgres(_) => {
            db.execute(
                &format!("CREATE OR REPLACE FUNCTION boom() RETURNS trigger AS $$ BEGIN IF {row}.{column} = '{value}' THEN RAISE EXCEPTION 'boom'; END IF; RETURN {row}; END $$ LANGUAGE plpgsql"),
                vec![],
            )
            .await
            .unwrap();
            db.execute(
                &format!("CREATE TRIGGER boom BEFORE {event} ON {table} FOR EACH ROW EXECUTE FUNCTION boom()"),
                vec![],
            )
            .await
            .unwrap();
        }
    }
}

async fn unbreak(db: &Db, b: &Backend, table: &str) {
    let sql = match b {
        Backend::Sqlite => "DROP TRIGGER boom".to_owned(),
        Backend::Postgres(_) => format!("DROP TRIGGER boom ON {table}"),
    };
    db.execute(&sql, vec![]).await.unwrap();
}

#[tokio::test]
async fn failed_writes_leave_nothing_half_done() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = Db::connect(&s.db.url).await.unwrap();
        new_api(&s, &t).await;
        let role = new_role(&s, &t, "Fragile").await;
        let mut users = Vec::new();
        for n in 0..3 {
            users.push(new_user(&s, &t, n).await);
        }
        call(
            &s,
            &t,
            Method::POST,
            &format!("/roles/{role}/permissions"),
            Some(json!({"permissions": [perm("read:x")]})),
        )
        .await;

        // Assigning three users, the last of whose rows cannot be written: nobody is assigned.
        break_writes(&db, &b, "user_roles", "INSERT", "user_id", &users[2]).await;
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            &format!("/roles/{role}/users"),
            Some(json!({"users": users})),
        )
        .await;
        assert_eq!(st, 500);
        unbreak(&db, &b, "user_roles").await;
        assert_eq!(count(&db, "user_roles").await, 0);
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            &format!("/roles/{role}/users"),
            Some(json!({"users": users})),
        )
        .await;
        assert_eq!(st, 200);

        // Deleting the role when one of its assignments cannot be removed: the role, its
        // permissions and all its assignments stay.
        break_writes(&db, &b, "user_roles", "DELETE", "user_id", &users[1]).await;
        let (st, _) = call(&s, &t, Method::DELETE, &format!("/roles/{role}"), None).await;
        assert_eq!(st, 500);
        unbreak(&db, &b, "user_roles").await;
        let (st, _) = call(&s, &t, Method::GET, &format!("/roles/{role}"), None).await;
        assert_eq!(st, 200);
        assert_eq!(count(&db, "user_roles").await, 3);
        assert_eq!(count(&db, "role_permissions").await, 1);

        // Deleting a user whose membership rows cannot be removed: the user keeps everything.
        let u = &users[0];
        break_writes(&db, &b, "user_permissions", "DELETE", "user_id", u).await;
        call(
            &s,
            &t,
            Method::POST,
            &format!("/users/{}/permissions", enc(u)),
            Some(json!({"permissions": [perm("write:x")]})),
        )
        .await;
        let (st, _) = call(&s, &t, Method::DELETE, &format!("/users/{}", enc(u)), None).await;
        assert_eq!(st, 500);
        unbreak(&db, &b, "user_permissions").await;
        let (st, _) = call(&s, &t, Method::GET, &format!("/users/{}", enc(u)), None).await;
        assert_eq!(st, 200);
        assert_eq!(
            count(&db, &format!("user_roles WHERE user_id = '{u}'")).await,
            1
        );
    }
}

#[tokio::test]
async fn concurrent_overlapping_assignments_all_succeed() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let mut roles = Vec::new();
        for n in 0..4 {
            roles.push(new_role(&s, &t, &format!("Role {n}")).await);
        }
        let user = new_user(&s, &t, 1).await;
        let path = format!("/users/{}/roles", enc(&user));
        // 16 requests, each with an overlapping pair of the four roles.
        let reqs = (0..16).map(|i| {
            let body = json!({"roles": [roles[i % 4], roles[(i + 1) % 4]]});
            let (s, t, path) = (&s, &t, &path);
            async move { call(s, t, Method::POST, path, Some(body)).await.0 }
        });
        let statuses = futures::future::join_all(reqs).await;
        assert!(
            statuses.iter().all(|st| *st == 204),
            "{}: {statuses:?}",
            b.name()
        );
        // And the same role to many users at once, overlapping.
        let mut users = vec![user.clone()];
        for n in 2..6 {
            users.push(new_user(&s, &t, n).await);
        }
        let reqs = (0..8).map(|i| {
            let body = json!({"users": [users[i % 5], users[(i + 2) % 5]]});
            let (s, t, role) = (&s, &t, &roles[0]);
            async move {
                call(
                    s,
                    t,
                    Method::POST,
                    &format!("/roles/{role}/users"),
                    Some(body),
                )
                .await
                .0
            }
        });
        let statuses = futures::future::join_all(reqs).await;
        assert!(
            statuses.iter().all(|st| *st == 200),
            "{}: {statuses:?}",
            b.name()
        );
        let (_, got) = call(&s, &t, Method::GET, &format!("{path}?per_page=100"), None).await;
        assert_eq!(got.as_array().unwrap().len(), 4);
        let (_, got) = call(
            &s,
            &t,
            Method::GET,
            &format!("/roles/{}/users?per_page=100", roles[0]),
            None,
        )
        .await;
        assert_eq!(got.as_array().unwrap().len(), 5);
    }
}
