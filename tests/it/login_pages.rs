//! `/authorize`, the hosted login pages, login sessions and logout, over plain HTTP with a
//! small cookie jar (as a browser without JavaScript would use them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use gatehouse_testkit::{TestServer, backends, spawn::call, spawn_on};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const CALLBACK: &str = "https://app.example.com/callback";

/// A browser: a cookie jar, no redirects followed.
#[derive(Clone)]
pub struct Browser {
    http: reqwest::Client,
    jar: Arc<Mutex<HashMap<String, String>>>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Browser {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: Arc::default(),
        }
    }

    fn cookie_header(&self) -> String {
        self.jar
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(name).cloned()
    }

    async fn finish(&self, r: reqwest::Response) -> Page {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let first = v.split(';').next().unwrap();
            let (k, val) = first.split_once('=').unwrap();
            let mut jar = self.jar.lock().unwrap();
            if val.is_empty() || v.contains("Max-Age=0") {
                jar.remove(k);
            } else {
                jar.insert(k.to_owned(), val.to_owned());
            }
        }
        Page {
            status: r.status().as_u16(),
            location: r
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned()),
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        }
    }

    pub async fn get(&self, url: &str) -> Page {
        let r = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .header("user-agent", "gatehouse-test-browser")
            .send()
            .await
            .unwrap();
        self.finish(r).await
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .header("user-agent", "gatehouse-test-browser")
            .form(form)
            .send()
            .await
            .unwrap();
        self.finish(r).await
    }
}

/// The value of a hidden input in a page.
pub fn hidden(body: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let i = body
        .find(&needle)
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        + needle.len();
    body[i..].split('"').next().unwrap().to_owned()
}

/// A query parameter of a URL.
pub fn param(url: &str, name: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).unwrap();
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub fn pkce() -> (String, String) {
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-extra-entropy".to_owned();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub struct App {
    pub client_id: String,
    pub client_secret: String,
    pub connection: String,
}

