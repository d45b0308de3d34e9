//! Tags `users`, `users-by-email`, `user-blocks` and `DELETE /connections/{id}/users`.

use gatehouse_store::{Db, params, tenants::DEFAULT_TENANT};
use gatehouse_testkit::{TestServer, backends, spawn::call, spawn_on};
use reqwest::Method;
use serde_json::{Value, json};

// ---- the one place that makes connections ----

/// Creates a connection through the API; returns its id. A database connection gets
/// `passwordPolicy: none` unless `options` says otherwise (Auth0's default is `good`; the tests
/// of other rules use short passwords).
async fn connection(s: &TestServer, name: &str, strategy: &str, mut options: Value) -> String {
    let t = s.mgmt_token().await;
    if strategy == "auth0" && options.get("passwordPolicy").is_none() {
        options["passwordPolicy"] = json!("none");
    }
    let body = json!({"name": name, "strategy": strategy, "options": options});
    let (st, c) = call(s, &t, Method::POST, "/connections", Some(body)).await;
    assert_eq!(st, 201, "{c}");
    c["id"].as_str().unwrap().to_owned()
}

/// The tenant's `Username-Password-Authentication` (made on first start), with the options the
/// Auth0 tenant of the recordings has.
async fn upa(s: &TestServer) -> String {
    let t = s.mgmt_token().await;
    let (st, list) = call(
        s,
        &t,
        Method::GET,
        "/connections?name=Username-Password-Authentication",
        None,
    )
    .await;
    assert_eq!(st, 200, "{list}");
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let patch = json!({"options": {"passwordPolicy": "good", "requires_username": true}});
    let (st, c) = call(
        s,
        &t,
        Method::PATCH,
        &format!("/connections/{id}"),
        Some(patch),
    )
    .await;
    assert_eq!(st, 200, "{c}");
    id
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

async fn user_count(s: &TestServer, t: &str) -> i64 {
    let (st, v) = call(s, t, Method::GET, "/users?include_totals=true", None).await;
    assert_eq!(st, 200, "{v}");
    v["total"].as_i64().unwrap()
}

async fn create(s: &TestServer, t: &str, body: Value) -> (u16, Value) {
    call(s, t, Method::POST, "/users", Some(body)).await
}

fn enc(id: &str) -> String {
    id.replace('|', "%7C")
}

#[tokio::test]
async fn lifecycle_follows_the_recording() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        upa(&s).await;
        // TestAccUser.yaml #0.
        let (st, u) = create(
            &s,
            &t,
            json!({"user_id":"testaccuser","connection":"Username-Password-Authentication","email":"TestAccUser@acceptance.test.com","username":"testaccuser","password":"passpass$12$12"}),
        )
        .await;
        assert_eq!(st, 201, "{u}");
        assert_eq!(
            keys(&u),
            [
                "created_at",
                "email",
                "email_verified",
                "identities",
                "name",
                "nickname",
                "picture",
                "updated_at",
                "user_id",
                "username"
            ]
        );
        assert_eq!(u["email"], "testaccuser@acceptance.test.com");
        assert_eq!(u["email_verified"], false);
        assert_eq!(u["name"], "testaccuser@acceptance.test.com");
        assert_eq!(u["nickname"], "testaccuser");
        assert_eq!(u["user_id"], "auth0|testaccuser");
        assert_eq!(
            u["picture"],
            "https://s.gravatar.com/avatar/324ad113b0ef6dabbb2c2c4cf8a8d108?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2Fte.png"
        );
        assert_eq!(
            u["identities"],
            json!([{"connection":"Username-Password-Authentication","user_id":"testaccuser","provider":"auth0","isSocial":false}])
        );
        assert_eq!(u["created_at"], u["updated_at"]);
        assert!(u.get("password").is_none());
        let path = format!("/users/{}", enc("auth0|testaccuser"));
        let (st, got) = call(&s, &t, Method::GET, &path, None).await;
        assert_eq!((st, &got), (200, &u));

        // #4: later keys go after the existing ones.
        let (st, p) = call(&s, &t, Method::PATCH, &path, Some(json!({"name":"Firstname Lastname","given_name":"Firstname","family_name":"Lastname","picture":"https://www.example.com/picture.jpg"}))).await;
        assert_eq!(st, 200, "{p}");
        assert_eq!(
            keys(&p)[8..],
            ["user_id", "username", "family_name", "given_name"]
        );
        assert_eq!(p["picture"], "https://www.example.com/picture.jpg");
        assert_ne!(p["updated_at"], u["updated_at"]);
        // #8, #12, #16: metadata merges on the first level; null removes; {} empties.
        let (_, p) = call(&s, &t, Method::PATCH, &path, Some(json!({"user_metadata":{"baz":"qux","foo":"bar"},"app_metadata":{"baz":"qux","foo":"bar","deep":{"a":1}}}))).await;
        assert_eq!(
            keys(&p)[10..],
            ["family_name", "given_name", "user_metadata", "app_metadata"]
        );
        let (_, p) = call(&s, &t, Method::PATCH, &path, Some(json!({"user_metadata":{"baz":null,"foo":"bars"},"app_metadata":{"baz":null,"foo":"bars","deep":{"b":2}}}))).await;
        // The searchable leaves follow the metadata (same transaction as the user).
        let db = Db::connect(&s.db.url).await.unwrap();
        let rows = db
            .query(
                "SELECT path, value_text, value_num FROM user_attrs WHERE tenant_id = $1 AND user_id = $2 ORDER BY path",
                params![DEFAULT_TENANT, "auth0|testaccuser"],
            )
            .await
            .unwrap();
        let attrs: Vec<(String, String, bool)> = rows
            .iter()
            .map(|r| {
                (
                    r.text("path").unwrap(),
                    r.text("value_text").unwrap(),
                    r.json("value_num").unwrap() == json!(2.0),
                )
            })
            .collect();
        assert_eq!(
            attrs,
            [
                ("app_metadata.deep.b".into(), "2".into(), true),
                ("app_metadata.foo".into(), "bars".into(), false),
                ("user_metadata.foo".into(), "bars".into(), false),
            ]
        );
        assert_eq!(p["user_metadata"], json!({"foo":"bars"}));
        assert_eq!(p["app_metadata"], json!({"foo":"bars","deep":{"b":2}}));
        let (_, p) = call(
            &s,
            &t,
            Method::PATCH,
            &path,
            Some(json!({"user_metadata":{},"app_metadata":{}})),
        )
        .await;
        assert_eq!(p["user_metadata"], json!({}));
        assert!(p.get("app_metadata").is_none(), "{p}");
        let (_, got) = call(&s, &t, Method::GET, &path, None).await;
        assert_eq!(got, p);

        // fields / include_fields.
        let (st, f) = call(
            &s,
            &t,
            Method::GET,
            &format!("{path}?fields=email,user_id&include_fields=true"),
            None,
        )
        .await;
        assert_eq!(st, 200);
        assert_eq!(
            f,
            json!({"email":"testaccuser@acceptance.test.com","user_id":"auth0|testaccuser"})
        );
        let (_, f) = call(
            &s,
            &t,
            Method::GET,
            &format!("{path}?fields=identities,picture&include_fields=false"),
            None,
        )
        .await;
        assert!(f.get("identities").is_none() && f.get("email").is_some());

        // Listing.
        let (st, l) = call(&s, &t, Method::GET, "/users?include_totals=true", None).await;
        assert_eq!(st, 200, "{l}");
        assert_eq!(keys(&l), ["start", "limit", "length", "users", "total"]);
        assert_eq!(l["users"][0], got);
        let (st, e) = call(&s, &t, Method::GET, "/users?page=20&per_page=50", None).await;
        assert_eq!(st, 400, "{e}");

        // Username change (TestAccUserChangeUsername.yaml #4).
        let (st, p) = call(
            &s,
            &t,
            Method::PATCH,
            &path,
            Some(json!({"username": "user_x_terra"})),
        )
        .await;
        assert_eq!((st, &p["username"]), (200, &json!("user_x_terra")));

        let (st, _) = call(&s, &t, Method::DELETE, &path, None).await;
        assert_eq!(st, 204);
        let (st, e) = call(&s, &t, Method::GET, &path, None).await;
        assert_eq!(
            (st, e),
            (
                404,
                json!({"statusCode":404,"error":"Not Found","message":"The user does not exist.","errorCode":"inexistent_user"})
            )
        );
        let (st, _) = call(&s, &t, Method::DELETE, &path, None).await;
        assert_eq!(st, 204, "deleting again answers 204 as Auth0 does");
        // The key is free again.
        let (st, _) = create(&s, &t, json!({"connection":"Username-Password-Authentication","email":"testaccuser@acceptance.test.com","username":"testaccuser","password":"passpass$12$12"})).await;
        assert_eq!(st, 201);
    }
}

