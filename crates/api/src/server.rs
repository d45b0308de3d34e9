//! Building the app, and serving it over HTTP or HTTPS with graceful shutdown.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Router,
    body::Body,
    extract::State,
    http::{Request, Response, StatusCode},
    response::IntoResponse,
    routing::{any, get},
};
use tower_http::{
    catch_panic::CatchPanicLayer,
    compression::{
        CompressionLayer, CompressionLevel, Predicate,
        predicate::{DefaultPredicate, SizeAbove},
    },
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::TraceLayer,
};
use tracing::Span;

use gatehouse_core::Error;
use gatehouse_spec::Validators;
use gatehouse_store::{Db, tenants::DEFAULT_TENANT};

use crate::{
    authn,
    bootstrap::{AdminCredentials, bootstrap},
    mgmt, scim,
    spine::{self, Registry, auth::new_token_cache, error_response, router::Routes},
    state::{AppState, Inner},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub enum TlsMode {
    None,
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    /// Generate (once) and keep a self-signed certificate in this folder.
    SelfSigned {
        dir: PathBuf,
    },
}

#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    /// `None`: derived from the listen address.
    pub issuer: Option<String>,
    pub admin: AdminCredentials,
    pub tls: TlsMode,
    /// The DNS server that checks custom domains' verification records (`None`: the system's
    /// resolver configuration).
    pub dns_resolver: Option<SocketAddr>,
    /// Actions' limits.
    pub actions: crate::actions::run::ActionsConfig,
    /// Jobs' limits (`--import-max-bytes`, `--export-ttl-secs`).
    pub jobs: crate::mgmt::jobs::JobsConfig,
    /// The e-mail outbox's fallback SMTP server (`--smtp-url`, `--smtp-from`).
    pub smtp: crate::email::smtp::SmtpConfig,
    /// Outgoing deliveries (log streams, event streams).
    pub webhooks: crate::webhooks::WebhooksConfig,
    /// Event deliveries' attempts and when a failing stream is disabled.
    pub events: crate::events::EventsConfig,
    /// The tenant log.
    pub logs: crate::logs::LogsConfig,
}

