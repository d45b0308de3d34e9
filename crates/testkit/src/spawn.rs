//! Boots a real Gatehouse on a random port with a fresh database: SQLite in a temporary folder,
//! or a fresh schema of the PostgreSQL named by `GATEHOUSE_TEST_DATABASE_URL`.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use gatehouse_api::{AdminCredentials, Config, Running, TlsMode};
use rand::Rng;
use serde_json::{Value, json};

pub const PG_ENV: &str = "GATEHOUSE_TEST_DATABASE_URL";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

/// SQLite always; PostgreSQL when `GATEHOUSE_TEST_DATABASE_URL` is set. Says loudly when it is not.
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    match std::env::var(PG_ENV) {
        Ok(url) if !url.is_empty() => v.push(Backend::Postgres(url)),
        _ => eprintln!(
            "WARNING: {PG_ENV} is not set: the PostgreSQL half of this test is SKIPPED (CI always sets it)"
        ),
    }
    v
}

fn random_suffix() -> String {
    let n: u64 = rand::thread_rng().r#gen();
    format!("{n:016x}")
}

/// A database for one test.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: &Backend) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                let path: PathBuf = dir.path().join("gatehouse.db");
                Ok(Self {
                    url: path.to_string_lossy().into_owned(),
                    _dir: Some(dir),
                })
            }
            Backend::Postgres(base) => {
                let schema = format!("gh_test_{}", random_suffix());
                let admin = gatehouse_store::Db::connect(base)
                    .await
                    .context("connecting to the test PostgreSQL")?;
                admin
                    .execute(&format!("CREATE SCHEMA {schema}"), vec![])
                    .await?;
                let sep = if base.contains('?') { '&' } else { '?' };
                Ok(Self {
                    url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
                    _dir: None,
                })
            }
        }
    }
}

pub struct TestServer {
    pub url: String,
    pub backend: Backend,
    pub admin_client_id: String,
    pub admin_client_secret: String,
    pub http: reqwest::Client,
    pub running: Option<Running>,
    pub db: TestDb,
    /// The DNS server the server checks custom domains with (`None`: the system resolver).
    pub dns_resolver: Option<SocketAddr>,
}

/// A server on SQLite.
pub async fn spawn() -> TestServer {
    spawn_on(&Backend::Sqlite).await
}

pub async fn spawn_on(backend: &Backend) -> TestServer {
    match try_spawn(backend).await {
        Ok(s) => s,
        Err(e) => panic!("could not start Gatehouse on {}: {e:?}", backend.name()),
    }
}

async fn start_on(
    db_url: &str,
    id: &str,
    secret: &str,
    issuer: Option<String>,
    dns_resolver: Option<SocketAddr>,
) -> anyhow::Result<Running> {
    let cfg = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: db_url.to_owned(),
        issuer,
        admin: AdminCredentials {
            client_id: Some(id.to_owned()),
            client_secret: Some(secret.to_owned().into()),
        },
        tls: TlsMode::None,
        dns_resolver,
        // Tests reach their own servers on loopback and wait for runaway actions briefly.
        actions: gatehouse_api::ActionsConfig {
            timeout: std::time::Duration::from_secs(3),
            allow_private_fetch: true,
        },
        jobs: Default::default(),
        smtp: Default::default(),
        // Deliveries reach the tests' own receivers (loopback, the test CA).
        webhooks: gatehouse_api::WebhooksConfig {
            allow_private: true,
            ca_file: Some(crate::receiver::ca_file()),
            // Retries and suspension within a test's patience.
            retry_base: std::time::Duration::from_millis(20),
        },
        // Event deliveries: 2 attempts, a stream disabled after 3 failed deliveries in a row.
        events: gatehouse_api::EventsConfig {
            max_attempts: 2,
            disable_after_consecutive: 3,
            ..Default::default()
        },
        logs: Default::default(),
    };
    gatehouse_api::start(&cfg).await
}

pub async fn try_spawn(backend: &Backend) -> anyhow::Result<TestServer> {
    try_spawn_with_dns(backend, None).await
}