#[tokio::test]
async fn duplicates_and_bad_input_change_nothing() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        upa(&s).await;
        connection(&s, "plain", "auth0", json!({})).await;
        connection(&s, "google-oauth2", "google-oauth2", json!({})).await;
        connection(
            &s,
            "nonunique",
            "auth0",
            json!({"attributes": {"email": {"unique": false, "signup": {"status": "required"}},
                    "username": {"signup": {"status": "required"}, "identifier": {"active": true}}}}),
        )
        .await;
        let base = json!({"connection":"Username-Password-Authentication","email":"dup@example.com","username":"dup","password":"MyPass123$"});
        let (st, _) = create(&s, &t, base.clone()).await;
        assert_eq!(st, 201);
        let conflict = json!({"statusCode":409,"error":"Conflict","message":"The user already exists.","errorCode":"auth0_idp_error"});
        let mut same_email = base.clone();
        same_email["username"] = json!("other");
        same_email["email"] = json!("DUP@example.com");
        assert_eq!(create(&s, &t, same_email).await, (409, conflict.clone()));
        let mut same_name = base.clone();
        same_name["email"] = json!("other@example.com");
        assert_eq!(create(&s, &t, same_name).await, (409, conflict.clone()));
        // The same e-mail in another connection is another user.
        let (st, v) = create(
            &s,
            &t,
            json!({"connection":"plain","email":"dup@example.com","password":"x"}),
        )
        .await;
        assert_eq!(st, 201, "{v}");
        // Non-unique e-mail: two users may share it.
        for n in ["n1", "n2"] {
            let (st, v) = create(&s, &t, json!({"connection":"nonunique","email":"same@example.com","username":n,"password":"x"})).await;
            assert_eq!(st, 201, "{v}");
        }
        let (st, _) = create(&s, &t, json!({"connection":"nonunique","email":"x@example.com","username":"n1","password":"x"})).await;
        assert_eq!(st, 409);
        let before = user_count(&s, &t).await;
        assert_eq!(before, 4);

        let cases = [
            (
                json!({"connection":"nope","email":"a@example.com","password":"x"}),
                400,
                "inexistent_connection",
            ),
            (
                json!({"connection":"google-oauth2","email":"a@example.com"}),
                400,
                "invalid_body",
            ),
            (
                json!({"connection":"plain","email":"a@example.com","username":"u","password":"x"}),
                400,
                "invalid_body",
            ),
            (
                json!({"connection":"plain","password":"x"}),
                400,
                "invalid_body",
            ),
            (
                json!({"connection":"plain","email":"a@example.com"}),
                400,
                "invalid_body",
            ),
            (
                json!({"connection":"Username-Password-Authentication","email":"a@example.com","password":"MyPass123$"}),
                400,
                "invalid_body",
            ),
            (
                json!({"connection":"Username-Password-Authentication","email":"a@example.com","username":"abc","password":"weak"}),
                400,
                "invalid_body",
            ),
            (
                json!({"connection":"plain","email":"not-an-email","password":"x"}),
                400,
                "invalid_body",
            ),
            (
                json!({"connection":"plain","email":"a@example.com","password":"x","extra":1}),
                400,
                "invalid_body",
            ),
        ];
        for (body, status, code) in cases {
            let (st, e) = create(&s, &t, body.clone()).await;
            assert_eq!(
                (st, e["errorCode"].as_str()),
                (status, Some(code)),
                "{body} → {e}"
            );
        }
        // PATCH to a taken username: 409, nothing changed.
        let (_, l) = call(
            &s,
            &t,
            Method::GET,
            "/users-by-email?email=x@example.com",
            None,
        )
        .await;
        assert_eq!(l, json!([]));
        let (_, u) = create(&s, &t, json!({"connection":"Username-Password-Authentication","email":"b@example.com","username":"bee","password":"MyPass123$"})).await;
        let path = format!("/users/{}", enc(u["user_id"].as_str().unwrap()));
        let (st, e) = call(
            &s,
            &t,
            Method::PATCH,
            &path,
            Some(json!({"username":"dup"})),
        )
        .await;
        assert_eq!((st, e), (409, conflict));
        let (st, e) = call(
            &s,
            &t,
            Method::PATCH,
            &path,
            Some(json!({"username":"bee2","password":"MyPass123$!"})),
        )
        .await;
        assert_eq!(st, 400, "{e}");
        let (_, got) = call(&s, &t, Method::GET, &path, None).await;
        assert_eq!(got, u);
        let (st, e) = call(&s, &t, Method::PATCH, &path, Some(json!({"foo": 1}))).await;
        assert_eq!(st, 400, "{e}");
        let (st, _) = call(
            &s,
            &t,
            Method::PATCH,
            "/users/auth0%7Cnobody",
            Some(json!({"name":"x"})),
        )
        .await;
        assert_eq!(st, 404);
        assert_eq!(user_count(&s, &t).await, before + 1);
    }
}

