//! Tag `organizations` and `GET /users/{id}/organizations`.

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

#[tokio::test]
async fn lifecycle_and_name_rules() {
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
        assert_eq!(o["metadata"], json!({"tier": "gold"}));

        let path = format!("/organizations/{id}");
        let (st, g) = call(&s, &t, Method::GET, &path, None).await;
        assert_eq!((st, &g), (200, &o));
        let (st, g) = call(&s, &t, Method::GET, "/organizations/name/acme", None).await;
        assert_eq!((st, g["id"].as_str()), (200, Some(id.as_str())));

        // Duplicate names, and Auth0's name rules (lowercase, 1–50 of [a-z0-9_-]).
        let (st, e) = call(
            &s,
            &t,
            Method::POST,
            "/organizations",
            Some(json!({"name": "acme"})),
        )
        .await;
        assert_eq!(st, 409, "{e}");
        for (name, want) in [
            ("Acme", 400),
            ("a b", 400),
            ("a.b", 400),
            ("ü", 400),
            (&"x".repeat(51) as &str, 400),
            ("", 400),
            ("0-under_score", 201),
            (&"y".repeat(50), 201),
        ] {
            let (st, e) = call(
                &s,
                &t,
                Method::POST,
                "/organizations",
                Some(json!({"name": name})),
            )
            .await;
            assert_eq!(st, want, "{name}: {e}");
            if want == 400 {
                assert_eq!(e["errorCode"], "invalid_body", "{e}");
            }
        }

        // PATCH: metadata is replaced, `{}` removes it, token_quota null removes it.
        let (st, p) = call(
            &s,
            &t,
            Method::PATCH,
            &path,
            Some(json!({"metadata": {"a": "1"}, "branding": {"logo_url": "https://x/l.png"}})),
        )
        .await;
        assert_eq!(st, 200, "{p}");
        assert_eq!(p["metadata"], json!({"a": "1"}));
        let (_, p) = call(
            &s,
            &t,
            Method::PATCH,
            &path,
            Some(json!({"metadata": {}, "token_quota": null})),
        )
        .await;
        assert!(
            p.get("metadata").is_none() && p.get("token_quota").is_none(),
            "{p}"
        );
        assert_eq!(p["branding"]["logo_url"], "https://x/l.png");
        let (st, e) = call(
            &s,
            &t,
            Method::PATCH,
            &path,
            Some(json!({"name": "0-under_score"})),
        )
        .await;
        assert_eq!(st, 409, "{e}");
        let (st, e) = call(
            &s,
            &t,
            Method::PATCH,
            &path,
            Some(json!({"metadata": {"k".repeat(256): "v"}})),
        )
        .await;
        assert_eq!(st, 400, "{e}");
        let (st, p) = call(
            &s,
            &t,
            Method::PATCH,
            &path,
            Some(json!({"name": "acme-2"})),
        )
        .await;
        assert_eq!((st, p["name"].as_str()), (200, Some("acme-2")));

        // Lists: offset with totals, and checkpoint pages to the end.
        let (_, l) = call(
            &s,
            &t,
            Method::GET,
            "/organizations?include_totals=true&per_page=2",
            None,
        )
        .await;
        assert_eq!(
            (
                l["total"].as_i64(),
                l["organizations"].as_array().unwrap().len()
            ),
            (Some(3), 2)
        );
        let (_, l) = call(&s, &t, Method::GET, "/organizations?sort=name:-1", None).await;
        assert_eq!(l[0]["name"], "y".repeat(50));
        let mut seen = Vec::new();
        let mut q = "/organizations?take=2".to_owned();
        loop {
            let (st, page) = call(&s, &t, Method::GET, &q, None).await;
            assert_eq!(st, 200, "{page}");
            for o in page["organizations"].as_array().unwrap() {
                seen.push(o["id"].as_str().unwrap().to_owned());
            }
            match page.get("next").and_then(Value::as_str) {
                Some(n) => q = format!("/organizations?take=2&from={n}"),
                None => break,
            }
        }
        assert_eq!(seen.len(), 3);
        let (st, e) = call(&s, &t, Method::GET, "/organizations?take=2&from=!!", None).await;
        assert_eq!(st, 400, "{e}");

        let (st, _) = call(&s, &t, Method::DELETE, &path, None).await;
        assert_eq!(st, 204);
        for (m, p) in [
            (Method::GET, path.clone()),
            (Method::DELETE, path.clone()),
            (Method::GET, "/organizations/name/acme-2".to_owned()),
        ] {
            let (st, e) = call(&s, &t, m, &p, None).await;
            assert_eq!(st, 404);
            assert_eq!(e["message"], "No organization found by that id or name");
        }
    }
}

