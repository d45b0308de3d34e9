//! Tag `organizations` and `GET /users/{id}/organizations`: what the scenario files
//! (`organizations_lifecycle`, `organization_member_roles`, `organization_connections`,
//! `organization_client_grants`, `organization_invitations`, `discovery_domains`,
//! `organizations_bad_input`) cannot show — ids' form, exact replies, paging over many members,
//! rows left in the database, the stored token hash, and a delete rolled back half-way.

use gatehouse_store::{Db, params, roles, tenants::DEFAULT_TENANT};
use gatehouse_testkit::{Backend, TestServer, backends, spawn::call, spawn_on};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn enc(id: &str) -> String {
    id.replace('|', "%7C")
}

async fn org(s: &TestServer, t: &str, name: &str) -> String {
    let (st, o) = call(
        s,
        t,
        Method::POST,
        "/organizations",
        Some(json!({"name": name, "display_name": format!("{name} Inc.")})),
    )
    .await;
    assert_eq!(st, 201, "{o}");
    o["id"].as_str().unwrap().to_owned()
}

async fn user(s: &TestServer, t: &str, email: &str) -> String {
    let (st, u) = call(
        s,
        t,
        Method::POST,
        "/users",
        Some(json!({"connection": "Username-Password-Authentication", "email": email, "password": "Correct-Horse-9-Battery!"})),
    )
    .await;
    assert_eq!(st, 201, "{u}");
    u["user_id"].as_str().unwrap().to_owned()
}

async fn count(db: &Db, table: &str, org: &str) -> i64 {
    db.query_opt(
        &format!("SELECT COUNT(*) AS n FROM {table} WHERE tenant_id = $1 AND organization_id = $2"),
        params![DEFAULT_TENANT, org],
    )
    .await
    .unwrap()
    .unwrap()
    .i64("n")
    .unwrap()
}

async fn role(db: &Db, name: &str) -> String {
    let id = format!("rol_{}", &name.replace(' ', "")[..name.len().min(8)]);
    let now = "2026-01-01T00:00:00.000Z".to_owned();
    roles::insert(
        db,
        DEFAULT_TENANT,
        &roles::RoleRow {
            id: id.clone(),
            name: name.to_owned(),
            owner_id: String::new(),
            body: json!({"id": id, "name": name, "description": format!("{name} role")}),
            created_at: now.clone(),
            updated_at: now,
        },
    )
    .await
    .unwrap();
    id
}

/// What the scenarios (`organizations_lifecycle.yaml`, `discovery_domains.yaml`) cannot show:
/// ids' form, a read equal to the creation's reply, the verification text's length.
#[tokio::test]
async fn ids_and_exact_replies() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let (st, o) = call(
            &s,
            &t,
            Method::POST,
            "/organizations",
            Some(json!({"name": "acme", "display_name": "Acme", "metadata": {"tier": "gold"},
                "token_quota": {"client_credentials": {"enforce": true, "per_day": 20, "per_hour": 2}}})),
        )
        .await;
        assert_eq!(st, 201, "{o}");
        let id = o["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("org_") && id.len() == 20, "{id}");
        let (st, g) = call(&s, &t, Method::GET, &format!("/organizations/{id}"), None).await;
        assert_eq!((st, &g), (200, &o));

        let (st, d) = call(
            &s,
            &t,
            Method::POST,
            &format!("/organizations/{id}/discovery-domains"),
            Some(json!({"domain": "acme.example.com"})),
        )
        .await;
        assert_eq!(st, 201, "{d}");
        let did = d["id"].as_str().unwrap();
        assert!(did.starts_with("ord_") && did.len() == 26, "{did}");
        assert_eq!(d["verification_txt"].as_str().unwrap().len(), 32, "{d}");
    }
}