#[tokio::test]
async fn password_policies() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let cases: [(&str, &[&str], &[&str]); 5] = [
            ("none", &["a"], &[]),
            ("low", &["abcdef"], &["abcde"]),
            ("fair", &["Abcdefg1"], &["abcdefg1", "Abcdefgh", "Abcde1"]),
            ("good", &["abcdefg1!", "Abcdefg!"], &["abcdefgh1", "Ab1!"]),
            ("excellent", &["Abcdefgh1!"], &["Abcdefg1!", "Abcdefff1!x"]),
        ];
        for (level, good, bad) in cases {
            let name = format!("policy-{level}");
            connection(&s, &name, "auth0", json!({"passwordPolicy": level})).await;
            for (i, pw) in good.iter().enumerate() {
                let (st, v) = create(&s, &t, json!({"connection": name, "email": format!("ok{i}@{level}.test"), "password": pw})).await;
                assert_eq!(st, 201, "{level} {pw}: {v}");
            }
            for pw in bad {
                let (st, v) = create(
                    &s,
                    &t,
                    json!({"connection": name, "email": format!("bad@{level}.test"), "password": pw}),
                )
                .await;
                assert_eq!(
                    (st, v["message"].as_str()),
                    (400, Some("PasswordStrengthError: Password is too weak")),
                    "{level} {pw}"
                );
            }
        }
        connection(
            &s,
            "strict",
            "auth0",
            json!({"passwordPolicy": "low",
                   "password_complexity_options": {"min_length": 10},
                   "password_dictionary": {"enable": true, "dictionary": ["gatehouse123"]},
                   "password_no_personal_info": {"enable": true},
                   "password_history": {"enable": true, "size": 2}}),
        )
        .await;
        let try_pw = |pw: &'static str| json!({"connection":"strict","email":"jane.doe@example.com","name":"Jane Roe","password":pw});
        for (pw, msg) in [
            ("short", "PasswordStrengthError: Password is too weak"),
            (
                "Basketball",
                "PasswordDictionaryError: Password is too common",
            ),
            (
                "Gatehouse123",
                "PasswordDictionaryError: Password is too common",
            ),
            (
                "my-jane.doe-pw",
                "PasswordNoUserInfoError: Password contains user information",
            ),
            (
                "xx-Jane Roe-xx",
                "PasswordNoUserInfoError: Password contains user information",
            ),
        ] {
            let (st, v) = create(&s, &t, try_pw(pw)).await;
            assert_eq!((st, v["message"].as_str()), (400, Some(msg)), "{pw}");
        }
        let (st, u) = create(&s, &t, try_pw("first-secret")).await;
        assert_eq!(st, 201, "{u}");
        let path = format!("/users/{}", enc(u["user_id"].as_str().unwrap()));
        let history = "PasswordHistoryError: Password has previously been used";
        let patch = |pw: &'static str| Some(json!({ "password": pw }));
        let (st, v) = call(&s, &t, Method::PATCH, &path, patch("first-secret")).await;
        assert_eq!((st, v["message"].as_str()), (400, Some(history)));
        let (st, v) = call(&s, &t, Method::PATCH, &path, patch("second-secret")).await;
        assert_eq!(st, 200, "{v}");
        let (st, _) = call(&s, &t, Method::PATCH, &path, patch("third-secret")).await;
        assert_eq!(st, 200);
        let (st, v) = call(&s, &t, Method::PATCH, &path, patch("first-secret")).await;
        assert_eq!(
            (st, v["message"].as_str()),
            (400, Some(history)),
            "within the last 2"
        );
        let (st, _) = call(&s, &t, Method::PATCH, &path, patch("fourth-secret")).await;
        assert_eq!(st, 200);
        let (st, v) = call(&s, &t, Method::PATCH, &path, patch("first-secret")).await;
        assert_eq!(st, 200, "older than the history: {v}");
        let (st, v) = call(&s, &t, Method::PATCH, &path, patch("tiny")).await;
        assert_eq!(st, 400, "{v}");
    }
}

