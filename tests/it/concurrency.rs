//! Concurrent writes lose nothing: many PATCHes of the same objects at once (and, on
//! PostgreSQL, through two instances sharing the database) must each be applied, none answered
//! with a 5xx. Before the row-locking rule these lost most of their updates.

use futures::future::join_all;
use gatehouse_testkit::{Backend, TestServer, backends, spawn::call, spawn_on};
use reqwest::Method;
use serde_json::{Value, json};

/// Sends every request at once, spread over the `bases` (server URLs) in turn; the statuses.
async fn race(s: &TestServer, bases: &[String], token: &str, reqs: &[(String, Value)]) -> Vec<u16> {
    let sends = reqs.iter().enumerate().map(|(i, (path, body))| {
        let url = format!("{}/api/v2{path}", bases[i % bases.len()]);
        let req = s.http.patch(url).bearer_auth(token).json(body);
        async move {
            match req.send().await {
                Ok(r) => r.status().as_u16(),
                Err(e) => panic!("PATCH {path} failed: {e}"),
            }
        }
    });
    join_all(sends).await
}

fn assert_all_ok(b: &Backend, what: &str, statuses: &[u16]) {
    let bad: Vec<&u16> = statuses.iter().filter(|s| **s != 200).collect();
    assert!(
        bad.is_empty(),
        "{}: {what}: {} of {} PATCHes failed: {bad:?}",
        b.name(),
        bad.len(),
        statuses.len()
    );
}

/// A field and the value the i-th object's PATCH gives it.
type Field = (&'static str, fn(usize) -> Value);

/// A family under test: how to create its i-th object, where its id is, and fields that each
/// get one PATCH of their own, all sent at once for every object.
struct Family {
    name: &'static str,
    collection: &'static str,
    id_key: &'static str,
    create: fn(usize) -> Value,
    fields: &'static [Field],
}

const FAMILIES: &[Family] = &[
    Family {
        name: "users",
        collection: "/users",
        id_key: "user_id",
        create: |i| json!({"connection": "Username-Password-Authentication", "email": format!("race{i}@example.com"), "password": format!("Very-str0ng-passw0rd-{i}!")}),
        fields: &[
            ("given_name", |i| json!(format!("Given{i}"))),
            ("family_name", |i| json!(format!("Family{i}"))),
            ("nickname", |i| json!(format!("nick{i}"))),
            ("picture", |i| {
                json!(format!("https://example.com/p{i}.png"))
            }),
        ],
    },
    Family {
        name: "clients",
        collection: "/clients",
        id_key: "client_id",
        create: |i| json!({"name": format!("race client {i}")}),
        fields: &[
            ("description", |i| json!(format!("described {i}"))),
            ("logo_uri", |i| {
                json!(format!("https://example.com/logo{i}.png"))
            }),
            ("callbacks", |i| {
                json!([format!("https://example.com/cb{i}")])
            }),
            ("allowed_origins", |i| {
                json!([format!("https://o{i}.example.com")])
            }),
        ],
    },
    Family {
        name: "resource servers",
        collection: "/resource-servers",
        id_key: "id",
        create: |i| json!({"name": format!("race api {i}"), "identifier": format!("https://race{i}.example.com")}),
        fields: &[
            ("name", |i| json!(format!("renamed api {i}"))),
            ("token_lifetime", |i| json!(3600 + i)),
            ("token_lifetime_for_web", |i| json!(1800 + i)),
            ("allow_offline_access", |_| json!(true)),
        ],
    },
    Family {
        name: "connections",
        collection: "/connections",
        id_key: "id",
        create: |i| json!({"name": format!("race-db-{i}"), "strategy": "auth0"}),
        fields: &[
            ("display_name", |i| json!(format!("Race {i}"))),
            ("metadata", |i| json!({"n": format!("{i}")})),
            ("is_domain_connection", |_| json!(true)),
        ],
    },
];

/// Creates `n` objects of each family, sends one PATCH per (object, field) all at once over
/// `bases`, then reads every object back: each field must hold the value its PATCH set.
async fn every_field_survives(s: &TestServer, bases: &[String], n: usize) {
    let token = s.mgmt_token().await;
    for f in FAMILIES {
        let mut ids = Vec::new();
        for i in 0..n {
            let (status, v) =
                call(s, &token, Method::POST, f.collection, Some((f.create)(i))).await;
            assert_eq!(
                status,
                201,
                "{}: creating {} {i}: {v}",
                s.backend.name(),
                f.name
            );
            ids.push(v[f.id_key].as_str().unwrap().to_owned());
        }
        let path = |id: &str| format!("{}/{}", f.collection, id.replace('|', "%7C"));
        let reqs: Vec<(String, Value)> = ids
            .iter()
            .enumerate()
            .flat_map(|(i, id)| {
                f.fields
                    .iter()
                    .map(move |(k, v)| (path(id), json!({ *k: v(i) })))
            })
            .collect();
        let statuses = race(s, bases, &token, &reqs).await;
        assert_all_ok(&s.backend, f.name, &statuses);
        let mut lost = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let (status, v) = call(s, &token, Method::GET, &path(id), None).await;
            assert_eq!(status, 200, "{v}");
            for (k, want) in f.fields {
                if v[*k] != want(i) {
                    lost.push(format!("{id}.{k} = {}", v[*k]));
                }
            }
        }
        assert!(
            lost.is_empty(),
            "{}: {}: {} of {} updates lost: {lost:?}",
            s.backend.name(),
            f.name,
            lost.len(),
            reqs.len()
        );
    }
}