#[tokio::test]
async fn members_page_to_the_end_with_roles() {
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
        // Adding again changes nothing.
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            &mpath,
            Some(json!({"members": [ids[1]]})),
        )
        .await;
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

        // The member's roles in the organization.
        let r1 = role(&db, "reader").await;
        let r2 = role(&db, "writer").await;
        let rpath = format!("{mpath}/{}/roles", enc(&ids[0]));
        let (st, e) = call(
            &s,
            &t,
            Method::POST,
            &rpath,
            Some(json!({"roles": [r1, "rol_nope"]})),
        )
        .await;
        assert_eq!(st, 404, "{e}");
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            &rpath,
            Some(json!({"roles": [r1, r2]})),
        )
        .await;
        assert_eq!(st, 204);
        let (_, l) = call(
            &s,
            &t,
            Method::GET,
            &format!("{rpath}?include_totals=true"),
            None,
        )
        .await;
        assert_eq!(l["total"], 2, "{l}");
        assert_eq!(
            l["roles"][0],
            json!({"id": r1, "name": "reader", "description": "reader role"})
        );
        let (_, l) = call(
            &s,
            &t,
            Method::GET,
            &format!("{mpath}?fields=user_id,roles&take=10"),
            None,
        )
        .await;
        for m in l["members"].as_array().unwrap() {
            let want = if m["user_id"] == ids[0].as_str() {
                2
            } else {
                0
            };
            assert_eq!(m["roles"].as_array().unwrap().len(), want, "{m}");
        }
        let (st, _) = call(&s, &t, Method::DELETE, &rpath, Some(json!({"roles": [r2]}))).await;
        assert_eq!(st, 204);
        let (_, l) = call(&s, &t, Method::GET, &rpath, None).await;
        assert_eq!(l.as_array().unwrap().len(), 1);
        // Tenant-level roles are not the member's roles here.
        roles::assign(&db, DEFAULT_TENANT, &ids[0], "", std::slice::from_ref(&r2))
            .await
            .unwrap();
        let (_, l) = call(&s, &t, Method::GET, &rpath, None).await;
        assert_eq!(l.as_array().unwrap().len(), 1);

        // The user's organizations.
        let (_, uo) = call(
            &s,
            &t,
            Method::GET,
            &format!("/users/{}/organizations?include_totals=true", enc(&ids[0])),
            None,
        )
        .await;
        assert_eq!(
            (uo["total"].as_i64(), uo["organizations"][0]["id"].as_str()),
            (Some(1), Some(o.as_str()))
        );

        // Removing a member removes its roles in the organization, not its tenant roles.
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
        let (_, l) = call(
            &s,
            &t,
            Method::GET,
            &format!("{mpath}?include_totals=true"),
            None,
        )
        .await;
        assert_eq!(l["total"], 6);
    }
}