/// Makes every DELETE of user `user_id` fail inside the database, to break a link half-way.
async fn break_deletes_of(db: &Db, b: &gatehouse_testkit::Backend, user_id: &str) {
    match b {
        gatehouse_testkit::Backend::Sqlite => {
            db.execute(
                &format!("CREATE TRIGGER no_delete BEFORE DELETE ON users WHEN OLD.user_id = '{user_id}' BEGIN SELECT RAISE(ABORT, 'boom'); END"),
                vec![],
            )
            .await
            .unwrap();
        }
        gatehouse_testkit::Backend::Postgres(_) => {
            db.execute(
                &format!("CREATE FUNCTION no_delete() RETURNS trigger AS $$ BEGIN IF OLD.user_id = '{user_id}' THEN RAISE EXCEPTION 'boom'; END IF; RETURN OLD; END $$ LANGUAGE plpgsql"),
                vec![],
            )
            .await
            .unwrap();
            db.execute(
                "CREATE TRIGGER no_delete BEFORE DELETE ON users FOR EACH ROW EXECUTE FUNCTION no_delete()",
                vec![],
            )
            .await
            .unwrap();
        }
    }
}

async fn unbreak(db: &Db, b: &gatehouse_testkit::Backend) {
    let sql = match b {
        gatehouse_testkit::Backend::Sqlite => "DROP TRIGGER no_delete",
        gatehouse_testkit::Backend::Postgres(_) => "DROP TRIGGER no_delete ON users",
    };
    db.execute(sql, vec![]).await.unwrap();
}

