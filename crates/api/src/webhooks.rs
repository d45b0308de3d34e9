//! The HTTP client that delivers to endpoints the tenant configured (log streams, event streams).
//!
//! An endpoint is the tenant's input, so a delivery must not become a way into the server's own
//! network: every address a host name resolves to is vetted by the public-address rule
//! (`gatehouse_core::net::is_public`) before a connection is made, unless the server was started
//! with `--webhooks-allow-private` (tests, or receivers on a private network on purpose). Redirects
//! are not followed. A private CA can be trusted in addition to the public roots
//! (`--webhooks-ca-file`), for receivers with internal certificates.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use gatehouse_core::net::is_public;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The server's settings for outgoing deliveries.
#[derive(Debug, Clone)]
pub struct WebhooksConfig {
    /// Whether deliveries may reach loopback and private addresses.
    pub allow_private: bool,
    /// A PEM file of CA certificates trusted besides the public roots.
    pub ca_file: Option<PathBuf>,
    /// The first retry's delay after a failed delivery (it doubles with each failure).
    pub retry_base: Duration,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allow_private: false,
            ca_file: None,
            retry_base: Duration::from_secs(5),
        }
    }
}

/// Resolves with the system resolver and drops what the vetting refuses.
struct Vetted {
    allow_private: bool,
}

impl Resolve for Vetted {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
                return Err(format!(
                    "{host} resolves to {}, which is not a public address",
                    bad.ip()
                )
                .into());
            }
            let out: Addrs = Box::new(addrs.into_iter());
            Ok(out)
        })
    }
}

/// What a delivery came to.
#[derive(Debug)]
pub enum Outcome {
    /// A 2xx answer.
    Delivered(u16),
    /// Another answer: the receiver refused or failed.
    Refused(u16, String),
    /// No answer: the host could not be reached (or was refused by the vetting).
    Unreachable(String),
}

impl Outcome {
    pub fn ok(&self) -> bool {
        matches!(self, Outcome::Delivered(_))
    }

    /// A short description for a delivery's record (never a header or the body sent).
    pub fn describe(&self) -> String {
        match self {
            Outcome::Delivered(s) => format!("HTTP {s}"),
            Outcome::Refused(s, body) => format!("HTTP {s}: {body}"),
            Outcome::Unreachable(e) => e.clone(),
        }
    }
}

/// The delivering client (cheap to clone).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    allow_private: bool,
    retry_base: Duration,
}

impl Client {
    pub fn new(cfg: &WebhooksConfig) -> anyhow::Result<Self> {
        let mut b = reqwest::Client::builder()
            .dns_resolver(Arc::new(Vetted {
                allow_private: cfg.allow_private,
            }))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .user_agent("Gatehouse");
        if let Some(path) = &cfg.ca_file {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading the webhooks CA file {}", path.display()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .context("the webhooks CA file holds no PEM certificate")?
            {
                b = b.add_root_certificate(cert);
            }
        }
        Ok(Self {
            http: b.build().context("building the webhooks client")?,
            allow_private: cfg.allow_private,
            retry_base: cfg.retry_base,
        })
    }

    /// The first retry's delay after a failed delivery.
    pub fn retry_base(&self) -> Duration {
        self.retry_base
    }

    /// POSTs `body` to `url` with `headers`. A literal IP address in the URL is vetted as a
    /// resolved one would be.
    pub async fn post(&self, url: &str, headers: &[(String, String)], body: Vec<u8>) -> Outcome {
        let parsed = match url::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            _ => return Outcome::Unreachable(format!("{url} is not an http(s) URL")),
        };
        if !self.allow_private {
            let literal = match parsed.host() {
                Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
                _ => None,
            };
            if let Some(ip) = literal
                && !is_public(ip)
            {
                return Outcome::Unreachable(format!("{ip} is not a public address"));
            }
        }
        let mut req = self.http.post(parsed);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        match req.body(body).send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                if res.status().is_success() {
                    Outcome::Delivered(status)
                } else {
                    let text = res.text().await.unwrap_or_default();
                    let short: String = text.chars().take(200).collect();
                    Outcome::Refused(status, short)
                }
            }
            // The error's own text can carry the URL; keep only what kind of failure it was
            // (or the vetting's own words: a host and an address).
            Err(e) => Outcome::Unreachable(if let Some(v) = vetting_refusal(&e) {
                v
            } else if e.is_timeout() {
                "the endpoint did not answer in time".to_owned()
            } else if e.is_connect() {
                "could not connect to the endpoint".to_owned()
            } else {
                "the request to the endpoint failed".to_owned()
            }),
        }
    }
}

/// The vetting's refusal, when that is why a request failed.
fn vetting_refusal(e: &reqwest::Error) -> Option<String> {
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = src {
        let text = err.to_string();
        if text.contains("is not a public address") {
            return Some(text);
        }
        src = err.source();
    }
    None
}