#[tokio::test]
async fn connections_in_both_views() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = Db::connect(&s.db.url).await.unwrap();
        let o = org(&s, &t, "conns").await;
        let (_, c) = call(
            &s,
            &t,
            Method::POST,
            "/connections",
            Some(json!({"name": "db-conn", "strategy": "auth0"})),
        )
        .await;
        let dbc = c["id"].as_str().unwrap().to_owned();
        let (_, c) = call(
            &s,
            &t,
            Method::POST,
            "/connections",
            Some(json!({"name": "gh", "strategy": "github"})),
        )
        .await;
        let social = c["id"].as_str().unwrap().to_owned();

        let ec = format!("/organizations/{o}/enabled_connections");
        let (st, e) = call(
            &s,
            &t,
            Method::POST,
            &ec,
            Some(json!({"connection_id": dbc, "is_signup_enabled": true})),
        )
        .await;
        assert_eq!(st, 400, "{e}");
        assert_eq!(
            e["message"],
            "Only database connections with assign_membership_on_login = true support is_signup_enabled = true."
        );
        let (st, v) = call(&s, &t, Method::POST, &ec, Some(json!({"connection_id": dbc, "assign_membership_on_login": true, "is_signup_enabled": true}))).await;
        assert_eq!(st, 201, "{v}");
        assert_eq!(
            v,
            json!({"connection_id": dbc, "is_signup_enabled": true, "assign_membership_on_login": true, "show_as_button": true, "connection": {"name": "db-conn", "strategy": "auth0"}})
        );
        let (st, e) = call(
            &s,
            &t,
            Method::POST,
            &ec,
            Some(json!({"connection_id": dbc})),
        )
        .await;
        assert_eq!(st, 409, "{e}");
        let (st, e) = call(
            &s,
            &t,
            Method::POST,
            &ec,
            Some(json!({"connection_id": "con_nope"})),
        )
        .await;
        assert_eq!(st, 404, "{e}");

        // The newer view: is_enabled, access level; a disabled one is not "enabled".
        let cs = format!("/organizations/{o}/connections");
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            &cs,
            Some(json!({"connection_id": social, "is_enabled": false})),
        )
        .await;
        assert_eq!(st, 201, "{v}");
        assert_eq!(v["organization_access_level"], "none");
        assert!(v.get("is_signup_enabled").is_none(), "{v}");
        let (_, l) = call(
            &s,
            &t,
            Method::GET,
            &format!("{ec}?include_totals=true"),
            None,
        )
        .await;
        assert_eq!(l["total"], 1, "{l}");
        let (_, l) = call(
            &s,
            &t,
            Method::GET,
            &format!("{cs}?include_totals=true"),
            None,
        )
        .await;
        assert_eq!(l["total"], 2, "{l}");
        let (_, l) = call(
            &s,
            &t,
            Method::GET,
            &format!("{cs}?include_totals=true&is_enabled=false"),
            None,
        )
        .await;
        assert_eq!(l["connections"][0]["connection_id"], social.as_str());
        let (st, _) = call(&s, &t, Method::GET, &format!("{ec}/{social}"), None).await;
        assert_eq!(st, 404);
        let (st, v) = call(
            &s,
            &t,
            Method::PATCH,
            &format!("{cs}/{social}"),
            Some(json!({"is_enabled": true, "show_as_button": false})),
        )
        .await;
        assert_eq!(
            (st, &v["show_as_button"], &v["is_enabled"]),
            (200, &json!(false), &json!(true))
        );
        let (st, v) = call(&s, &t, Method::GET, &format!("{ec}/{social}"), None).await;
        assert_eq!(st, 200, "{v}");
        let (st, _) = call(
            &s,
            &t,
            Method::PATCH,
            &format!("{ec}/{dbc}"),
            Some(json!({"assign_membership_on_login": false})),
        )
        .await;
        assert_eq!(st, 400, "sign-up needs membership on login");

        // Deleting a connection removes it from the organization; deleting one it does not have is 204.
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/connections/{social}"),
            None,
        )
        .await;
        assert_eq!(st, 202);
        assert_eq!(count(&db, "organization_connections", &o).await, 1);
        let (st, _) = call(&s, &t, Method::DELETE, &format!("{cs}/{social}"), None).await;
        assert_eq!(st, 204);
        let (st, _) = call(&s, &t, Method::DELETE, &format!("{ec}/{dbc}"), None).await;
        assert_eq!(st, 204);
        assert_eq!(count(&db, "organization_connections", &o).await, 0);

        // Enabled at creation, in the creating transaction.
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            "/organizations",
            Some(json!({"name": "with-conn", "enabled_connections": [{"connection_id": dbc}]})),
        )
        .await;
        assert_eq!(st, 201, "{v}");
        assert_eq!(v["enabled_connections"][0]["connection"]["name"], "db-conn");
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            "/organizations",
            Some(
                json!({"name": "bad-conn", "enabled_connections": [{"connection_id": "con_nope"}]}),
            ),
        )
        .await;
        assert_eq!(st, 404);
        let (st, _) = call(&s, &t, Method::GET, "/organizations/name/bad-conn", None).await;
        assert_eq!(st, 404, "no organization is left behind");
    }
}