#[tokio::test]
async fn link_and_unlink_identities() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        upa(&s).await;
        let other = connection(&s, "other-db", "auth0", json!({})).await;
        let (_, p) = create(&s, &t, json!({"connection":"Username-Password-Authentication","email":"main@example.com","username":"main","password":"MyPass123$"})).await;
        let (_, sec) = create(&s, &t, json!({"connection":"other-db","email":"second@example.com","password":"x","user_metadata":{"lost":true},"given_name":"Sec"})).await;
        let pid = p["user_id"].as_str().unwrap().to_owned();
        let sid = sec["user_id"].as_str().unwrap().to_owned();
        let sec_identity = sid.strip_prefix("auth0|").unwrap().to_owned();
        let link = format!("/users/{}/identities", enc(&pid));

        // A link that fails half-way (the secondary user's row cannot be deleted) leaves both
        // users as they were.
        let db = Db::connect(&s.db.url).await.unwrap();
        break_deletes_of(&db, &b, &sid).await;
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            &link,
            Some(json!({"provider":"auth0","user_id":&sec_identity,"connection_id":&other})),
        )
        .await;
        assert_eq!(st, 500);
        unbreak(&db, &b).await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let (_, got) = call(&s, &t, Method::GET, &format!("/users/{}", enc(&pid)), None).await;
        assert_eq!(got, p);
        let (_, got) = call(&s, &t, Method::GET, &format!("/users/{}", enc(&sid)), None).await;
        assert_eq!(got, sec);
        assert_eq!(user_count(&s, &t).await, 2);

        // Errors.
        let (st, _) = call(
            &s,
            &t,
            Method::POST,
            &link,
            Some(json!({"provider":"auth0","user_id":"nobody"})),
        )
        .await;
        assert_eq!(st, 404);
        let (st, e) = call(
            &s,
            &t,
            Method::POST,
            &link,
            Some(json!({"provider":"auth0","user_id":pid.strip_prefix("auth0|").unwrap()})),
        )
        .await;
        assert_eq!(st, 400, "{e}");

        let (st, ids) = call(
            &s,
            &t,
            Method::POST,
            &link,
            Some(json!({"provider":"auth0","user_id":&sid,"connection_id":&other})),
        )
        .await;
        assert_eq!(st, 201, "{ids}");
        assert_eq!(ids.as_array().unwrap().len(), 2);
        assert_eq!(ids[1]["connection"], "other-db");
        assert_eq!(ids[1]["user_id"], sec_identity.as_str());
        assert_eq!(ids[1]["profileData"]["email"], "second@example.com");
        assert_eq!(ids[1]["profileData"]["given_name"], "Sec");
        let (st, _) = call(&s, &t, Method::GET, &format!("/users/{}", enc(&sid)), None).await;
        assert_eq!(st, 404, "the secondary user is gone");
        let (_, got) = call(&s, &t, Method::GET, &format!("/users/{}", enc(&pid)), None).await;
        assert_eq!(got["identities"], ids);
        assert_eq!(got["email"], "main@example.com");
        assert!(got.get("user_metadata").is_none(), "metadata is not merged");
        assert_eq!(user_count(&s, &t).await, 1);
        // Its e-mail stays taken in its connection.
        let (st, _) = create(
            &s,
            &t,
            json!({"connection":"other-db","email":"second@example.com","password":"x"}),
        )
        .await;
        assert_eq!(st, 409);

        // Credentials of the linked identity change with `connection`; its profile does not.
        let ppath = format!("/users/{}", enc(&pid));
        let (st, e) = call(
            &s,
            &t,
            Method::PATCH,
            &ppath,
            Some(json!({"connection":"other-db","name":"x"})),
        )
        .await;
        assert_eq!(st, 400, "{e}");
        let (st, v) = call(
            &s,
            &t,
            Method::PATCH,
            &ppath,
            Some(json!({"connection":"other-db","email":"Second2@example.com"})),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["email"], "main@example.com");
        assert_eq!(
            v["identities"][1]["profileData"]["email"],
            "second2@example.com"
        );
        assert_eq!(v["identities"][1]["profileData"]["email_verified"], false);
        let (st, v) = call(
            &s,
            &t,
            Method::PATCH,
            &ppath,
            Some(json!({"connection":"other-db","password":"any"})),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        let (st, _) = create(
            &s,
            &t,
            json!({"connection":"other-db","email":"second@example.com","password":"x"}),
        )
        .await;
        assert_eq!(st, 201, "the old e-mail is free in that connection");
        let (_, l) = call(
            &s,
            &t,
            Method::GET,
            "/users-by-email?email=second@example.com",
            None,
        )
        .await;
        call(
            &s,
            &t,
            Method::DELETE,
            &format!("/users/{}", enc(l[0]["user_id"].as_str().unwrap())),
            None,
        )
        .await;
        let (_, got) = call(&s, &t, Method::GET, &ppath, None).await;
        assert_eq!(
            got["identities"][1]["profileData"]["email"],
            "second2@example.com"
        );

        let unlink = format!("/users/{}/identities/auth0/{}", enc(&pid), sec_identity);
        let main_id = pid.strip_prefix("auth0|").unwrap();
        let (st, e) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/users/{}/identities/auth0/{main_id}", enc(&pid)),
            None,
        )
        .await;
        assert_eq!(st, 400, "{e}");
        let (st, rest) = call(&s, &t, Method::DELETE, &unlink, None).await;
        assert_eq!(st, 200, "{rest}");
        assert_eq!(rest, json!([p["identities"][0]]));
        let (st, back) = call(&s, &t, Method::GET, &format!("/users/{}", enc(&sid)), None).await;
        assert_eq!(st, 200, "{back}");
        assert_eq!(back["email"], "second2@example.com");
        assert_eq!(back["given_name"], "Sec");
        assert_eq!(back["identities"][0]["connection"], "other-db");
        assert!(back["identities"][0].get("profileData").is_none());
        assert_eq!(user_count(&s, &t).await, 2);
        let (st, _) = call(&s, &t, Method::DELETE, &unlink, None).await;
        assert_eq!(st, 404);
        // Deleting the restored user frees its e-mail.
        call(
            &s,
            &t,
            Method::DELETE,
            &format!("/users/{}", enc(&sid)),
            None,
        )
        .await;
        let (st, _) = create(
            &s,
            &t,
            json!({"connection":"other-db","email":"second@example.com","password":"x"}),
        )
        .await;
        assert_eq!(st, 201);
    }
}