/// The issuer as Auth0 writes it: scheme, host, trailing slash.
fn issuer_for(cfg: &Config, addr: SocketAddr) -> String {
    if let Some(i) = &cfg.issuer {
        return if i.ends_with('/') {
            i.clone()
        } else {
            format!("{i}/")
        };
    }
    let scheme = if matches!(cfg.tls, TlsMode::None) {
        "http"
    } else {
        "https"
    };
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        addr.ip().to_string()
    };
    let host = if addr.is_ipv6() && !addr.ip().is_unspecified() {
        format!("[{host}]")
    } else {
        host
    };
    format!("{scheme}://{host}:{}/", addr.port())
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> axum::response::Response {
    match state.db.query("SELECT 1 AS ok", vec![]).await {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = ?e, "database not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

async fn not_found() -> axum::response::Response {
    error_response(&Error::RouteNotFound)
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("handler panicked");
    error_response(&Error::Internal(anyhow::anyhow!("handler panicked")))
}

/// What `build` made: the router, the state, and what the first start has to say.
pub struct Built {
    pub router: Router,
    pub state: AppState,
    pub issuer: String,
    pub admin_client_id: String,
    pub new_admin: Option<(String, String)>,
}

/// Connects, migrates, bootstraps the default tenant and assembles the app for `addr`.
pub async fn build(cfg: &Config, addr: SocketAddr) -> anyhow::Result<Built> {
    let issuer = issuer_for(cfg, addr);
    let db = Db::connect(&cfg.database_url).await?;
    let boot = bootstrap(&db, DEFAULT_TENANT, &issuer, &cfg.admin).await?;
    let mut registry = Registry::default();
    mgmt::register(&mut registry);
    registry.set_body_limit(
        gatehouse_spec::Op::PostUsersImports,
        mgmt::jobs::import_body_limit(&cfg.jobs),
    );
    let worker = crate::worker::Worker::new();
    let logs = crate::logs::Logs::start(
        db.clone(),
        worker.bell(crate::logs::streams::QUEUE_KIND),
        &cfg.logs,
    );
    let state = AppState(Arc::new(Inner {
        db,
        default_tenant: Arc::new(boot.tenant),
        validators: Validators::new().map_err(|e| anyhow::anyhow!("the embedded spec: {e}"))?,
        registry,
        routes: Routes::build()?,
        token_cache: new_token_cache(),
        dns_resolver: cfg.dns_resolver,
        network_acls: crate::acl::Cache::default(),
        actions: crate::actions::Runtime::new(&cfg.actions),
        jobs: cfg.jobs.clone(),
        smtp: cfg.smtp.clone(),
        worker,
        logs,
        webhooks: crate::webhooks::Client::new(&cfg.webhooks)?,
        events: crate::events::Events::new(&cfg.events),
        mfa_keys: crate::mfa::keys::Keys::from_env()?,
    }));
    crate::worker::start(&state);
    crate::keyring::spawn_refresher(&state);
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request<Body>| {
            let id = req
                .extensions()
                .get::<RequestId>()
                .and_then(|r| r.header_value().to_str().ok())
                .unwrap_or("")
                .to_owned();
            // The path only: never the query string or headers, which may carry secrets.
            tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
        })
        .on_request(())
        .on_failure(())
        .on_response(|res: &Response<Body>, latency: Duration, _span: &Span| {
            tracing::info!(status = res.status().as_u16(), latency_ms = latency.as_secs_f64() * 1000.0, "response");
        });
    // Small replies are not worth compressing (a gzip costs more CPU than the request). The
    // fastest level: on a 2-3 KB client the default level's deflate was a quarter of a read's
    // server CPU (perf, bench/README.md), for a few percent of size.
    let compress = CompressionLayer::new()
        .quality(CompressionLevel::Fastest)
        .compress_when(DefaultPredicate::new().and(SizeAbove::new(1024)));
    let management = Router::new()
        .route("/api/v2", any(spine::dispatch))
        .route("/api/v2/{*rest}", any(spine::dispatch))
        .merge(crate::config::guardian::routes())
        .layer(compress);
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(management)
        .merge(authn::routes())
        .merge(scim::routes())
        .merge(mgmt::tickets::routes())
        .merge(crate::pages::routes())
        .merge(mgmt::jobs::export::routes())
        .merge(crate::config::profiles::self_service_profiles::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::acl::enforce,
        ))
        .with_state(state.clone())
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(trace)
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));
    Ok(Built {
        router,
        state,
        issuer,
        admin_client_id: boot.admin_client_id,
        new_admin: boot.new_admin,
    })
}