#[tokio::test]
async fn client_grants_associations() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let db = Db::connect(&s.db.url).await.unwrap();
        let o = org(&s, &t, "grants").await;
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
        let cid = c["client_id"].as_str().unwrap().to_owned();
        let (st, g) = call(&s, &t, Method::POST, "/client-grants", Some(json!({"client_id": cid, "audience": "https://api.grants/", "scope": [], "organization_usage": "deny"}))).await;
        assert_eq!(st, 201, "{g}");
        let gid = g["id"].as_str().unwrap().to_owned();
        let path = format!("/organizations/{o}/client-grants");
        let (st, e) = call(&s, &t, Method::POST, &path, Some(json!({"grant_id": gid}))).await;
        assert_eq!(st, 400, "organization_usage deny: {e}");
        let (st, e) = call(
            &s,
            &t,
            Method::POST,
            &path,
            Some(json!({"grant_id": "cgr_nope"})),
        )
        .await;
        assert_eq!(
            (st, e["errorCode"].as_str()),
            (404, Some("inexistent_client_grant"))
        );
        call(
            &s,
            &t,
            Method::PATCH,
            &format!("/client-grants/{gid}"),
            Some(json!({"organization_usage": "allow", "allow_any_organization": true})),
        )
        .await;
        let (st, v) = call(&s, &t, Method::POST, &path, Some(json!({"grant_id": gid}))).await;
        assert_eq!(st, 201, "{v}");
        assert_eq!(v["grant_id"], gid.as_str());
        let (_, l) = call(
            &s,
            &t,
            Method::GET,
            &format!("{path}?include_totals=true&grant_ids={gid}"),
            None,
        )
        .await;
        assert_eq!(
            (l["total"].as_i64(), l["client_grants"][0]["id"].as_str()),
            (Some(1), Some(gid.as_str()))
        );
        let (_, l) = call(
            &s,
            &t,
            Method::GET,
            &format!("/client-grants/{gid}/organizations?take=5"),
            None,
        )
        .await;
        assert_eq!(l["organizations"][0]["id"], o.as_str(), "{l}");
        // Deleting the grant removes the association.
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
            Some(json!({"name": "spa"})),
        )
        .await;
        let cid = c["client_id"].as_str().unwrap().to_owned();
        let path = format!("/organizations/{o}/invitations");
        let inv = json!({"inviter": {"name": "Jane"}, "invitee": {"email": "joe@example.com"}, "client_id": cid});
        let (st, e) = call(&s, &t, Method::POST, &path, Some(inv.clone())).await;
        assert_eq!(st, 400, "the client does not allow organizations: {e}");
        call(
            &s,
            &t,
            Method::PATCH,
            &format!("/clients/{cid}"),
            Some(json!({"organization_usage": "allow"})),
        )
        .await;
        let (st, e) = call(&s, &t, Method::POST, &path, Some(inv.clone())).await;
        assert_eq!(
            (st, e["message"].as_str()),
            (
                400,
                Some("A default login route is required to generate the invitation url.")
            )
        );
        call(
            &s,
            &t,
            Method::PATCH,
            &format!("/clients/{cid}"),
            Some(json!({"initiate_login_uri": "https://app.example.com/login"})),
        )
        .await;
        let (st, e) = call(&s, &t, Method::POST, &path, Some(json!({"inviter": {"name": "J"}, "invitee": {"email": "x@example.com"}, "client_id": "nope"}))).await;
        assert_eq!(st, 404, "{e}");

        let (st, v) = call(&s, &t, Method::POST, &path, Some(inv.clone())).await;
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

        let (st, g) = call(&s, &t, Method::GET, &format!("{path}/{iid}"), None).await;
        assert_eq!(st, 200);
        assert_eq!(
            (g["invitee"].clone(), g["client_id"].clone()),
            (json!({"email": "joe@example.com"}), json!(cid))
        );
        let (st, v2) = call(&s, &t, Method::POST, &path, Some(json!({"inviter": {"name": "J"}, "invitee": {"email": "y@example.com"}, "client_id": cid, "ttl_sec": 60}))).await;
        assert_eq!(st, 201);
        let (st, _) = call(&s, &t, Method::POST, &path, Some(json!({"inviter": {"name": "J"}, "invitee": {"email": "y@example.com"}, "client_id": cid, "ttl_sec": 2_592_001}))).await;
        assert_eq!(st, 400, "more than 30 days");
        let (_, l) = call(
            &s,
            &t,
            Method::GET,
            &format!("{path}?include_totals=true&sort=created_at:-1&fields=id"),
            None,
        )
        .await;
        assert_eq!(
            l["invitations"],
            json!([{"id": v2["id"]}, {"id": iid}]),
            "{l}"
        );
        let (st, _) = call(&s, &t, Method::DELETE, &format!("{path}/{iid}"), None).await;
        assert_eq!(st, 204);
        let (st, e) = call(&s, &t, Method::GET, &format!("{path}/{iid}"), None).await;
        assert_eq!(
            (st, e["errorCode"].as_str()),
            (404, Some("inexistent_invitation"))
        );
    }
}