/// 200 PATCHes of one user, each adding its own first-level metadata key (Auth0 merges
/// first-level keys): every acknowledged key is there afterwards.
async fn every_metadata_key_survives(s: &TestServer, bases: &[String]) {
    let token = s.mgmt_token().await;
    let (status, u) = call(
        s,
        &token,
        Method::POST,
        "/users",
        Some(json!({"connection": "Username-Password-Authentication", "email": "meta@example.com", "password": "Very-str0ng-passw0rd!"})),
    )
    .await;
    assert_eq!(status, 201, "{u}");
    let path = format!(
        "/users/{}",
        u["user_id"].as_str().unwrap().replace('|', "%7C")
    );
    let reqs: Vec<(String, Value)> = (0..200)
        .map(|i| {
            let which = if i % 2 == 0 {
                "app_metadata"
            } else {
                "user_metadata"
            };
            (path.clone(), json!({ which: { format!("k{i}"): i } }))
        })
        .collect();
    let statuses = race(s, bases, &token, &reqs).await;
    assert_all_ok(&s.backend, "metadata", &statuses);
    let (_, v) = call(s, &token, Method::GET, &path, None).await;
    let missing: Vec<usize> = (0..200)
        .filter(|i| {
            let which = if i % 2 == 0 {
                "app_metadata"
            } else {
                "user_metadata"
            };
            v[which][format!("k{i}")] != json!(i)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{}: {} of 200 metadata keys lost: {missing:?}",
        s.backend.name(),
        missing.len()
    );
    // The search rows follow the metadata: every key is findable.
    let (status, found) = call(
        s,
        &token,
        Method::GET,
        "/users?q=app_metadata.k198%3A198&search_engine=v3",
        None,
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
}

/// Configuration documents (tenant settings, attack protection, a screen's rendering): one
/// PATCH per setting, all at once on a tenant that has none stored yet (the first writers race
/// to make the document), some of them into the same nested object: every setting is there
/// afterwards.
async fn every_setting_survives(s: &TestServer, bases: &[String]) {
    let token = s.mgmt_token().await;
    let patches: Vec<(&str, Value, &str, Value)> = vec![
        (
            "/tenants/settings",
            json!({"friendly_name": "Race"}),
            "/friendly_name",
            json!("Race"),
        ),
        (
            "/tenants/settings",
            json!({"picture_url": "https://example.com/r.png"}),
            "/picture_url",
            json!("https://example.com/r.png"),
        ),
        (
            "/tenants/settings",
            json!({"support_email": "help@example.com"}),
            "/support_email",
            json!("help@example.com"),
        ),
        (
            "/tenants/settings",
            json!({"support_url": "https://example.com/help"}),
            "/support_url",
            json!("https://example.com/help"),
        ),
        (
            "/tenants/settings",
            json!({"default_audience": "https://api.example.com"}),
            "/default_audience",
            json!("https://api.example.com"),
        ),
        (
            "/tenants/settings",
            json!({"session_lifetime": 100}),
            "/session_lifetime",
            json!(100),
        ),
        (
            "/tenants/settings",
            json!({"idle_session_lifetime": 50}),
            "/idle_session_lifetime",
            json!(50),
        ),
        (
            "/tenants/settings",
            json!({"flags": {"enable_sso": false}}),
            "/flags/enable_sso",
            json!(false),
        ),
        (
            "/tenants/settings",
            json!({"flags": {"disable_impersonation": false}}),
            "/flags/disable_impersonation",
            json!(false),
        ),
        (
            "/tenants/settings",
            json!({"flags": {"revoke_refresh_token_grant": true}}),
            "/flags/revoke_refresh_token_grant",
            json!(true),
        ),
        (
            "/attack-protection/brute-force-protection",
            json!({"max_attempts": 7}),
            "/max_attempts",
            json!(7),
        ),
        (
            "/attack-protection/brute-force-protection",
            json!({"allowlist": ["10.0.0.1"]}),
            "/allowlist",
            json!(["10.0.0.1"]),
        ),
        (
            "/attack-protection/suspicious-ip-throttling",
            json!({"stage": {"pre-login": {"max_attempts": 11}}}),
            "/stage/pre-login/max_attempts",
            json!(11),
        ),
        (
            "/attack-protection/suspicious-ip-throttling",
            json!({"stage": {"pre-login": {"rate": 40_000}}}),
            "/stage/pre-login/rate",
            json!(40_000),
        ),
        (
            "/attack-protection/suspicious-ip-throttling",
            json!({"stage": {"pre-user-registration": {"max_attempts": 12}}}),
            "/stage/pre-user-registration/max_attempts",
            json!(12),
        ),
        (
            "/prompts/login/screen/login/rendering",
            json!({"rendering_mode": "advanced"}),
            "/rendering_mode",
            json!("advanced"),
        ),
        (
            "/prompts/login/screen/login/rendering",
            json!({"context_configuration": ["screen.texts"]}),
            "/context_configuration",
            json!(["screen.texts"]),
        ),
        (
            "/prompts/login/screen/login/rendering",
            json!({"use_page_template": true}),
            "/use_page_template",
            json!(true),
        ),
    ];
    let reqs: Vec<(String, Value)> = patches
        .iter()
        .map(|(path, body, _, _)| ((*path).to_owned(), body.clone()))
        .collect();
    let statuses = race(s, bases, &token, &reqs).await;
    assert_all_ok(&s.backend, "settings", &statuses);
    let mut lost = Vec::new();
    for (path, _, pointer, want) in &patches {
        let (status, v) = call(s, &token, Method::GET, path, None).await;
        assert_eq!(status, 200, "{v}");
        if v.pointer(pointer) != Some(want) {
            lost.push(format!("{path}{pointer} = {:?}", v.pointer(pointer)));
        }
    }
    assert!(
        lost.is_empty(),
        "{}: {} of {} settings lost: {lost:?}",
        s.backend.name(),
        lost.len(),
        patches.len()
    );
}

/// One phone provider per tenant: of many creations at once, exactly one is made, the others
/// answer 409, and the tenant lists one provider.
async fn one_phone_provider(s: &TestServer, bases: &[String]) {
    let token = s.mgmt_token().await;
    let body = json!({"name": "custom", "configuration": {"delivery_methods": ["text"]}, "credentials": {}});
    let sends = (0..8).map(|i| {
        let url = format!("{}/api/v2/branding/phone/providers", bases[i % bases.len()]);
        let req = s.http.post(url).bearer_auth(&token).json(&body);
        async move {
            match req.send().await {
                Ok(r) => r.status().as_u16(),
                Err(e) => panic!("POST provider failed: {e}"),
            }
        }
    });
    let mut statuses = join_all(sends).await;
    statuses.sort_unstable();
    let mut want = vec![409; 7];
    want.insert(0, 201);
    assert_eq!(statuses, want, "{}", s.backend.name());
    let (status, v) = call(s, &token, Method::GET, "/branding/phone/providers", None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["providers"].as_array().map(Vec::len), Some(1), "{v}");
}

/// POSTs every body at once to `path`, spread over the `bases`; the statuses and replies.
async fn race_posts(
    s: &TestServer,
    bases: &[String],
    token: &str,
    path: &str,
    bodies: &[Value],
) -> Vec<(u16, Value)> {
    let sends = bodies.iter().enumerate().map(|(i, body)| {
        let url = format!("{}/api/v2{path}", bases[i % bases.len()]);
        let req = s.http.post(url).bearer_auth(token).json(body);
        async move {
            match req.send().await {
                Ok(r) => (r.status().as_u16(), r.json().await.unwrap_or(Value::Null)),
                Err(e) => panic!("POST {path} failed: {e}"),
            }
        }
    });
    join_all(sends).await
}

/// Collections with unique keys (rules: a name and an order each held by one rule; a new rule
/// takes the next order): of many creations of one name at once exactly one is made; many
/// creations without an order at once get distinct orders; secrets added at once to one hook
/// are all kept.
async fn unique_keys_hold(s: &TestServer, bases: &[String]) {
    let token = s.mgmt_token().await;
    let script = "function (u, c, cb) { cb(null, u, c); }";
    let same: Vec<Value> = (0..8)
        .map(|_| json!({"name": "one-name", "script": script}))
        .collect();
    let mut statuses: Vec<u16> = race_posts(s, bases, &token, "/rules", &same)
        .await
        .into_iter()
        .map(|(st, _)| st)
        .collect();
    statuses.sort_unstable();
    let mut want = vec![409; 7];
    want.insert(0, 201);
    assert_eq!(statuses, want, "{}: one rule name", s.backend.name());

    let distinct: Vec<Value> = (0..12)
        .map(|i| json!({"name": format!("rule-{i}"), "script": script}))
        .collect();
    let made = race_posts(s, bases, &token, "/rules", &distinct).await;
    let mut orders: Vec<i64> = made
        .iter()
        .map(|(st, v)| {
            assert_eq!(*st, 201, "{}: {v}", s.backend.name());
            v["order"].as_i64().unwrap()
        })
        .collect();
    orders.sort_unstable();
    assert_eq!(orders, (2..14).collect::<Vec<_>>(), "{}", s.backend.name());

    let (status, hook) = call(
        s,
        &token,
        Method::POST,
        "/hooks",
        Some(json!({"name": "race-hook", "script": script, "triggerId": "pre-user-registration"})),
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    let path = format!("/hooks/{}/secrets", hook["id"].as_str().unwrap());
    let secrets: Vec<Value> = (0..10).map(|i| json!({ format!("S{i}"): "v" })).collect();
    for (st, v) in race_posts(s, bases, &token, &path, &secrets).await {
        assert_eq!(st, 201, "{}: {v}", s.backend.name());
    }
    let (_, kept) = call(s, &token, Method::GET, &path, None).await;
    assert_eq!(
        kept.as_object().map(|o| o.len()),
        Some(10),
        "{}: {kept}",
        s.backend.name()
    );
}

#[tokio::test]
async fn concurrent_patches_lose_nothing() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let bases = vec![s.url.clone()];
        every_setting_survives(&s, &bases).await;
        one_phone_provider(&s, &bases).await;
        unique_keys_hold(&s, &bases).await;
        every_metadata_key_survives(&s, &bases).await;
        every_field_survives(&s, &bases, 25).await;
    }
}

/// Two instances on one PostgreSQL: the same rule holds across processes' connections.
#[tokio::test]
async fn two_instances_lose_nothing() {
    for b in backends() {
        if b == Backend::Sqlite {
            continue;
        }
        let s = spawn_on(&b).await;
        let twin = s.twin().await;
        let bases = vec![s.url.clone(), format!("http://{}", twin.addr)];
        every_setting_survives(&s, &bases).await;
        one_phone_provider(&s, &bases).await;
        unique_keys_hold(&s, &bases).await;
        every_metadata_key_survives(&s, &bases).await;
        every_field_survives(&s, &bases, 10).await;
        twin.stop().await;
    }
}