/// A server started in the background (tests, benchmarks).
pub struct Running {
    pub addr: SocketAddr,
    pub issuer: String,
    pub state: AppState,
    pub admin_client_id: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn base_url(&self) -> String {
        self.issuer.trim_end_matches('/').to_owned()
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Binds (port 0 picks a free one) and serves plain HTTP in the background.
pub async fn start(cfg: &Config) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .context("binding")?;
    let addr = listener.local_addr()?;
    let built = build(cfg, addr).await?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let app = built
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = ?e, "server stopped");
        }
    });
    Ok(Running {
        addr,
        issuer: built.issuer,
        state: built.state,
        admin_client_id: built.admin_client_id,
        shutdown: Some(tx),
        task,
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}

/// Makes (once) a self-signed certificate naming the listen host and localhost.
fn self_signed(dir: &PathBuf, addr: SocketAddr) -> anyhow::Result<(PathBuf, PathBuf)> {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    if !addr.ip().is_unspecified() && !addr.ip().is_loopback() {
        names.push(addr.ip().to_string());
    }
    let generated = rcgen::generate_simple_self_signed(names)?;
    std::fs::write(&cert, generated.cert.pem())?;
    std::fs::write(&key, generated.signing_key.serialize_pem())?;
    Ok((cert, key))
}

/// Serves until SIGTERM/SIGINT, printing how to get a token.
pub async fn serve(cfg: Config) -> anyhow::Result<()> {
    let addr = cfg.listen;
    let built = build(&cfg, addr).await?;
    let issuer = built.issuer.clone();
    tracing::info!(%addr, %issuer, "Gatehouse listening");
    println!("Gatehouse is listening on {addr}; issuer {issuer}");
    match &built.new_admin {
        Some((id, secret)) => {
            // Printed once, to the terminal only (never logged): this is the first start.
            println!("Admin client created. Keep these credentials, they are not shown again:");
            println!("  client_id:     {id}");
            println!("  client_secret: {secret}");
            print_token_hint(&issuer, id, "<client_secret above>");
        }
        None => {
            println!("Admin client: {}", built.admin_client_id);
            print_token_hint(
                &issuer,
                &built.admin_client_id,
                "<the secret printed at first start, or $GATEHOUSE_ADMIN_CLIENT_SECRET>",
            );
        }
    }
    match &cfg.tls {
        TlsMode::None => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .context("binding")?;
            let app = built
                .router
                .into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown_signal())
                .await?;
        }
        TlsMode::Files { cert, key } => serve_tls(addr, built.router, cert, key).await?,
        TlsMode::SelfSigned { dir } => {
            let (cert, key) = self_signed(dir, addr)?;
            println!(
                "TLS with a self-signed certificate; clients must trust {}",
                cert.display()
            );
            serve_tls(addr, built.router, &cert, &key).await?;
        }
    }
    Ok(())
}

fn print_token_hint(issuer: &str, id: &str, secret: &str) {
    println!("Get a Management API token:");
    println!(
        "  curl -s -X POST {issuer}oauth/token -H 'content-type: application/json' -d '{{\"grant_type\":\"client_credentials\",\"client_id\":\"{id}\",\"client_secret\":\"{secret}\",\"audience\":\"{issuer}api/v2/\"}}'"
    );
}

/// Selects the process's TLS crypto provider (aws-lc-rs) for rustls servers; harmless when
/// one is already chosen.
pub fn install_tls_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

async fn serve_tls(
    addr: SocketAddr,
    router: Router,
    cert: &PathBuf,
    key: &PathBuf,
) -> anyhow::Result<()> {
    install_tls_provider();
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
        .await
        .context("loading TLS certificate")?;
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        h.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    axum_server::bind_rustls(addr, tls)
        .handle(handle)
        .serve(router.into_make_service_with_connect_info::<SocketAddr>())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request, routing::get};
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_is_answered_with_auth0_json_500() {
        let app: Router = Router::new()
            .route(
                "/boom",
                get(|| async {
                    let v: Vec<u8> = Vec::new();
                    // An out-of-bounds index: a bug, not an input error.
                    v[usize::from(v.is_empty())].to_string()
                }),
            )
            .layer(CatchPanicLayer::custom(panic_response));
        let res = app
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"statusCode": 500, "error": "Internal Server Error", "message": "Internal Server Error"})
        );
    }

    #[test]
    fn issuer_from_listen_address() {
        let cfg = Config {
            listen: "0.0.0.0:3000".parse().unwrap(),
            database_url: String::new(),
            issuer: None,
            admin: AdminCredentials::default(),
            tls: TlsMode::None,
            dns_resolver: None,
            actions: Default::default(),
            jobs: Default::default(),
            smtp: Default::default(),
            webhooks: Default::default(),
            events: Default::default(),
            logs: Default::default(),
        };
        assert_eq!(issuer_for(&cfg, cfg.listen), "http://127.0.0.1:3000/");
        let tls = Config {
            tls: TlsMode::SelfSigned { dir: "x".into() },
            ..cfg.clone()
        };
        assert_eq!(
            issuer_for(&tls, "127.0.0.1:8443".parse().unwrap()),
            "https://127.0.0.1:8443/"
        );
        let named = Config {
            issuer: Some("https://id.example.com".into()),
            ..cfg
        };
        assert_eq!(issuer_for(&named, named.listen), "https://id.example.com/");
    }
}