/// A regular web app with a callback and a logout URL, a database connection enabled for it,
/// and a user `alice@example.com` / `Passw0rd!-alice`.
pub async fn app(s: &TestServer, t: &str, first_party: bool) -> App {
    let (st, c) = call(
        s,
        t,
        Method::POST,
        "/clients",
        Some(json!({
            "name": "Sample App",
            "app_type": "regular_web",
            "is_first_party": first_party,
            "callbacks": [CALLBACK, "https://*.example.org/cb"],
            "allowed_logout_urls": ["https://app.example.com/bye"],
            "grant_types": ["authorization_code", "refresh_token"],
        })),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    let client_id = c["client_id"].as_str().unwrap().to_owned();
    let connection = format!("db-{}", &client_id[..8]).to_lowercase();
    let (st, conn) = call(
        s,
        t,
        Method::POST,
        "/connections",
        Some(
            json!({"name": connection, "strategy": "auth0", "enabled_clients": [client_id],
                    "options": {"passwordPolicy": "low"}}),
        ),
    )
    .await;
    assert_eq!(st, 201, "{conn}");
    let (st, u) = call(
        s,
        t,
        Method::POST,
        "/users",
        Some(json!({"connection": connection, "email": "alice@example.com", "password": "Passw0rd!-alice"})),
    )
    .await;
    assert_eq!(st, 201, "{u}");
    // The login and sign-up pages use the tenant's default directory (the client may have more
    // than one database connection).
    let (st, v) = call(
        s,
        t,
        Method::PATCH,
        "/tenants/settings",
        Some(json!({"default_directory": connection})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    App {
        client_id,
        client_secret: c["client_secret"].as_str().unwrap_or_default().to_owned(),
        connection,
    }
}

pub fn authorize_url(s: &TestServer, client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut u = reqwest::Url::parse(&format!("{}/authorize", s.url)).unwrap();
    {
        let mut q = u.query_pairs_mut();
        let defaults = [
            ("client_id", client_id),
            ("response_type", "code"),
            ("redirect_uri", CALLBACK),
            ("scope", "openid profile email"),
            ("state", "st-123"),
        ];
        for (k, v) in defaults {
            if !extra.iter().any(|(e, _)| *e == k) {
                q.append_pair(k, v);
            }
        }
        for (k, v) in extra {
            q.append_pair(k, v);
        }
    }
    u.to_string()
}

#[tokio::test]
async fn authorize_validates_client_and_callback_without_redirecting() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let a = app(&s, &t, true).await;
        let br = Browser::new();
        // No client, unknown client, callback mismatch: an error page, never a redirect.
        for url in [
            format!("{}/authorize?response_type=code", s.url),
            format!(
                "{}/authorize?client_id=nope&response_type=code&redirect_uri={CALLBACK}",
                s.url
            ),
            authorize_url(
                &s,
                &a.client_id,
                &[("redirect_uri", "https://evil.example.net/cb")],
            ),
        ] {
            let p = br.get(&url).await;
            assert_eq!(p.status, 400, "{url}: {}", p.body);
            assert!(p.location.is_none());
            assert!(
                p.headers["content-security-policy"]
                    .to_str()
                    .unwrap()
                    .contains("frame-ancestors 'none'")
            );
            assert_eq!(p.headers["x-frame-options"], "DENY");
        }
        let mismatch = br
            .get(&format!(
                "{}/authorize?client_id={}&response_type=code&redirect_uri={}",
                s.url, a.client_id, "https%3A%2F%2Fapp.example.com%2Fcallback%2F..%2Fevil"
            ))
            .await;
        assert!(
            mismatch.body.contains("Callback URL mismatch"),
            "{}",
            mismatch.body
        );
        // A wildcard callback: one subdomain label only.
        let ok = br
            .get(&authorize_url(
                &s,
                &a.client_id,
                &[("redirect_uri", "https://tenant1.example.org/cb")],
            ))
            .await;
        assert_eq!(ok.status, 302, "{}", ok.body);
        let deep = br
            .get(&authorize_url(
                &s,
                &a.client_id,
                &[("redirect_uri", "https://a.b.example.org/cb")],
            ))
            .await;
        assert_eq!(deep.status, 400);

        // After a valid callback, errors go to it as OAuth errors with the state.
        let cases = [
            (
                vec![("response_type", "token")],
                "unsupported_response_type",
            ),
            (vec![("response_mode", "web_message")], "invalid_request"),
            (vec![("code_challenge_method", "S256")], "invalid_request"),
            (
                vec![
                    ("code_challenge", "short"),
                    ("code_challenge_method", "S256"),
                ],
                "invalid_request",
            ),
            (vec![("prompt", "bogus")], "invalid_request"),
            (vec![("max_age", "-1")], "invalid_request"),
            (vec![("audience", "https://no-such-api")], "access_denied"),
            (
                vec![("organization", "org_doesnotexist")],
                "invalid_request",
            ),
            (vec![("prompt", "none")], "login_required"),
        ];
        for (extra, error) in cases {
            let u = authorize_url(&s, &a.client_id, &extra);
            let p = br.get(&u).await;
            assert_eq!(p.status, 302, "{extra:?}: {}", p.body);
            let loc = p.location.unwrap();
            assert!(loc.starts_with(CALLBACK), "{loc}");
            assert_eq!(
                param(&loc, "error").as_deref(),
                Some(error),
                "{extra:?}: {loc}"
            );
            assert_eq!(param(&loc, "state").as_deref(), Some("st-123"));
            assert!(param(&loc, "code").is_none());
        }
        // A good request goes to the login page with a transaction and its cookie.
        let p = br.get(&authorize_url(&s, &a.client_id, &[])).await;
        assert_eq!(p.status, 302);
        let loc = p.location.unwrap();
        assert!(loc.starts_with("/u/login?state="), "{loc}");
        assert!(br.cookie("gh_tx").is_some());
        let set = p.headers["set-cookie"].to_str().unwrap();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Lax"),
            "{set}"
        );
        let login = br.get(&format!("{}{loc}", s.url)).await;
        assert_eq!(login.status, 200, "{}", login.body);
        assert!(login.body.contains("Sample App"));
        assert!(!hidden(&login.body, "csrf").is_empty());
        // Another browser (no transaction cookie) cannot use the transaction.
        let other = Browser::new().get(&format!("{}{loc}", s.url)).await;
        assert_eq!(other.status, 400);
        // signup screen hint
        let p = br
            .get(&authorize_url(
                &s,
                &a.client_id,
                &[("screen_hint", "signup")],
            ))
            .await;
        assert!(p.location.unwrap().starts_with("/u/signup?state="));
    }
}