#[tokio::test]
async fn by_email_blocks_and_connection_deletes() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let upa_id = upa(&s).await;
        let other = connection(&s, "other-db", "auth0", json!({})).await;
        let google = connection(&s, "google-oauth2", "google-oauth2", json!({})).await;
        let (_, a) = create(&s, &t, json!({"connection":"Username-Password-Authentication","email":"Shared@Example.com","username":"aaa","password":"MyPass123$"})).await;
        let (_, b2) = create(
            &s,
            &t,
            json!({"connection":"other-db","email":"shared@example.com","password":"x"}),
        )
        .await;
        let (st, l) = call(
            &s,
            &t,
            Method::GET,
            "/users-by-email?email=SHARED@example.com",
            None,
        )
        .await;
        assert_eq!(st, 200);
        assert_eq!(l, json!([a, b2]));
        let (_, l) = call(
            &s,
            &t,
            Method::GET,
            "/users-by-email?email=shared@example.com&fields=user_id",
            None,
        )
        .await;
        assert_eq!(
            l,
            json!([{"user_id": a["user_id"]}, {"user_id": b2["user_id"]}])
        );
        let (st, _) = call(&s, &t, Method::GET, "/users-by-email", None).await;
        assert_eq!(st, 400);

        let aid = enc(a["user_id"].as_str().unwrap());
        let (st, v) = call(&s, &t, Method::GET, &format!("/user-blocks/{aid}"), None).await;
        assert_eq!((st, v), (200, json!({"blocked_for": []})));
        let (st, v) = call(&s, &t, Method::GET, "/user-blocks?identifier=aaa", None).await;
        assert_eq!((st, v), (200, json!({"blocked_for": []})));
        let (st, _) = call(&s, &t, Method::DELETE, &format!("/user-blocks/{aid}"), None).await;
        assert_eq!(st, 204);
        let (st, _) = call(&s, &t, Method::DELETE, "/user-blocks?identifier=aaa", None).await;
        assert_eq!(st, 204);
        let (st, v) = call(&s, &t, Method::GET, "/user-blocks/auth0%7Cnobody", None).await;
        assert_eq!(
            (st, v["errorCode"].as_str()),
            (404, Some("inexistent_user"))
        );
        let (st, _) = call(&s, &t, Method::DELETE, "/user-blocks/auth0%7Cnobody", None).await;
        assert_eq!(st, 404);
        let (st, _) = call(&s, &t, Method::GET, "/user-blocks", None).await;
        assert_eq!(st, 400);

        // blocked via PATCH shows and stays.
        let (_, p) = call(
            &s,
            &t,
            Method::PATCH,
            &format!("/users/{aid}"),
            Some(json!({"blocked": true})),
        )
        .await;
        assert_eq!(p["blocked"], true);
        let (_, p) = call(
            &s,
            &t,
            Method::PATCH,
            &format!("/users/{aid}"),
            Some(json!({"blocked": false})),
        )
        .await;
        assert_eq!(p["blocked"], false);

        // DELETE /connections/{id}/users?email=
        let (st, v) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/connections/{google}/users?email=shared@example.com"),
            None,
        )
        .await;
        assert_eq!(st, 400, "{v}");
        let (st, v) = call(
            &s,
            &t,
            Method::DELETE,
            "/connections/con_doesnotexist0000/users?email=shared@example.com",
            None,
        )
        .await;
        assert_eq!(st, 400, "{v}");
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/connections/{other}/users?email=SHARED@example.com"),
            None,
        )
        .await;
        assert_eq!(st, 204);
        let (_, l) = call(
            &s,
            &t,
            Method::GET,
            "/users-by-email?email=shared@example.com",
            None,
        )
        .await;
        assert_eq!(l, json!([p]));
        let (st, _) = call(
            &s,
            &t,
            Method::DELETE,
            &format!("/connections/{upa_id}/users?email=nobody@example.com"),
            None,
        )
        .await;
        assert_eq!(st, 204);
        assert_eq!(user_count(&s, &t).await, 1);
    }
}