/// Many members, added at once (so ordered by user id): checkpoint pages to the end and offset
/// pages; a refused addition and a removal leave no rows (the rest is
/// `organization_member_roles.yaml`).
#[tokio::test]
async fn members_page_to_the_end() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = Db::connect(&s.db.url).await.unwrap();
        let o = org(&s, &t, "members").await;
        let mut ids = Vec::new();
        for i in 0..7 {
            ids.push(user(&s, &t, &format!("m{i}@example.com")).await);
        }
        let mpath = format!("/organizations/{o}/members");
        let (st, e) = call(
            &s,
            &t,
            Method::POST,
            &mpath,
            Some(json!({"members": [ids[0], "auth0|nobody"]})),
        )
        .await;
        assert_eq!(st, 400, "{e}");
        assert_eq!(
            count(&db, "organization_members", &o).await,
            0,
            "nothing half-added"
        );
        let (st, _) = call(&s, &t, Method::POST, &mpath, Some(json!({"members": ids}))).await;
        assert_eq!(st, 204);

        let mut seen = Vec::new();
        let mut q = format!("{mpath}?take=3");
        loop {
            let (st, page) = call(&s, &t, Method::GET, &q, None).await;
            assert_eq!(st, 200, "{page}");
            let items = page["members"].as_array().unwrap();
            for m in items {
                assert!(
                    m["email"].as_str().unwrap().ends_with("@example.com"),
                    "{m}"
                );
                seen.push(m["user_id"].as_str().unwrap().to_owned());
            }
            match page.get("next").and_then(Value::as_str) {
                Some(n) => {
                    assert!(!items.is_empty());
                    q = format!("{mpath}?take=3&from={n}");
                }
                None => break,
            }
        }
        let mut want = ids.clone();
        want.sort();
        assert_eq!(seen, want);

        let (_, l) = call(
            &s,
            &t,
            Method::GET,
            &format!("{mpath}?include_totals=true&per_page=5&page=1&fields=user_id"),
            None,
        )
        .await;
        assert_eq!(l["total"], 7);
        assert_eq!(l["members"].as_array().unwrap().len(), 2);
        assert_eq!(l["members"][0], json!({"user_id": want[5]}));

        // Removing a member removes its roles in the organization.
        let r = role(&db, "reader").await;
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            &format!("{mpath}/{}/roles", enc(&ids[0])),
            Some(json!({"roles": [r]})),
        )
        .await;
        assert_eq!(st, 204);
        assert_eq!(count(&db, "user_roles", &o).await, 1);
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &mpath,
            Some(json!({"members": [ids[0]]})),
        )
        .await;
        assert_eq!(st, 204);
        assert_eq!(count(&db, "user_roles", &o).await, 0);
        assert_eq!(count(&db, "organization_members", &o).await, 6);
    }
}

/// Deleting a connection or a client grant leaves no row of it in the organization (the
/// replies are in `organization_connections.yaml` and `organization_client_grants.yaml`).
#[tokio::test]
async fn removals_leave_no_rows() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = Db::connect(&s.db.url).await.unwrap();
        let o = org(&s, &t, "rows").await;
        let mut conns = Vec::new();
        for (name, strategy) in [("db-conn", "auth0"), ("gh", "github")] {
            let (st, c) = call(
                &s,
                &t,
                Method::POST,
                "/connections",
                Some(json!({"name": name, "strategy": strategy})),
            )
            .await;
            assert_eq!(st, 201, "{c}");
            let id = c["id"].as_str().unwrap().to_owned();
            let (st, v) = call(
                &s,
                &t,
                Method::POST,
                &format!("/organizations/{o}/connections"),
                Some(json!({"connection_id": id, "is_enabled": strategy == "auth0"})),
            )
            .await;
            assert_eq!(st, 201, "{v}");
            conns.push(id);
        }
        assert_eq!(count(&db, "organization_connections", &o).await, 2);
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/connections/{}", conns[1]),
            None,
        )
        .await;
        assert_eq!(st, 202);
        assert_eq!(count(&db, "organization_connections", &o).await, 1);
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/organizations/{o}/enabled_connections/{}", conns[0]),
            None,
        )
        .await;
        assert_eq!(st, 204);
        assert_eq!(count(&db, "organization_connections", &o).await, 0);

        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            "/resource-servers",
            Some(json!({"identifier": "https://api.grants/"})),
        )
        .await;
        assert_eq!(st, 201);
        let (_, c) = call(
            &s,
            &t,
            Method::POST,
            "/clients",
            Some(json!({"name": "m2m"})),
        )
        .await;
        let (st, g) = call(&s, &t, Method::POST, "/client-grants", Some(json!({"client_id": c["client_id"], "audience": "https://api.grants/", "scope": [], "organization_usage": "allow"}))).await;
        assert_eq!(st, 201, "{g}");
        let gid = g["id"].as_str().unwrap().to_owned();
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            &format!("/organizations/{o}/client-grants"),
            Some(json!({"grant_id": gid})),
        )
        .await;
        assert_eq!(st, 201, "{v}");
        assert_eq!(count(&db, "organization_client_grants", &o).await, 1);
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/client-grants/{gid}"),
            None,
        )
        .await;
        assert_eq!(st, 204);
        assert_eq!(count(&db, "organization_client_grants", &o).await, 0);
    }
}