/// Logs in through the hosted form: returns the callback URL the browser was sent to.
pub async fn login(s: &TestServer, br: &Browser, url: &str, user: &str, password: &str) -> Page {
    let p = br.get(url).await;
    assert_eq!(p.status, 302, "{}", p.body);
    let loc = p.location.unwrap();
    assert!(loc.starts_with("/u/login?state="), "{loc}");
    let page = br.get(&format!("{}{loc}", s.url)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let state = hidden(&page.body, "state");
    let csrf = hidden(&page.body, "csrf");
    br.post(
        &format!("{}/u/login?state={state}", s.url),
        &[
            ("state", &state),
            ("csrf", &csrf),
            ("username", user),
            ("password", password),
        ],
    )
    .await
}

async fn exchange(s: &TestServer, a: &App, code: &str, verifier: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/oauth/token", s.url))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &a.client_id),
            ("client_secret", &a.client_secret),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", CALLBACK),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn login_form_session_sso_and_code() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let a = app(&s, &t, true).await;
        let br = Browser::new();
        let (verifier, challenge) = pkce();
        let pk = [
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("nonce", "n-1"),
        ];

        // A wrong password: Auth0's message, no session.
        let p = login(
            &s,
            &br,
            &authorize_url(&s, &a.client_id, &pk),
            "alice@example.com",
            "wrong",
        )
        .await;
        assert_eq!(p.status, 400);
        assert!(p.body.contains("Wrong email or password."), "{}", p.body);
        assert!(br.cookie("gh_session").is_none());
        // An unknown user: the same message.
        let p = login(
            &s,
            &br,
            &authorize_url(&s, &a.client_id, &pk),
            "nobody@example.com",
            "wrong",
        )
        .await;
        assert!(p.body.contains("Wrong email or password."));

        // CSRF: a POST without the page's token is refused, even with the right password.
        let first = br.get(&authorize_url(&s, &a.client_id, &pk)).await;
        let loc = first.location.unwrap();
        let page = br.get(&format!("{}{loc}", s.url)).await;
        let st = hidden(&page.body, "state");
        let forged = br
            .post(
                &format!("{}/u/login", s.url),
                &[
                    ("state", st.as_str()),
                    ("csrf", "forged"),
                    ("username", "alice@example.com"),
                    ("password", "Passw0rd!-alice"),
                ],
            )
            .await;
        assert_eq!(forged.status, 403, "{}", forged.body);
        // Another browser with the right token but not the transaction's cookie: refused.
        let csrf = hidden(&page.body, "csrf");
        let other = Browser::new()
            .post(
                &format!("{}/u/login", s.url),
                &[
                    ("state", st.as_str()),
                    ("csrf", csrf.as_str()),
                    ("username", "alice@example.com"),
                    ("password", "Passw0rd!-alice"),
                ],
            )
            .await;
        assert_eq!(other.status, 400, "{}", other.body);

        // The right password: a session cookie and a code for the callback.
        let p = login(
            &s,
            &br,
            &authorize_url(&s, &a.client_id, &pk),
            "alice@example.com",
            "Passw0rd!-alice",
        )
        .await;
        assert_eq!(p.status, 302, "{}", p.body);
        let set = p
            .headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>();
        let sc = set
            .iter()
            .find(|c| c.starts_with("gh_session="))
            .expect("session cookie");
        assert!(
            sc.contains("HttpOnly") && sc.contains("SameSite=Lax") && !sc.contains("Secure"),
            "{sc}"
        );
        let cb = p.location.unwrap();
        assert!(cb.starts_with(CALLBACK), "{cb}");
        assert_eq!(param(&cb, "state").as_deref(), Some("st-123"));
        let code = param(&cb, "code").unwrap();
        assert!(code.len() >= 43);
        let (st, tok) = exchange(&s, &a, &code, &verifier).await;
        assert_eq!(st, 200, "{tok}");
        assert!(tok["id_token"].is_string(), "{tok}");
        // Single use.
        let (st, again) = exchange(&s, &a, &code, &verifier).await;
        assert_eq!(st, 403, "{again}");
        assert_eq!(again["error"], "invalid_grant");

        // SSO: the next /authorize skips the page; prompt=none works too.
        for extra in [vec![], vec![("prompt", "none")]] {
            let mut q = pk.to_vec();
            q.extend(extra);
            let p = br.get(&authorize_url(&s, &a.client_id, &q)).await;
            assert_eq!(p.status, 302);
            let cb = p.location.unwrap();
            assert!(param(&cb, "code").is_some(), "{cb}");
        }
        // prompt=login asks again; so does a max_age the login is older than.
        let p = br
            .get(&authorize_url(&s, &a.client_id, &[("prompt", "login")]))
            .await;
        assert!(p.location.unwrap().starts_with("/u/login"));
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let p = br
            .get(&authorize_url(&s, &a.client_id, &[("max_age", "0")]))
            .await;
        assert!(p.location.unwrap().starts_with("/u/login"));
        let p = br
            .get(&authorize_url(
                &s,
                &a.client_id,
                &[("max_age", "0"), ("prompt", "none")],
            ))
            .await;
        assert_eq!(
            param(&p.location.unwrap(), "error").as_deref(),
            Some("login_required")
        );
        let p = br
            .get(&authorize_url(&s, &a.client_id, &[("max_age", "3600")]))
            .await;
        assert!(param(&p.location.unwrap(), "code").is_some());

        // form_post: a page posting the code to the callback (CSP allows only that script).
        let p = br
            .get(&authorize_url(
                &s,
                &a.client_id,
                &[("response_mode", "form_post")],
            ))
            .await;
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(
            p.body.contains(&format!("action=\"{CALLBACK}\"")),
            "{}",
            p.body
        );
        assert!(!hidden(&p.body, "code").is_empty());
        assert_eq!(hidden(&p.body, "state"), "st-123");
        let csp = p.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'sha256-") && csp.contains("https://app.example.com"),
            "{csp}"
        );

        // A revoked (deleted) session stops working at once.
        let db = gatehouse_store::Db::connect(&s.db.url).await.unwrap();
        let secret = br.cookie("gh_session").unwrap();
        let hash = hex::encode(Sha256::digest(secret.as_bytes()));
        let row = gatehouse_store::sessions::find_by_cookie(
            &db,
            gatehouse_store::tenants::DEFAULT_TENANT,
            &hash,
        )
        .await
        .unwrap()
        .expect("the session row");
        assert_eq!(row.body["clients"][0]["client_id"], a.client_id.as_str());
        assert_eq!(
            row.body["device"]["last_user_agent"],
            "gatehouse-test-browser"
        );
        assert_eq!(row.body["authentication"]["methods"][0]["name"], "pwd");
        assert_ne!(row.cookie_hash, secret, "only the hash is stored");
        gatehouse_store::sessions::delete(&db, gatehouse_store::tenants::DEFAULT_TENANT, &row.id)
            .await
            .unwrap();
        let p = br
            .get(&authorize_url(&s, &a.client_id, &[("prompt", "none")]))
            .await;
        assert_eq!(
            param(&p.location.unwrap(), "error").as_deref(),
            Some("login_required")
        );

        // The tenant log has the successful login.
        let (_, logs) = call(&s, &t, Method::GET, "/logs?q=type:s", None).await;
        assert!(
            logs.as_array()
                .unwrap()
                .iter()
                .any(|l| l["type"] == "s" && l["client_id"] == a.client_id.as_str()),
            "{logs}"
        );
    }
}