#[tokio::test]
async fn passwordless_users() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        connection(&s, "email", "email", json!({})).await;
        connection(&s, "sms", "sms", json!({})).await;
        let (st, u) = create(
            &s,
            &t,
            json!({"connection":"email","email":"pl@example.com","email_verified":true}),
        )
        .await;
        assert_eq!(st, 201, "{u}");
        assert!(u["user_id"].as_str().unwrap().starts_with("email|"));
        assert_eq!(u["identities"][0]["provider"], "email");
        let (st, u) = create(
            &s,
            &t,
            json!({"connection":"sms","phone_number":"+15551234567"}),
        )
        .await;
        assert_eq!(st, 201, "{u}");
        assert!(u["user_id"].as_str().unwrap().starts_with("sms|"));
        assert_eq!(u["phone_number"], "+15551234567");
        let (st, _) = create(
            &s,
            &t,
            json!({"connection":"sms","phone_number":"+15551234567"}),
        )
        .await;
        assert_eq!(st, 409);
        let (st, _) = create(&s, &t, json!({"connection":"sms","email":"x@example.com"})).await;
        assert_eq!(st, 400);
    }
}

#[tokio::test]
async fn narrower_scopes() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        upa(&s).await;
        let (_, u) = create(&s, &t, json!({"connection":"Username-Password-Authentication","email":"scoped@example.com","username":"scoped","password":"MyPass123$"})).await;
        let path = format!("/users/{}", enc(u["user_id"].as_str().unwrap()));
        let app = s.token_with_scope("update:users_app_metadata").await;
        let (st, v) = call(
            &s,
            &app,
            Method::PATCH,
            &path,
            Some(json!({"app_metadata": {"plan": "pro"}})),
        )
        .await;
        assert_eq!(
            (st, &v["app_metadata"]),
            (200, &json!({"plan": "pro"})),
            "{v}"
        );
        let (st, v) = call(&s, &app, Method::PATCH, &path, Some(json!({"name": "x"}))).await;
        assert_eq!(
            (st, v["errorCode"].as_str()),
            (403, Some("insufficient_scope"))
        );
        let me = s
            .token_with_scope("read:current_user delete:current_user")
            .await;
        let (st, _) = call(&s, &me, Method::GET, &path, None).await;
        assert_eq!(st, 403, "a client token is not this user");
        let (st, _) = call(&s, &me, Method::DELETE, &path, None).await;
        assert_eq!(st, 403);
        let (st, got) = call(&s, &t, Method::GET, &path, None).await;
        assert_eq!((st, &got["name"]), (200, &json!("scoped@example.com")));
    }
}

