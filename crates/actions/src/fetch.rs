//! The host side of `fetch`: one HTTP exchange (following up to 20 redirects, each target
//! vetted again), performed on a small current-thread Tokio runtime kept by the worker thread.
//!
//! Rules: http and https only; the host is resolved first and every address must be public
//! (unless `allow_private_fetch`); the connection is pinned to the vetted address, so a second
//! DNS answer cannot point it elsewhere; the timeout is the smaller of `fetch_timeout` and what is
//! left of the wall time; the body is refused beyond `fetch_max_bytes`.

use std::{
    cell::RefCell,
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use gatehouse_core::net::is_public;
use serde_json::json;
use url::Url;

use crate::Limits;

thread_local! {
    static IO: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
}

/// Performs the request; `Ok` is the JSON kit.js turns into a Response, `Err` the message
/// of the TypeError the promise is rejected with.
pub(crate) fn fetch(
    limits: &Limits,
    deadline: Instant,
    url: &str,
    method: &str,
    headers: &[(String, String)],
    body: Option<String>,
) -> Result<String, String> {
    IO.with(|io| {
        let mut io = io.borrow_mut();
        if io.is_none() {
            *io = Some(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("fetch failed: {e}"))?,
            );
        }
        match io.as_ref() {
            Some(rt) => rt.block_on(exchange(limits, deadline, url, method, headers, body)),
            None => Err("fetch failed: no I/O runtime".into()),
        }
    })
}

fn left(limits: &Limits, deadline: Instant) -> Duration {
    limits
        .fetch_timeout
        .min(deadline.saturating_duration_since(Instant::now()))
}

async fn exchange(
    limits: &Limits,
    deadline: Instant,
    raw: &str,
    method: &str,
    headers: &[(String, String)],
    mut body: Option<String>,
) -> Result<String, String> {
    let started = Instant::now();
    let mut url = Url::parse(raw).map_err(|_| format!("fetch failed: invalid URL '{raw}'"))?;
    let mut method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|_| format!("fetch failed: '{method}' is not a valid HTTP method"))?;
    let budget = left(limits, deadline);
    let timed_out = |url: &Url| {
        format!(
            "fetch failed: the request to {} timed out",
            url.host_str().unwrap_or_default()
        )
    };
    let mut redirected = false;
    for _ in 0..=20 {
        let remaining = budget.saturating_sub(started.elapsed());
        if remaining.is_zero() {
            return Err(timed_out(&url));
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "fetch failed: the URL scheme '{}' is not supported (http and https only)",
                url.scheme()
            ));
        }
        let addr = tokio::time::timeout(remaining, vet(&url, limits.allow_private_fetch))
            .await
            .map_err(|_| timed_out(&url))??;
        let host = url.host_str().unwrap_or_default().to_owned();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(remaining)
            .connect_timeout(remaining)
            .resolve(&host, addr)
            .build()
            .map_err(|e| format!("fetch failed: {e}"))?;
        let mut req = client.request(method.clone(), url.clone());
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(b) = &body {
            req = req.body(b.clone());
        }
        let once = async {
            let mut res = req.send().await.map_err(|e| {
                if e.is_timeout() {
                    timed_out(&url)
                } else {
                    format!("fetch failed: {}", e.without_url())
                }
            })?;
            let status = res.status();
            if status.is_redirection()
                && let Some(loc) = res.headers().get(reqwest::header::LOCATION)
            {
                let loc = loc.to_str().unwrap_or_default().to_owned();
                return Ok(Err((status.as_u16(), loc)));
            }
            if let Some(n) = res.content_length()
                && n > limits.fetch_max_bytes as u64
            {
                return Err(too_large(limits));
            }
            let list: Vec<(String, String)> = res
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let mut buf = Vec::new();
            while let Some(chunk) = res.chunk().await.map_err(|e| {
                if e.is_timeout() {
                    timed_out(&url)
                } else {
                    format!("fetch failed: {}", e.without_url())
                }
            })? {
                buf.extend_from_slice(&chunk);
                if buf.len() > limits.fetch_max_bytes {
                    return Err(too_large(limits));
                }
            }
            Ok(Ok(json!({
                "status": status.as_u16(),
                "statusText": status.canonical_reason().unwrap_or_default(),
                "url": url.as_str(),
                "redirected": redirected,
                "headers": list,
                "body": String::from_utf8_lossy(&buf),
            })
            .to_string()))
        };
        let (code, location) = match tokio::time::timeout(remaining, once)
            .await
            .map_err(|_| timed_out(&url))??
        {
            Ok(reply) => return Ok(reply),
            Err(redirect) => redirect,
        };
        let next = url
            .join(&location)
            .map_err(|_| "fetch failed: the redirect location is not a valid URL".to_owned())?;
        // 303, and 301/302 after a POST, continue as a GET without a body (as fetch does).
        if (code == 303 && method != reqwest::Method::HEAD)
            || ((code == 301 || code == 302) && method == reqwest::Method::POST)
        {
            method = reqwest::Method::GET;
            body = None;
        }
        url = next;
        redirected = true;
    }
    Err("fetch failed: too many redirects".into())
}

fn too_large(limits: &Limits) -> String {
    format!(
        "fetch failed: the response body is larger than {} bytes",
        limits.fetch_max_bytes
    )
}

/// The address to connect to: the URL's host resolved, every address vetted.
async fn vet(url: &Url, allow_private: bool) -> Result<SocketAddr, String> {
    let port = url.port_or_known_default().unwrap_or(80);
    let host = url.host_str().unwrap_or_default().to_owned();
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(url::Host::Domain(d)) => tokio::net::lookup_host((d.to_owned(), port))
            .await
            .map_err(|_| format!("fetch failed: the host {host} could not be resolved"))?
            .collect(),
        None => return Err("fetch failed: the URL has no host".into()),
    };
    let first = addrs
        .first()
        .copied()
        .ok_or_else(|| format!("fetch failed: the host {host} could not be resolved"))?;
    if !allow_private && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(format!(
            "fetch failed: the address {} of {host} is not allowed (not a public address)",
            bad.ip()
        ));
    }
    Ok(first)
}