#[tokio::test]
async fn logout_and_open_redirects() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let a = app(&s, &t, true).await;
        let br = Browser::new();
        let p = login(
            &s,
            &br,
            &authorize_url(&s, &a.client_id, &[("nonce", "n")]),
            "alice@example.com",
            "Passw0rd!-alice",
        )
        .await;
        let code = param(&p.location.unwrap(), "code").unwrap();
        let r = reqwest::Client::new()
            .post(format!("{}/oauth/token", s.url))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", &a.client_id),
                ("client_secret", &a.client_secret),
                ("code", &code),
                ("redirect_uri", CALLBACK),
            ])
            .send()
            .await
            .unwrap();
        let tok: Value = r.json().await.unwrap();
        let id_token = tok["id_token"].as_str().unwrap().to_owned();

        // Open redirects are refused: not in the allowed logout URLs.
        for bad in [
            format!(
                "{}/v2/logout?client_id={}&returnTo=https%3A%2F%2Fevil.example.net%2F",
                s.url, a.client_id
            ),
            format!(
                "{}/v2/logout?returnTo=https%3A%2F%2Fapp.example.com%2Fbye",
                s.url
            ),
            format!(
                "{}/oidc/logout?id_token_hint={id_token}&post_logout_redirect_uri=https%3A%2F%2Fevil.example.net%2F",
                s.url
            ),
            format!(
                "{}/oidc/logout?id_token_hint=not.a.token&post_logout_redirect_uri=https%3A%2F%2Fapp.example.com%2Fbye",
                s.url
            ),
        ] {
            let p = br.get(&bad).await;
            assert_eq!(p.status, 400, "{bad}: {}", p.body);
            assert!(p.location.is_none());
        }
        // Refused logouts did not end the session.
        let p = br
            .get(&authorize_url(&s, &a.client_id, &[("prompt", "none")]))
            .await;
        assert!(param(&p.location.unwrap(), "code").is_some());

        // RP-initiated logout with the ID token: back to the allowed URL with the state.
        let p = br
            .get(&format!(
                "{}/oidc/logout?id_token_hint={id_token}&post_logout_redirect_uri=https%3A%2F%2Fapp.example.com%2Fbye&state=xyz",
                s.url
            ))
            .await;
        assert_eq!(p.status, 302, "{}", p.body);
        assert_eq!(
            p.location.as_deref(),
            Some("https://app.example.com/bye?state=xyz")
        );
        let p = br
            .get(&authorize_url(&s, &a.client_id, &[("prompt", "none")]))
            .await;
        assert_eq!(
            param(&p.location.unwrap(), "error").as_deref(),
            Some("login_required")
        );

        // /v2/logout with the client's allowed URL.
        login(
            &s,
            &br,
            &authorize_url(&s, &a.client_id, &[]),
            "alice@example.com",
            "Passw0rd!-alice",
        )
        .await;
        let p = br
            .get(&format!(
                "{}/v2/logout?client_id={}&returnTo=https%3A%2F%2Fapp.example.com%2Fbye",
                s.url, a.client_id
            ))
            .await;
        assert_eq!(p.status, 302, "{}", p.body);
        assert_eq!(p.location.as_deref(), Some("https://app.example.com/bye"));
        let p = br
            .get(&authorize_url(&s, &a.client_id, &[("prompt", "none")]))
            .await;
        assert_eq!(
            param(&p.location.unwrap(), "error").as_deref(),
            Some("login_required")
        );
        let (_, logs) = call(&s, &t, Method::GET, "/logs?q=type:slo", None).await;
        assert!(
            logs.as_array().unwrap().iter().any(|l| l["type"] == "slo"),
            "{logs}"
        );
    }
}