/// The seeding path: `insert_user` inside the caller's transaction, no reads, no hashing; a
/// duplicate key is a unique violation and the rollback leaves nothing behind.
#[tokio::test]
async fn insert_user_in_a_caller_transaction() {
    use gatehouse_store::{
        db::is_unique_violation,
        users::{self, IdentityRow, UserRow},
    };
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let conn = upa(&s).await;
        let db = Db::connect(&s.db.url).await.unwrap();
        let seed = |n: usize, email: &str| {
            let id = format!("{n:024x}");
            let user = UserRow {
                user_id: format!("auth0|{id}"),
                connection_id: conn.clone(),
                connection: "Username-Password-Authentication".into(),
                provider: "auth0".into(),
                email: Some(email.into()),
                name: Some(email.into()),
                nickname: Some(email.split('@').next().unwrap().into()),
                user_metadata: Some(json!({"n": n})),
                created_at: "2024-01-01T00:00:00.000Z".into(),
                updated_at: "2024-01-01T00:00:00.000Z".into(),
                ..UserRow::default()
            };
            let identity = IdentityRow {
                connection_id: conn.clone(),
                identity_user_id: id,
                user_id: user.user_id.clone(),
                connection: user.connection.clone(),
                provider: "auth0".into(),
                is_primary: true,
                password_hash: Some(
                    "$2b$10$precomputedprecomputedprecomputedprecomputedpre".into(),
                ),
                ..IdentityRow::default()
            };
            let keys = vec![("email", email.to_owned())];
            (user, identity, keys)
        };
        let tx = db.begin().await.unwrap();
        for n in 0..50 {
            let (u, i, k) = seed(n, &format!("seed{n}@example.com"));
            users::insert_user(&tx, DEFAULT_TENANT, &u, &i, &k)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        assert_eq!(user_count(&s, &t).await, 50);
        let (st, got) = call(
            &s,
            &t,
            Method::GET,
            &format!("/users/{}", enc(&format!("auth0|{:024x}", 7))),
            None,
        )
        .await;
        assert_eq!(st, 200, "{got}");
        assert_eq!(got["user_metadata"], json!({"n": 7}));
        assert_eq!(got["identities"][0]["user_id"], format!("{:024x}", 7));

        {
            let tx = db.begin().await.unwrap();
            let (u, i, k) = seed(100, "fresh@example.com");
            users::insert_user(&tx, DEFAULT_TENANT, &u, &i, &k)
                .await
                .unwrap();
            let (u, i, k) = seed(101, "seed3@example.com");
            let e = users::insert_user(&tx, DEFAULT_TENANT, &u, &i, &k)
                .await
                .unwrap_err();
            assert!(is_unique_violation(&e), "{e:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(user_count(&s, &t).await, 50);
        let (_, l) = call(
            &s,
            &t,
            Method::GET,
            "/users-by-email?email=fresh@example.com",
            None,
        )
        .await;
        assert_eq!(l, json!([]));
    }
}
