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

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar.lock().unwrap().insert(name.into(), value.into());
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
        q.append_pair("client_id", client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", CALLBACK)
            .append_pair("scope", "openid profile email")
            .append_pair("state", "st-123");
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
            let mut u = reqwest::Url::parse(&authorize_url(&s, &a.client_id, &[])).unwrap();
            let kept: Vec<(String, String)> = u
                .query_pairs()
                .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            u.query_pairs_mut()
                .clear()
                .extend_pairs(kept)
                .extend_pairs(extra.iter());
            let p = br.get(u.as_str()).await;
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
        let _ = json!(null) == Value::Null;
    }
}