#[tokio::test]
async fn consent_for_third_party_clients() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let a = app(&s, &t, false).await;
        let br = Browser::new();
        let p = login(
            &s,
            &br,
            &authorize_url(&s, &a.client_id, &[]),
            "alice@example.com",
            "Passw0rd!-alice",
        )
        .await;
        assert_eq!(p.status, 302, "{}", p.body);
        let loc = p.location.unwrap();
        assert!(loc.starts_with("/u/consent?state="), "{loc}");
        let page = br.get(&format!("{}{loc}", s.url)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("openid") && page.body.contains("Sample App"));
        let (st, csrf) = (hidden(&page.body, "state"), hidden(&page.body, "csrf"));
        // Declined: access_denied to the callback.
        let p = br
            .post(
                &format!("{}/u/consent", s.url),
                &[
                    ("state", st.as_str()),
                    ("csrf", csrf.as_str()),
                    ("action", "deny"),
                ],
            )
            .await;
        let cb = p.location.unwrap();
        assert_eq!(
            param(&cb, "error").as_deref(),
            Some("access_denied"),
            "{cb}"
        );
        // Without consent, prompt=none answers consent_required.
        let p = br
            .get(&authorize_url(&s, &a.client_id, &[("prompt", "none")]))
            .await;
        assert_eq!(
            param(&p.location.unwrap(), "error").as_deref(),
            Some("consent_required")
        );
        // Accepted: a grant, then the code; the next time no consent page.
        let p = br.get(&authorize_url(&s, &a.client_id, &[])).await;
        let loc = p.location.unwrap();
        assert!(loc.starts_with("/u/consent"), "{loc}");
        let page = br.get(&format!("{}{loc}", s.url)).await;
        let (st, csrf) = (hidden(&page.body, "state"), hidden(&page.body, "csrf"));
        let bad = br
            .post(
                &format!("{}/u/consent", s.url),
                &[("state", st.as_str()), ("csrf", "x"), ("action", "accept")],
            )
            .await;
        assert_eq!(bad.status, 403);
        let p = br
            .post(
                &format!("{}/u/consent", s.url),
                &[
                    ("state", st.as_str()),
                    ("csrf", csrf.as_str()),
                    ("action", "accept"),
                ],
            )
            .await;
        assert!(param(&p.location.unwrap(), "code").is_some());
        let p = br
            .get(&authorize_url(&s, &a.client_id, &[("prompt", "none")]))
            .await;
        assert!(param(&p.location.unwrap(), "code").is_some());
        let db = gatehouse_store::Db::connect(&s.db.url).await.unwrap();
        let (grants, n) = gatehouse_store::grants::list(
            &db,
            gatehouse_store::tenants::DEFAULT_TENANT,
            gatehouse_store::grants::GrantFilter {
                client_id: Some(&a.client_id),
                ..Default::default()
            },
            gatehouse_store::Page {
                limit: 10,
                offset: 0,
            },
        )
        .await
        .unwrap();
        assert_eq!(n, 1);
        assert_eq!(grants[0].scope, vec!["openid", "profile", "email"]);
    }
}

