//! A real HTTPS webhook receiver for tests of deliveries (log streams, event streams): it
//! listens on 127.0.0.1 with a certificate issued by the test CA ([`ca_file`], which every
//! server the testkit starts trusts), records every request, and answers the statuses a test
//! scripts (e.g. two 500s, then 200s).
#![expect(
    clippy::expect_used,
    reason = "test support: a test PKI that cannot be made must stop the test"
)]

use std::{
    collections::VecDeque,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};

/// The test CA: its certificate's PEM file and the leaf (certificate and key PEM) it issued for
/// `localhost` and `127.0.0.1`.
struct Pki {
    ca_file: PathBuf,
    leaf_cert: String,
    leaf_key: String,
    _dir: tempfile::TempDir,
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Gatehouse test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA cert");
        let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
        let leaf_params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("leaf");
        let leaf = leaf_params.signed_by(&leaf_key, &ca).expect("leaf cert");
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_file = dir.path().join("test-ca.pem");
        std::fs::write(&ca_file, ca.pem()).expect("writing the CA");
        Pki {
            ca_file,
            leaf_cert: leaf.pem(),
            leaf_key: leaf_key.serialize_pem(),
            _dir: dir,
        }
    })
}

/// The PEM file of the CA that issued the receivers' certificates.
pub fn ca_file() -> PathBuf {
    pki().ca_file.clone()
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The status it was answered.
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Default)]
struct Shared {
    got: Vec<Received>,
    /// Statuses to answer next, in order; 200 once they are used up.
    script: VecDeque<u16>,
}

/// A running receiver.
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    handle: axum_server::Handle,
}

impl Receiver {
    /// Starts a receiver on a random port of 127.0.0.1.
    pub async fn start() -> Self {
        gatehouse_api::server::install_tls_provider();
        let pki = pki();
        let tls = axum_server::tls_rustls::RustlsConfig::from_pem(
            pki.leaf_cert.clone().into_bytes(),
            pki.leaf_key.clone().into_bytes(),
        )
        .await
        .expect("receiver TLS");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = Router::new()
            .route("/{*path}", post(receive))
            .with_state(shared.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let handle = axum_server::Handle::new();
        let h = handle.clone();
        tokio::spawn(async move {
            let _ = axum_server::from_tcp_rustls(listener, tls)
                .handle(h)
                .serve(app.into_make_service())
                .await;
        });
        Self {
            addr,
            shared,
            handle,
        }
    }

    /// `https://localhost:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// The next requests are answered with these statuses (then 200 again); replaces what
    /// was scripted before.
    pub fn answer(&self, statuses: &[u16]) {
        if let Ok(mut s) = self.shared.lock() {
            s.script = statuses.iter().copied().collect();
        }
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared
            .lock()
            .map(|s| s.got.clone())
            .unwrap_or_default()
    }

    /// Waits (up to `within`) until `pred` holds for what was received; returns it either way.
    pub async fn wait_for(
        &self,
        within: Duration,
        pred: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.received();
            if pred(&got) || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

async fn receive(
    State(shared): State<Arc<Mutex<Shared>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let Ok(mut s) = shared.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR;
    };
    let status = s.script.pop_front().unwrap_or(200);
    s.got.push(Received {
        headers,
        body,
        status,
    });
    StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
}