/// The invitation URL carries a token of at least 128 bits, of which only the hash is stored;
/// the default time to live is 7 days (the rest is `organization_invitations.yaml`).
#[tokio::test]
async fn invitations_keep_only_the_token_hash() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = Db::connect(&s.db.url).await.unwrap();
        let o = org(&s, &t, "inviting").await;
        let (_, c) = call(
            &s,
            &t,
            Method::POST,
            "/clients",
            Some(json!({"name": "spa", "organization_usage": "allow", "initiate_login_uri": "https://app.example.com/login"})),
        )
        .await;
        let cid = c["client_id"].as_str().unwrap().to_owned();
        let path = format!("/organizations/{o}/invitations");
        let inv = json!({"inviter": {"name": "Jane"}, "invitee": {"email": "joe@example.com"}, "client_id": cid});
        let (st, v) = call(&s, &t, Method::POST, &path, Some(inv)).await;
        assert_eq!(st, 201, "{v}");
        let url = v["invitation_url"].as_str().unwrap();
        let prefix = "https://app.example.com/login?invitation=";
        assert!(url.starts_with(prefix), "{url}");
        let (token, rest) = url[prefix.len()..].split_once('&').unwrap();
        assert_eq!(rest, format!("organization={o}&organization_name=inviting"));
        assert!(token.len() >= 22, "≥128 bits: {token}");
        let iid = v["id"].as_str().unwrap().to_owned();
        assert!(iid.starts_with("uinv_"));
        let ttl = time::OffsetDateTime::parse(
            v["expires_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
            - time::OffsetDateTime::parse(
                v["created_at"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap();
        assert_eq!(ttl.whole_seconds(), 604_800, "the default is 7 days");

        // Stored: the hash only.
        let r = db
            .query_opt(
                "SELECT ticket_hash, body FROM organization_invitations WHERE id = $1",
                params![&iid],
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            r.text("ticket_hash").unwrap(),
            hex::encode(Sha256::digest(token.as_bytes()))
        );
        assert!(!r.json("body").unwrap().to_string().contains(token));
        let dump = db
            .query("SELECT * FROM organization_invitations", vec![])
            .await
            .unwrap();
        assert!(!format!("{dump:?}").contains(token));
    }
}

/// Makes every DELETE of the discovery domains of `org` fail inside the database.
async fn break_domain_deletes(db: &Db, b: &Backend) {
    match b {
        Backend::Sqlite => {
            db.execute("CREATE TRIGGER no_delete BEFORE DELETE ON organization_discovery_domains BEGIN SELECT RAISE(ABORT, 'boom'); END", vec![]).await.unwrap();
        }
        Backend::Postgres(_) => {
            db.execute("CREATE FUNCTION no_delete() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$ LANGUAGE plpgsql", vec![]).await.unwrap();
            db.execute("CREATE TRIGGER no_delete BEFORE DELETE ON organization_discovery_domains FOR EACH ROW EXECUTE FUNCTION no_delete()", vec![]).await.unwrap();
        }
    }
}

#[tokio::test]
async fn delete_cascades_in_one_transaction() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = Db::connect(&s.db.url).await.unwrap();
        let o = org(&s, &t, "cascade").await;
        let u = user(&s, &t, "c@example.com").await;
        let r = role(&db, "cascader").await;
        let (_, c) = call(
            &s,
            &t,
            Method::POST,
            "/connections",
            Some(json!({"name": "cdb", "strategy": "auth0"})),
        )
        .await;
        let con = c["id"].as_str().unwrap().to_owned();
        call(
            &s,
            &t,
            Method::POST,
            &format!("/organizations/{o}/members"),
            Some(json!({"members": [u]})),
        )
        .await;
        call(
            &s,
            &t,
            Method::POST,
            &format!("/organizations/{o}/members/{}/roles", enc(&u)),
            Some(json!({"roles": [r]})),
        )
        .await;
        call(
            &s,
            &t,
            Method::POST,
            &format!("/organizations/{o}/enabled_connections"),
            Some(json!({"connection_id": con})),
        )
        .await;
        call(
            &s,
            &t,
            Method::POST,
            &format!("/organizations/{o}/discovery-domains"),
            Some(json!({"domain": "cascade.example.com"})),
        )
        .await;
        let tables = [
            "organization_members",
            "user_roles",
            "organization_connections",
            "organization_discovery_domains",
        ];
        for table in tables {
            assert_eq!(count(&db, table, &o).await, 1, "{table}");
        }

        // A failure half-way through the delete leaves everything as it was.
        break_domain_deletes(&db, &b).await;
        let (st, _) = call(&s, &t, Method::DELETE, &format!("/organizations/{o}"), None).await;
        assert_eq!(st, 500);
        for table in tables {
            assert_eq!(count(&db, table, &o).await, 1, "{table} after the rollback");
        }
        let (st, _) = call(&s, &t, Method::GET, &format!("/organizations/{o}"), None).await;
        assert_eq!(st, 200);
        let drop = match b {
            Backend::Sqlite => "DROP TRIGGER no_delete",
            Backend::Postgres(_) => "DROP TRIGGER no_delete ON organization_discovery_domains",
        };
        db.execute(drop, vec![]).await.unwrap();

        let (st, _) = call(&s, &t, Method::DELETE, &format!("/organizations/{o}"), None).await;
        assert_eq!(st, 204);
        for table in tables {
            assert_eq!(count(&db, table, &o).await, 0, "{table}");
        }
        // The user and the role are still there; only what hung on the organization went.
        let (st, _) = call(&s, &t, Method::GET, &format!("/users/{}", enc(&u)), None).await;
        assert_eq!(st, 200);
        assert!(
            roles::find(&db, DEFAULT_TENANT, &r)
                .await
                .unwrap()
                .is_some()
        );
    }
}