#[tokio::test]
async fn sign_up_page_creates_the_user_and_logs_in() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let a = app(&s, &t, true).await;
        let br = Browser::new();
        let p = br
            .get(&authorize_url(
                &s,
                &a.client_id,
                &[("screen_hint", "signup")],
            ))
            .await;
        let loc = p.location.unwrap();
        let page = br.get(&format!("{}{loc}", s.url)).await;
        assert_eq!(page.status, 200);
        let (st, csrf) = (hidden(&page.body, "state"), hidden(&page.body, "csrf"));
        let p = br
            .post(
                &format!("{}/u/signup", s.url),
                &[
                    ("state", st.as_str()),
                    ("csrf", csrf.as_str()),
                    ("email", "bob@example.com"),
                    ("password", "Bob-Passw0rd!"),
                ],
            )
            .await;
        assert_eq!(p.status, 302, "{}", p.body);
        assert!(param(&p.location.unwrap(), "code").is_some());
        let (_, users) = call(
            &s,
            &t,
            Method::GET,
            "/users-by-email?email=bob@example.com",
            None,
        )
        .await;
        assert_eq!(users.as_array().unwrap().len(), 1, "{users}");
        assert_eq!(
            users[0]["identities"][0]["connection"],
            a.connection.as_str()
        );
        // The same address again: the page shows the error.
        let br2 = Browser::new();
        let p = br2
            .get(&authorize_url(
                &s,
                &a.client_id,
                &[("screen_hint", "signup")],
            ))
            .await;
        let page = br2.get(&format!("{}{}", s.url, p.location.unwrap())).await;
        let (st, csrf) = (hidden(&page.body, "state"), hidden(&page.body, "csrf"));
        let p = br2
            .post(
                &format!("{}/u/signup", s.url),
                &[
                    ("state", st.as_str()),
                    ("csrf", csrf.as_str()),
                    ("email", "bob@example.com"),
                    ("password", "Bob-Passw0rd!"),
                ],
            )
            .await;
        assert_eq!(p.status, 400, "{}", p.body);
        assert!(br2.cookie("gh_session").is_none());
    }
}

/// The login transaction and the session live in the database: a login started on one instance
/// is finished on another, and the session then works on the first.
#[tokio::test]
async fn login_across_stateless_instances() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let a = app(&s, &t, true).await;
        let twin = s.twin().await;
        let other = format!("http://{}", twin.addr);
        let br = Browser::new();
        let p = br.get(&authorize_url(&s, &a.client_id, &[])).await;
        let loc = p.location.unwrap();
        let page = br.get(&format!("{other}{loc}")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let (st, csrf) = (hidden(&page.body, "state"), hidden(&page.body, "csrf"));
        let p = br
            .post(
                &format!("{other}/u/login"),
                &[
                    ("state", st.as_str()),
                    ("csrf", csrf.as_str()),
                    ("username", "alice@example.com"),
                    ("password", "Passw0rd!-alice"),
                ],
            )
            .await;
        assert_eq!(p.status, 302, "{}", p.body);
        assert!(param(&p.location.unwrap(), "code").is_some());
        let p = br
            .get(&authorize_url(&s, &a.client_id, &[("prompt", "none")]))
            .await;
        assert!(param(&p.location.unwrap(), "code").is_some());
        twin.stop().await;
    }
}