#[tokio::test]
async fn discovery_domains() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let o = org(&s, &t, "domains").await;
        let path = format!("/organizations/{o}/discovery-domains");
        let (st, d) = call(
            &s,
            &t,
            Method::POST,
            &path,
            Some(json!({"domain": "acme.example.com"})),
        )
        .await;
        assert_eq!(st, 201, "{d}");
        let id = d["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("ord_") && id.len() == 26, "{id}");
        assert_eq!(d["status"], "pending");
        assert_eq!(d["use_for_organization_discovery"], true);
        assert_eq!(
            d["verification_host"],
            format!("_ss-verification.{o}.acme.example.com")
        );
        assert_eq!(d["verification_txt"].as_str().unwrap().len(), 32);
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            &path,
            Some(json!({"domain": "acme.example.com"})),
        )
        .await;
        assert_eq!(st, 409);
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            &path,
            Some(json!({"domain": "bad_domain.com"})),
        )
        .await;
        assert_eq!(st, 400);
        for i in 0..3 {
            call(
                &s,
                &t,
                Method::POST,
                &path,
                Some(json!({"domain": format!("d{i}.example.com"), "status": "verified"})),
            )
            .await;
        }
        let mut n = 0;
        let mut q = format!("{path}?take=2");
        loop {
            let (_, page) = call(&s, &t, Method::GET, &q, None).await;
            n += page["domains"].as_array().unwrap().len();
            match page.get("next").and_then(Value::as_str) {
                Some(c) => q = format!("{path}?take=2&from={c}"),
                None => break,
            }
        }
        assert_eq!(n, 4);
        let (st, g) = call(
            &s,
            &t,
            Method::GET,
            &format!("{path}/name/acme.example.com"),
            None,
        )
        .await;
        assert_eq!((st, g["id"].as_str()), (200, Some(id.as_str())));
        let (st, p) = call(
            &s,
            &t,
            Method::PATCH,
            &format!("{path}/{id}"),
            Some(json!({"status": "verified", "use_for_organization_discovery": false})),
        )
        .await;
        assert_eq!(
            (st, &p["status"], &p["use_for_organization_discovery"]),
            (200, &json!("verified"), &json!(false))
        );
        assert_eq!(p["verification_txt"], d["verification_txt"]);
        let (st, _) = call(&s, &t, Method::DELETE, &format!("{path}/{id}"), None).await;
        assert_eq!(st, 204);
        let (st, e) = call(&s, &t, Method::GET, &format!("{path}/{id}"), None).await;
        assert_eq!(
            (st, e["message"].as_str()),
            (404, Some("No organization domain found by that id"))
        );
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

#[tokio::test]
async fn bad_input_is_answered_as_auth0_does() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let o = org(&s, &t, "bad-input").await;
        for (m, path, body, want) in [
            (
                Method::GET,
                "/organizations/org_nope/members".to_owned(),
                None,
                404,
            ),
            (
                Method::POST,
                format!("/organizations/{o}/members"),
                Some(json!({"members": []})),
                400,
            ),
            (
                Method::POST,
                format!("/organizations/{o}/members"),
                Some(json!({})),
                400,
            ),
            (
                Method::GET,
                format!("/organizations/{o}/members?take=2&from=%%%"),
                None,
                400,
            ),
            (
                Method::POST,
                format!("/organizations/{o}/members/auth0%7Cnobody/roles"),
                Some(json!({"roles": ["rol_x"]})),
                404,
            ),
            (
                Method::GET,
                format!("/organizations/{o}/enabled_connections/con_nope"),
                None,
                404,
            ),
            (
                Method::GET,
                format!("/organizations/{o}/invitations/uinv_nope"),
                None,
                404,
            ),
            (
                Method::POST,
                "/organizations".to_owned(),
                Some(json!({"name": "x", "unknown": 1})),
                400,
            ),
            (
                Method::POST,
                "/organizations".to_owned(),
                Some(json!({"name": "x", "metadata": {"k": 1}})),
                400,
            ),
            (
                Method::PATCH,
                "/organizations/org_nope".to_owned(),
                Some(json!({"display_name": "x"})),
                404,
            ),
        ] {
            let (st, e) = call(&s, &t, m.clone(), &path, body).await;
            assert_eq!(st, want, "{m} {path}: {e}");
        }
    }
}