/// A server that checks custom domains' DNS records at `dns_resolver` (a test's DNS server).
pub async fn spawn_with_dns(backend: &Backend, dns_resolver: SocketAddr) -> TestServer {
    match try_spawn_with_dns(backend, Some(dns_resolver)).await {
        Ok(s) => s,
        Err(e) => panic!("could not start Gatehouse on {}: {e:?}", backend.name()),
    }
}

async fn try_spawn_with_dns(
    backend: &Backend,
    dns_resolver: Option<SocketAddr>,
) -> anyhow::Result<TestServer> {
    let db = TestDb::new(backend).await?;
    let id = format!("admin{}", random_suffix());
    let secret = format!("secret-{}-{}", random_suffix(), random_suffix());
    let running = start_on(&db.url, &id, &secret, None, dns_resolver).await?;
    Ok(TestServer {
        url: running.base_url(),
        backend: backend.clone(),
        admin_client_id: id,
        admin_client_secret: secret,
        http: reqwest::Client::new(),
        running: Some(running),
        db,
        dns_resolver,
    })
}

impl TestServer {
    /// `{url}/api/v2{path}`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v2{path}", self.url)
    }

    /// The Management API's audience, `{url}/api/v2/`.
    pub fn mgmt_audience(&self) -> String {
        format!("{}/api/v2/", self.url)
    }

    /// A Management API token with every scope.
    pub async fn mgmt_token(&self) -> String {
        self.access_token(None).await
    }

    /// A Management API token narrowed to `scope` (space-separated).
    pub async fn token_with_scope(&self, scope: &str) -> String {
        self.access_token(Some(scope)).await
    }

    async fn access_token(&self, scope: Option<&str>) -> String {
        let (status, v) = self.client_credentials(&self.mgmt_audience(), scope).await;
        match v.get("access_token").and_then(Value::as_str) {
            Some(t) => t.to_owned(),
            None => panic!("no access_token ({status}) in {v}"),
        }
    }

    /// The admin client's client-credentials request for `audience`, optionally narrowed to
    /// `scope`: the status and the JSON reply.
    pub async fn client_credentials(&self, audience: &str, scope: Option<&str>) -> (u16, Value) {
        let mut body = json!({
            "grant_type": "client_credentials",
            "client_id": self.admin_client_id,
            "client_secret": self.admin_client_secret,
            "audience": audience,
        });
        if let Some(s) = scope {
            body["scope"] = json!(s);
        }
        let res = match self
            .http
            .post(format!("{}/oauth/token", self.url))
            .json(&body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => panic!("token request failed: {e}"),
        };
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// A second instance on the same database with the same issuer, as several stateless
    /// instances behind one name run: tokens of either are good at both. Reach it at its own
    /// `Running::addr` (its `base_url()` is the shared issuer's).
    pub async fn twin(&self) -> Running {
        match start_on(
            &self.db.url,
            &self.admin_client_id,
            &self.admin_client_secret,
            Some(format!("{}/", self.url)),
            self.dns_resolver,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => panic!("a second instance did not start: {e:?}"),
        }
    }

    /// Stops the server and starts it again on the same database.
    pub async fn restart(mut self) -> Self {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
        let running = match start_on(
            &self.db.url,
            &self.admin_client_id,
            &self.admin_client_secret,
            None,
            self.dns_resolver,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => panic!("restart failed: {e:?}"),
        };
        self.url = running.base_url();
        self.running = Some(running);
        self
    }
}

/// One Management API call with a bearer token: the status and the JSON body (`Null` when the
/// reply has none). Panics on a transport failure or a non-JSON body, as a test should.
pub async fn call(
    s: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = s.http.request(method, s.api(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = match req.send().await {
        Ok(r) => r,
        Err(e) => panic!("request to {path} failed: {e}"),
    };
    let status = res.status().as_u16();
    let text = match res.text().await {
        Ok(t) => t,
        Err(e) => panic!("reading the reply of {path} failed: {e}"),
    };
    if text.is_empty() {
        return (status, Value::Null);
    }
    match serde_json::from_str(&text) {
        Ok(v) => (status, v),
        Err(e) => panic!("{path} answered {status} with a non-JSON body ({e}): {text}"),
    }
}