/// The session's lifetimes come from the tenant's settings (hours).
#[tokio::test]
async fn session_lifetimes_from_tenant_settings() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let a = app(&s, &t, true).await;
        let (st, v) = call(
            &s,
            &t,
            Method::PATCH,
            "/tenants/settings",
            Some(json!({"session_lifetime": 2, "idle_session_lifetime": 1})),
        )
        .await;
        assert_eq!(st, 200, "{v}");
        let br = Browser::new();
        let before = time::OffsetDateTime::now_utc().unix_timestamp();
        let p = login(
            &s,
            &br,
            &authorize_url(&s, &a.client_id, &[]),
            "alice@example.com",
            "Passw0rd!-alice",
        )
        .await;
        assert_eq!(p.status, 302, "{}", p.body);
        let db = gatehouse_store::Db::connect(&s.db.url).await.unwrap();
        let hash = hex::encode(Sha256::digest(br.cookie("gh_session").unwrap().as_bytes()));
        let row = gatehouse_store::sessions::find_by_cookie(
            &db,
            gatehouse_store::tenants::DEFAULT_TENANT,
            &hash,
        )
        .await
        .unwrap()
        .unwrap();
        assert!(
            (row.expires_at - before - 7200).abs() <= 5,
            "{}",
            row.expires_at - before
        );
        assert!(
            (row.idle_expires_at - before - 3600).abs() <= 5,
            "{}",
            row.idle_expires_at - before
        );
    }
}

/// `organization`: members get a code carrying it (`org_id` in the ID token); others are
/// refused with `access_denied` at the callback.
#[tokio::test]
async fn organization_membership() {
    for b in backends() {
        let s = spawn_on(&b).await;
        let t = s.mgmt_token().await;
        let a = app(&s, &t, true).await;
        let (_, users) = call(
            &s,
            &t,
            Method::GET,
            "/users-by-email?email=alice@example.com",
            None,
        )
        .await;
        let alice = users[0]["user_id"].as_str().unwrap().to_owned();
        let mut orgs = Vec::new();
        for name in ["acme", "other"] {
            let (st, o) = call(
                &s,
                &t,
                Method::POST,
                "/organizations",
                Some(json!({"name": name})),
            )
            .await;
            assert_eq!(st, 201, "{o}");
            orgs.push(o["id"].as_str().unwrap().to_owned());
        }
        let (st, v) = call(
            &s,
            &t,
            Method::POST,
            &format!("/organizations/{}/members", orgs[0]),
            Some(json!({"members": [alice]})),
        )
        .await;
        assert_eq!(st, 204, "{v}");
        let br = Browser::new();
        let p = login(
            &s,
            &br,
            &authorize_url(&s, &a.client_id, &[("organization", &orgs[0])]),
            "alice@example.com",
            "Passw0rd!-alice",
        )
        .await;
        assert_eq!(p.status, 302, "{}", p.body);
        let code = param(&p.location.unwrap(), "code").unwrap();
        let r = reqwest::Client::new()
            .post(format!("{}/oauth/token", s.url))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", &a.client_id),
                ("client_secret", &a.client_secret),
                ("code", &code),
                ("redirect_uri", CALLBACK),
            ])
            .send()
            .await
            .unwrap();
        let tok: Value = r.json().await.unwrap();
        let payload = tok["id_token"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap()
            .to_owned();
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["org_id"], orgs[0].as_str(), "{claims}");
        // Not a member of the other one: access_denied (SSO session, no page).
        let p = br
            .get(&authorize_url(
                &s,
                &a.client_id,
                &[("organization", &orgs[1])],
            ))
            .await;
        let cb = p.location.unwrap();
        assert_eq!(
            param(&cb, "error").as_deref(),
            Some("access_denied"),
            "{cb}"
        );
    }
}
